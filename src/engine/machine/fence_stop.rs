//! Items 1-2: the primary fenced (lock file, not at boot, not at all), stopped, and
//! verified stopped by independent checks, seen so twice, seconds apart, with the
//! escalation to SIGKILL through systemd when the stop does not finish.

use super::*;

impl Failover {
    /// The primary's name typed: the primary is touched from here on (journaled before the first fence step), and fenced.
    pub(super) fn stop_confirmed(&mut self, now: f64, typed: String, out: &mut Vec<Effect>) {
        let question = Confirm::StopPrimary {
            expect: self.plan.primary.clone(),
        };
        if !self.confirmed(question, &typed, out) {
            return;
        }
        self.touched_primary = Some(now);
        out.push(Effect::Record(Record::Milestone {
            milestone: Milestone::PrimaryTouched,
        }));
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

    /// One fence step done: the next, or the stop once all of them are.
    pub(super) fn fenced(
        &mut self,
        i: usize,
        now: f64,
        action: Action,
        result: Result<(), HostError>,
        via: String,
        out: &mut Vec<Effect>,
    ) {
        match result {
            Err(e) => {
                let why = format!(
                    "fencing failed at {action:?}: {}: {} ({via})",
                    e.failure.as_str(),
                    e.detail
                );
                self.fail(now, ItemId::PrimaryStopped, why, out);
            }
            Ok(()) if i + 1 < FENCE.len() => {
                self.phase = Phase::Fencing(i + 1);
                out.push(Effect::Act {
                    action: FENCE[i + 1](Role::Primary),
                    timeout: OBSERVE_TIMEOUT,
                });
            }
            Ok(()) => {
                self.phase = Phase::Stopping;
                out.push(Effect::Act {
                    action: Action::Stop(Role::Primary),
                    timeout: self.plan.stop_timeout,
                });
            }
        }
    }

    /// The stop sent: items 1-2 are judged by the checks, not by the stop's own answer.
    pub(super) fn stopped(
        &mut self,
        now: f64,
        result: Result<(), HostError>,
        via: String,
        out: &mut Vec<Effect>,
    ) {
        match result {
            // A stop that did not finish in time is judged by the checks below.
            Ok(())
            | Err(HostError {
                failure: Failure::TimedOut,
                ..
            }) => {
                self.phase = Phase::VerifyingStop(Verifying::default());
                out.push(Effect::Observe(self.stop_checks()));
            }
            Err(e) => {
                let why = format!(
                    "the stop failed: {}: {} ({via})",
                    e.failure.as_str(),
                    e.detail
                );
                self.fail(now, ItemId::PrimaryStopped, why, out);
            }
        }
    }

    /// The escalation's (SIGKILL's) answer: look again.
    pub(super) fn stop_escalated(
        &mut self,
        result: Result<(), HostError>,
        via: String,
        out: &mut Vec<Effect>,
    ) {
        // The escalation's answer: look again.
        if let Err(e) = result
            && e.failure != Failure::TimedOut
        {
            out.push(self.gate(
                GateId::Stop,
                false,
                format!("SIGKILL through systemd failed: {} ({via})", e.detail),
            ));
        }

        out.push(Effect::Observe(self.stop_checks()));
    }

    /// Items 1-2 at the Start gate: the primary still stopped and fenced, seen again.
    pub(super) fn judge_stop_again(
        &mut self,
        b: &Batch<'_>,
        now: f64,
        alarm: &mut Vec<String>,
        out: &mut Vec<Effect>,
    ) {
        match self.stop_problems(b) {
            Ok((e1, e2)) => {
                self.set_item(ItemId::PrimaryStopped, ItemState::Green, now, e1, out);
                self.set_item(ItemId::PrimaryKilled, ItemState::Green, now, e2, out);
            }
            Err((why, false)) => {
                // Not known just now (the primary does not answer): not green, not an alarm.
                self.set_item(
                    ItemId::PrimaryStopped,
                    ItemState::Red(why.clone()),
                    now,
                    Vec::new(),
                    out,
                );
            }
            Err((why, true)) => alarm.push(format!(
                "the primary is no longer stopped and fenced: {why}"
            )),
        }
    }

    /// The stop checks of items 1-2 on one batch: the evidence of each, or why not
    /// and whether that is an alarm (the primary seen running or unfenced) rather
    /// than not knowing.
    #[allow(clippy::type_complexity)]
    pub(super) fn stop_problems(
        &self,
        b: &Batch<'_>,
    ) -> Result<(Vec<Evidence>, Vec<Evidence>), (String, bool)> {
        let unit = value!(b, Role::Primary, Unit)
            .map_err(|e| (format!("unit state unknown: {e}"), false))?;
        let procs = value!(b, Role::Primary, Processes)
            .map_err(|e| (format!("processes unknown: {e}"), false))?;
        let metrics = value!(b, Role::Primary, Metrics)
            .map_err(|e| (format!("metrics unknown: {e}"), false))?;
        let lock = value!(b, Role::Primary, Lock)
            .map_err(|e| (format!("lock file unknown: {e}"), false))?;
        let (uo, u) = unit;
        if !u.is_stopped() {
            return Err((format!("systemd says {}", u.summary()), true));
        }
        if !u.is_disabled() || !u.drop_in_paths.iter().any(|p| p == &self.plan.fence_dropin) {
            return Err((format!("not fenced: {}", u.summary()), true));
        }
        if lock.1.is_none() {
            return Err(("not fenced: the lock file is missing".into(), true));
        }
        if !procs.1.is_empty() {
            return Err((format!("process still there (PID {:?})", procs.1), true));
        }
        if metrics.1.answering {
            return Err(("the metrics port answers".into(), true));
        }
        Ok((
            vec![
                ev(uo, format!("{}; fence drop-in loaded", u.summary())),
                ev(lock.0, "lock file present".into()),
            ],
            vec![
                ev(procs.0, "no process with the validator's exact name".into()),
                ev(metrics.0, "the metrics port does not answer".into()),
            ],
        ))
    }

    /// Items 1-2: stopped twice, seconds apart; fenced; no process; metrics closed.
    pub(super) fn verify_stop(
        &mut self,
        now: f64,
        obs: &[Observation],
        v: Verifying,
        out: &mut Vec<Effect>,
    ) {
        let b = Batch(obs);
        let unit = value!(b, Role::Primary, Unit);
        let procs = value!(b, Role::Primary, Processes);
        let metrics = value!(b, Role::Primary, Metrics);
        let lock = value!(b, Role::Primary, Lock);
        let mut not_yet = Vec::new();
        let mut stuck = false;
        match &unit {
            Ok((_, u)) if u.is_stopped() => {}
            Ok((_, u)) => {
                stuck = true;
                not_yet.push(format!("systemd says {}", u.summary()));
            }
            Err(e) => not_yet.push(format!("unit state unknown: {e}")),
        }
        match &unit {
            Ok((_, u)) if !u.is_disabled() => {
                not_yet.push(format!("not fenced: unit file state {}", u.unit_file_state))
            }
            Ok((_, u)) if !u.drop_in_paths.iter().any(|p| p == &self.plan.fence_dropin) => not_yet
                .push(format!(
                    "not fenced: systemd does not load {}",
                    self.plan.fence_dropin
                )),
            _ => {}
        }
        match &lock {
            Ok((_, Some(_))) => {}
            Ok((_, None)) => not_yet.push("not fenced: the lock file is missing".into()),
            Err(e) => not_yet.push(format!("lock file unknown: {e}")),
        }
        match &procs {
            Ok((_, p)) if p.is_empty() => {}
            Ok((_, p)) => {
                stuck = true;
                not_yet.push(format!("process still there (PID {p:?})"));
            }
            Err(e) => not_yet.push(format!("processes unknown: {e}")),
        }
        match &metrics {
            Ok((_, m)) if !m.answering => {}
            Ok(_) => {
                stuck = true;
                not_yet.push("the metrics port still answers".into());
            }
            Err(e) => not_yet.push(format!("metrics port unknown: {e}")),
        }

        let why = not_yet.join("; ");
        match v.after(now, not_yet.is_empty(), stuck, self.plan.rule(true, true)) {
            Next::Verified { apart } => {
                let (uo, u) = unit.expect("checked");
                let (lo, _) = lock.expect("checked");
                let (po, _) = procs.expect("checked");
                let (mo, _) = metrics.expect("checked");
                self.set_item(
                    ItemId::PrimaryStopped,
                    ItemState::Green,
                    now,
                    vec![
                        ev(
                            uo,
                            format!(
                                "{} (twice, {:.0}s apart); fence drop-in loaded",
                                u.summary(),
                                apart
                            ),
                        ),
                        ev(lo, "lock file present".into()),
                    ],
                    out,
                );
                self.set_item(
                    ItemId::PrimaryKilled,
                    ItemState::Green,
                    now,
                    vec![
                        ev(po, "no process with the validator's exact name".into()),
                        ev(mo, "the metrics port does not answer".into()),
                    ],
                    out,
                );
                if let Some(clock) = self.chain {
                    let mut g =
                        crate::engine::gate::LivenessGate::new(clock, self.plan.indices.clone());
                    g.path = Some(crate::engine::gate::LivenessPath::VerifiedStop {
                        stop_epoch: clock.epoch_at(now),
                        verified_at: now,
                        last_signed: Default::default(),
                    });
                    self.liveness = Some(g);
                }
                self.set_item(
                    ItemId::SlashingProtectionTransferred,
                    ItemState::Running,
                    now,
                    Vec::new(),
                    out,
                );
                self.phase = Phase::Transferring;
                out.push(Effect::Transfer {
                    from: Source::Live(Role::Primary),
                    to: Role::Backup,
                });
            }
            Next::LookAgainAt(at, v) => {
                self.phase = Phase::VerifyingStop(v);
                out.push(Effect::WaitUntil(at));
            }
            // Not stopped: escalate once, through systemd, then look again a bounded
            // number of times.
            Next::Escalate(v) => {
                out.push(self.gate(
                    GateId::Stop,
                    false,
                    format!("the primary did not stop in time: {why}; escalating to SIGKILL"),
                ));
                self.phase = Phase::VerifyingStop(v);
                out.push(Effect::Act {
                    action: Action::Kill(Role::Primary),
                    timeout: OBSERVE_TIMEOUT,
                });
            }
            Next::GiveUp => {
                let why = format!("the primary is not verified stopped: {why}");
                self.set_item(
                    ItemId::PrimaryKilled,
                    ItemState::Red(why.clone()),
                    now,
                    Vec::new(),
                    out,
                );
                self.fail(now, ItemId::PrimaryStopped, why, out);
            }
        }
    }

    pub(super) fn stop_checks(&self) -> Vec<(Role, Observe)> {
        [
            Observe::Unit,
            Observe::Processes,
            Observe::Metrics,
            Observe::Lock,
        ]
        .into_iter()
        .map(|w| (Role::Primary, w))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::sweep::{P, acted, acts, err, fixture, item, last};
    use super::*;

    #[test]
    fn the_name_typed_journals_the_touch_then_fences_in_order_then_stops() {
        let mut run = fixture("stop asked");
        let from = run.steps.len();
        let out = run
            .send(Event::Confirmed {
                now: run.now + 1.0,
                typed: format!(" {P} "),
            })
            .to_vec();
        let touched = out
            .iter()
            .position(|e| {
                matches!(
                    e,
                    Effect::Record(Record::Milestone {
                        milestone: Milestone::PrimaryTouched
                    })
                )
            })
            .expect("the touch journaled");
        let first = out
            .iter()
            .position(|e| matches!(e, Effect::Act { .. }))
            .expect("the fence begins");
        assert!(touched < first, "journaled before the first step");
        run.until(|p| matches!(p, Phase::VerifyingStop(_)));
        let seen: Vec<Action> = run.steps[from..]
            .iter()
            .flat_map(|s| acts(&s.out))
            .collect();
        let mut want: Vec<Action> = FENCE.iter().map(|a| a(Role::Primary)).collect();
        want.push(Action::Stop(Role::Primary));
        assert_eq!(seen, want);
        assert!(matches!(
            run.steps[run.steps.len() - 2].out.last(),
            Some(Effect::Act { action: Action::Stop(Role::Primary), timeout }) if *timeout == run.m.plan.stop_timeout
        ));
    }

    #[test]
    fn a_wrong_name_touches_nothing_and_asks_again() {
        let mut run = fixture("stop asked");
        let out = run
            .send(Event::Confirmed {
                now: run.now + 1.0,
                typed: "val-b".into(),
            })
            .to_vec();
        assert!(acts(&out).is_empty());
        assert!(run.m.touched_primary.is_none());
        assert_eq!(
            out.last(),
            Some(&Effect::Ask(Confirm::StopPrimary { expect: P.into() }))
        );
    }

    #[test]
    fn a_failed_fence_step_ends_the_run_with_item_1_red_and_nothing_more() {
        let mut run = fixture("fence 3");
        let out = run
            .send(acted(
                run.now + 1.0,
                Action::MaskRuntime(Role::Primary),
                Err(err(Role::Primary, Failure::Refused)),
            ))
            .to_vec();
        assert!(
            acts(&out).is_empty(),
            "no step after a failed fence: {out:?}"
        );
        assert!(
            matches!(item(&run, ItemId::PrimaryStopped), ItemState::Red(why) if why.contains("fencing failed at MaskRuntime"))
        );
        assert!(matches!(
            out.last(),
            Some(Effect::Finished(Outcome::Failed(_)))
        ));
    }

    #[test]
    fn a_stop_that_does_not_stop_is_escalated_once_then_given_up() {
        let mut run = fixture("stopping");
        // The stop's own answer is not believed: the checks judge it.
        run.send(acted(run.now + 1.0, Action::Stop(Role::Primary), Ok(())));
        assert!(matches!(run.m.phase, Phase::VerifyingStop(_)));
        run.world.primary.running = true;
        run.answer();
        assert_eq!(acts(&last(&run)), vec![Action::Kill(Role::Primary)]);
        // The kill does nothing: looks, bounded, then the run ends with items 1-2 red.
        let mut kills = 1;
        for _ in 0..20 {
            if !run.answer() {
                break;
            }
            kills += acts(&last(&run))
                .iter()
                .filter(|a| matches!(a, Action::Kill(_)))
                .count();
            run.world.primary.running = true;
        }
        assert_eq!(kills, 1, "escalated once");
        assert!(matches!(run.m.phase, Phase::Failed(_)), "{:?}", run.m.phase);
        assert!(
            matches!(item(&run, ItemId::PrimaryKilled), ItemState::Red(why) if why.contains("not verified stopped"))
        );
        assert!(run.m.liveness.is_none() || !matches!(run.m.phase, Phase::Transferring));
    }
}
