//! Items 6-9: the backup's lock removed, its validator started and verified, its
//! attestations seen (log and chain), and the alerts judged (item 9).

use super::*;

impl Failover {
    /// Item 6: the backup's lock removed; then its validator started (item 7).
    pub(super) fn lock_removed(
        &mut self,
        now: f64,
        result: Result<(), HostError>,
        via: String,
        out: &mut Vec<Effect>,
    ) {
        match result {
            Ok(()) => {
                let e = Evidence {
                    host: Some(Role::Backup),
                    at: now,
                    via,
                    observed: "lock file removed, after items 1-5 and the liveness gate".into(),
                };
                self.set_item(ItemId::LockFileRemoved, ItemState::Green, now, vec![e], out);
                self.set_item(
                    ItemId::BackupValidatorStarted,
                    ItemState::Running,
                    now,
                    Vec::new(),
                    out,
                );
                self.phase = Phase::Starting;
                out.push(Effect::Act {
                    action: Action::Start(Role::Backup),
                    timeout: OBSERVE_TIMEOUT,
                });
            }
            Err(e) => {
                let why = format!(
                    "removing the backup's lock failed: {}: {}",
                    e.failure.as_str(),
                    e.detail
                );
                self.fail(now, ItemId::LockFileRemoved, why, out);
            }
        }
    }

    /// The start sent: item 7 is judged by what the backup shows.
    pub(super) fn started(
        &mut self,
        now: f64,
        result: Result<(), HostError>,
        via: String,
        out: &mut Vec<Effect>,
    ) {
        match result {
            Ok(()) => {
                self.backup_started = Some(Some(now));
                self.phase = Phase::VerifyingStart(Verifying::default());
                out.push(Effect::Observe(vec![
                    (Role::Backup, Observe::Unit),
                    (Role::Backup, Observe::Processes),
                ]));
            }
            Err(e) => {
                let why = format!(
                    "starting the backup failed: {}: {} ({via})",
                    e.failure.as_str(),
                    e.detail
                );
                self.fail(now, ItemId::BackupValidatorStarted, why, out);
            }
        }
    }

    /// Item 7: the backup's unit active and a process there; then the attestations are watched (item 8).
    pub(super) fn verify_start(
        &mut self,
        now: f64,
        observations: &[Observation],
        v: Verifying,
        out: &mut Vec<Effect>,
    ) {
        let b = Batch(observations);
        let unit = value!(b, Role::Backup, Unit);
        let procs = value!(b, Role::Backup, Processes);
        let running =
            matches!((&unit, &procs), (Ok((_, u)), Ok((_, p))) if u.is_running() && !p.is_empty());
        match v.after(now, running, false, self.plan.rule(false, false)) {
            Next::Verified { .. } => {
                let (Ok((uo, u)), Ok((po, p))) = (unit, procs) else {
                    return;
                };
                let evidence = vec![ev(uo, u.summary()), ev(po, format!("PID {p:?}"))];
                self.set_item(
                    ItemId::BackupValidatorStarted,
                    ItemState::Green,
                    now,
                    evidence,
                    out,
                );
                self.set_item(
                    ItemId::AttestationsSubmitted,
                    ItemState::Running,
                    now,
                    Vec::new(),
                    out,
                );
                let since = self.touched_backup.unwrap_or(now);
                let epochs = self.plan.attest_epochs as f64;
                let deadline =
                    now + epochs * self.chain.map(|c| c.epoch_seconds() as f64).unwrap_or(60.0);
                self.phase = Phase::WatchingAttestations {
                    since,
                    deadline,
                    journal: false,
                };
                out.push(Effect::Observe(self.attestation_observations(now, since)));
            }
            Next::LookAgainAt(at, v) => {
                self.phase = Phase::VerifyingStart(v);
                out.push(Effect::WaitUntil(at));
            }
            Next::Escalate(_) | Next::GiveUp => {
                let why = format!(
                    "the backup's validator is not running: {}",
                    match unit {
                        Ok((_, u)) => u.summary(),
                        Err(e) => e,
                    }
                );
                self.fail(now, ItemId::BackupValidatorStarted, why, out);
            }
        }
    }

    pub(super) fn attestation_observations(&self, now: f64, since: f64) -> Vec<(Role, Observe)> {
        let mut v = vec![(Role::Backup, Observe::JournalSince(since.floor() as u64))];
        if let Some(c) = self.chain
            && !self.plan.indices.is_empty()
        {
            let e = c.epoch_at(now);
            v.push((Role::Backup, Observe::Liveness(e)));
            if e > 0 {
                v.push((Role::Backup, Observe::Liveness(e - 1)));
            }
        }
        v
    }

