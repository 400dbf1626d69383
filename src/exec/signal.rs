//! SIGINT/SIGTERM/SIGHUP to jobrun become cancel reasons; nothing else
//! happens in the signal handler itself (signal-hook's self-pipe does the
//! waking). Units run in process groups of their own, so a closed terminal's
//! SIGHUP reaches only jobrun, which must pass the stop on.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

use crate::outcome::CancelReason;

pub struct SignalListener {
    signals: Signals,
}

impl SignalListener {
    pub fn install() -> std::io::Result<Self> {
        Ok(SignalListener {
            signals: Signals::new([SIGINT, SIGTERM, SIGHUP])?,
        })
    }

    pub fn handle(&self) -> Handle {
        self.signals.handle()
    }

    /// Call `on_signal` for each signal until the handle is closed.
    pub fn run(mut self, mut on_signal: impl FnMut(i32)) {
        for sig in self.signals.forever() {
            on_signal(sig);
        }
    }
}

/// The reason a signal means, given how far cancelling already went.
pub fn reason_for(sig: i32, current: Option<CancelReason>) -> CancelReason {
    match sig {
        SIGINT if current >= Some(CancelReason::Sigint) => CancelReason::SecondSigint,
        SIGINT => CancelReason::Sigint,
        SIGHUP => CancelReason::Sighup,
        _ => CancelReason::Sigterm,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_sigint_escalates() {
        assert_eq!(reason_for(SIGINT, None), CancelReason::Sigint);
        assert_eq!(
            reason_for(SIGINT, Some(CancelReason::FailureAbort)),
            CancelReason::Sigint
        );
        assert_eq!(
            reason_for(SIGINT, Some(CancelReason::Sigint)),
            CancelReason::SecondSigint
        );
        assert_eq!(reason_for(SIGTERM, None), CancelReason::Sigterm);
        assert_eq!(reason_for(SIGHUP, None), CancelReason::Sighup);
        assert_eq!(
            reason_for(SIGTERM, Some(CancelReason::Sighup)),
            CancelReason::Sigterm
        );
    }
}
