//! The Start gate: items 1-5 fresh, the liveness gate, then the backup's name typed
//! and one more look before the lock comes off. Items 4-5 (the backup's beacon and
//! execution nodes synced) are judged here for the first gate too.

use super::*;

impl Failover {
    /// The backup's name typed: the confirmation may have taken minutes, so one more look before the lock comes off.
    pub(super) fn start_confirmed(&mut self, now: f64, typed: String, out: &mut Vec<Effect>) {
        let question = Confirm::StartBackup {
            expect: self.plan.backup.clone(),
        };
        if !self.confirmed(question, &typed, out) {
            return;
        }
        // The confirmation may have taken minutes: look once more.
        self.gate_since = now;
        self.phase = Phase::FinalCheck;
        out.push(Effect::Observe(self.gate_observations(now)));
    }

    /// What the Start gate is judged on: the backup's state and sync, and the chain.
    pub(super) fn gate_observations(&self, now: f64) -> Vec<(Role, Observe)> {
        let mut v: Vec<(Role, Observe)> = [
            Observe::Unit,
            Observe::Processes,
            Observe::Metrics,
            Observe::Lock,
            Observe::Beacon,
            Observe::Execution,
            Observe::History,
        ]
        .into_iter()
        .map(|w| (Role::Backup, w))
        .collect();
        // Items 1-2 again: no gate trusts an observation older than the step.
        v.extend(self.stop_checks());
        if let Some(g) = &self.liveness
            && !self.plan.indices.is_empty()
        {
            for e in g.epochs_to_ask(now) {
                v.push((Role::Backup, Observe::Liveness(e)));
            }
        }
        // Item 9's balances before the start: the last look before the lock comes off.
        if !self.plan.indices.is_empty() {
            v.push((Role::Backup, Observe::Validators));
        }
        v
    }

    pub(super) fn enter_gate(&mut self, now: f64, out: &mut Vec<Effect>) {
        self.gate_since = now;
        self.gate_entered = now;
        self.phase = Phase::AwaitingGate;
        out.push(Effect::Observe(self.gate_observations(now)));
    }

