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
        let mut sigs = vec![SIGINT, SIGTERM];
        // Under `nohup` (SIGHUP ignored) the user asked to outlive the
        // terminal: keep it that way.
        if !ignored(SIGHUP) {
            sigs.push(SIGHUP);
        }
        Ok(SignalListener {
            signals: Signals::new(sigs)?,
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

/// Is `sig` ignored (SIG_IGN), as inherited from whoever started jobrun?
fn ignored(sig: i32) -> bool {
    // SAFETY: a zeroed sigaction is a valid out-parameter; a null new
    // action only reads the current one.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) };
    r == 0 && old.sa_sigaction == libc::SIG_IGN
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
