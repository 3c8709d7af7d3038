//! Executes the engine's effects on the hosts and feeds the results back as events:
//! the only place that awaits I/O for a failover. Everything it observes, does and is
//! told is written to the run's journal before the engine hears of it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::audit::JournalWriter;
use crate::chain::unix_now;
use crate::config::{BeaconFlavour, Config, ExecutionFlavour, Role};
use crate::engine::checklist::Evidence;
use crate::engine::journal::{Record, excerpt};
use crate::engine::machine::{
    Confirm, Effect, Event, Failover, Observation, Observe, Outcome, Transferred, Value,
};
use crate::engine::steps::transfer as xfer;
use crate::engine::steps::{self, Action, Step};
use crate::hosts::sim::SimWorld;
use crate::hosts::{Cmd, HashingWriter, Output};
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

/// The run lock on each host: two engineers cannot fail the same pair over at once.
pub const RUN_LOCK: &str = "/run/validator-failover.lock";

/// Called with every journal entry as it is written (the non-interactive runner
/// prints the checklist from it; the wizard will render it).
pub type Listener = Box<dyn FnMut(&crate::engine::journal::Entry) + Send>;

pub struct Driver {
    /// The hosts whose run lock this run holds.
    locks: Vec<Role>,
    pub listener: Option<Listener>,
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
            locks: Vec::new(),
            listener: None,
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

    pub fn record(&mut self, record: Record) -> std::io::Result<()> {
        let now = self.clock.now();
        let entry = self.journal.append(now, record)?;
        if let Some(l) = &mut self.listener {
            l(&entry);
        }
        Ok(())
    }

    /// A whole run: the run lock on both hosts, the engine from the start, the locks
    /// released at the end (a crash leaves them, naming this run, for the resume).
    pub async fn failover(
        &mut self,
        machine: &mut Failover,
        operator: &str,
        op: &mut dyn Operator,
    ) -> std::io::Result<Ended> {
        if let Err(why) = self.take_run_locks(operator).await? {
            return Ok(Ended::Blocked(why));
        }
        let now = self.clock.now();
        let ended = self.drive(machine, Event::Begin { now }, op).await;
        self.release_run_locks().await?;
        ended
    }