    /// Items 4-5 re-probed, the backup still stopped and locked, the liveness gate:
    /// then the Start gate decides.
    pub(super) fn judge_gate(&mut self, now: f64, obs: &[Observation], out: &mut Vec<Effect>) {
        let b = Batch(obs);
        if let Ok((_, vals)) = value!(b, Role::Backup, Validators) {
            self.balances_before = Some(crate::engine::alerts::balances(vals));
        }
        // The backup must still be the stopped, locked backup it was; items 4-5 again.
        let mut alarm = backup_problems(&b, self.resumed_unlocked);
        self.judge_sync(&b, now, out);
        for o in obs {
            if let (Observe::Liveness(epoch), Ok(Value::Liveness(l))) = (o.what, &o.value)
                && let Some(g) = &mut self.liveness
            {
                g.record(crate::engine::gate::LivenessObservation {
                    epoch,
                    at: o.at,
                    live: l.iter().filter(|(_, v)| *v).map(|(k, _)| *k).collect(),
                    asked: l.iter().map(|(k, _)| *k).collect(),
                });
            }
        }
        // Items 1-2: the primary still stopped and fenced, seen again now; or, on the
        // path without a verified stop, still unreachable (judged below by the chain).
        if self.is_unverified() {
            if let Some((why, signs)) = primary_answers_again(&b) {
                let why = if signs { format!("ALARM: {why}") } else { why };
                if signs {
                    out.push(self.alarm(Alarm::StartGate, &why));
                }
                out.push(self.gate(GateId::Start, false, why.clone()));
                self.fail(now, ItemId::PrimaryStopped, why, out);
                return;
            }
        } else {
            self.judge_stop_again(&b, now, &mut alarm, out);
        }
        // Item 3: the transferred history still in place on the backup.
        match value!(b, Role::Backup, History) {
            Ok((o, h)) if h.problem().is_none() => {
                let mut evidence = self
                    .checklist
                    .item(ItemId::SlashingProtectionTransferred)
                    .evidence
                    .clone();
                evidence.retain(|e| !e.via.starts_with("find "));
                evidence.push(ev(o, format!("still in place: {}", h.summary())));
                self.set_item(
                    ItemId::SlashingProtectionTransferred,
                    ItemState::Green,
                    now,
                    evidence,
                    out,
                );
            }
            Ok((_, h)) => alarm.push(format!(
                "the transferred history is no longer in place on the backup: {}",
                h.problem().unwrap_or_default()
            )),
            Err(e) => self.set_item(
                ItemId::SlashingProtectionTransferred,
                ItemState::Red(format!("cannot see the history on the backup: {e}")),
                now,
                Vec::new(),
                out,
            ),
        }
        if !alarm.is_empty() {
            let why = format!("ALARM: {}", alarm.join("; "));
            out.push(self.alarm(Alarm::StartGate, &why));
            self.stop_at(GateId::Start, why, out);
            return;
        }
        let verdict = match &self.liveness {
            Some(g) => g.verdict(now),
            None => crate::engine::gate::LivenessVerdict::Waiting {
                why: "the chain's clock is unknown".into(),
                quiet_epochs: 0,
                required: 0,
                earliest: None,
                missed_duties: 0,
            },
        };
        if let crate::engine::gate::LivenessVerdict::Alarm { why } = &verdict {
            let why = format!("ALARM: {why}");
            out.push(self.alarm(Alarm::Liveness, &why));
            self.stop_at(GateId::Liveness, why, out);
            return;
        }
        if let crate::engine::gate::LivenessVerdict::Waiting { .. } = &verdict
            && self.is_unverified()
            && self
                .last_liveness
                .as_ref()
                .is_none_or(|last| !same_wait(last, &verdict))
        {
            self.last_liveness = Some(verdict.clone());
            out.push(Effect::Record(Record::Liveness {
                verdict: verdict.clone(),
            }));
        }
        if self.is_unverified() {
            // Items 1-2 without SSH: the chain's evidence (or the operator's statement)
            // that nothing signs with the keys any more.
            let e = |observed: String| Evidence {
                host: Some(Role::Primary),
                at: now,
                via: "ssh (unreachable); POST …/validator/liveness".into(),
                observed,
            };
            match &verdict {
                crate::engine::gate::LivenessVerdict::Open { why } => {
                    self.set_item(
                        ItemId::PrimaryStopped,
                        ItemState::Green,
                        now,
                        vec![e(why.clone())],
                        out,
                    );
                    self.set_item(
                        ItemId::PrimaryKilled,
                        ItemState::Green,
                        now,
                        vec![e(why.clone())],
                        out,
                    );
                }
                crate::engine::gate::LivenessVerdict::Waiting {
                    why,
                    quiet_epochs,
                    required,
                    earliest,
                    missed_duties,
                } => {
                    let countdown = earliest
                        .map(|t| format!("; opens at the earliest in {:.0}s", (t - now).max(0.0)))
                        .unwrap_or_default();
                    let line = format!(
                        "unreachable; {why} ({quiet_epochs} of {required} quiet epochs){countdown}; missed duties so far: {missed_duties}"
                    );
                    self.set_item(
                        ItemId::PrimaryStopped,
                        ItemState::Running,
                        now,
                        vec![e(line.clone())],
                        out,
                    );
                    self.set_item(
                        ItemId::PrimaryKilled,
                        ItemState::Running,
                        now,
                        vec![e(line)],
                        out,
                    );
                }
                crate::engine::gate::LivenessVerdict::Alarm { .. } => {}
            }
        }
        let start = crate::engine::gate::start_gate(&self.checklist, &verdict, self.gate_since);
        if start.is_open() {
            out.push(self.gate(
                GateId::Start,
                true,
                format!(
                    "items 1-5 green and fresh; liveness: {}",
                    match &verdict {
                        crate::engine::gate::LivenessVerdict::Open { why } => why.clone(),
                        _ => String::new(),
                    }
                ),
            ));
            self.last_gate.clear();
            match self.phase {
                Phase::FinalCheck => {
                    self.touched_backup = Some(now);
                    out.push(Effect::Record(Record::Milestone {
                        milestone: Milestone::BackupUnlocked,
                    }));
                    self.set_item(
                        ItemId::LockFileRemoved,
                        ItemState::Running,
                        now,
                        Vec::new(),
                        out,
                    );
                    self.phase = Phase::RemovingLock;
                    out.push(Effect::Act {
                        action: Action::RemoveLock(Role::Backup),
                        timeout: OBSERVE_TIMEOUT,
                    });
                }
                _ => {
                    self.phase = Phase::AwaitStartConfirmation;
                    out.push(Effect::Ask(Confirm::StartBackup {
                        expect: self.plan.backup.clone(),
                    }));
                }
            }
            return;
        }
        // Held at the gate: say why (once per change), look again shortly.
        let why = start.summary();
        if now - self.gate_entered > self.plan.gate_timeout {
            let why = format!(
                "held at the Start gate for {:.0}s, longer than {:.0}s: {why}; the primary stays fenced and the backup locked",
                now - self.gate_entered,
                self.plan.gate_timeout
            );
            self.stop_at(GateId::Start, why, out);
            return;
        }
        if why != self.last_gate {
            out.push(Effect::Record(Record::Gate {
                gate: GateId::Start,
                open: false,
                why: why.clone(),
                waits: start.described(),
            }));
            self.last_gate = why;
        }
        self.gate_since = now;
        self.phase = Phase::AwaitingGate;
        // The liveness wait moves with the chain: look once a slot, not faster.
        let interval = match (self.is_unverified(), self.chain) {
            (true, Some(c)) => self.plan.verify_interval.max(c.seconds_per_slot as f64),
            _ => self.plan.verify_interval,
        };
        out.push(Effect::WaitUntil(now + interval));
    }