    /// Item 8: the backup's own log says it attested, and the chain sees the keys live
    /// in an epoch after the start.
    pub(super) fn watch_attestations(
        &mut self,
        now: f64,
        obs: &[Observation],
        since: f64,
        deadline: f64,
        mut journal: bool,
        out: &mut Vec<Effect>,
    ) {
        let mut evidence = Vec::new();
        for o in obs {
            if let Ok(Value::Journal(lines)) = &o.value
                && let Some(l) = lines
                    .iter()
                    .find(|l| l.contains("Submitted new attestation"))
            {
                journal = true;
                evidence.push(ev(o, l.clone()));
            }
        }
        let start_epoch = self.chain.map(|c| c.epoch_at(since)).unwrap_or(0);
        let mut chain = self.plan.indices.is_empty();
        for o in obs {
            if let (Observe::Liveness(e), Ok(Value::Liveness(l))) = (o.what, &o.value)
                && e > start_epoch
                && !l.is_empty()
                && l.iter().all(|(_, live)| *live)
            {
                chain = true;
                evidence.push(ev(o, format!("all {} keys live in epoch {e}", l.len())));
            }
        }
        if journal && chain {
            self.set_item(
                ItemId::AttestationsSubmitted,
                ItemState::Green,
                now,
                evidence,
                out,
            );
            if self.plan.indices.is_empty() {
                let why = format!(
                    "item 9 cannot be verified: {}",
                    crate::engine::alerts::NO_INDICES
                );
                self.checklist
                    .waive(ItemId::AlertsCleared, &why, now)
                    .expect("item 9 is waivable");
                out.push(Effect::Record(Record::Item {
                    number: ItemId::AlertsCleared,
                    state: self.checklist.item(ItemId::AlertsCleared).state.clone(),
                    evidence: Vec::new(),
                }));
                self.complete(out);
            } else {
                self.phase = Phase::CheckingAlerts;
                out.push(Effect::Observe(vec![
                    (Role::Backup, Observe::Validators),
                    (Role::Backup, Observe::SlashingPool),
                ]));
            }
            return;
        }
        if now > deadline {
            let why = format!(
                "no attestation from the backup within {} epochs (journal: {}, chain: {})",
                self.plan.attest_epochs,
                if journal { "yes" } else { "none" },
                if chain { "live" } else { "not live" }
            );
            self.fail(now, ItemId::AttestationsSubmitted, why, out);
            return;
        }
        self.phase = Phase::WatchingAttestations {
            since,
            deadline,
            journal,
        };
        out.push(Effect::WaitUntil(now + self.plan.verify_interval));
    }

    /// Item 9 after the start, by [`crate::engine::alerts::judge`]: the beacon state's record
    /// of our validators, the pool, the balances against the Start gate's.
    pub(super) fn judge_alerts(&mut self, now: f64, obs: &[Observation], out: &mut Vec<Effect>) {
        let b = Batch(obs);
        let vals = value!(b, Role::Backup, Validators);
        let pool = value!(b, Role::Backup, SlashingPool);
        let verdict = crate::engine::alerts::judge(crate::engine::alerts::AlertsInput {
            indices: &self.plan.indices,
            validators: match &vals {
                Ok((_, v)) => Ok(v.as_slice()),
                Err(e) => Err(e.as_str()),
            },
            pool: match &pool {
                Ok((_, p)) => Ok(p.as_slice()),
                Err(e) => Err(e.as_str()),
            },
            balances_before: self.balances_before.as_ref(),
        });
        let mut evidence = Vec::new();
        if let Ok((o, v)) = &vals {
            let seen: Vec<String> = v
                .iter()
                .map(|v| {
                    format!(
                        "{}: {} slashed={} balance {}",
                        v.index,
                        v.status,
                        v.slashed,
                        v.balance.map_or("?".into(), |b| b.to_string())
                    )
                })
                .collect();
            let before = match &self.balances_before {
                Some(m) => format!("; before the start: {m:?}"),
                None => String::new(),
            };
            evidence.push(ev(o, format!("{}{before}", seen.join(", "))));
        }
        if let Ok((o, p)) = &pool {
            evidence.push(ev(o, format!("our indices in the pool: {p:?}")));
        }
        match verdict.reason() {
            None => {
                if let crate::engine::alerts::Alerts::Clear(seen) = &verdict {
                    evidence.push(Evidence {
                        host: Some(Role::Backup),
                        at: now,
                        via: "item 9's judgement".into(),
                        observed: seen.clone(),
                    });
                }
                self.set_item(ItemId::AlertsCleared, ItemState::Green, now, evidence, out);
                self.complete(out);
            }
            Some(why) => {
                if let crate::engine::alerts::Alerts::Alarm { .. } = &verdict {
                    out.push(self.alarm(Alarm::Alerts, &why));
                }
                self.set_item(
                    ItemId::AlertsCleared,
                    ItemState::Red(why.clone()),
                    now,
                    evidence,
                    out,
                );
                self.phase = Phase::Failed(why.clone());
                out.push(Effect::Finished(Outcome::Failed(why)));
            }
        }
    }

