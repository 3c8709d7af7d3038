//! The first gate (spec §2, runbook "before you start"): nothing is touched that
//! cannot be finished. Both hosts, the chain and the history looked at at once; the
//! primary's stop asked, typed, only when everything that can be known before it is
//! stopped is green. An unreachable primary is offered the path without a verified
//! stop (`unreachable`).

use super::*;

impl Failover {
    /// The first gate's look: everything it judges, on both hosts, at once.
    pub(super) fn begin(&mut self, out: &mut Vec<Effect>) {
        self.phase = Phase::Preflight;
        let mut want = Vec::new();
        for host in Role::BOTH {
            for w in [
                Observe::Unit,
                Observe::Processes,
                Observe::Metrics,
                Observe::Lock,
                Observe::Beacon,
                Observe::Execution,
                Observe::Chain,
            ] {
                want.push((host, w));
            }
        }
        want.push((Role::Primary, Observe::History));
        want.push((Role::Backup, Observe::Space));
        want.push((Role::Backup, Observe::Archives));
        out.push(Effect::Observe(want));
    }

    /// Spec §2, first gate: everything that can be known before the primary is
    /// stopped is checked before it is stopped.
    pub(super) fn first_gate(&mut self, now: f64, obs: &[Observation], out: &mut Vec<Effect>) {
        let b = Batch(obs);
        let mut refuse: Vec<String> = Vec::new();

        // The backup: reachable, stopped, locked, synced.
        if let Some(e) = b.failed(Role::Backup).filter(|e| {
            matches!(
                e.failure,
                Failure::Unreachable
                    | Failure::TimedOut
                    | Failure::HostKeyMismatch
                    | Failure::Refused
            )
        }) && value!(b, Role::Backup, Unit).is_err()
        {
            refuse.push(format!(
                "the backup cannot be reached: {}: {}",
                e.failure.as_str(),
                e.detail
            ));
        } else {
            refuse.extend(backup_idle_problems(&b));
            refuse.extend(self.judge_sync(&b, now, out));
            match value!(b, Role::Backup, Chain) {
                Ok((_, c)) => self.chain = Some(c.clock),
                Err(e) => refuse.push(format!("the chain's timing is unknown on the backup: {e}")),
            }
        }

        // The primary: down (nothing left to protect by refusing), or up with a
        // history worth transferring and room for it on the backup.
        let primary_down = match b.failed(Role::Primary) {
            Some(e) if e.failure == Failure::HostKeyMismatch => {
                refuse.push(format!(
                    "the primary's host key does not match: it may not be the primary at all: {}",
                    e.detail
                ));
                false
            }
            Some(e) => {
                matches!(e.failure, Failure::Unreachable | Failure::TimedOut)
                    && value!(b, Role::Primary, Unit).is_err()
            }
            None => false,
        };
        if !primary_down {
            match value!(b, Role::Primary, History) {
                Ok((_, h)) => match h.problem() {
                    None => match value!(b, Role::Backup, Space) {
                        Ok((_, free)) => {
                            let need = h.total_size().saturating_mul(2) + (64 << 20);
                            if *free < need {
                                refuse.push(format!(
                                    "no room on the backup for the history: {} free, {} needed",
                                    crate::observed::human_bytes(*free),
                                    crate::observed::human_bytes(need)
                                ));
                            }
                        }
                        Err(e) => refuse.push(format!("the backup's free space is unknown: {e}")),
                    },
                    Some(p) => refuse.push(format!(
                        "the primary's slashing-protection history is not usable: {p}"
                    )),
                },
                Err(e) => refuse.push(format!(
                    "the primary's slashing-protection history is unknown: {e}"
                )),
            }
        }

        if !refuse.is_empty() {
            let why = refuse.join("; ");
            self.block_at(GateId::FirstGate, why, out);
            return;
        }
        if primary_down {
            let e = b.failed(Role::Primary).expect("down has a cause");
            let cause = format!("{}: {}", e.failure.as_str(), e.detail);
            let archives = match value!(b, Role::Backup, Archives) {
                Ok((_, v)) => v.clone(),
                Err(_) => Vec::new(),
            };
            // The newest archive that holds a history; one that holds none (the
            // reference role's script archives an empty directory) is never offered.
            let clock = self
                .chain
                .expect("the first gate refuses without the chain's clock");
            let wait = self.plan.liveness_epochs;
            let source = match archives.iter().find(|a| a.holds_history()) {
                Some(a) => Source::Archive(a.clone()),
                None => {
                    let found = match archives.first() {
                        None => "no backup archive was found, on the backup or here".to_string(),
                        Some(a) => format!(
                            "none of the {} backup archive(s) holds a history (the newest, {}, {})",
                            archives.len(),
                            a.place(),
                            match &a.holds {
                                Some(Err(why)) => format!("holds none: {why}"),
                                _ => "could not be opened".into(),
                            }
                        ),
                    };
                    if self.plan.indices.is_empty() {
                        let why = format!(
                            "the primary cannot be reached ({cause}) and {found}: the backup cannot be given a history, and starting it without one could sign what the primary signed. The way forward: set validator.indices (then a watermark from the chain can stand in for the history after the liveness wait), or the primary's {} from its disk (or a copy of it), archived (`tar -czf NAME.tar.gz -C DATADIR validator.db`) where backups.pattern finds it on this machine or on the backup, then run again; nothing was touched",
                            crate::history::PROTECTION_DB_FILE
                        );
                        self.block_at(GateId::FirstGate, why, out);
                        return;
                    }
                    // The way forward that is safe: the chain's evidence as the history.
                    let keys = self.plan.indices.len() as u64;
                    out.push(self.gate(
                        GateId::FirstGate,
                        true,
                        format!(
                            "the primary cannot be reached ({cause}) and {found}: the backup can be given a watermark from the chain instead (per key the current epoch as its last signed target, the justified epoch as source), so that it cannot sign anything the primary may have signed; it costs the rest of this epoch and the liveness wait of {wait} epoch(s): about {} missed attester duties ({keys} key(s))",
                            keys * (wait + 1)
                        ),
                    ));
                    self.phase = Phase::AwaitUnverifiedConfirmation {
                        source: Source::Watermark,
                    };
                    out.push(Effect::Ask(Confirm::UnverifiedPrimary {
                        expect: self.plan.primary.clone(),
                        archive: Source::Watermark.place(),
                        age_epochs: 0,
                        wait_epochs: wait,
                    }));
                    return;
                }
            };
            let age_epochs = source.age_epochs(&clock, now);
            out.push(self.gate(
                GateId::FirstGate,
                true,
                format!(
                    "the primary cannot be reached ({cause}): nothing on it can be verified; the newest archive that holds a history is {} ({age_epochs} epoch(s) old); the failover can go on through the liveness wait",
                    source.place()
                ),
            ));
            out.push(Effect::Ask(Confirm::UnverifiedPrimary {
                expect: self.plan.primary.clone(),
                archive: source.place(),
                age_epochs,
                wait_epochs: wait,
            }));
            self.phase = Phase::AwaitUnverifiedConfirmation { source };
            return;
        }
        out.push(
            self.gate(
                GateId::FirstGate,
                true,
                "the backup is stopped, locked and synced; the primary's history is valid and fits"
                    .into(),
            ),
        );
        self.phase = Phase::AwaitStopConfirmation;
        out.push(Effect::Ask(Confirm::StopPrimary {
            expect: self.plan.primary.clone(),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::super::sweep::{P, World, acts, fixture, item, last};
    use super::*;

    /// The first gate's look answered from this world.
    fn first_gate(world: impl FnOnce(&mut World)) -> (Vec<Effect>, Phase) {
        let mut run = fixture("preflight");
        world(&mut run.world);
        run.answer();
        (last(&run), run.m.phase.clone())
    }

    fn blocked_by(out: &[Effect], phase: &Phase, words: &str) {
        assert!(acts(out).is_empty(), "nothing touched: {out:?}");
        assert!(!out.iter().any(|e| matches!(e, Effect::Ask(_))), "{out:?}");
        assert!(
            out.iter().any(|e| matches!(e, Effect::Record(Record::Gate { gate: GateId::FirstGate, open: false, why, .. }) if why.contains(words))),
            "{words:?} in {out:?}"
        );
        assert!(
            matches!(phase, Phase::Blocked(why) if why.contains(words)),
            "{phase:?}"
        );
    }

    #[test]
    fn all_right_asks_for_the_primarys_name_and_touches_nothing() {
        let (out, phase) = first_gate(|_| {});
        assert_eq!(phase, Phase::AwaitStopConfirmation);
        assert!(acts(&out).is_empty());
        assert_eq!(
            out.last(),
            Some(&Effect::Ask(Confirm::StopPrimary { expect: P.into() }))
        );
    }

    #[test]
    fn the_first_gate_refuses_a_backup_that_is_not_an_idle_locked_backup() {
        let (out, phase) = first_gate(|w| w.backup.lock = false);
        blocked_by(&out, &phase, "the backup's lock file is gone");
        let (out, phase) = first_gate(|w| {
            w.backup.running = true;
        });
        blocked_by(&out, &phase, "the backup's validator is not stopped");
        blocked_by(&out, &phase, "a validator process runs on the backup");
        let (out, phase) = first_gate(|w| w.backup.reachable = false);
        blocked_by(&out, &phase, "the backup cannot be reached: unreachable");
    }

    /// The first gate's look, with these observations spoiled.
    fn spoiled(spoil: impl Fn(&mut Observation)) -> (Vec<Effect>, Phase, ItemState) {
        let mut run = fixture("preflight");
        let Some(Effect::Observe(want)) = run.pending() else {
            panic!()
        };
        let now = run.now + 1.0;
        let mut observations = run.world.observe(&want, now);
        observations.iter_mut().for_each(spoil);
        run.send(Event::Observed { now, observations });
        let beacon = item(&run, ItemId::BackupBeaconSynced);
        (last(&run), run.m.phase.clone(), beacon)
    }

    #[test]
    fn the_first_gate_refuses_an_unsynced_backup_no_room_and_a_strange_primary() {
        let (out, phase, beacon) = spoiled(|o| {
            if let (Role::Backup, Observe::Beacon | Observe::Space, Ok(v)) =
                (o.host, o.what, &o.value)
            {
                o.value = Ok(super::super::sweep::wrong(v))
            }
        });
        blocked_by(
            &out,
            &phase,
            "the backup's beacon node is not ready: syncing",
        );
        blocked_by(&out, &phase, "no room on the backup for the history");
        assert!(matches!(beacon, ItemState::Red(_)), "{beacon:?}");
        let (out, phase, _) = spoiled(|o| {
            if o.host == Role::Primary {
                o.value = Err(HostError::new(
                    Role::Primary,
                    Failure::HostKeyMismatch,
                    "ssh",
                    "the key changed",
                ))
            }
        });
        blocked_by(&out, &phase, "the primary's host key does not match");
        let (out, phase, _) = spoiled(|o| {
            if let (Role::Primary, Observe::History, Ok(v)) = (o.host, o.what, &o.value) {
                o.value = Ok(super::super::sweep::wrong(v))
            }
        });
        blocked_by(
            &out,
            &phase,
            "the primary's slashing-protection history is not usable",
        );
    }

    #[test]
    fn an_unreachable_primary_without_archive_or_indices_is_blocked_with_the_way_forward() {
        let mut run = fixture("preflight");
        run.world = World::unreachable_primary(false);
        run.m.plan.indices.clear();
        run.answer();
        let (out, phase) = (last(&run), run.m.phase.clone());
        blocked_by(&out, &phase, "set validator.indices");
        // With indices, the chain's watermark is offered instead, asked by name.
        let (out, phase) = first_gate(|w| *w = World::unreachable_primary(false));
        assert_eq!(
            phase,
            Phase::AwaitUnverifiedConfirmation {
                source: Source::Watermark
            }
        );
        assert!(
            matches!(out.last(), Some(Effect::Ask(Confirm::UnverifiedPrimary { expect, .. })) if expect == P)
        );
    }
}
