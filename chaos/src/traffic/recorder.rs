//! The history as it is recorded: events appended under one lock, in the order
//! they happen, with monotonic times from the start of the run.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
// tokio's clock: the real one in a chaos run, the simulated one in `sim/`.
use tokio::time::Instant;

use crate::history::{Event, Process, Record, F};

pub struct Recorder {
    start: Instant,
    records: Mutex<Vec<Record>>,
    next_process: AtomicU32,
}

impl Recorder {
    pub fn new(start: Instant) -> Recorder {
        Recorder {
            start,
            records: Mutex::new(Vec::new()),
            next_process: AtomicU32::new(0),
        }
    }

    /// Nanoseconds since the start of the run.
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    pub fn new_process(&self) -> Process {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }

    fn push(&self, process: Process, f: &F, event: Event) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        // Time and index are taken under the lock: the history's order is its
        // time order.
        let time_ns = self.now_ns();
        let index = records.len() as u64;
        records.push(Record {
            index,
            process,
            f: f.clone(),
            event,
            time_ns,
        });
    }

    pub fn invoke(&self, process: Process, f: &F) {
        self.push(process, f, Event::Invoke);
    }

    pub fn complete(&self, process: Process, f: &F, event: Event) {
        self.push(process, f, event);
    }

    /// Everything recorded so far.
    pub fn records(&self) -> Vec<Record> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
