//! What a rollback shows as it goes: its own steps (`RollbackStep`, journaled with
//! their states and evidence: the ones its path takes, as it begins), and what it
//! undid of the failover's checklist, marked undone with the rollback's evidence:
//! items 6-9 once the backup is verified stopped and locked again, items 1-2 once the
//! primary's validator runs again. An item never begun stays pending.

use super::*;

/// What the backup's unlock and start did (items 6-9), and why each is undone.
const BACKUP_ITEMS: [(ItemId, &str, &[Observe]); 4] = [
    (
        ItemId::LockFileRemoved,
        "the rollback put the backup's lock file back",
        &[Observe::Lock],
    ),
    (
        ItemId::BackupValidatorStarted,
        "the rollback stopped the backup's validator",
        &[Observe::Unit, Observe::Processes],
    ),
    (
        ItemId::AttestationsSubmitted,
        "the backup no longer attests: the rollback stopped its validator",
        &[Observe::Unit, Observe::Metrics],
    ),
    (
        ItemId::AlertsCleared,
        "judged while the backup signed: the rollback stopped its validator",
        &[Observe::Unit],
    ),
];

/// What the primary's fence and stop did (items 1-2), and why each is undone.
const PRIMARY_ITEMS: [(ItemId, &str, &[Observe]); 2] = [
    (
        ItemId::PrimaryStopped,
        "the rollback unfenced the primary and started its validator again",
        &[Observe::Unit],
    ),
    (
        ItemId::PrimaryKilled,
        "the rollback started the primary's validator again",
        &[Observe::Processes],
    ),
];

/// One observation of the batch in one line, as evidence.
fn observed(o: &Observation) -> Option<Evidence> {
    let seen = match o.value.as_ref().ok()? {
        Value::Unit(u) => u.summary(),
        Value::Processes(p) if p.is_empty() => "no process with the validator's exact name".into(),
        Value::Processes(p) => format!("PID {p:?}"),
        Value::Metrics(m) if m.answering => "the validator's metrics port answers".into(),
        Value::Metrics(_) => "the validator's metrics port does not answer".into(),
        Value::Lock(Some(f)) => format!(
            "lock file present: {} {:o} {}:{}",
            f.kind, f.mode, f.user, f.group
        ),
        Value::Lock(None) => "no lock file".into(),
        Value::Beacon(s) => s.summary(),
        Value::Execution(s) => s.summary(),
        _ => return None,
    };
    Some(ev(o, seen))
}

/// The batch's evidence of these kinds on this host, in that order.
fn evidence_of(b: &Batch<'_>, host: Role, kinds: &[Observe]) -> Vec<Evidence> {
    kinds
        .iter()
        .filter_map(|k| b.get(host, *k).and_then(observed))
        .collect()
}

impl Failover {
    pub(super) fn rollback_step(
        &self,
        step: RollbackStep,
        state: ItemState,
        evidence: Vec<Evidence>,
        out: &mut Vec<Effect>,
    ) {
        out.push(Effect::Record(Record::RollbackStep {
            step,
            state,
            evidence,
        }));
    }

    /// The rollback begins: the steps its path takes, the first one running. With the
    /// backup unlocked: all four; else the primary's restart only.
    pub(super) fn rollback_begins(&self, with_backup: bool, out: &mut Vec<Effect>) {
        let steps: &[RollbackStep] = if with_backup {
            &RollbackStep::ALL
        } else {
            &[RollbackStep::PrimaryRestarted]
        };
        for (i, s) in steps.iter().enumerate() {
            let state = if i == 0 {
                ItemState::Running
            } else {
                ItemState::Pending
            };
            self.rollback_step(*s, state, Vec::new(), out);
        }
    }

    pub(super) fn undo_items(
        &mut self,
        now: f64,
        b: &Batch<'_>,
        host: Role,
        items: &[(ItemId, &str, &[Observe])],
        out: &mut Vec<Effect>,
    ) {
        for (n, why, kinds) in items {
            let evidence = evidence_of(b, host, kinds);
            if self.checklist.undo(*n, why, now, evidence.clone()) {
                out.push(Effect::Record(Record::Item {
                    number: *n,
                    state: ItemState::Undone(why.to_string()),
                    evidence,
                }));
            }
        }
    }

