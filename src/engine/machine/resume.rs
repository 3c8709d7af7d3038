//! The same run again after the program was killed: what its journal says was done
//! (milestones journaled before their step), and the hosts looked at again before
//! anything else.

use super::*;

/// What an interrupted run's journal says was done: (the primary touched, the
/// backup unlocked), for `Event::Resume`. None when the run ended, or when it was
/// rolling back or stopping all (such a run is not resumed as a failover).
pub fn resume_facts(entries: &[crate::engine::journal::Entry]) -> Option<(bool, bool)> {
    let ended_or_undoing = entries.iter().any(|e| {
        matches!(
            &e.record,
            Record::RunEnded { .. }
                | Record::Gate {
                    gate: GateId::Rollback | GateId::StopAll,
                    ..
                }
        )
    });
    if ended_or_undoing {
        return None;
    }
    let format = match entries.first().map(|e| &e.record) {
        Some(Record::RunStarted { format, .. }) => *format,
        _ => 1,
    };
    let reached = |m: Milestone| {
        entries
            .iter()
            .any(|e| matches!(&e.record, Record::Milestone { milestone } if *milestone == m))
    };
    if format >= 2 {
        return Some((
            reached(Milestone::PrimaryTouched),
            reached(Milestone::BackupUnlocked),
        ));
    }
    // Format 1 had no milestones: a command on the primary other than the run
    // lock's, and item 6 begun, said the same.
    let primary = entries.iter().any(|e| {
        matches!(&e.record, Record::Command { host: Role::Primary, command, .. }
            if !command.contains(crate::engine::steps::RUN_LOCK))
    });
    let backup = entries.iter().any(|e| {
        matches!(
            &e.record,
            Record::Item {
                number: ItemId::LockFileRemoved,
                state: ItemState::Running | ItemState::Green,
                ..
            }
        )
    });
    Some((primary, backup))
}

impl Failover {
    /// The same run again after a kill: nothing done begins afresh; else the backup and the chain are looked at first.
    pub(super) fn resume(
        &mut self,
        now: f64,
        primary_touched: bool,
        backup_touched: bool,
        out: &mut Vec<Effect>,
    ) {
        if !primary_touched && !backup_touched {
            // Nothing was done: the run begins again with its preflight.
            out.push(self.gate(
                GateId::Resume,
                true,
                "nothing was done to either host before the interruption: starting again from the preflight".into(),
            ));
            let mut more = self.handle(Event::Begin { now });
            out.append(&mut more);
            return;
        }
        self.phase = Phase::ResumeSurvey {
            primary_touched,
            backup_touched,
        };
        out.push(Effect::Observe(vec![
            (Role::Backup, Observe::Chain),
            (Role::Backup, Observe::Unit),
            (Role::Backup, Observe::Processes),
        ]));
    }

