//! The chain clock: genesis, slots and epochs. Never hard-coded: read from the beacon
//! node's `config/spec` and `beacon/genesis` (domain.md). A first-class input of the
//! engine (spec §8 times planned failovers by it).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainClock {
    /// Unix seconds of slot 0.
    pub genesis_time: u64,
    pub seconds_per_slot: u64,
    pub slots_per_epoch: u64,
}

/// The latest unix second a clock reckons with (about the year 36,800): a genesis or
/// an epoch longer than this is no chain, and keeps the clock's sums far from u64's end.
pub const MAX_CLOCK_SECONDS: u64 = 1 << 40;

impl ChainClock {
    /// None when the values cannot describe a chain: zero-length slots or epochs, or a
    /// genesis or an epoch length past [`MAX_CLOCK_SECONDS`] (whose sums would overflow).
    pub fn new(
        genesis_time: u64,
        seconds_per_slot: u64,
        slots_per_epoch: u64,
    ) -> Option<ChainClock> {
        let epoch = seconds_per_slot.checked_mul(slots_per_epoch)?;
        (epoch > 0 && epoch <= MAX_CLOCK_SECONDS && genesis_time <= MAX_CLOCK_SECONDS).then_some(
            ChainClock {
                genesis_time,
                seconds_per_slot,
                slots_per_epoch,
            },
        )
    }

    pub fn epoch_seconds(&self) -> u64 {
        self.seconds_per_slot.saturating_mul(self.slots_per_epoch)
    }

    /// The slot at a unix time (in seconds); slot 0 before genesis.
    pub fn slot_at(&self, unix: f64) -> u64 {
        if unix <= self.genesis_time as f64 {
            return 0;
        }
        ((unix - self.genesis_time as f64) / self.seconds_per_slot as f64) as u64
    }

    pub fn epoch_of_slot(&self, slot: u64) -> u64 {
        slot / self.slots_per_epoch
    }

    pub fn epoch_at(&self, unix: f64) -> u64 {
        self.epoch_of_slot(self.slot_at(unix))
    }

    /// Unix time at which an epoch begins.
    /// (Saturating: an epoch from an untrusted source never overflows it.)
    pub fn epoch_start(&self, epoch: u64) -> u64 {
        self.genesis_time
            .saturating_add(epoch.saturating_mul(self.epoch_seconds()))
    }

    /// Seconds from `unix` to the start of the next epoch.
    pub fn seconds_to_next_epoch(&self, unix: f64) -> f64 {
        self.epoch_start(self.epoch_at(unix) + 1) as f64 - unix
    }

    /// How many epochs old something made at `then` is at `now` (fractional).
    pub fn age_in_epochs(&self, then: f64, now: f64) -> f64 {
        ((now - then) / self.epoch_seconds() as f64).max(0.0)
    }
}

/// The current unix time, in seconds.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainnet_epoch_is_128_minutes() {
        let c = ChainClock::new(1_000, 60, 128).unwrap();
        assert_eq!(c.epoch_seconds(), 128 * 60);
        assert_eq!(c.slot_at(1_000.0 + 59.9), 0);
        assert_eq!(c.slot_at(1_000.0 + 60.0), 1);
        assert_eq!(c.epoch_at(1_000.0 + 128.0 * 60.0), 1);
        assert_eq!(c.epoch_at(500.0), 0);
        assert!((c.seconds_to_next_epoch(1_000.0 + 10.0) - (7680.0 - 10.0)).abs() < 1e-6);
        assert!((c.age_in_epochs(1_000.0, 1_000.0 + 2.0 * 7680.0) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn zero_timing_is_refused() {
        assert!(ChainClock::new(0, 0, 4).is_none());
        assert!(ChainClock::new(0, 2, 0).is_none());
    }

    #[test]
    fn timing_whose_sums_would_overflow_is_refused() {
        assert!(ChainClock::new(0, u64::MAX, 2).is_none());
        assert!(ChainClock::new(0, 1 << 33, 1 << 8).is_none());
        assert!(ChainClock::new(u64::MAX, 60, 128).is_none());
        assert!(ChainClock::new(MAX_CLOCK_SECONDS + 1, 60, 128).is_none());
        let c = ChainClock::new(MAX_CLOCK_SECONDS, 1 << 20, 1 << 20).unwrap();
        assert_eq!(c.epoch_start(0), MAX_CLOCK_SECONDS);
        assert_eq!(c.epoch_start(1), MAX_CLOCK_SECONDS + (1 << 40));
        assert_eq!(c.epoch_start(u64::MAX), u64::MAX);
        assert!(c.seconds_to_next_epoch(unix_now()) > 0.0);
    }
}
