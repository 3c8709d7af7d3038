//! The runbook's emergency stop-all ("slashing detected or suspected"): both
//! validators fenced and stopped, verified. Asked of a person by both names, typed
//! (`stop-all --confirm PRIMARY,BACKUP`); reachable from every phase as an
//! interrupt; and a failover of the pair that finds another run's stop-all in force
//! (the backup fenced, which no failover does) ends there and does nothing more.

use super::*;

impl Failover {
    /// What the stop-all asks: both hosts' names, typed, comma-separated.
    pub fn stop_all_question(&self) -> Confirm {
        Confirm::StopAll {
            expect: format!("{},{}", self.plan.primary, self.plan.backup),
        }
    }

    /// `stop-all` on its own: nothing is done before both names are typed.
    pub(super) fn begin_stop_all(&mut self, out: &mut Vec<Effect>) {
        self.phase = Phase::AwaitStopAllConfirmation;
        out.push(Effect::Ask(self.stop_all_question()));
    }

    /// Fence and stop both validators, whatever was under way.
    pub(super) fn stop_all(&mut self, now: f64, from: &Phase, out: &mut Vec<Effect>) {
        out.push(self.gate(
            GateId::StopAll,
            true,
            format!(
                "requested at {now:.0} in phase {from:?}: fencing and stopping both validators"
            ),
        ));
        self.touched_primary.get_or_insert(now);
        self.stopping_all = true;
        self.undo_step(Undo::StopAll, 0, out);
    }

    /// A failover's phases: where another run's stop-all ends this run.
    pub(super) fn failing_over(&self) -> bool {
        !self.stopping_all
            && matches!(
                self.phase,
                Phase::Preflight
                    | Phase::ResumeSurvey { .. }
                    | Phase::AwaitStopConfirmation
                    | Phase::Fencing(_)
                    | Phase::Stopping
                    | Phase::VerifyingStop(_)
                    | Phase::Transferring
                    | Phase::AwaitingGate
                    | Phase::AwaitStartConfirmation
                    | Phase::FinalCheck
                    | Phase::RemovingLock
                    | Phase::Starting
                    | Phase::VerifyingStart(_)
                    | Phase::WatchingAttestations { .. }
                    | Phase::CheckingAlerts
                    | Phase::AwaitUnverifiedConfirmation { .. }
            )
    }

    /// The backup's unit carries the fence's drop-in while this run never fenced it:
    /// another run's emergency stop-all is in force. The run ends: blocked when it had
    /// touched nothing, else failed with where both validators stand.
    pub(super) fn stopped_by_another(
        &mut self,
        obs: &[Observation],
        out: &mut Vec<Effect>,
    ) -> bool {
        if !self.failing_over() {
            return false;
        }
        let fenced = obs.iter().any(|o| {
            o.host == Role::Backup
                && matches!(&o.value, Ok(Value::Unit(u)) if u.drop_in_paths.iter().any(|p| p == &self.plan.fence_dropin))
        });
        if !fenced {
            return false;
        }
        let why = format!(
            "the backup's validator is fenced ({} is loaded) and this run did not fence it: an emergency stop-all of the pair is in force; this run ends and does nothing more (lift the stop-all by hand, then start again)",
            self.plan.fence_dropin
        );
        if self.touched_primary.is_none() {
            self.block_at(GateId::StopAll, why, out);
        } else {
            self.stop_at(GateId::StopAll, why, out);
        }
        true
    }
}

impl Failover {
    pub(super) fn stop_all_checks(&self) -> Vec<(Role, Observe)> {
        let mut v = Vec::new();
        for r in Role::BOTH {
            for w in [Observe::Unit, Observe::Processes, Observe::Metrics] {
                v.push((r, w));
            }
        }
        v
    }

