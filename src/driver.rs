//! Executes the engine's effects on the hosts and feeds the results back as events:
//! the only place that awaits I/O for a failover. Everything it observes, does and is
//! told is written to the run's journal before the engine hears of it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::audit::JournalWriter;
use crate::chain::unix_now;
use crate::config::{BeaconFlavour, Config, ExecutionFlavour, Role};
use crate::engine::journal::{Record, excerpt};
use crate::engine::machine::{
    Confirm, Effect, Event, Failover, Observation, Observe, Outcome, Value,
};
use crate::engine::steps::{self, Action, Step};
use crate::hosts::sim::SimWorld;
use crate::hosts::{Failure, Host, HostError, HostExt};
use crate::probes;

/// Where the driver's time comes from: the wall clock, or a simulated world's.
#[async_trait]
pub trait Clock: Send + Sync {
    fn now(&self) -> f64;
    async fn sleep_until(&self, t: f64);
}

pub struct RealClock;

#[async_trait]
impl Clock for RealClock {
    fn now(&self) -> f64 {
        unix_now()
    }
    async fn sleep_until(&self, t: f64) {
        let d = t - unix_now();
        if d > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(d)).await;
        }
    }
}

#[async_trait]
impl Clock for SimWorld {
    fn now(&self) -> f64 {
        SimWorld::now(self)
    }
    async fn sleep_until(&self, t: f64) {
        let d = t - SimWorld::now(self);
        if d > 0.0 {
            self.advance(d).await;
        }
    }
}

/// The operator's answer to a confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Typed(String),
    Rollback,
}

/// Whoever answers the engine's questions: the wizard, or the non-interactive runner.
#[async_trait]
pub trait Operator: Send {
    async fn confirm(&mut self, question: &Confirm) -> Answer;
}

/// How a drive ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Stopped by a safety gate before anything was touched.
    Blocked(String),
    Finished(Outcome),
}

pub struct Driver {
    pub cfg: Config,
    pub run_id: String,
    primary: Arc<dyn Host>,
    backup: Arc<dyn Host>,
    clock: Arc<dyn Clock>,
    pub journal: JournalWriter,
    beacon_flavour: [Option<BeaconFlavour>; 2],
    execution_flavour: [Option<ExecutionFlavour>; 2],
}

fn slot(role: Role) -> usize {
    match role {
        Role::Primary => 0,
        Role::Backup => 1,
    }
}

impl Driver {
    pub fn new(
        cfg: Config,
        run_id: String,
        primary: Arc<dyn Host>,
        backup: Arc<dyn Host>,
        clock: Arc<dyn Clock>,
        journal: JournalWriter,
    ) -> Driver {
        Driver {
            beacon_flavour: [cfg.beacon.api; 2],
            execution_flavour: [cfg.execution.api; 2],
            cfg,
            run_id,
            primary,
            backup,
            clock,
            journal,
        }
    }

    fn host(&self, role: Role) -> &dyn Host {
        match role {
            Role::Primary => self.primary.as_ref(),
            Role::Backup => self.backup.as_ref(),
        }
    }

    fn record(&mut self, record: Record) -> std::io::Result<()> {
        let now = self.clock.now();
        self.journal.append(now, record).map(|_| ())
    }

