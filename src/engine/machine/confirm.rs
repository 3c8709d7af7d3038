//! The confirmations a person types (gitui's model: the dangerous action is a value
//! that is confirmed, journaled and tested): the host's name, exactly.

use super::*;

/// The confirmations typed by the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "confirm")]
pub enum Confirm {
    /// Stop the primary: type its name.
    StopPrimary { expect: String },
    /// Start the backup's validator: type the backup's name.
    StartBackup { expect: String },
    /// The primary cannot be reached: go on without verifying its stop, with this
    /// archive, through the liveness wait. Type the primary's name.
    UnverifiedPrimary {
        expect: String,
        archive: String,
        age_epochs: u64,
        wait_epochs: u64,
    },
    /// Roll back: type the primary's name.
    Rollback { expect: String },
    /// Emergency stop-all: stop and fence both validators. Type `STOP`.
    StopAll { expect: String },
}

impl Confirm {
    pub fn expected(&self) -> &str {
        match self {
            Confirm::StopPrimary { expect }
            | Confirm::StartBackup { expect }
            | Confirm::UnverifiedPrimary { expect, .. }
            | Confirm::Rollback { expect }
            | Confirm::StopAll { expect } => expect,
        }
    }
    pub fn action(&self) -> &'static str {
        match self {
            Confirm::StopPrimary { .. } => "stop the primary",
            Confirm::StartBackup { .. } => "start the backup",
            Confirm::UnverifiedPrimary { .. } => {
                "go on without the primary: use the newest archive and wait for the chain"
            }
            Confirm::Rollback { .. } => "roll back to the primary",
            Confirm::StopAll { .. } => "stop and fence both validators",
        }
    }
}

impl Failover {
    /// Record a typed confirmation; unless it is exactly the expected host name, say
    /// so and ask again.
    pub(super) fn confirmed(&self, question: Confirm, typed: &str, out: &mut Vec<Effect>) -> bool {
        out.push(Effect::Record(Record::Confirmation {
            action: question.action().into(),
            typed: typed.to_string(),
        }));
        if typed.trim() == question.expected() {
            return true;
        }
        let (gate, whose) = match question {
            Confirm::StopPrimary { .. } => (GateId::StopConfirmation, "primary"),
            Confirm::StartBackup { .. } => (GateId::StartConfirmation, "backup"),
            Confirm::UnverifiedPrimary { .. } => (GateId::UnverifiedConfirmation, "primary"),
            Confirm::Rollback { .. } => (GateId::RollbackConfirmation, "primary"),
            Confirm::StopAll { .. } => (GateId::StopAllConfirmation, "pair"),
        };
        out.push(self.gate(
            gate,
            false,
            format!(
                "typed {typed:?}, not the {whose}'s name {:?}",
                question.expected()
            ),
        ));
        out.push(Effect::Ask(question));
        false
    }
}

/// An operator's interrupt, with how it was confirmed (gitui's `ConfirmAction`): a
/// value the engine journals as a confirmation and decides on, whatever interface
/// sent it. The interface may check as the person types, for feedback; the engine
/// is the one that decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "request")]
pub enum Request {
    /// Roll back to the primary: its name, typed.
    Rollback { typed: String },
    /// The emergency stop-all.
    StopAll { consent: StopAllConsent },
}

/// How the emergency stop-all was confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "by", content = "answer")]
pub enum StopAllConsent {
    /// Both names typed, `PRIMARY,BACKUP` (what automation sends).
    Typed(String),
    /// The key that answered the wizard's `STOP ALL?` question: an emergency asks one
    /// key, never a sentence.
    Key(char),
}

