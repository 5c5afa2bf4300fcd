//! The waits between retries: exponential, with jitter.
//!
//! Wait `n` (from 0) is drawn uniformly from the upper half of `first * 2^n` (capped at
//! [`MAX_WAIT`]): `[base / 2, base]`. The jitter keeps many agents that failed together (a
//! server restart) from all coming back in step; keeping the lower half out keeps a retry from
//! coming back at once. The draw comes from a seeded generator (splitmix64), so a test can fix
//! the seed and know the waits; a fetcher seeds it from the process's hash randomness.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// The longest wait, however many retries came before.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(60);

/// The waits of one retried operation.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    base: Duration,
    state: u64,
}

impl Backoff {
    /// Waits starting from `first`, jittered by the generator seeded with `seed`.
    pub(crate) fn new(first: Duration, seed: u64) -> Backoff {
        Backoff { base: first.min(MAX_WAIT), state: seed }
    }

    /// Waits starting from `first`, with a seed that differs from one call to the next.
    pub(crate) fn seeded(first: Duration) -> Backoff {
        Backoff::new(first, RandomState::new().hash_one(std::time::SystemTime::now()))
    }

    /// The next wait: in `[base / 2, base]`, then the base doubles (up to [`MAX_WAIT`]).
    pub(crate) fn next_wait(&mut self) -> Duration {
        let base = self.base;
        self.base = self.base.saturating_mul(2).min(MAX_WAIT);
        // A draw in [0, 1] with 53 bits, the precision of an f64.
        let unit = (self.next_u64() >> 11) as f64 / ((1u64 << 53) - 1) as f64;
        base.mul_f64(0.5 + 0.5 * unit)
    }

    /// splitmix64: small, fast, and good enough to spread retries.
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_within_the_upper_half() {
        for seed in 0..200 {
            let mut b = Backoff::new(Duration::from_millis(200), seed);
            for base_ms in [200u64, 400, 800, 1600] {
                let wait = b.next_wait();
                let base = Duration::from_millis(base_ms);
                assert!(wait >= base / 2 && wait <= base, "seed {seed}: {wait:?} outside [{:?}, {base:?}]", base / 2);
            }
        }
    }

    #[test]
    fn waits_are_capped() {
        let mut b = Backoff::new(Duration::from_secs(10), 7);
        for _ in 0..20 {
            assert!(b.next_wait() <= MAX_WAIT);
        }
        assert!(Backoff::new(Duration::from_secs(3600), 7).next_wait() <= MAX_WAIT);
    }

    #[test]
    fn the_seed_decides_the_jitter() {
        let waits = |seed| {
            let mut b = Backoff::new(Duration::from_millis(200), seed);
            (0..4).map(|_| b.next_wait()).collect::<Vec<_>>()
        };
        assert_eq!(waits(42), waits(42), "the same seed, the same waits");
        assert_ne!(waits(42), waits(43), "another seed, other waits");
        // Spread: over many seeds the first wait covers most of [100, 200] ms.
        let firsts: Vec<Duration> = (0..1000).map(|s| waits(s)[0]).collect();
        let (min, max) = (firsts.iter().min().unwrap(), firsts.iter().max().unwrap());
        assert!(*min < Duration::from_millis(110) && *max > Duration::from_millis(190), "{min:?}..{max:?}");
    }

    #[test]
    fn a_zero_first_wait_stays_zero() {
        let mut b = Backoff::new(Duration::ZERO, 1);
        assert_eq!(b.next_wait(), Duration::ZERO);
        assert_eq!(b.next_wait(), Duration::ZERO);
    }
}
