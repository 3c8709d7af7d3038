//! The rollback (runbook: "back to the primary, with the same gates in reverse"): the
//! backup first when it was unlocked (stopped and locked again, seen so twice; its
//! history, now the newest, back to the primary: R1-R2), the reverse gate (R3), then
//! the primary unfenced and started, verified (R4). The `rollback` command looks at
//! both hosts first to learn what was done to them.

use super::*;

impl Failover {
    /// The `rollback` command: both hosts looked at first, to learn what was done to them.
    pub(super) fn begin_rollback(&mut self, out: &mut Vec<Effect>) {
        self.phase = Phase::RollbackSurvey;
        let mut want = Vec::new();
        for host in Role::BOTH {
            for w in [
                Observe::Unit,
                Observe::Processes,
                Observe::Metrics,
                Observe::Lock,
                Observe::History,
            ] {
                want.push((host, w));
            }
        }
        out.push(Effect::Observe(want));
    }

    /// The primary's name typed: the rollback begins.
    pub(super) fn rollback_confirmed(&mut self, now: f64, typed: String, out: &mut Vec<Effect>) {
        let question = Confirm::Rollback {
            expect: self.plan.primary.clone(),
        };
        if !self.confirmed(question, &typed, out) {
            return;
        }
        let mut more = self.handle(Event::Rollback { now });
        out.append(&mut more);
    }

    /// R1: the backup stopped and locked again, seen so twice, seconds apart, before its history is taken.
    pub(super) fn verify_backup_stopped(
        &mut self,
        now: f64,
        observations: &[Observation],
        v: Verifying,
        out: &mut Vec<Effect>,
    ) {
        let b = Batch(observations);
        let problems = backup_idle_problems(&b);
        match v.after(now, problems.is_empty(), false, self.plan.rule(true, false)) {
            Next::Verified { apart } => {
                self.backup_relocked = true;
                out.push(self.gate(
                    GateId::Rollback,
                    true,
                    format!("the backup is stopped and locked (seen twice, {apart:.0}s apart): bringing its history back to the primary"),
                ));
                self.backup_relocked_seen(now, &b, out);
                self.phase = Phase::TransferringBack;
                out.push(Effect::Transfer {
                    from: Source::Live(Role::Backup),
                    to: Role::Primary,
                });
            }
            Next::LookAgainAt(at, v) => {
                self.phase = Phase::VerifyingBackupStopped(v);
                out.push(Effect::WaitUntil(at));
            }
            // No escalation in this rule; were there one, it would end here too.
            Next::Escalate(_) | Next::GiveUp => {
                let why = format!(
                    "ALARM: the backup is not verified stopped and locked: {}; the primary stays fenced",
                    problems.join("; ")
                );
                out.push(self.alarm(Alarm::Rollback, &why));
                let step = RollbackStep::BackupRelocked;
                self.rollback_fails(step, GateId::Rollback, why, Vec::new(), out);
            }
        }
    }

    /// R2: the backup's history on the primary (or both stay stopped).
    pub(super) fn transferred_back(
        &mut self,
        now: f64,
        result: Result<Transferred, String>,
        evidence: Vec<Evidence>,
        out: &mut Vec<Effect>,
    ) {
        match result {
            Ok(t) => {
                let step = RollbackStep::HistoryBack;
                self.rollback_step(step, ItemState::Green, evidence, out);
                out.push(self.gate(
                GateId::Rollback,
                true,
                format!(
                    "the backup's history is on the primary: {} bytes, sha256 {} on both ends; the primary's previous history set aside at {}",
                    t.bytes,
                    t.archive_sha256,
                    t.set_aside.as_deref().unwrap_or("(none was there)")
                ),
            ));
                self.phase = Phase::ReverseGate { since: now };
                out.push(Effect::Observe(self.reverse_gate_observations()));
            }
            Err(why) => {
                let why = format!(
                    "bringing the backup's history back to the primary failed: {why}; both validators are stopped (the primary fenced, the backup locked): the primary must not sign before it has the backup's history"
                );
                let step = RollbackStep::HistoryBack;
                self.rollback_fails(step, GateId::Rollback, why, evidence, out);
            }
        }
    }