    /// Items 4-5 from the backup's beacon and execution nodes; what is not ready.
    pub(super) fn judge_sync(
        &mut self,
        b: &Batch<'_>,
        now: f64,
        out: &mut Vec<Effect>,
    ) -> Vec<String> {
        let mut not_ready = Vec::new();
        let max = self.plan.max_sync_distance;
        match value!(b, Role::Backup, Beacon) {
            Ok((o, s)) => match s.problem(max) {
                None => self.set_item(
                    ItemId::BackupBeaconSynced,
                    ItemState::Green,
                    o.at,
                    vec![ev(o, s.summary())],
                    out,
                ),
                Some(p) => {
                    not_ready.push(format!("the backup's beacon node is not ready: {p}"));
                    self.set_item(
                        ItemId::BackupBeaconSynced,
                        ItemState::Red(p),
                        o.at,
                        vec![ev(o, s.summary())],
                        out,
                    );
                }
            },
            Err(e) => {
                not_ready.push(format!("the backup's beacon node: {e}"));
                self.set_item(
                    ItemId::BackupBeaconSynced,
                    ItemState::Red(e),
                    now,
                    Vec::new(),
                    out,
                );
            }
        }
        match value!(b, Role::Backup, Execution) {
            Ok((o, s)) => match s.problem() {
                None => self.set_item(
                    ItemId::BackupGzondSynced,
                    ItemState::Green,
                    o.at,
                    vec![ev(o, s.summary())],
                    out,
                ),
                Some(p) => {
                    not_ready.push(format!("the backup's execution node is not ready: {p}"));
                    self.set_item(
                        ItemId::BackupGzondSynced,
                        ItemState::Red(p),
                        o.at,
                        vec![ev(o, s.summary())],
                        out,
                    );
                }
            },
            Err(e) => {
                not_ready.push(format!("the backup's execution node: {e}"));
                self.set_item(
                    ItemId::BackupGzondSynced,
                    ItemState::Red(e),
                    now,
                    Vec::new(),
                    out,
                );
            }
        }
        not_ready
    }
}

/// The same wait, give or take the clock: only a change is journaled.
fn same_wait(
    a: &crate::engine::gate::LivenessVerdict,
    b: &crate::engine::gate::LivenessVerdict,
) -> bool {
    use crate::engine::gate::LivenessVerdict::Waiting;
    match (a, b) {
        (
            Waiting {
                why: w1,
                quiet_epochs: q1,
                required: r1,
                earliest: e1,
                missed_duties: m1,
            },
            Waiting {
                why: w2,
                quiet_epochs: q2,
                required: r2,
                earliest: e2,
                missed_duties: m2,
            },
        ) => {
            w1 == w2
                && q1 == q2
                && r1 == r2
                && m1 == m2
                && match (e1, e2) {
                    (Some(x), Some(y)) => (x - y).abs() < 2.0,
                    (x, y) => x == y,
                }
        }
        _ => false,
    }
}

