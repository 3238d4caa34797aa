//! Jittered exponential backoff.

use std::time::Duration;

use super::config::RetryPolicy;

pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(policy: &RetryPolicy) -> Self {
        Backoff {
            next: policy.initial_backoff,
            max: policy.max_backoff.max(policy.initial_backoff),
        }
    }

    /// The next delay: uniformly in [d/2, d] where d doubles per call up to the cap.
    /// Jitter spreads out clients that all lost the leader at the same moment; the
    /// lower half-bound keeps a retry from firing at once into the same election.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self.next;
        self.next = (self.next * 2).min(self.max);
        let half = ceiling / 2;
        let spread = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(fastrand::u64(0..=spread))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(400),
        };
        let mut b = Backoff::new(&policy);
        let ceilings = [100, 200, 400, 400, 400];
        for ms in ceilings {
            let d = b.next_delay();
            let ceiling = Duration::from_millis(ms);
            assert!(
                d >= ceiling / 2 && d <= ceiling,
                "{d:?} outside [{ms}/2, {ms}] ms"
            );
        }
    }
}
