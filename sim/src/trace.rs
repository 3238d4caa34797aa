//! The event trace of a run: faults, leadership changes and every history
//! record, hashed in order. Two runs of one seed must hash the same
//! (`tests/determinism.rs`); `--trace` prints it.

use prismnet_chaos::history::Record;
use xxhash_rust::xxh3::Xxh3;

pub struct Trace {
    hasher: Xxh3,
    events: usize,
    print: bool,
}

impl Trace {
    pub fn new(print: bool) -> Trace {
        Trace {
            hasher: Xxh3::new(),
            events: 0,
            print,
        }
    }

    /// An event of the driver at simulated time `ms`.
    pub fn event(&mut self, ms: u64, what: &str) {
        let line = format!("{ms:>8} ms  {what}");
        self.line(&line);
    }

    /// One record of the client history.
    pub fn record(&mut self, r: &Record) {
        let line = serde_json::to_string(r).unwrap_or_else(|e| format!("unencodable record: {e}"));
        self.line(&line);
    }

    /// A line as it is, without a time (what the operator task did, in order).
    pub fn line(&mut self, line: &str) {
        if self.print {
            println!("{line}");
        }
        self.hasher.update(line.as_bytes());
        self.hasher.update(b"\n");
        self.events += 1;
    }

    pub fn hash(&self) -> u64 {
        self.hasher.digest()
    }

    /// How many events the trace holds.
    pub fn events(&self) -> usize {
        self.events
    }
}