    /// The backup verified stopped and locked again, seen twice (step R1): items 6-9
    /// undone with that look's evidence; its history is next.
    pub(super) fn backup_relocked_seen(&mut self, now: f64, b: &Batch<'_>, out: &mut Vec<Effect>) {
        let all = [
            Observe::Unit,
            Observe::Processes,
            Observe::Metrics,
            Observe::Lock,
        ];
        let evidence = evidence_of(b, Role::Backup, &all);
        self.rollback_step(
            RollbackStep::BackupRelocked,
            ItemState::Green,
            evidence,
            out,
        );
        self.undo_items(now, b, Role::Backup, &BACKUP_ITEMS, out);
        self.rollback_step(
            RollbackStep::HistoryBack,
            ItemState::Running,
            Vec::new(),
            out,
        );
    }

    /// The rollback's start gate opened (step R3): the primary's restart is next.
    pub(super) fn reverse_gate_opened(&self, b: &Batch<'_>, out: &mut Vec<Effect>) {
        let mut evidence = evidence_of(b, Role::Primary, &[Observe::Beacon, Observe::Execution]);
        evidence.extend(evidence_of(
            b,
            Role::Backup,
            &[Observe::Unit, Observe::Lock],
        ));
        self.rollback_step(RollbackStep::ReverseGate, ItemState::Green, evidence, out);
        self.rollback_step(
            RollbackStep::PrimaryRestarted,
            ItemState::Running,
            Vec::new(),
            out,
        );
    }