    /// Take the run lock on every host that answers; never take over another run's.
    pub async fn take_run_locks(&mut self, operator: &str) -> std::io::Result<Result<(), String>> {
        let now = self.clock.now();
        let from = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into());
        let content = serde_json::json!({
            "run": self.run_id,
            "operator": operator,
            "from": from,
            "pid": std::process::id(),
            "started": crate::engine::journal::rfc3339(now),
        })
        .to_string();
        let t = self.cfg.ssh.command_timeout;
        for role in Role::BOTH {
            let r = self
                .host(role)
                .create_exclusive(RUN_LOCK, &content, t)
                .await;
            let (status, text) = match &r {
                Ok(true) => (Some(0), "taken".to_string()),
                Ok(false) => (Some(3), "held by another run".to_string()),
                Err(e) => (None, format!("{}: {}", e.failure.as_str(), e.detail)),
            };
            self.record(Record::Command {
                host: role,
                command: format!("create {RUN_LOCK} exclusively"),
                status,
                excerpt: text,
            })?;
            match r {
                Ok(true) => self.locks.push(role),
                Ok(false) => {
                    let holder = self
                        .host(role)
                        .read_file(RUN_LOCK, 4096, t)
                        .await
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_else(|e| format!("(unreadable: {})", e.detail));
                    let stale = stale_hint(&holder, &from);
                    self.release_run_locks().await?;
                    return Ok(Err(format!(
                        "another failover holds the run lock {RUN_LOCK} on the {role}: {holder}{stale}"
                    )));
                }
                // A host that cannot be reached (or trusted) holds no lock of ours;
                // the first gate judges it and says why.
                Err(e)
                    if matches!(
                        e.failure,
                        Failure::Unreachable
                            | Failure::TimedOut
                            | Failure::HostKeyMismatch
                            | Failure::Refused
                    ) => {}
                Err(e) => {
                    self.release_run_locks().await?;
                    return Ok(Err(format!(
                        "the run lock on the {role}: {}: {}",
                        e.failure.as_str(),
                        e.detail
                    )));
                }
            }
        }
        Ok(Ok(()))
    }

    /// Release the run locks this run holds (only if they still name this run).
    pub async fn release_run_locks(&mut self) -> std::io::Result<()> {
        let t = self.cfg.ssh.command_timeout;
        for role in std::mem::take(&mut self.locks) {
            let ours = match self.host(role).read_file(RUN_LOCK, 4096, t).await {
                Ok(b) => {
                    String::from_utf8_lossy(&b).contains(&format!("\"run\":\"{}\"", self.run_id))
                }
                Err(_) => false,
            };
            if ours {
                let cmd = Cmd::new("rm").arg("-f").arg("--").arg(RUN_LOCK);
                let r = self.host(role).run(&cmd, t).await;
                self.record(Record::Command {
                    host: role,
                    command: cmd.display(),
                    status: r.as_ref().ok().and_then(|o| o.status),
                    excerpt: String::new(),
                })?;
            }
        }
        Ok(())
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
                    Effect::Transfer => {
                        let (result, evidence) = self.transfer_archive().await?;
                        next = Some(Event::Transferred {
                            now: self.clock.now(),
                            result,
                            evidence,
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
            Observe::Liveness(epoch) => pack(
                probes::liveness(host, &cfg.beacon.endpoint, flavour, epoch, &v.indices, t).await,
                Value::Liveness,
            ),
            Observe::JournalSince(since) => pack(
                probes::journal_since(host, &v.service, since, t).await,
                Value::Journal,
            ),
            Observe::SlashingPool => pack(
                probes::slashings_of(host, &cfg.beacon.endpoint, flavour, &v.indices, t).await,
                Value::SlashingPool,
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

/// How long one step of the transfer may take (archiving or moving a history of
/// gigabytes takes a while).
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(1800);

/// A transfer step that failed: why, for item 3.
type StepResult<T> = Result<T, String>;

impl Driver {
    /// Run a command that is part of a step, journaled; a non-zero exit is an error.
    async fn remote(
        &mut self,
        role: Role,
        cmd: Cmd,
        timeout: Duration,
    ) -> std::io::Result<StepResult<Output>> {
        let via = cmd.display();
        let r = self.host(role).run(&cmd, timeout).await;
        let (status, text) = match &r {
            Ok(o) => (o.status, format!("{}{}", o.stdout_text(), o.stderr_text())),
            Err(e) => (None, format!("{}: {}", e.failure.as_str(), e.detail)),
        };
        self.record(Record::Command {
            host: role,
            command: via.clone(),
            status,
            excerpt: excerpt(&text),
        })?;
        Ok(match r {
            Ok(o) if o.success() => Ok(o),
            Ok(o) => Err(format!(
                "{role}: `{via}` exited {}: {}",
                status.map(|s| s.to_string()).unwrap_or("?".into()),
                o.stderr_text()
            )),
            Err(e) => Err(format!(
                "{role}: `{via}`: {}: {}",
                e.failure.as_str(),
                e.detail
            )),
        })
    }

    /// The sha256 of remote files, in the order asked.
    async fn remote_sha256(
        &mut self,
        role: Role,
        paths: &[String],
    ) -> std::io::Result<StepResult<Vec<(String, String)>>> {
        Ok(
            match self
                .remote(role, xfer::sha256(paths), TRANSFER_TIMEOUT)
                .await?
            {
                Ok(o) => {
                    let v = xfer::parse_sha256(&o.stdout_text());
                    if v.len() == paths.len() {
                        Ok(v)
                    } else {
                        Err(format!(
                            "{role}: sha256sum answered for {} of {} files",
                            v.len(),
                            paths.len()
                        ))
                    }
                }
                Err(e) => Err(e),
            },
        )
    }

    /// Item 3 by the runbook's archive: made on the primary after the stop, streamed
    /// here (a copy kept beside the journal), validated, streamed to the backup,
    /// sha256 compared on both ends, extracted beside the old history, owned,
    /// synced, swapped in by rename with the old copy set aside, verified.
    pub async fn transfer_archive(
        &mut self,
    ) -> std::io::Result<(StepResult<Transferred>, Vec<Evidence>)> {
        let mut evidence = Vec::new();
        let mut temps: Vec<(Role, String)> = Vec::new();
        let r = self.transfer_steps(&mut evidence, &mut temps).await?;
        for (role, dir) in temps {
            if let Some(cmd) = xfer::remove_temp(&dir) {
                // Best effort: a leftover temporary directory is harmless, and journaled.
                let _ = self.remote(role, cmd, self.cfg.ssh.command_timeout).await?;
            }
        }
        Ok((r, evidence))
    }

    async fn transfer_steps(
        &mut self,
        evidence: &mut Vec<Evidence>,
        temps: &mut Vec<(Role, String)>,
    ) -> std::io::Result<StepResult<Transferred>> {
        macro_rules! step {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(why) => return Ok(Err(why)),
                }
            };
        }
        let v = self.cfg.validator.clone();
        let t = self.cfg.ssh.command_timeout;
        let name = v.slashing_protection.clone();
        let target = v.slashing_protection_dir();

        // On the primary, after the stop: the archive, in a private directory.
        let tmp_p = step!(
            self.remote(Role::Primary, xfer::mktemp_dir("/tmp"), t)
                .await?
        )
        .stdout_text()
        .trim()
        .to_string();
        temps.push((Role::Primary, tmp_p.clone()));
        let archive_p = format!("{tmp_p}/{name}.tar.gz");
        let make = xfer::tar_create(&archive_p, &v.data_dir, &name);
        let make_via = make.display();
        step!(self.remote(Role::Primary, make, TRANSFER_TIMEOUT).await?);
        let sha_p = step!(
            self.remote_sha256(Role::Primary, std::slice::from_ref(&archive_p))
                .await?
        )[0]
        .0
        .clone();

        // Here: a copy beside the journal, hashed on the way in.
        let local = self
            .journal
            .dir()
            .join(format!("{name}-{}.tar.gz", self.run_id));
        let file = match tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&local)
            .await
        {
            Ok(f) => f,
            Err(e) => return Ok(Err(format!("cannot create {}: {e}", local.display()))),
        };
        let mut sink = HashingWriter::new(file);
        let got = self
            .primary
            .download(&archive_p, &mut sink, TRANSFER_TIMEOUT)
            .await;
        let (sha_l, bytes) = sink.finish();
        self.record(Record::Command {
            host: Role::Primary,
            command: format!("cat -- {archive_p} > {}", local.display()),
            status: got.as_ref().ok().map(|_| 0),
            excerpt: match &got {
                Ok(n) => format!("{n} bytes, sha256 {sha_l}"),
                Err(e) => format!("{}: {}", e.failure.as_str(), e.detail),
            },
        })?;
        if let Err(e) = got {
            return Ok(Err(format!(
                "downloading the archive from the primary: {}: {}",
                e.failure.as_str(),
                e.detail
            )));
        }
        if sha_l != sha_p {
            return Ok(Err(format!(
                "the archive changed on the way: sha256 {sha_p} on the primary, {sha_l} here"
            )));
        }
        evidence.push(Evidence {
            host: Some(Role::Primary),
            at: self.clock.now(),
            via: make_via,
            observed: format!("archive of {bytes} bytes, sha256 {sha_p}, made after the stop"),
        });

        // Validate before anything reaches the backup.
        let path = local.clone();
        let top = name.clone();
        let report = tokio::task::spawn_blocking(move || {
            let f = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            crate::archive::validate(
                std::io::BufReader::new(f),
                &top,
                crate::archive::Limits::default(),
            )
            .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("validation crashed: {e}")));
        self.record(Record::Probe {
            host: None,
            via: format!("validate {}", local.display()),
            ok: report.is_ok(),
            observed: match &report {
                Ok(r) => r.summary(),
                Err(e) => e.clone(),
            },
        })?;
        let report = match report {
            Ok(r) => r,
            Err(e) => {
                return Ok(Err(format!(
                    "the primary's archive was {e}; nothing on the backup was changed"
                )));
            }
        };
        evidence.push(Evidence {
            host: None,
            at: self.clock.now(),
            via: format!("validate {}", local.display()),
            observed: report.summary(),
        });

        // To the backup, beside the history it replaces (same filesystem).
        let tmp_b = step!(
            self.remote(Role::Backup, xfer::mktemp_dir(&v.data_dir), t)
                .await?
        )
        .stdout_text()
        .trim()
        .to_string();
        temps.push((Role::Backup, tmp_b.clone()));
        let archive_b = format!("{tmp_b}/{name}.tar.gz");
        let mut src = match tokio::fs::File::open(&local).await {
            Ok(f) => f,
            Err(e) => return Ok(Err(format!("{}: {e}", local.display()))),
        };
        let sent = self
            .backup
            .upload(&archive_b, &mut src, 0o600, TRANSFER_TIMEOUT)
            .await;
        self.record(Record::Command {
            host: Role::Backup,
            command: format!("cat > {archive_b} < {}", local.display()),
            status: sent.as_ref().ok().map(|_| 0),
            excerpt: match &sent {
                Ok(n) => format!("{n} bytes"),
                Err(e) => format!("{}: {}", e.failure.as_str(), e.detail),
            },
        })?;
        if let Err(e) = sent {
            return Ok(Err(format!(
                "uploading the archive to the backup: {}: {}",
                e.failure.as_str(),
                e.detail
            )));
        }
        let sha_b = step!(
            self.remote_sha256(Role::Backup, std::slice::from_ref(&archive_b))
                .await?
        )[0]
        .0
        .clone();
        if sha_b != sha_l {
            return Ok(Err(format!(
                "the archive changed on the way to the backup: sha256 {sha_l} here, {sha_b} there"
            )));
        }
        evidence.push(Evidence {
            host: Some(Role::Backup),
            at: self.clock.now(),
            via: format!("sha256sum -- {archive_b}"),
            observed: format!("sha256 {sha_b}: equal on the primary, here and on the backup"),
        });

        // Extract to staging, own, flush.
        let staging = format!("{tmp_b}/staging");
        step!(self.remote(Role::Backup, xfer::mkdir(&staging), t).await?);
        step!(
            self.remote(
                Role::Backup,
                xfer::tar_extract(&archive_b, &staging),
                TRANSFER_TIMEOUT
            )
            .await?
        );
        let staged = format!("{staging}/{name}");
        step!(
            self.remote(
                Role::Backup,
                xfer::chown_r(&v.owner, &staged),
                TRANSFER_TIMEOUT
            )
            .await?
        );
        step!(
            self.remote(Role::Backup, xfer::sync_fs(&staged), TRANSFER_TIMEOUT)
                .await?
        );

        // Swap: the old history set aside (never deleted), the new one renamed in.
        let old = match probes::stat(self.backup.as_ref(), &target, t).await {
            Ok(o) => o.value,
            Err(e) => {
                return Ok(Err(format!(
                    "backup: cannot look at {target}: {}",
                    e.detail
                )));
            }
        };
        let mut set_aside = None;
        if old.is_some() {
            let stamp = jiff::Timestamp::from_second(self.clock.now() as i64)
                .map(|ts| ts.strftime("%Y%m%dT%H%M%SZ").to_string())
                .unwrap_or_default();
            let aside = format!("{target}.old-{stamp}");
            step!(
                self.remote(Role::Backup, xfer::rename(&target, &aside), t)
                    .await?
            );
            set_aside = Some(aside);
        }
        if let Err(why) = self
            .remote(Role::Backup, xfer::rename(&staged, &target), t)
            .await?
        {
            // Put the old history back where it was rather than leave none.
            if let Some(aside) = &set_aside {
                let _ = self
                    .remote(Role::Backup, xfer::rename(aside, &target), t)
                    .await?;
            }
            return Ok(Err(why));
        }
        step!(
            self.remote(Role::Backup, xfer::sync_fs(&target), TRANSFER_TIMEOUT)
                .await?
        );
        evidence.push(Evidence {
            host: Some(Role::Backup),
            at: self.clock.now(),
            via: format!("mv -T -- {staged} {target}"),
            observed: match &set_aside {
                Some(a) => format!("in place; the previous history set aside at {a}"),
                None => "in place; there was no previous history".into(),
            },
        });

        // Verify what is in place: every file's sha256 and owner.
        let paths: Vec<String> = report
            .files
            .iter()
            .map(|f| format!("{}/{}", v.data_dir.trim_end_matches('/'), f.path))
            .collect();
        let sums = step!(self.remote_sha256(Role::Backup, &paths).await?);
        for (f, (sum, p)) in report.files.iter().zip(sums.iter()) {
            if &f.sha256 != sum {
                return Ok(Err(format!(
                    "{p} on the backup differs from the archive (sha256 {sum}, expected {})",
                    f.sha256
                )));
            }
        }
        let (user, group) = v.owner.split_once(':').unwrap_or((&v.owner, &v.owner));
        for p in std::iter::once(&target).chain(paths.iter()) {
            match probes::stat(self.backup.as_ref(), p, t).await {
                Ok(o) => match o.value {
                    Some(fi) if fi.user == user && fi.group == group => {}
                    Some(fi) => {
                        return Ok(Err(format!(
                            "{p} on the backup is owned by {}:{}, not {}",
                            fi.user, fi.group, v.owner
                        )));
                    }
                    None => return Ok(Err(format!("{p} is missing on the backup after the swap"))),
                },
                Err(e) => return Ok(Err(format!("backup: {p}: {}", e.detail))),
            }
        }
        evidence.push(Evidence {
            host: Some(Role::Backup),
            at: self.clock.now(),
            via: format!("sha256sum -- {target}/…; stat"),
            observed: format!(
                "{} file(s) equal to the archive, owned by {}",
                paths.len(),
                v.owner
            ),
        });
        Ok(Ok(Transferred {
            archive_sha256: sha_l,
            bytes,
            files: report.files,
            set_aside,
            local_copy: local.display().to_string(),
        }))
    }
}

/// Say so when a lock names this machine and a process that no longer runs here.
fn stale_hint(holder: &str, here: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(holder).unwrap_or_default();
    let pid = v.get("pid").and_then(serde_json::Value::as_u64);
    if v.get("from").and_then(serde_json::Value::as_str) == Some(here)
        && let Some(pid) = pid
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
    {
        return format!(
            " (stale: process {pid} no longer runs on this machine; check both hosts, then remove {RUN_LOCK} on each by hand)"
        );
    }
    String::new()
}

fn summarize(v: &Value) -> String {
    match v {
        Value::Liveness(l) => format!(
            "live: {:?}",
            l.iter()
                .filter(|(_, v)| *v)
                .map(|(k, _)| *k)
                .collect::<Vec<_>>()
        ),
        Value::Journal(lines) => format!("{} line(s)", lines.len()),
        Value::SlashingPool(ours) => format!("our indices in the pool: {ours:?}"),
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