/// On the path without a verified stop: the primary answers again. Why that ends
/// this run, and whether its validator runs (it signs).
fn primary_answers_again(b: &Batch<'_>) -> Option<(String, bool)> {
    let unit = value!(b, Role::Primary, Unit).ok();
    let procs = value!(b, Role::Primary, Processes).ok();
    if unit.is_none() && procs.is_none() {
        return None;
    }
    let runs =
        unit.is_some_and(|(_, u)| !u.is_stopped()) || procs.is_some_and(|(_, p)| !p.is_empty());
    let state = unit.map(|(_, u)| u.summary()).unwrap_or_default();
    Some(if runs {
        (
            format!(
                "the primary answers again and its validator runs ({state}): it signs; the backup stays locked"
            ),
            true,
        )
    } else {
        (
            format!(
                "the primary answers again ({state}): start the failover again, to fence it and take its fresh history; the backup stays locked"
            ),
            false,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::sweep::{B, acts, fixture, last};
    use super::*;

    fn confirm_start(typed: &str) -> super::super::sweep::Run {
        let mut run = fixture("start asked");
        run.send(Event::Confirmed {
            now: run.now + 1.0,
            typed: typed.into(),
        });
        run
    }

    #[test]
    fn the_backups_name_typed_is_followed_by_one_more_look_not_by_the_unlock() {
        let run = confirm_start(B);
        let out = last(&run);
        assert_eq!(run.m.phase, Phase::FinalCheck);
        assert!(acts(&out).is_empty(), "{out:?}");
        assert!(
            matches!(out.last(), Some(Effect::Observe(w)) if w.contains(&(Role::Backup, Observe::Lock)) && w.contains(&(Role::Primary, Observe::Unit)))
        );
        assert_eq!(
            run.m.gate_since,
            run.now + 1.0,
            "only looks from now on count"
        );
    }

    #[test]
    fn the_last_look_right_removes_the_lock_after_journaling_the_unlock() {
        let mut run = confirm_start(B);
        run.answer();
        let out = last(&run);
        let open = out.iter().position(|e| {
            matches!(
                e,
                Effect::Record(Record::Gate {
                    gate: GateId::Start,
                    open: true,
                    ..
                })
            )
        });
        let milestone = out.iter().position(|e| {
            matches!(
                e,
                Effect::Record(Record::Milestone {
                    milestone: Milestone::BackupUnlocked
                })
            )
        });
        assert!(open.is_some() && open < milestone, "{out:?}");
        assert_eq!(acts(&out), vec![Action::RemoveLock(Role::Backup)]);
        assert_eq!(run.m.phase, Phase::RemovingLock);
    }

    #[test]
    fn the_last_look_wrong_keeps_the_lock_and_asks_again_once_right() {
        let mut run = confirm_start(B);
        // The backup's beacon node fell behind while the operator typed.
        let Some(Effect::Observe(want)) = run.pending() else {
            panic!()
        };
        let now = run.now + 1.0;
        let mut observations = run.world.observe(&want, now);
        for o in observations
            .iter_mut()
            .filter(|o| o.what == Observe::Beacon)
        {
            if let Ok(v) = &o.value {
                o.value = Ok(super::super::sweep::wrong(v));
            }
        }
        run.now = now;
        run.send(Event::Observed { now, observations });
        let out = last(&run);
        assert!(acts(&out).is_empty(), "{out:?}");
        assert_eq!(run.m.phase, Phase::AwaitingGate);
        assert!(out.iter().any(|e| matches!(
            e,
            Effect::Record(Record::Gate {
                gate: GateId::Start,
                open: false,
                ..
            })
        )));
        // Right again: the start is asked again, never taken on the old answer.
        run.until(|p| *p == Phase::AwaitStartConfirmation);
        assert!(
            matches!(run.pending(), Some(Effect::Ask(Confirm::StartBackup { expect })) if expect == B)
        );
        assert!(run.m.touched_backup.is_none());
    }

    #[test]
    fn the_last_look_finding_the_primary_running_is_an_alarm() {
        let mut run = confirm_start(B);
        run.world.primary.running = true;
        run.answer();
        let out = last(&run);
        assert!(acts(&out).is_empty());
        assert!(
            matches!(&run.m.phase, Phase::Failed(why) if why.starts_with("ALARM: the primary is no longer stopped and fenced")),
            "{:?}",
            run.m.phase
        );
    }

    #[test]
    fn a_wrong_name_at_the_start_is_asked_again() {
        let run = confirm_start("val-a");
        assert_eq!(run.m.phase, Phase::AwaitStartConfirmation);
        assert!(matches!(
            last(&run).last(),
            Some(Effect::Ask(Confirm::StartBackup { .. }))
        ));
    }
}