impl Failover {
    /// A person's rollback or stop-all: journaled as a confirmation, then done when
    /// it is the confirmation the action needs, else said (a shut gate) and nothing
    /// changes.
    pub(super) fn requested(
        &mut self,
        now: f64,
        phase: &Phase,
        request: Request,
        out: &mut Vec<Effect>,
    ) {
        match request {
            Request::Rollback { typed } => {
                let question = Confirm::Rollback {
                    expect: self.plan.primary.clone(),
                };
                out.push(Effect::Record(Record::Confirmation {
                    action: question.action().into(),
                    typed: typed.clone(),
                }));
                if typed.trim() != question.expected() {
                    out.push(self.gate(
                        GateId::RollbackConfirmation,
                        false,
                        format!(
                            "typed {typed:?}, not the primary's name {:?}: no rollback",
                            question.expected()
                        ),
                    ));
                    return;
                }
                self.rollback(now, phase, out);
            }
            Request::StopAll { consent } => {
                let question = self.stop_all_question();
                let (typed, given) = match &consent {
                    StopAllConsent::Typed(t) => (t.clone(), t.trim() == question.expected()),
                    StopAllConsent::Key(c) => (
                        format!("{c} (the STOP ALL? question's key)"),
                        matches!(c, 'y' | 'Y'),
                    ),
                };
                out.push(Effect::Record(Record::Confirmation {
                    action: question.action().into(),
                    typed,
                }));
                if !given {
                    out.push(self.gate(
                        GateId::StopAllConfirmation,
                        false,
                        format!(
                            "the stop-all was not confirmed ({consent:?}; both names {:?}, or y to the question): nothing was done",
                            question.expected()
                        ),
                    ));
                    return;
                }
                self.stop_all(now, phase, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Failover {
        let mut m = Failover::new(Plan::from_config(&crate::config::Config::with_hosts(
            "primary", "backup",
        )));
        m.phase = Phase::AwaitingGate;
        m.touched_primary = Some(1.0);
        m
    }

    fn confirmation(out: &[Effect]) -> Option<(&str, &str)> {
        out.iter().find_map(|e| match e {
            Effect::Record(Record::Confirmation { action, typed }) => {
                Some((action.as_str(), typed.as_str()))
            }
            _ => None,
        })
    }

    fn acts(out: &[Effect]) -> usize {
        out.iter()
            .filter(|e| matches!(e, Effect::Act { .. }))
            .count()
    }

    #[test]
    fn a_rollback_is_journaled_as_a_confirmation_and_needs_the_primarys_name() {
        let mut m = machine();
        let out = m.handle(Event::Requested {
            now: 5.0,
            request: Request::Rollback {
                typed: "backup".into(),
            },
        });
        assert_eq!(
            confirmation(&out),
            Some(("roll back to the primary", "backup"))
        );
        assert_eq!(acts(&out), 0, "{out:?}");
        assert_eq!(m.phase, Phase::AwaitingGate, "nothing changes");
        let out = m.handle(Event::Requested {
            now: 6.0,
            request: Request::Rollback {
                typed: " primary ".into(),
            },
        });
        assert!(confirmation(&out).is_some());
        assert!(matches!(m.phase, Phase::Undoing { .. }), "{:?}", m.phase);
        assert_eq!(acts(&out), 1, "{out:?}");
    }

    #[test]
    fn a_stop_all_is_journaled_and_needs_y_or_both_names() {
        for (consent, taken) in [
            (StopAllConsent::Key('y'), true),
            (StopAllConsent::Key('Y'), true),
            (StopAllConsent::Key('n'), false),
            (StopAllConsent::Typed("primary,backup".into()), true),
            (StopAllConsent::Typed("primary".into()), false),
        ] {
            let mut m = machine();
            let out = m.handle(Event::Requested {
                now: 5.0,
                request: Request::StopAll {
                    consent: consent.clone(),
                },
            });
            let (action, _) = confirmation(&out).expect("journaled");
            assert_eq!(action, "stop and fence both validators");
            assert_eq!(
                matches!(
                    m.phase,
                    Phase::Undoing {
                        undo: Undo::StopAll,
                        ..
                    }
                ),
                taken,
                "{consent:?}: {:?}",
                m.phase
            );
            assert_eq!(acts(&out), usize::from(taken), "{consent:?}");
        }
    }
}