    /// R3, the rollback's Start gate in reverse: the backup still stopped and locked, the primary's nodes synced.
    pub(super) fn reverse_gate(
        &mut self,
        now: f64,
        observations: &[Observation],
        since: f64,
        out: &mut Vec<Effect>,
    ) {
        let b = Batch(observations);
        let alarm = backup_idle_problems(&b);
        if !alarm.is_empty() {
            let why = format!(
                "ALARM: the backup is no longer stopped and locked: {}; the primary stays fenced",
                alarm.join("; ")
            );
            let step = RollbackStep::ReverseGate;
            out.push(self.alarm(Alarm::Rollback, &why));
            self.rollback_fails(step, GateId::RollbackStart, why, Vec::new(), out);
            return;
        }
        let mut waits = Vec::new();
        match value!(b, Role::Primary, Beacon) {
            Ok((_, s)) => waits.extend(
                s.problem(self.plan.max_sync_distance)
                    .map(|p| format!("the primary's beacon node: {p}")),
            ),
            Err(e) => waits.push(format!("the primary's beacon node: {e}")),
        }
        match value!(b, Role::Primary, Execution) {
            Ok((_, s)) => waits.extend(
                s.problem()
                    .map(|p| format!("the primary's execution node: {p}")),
            ),
            Err(e) => waits.push(format!("the primary's execution node: {e}")),
        }
        if waits.is_empty() {
            out.push(self.gate(
                GateId::RollbackStart,
                true,
                "the backup stopped and locked; the primary has its history and synced nodes: unfencing and starting the primary".into(),
            ));
            self.reverse_gate_opened(&b, out);
            self.primary_restarting = true;
            self.undo_step(Undo::Primary, 0, out);
        } else if now - since > self.plan.gate_timeout {
            let why = format!(
                "held at the rollback's start gate for longer than {:.0}s: {}; both validators stay stopped",
                self.plan.gate_timeout,
                waits.join("; ")
            );
            let step = RollbackStep::ReverseGate;
            self.rollback_fails(step, GateId::RollbackStart, why, Vec::new(), out);
        } else {
            let why = waits.join("; ");
            if why != self.last_gate {
                out.push(self.gate(GateId::RollbackStart, false, why.clone()));
                self.last_gate = why;
            }
            out.push(Effect::WaitUntil(now + self.plan.verify_interval));
        }
    }

    /// A rollback from any phase: the backup first when it was unlocked (its history is the newest), else the primary unfenced.
    pub(super) fn rollback(&mut self, now: f64, phase: &Phase, out: &mut Vec<Effect>) {
        if self.touched_backup.is_some() {
            // The backup may have signed: its history is now the newest, and
            // the primary may not sign again until it has it. Stop and re-lock
            // the backup, verify, bring its history back, then the primary.
            out.push(self.gate(
                GateId::Rollback,
                true,
                format!("requested at {now:.0} in phase {phase:?}: stopping and re-locking the backup first"),
            ));
            self.rollback_begins(true, out);
            self.undo_step(Undo::Backup, 0, out);
            return;
        }
        if self.touched_primary.is_none() {
            out.push(self.gate(
                GateId::Rollback,
                true,
                "nothing was done to the primary and the backup was not unlocked: nothing to roll back".into(),
            ));
            self.phase = Phase::RolledBack;
            out.push(Effect::Finished(Outcome::RolledBack));
            return;
        }
        out.push(self.gate(
            GateId::Rollback,
            true,
            format!("requested at {now:.0} in phase {phase:?}"),
        ));
        self.rollback_begins(false, out);
        self.primary_restarting = true;
        self.undo_step(Undo::Primary, 0, out);
    }

    /// R4: the primary's validator runs again.
    pub(super) fn verify_rollback(
        &mut self,
        now: f64,
        observations: &[Observation],
        v: Verifying,
        out: &mut Vec<Effect>,
    ) {
        let b = Batch(observations);
        let running = matches!(value!(b, Role::Primary, Unit), Ok((_, u)) if u.is_running())
            && matches!(value!(b, Role::Primary, Processes), Ok((_, p)) if !p.is_empty());
        match v.after(now, running, false, self.plan.rule(false, false)) {
            Next::Verified { .. } => {
                out.push(self.gate(
                    GateId::Rollback,
                    true,
                    "the primary's validator runs again".into(),
                ));
                self.primary_runs_again(now, &b, out);
                self.phase = Phase::RolledBack;
                out.push(Effect::Finished(Outcome::RolledBack));
            }
            Next::LookAgainAt(at, v) => {
                self.phase = Phase::VerifyingRollback(v);
                out.push(Effect::WaitUntil(at));
            }
            Next::Escalate(_) | Next::GiveUp => {
                let why =
                    "the primary's validator did not come back after the rollback".to_string();
                let step = RollbackStep::PrimaryRestarted;
                self.rollback_fails(step, GateId::Rollback, why, Vec::new(), out);
            }
        }
    }

