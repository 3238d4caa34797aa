//! postcard encoding of openraft values, on disk (log entries, vote, log ids) and on
//! the wire (peer RPC payloads). Decoding never panics: bytes from a disk or a peer
//! may be damaged, and a failure is returned as an error to the caller.

use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct CodecError {
    pub what: &'static str,
    pub reason: String,
}

pub fn encode<T: Serialize + ?Sized>(what: &'static str, v: &T) -> Result<Vec<u8>, CodecError> {
    postcard::to_stdvec(v).map_err(|e| CodecError {
        what,
        reason: e.to_string(),
    })
}

pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, CodecError> {
    postcard::from_bytes(bytes).map_err(|e| CodecError {
        what,
        reason: e.to_string(),
    })
}