    /// Feed `first` to the machine, then execute what it asks until it finishes.
    pub async fn drive(
        &mut self,
        machine: &mut Failover,
        first: Event,
        op: &mut dyn Operator,
    ) -> std::io::Result<Ended> {
        let mut effects = machine.handle(first);
        loop {
            let mut next = None;
            for effect in effects {
                match effect {
                    Effect::Record(r) => self.record(r)?,
                    Effect::Observe(list) => {
                        let observations = self.observe(&list).await;
                        for o in &observations {
                            let (ok, observed) = match &o.value {
                                Ok(v) => (true, summarize(v)),
                                Err(e) => (false, format!("{}: {}", e.failure.as_str(), e.detail)),
                            };
                            self.record(Record::Probe {
                                host: Some(o.host),
                                via: o.via.clone(),
                                ok,
                                observed,
                            })?;
                        }
                        next = Some(Event::Observed {
                            now: self.clock.now(),
                            observations,
                        });
                    }
                    Effect::Act { action, timeout } => {
                        let (via, result, status, text) = self.act(action, timeout).await;
                        self.record(Record::Command {
                            host: action.host(),
                            command: via.clone(),
                            status,
                            excerpt: excerpt(&text),
                        })?;
                        next = Some(Event::Acted {
                            now: self.clock.now(),
                            action,
                            via,
                            result,
                        });
                    }
                    Effect::Ask(question) => {
                        next = Some(match op.confirm(&question).await {
                            Answer::Typed(typed) => Event::Confirmed {
                                now: self.clock.now(),
                                typed,
                            },
                            Answer::Rollback => Event::Rollback {
                                now: self.clock.now(),
                            },
                        });
                    }
                    Effect::WaitUntil(t) => {
                        self.clock.sleep_until(t).await;
                        next = Some(Event::Tick {
                            now: self.clock.now(),
                        });
                    }
                    Effect::Blocked(why) => return Ok(Ended::Blocked(why)),
                    Effect::Finished(o) => return Ok(Ended::Finished(o)),
                }
            }
            match next {
                Some(e) => effects = machine.handle(e),
                None => {
                    return Ok(Ended::Finished(Outcome::Failed(
                        "the engine asked for nothing more without finishing".into(),
                    )));
                }
            }
        }
    }

    /// Run one action; (what was sent, result, exit status, output).
    async fn act(
        &self,
        action: Action,
        timeout: f64,
    ) -> (String, Result<(), HostError>, Option<i32>, String) {
        let host = self.host(action.host());
        let t = Duration::from_secs_f64(timeout);
        match steps::step(&self.cfg, &self.run_id, action) {
            Step::Run(cmd) => {
                let via = cmd.display();
                match host.run(&cmd, t).await {
                    Ok(o) if o.success() => (
                        via,
                        Ok(()),
                        o.status,
                        format!("{}{}", o.stdout_text(), o.stderr_text()),
                    ),
                    Ok(o) => {
                        let text = format!("{}{}", o.stdout_text(), o.stderr_text());
                        let e = HostError::new(
                            action.host(),
                            Failure::Unexpected,
                            &via,
                            format!(
                                "exit {}: {}",
                                o.status.map(|s| s.to_string()).unwrap_or("?".into()),
                                o.stderr_text()
                            ),
                        );
                        (via, Err(e), o.status, text)
                    }
                    Err(e) => {
                        let text = e.detail.clone();
                        (via, Err(e), None, text)
                    }
                }
            }
            Step::WriteFile {
                path,
                content,
                mode,
            } => {
                let via = format!("write {path} (mode {mode:o}, {} bytes)", content.len());
                match host.write_file(&path, &content, mode, t).await {
                    Ok(()) => (via, Ok(()), Some(0), String::new()),
                    Err(e) => {
                        let text = e.detail.clone();
                        (via, Err(e), None, text)
                    }
                }
            }
        }
    }

    /// Make the observations asked for, all at once.
    async fn observe(&mut self, list: &[(Role, Observe)]) -> Vec<Observation> {
        // Flavours are learnt once per host and then kept (or pinned by the config).
        for role in Role::BOTH {
            if list
                .iter()
                .any(|(r, w)| *r == role && matches!(w, Observe::Beacon | Observe::Chain))
                && self.beacon_flavour[slot(role)].is_none()
                && let Ok(f) = probes::beacon_flavour(
                    self.host(role),
                    &self.cfg.beacon.endpoint,
                    None,
                    self.cfg.ssh.command_timeout,
                )
                .await
            {
                self.beacon_flavour[slot(role)] = Some(f.value);
            }
        }
        let this = &*self;
        let futs = list
            .iter()
            .map(|(role, what)| this.observe_one(*role, *what));
        futures::future::join_all(futs).await
    }