    /// The emergency stop-all's check: both validators stopped, no process, the
    /// metrics ports closed; SIGKILL through systemd once for one that is stuck.
    pub(super) fn verify_stop_all(
        &mut self,
        now: f64,
        obs: &[Observation],
        v: Verifying,
        out: &mut Vec<Effect>,
    ) {
        let b = Batch(obs);
        let mut not_yet = Vec::new();
        let mut stuck = Vec::new();
        for r in Role::BOTH {
            match value!(b, r, Unit) {
                Ok((_, u)) if u.is_stopped() => {}
                Ok((_, u)) => {
                    stuck.push(r);
                    not_yet.push(format!("{r}: systemd says {}", u.summary()));
                }
                Err(e) => not_yet.push(format!("{r}: unit state unknown: {e}")),
            }
            match value!(b, r, Processes) {
                Ok((_, p)) if p.is_empty() => {}
                Ok((_, p)) => {
                    if !stuck.contains(&r) {
                        stuck.push(r);
                    }
                    not_yet.push(format!("{r}: process still there (PID {p:?})"));
                }
                Err(e) => not_yet.push(format!("{r}: processes unknown: {e}")),
            }
            match value!(b, r, Metrics) {
                Ok((_, m)) if !m.answering => {}
                Ok(_) => not_yet.push(format!("{r}: the metrics port answers")),
                Err(e) => not_yet.push(format!("{r}: metrics unknown: {e}")),
            }
        }
        let why = not_yet.join("; ");
        match v.after(
            now,
            not_yet.is_empty(),
            !stuck.is_empty(),
            self.plan.rule(false, true),
        ) {
            Next::Verified { .. } => {
                out.push(self.gate(
                    GateId::StopAll,
                    true,
                    "both validators stopped and fenced: no process, metrics ports closed".into(),
                ));
                self.phase = Phase::StoppedAll;
                out.push(Effect::Finished(Outcome::StoppedAll));
            }
            Next::Escalate(v) => {
                out.push(self.gate(
                    GateId::StopAll,
                    false,
                    format!("{why}: escalating to SIGKILL"),
                ));
                self.phase = Phase::VerifyingStopAll(v);
                // One kill per stuck host; the check after the last one judges.
                self.pending_kills = stuck[1..].to_vec();
                out.push(Effect::Act {
                    action: Action::Kill(stuck[0]),
                    timeout: OBSERVE_TIMEOUT,
                });
            }
            Next::LookAgainAt(at, v) => {
                self.phase = Phase::VerifyingStopAll(v);
                out.push(Effect::WaitUntil(at));
            }
            Next::GiveUp => {
                let why = format!(
                    "ALARM: the emergency stop-all is not verified: {why}; stop it by hand or at the provider"
                );
                out.push(self.alarm(Alarm::StopAll, &why));
                self.stop_at(GateId::StopAll, why, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan::from_config(&crate::config::Config::with_hosts("val-a", "val-b"))
    }

    #[test]
    fn stop_all_on_its_own_asks_both_names_and_does_nothing_before() {
        let mut m = Failover::new(plan());
        let out = m.handle(Event::BeginStopAll { now: 1.0 });
        assert_eq!(
            out,
            vec![Effect::Ask(Confirm::StopAll {
                expect: "val-a,val-b".into()
            })]
        );
        // One name is not both: asked again, nothing done.
        let out = m.handle(Event::Confirmed {
            now: 2.0,
            typed: "val-a".into(),
        });
        assert!(
            out.iter()
                .all(|e| matches!(e, Effect::Record(_) | Effect::Ask(_))),
            "{out:?}"
        );
        assert!(m.touched_primary.is_none());
        let out = m.handle(Event::Confirmed {
            now: 3.0,
            typed: "val-a,val-b".into(),
        });
        assert!(
            out.iter().any(|e| matches!(
                e,
                Effect::Act {
                    action: Action::EnsureLockDir(Role::Primary),
                    ..
                }
            )),
            "{out:?}"
        );
        assert!(out.iter().any(|e| matches!(
            e,
            Effect::Record(Record::Confirmation { typed, .. }) if typed == "val-a,val-b"
        )));
    }

    #[test]
    fn declined_stop_all_is_blocked_with_nothing_done() {
        let mut m = Failover::new(plan());
        m.handle(Event::BeginStopAll { now: 1.0 });
        let out = m.handle(Event::Declined { now: 2.0 });
        assert!(
            out.iter().any(|e| matches!(e, Effect::Blocked(_))),
            "{out:?}"
        );
        assert!(!out.iter().any(|e| matches!(e, Effect::Act { .. })));
    }
}
