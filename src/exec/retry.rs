//! Backoff between attempts.

use std::time::Duration;

const CAP: Duration = Duration::from_secs(60);

/// The delay before retry `k` (1-based): `base * 2^(k-1)`, capped at one minute.
pub fn backoff(base: Duration, k: u32) -> Duration {
    let factor = 1u32.checked_shl(k.saturating_sub(1)).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(CAP).min(CAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_and_caps() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(1), 1), s(1));
        assert_eq!(backoff(s(1), 2), s(2));
        assert_eq!(backoff(s(1), 4), s(8));
        assert_eq!(backoff(s(1), 7), s(60));
        assert_eq!(backoff(s(1), 100), s(60));
        assert_eq!(backoff(Duration::ZERO, 3), Duration::ZERO);
    }
}