    async fn observe_one(&self, role: Role, what: Observe) -> Observation {
        let host = self.host(role);
        let cfg = &self.cfg;
        let t = cfg.ssh.command_timeout;
        let v = &cfg.validator;
        let flavour = self.beacon_flavour[slot(role)].unwrap_or(BeaconFlavour::Zond);
        fn pack<T>(
            r: probes::Probe<T>,
            f: impl FnOnce(T) -> Value,
        ) -> (String, f64, Result<Value, HostError>) {
            match r {
                Ok(o) => (o.via, o.at, Ok(f(o.value))),
                Err(e) => (e.what.clone(), unix_now(), Err(e)),
            }
        }
        let (via, _probe_at, value) = match what {
            Observe::Unit => pack(probes::unit_state(host, &v.service, t).await, Value::Unit),
            Observe::Processes => pack(
                probes::processes(host, &v.process_name, t).await,
                Value::Processes,
            ),
            Observe::Metrics => pack(probes::metrics(host, &cfg.metrics, t).await, Value::Metrics),
            Observe::Lock => pack(probes::lock_file(host, &v.lock_file, t).await, Value::Lock),
            Observe::History => pack(
                probes::slashing_history(host, &v.slashing_protection_dir(), t).await,
                Value::History,
            ),
            Observe::Beacon => pack(
                probes::beacon_sync(host, &cfg.beacon.endpoint, flavour, t).await,
                Value::Beacon,
            ),
            Observe::Execution => pack(
                probes::execution_sync(
                    host,
                    &cfg.execution.endpoint,
                    self.execution_flavour[slot(role)],
                    t,
                )
                .await,
                Value::Execution,
            ),
            Observe::Chain => pack(
                probes::chain_info(host, &cfg.beacon.endpoint, flavour, t).await,
                Value::Chain,
            ),
            Observe::Space => {
                let cmd = steps::free_space(&v.data_dir);
                let via = cmd.display();
                let r = match host.run(&cmd, t).await {
                    Ok(o) if o.success() => o
                        .stdout_text()
                        .lines()
                        .nth(1)
                        .and_then(|l| l.trim().parse::<u64>().ok())
                        .map(Value::Space)
                        .ok_or_else(|| {
                            HostError::new(
                                role,
                                Failure::Unexpected,
                                &via,
                                format!("not a df answer: {:?}", o.stdout_text()),
                            )
                        }),
                    Ok(o) => Err(HostError::new(
                        role,
                        Failure::Unexpected,
                        &via,
                        o.stderr_text(),
                    )),
                    Err(e) => Err(e),
                };
                (via, unix_now(), r)
            }
        };
        Observation {
            host: role,
            what,
            // The driver's clock, not the probe's: with a simulated world they differ.
            at: self.clock.now(),
            via,
            value,
        }
    }
}

fn summarize(v: &Value) -> String {
    match v {
        Value::Unit(u) => u.summary(),
        Value::Processes(p) if p.is_empty() => "no process".into(),
        Value::Processes(p) => format!("PID {p:?}"),
        Value::Metrics(m) => {
            if m.answering {
                format!("answers ({} keys)", m.keys)
            } else {
                "does not answer".into()
            }
        }
        Value::Lock(Some(f)) => format!("present ({}:{} {:o})", f.user, f.group, f.mode),
        Value::Lock(None) => "absent".into(),
        Value::History(h) => h.summary(),
        Value::Beacon(b) => b.summary(),
        Value::Execution(e) => e.summary(),
        Value::Chain(c) => format!(
            "epoch {} head slot {}",
            c.clock.epoch_of_slot(c.head_slot),
            c.head_slot
        ),
        Value::Space(n) => format!("{} free", probes::human_bytes(*n)),
    }
}
