//! "Verify until stable", the one way the runbook's checks are repeated: look at the
//! same things until they are as they must be (seen so twice, seconds apart, where
//! the runbook wants a second look that would catch a restart), escalate once when
//! something is stuck (SIGKILL through systemd), and give up after a bounded number
//! of looks. The stop of item 1, the stop-all, the rollback's relock of the backup,
//! the start of item 7 and the rollback's restart of the primary all use it.

use serde::Serialize;

/// How a check is repeated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// Seen right twice, `interval` apart (a restart between them shows).
    pub twice: bool,
    /// Seconds between looks.
    pub interval: f64,
    /// Looks after the first that may fail before the check is given up.
    pub attempts: u32,
    /// Something stuck may be escalated once (the caller says what).
    pub escalate: bool,
}

/// Where a repeated check stands: carried by the phase that runs it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Verifying {
    /// When the check was first seen right (a second look is due `interval` later).
    pub first_ok: Option<f64>,
    /// The escalation was sent.
    pub escalated: bool,
    /// Looks that failed so far.
    pub attempts: u32,
}

/// What to do after a look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// Verified: seen right (twice, `apart` seconds apart, where the rule says so).
    Verified { apart: f64 },
    /// Look again at this time, in this state.
    LookAgainAt(f64, Verifying),
    /// Escalate now (the caller's escalation), then look again in this state.
    Escalate(Verifying),
    /// Not verified within the looks allowed.
    GiveUp,
}

impl Verifying {
    /// The judgement of one look: `ok` when everything was as it must be, `stuck`
    /// when what is wrong is something an escalation can end.
    pub fn after(self, now: f64, ok: bool, stuck: bool, rule: Rule) -> Next {
        if ok {
            return match self.first_ok {
                Some(t) if !rule.twice || now - t >= rule.interval => {
                    Next::Verified { apart: now - t }
                }
                None if !rule.twice => Next::Verified { apart: 0.0 },
                Some(t) => Next::LookAgainAt(t + rule.interval, self),
                None => Next::LookAgainAt(
                    now + rule.interval,
                    Verifying {
                        first_ok: Some(now),
                        ..self
                    },
                ),
            };
        }
        if stuck && rule.escalate && !self.escalated {
            return Next::Escalate(Verifying {
                first_ok: None,
                escalated: true,
                attempts: self.attempts,
            });
        }
        if self.attempts >= rule.attempts {
            return Next::GiveUp;
        }
        Next::LookAgainAt(
            now + rule.interval,
            Verifying {
                first_ok: None,
                escalated: self.escalated,
                attempts: self.attempts + 1,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWICE: Rule = Rule {
        twice: true,
        interval: 3.0,
        attempts: 2,
        escalate: true,
    };
    const ONCE: Rule = Rule {
        twice: false,
        interval: 3.0,
        attempts: 2,
        escalate: false,
    };

    #[test]
    fn right_twice_interval_apart_is_verified_and_a_wrong_look_between_starts_again() {
        let v = Verifying::default();
        let Next::LookAgainAt(t, v) = v.after(10.0, true, false, TWICE) else {
            panic!()
        };
        assert_eq!((t, v.first_ok), (13.0, Some(10.0)));
        // Too early (a tick that came early): wait for the interval, not verified.
        assert_eq!(
            v.after(12.0, true, false, TWICE),
            Next::LookAgainAt(13.0, v)
        );
        assert_eq!(
            v.after(13.5, true, false, TWICE),
            Next::Verified { apart: 3.5 }
        );
        // A restart between the two looks: the first is forgotten.
        let Next::Escalate(w) = v.after(13.0, false, true, TWICE) else {
            panic!()
        };
        assert_eq!(w.first_ok, None);
    }

    #[test]
    fn once_is_verified_at_the_first_right_look() {
        assert_eq!(
            Verifying::default().after(5.0, true, false, ONCE),
            Next::Verified { apart: 0.0 }
        );
    }

    #[test]
    fn stuck_escalates_once_then_the_looks_are_bounded() {
        let mut v = Verifying::default();
        let Next::Escalate(e) = v.after(1.0, false, true, TWICE) else {
            panic!()
        };
        assert!(e.escalated);
        v = e;
        let mut looks = 0;
        loop {
            match v.after(2.0, false, true, TWICE) {
                Next::LookAgainAt(_, w) => {
                    assert!(w.escalated, "escalated only once");
                    v = w;
                    looks += 1;
                }
                Next::GiveUp => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(looks, TWICE.attempts);
        // Without an escalation in the rule, stuck is only another failed look.
        assert!(matches!(
            Verifying::default().after(1.0, false, true, ONCE),
            Next::LookAgainAt(4.0, w) if !w.escalated && w.attempts == 1
        ));
    }
}