    /// The rollback command: what was done to the hosts, from what they show.
    pub(super) fn survey_for_rollback(
        &mut self,
        now: f64,
        obs: &[Observation],
        out: &mut Vec<Effect>,
    ) {
        let b = Batch(obs);
        let block = |this: &mut Failover, why: String, out: &mut Vec<Effect>| {
            this.block_at(GateId::Rollback, why, out)
        };
        if let Some(e) = b
            .failed(Role::Primary)
            .filter(|_| value!(b, Role::Primary, Unit).is_err())
        {
            return block(
                self,
                format!(
                    "the primary cannot be reached ({}: {}): there is nothing to roll back to",
                    e.failure.as_str(),
                    e.detail
                ),
                out,
            );
        }
        if let Some(e) = b
            .failed(Role::Backup)
            .filter(|_| value!(b, Role::Backup, Unit).is_err())
        {
            return block(
                self,
                format!(
                    "the backup cannot be reached ({}: {}): it cannot be verified stopped, so the primary may not sign again",
                    e.failure.as_str(),
                    e.detail
                ),
                out,
            );
        }
        let backup_busy = backup_idle_problems(&b);
        // The backup's history newer than the primary's: it signed after the transfer.
        let newer = match (
            value!(b, Role::Backup, History),
            value!(b, Role::Primary, History),
        ) {
            (Ok((_, hb)), Ok((_, hp))) => match (hb.newest_mtime(), hp.newest_mtime()) {
                (Some(tb), Some(tp)) => tb > tp,
                (Some(_), None) => true,
                _ => false,
            },
            _ => false,
        };
        let primary_runs = matches!(value!(b, Role::Primary, Unit), Ok((_, u)) if !u.is_stopped())
            || matches!(value!(b, Role::Primary, Processes), Ok((_, p)) if !p.is_empty());
        if primary_runs && !backup_busy.is_empty() {
            let why = format!(
                "ALARM: the primary's validator runs and the backup is not a stopped, locked backup ({}): use the emergency stop-all",
                backup_busy.join("; ")
            );
            out.push(self.alarm(Alarm::Rollback, &why));
            return block(self, why, out);
        }
        if primary_runs {
            out.push(self.gate(
                GateId::Rollback,
                true,
                "the primary's validator runs and the backup is stopped and locked: nothing to roll back".into(),
            ));
            self.phase = Phase::RolledBack;
            out.push(Effect::Finished(Outcome::RolledBack));
            return;
        }
        self.touched_primary = Some(now);
        let plan = if !backup_busy.is_empty() || newer {
            self.touched_backup = Some(now);
            format!(
                "the backup was unlocked or signed ({}): stop and re-lock it, verify, bring its history back to the primary, then unfence and start the primary",
                if backup_busy.is_empty() {
                    "its history is newer than the primary's".to_string()
                } else {
                    backup_busy.join("; ")
                }
            )
        } else {
            "the primary is stopped and the backup stopped and locked with no newer history: unfence and start the primary".to_string()
        };
        out.push(self.gate(GateId::Rollback, true, plan));
        self.phase = Phase::AwaitRollbackConfirmation;
        out.push(Effect::Ask(Confirm::Rollback {
            expect: self.plan.primary.clone(),
        }));
    }

    pub(super) fn backup_idle_checks(&self) -> Vec<(Role, Observe)> {
        [
            Observe::Unit,
            Observe::Processes,
            Observe::Metrics,
            Observe::Lock,
        ]
        .into_iter()
        .map(|w| (Role::Backup, w))
        .collect()
    }

    pub(super) fn reverse_gate_observations(&self) -> Vec<(Role, Observe)> {
        let mut v = self.backup_idle_checks();
        v.push((Role::Primary, Observe::Beacon));
        v.push((Role::Primary, Observe::Execution));
        v
    }
}

impl Failover {
    /// A rollback step failed: it is journaled red with why, and the run stops at
    /// this gate (both validators as they are: the primary stays fenced).
    fn rollback_fails(
        &mut self,
        step: RollbackStep,
        gate: GateId,
        why: String,
        evidence: Vec<Evidence>,
        out: &mut Vec<Effect>,
    ) {
        self.rollback_step(step, ItemState::Red(why.clone()), evidence, out);
        self.stop_at(gate, why, out);
    }
}