    /// The primary's validator runs again (step R4): items 1-2 undone.
    pub(super) fn primary_runs_again(&mut self, now: f64, b: &Batch<'_>, out: &mut Vec<Effect>) {
        let evidence = evidence_of(b, Role::Primary, &[Observe::Unit, Observe::Processes]);
        self.rollback_step(
            RollbackStep::PrimaryRestarted,
            ItemState::Green,
            evidence,
            out,
        );
        self.undo_items(now, b, Role::Primary, &PRIMARY_ITEMS, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::{FileInfo, Metrics, UnitState};

    fn plan() -> Plan {
        Plan::from_config(&crate::config::Config::with_hosts("primary", "backup"))
    }

    fn unit(active: &str, sub: &str, pid: u32) -> UnitState {
        UnitState {
            load_state: "loaded".into(),
            active_state: active.into(),
            sub_state: sub.into(),
            main_pid: pid,
            unit_file_state: "disabled".into(),
            n_restarts: 0,
            drop_in_paths: Vec::new(),
            exec_start: String::new(),
            user: "qrysm".into(),
            group: "qrysm".into(),
            environment: String::new(),
        }
    }

    fn obs(host: Role, what: Observe, at: f64, value: Value) -> Observation {
        Observation {
            host,
            what,
            at,
            via: format!("{what:?} on {host}"),
            value: Ok(value),
        }
    }

    /// The backup stopped and locked, as the rollback's checks see it.
    fn backup_idle(at: f64) -> Vec<Observation> {
        vec![
            obs(
                Role::Backup,
                Observe::Unit,
                at,
                Value::Unit(unit("inactive", "dead", 0)),
            ),
            obs(
                Role::Backup,
                Observe::Processes,
                at,
                Value::Processes(vec![]),
            ),
            obs(
                Role::Backup,
                Observe::Metrics,
                at,
                Value::Metrics(Metrics {
                    answering: false,
                    successful_attestations: None,
                    keys: 0,
                }),
            ),
            obs(
                Role::Backup,
                Observe::Lock,
                at,
                Value::Lock(Some(FileInfo {
                    kind: "regular empty file".into(),
                    mode: 0o444,
                    user: "root".into(),
                    group: "root".into(),
                    size: 0,
                    mtime: at as i64,
                })),
            ),
        ]
    }

    fn records(out: &[Effect]) -> Vec<&Record> {
        out.iter()
            .filter_map(|e| match e {
                Effect::Record(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    fn steps(out: &[Effect]) -> Vec<(RollbackStep, ItemState)> {
        records(out)
            .into_iter()
            .filter_map(|r| match r {
                Record::RollbackStep { step, state, .. } => Some((*step, state.clone())),
                _ => None,
            })
            .collect()
    }

    fn items(out: &[Effect]) -> Vec<(ItemId, ItemState, usize)> {
        records(out)
            .into_iter()
            .filter_map(|r| match r {
                Record::Item {
                    number,
                    state,
                    evidence,
                } => Some((*number, state.clone(), evidence.len())),
                _ => None,
            })
            .collect()
    }

    /// A failover that went all the way: items 1-9 green, the backup started.
    fn signing() -> Failover {
        let mut m = Failover::new(plan());
        m.touched_primary = Some(10.0);
        m.touched_backup = Some(20.0);
        m.backup_started = Some(Some(21.0));
        m.phase = Phase::Completed;
        for n in ItemId::ALL.into_iter().take(9) {
            m.checklist.set(n, ItemState::Green, 25.0, vec![]).unwrap();
        }
        m
    }

    /// Through the re-lock (every action answered), to the backup seen stopped twice.
    fn relock(m: &mut Failover, now: f64) -> Vec<Effect> {
        let mut out = m.handle(Event::Rollback { now });
        while let Phase::Undoing { undo, i } = m.phase.clone() {
            let action = undo.actions()[i];
            out = m.handle(Event::Acted {
                now,
                action,
                via: "test".into(),
                result: Ok(()),
            });
        }
        let first = m.handle(Event::Observed {
            now: now + 1.0,
            observations: backup_idle(now + 1.0),
        });
        assert!(items(&first).is_empty(), "seen once: nothing undone yet");
        let t = now + 1.0 + m.plan.verify_interval;
        out.extend(m.handle(Event::Observed {
            now: t,
            observations: backup_idle(t),
        }));
        out
    }

    #[test]
    fn a_rollback_after_the_start_lists_its_steps_and_undoes_items_6_to_9() {
        let mut m = signing();
        let begun = m.handle(Event::Rollback { now: 100.0 });
        assert_eq!(
            steps(&begun),
            vec![
                (RollbackStep::BackupRelocked, ItemState::Running),
                (RollbackStep::HistoryBack, ItemState::Pending),
                (RollbackStep::ReverseGate, ItemState::Pending),
                (RollbackStep::PrimaryRestarted, ItemState::Pending),
            ]
        );
        assert!(items(&begun).is_empty(), "nothing undone before it is seen");
        let mut m = signing();
        let out = relock(&mut m, 100.0);
        let undone = items(&out);
        let numbers: Vec<ItemId> = undone.iter().map(|(n, _, _)| *n).collect();
        assert_eq!(
            numbers,
            vec![
                ItemId::LockFileRemoved,
                ItemId::BackupValidatorStarted,
                ItemId::AttestationsSubmitted,
                ItemId::AlertsCleared,
            ]
        );
        for (n, state, evidence) in &undone {
            assert!(matches!(state, ItemState::Undone(_)), "{n:?}: {state:?}");
            assert!(*evidence > 0, "{n:?} undone with the rollback's evidence");
            assert_eq!(&m.checklist.item(*n).state, state);
        }
        // Items 1-5 stand: the primary is still stopped and fenced.
        for n in ItemId::ALL.into_iter().take(5) {
            assert_eq!(m.checklist.item(n).state, ItemState::Green, "{n:?}");
        }
        assert_eq!(
            steps(&out)
                .into_iter()
                .filter(|(s, _)| *s != RollbackStep::PrimaryRestarted)
                .collect::<Vec<_>>(),
            vec![
                (RollbackStep::BackupRelocked, ItemState::Green),
                (RollbackStep::HistoryBack, ItemState::Running),
            ]
        );
        let r1 = records(&out)
            .into_iter()
            .find_map(|r| match r {
                Record::RollbackStep {
                    step: RollbackStep::BackupRelocked,
                    evidence,
                    ..
                } => Some(evidence.clone()),
                _ => None,
            })
            .unwrap();
        let seen: Vec<&str> = r1.iter().map(|e| e.observed.as_str()).collect();
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(seen[3].starts_with("lock file present: regular empty file 444 root:root"));
        assert!(matches!(m.phase, Phase::TransferringBack));
        assert_eq!(m.standing().backup, BackupStanding::LockedAgain);
    }

    #[test]
    fn an_item_never_begun_is_not_undone_and_a_failed_relock_says_so() {
        // The start failed before item 8 began: 6 and 7 are undone, 8 and 9 stay
        // pending.
        let mut m = signing();
        for n in [ItemId::AttestationsSubmitted, ItemId::AlertsCleared] {
            m.checklist.force(n, ItemState::Pending, 0.0);
        }
        m.checklist.force(
            ItemId::BackupValidatorStarted,
            ItemState::Red("not running".into()),
            22.0,
        );
        let out = relock(&mut m, 100.0);
        let numbers: Vec<ItemId> = items(&out).iter().map(|(n, _, _)| *n).collect();
        assert_eq!(
            numbers,
            vec![ItemId::LockFileRemoved, ItemId::BackupValidatorStarted]
        );
        assert_eq!(
            m.checklist.item(ItemId::AttestationsSubmitted).state,
            ItemState::Pending
        );
        // The backup never seen stopped: R1 red, nothing undone.
        let mut m = signing();
        let mut out = m.handle(Event::Rollback { now: 100.0 });
        while let Phase::Undoing { undo, i } = m.phase.clone() {
            out = m.handle(Event::Acted {
                now: 100.0,
                action: undo.actions()[i],
                via: "test".into(),
                result: Ok(()),
            });
        }
        let _ = out;
        let mut running = backup_idle(101.0);
        running[0] = obs(
            Role::Backup,
            Observe::Unit,
            101.0,
            Value::Unit(unit("active", "running", 1200)),
        );
        let mut last = Vec::new();
        for k in 0..=m.plan.verify_attempts {
            last = m.handle(Event::Observed {
                now: 101.0 + k as f64,
                observations: running.clone(),
            });
        }
        assert!(matches!(
            steps(&last).as_slice(),
            [(RollbackStep::BackupRelocked, ItemState::Red(why))] if why.contains("ALARM")
        ));
        assert!(items(&last).is_empty());
        assert_eq!(
            m.checklist.item(ItemId::BackupValidatorStarted).state,
            ItemState::Green,
            "not verified stopped: item 7 is not undone"
        );
    }

    #[test]
    fn a_rollback_of_the_primary_only_lists_its_restart_and_undoes_items_1_and_2() {
        let mut m = Failover::new(plan());
        m.touched_primary = Some(10.0);
        m.phase = Phase::AwaitStartConfirmation;
        for n in ItemId::ALL.into_iter().take(5) {
            m.checklist.set(n, ItemState::Green, 25.0, vec![]).unwrap();
        }
        let mut out = m.handle(Event::Rollback { now: 100.0 });
        assert_eq!(
            steps(&out),
            vec![(RollbackStep::PrimaryRestarted, ItemState::Running)]
        );
        while let Phase::Undoing { undo, i } = m.phase.clone() {
            out = m.handle(Event::Acted {
                now: 100.0,
                action: undo.actions()[i],
                via: "test".into(),
                result: Ok(()),
            });
        }
        let _ = out;
        let runs = vec![
            obs(
                Role::Primary,
                Observe::Unit,
                102.0,
                Value::Unit(unit("active", "running", 812)),
            ),
            obs(
                Role::Primary,
                Observe::Processes,
                102.0,
                Value::Processes(vec![812]),
            ),
        ];
        let out = m.handle(Event::Observed {
            now: 102.0,
            observations: runs,
        });
        assert_eq!(
            steps(&out),
            vec![(RollbackStep::PrimaryRestarted, ItemState::Green)]
        );
        let numbers: Vec<(ItemId, usize)> = items(&out).iter().map(|(n, _, e)| (*n, *e)).collect();
        assert_eq!(
            numbers,
            vec![(ItemId::PrimaryStopped, 1), (ItemId::PrimaryKilled, 1)]
        );
        assert!(matches!(
            m.checklist.item(ItemId::PrimaryStopped).state,
            ItemState::Undone(_)
        ));
        // What the failover never did stays as it was.
        assert_eq!(
            m.checklist.item(ItemId::LockFileRemoved).state,
            ItemState::Pending
        );
        assert_eq!(
            m.checklist
                .item(ItemId::SlashingProtectionTransferred)
                .state,
            ItemState::Green
        );
        assert!(out.contains(&Effect::Finished(Outcome::RolledBack)));
    }
}