    /// What the resumed run does, from what its journal says was done and what the backup shows now.
    pub(super) fn resume_survey(
        &mut self,
        now: f64,
        observations: &[Observation],
        primary_touched: bool,
        backup_touched: bool,
        out: &mut Vec<Effect>,
    ) {
        let b = Batch(observations);
        match value!(b, Role::Backup, Chain) {
            Ok((_, c)) => self.chain = Some(c.clock),
            Err(e) => {
                let why = format!(
                    "resume: the chain's timing is unknown on the backup: {e}; nothing more was done"
                );
                self.stop_at(GateId::Resume, why, out);
                return;
            }
        }
        if primary_touched {
            self.touched_primary = Some(now);
        }
        if backup_touched {
            self.touched_backup = Some(now);
            let runs = matches!(value!(b, Role::Backup, Unit), Ok((_, u)) if u.is_running())
                && matches!(value!(b, Role::Backup, Processes), Ok((_, p)) if !p.is_empty());
            if runs {
                // It was started: verify it as the start step would have.
                out.push(self.gate(
                    GateId::Resume,
                    true,
                    "the backup's lock was removed before the interruption and its validator runs: verifying the start (items 7-9)".into(),
                ));
                self.set_item(
                    ItemId::BackupValidatorStarted,
                    ItemState::Running,
                    now,
                    Vec::new(),
                    out,
                );
                self.backup_started = Some(None);
                self.phase = Phase::VerifyingStart(Verifying::default());
                out.push(Effect::Observe(vec![
                    (Role::Backup, Observe::Unit),
                    (Role::Backup, Observe::Processes),
                ]));
            } else if !primary_touched {
                // The path without a verified stop (the primary could not be
                // reached, so nothing was done to it): a rollback could not
                // reach it either. The gate again, the liveness wait afresh.
                out.push(self.gate(
                    GateId::Resume,
                    true,
                    "the backup's lock was removed before the interruption and the primary was never reached: the Start gate again, with a fresh liveness wait, then the start asked again".into(),
                ));
                let clock = self.chain.expect("read above");
                let mut g =
                    crate::engine::gate::LivenessGate::new(clock, self.plan.indices.clone());
                g.path = Some(crate::engine::gate::LivenessPath::Unverified {
                    since_epoch: clock.epoch_at(now),
                    required: self.plan.liveness_epochs,
                });
                self.liveness = Some(g);
                self.resumed_unlocked = true;
                for n in [
                    ItemId::PrimaryStopped,
                    ItemId::PrimaryKilled,
                    ItemId::SlashingProtectionTransferred,
                ] {
                    self.set_item(n, ItemState::Running, now, Vec::new(), out);
                }
                self.enter_gate(now, out);
            } else {
                out.push(self.gate(
                    GateId::Resume,
                    true,
                    "the backup's lock was removed before the interruption, but its validator does not run: rolling back (re-lock the backup, its history back to the primary, start the primary)".into(),
                ));
                let mut more = self.handle(Event::Rollback { now });
                out.append(&mut more);
            }
            return;
        }
        // The primary was touched, the backup not: fence again (each step is
        // idempotent), stop, verify twice, and take the history afresh.
        out.push(self.gate(
            GateId::Resume,
            true,
            "the primary was touched before the interruption, the backup not: fencing and stopping again, verifying, and transferring the history afresh".into(),
        ));
        self.set_item(
            ItemId::PrimaryStopped,
            ItemState::Running,
            now,
            Vec::new(),
            out,
        );
        self.phase = Phase::Fencing(0);
        out.push(Effect::Act {
            action: FENCE[0](Role::Primary),
            timeout: OBSERVE_TIMEOUT,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resume_rests_on_the_milestones_or_on_a_format_1_journals_commands() {
        use crate::engine::journal::{Entry, JOURNAL_FORMAT, RunOutcome};
        let journal = |format: u32, rest: Vec<Record>| {
            let mut v: Vec<Entry> = Vec::new();
            let first = Record::RunStarted {
                run: "r".into(),
                primary: "p".into(),
                backup: "b".into(),
                reason: None,
                config: None,
                program: "t".into(),
                config_origin: None,
                format,
            };
            for r in std::iter::once(first).chain(rest) {
                let e = Entry::next(v.last(), 1.0, "t", r);
                v.push(e);
            }
            v
        };
        let touched = Record::Milestone {
            milestone: Milestone::PrimaryTouched,
        };
        let lock = Record::Command {
            host: Role::Primary,
            command: format!("create {} exclusively", crate::engine::steps::RUN_LOCK),
            status: Some(0),
            excerpt: String::new(),
        };
        let fence = Record::Command {
            host: Role::Primary,
            command: "mkdir -p -- /etc/quantapool".into(),
            status: Some(0),
            excerpt: String::new(),
        };
        // Killed after the milestone, before the fence's command was journaled.
        let f2 = journal(JOURNAL_FORMAT, vec![lock.clone(), touched.clone()]);
        assert_eq!(resume_facts(&f2), Some((true, false)));
        // Format 2 reads only the milestones: the run lock is not a touch.
        let f2 = journal(JOURNAL_FORMAT, vec![lock.clone()]);
        assert_eq!(resume_facts(&f2), Some((false, false)));
        let unlocked = Record::Milestone {
            milestone: Milestone::BackupUnlocked,
        };
        let f2 = journal(JOURNAL_FORMAT, vec![touched.clone(), unlocked]);
        assert_eq!(resume_facts(&f2), Some((true, true)));
        // Format 1: a command on the primary other than the run lock's.
        let f1 = journal(1, vec![lock.clone()]);
        assert_eq!(resume_facts(&f1), Some((false, false)));
        let f1 = journal(1, vec![lock.clone(), fence.clone()]);
        assert_eq!(resume_facts(&f1), Some((true, false)));
        // Ended, or rolling back or stopping all: not resumed as a failover.
        let ended = Record::RunEnded {
            outcome: RunOutcome::Completed,
        };
        assert_eq!(
            resume_facts(&journal(JOURNAL_FORMAT, vec![touched.clone(), ended])),
            None
        );
        for gate in [GateId::Rollback, GateId::StopAll] {
            let g = Record::Gate {
                gate,
                open: true,
                why: String::new(),
                waits: Vec::new(),
            };
            assert_eq!(
                resume_facts(&journal(JOURNAL_FORMAT, vec![touched.clone(), g])),
                None
            );
        }
    }
}
