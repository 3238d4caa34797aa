//! Streaming JSON framing.
//!
//! OVSDB sends bare JSON objects back to back over the stream, without length
//! prefixes or separators. A read may hold several messages, or a part of one.
//! [`FrameDecoder`] scans bytes once, tracking `{`/`[` depth outside of strings
//! (honoring `\` escapes), and hands each complete top-level object to
//! `serde_json`.

use serde_json::Value as Json;

/// Largest message we accept. An OVN NB monitor dump of a big cloud is tens of
/// MiB; anything past this is treated as a broken or hostile peer.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("message exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("expected '{{' to start a JSON-RPC message, got byte {0:#04x}")]
    UnexpectedByte(u8),
    #[error("invalid JSON in message: {0}")]
    Json(#[from] serde_json::Error),
}

/// Splits a byte stream into JSON messages.
///
/// Invariant: `buf[..start]` is consumed, `buf[start..pos]` has been scanned
/// and belongs to the message in progress (empty when `depth == 0`), and the
/// scanner state (`depth`, `in_string`, `escape`) describes `buf[start..pos]`.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    pos: usize,
    depth: usize,
    in_string: bool,
    escape: bool,
    limit: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::with_limit(MAX_MESSAGE_BYTES)
    }
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder that rejects messages longer than `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            pos: 0,
            depth: 0,
            in_string: false,
            escape: false,
            limit,
        }
    }

    /// Appends bytes read from the stream. Call [`Self::next_frame`] until it
    /// returns `None` after each push: the size limit is checked there, so the
    /// buffer stays within `limit` plus one read.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered but not yet returned as a message.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete message, `None` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Json>, CodecError> {
        while self.pos < self.buf.len() {
            let b = self.buf[self.pos];
            self.pos += 1;
            if self.depth == 0 {
                match b {
                    b' ' | b'\t' | b'\r' | b'\n' => self.start = self.pos,
                    b'{' => self.depth = 1,
                    other => return Err(CodecError::UnexpectedByte(other)),
                }
                continue;
            }
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
            } else {
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            let frame = &self.buf[self.start..self.pos];
                            if frame.len() > self.limit {
                                return Err(CodecError::TooLarge { limit: self.limit });
                            }
                            let msg = serde_json::from_slice(frame)?;
                            self.start = self.pos;
                            return Ok(Some(msg));
                        }
                    }
                    _ => {}
                }
            }
        }
        if self.pos - self.start > self.limit {
            return Err(CodecError::TooLarge { limit: self.limit });
        }
        // Everything before `start` is consumed: drop it so the buffer only
        // holds the message in progress.
        self.buf.drain(..self.start);
        self.pos -= self.start;
        self.start = 0;
        Ok(None)
    }
}

/// Encodes one message for the wire.
pub(crate) fn encode(msg: &Json) -> Vec<u8> {
    // Serializing a `serde_json::Value` cannot fail (string keys only).
    serde_json::to_vec(msg).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages() -> Vec<Json> {
        vec![
            json!({"id": 1, "result": [{"uuid": ["uuid", "2f1e"]}], "error": null}),
            json!({"method": "echo", "params": [], "id": "echo"}),
            json!({"s": "brace } in \"string\" { [ ] \\", "n": [[1], {"a": {}}], "u": "é☃"}),
            json!({"method": "update2", "params": ["m1", {"T": {"u": {"insert": {}}}}], "id": null}),
        ]
    }

    fn stream() -> Vec<u8> {
        let mut out = Vec::new();
        for (i, m) in messages().iter().enumerate() {
            out.extend_from_slice(&encode(m));
            if i % 2 == 0 {
                out.extend_from_slice(b"\n ");
            }
        }
        out
    }

    fn decode_in_chunks(bytes: &[u8], chunk: usize) -> Vec<Json> {
        let mut dec = FrameDecoder::new();
        let mut got = Vec::new();
        for piece in bytes.chunks(chunk) {
            dec.push(piece);
            while let Some(m) = dec.next_frame().expect("valid stream") {
                got.push(m);
            }
        }
        assert_eq!(dec.buffered(), 0, "chunk size {chunk}");
        got
    }

    #[test]
    fn several_messages_in_one_read() {
        assert_eq!(decode_in_chunks(&stream(), usize::MAX), messages());
    }

    #[test]
    fn messages_split_at_every_chunk_size() {
        let bytes = stream();
        for chunk in 1..=bytes.len() {
            assert_eq!(decode_in_chunks(&bytes, chunk), messages(), "chunk {chunk}");
        }
    }

    #[test]
    fn every_split_point_of_two_reads() {
        let bytes = stream();
        for cut in 0..=bytes.len() {
            let mut dec = FrameDecoder::new();
            let mut got = Vec::new();
            for part in [&bytes[..cut], &bytes[cut..]] {
                dec.push(part);
                while let Some(m) = dec.next_frame().expect("valid stream") {
                    got.push(m);
                }
            }
            assert_eq!(got, messages(), "cut at {cut}");
        }
    }

    #[test]
    fn oversized_message_is_rejected_before_it_completes() {
        let mut dec = FrameDecoder::with_limit(16);
        dec.push(br#"{"a": "0123456789abcdef"#);
        assert!(matches!(
            dec.next_frame(),
            Err(CodecError::TooLarge { limit: 16 })
        ));
    }

    #[test]
    fn message_at_the_limit_passes() {
        let msg = br#"{"a":"1234567"}"#;
        let mut dec = FrameDecoder::with_limit(msg.len());
        dec.push(msg);
        assert_eq!(dec.next_frame().unwrap(), Some(json!({"a": "1234567"})));
    }

    #[test]
    fn garbage_is_an_error() {
        let mut dec = FrameDecoder::new();
        dec.push(b"HTTP/1.1 400");
        assert!(matches!(
            dec.next_frame(),
            Err(CodecError::UnexpectedByte(b'H'))
        ));
        let mut dec = FrameDecoder::new();
        dec.push(b"{\"a\": tru}");
        assert!(matches!(dec.next_frame(), Err(CodecError::Json(_))));
    }
}