    pub(super) fn complete(&mut self, out: &mut Vec<Effect>) {
        out.push(self.gate(
            GateId::Failover,
            true,
            "the backup signs; items 1-9 done".into(),
        ));
        self.phase = Phase::Completed;
        out.push(Effect::Finished(Outcome::Completed));
    }
}

#[cfg(test)]
mod tests {
    use super::super::sweep::{acted, acts, err, fixture, item, last};
    use super::*;

    #[test]
    fn item_6_failed_ends_the_run_without_a_start() {
        let mut run = fixture("removing lock");
        let out = run
            .send(acted(
                run.now + 1.0,
                Action::RemoveLock(Role::Backup),
                Err(err(Role::Backup, Failure::TimedOut)),
            ))
            .to_vec();
        assert!(acts(&out).is_empty());
        assert!(matches!(
            item(&run, ItemId::LockFileRemoved),
            ItemState::Red(_)
        ));
        assert!(matches!(run.m.phase, Phase::Failed(_)));
    }

    #[test]
    fn item_7_a_backup_that_does_not_run_is_looked_at_again_then_red() {
        let mut run = fixture("verifying start");
        run.world.backup.running = false;
        run.until(|_| false);
        assert!(
            matches!(item(&run, ItemId::BackupValidatorStarted), ItemState::Red(why) if why.contains("not running"))
        );
        assert!(matches!(run.m.phase, Phase::Failed(_)));
        // Seen running: green with the unit and the PID as evidence.
        let mut run = fixture("verifying start");
        run.answer();
        assert_eq!(item(&run, ItemId::BackupValidatorStarted), ItemState::Green);
        assert!(matches!(run.m.phase, Phase::WatchingAttestations { .. }));
    }

    #[test]
    fn item_8_no_attestation_by_the_deadline_is_red() {
        let mut run = fixture("attestations");
        let Phase::WatchingAttestations { deadline, .. } = run.m.phase else {
            panic!()
        };
        // The validator runs but never says it attested, nor does the chain.
        run.world.backup.running = false;
        run.now = deadline;
        run.until(|_| false);
        assert!(
            matches!(item(&run, ItemId::AttestationsSubmitted), ItemState::Red(why) if why.contains("no attestation from the backup within 3 epochs"))
        );
        // Both the log and the chain: green, then item 9.
        let mut run = fixture("attestations");
        run.until(|p| *p == Phase::CheckingAlerts);
        assert_eq!(item(&run, ItemId::AttestationsSubmitted), ItemState::Green);
    }

    #[test]
    fn item_9_a_slashed_key_is_red_and_a_clear_record_completes() {
        let mut run = fixture("alerts");
        let Some(Effect::Observe(want)) = run.pending() else {
            panic!()
        };
        let now = run.now + 1.0;
        let mut observations = run.world.observe(&want, now);
        for o in observations
            .iter_mut()
            .filter(|o| o.what == Observe::Validators)
        {
            if let Ok(v) = &o.value {
                o.value = Ok(super::super::sweep::wrong(v));
            }
        }
        run.send(Event::Observed { now, observations });
        assert!(matches!(
            item(&run, ItemId::AlertsCleared),
            ItemState::Red(_)
        ));
        assert!(matches!(
            last(&run).last(),
            Some(Effect::Finished(Outcome::Failed(_)))
        ));
        let mut run = fixture("alerts");
        run.answer();
        assert_eq!(item(&run, ItemId::AlertsCleared), ItemState::Green);
        assert_eq!(
            last(&run).last(),
            Some(&Effect::Finished(Outcome::Completed))
        );
    }
}
