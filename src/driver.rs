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
use crate::engine::journal::{GateId, Record, excerpt};
use crate::engine::machine::{
    ArchiveAt, Confirm, Effect, Event, Failover, Observation, Observe, Outcome, Request, Source,
    Transferred, Value,
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
    /// No: do not go on (automation not allowed to answer this question).
    Decline,
    /// A rollback or the emergency stop-all, with its confirmation, instead of an
    /// answer (the engine journals and judges the confirmation).
    Request(Request),
}

/// What the operator can send at any moment, not only when asked: checked between
/// steps, during waits and while a question is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interrupt {
    /// A rollback or the emergency stop-all, with its confirmation.
    Request(Request),
    /// The typed statement that the primary is fenced out of band.
    FencedOutOfBand(String),
    /// An incident note (runbook "Post-Failover Actions"): journaled at once, not a
    /// matter for the engine.
    Note {
        field: crate::engine::ids::NoteField,
        text: String,
    },
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

pub use crate::engine::steps::RUN_LOCK;

/// Called with every journal entry as it is written (the non-interactive runner
/// prints the checklist from it; the wizard will render it).
pub type Listener = Box<dyn FnMut(&crate::engine::journal::Entry) + Send + Sync>;

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
    /// Each host's history as last read, so that an unchanged file is not streamed
    /// here again at every look.
    history_seen: std::sync::Mutex<[Option<probes::HistoryState>; 2]>,
    /// The operator's interrupts (the wizard's rollback and stop-all keys).
    pub interrupts: Option<tokio::sync::mpsc::UnboundedReceiver<Interrupt>>,
    /// Tells people (`[notify]`) what the journal entries mean; never waited for.
    pub notifier: crate::notify::Notifier,
    /// The emergency stop-all: it goes on when another run holds the pair's run lock.
    pub precedence: bool,
    /// Where a stream of the history reports how far it has come (the runner's bar,
    /// the wizard's step).
    pub progress: Option<crate::progress::Report>,
    /// Item 10, judged from every entry written (`engine::incident`).
    incident: crate::engine::incident::Incident,
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
            interrupts: None,
            notifier: Default::default(),
            precedence: false,
            progress: None,
            incident: Default::default(),
            beacon_flavour: [cfg.beacon.api; 2],
            execution_flavour: [cfg.execution.api; 2],
            history_seen: std::sync::Mutex::new([None, None]),
            cfg,
            run_id,
            primary,
            backup,
            clock,
            journal,
        }
    }

    fn host_arc(&self, role: Role) -> Arc<dyn Host> {
        match role {
            Role::Primary => self.primary.clone(),
            Role::Backup => self.backup.clone(),
        }
    }

    /// An interrupt waiting for the engine, if any (notes are journaled on the way).
    fn pending_interrupt(&mut self) -> std::io::Result<Option<Event>> {
        loop {
            let Some(i) = self.interrupts.as_mut().and_then(|rx| rx.try_recv().ok()) else {
                return Ok(None);
            };
            if let Some(e) = self.interrupt_event(i)? {
                return Ok(Some(e));
            }
        }
    }

    /// The engine's event for an interrupt; None for a note, which is journaled here.
    fn interrupt_event(&mut self, i: Interrupt) -> std::io::Result<Option<Event>> {
        if let Some(event) = event_of(&i, self.clock.now()) {
            return Ok(Some(event));
        }
        if let Interrupt::Note { field, text } = i {
            self.record(Record::Note { field, text })?;
        }
        Ok(None)
    }

    /// The next interrupt; pending for ever when there is no channel.
    async fn next_interrupt(
        rx: &mut Option<tokio::sync::mpsc::UnboundedReceiver<Interrupt>>,
    ) -> Interrupt {
        match rx {
            Some(rx) => match rx.recv().await {
                Some(i) => i,
                None => std::future::pending().await,
            },
            None => std::future::pending().await,
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
        // What the notifier's sends said meanwhile is journaled too.
        for report in self.notifier.told(&entry) {
            self.record(report)?;
        }
        // Item 10, as the engine's judgement of the journal makes it.
        if let Some(item) = self.incident.take(&entry) {
            self.record(item)?;
        }
        Ok(())
    }

    /// The run's entries written before this driver (its start, or a resumed run's
    /// whole journal): taken in for item 10, nothing written.
    pub fn seen(&mut self, entries: &[crate::engine::journal::Entry]) {
        self.incident = crate::engine::incident::Incident::of(entries);
    }

    /// A whole run: the run lock on both hosts, the engine from the start, the locks
    /// released at the end (a crash leaves them, naming this run, for the resume).
    pub async fn failover(
        &mut self,
        machine: &mut Failover,
        operator: &str,
        op: &mut dyn Operator,
    ) -> std::io::Result<Ended> {
        let now = self.clock.now();
        self.run(machine, operator, op, Event::Begin { now }).await
    }

    /// A whole run that starts with `first` (a failover, or the rollback command).
    pub async fn run(
        &mut self,
        machine: &mut Failover,
        operator: &str,
        op: &mut dyn Operator,
        first: Event,
    ) -> std::io::Result<Ended> {
        if let Err(why) = self.take_run_locks(operator).await? {
            return Ok(Ended::Blocked(why));
        }
        let ended = self.drive(machine, first, op).await;
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
        // Both at once: a host that does not answer costs its connect timeout beside
        // the other's lock, never before it.
        let (p, b) = tokio::join!(
            self.host(Role::Primary)
                .create_exclusive(RUN_LOCK, &content, t),
            self.host(Role::Backup)
                .create_exclusive(RUN_LOCK, &content, t),
        );
        for (role, r) in [(Role::Primary, p), (Role::Backup, b)] {
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
                    // This very run, resumed: its own lock, left by a process of this
                    // machine that no longer runs, is taken over (and journaled).
                    let v: serde_json::Value = serde_json::from_str(&holder).unwrap_or_default();
                    let pid = v.get("pid").and_then(serde_json::Value::as_u64);
                    if v.get("run").and_then(serde_json::Value::as_str) == Some(&self.run_id)
                        && (!stale.is_empty() || pid == Some(std::process::id() as u64))
                    {
                        let w = self
                            .host(role)
                            .write_file(RUN_LOCK, content.as_bytes(), 0o644, t)
                            .await;
                        self.record(Record::Command {
                            host: role,
                            command: format!(
                                "write {RUN_LOCK} (taking over this run's own lock{stale})"
                            ),
                            status: w.as_ref().ok().map(|_| 0),
                            excerpt: match &w {
                                Ok(()) => "taken over".into(),
                                Err(e) => format!("{}: {}", e.failure.as_str(), e.detail),
                            },
                        })?;
                        if w.is_ok() {
                            self.locks.push(role);
                            continue;
                        }
                    }
                    if self.precedence {
                        // The emergency stop-all goes first: the other run finds the
                        // fence at its next look and ends.
                        self.record(Record::Gate {
                            gate: GateId::StopAll,
                            open: true,
                            why: format!(
                                "another run holds the run lock {RUN_LOCK} on the {role} ({holder}): the stop-all goes first; that run finds the fence and ends"
                            ),
                            waits: Vec::new(),
                        })?;
                        continue;
                    }
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
            // An interrupt waiting goes first, if the machine acts on it: then only
            // the journal records of what it asked before are kept.
            if let Some(event) = self.pending_interrupt()? {
                let answer = machine.handle(event);
                if actionable(&answer) {
                    for effect in std::mem::replace(&mut effects, answer) {
                        if let Effect::Record(r) = effect {
                            self.record(r)?;
                        }
                    }
                    continue;
                }
                self.record_all(answer)?;
            }
            let mut next: Option<Event> = None;
            let mut instead: Option<Vec<Effect>> = None;
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
                    Effect::Ask(question) => loop {
                        let mut rx = self.interrupts.take();
                        let answer = tokio::select! {
                            a = op.confirm(&question) => Ok(a),
                            i = Self::next_interrupt(&mut rx) => Err(i),
                        };
                        self.interrupts = rx;
                        let now = self.clock.now();
                        match answer {
                            Ok(a) => {
                                next = Some(match a {
                                    Answer::Typed(typed) => Event::Confirmed { now, typed },
                                    Answer::Decline => Event::Declined { now },
                                    Answer::Request(request) => Event::Requested { now, request },
                                });
                                break;
                            }
                            Err(i) => {
                                let Some(event) = self.interrupt_event(i)? else {
                                    continue;
                                };
                                let answer = machine.handle(event);
                                if actionable(&answer) {
                                    instead = Some(answer);
                                    break;
                                }
                                // Not for now: recorded, and the question stays open.
                                self.record_all(answer)?;
                            }
                        }
                    },
                    Effect::WaitUntil(t) => loop {
                        let mut rx = self.interrupts.take();
                        let woken = tokio::select! {
                            _ = self.clock.sleep_until(t) => None,
                            i = Self::next_interrupt(&mut rx) => Some(i),
                        };
                        self.interrupts = rx;
                        match woken {
                            None => {
                                next = Some(Event::Tick {
                                    now: self.clock.now(),
                                });
                                break;
                            }
                            Some(i) => {
                                let Some(event) = self.interrupt_event(i)? else {
                                    continue;
                                };
                                let answer = machine.handle(event);
                                if actionable(&answer) {
                                    instead = Some(answer);
                                    break;
                                }
                                self.record_all(answer)?;
                            }
                        }
                    },
                    Effect::Transfer { from, to } => {
                        // The backup's readiness (items 4-5) is watched while the
                        // history moves; the Start gate re-probes it anyway. An
                        // interrupt the machine acts on now (stop-all, rollback) cuts
                        // the transfer short: it never waits for the history to move.
                        let what = match &from {
                            Source::Live(r) => format!("{r}'s history to the {to}"),
                            other => format!("{} to the {to}", other.place()),
                        };
                        let mut rx = self.interrupts.take();
                        let mut later: Vec<Interrupt> = Vec::new();
                        let mut kept: Vec<Effect> = Vec::new();
                        let clock = self.clock.clone();
                        let finished = {
                            let done = tokio::sync::watch::channel(false);
                            let watch = watch_readiness(
                                self.backup.clone(),
                                self.cfg.clone(),
                                self.beacon_flavour[slot(Role::Backup)]
                                    .unwrap_or(BeaconFlavour::Zond),
                                self.execution_flavour[slot(Role::Backup)],
                                done.1,
                            );
                            let transfer = async {
                                let r = self.transfer_archive(from, to).await;
                                let _ = done.0.send(true);
                                r
                            };
                            let both = async { tokio::join!(transfer, watch) };
                            tokio::pin!(both);
                            loop {
                                tokio::select! {
                                    r = &mut both => break Ok(r),
                                    i = Self::next_interrupt(&mut rx) => {
                                        let now = clock.now();
                                        let Some(event) = event_of(&i, now) else {
                                            later.push(i);
                                            continue;
                                        };
                                        let answer = machine.handle(event);
                                        if actionable(&answer) {
                                            break Err((i, answer));
                                        }
                                        kept.extend(answer);
                                    }
                                }
                            }
                        };
                        self.interrupts = rx;
                        for i in later {
                            self.interrupt_event(i)?;
                        }
                        self.record_all(kept)?;
                        let (r, seen) = match finished {
                            Ok(done) => done,
                            Err((i, answer)) => {
                                self.record(Record::Gate {
                                    gate: GateId::SlashingProtection,
                                    open: false,
                                    why: format!(
                                        "the transfer of the {what} was cut short by the {}: what it had done is journaled above; a history set aside is never deleted, and the backup stays locked",
                                        match i {
                                            Interrupt::Request(Request::StopAll { .. }) => "emergency stop-all",
                                            Interrupt::Request(Request::Rollback { .. }) => "rollback",
                                            _ => "operator",
                                        }
                                    ),
                                    waits: Vec::new(),
                                })?;
                                instead = Some(answer);
                                break;
                            }
                        };
                        let (result, evidence) = r?;
                        let mut slipped = Vec::new();
                        for (via, verdict) in seen {
                            let (ok, observed) = match &verdict {
                                Ok(Some(p)) => {
                                    slipped.push(p.clone());
                                    (true, format!("during the transfer: not ready: {p}"))
                                }
                                Ok(None) => (true, "during the transfer: ready".to_string()),
                                Err(e) => (false, format!("during the transfer: {e}")),
                            };
                            self.record(Record::Probe {
                                host: Some(Role::Backup),
                                via,
                                ok,
                                observed,
                            })?;
                        }
                        if !slipped.is_empty() {
                            slipped.dedup();
                            self.record(Record::Gate {
                                gate: GateId::BackupReadiness,
                                open: false,
                                why: format!(
                                    "slipped while the history moved: {}; the Start gate holds until it is ready again",
                                    slipped.join("; ")
                                ),
                                waits: slipped.clone(),
                            })?;
                        }
                        next = Some(Event::Transferred {
                            now: self.clock.now(),
                            result,
                            evidence,
                        });
                    }
                    Effect::Blocked(why) => return Ok(Ended::Blocked(why)),
                    Effect::Finished(o) => return Ok(Ended::Finished(o)),
                }
                if instead.is_some() {
                    break;
                }
            }
            effects = match (instead, next) {
                (Some(effects), _) => effects,
                (None, Some(e)) => machine.handle(e),
                (None, None) => {
                    return Ok(Ended::Finished(Outcome::Failed(
                        "the engine asked for nothing more without finishing".into(),
                    )));
                }
            };
        }
    }

    fn record_all(&mut self, effects: Vec<Effect>) -> std::io::Result<()> {
        for effect in effects {
            if let Effect::Record(r) = effect {
                self.record(r)?;
            }
        }
        Ok(())
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
        // Flavours are learnt once per host and then kept (or pinned by the config);
        // both hosts at once, so that one that does not answer delays nothing.
        let learn = |role: Role| {
            let wanted = list
                .iter()
                .any(|(r, w)| *r == role && matches!(w, Observe::Beacon | Observe::Chain))
                && self.beacon_flavour[slot(role)].is_none();
            let host = self.host(role);
            let endpoint = &self.cfg.beacon.endpoint;
            let t = self.cfg.ssh.command_timeout;
            async move {
                if !wanted {
                    return None;
                }
                probes::beacon_flavour(host, endpoint, None, t)
                    .await
                    .ok()
                    .map(|f| f.value)
            }
        };
        let (p, b) = tokio::join!(learn(Role::Primary), learn(Role::Backup));
        for (role, f) in [(Role::Primary, p), (Role::Backup, b)] {
            if let Some(f) = f {
                self.beacon_flavour[slot(role)] = Some(f);
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
            Observe::History => {
                let known =
                    self.history_seen.lock().unwrap_or_else(|p| p.into_inner())[slot(role)].clone();
                let r =
                    probes::history(host, v, probes::HISTORY_READ_LIMIT, known.as_ref(), t).await;
                if let Ok(o) = &r {
                    self.history_seen.lock().unwrap_or_else(|p| p.into_inner())[slot(role)] =
                        Some(o.value.clone());
                }
                pack(r, Value::History)
            }
            Observe::Beacon => pack(
                probes::beacon_sync(host, &cfg.beacon.endpoint, flavour, t).await,
                Value::Beacon,
            ),
            Observe::Execution => pack(
                probes::execution_sync(
                    host,
                    &cfg.execution.endpoint,
                    self.execution_flavour[slot(role)],
                    &cfg.beacon,
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
            Observe::Validators => {
                let ids: Vec<String> = v.indices.iter().map(u64::to_string).collect();
                pack(
                    probes::validators(host, &cfg.beacon.endpoint, flavour, &ids, t).await,
                    Value::Validators,
                )
            }
            Observe::Archives => {
                let remote = probes::archives(host, &cfg.backups, t).await;
                match remote {
                    Ok(o) => {
                        let mut v: Vec<ArchiveAt> = o
                            .value
                            .into_iter()
                            .map(|a| ArchiveAt {
                                host: Some(role),
                                path: a.path,
                                size: a.size,
                                mtime: a.mtime,
                                holds: None,
                            })
                            .collect();
                        let mut via = o.via;
                        // The backup's archives, then this machine's: newest first, the
                        // host's first when equally new.
                        if role == Role::Backup {
                            v.extend(local_archives(&cfg.backups));
                            via.push_str(&format!("; (here) ls {}", cfg.backups));
                        }
                        v.sort_by(|a, b| b.mtime.total_cmp(&a.mtime));
                        // Opened, newest first, until one holds a history: only such an
                        // archive can stand in for the primary's.
                        for a in v.iter_mut().take(ARCHIVES_OPENED) {
                            a.holds = Some(match a.host {
                                Some(r) => {
                                    let remote = probes::Archive {
                                        path: a.path.clone(),
                                        size: a.size,
                                        mtime: a.mtime,
                                        holds: None,
                                    };
                                    probes::archive_contents(self.host(r), &remote, t).await
                                }
                                None => {
                                    let path = std::path::PathBuf::from(&a.path);
                                    tokio::task::spawn_blocking(move || {
                                        let dir = tempfile::tempdir()
                                            .map_err(|e| format!("a temporary directory: {e}"))?;
                                        crate::archive::open_history(&path, dir.path())
                                            .map(|(_, s, _)| s.summary())
                                    })
                                    .await
                                    .unwrap_or_else(|e| Err(format!("the reader crashed: {e}")))
                                }
                            });
                            via.push_str(&format!("; opened {}", a.place()));
                            if a.holds_history() {
                                break;
                            }
                        }
                        (via, o.at, Ok(Value::Archives(v)))
                    }
                    Err(e) => (e.what.clone(), unix_now(), Err(e)),
                }
            }
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

/// A transfer step's result: its value, or the transfer ends with why (item 3 red).
macro_rules! step {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(why) => return Ok(Err(why)),
        }
    };
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

    /// Item 3: the history moved from `from` to `to` by the configured method (the
    /// archive of `validator.db`, or the client's EIP-3076 export and import), or a
    /// watermark from the chain when no history can be had; temporary directories
    /// removed afterwards.
    pub async fn transfer_archive(
        &mut self,
        from: Source,
        to: Role,
    ) -> std::io::Result<(StepResult<Transferred>, Vec<Evidence>)> {
        let mut evidence = Vec::new();
        let mut temps: Vec<(Role, String)> = Vec::new();
        let r = match (&from, self.cfg.failover.method) {
            (Source::Watermark, _) => {
                self.transfer_watermark(to, &mut evidence, &mut temps)
                    .await?
            }
            // The client's own export and import, when the source can run it.
            (Source::Live(role), crate::config::TransferMethod::Eip3076) => {
                self.transfer_eip3076(*role, to, &mut evidence, &mut temps)
                    .await?
            }
            _ => {
                self.transfer_steps(&from, to, &mut evidence, &mut temps)
                    .await?
            }
        };
        for (role, dir) in temps {
            if let Some(cmd) = xfer::remove_temp(&dir) {
                // Best effort: a leftover temporary directory is harmless, and journaled.
                let _ = self.remote(role, cmd, self.cfg.ssh.command_timeout).await?;
            }
        }
        Ok((r, evidence))
    }

    /// A file on a host streamed into a new private file here (mode 0600), hashed on
    /// the way and compared with the host's own sha256; journaled. (sha256, bytes)
    async fn download_checked(
        &mut self,
        role: Role,
        remote_path: &str,
        local: &std::path::Path,
        what: &str,
    ) -> std::io::Result<StepResult<(String, u64)>> {
        let sha_remote = match self.remote_sha256(role, &[remote_path.to_string()]).await? {
            Ok(v) => v[0].0.clone(),
            Err(why) => return Ok(Err(why)),
        };
        let file = match tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(local)
            .await
        {
            Ok(f) => f,
            Err(e) => return Ok(Err(format!("cannot create {}: {e}", local.display()))),
        };
        // The size first, for the progress's time left (shown only, not judged).
        let total = self
            .host(role)
            .run(
                &Cmd::new("stat").args(["-c", "%s", "--", remote_path]),
                self.cfg.ssh.command_timeout,
            )
            .await
            .ok()
            .filter(|o| o.success())
            .and_then(|o| o.stdout_text().trim().parse().ok());
        let mut sink = crate::progress::Counted::new(
            HashingWriter::new(file),
            self.progress.clone(),
            crate::progress::Progress {
                what: what.to_string(),
                host: role,
                upload: false,
                done: 0,
                total,
                seconds: 0.0,
                finished: false,
            },
        );
        let got = self
            .host_arc(role)
            .download(remote_path, &mut sink, TRANSFER_TIMEOUT)
            .await;
        let (sha_l, bytes) = sink.finish().finish();
        self.record(Record::Command {
            host: role,
            command: format!("cat -- {remote_path} > {}", local.display()),
            status: got.as_ref().ok().map(|_| 0),
            excerpt: match &got {
                Ok(n) => format!("{n} bytes, sha256 {sha_l}"),
                Err(e) => format!("{}: {}", e.failure.as_str(), e.detail),
            },
        })?;
        if let Err(e) = got {
            return Ok(Err(format!(
                "downloading the {what} from the {role}: {}: {}",
                e.failure.as_str(),
                e.detail
            )));
        }
        if sha_l != sha_remote {
            return Ok(Err(format!(
                "the {what} changed on the way: sha256 {sha_remote} on the {role}, {sha_l} here"
            )));
        }
        Ok(Ok((sha_l, bytes)))
    }

    /// Every path present on the host and owned as the configuration says (after
    /// `what`).
    async fn owned_as_configured(
        &self,
        to: Role,
        owner: &str,
        paths: &[String],
        what: &str,
    ) -> StepResult<()> {
        let (user, group) = owner.split_once(':').unwrap_or((owner, owner));
        for p in paths {
            match probes::stat(self.host(to), p, self.cfg.ssh.command_timeout).await {
                Ok(o) => match o.value {
                    Some(fi) if fi.user == user && fi.group == group => {}
                    Some(fi) => {
                        return Err(format!(
                            "{p} on the {to} is owned by {}:{}, not {owner} as the unit runs",
                            fi.user, fi.group
                        ));
                    }
                    None => return Err(format!("{p} is missing on the {to} after {what}")),
                },
                Err(e) => return Err(format!("{to}: {p}: {}", e.detail)),
            }
        }
        Ok(())
    }

    /// Where `role` keeps its history, found as the client finds it (the unit's
    /// `ExecStart`, qrysm's rule, a configured pin), journaled; and the owner the unit
    /// runs as (`User=`/`Group=`; the configured owner where the unit names none).
    async fn locate(
        &mut self,
        role: Role,
    ) -> std::io::Result<StepResult<(crate::history::HistoryLocation, String)>> {
        let v = self.cfg.validator.clone();
        let t = self.cfg.ssh.command_timeout;
        let unit = match probes::unit_state(self.host(role), &v.service, t).await {
            Ok(u) => u,
            Err(e) => return Ok(Err(format!("{role}: cannot read the unit: {}", e.detail))),
        };
        let found =
            probes::history_location(self.host(role), v.history.as_ref(), &unit.value, t).await;
        let (via, loc) = match found {
            Ok(o) => (o.via, o.value),
            Err(e) => (e.what.clone(), Err(e.detail)),
        };
        self.record(Record::Probe {
            host: Some(role),
            via,
            ok: loc.is_ok(),
            observed: match &loc {
                Ok(l) => format!("the history is {} ({})", l.file, l.how()),
                Err(e) => e.clone(),
            },
        })?;
        let (cu, cg) = v.owner.split_once(':').unwrap_or((&v.owner, &v.owner));
        let user = if unit.value.user.is_empty() {
            cu.to_string()
        } else {
            unit.value.user.clone()
        };
        let group = if unit.value.group.is_empty() {
            if unit.value.user.is_empty() {
                cg.to_string()
            } else {
                user.clone()
            }
        } else {
            unit.value.group.clone()
        };
        Ok(loc.map(|l| (l, format!("{user}:{group}"))))
    }

    /// Journal the validation of the copy here; keep its summary as evidence.
    fn record_validation<R>(
        &mut self,
        local: &std::path::Path,
        report: Result<R, String>,
        summary: impl Fn(&R) -> String,
        evidence: &mut Vec<Evidence>,
    ) -> std::io::Result<Result<R, String>> {
        let via = format!("validate {}", local.display());
        self.record(Record::Probe {
            host: None,
            via: via.clone(),
            ok: report.is_ok(),
            observed: match &report {
                Ok(r) => summary(r),
                Err(e) => e.clone(),
            },
        })?;
        if let Ok(r) = &report {
            evidence.push(Evidence {
                host: None,
                at: self.clock.now(),
                via,
                observed: summary(r),
            });
        }
        Ok(report)
    }

    /// A file here streamed to a new file on a host (mode 0600), whose sha256 there
    /// must equal `sha`; journaled.
    async fn upload_checked(
        &mut self,
        to: Role,
        local: &std::path::Path,
        remote_path: &str,
        sha: &str,
        what: &str,
    ) -> std::io::Result<StepResult<()>> {
        let src = match tokio::fs::File::open(local).await {
            Ok(f) => f,
            Err(e) => return Ok(Err(format!("{}: {e}", local.display()))),
        };
        let total = src.metadata().await.ok().map(|m| m.len());
        let mut src = crate::progress::Counted::new(
            src,
            self.progress.clone(),
            crate::progress::Progress {
                what: what.to_string(),
                host: to,
                upload: true,
                done: 0,
                total,
                seconds: 0.0,
                finished: false,
            },
        );
        let sent = self
            .host_arc(to)
            .upload(remote_path, &mut src, 0o600, TRANSFER_TIMEOUT)
            .await;
        src.finish();
        self.record(Record::Command {
            host: to,
            command: format!("cat > {remote_path} < {}", local.display()),
            status: sent.as_ref().ok().map(|_| 0),
            excerpt: match &sent {
                Ok(n) => format!("{n} bytes"),
                Err(e) => format!("{}: {}", e.failure.as_str(), e.detail),
            },
        })?;
        if let Err(e) = sent {
            return Ok(Err(format!(
                "uploading the {what} to the {to}: {}: {}",
                e.failure.as_str(),
                e.detail
            )));
        }
        let there = match self.remote_sha256(to, &[remote_path.to_string()]).await? {
            Ok(v) => v[0].0.clone(),
            Err(why) => return Ok(Err(why)),
        };
        if there != sha {
            return Ok(Err(format!(
                "the {what} changed on the way to the {to}: sha256 {sha} here, {there} there"
            )));
        }
        Ok(Ok(()))
    }

    /// The archive to move, here: a copy beside the journal, hashed on the way in,
    /// equal to the source's sha256. (local path, sha256, bytes)
    async fn fetch_archive(
        &mut self,
        from: &Source,
        evidence: &mut Vec<Evidence>,
        temps: &mut Vec<(Role, String)>,
    ) -> std::io::Result<StepResult<(std::path::PathBuf, String, u64)>> {
        let t = self.cfg.ssh.command_timeout;
        let name = crate::history::PROTECTION_DB_FILE;
        let label = match from {
            Source::Live(r) => r.to_string(),
            Source::Archive(a) => match a.host {
                Some(r) => format!("{r}-archive"),
                None => "local-archive".into(),
            },
            Source::Watermark => return Ok(Err("a watermark is not an archive".into())),
        };
        let mut local = self
            .journal
            .dir()
            .join(format!("{name}-{}-from-{label}.tar.gz", self.run_id));
        let mut n = 1;
        while local.exists() {
            n += 1;
            local = self
                .journal
                .dir()
                .join(format!("{name}-{}-from-{label}-{n}.tar.gz", self.run_id));
        }
        // Where the archive is, on a host: made now from the live history (after the
        // stop), or a backup archive made earlier.
        let (role, remote_path, made_via) = match from {
            Source::Watermark => return Ok(Err("a watermark is not an archive".into())),
            Source::Live(role) => {
                let (loc, _) = step!(self.locate(*role).await?);
                let tmp = step!(self.remote(*role, xfer::mktemp_dir("/tmp"), t).await?)
                    .stdout_text()
                    .trim()
                    .to_string();
                temps.push((*role, tmp.clone()));
                let archive = format!("{tmp}/{name}.tar.gz");
                let make = xfer::tar_create(&archive, &loc.datadir, name);
                let via = make.display();
                step!(self.remote(*role, make, TRANSFER_TIMEOUT).await?);
                (*role, archive, Some(via))
            }
            Source::Archive(a) => match a.host {
                Some(role) => (role, a.path.clone(), None),
                None => {
                    // On this machine: copied beside the journal, hashed on the way.
                    let src = a.path.clone();
                    let (copied, sha, bytes) = {
                        let file = tokio::fs::OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .mode(0o600)
                            .open(&local)
                            .await;
                        match file {
                            Err(e) => (Err(e), String::new(), 0),
                            Ok(file) => {
                                let mut sink = HashingWriter::new(file);
                                let copied = async {
                                    let mut f = tokio::fs::File::open(&src).await?;
                                    tokio::io::copy(&mut f, &mut sink).await
                                }
                                .await;
                                let (sha, bytes) = sink.finish();
                                (copied, sha, bytes)
                            }
                        }
                    };
                    self.record(Record::Command {
                        host: Role::Backup,
                        command: format!("(here) cp -- {src} {}", local.display()),
                        status: copied.as_ref().ok().map(|_| 0),
                        excerpt: match &copied {
                            Ok(n) => format!("{n} bytes, sha256 {sha}"),
                            Err(e) => e.to_string(),
                        },
                    })?;
                    if let Err(e) = copied {
                        return Ok(Err(format!("cannot copy the archive {src}: {e}")));
                    }
                    evidence.push(Evidence {
                        host: None,
                        at: self.clock.now(),
                        via: format!("cp -- {src}"),
                        observed: format!(
                            "backup archive on this machine, {bytes} bytes, sha256 {sha}, modified {}",
                            utc(a.mtime)
                        ),
                    });
                    return Ok(Ok((local, sha, bytes)));
                }
            },
        };
        let (sha_l, bytes) = step!(
            self.download_checked(role, &remote_path, &local, "archive")
                .await?
        );
        evidence.push(Evidence {
            host: Some(role),
            at: self.clock.now(),
            via: made_via
                .clone()
                .unwrap_or_else(|| format!("cat -- {remote_path}")),
            observed: match (&made_via, from) {
                (Some(_), _) => {
                    format!("archive of {bytes} bytes, sha256 {sha_l}, made after the stop")
                }
                (None, Source::Archive(a)) => format!(
                    "backup archive {remote_path}, {bytes} bytes, sha256 {sha_l}, modified {}",
                    utc(a.mtime)
                ),
                (None, _) => format!("{bytes} bytes, sha256 {sha_l}"),
            },
        });
        Ok(Ok((local, sha_l, bytes)))
    }

    /// Item 3 by the client's EIP-3076 export on `from` (after the stop) and import on
    /// `to`: the file streamed here (a copy kept), validated (version, chain, keys,
    /// epochs), streamed on with sha256 on both ends, the destination's DB set aside
    /// first (never deleted), imported, owned, synced, verified.
    async fn transfer_eip3076(
        &mut self,
        from: Role,
        to: Role,
        evidence: &mut Vec<Evidence>,
        temps: &mut Vec<(Role, String)>,
    ) -> std::io::Result<StepResult<Transferred>> {
        let v = self.cfg.validator.clone();
        let t = self.cfg.ssh.command_timeout;
        let (src_loc, _) = step!(self.locate(from).await?);

        // The export, on the source, in a private directory.
        let tmp_s = step!(self.remote(from, xfer::mktemp_dir("/tmp"), t).await?)
            .stdout_text()
            .trim()
            .to_string();
        temps.push((from, tmp_s.clone()));
        let export = xfer::export_history(&v.binary, &src_loc.datadir, &tmp_s);
        let export_via = export.display();
        step!(self.remote(from, export, TRANSFER_TIMEOUT).await?);
        let file_s = format!("{tmp_s}/{INTERCHANGE_FILE}");
        // Here: a copy beside the journal, hashed on the way in.
        let local = self.journal.dir().join(format!(
            "slashing_protection-{}-from-{from}.json",
            self.run_id
        ));
        let (sha_l, bytes) = step!(
            self.download_checked(from, &file_s, &local, "export")
                .await?
        );
        evidence.push(Evidence {
            host: Some(from),
            at: self.clock.now(),
            via: export_via,
            observed: format!(
                "EIP-3076 export of {bytes} bytes, sha256 {sha_l}, made after the stop"
            ),
        });
        self.import_interchange(
            &format!("the {from}'s EIP-3076 export"),
            &local,
            &sha_l,
            bytes,
            to,
            evidence,
            temps,
        )
        .await
    }

    /// Item 3 when the primary cannot be reached and no archive holds a history: a
    /// watermark from the chain, EIP-3076's minimal form, imported into the backup's
    /// history. Per key (by the configured indices, their public keys from the beacon
    /// node): one attestation whose target is the current epoch and whose source is
    /// the chain's current justified epoch, and one block at the head slot; the
    /// client then refuses anything at or below them, so the backup cannot sign what
    /// the primary may have signed up to now, and the liveness wait proves that
    /// nothing signed after. It costs the rest of this epoch and the wait.
    async fn transfer_watermark(
        &mut self,
        to: Role,
        evidence: &mut Vec<Evidence>,
        temps: &mut Vec<(Role, String)>,
    ) -> std::io::Result<StepResult<Transferred>> {
        let t = self.cfg.ssh.command_timeout;
        let endpoint = self.cfg.beacon.endpoint.clone();
        let flavour = self.beacon_flavour[slot(to)].unwrap_or(BeaconFlavour::Zond);
        let indices = self.cfg.validator.indices.clone();
        if indices.is_empty() {
            return Ok(Err(
                "a watermark needs validator.indices: the chain cannot be asked for the keys"
                    .into(),
            ));
        }
        let host = self.host_arc(to);
        let chain = match probes::chain_info(host.as_ref(), &endpoint, flavour, t).await {
            Ok(o) => o,
            Err(e) => {
                return Ok(Err(format!(
                    "the {to}'s chain cannot be read: {}",
                    e.detail
                )));
            }
        };
        let justified = match probes::justified_epoch(host.as_ref(), &endpoint, flavour, t).await {
            Ok(o) => o,
            Err(e) => {
                return Ok(Err(format!(
                    "the {to}'s beacon node cannot say the justified epoch: {}",
                    e.detail
                )));
            }
        };
        let ids: Vec<String> = indices.iter().map(u64::to_string).collect();
        let keys = match probes::validators(host.as_ref(), &endpoint, flavour, &ids, t).await {
            Ok(o) => o,
            Err(e) => {
                return Ok(Err(format!(
                    "the {to}'s beacon node cannot say our keys: {}",
                    e.detail
                )));
            }
        };
        let missing: Vec<u64> = indices
            .iter()
            .copied()
            .filter(|i| !keys.value.iter().any(|k| k.index == *i))
            .collect();
        if !missing.is_empty() {
            return Ok(Err(format!(
                "the beacon node does not know validator indices {missing:?}: no watermark can be made for them"
            )));
        }
        let now = self.clock.now();
        let clock = chain.value.clock;
        let epoch = clock.epoch_at(now);
        let head_slot = clock.slot_at(now);
        let source = justified.value.min(epoch);
        let doc = crate::interchange::minimal(
            chain.value.genesis_validators_root.as_deref().unwrap_or(""),
            keys.value.iter().map(|k| k.pubkey.as_str()),
            source,
            epoch,
            head_slot,
        );
        let local = self.journal.dir().join(format!(
            "slashing_protection-{}-watermark.json",
            self.run_id
        ));
        let bytes = doc.len() as u64;
        if let Err(e) = std::fs::write(&local, &doc) {
            return Ok(Err(format!("{}: {e}", local.display())));
        }
        let sha: String = <sha2::Sha256 as sha2::Digest>::digest(&doc)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let observed = format!(
            "a watermark from the chain for {} key(s): target epoch {epoch} (the current one), source epoch {source} (justified), block slot {head_slot}; the backup cannot sign at or below them",
            keys.value.len()
        );
        self.record(Record::Probe {
            host: Some(to),
            via: format!("{}; {}; {}", chain.via, justified.via, keys.via),
            ok: true,
            observed: observed.clone(),
        })?;
        evidence.push(Evidence {
            host: Some(to),
            at: now,
            via: format!("{}; {}", justified.via, keys.via),
            observed,
        });
        self.import_interchange("the watermark", &local, &sha, bytes, to, evidence, temps)
            .await
    }

    /// The second half of an EIP-3076 transfer: the file here validated against the
    /// destination's chain, streamed there (sha256 compared), the destination's
    /// previous DB set aside first (never deleted; put back if the import leaves none),
    /// imported by the client, owned and moded as the unit runs, flushed, verified.
    #[allow(clippy::too_many_arguments)]
    async fn import_interchange(
        &mut self,
        what: &str,
        local: &std::path::Path,
        sha_l: &str,
        bytes: u64,
        to: Role,
        evidence: &mut Vec<Evidence>,
        temps: &mut Vec<(Role, String)>,
    ) -> std::io::Result<StepResult<Transferred>> {
        let v = self.cfg.validator.clone();
        let t = self.cfg.ssh.command_timeout;
        // Validate, against the destination's chain.
        let root = match probes::chain_info(
            self.host(to),
            &self.cfg.beacon.endpoint,
            self.beacon_flavour[slot(to)].unwrap_or(BeaconFlavour::Zond),
            t,
        )
        .await
        {
            Ok(o) => o.value.genesis_validators_root,
            Err(e) => {
                return Ok(Err(format!(
                    "the {to}'s chain cannot be read to check {what} against it: {}",
                    e.detail
                )));
            }
        };
        let path = local.to_path_buf();
        let report = tokio::task::spawn_blocking(move || {
            let f = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            crate::interchange::validate(
                std::io::BufReader::new(f),
                crate::archive::Limits::default().max_total,
                root.as_deref(),
            )
        })
        .await
        .unwrap_or_else(|e| Err(format!("validation crashed: {e}")));
        let report = match self.record_validation(local, report, |r| r.summary(), evidence)? {
            Ok(r) => r,
            Err(e) => {
                return Ok(Err(format!(
                    "{what} is refused: {e}; nothing on the {to} was changed"
                )));
            }
        };

        // To the destination, sha256 compared.
        let dest = self.host_arc(to);
        let tmp_d = step!(self.remote(to, xfer::mktemp_dir("/tmp"), t).await?)
            .stdout_text()
            .trim()
            .to_string();
        temps.push((to, tmp_d.clone()));
        let file_d = format!("{tmp_d}/{INTERCHANGE_FILE}");
        step!(
            self.upload_checked(to, local, &file_d, sha_l, "export")
                .await?
        );
        let sha_d = sha_l.to_string();

        // The previous history set aside first (never deleted): the import then makes
        // the destination's DB from this file alone, as the archive does.
        let (loc, owner) = step!(self.locate(to).await?);
        let target = loc.file.clone();
        let set_aside = step!(self.set_aside(to, &target).await?);
        let import = xfer::import_history(&v.binary, &loc.datadir, &file_d);
        let import_via = import.display();
        if let Err(why) = self.remote(to, import, TRANSFER_TIMEOUT).await? {
            if let Some(aside) = &set_aside {
                let _ = self.remote(to, xfer::rename(aside, &target), t).await?;
            }
            return Ok(Err(why));
        }
        step!(self.remote(to, xfer::chown(&owner, &target), t).await?);
        step!(self.remote(to, xfer::chmod("0600", &target), t).await?);
        step!(
            self.remote(to, xfer::sync_fs(&target), TRANSFER_TIMEOUT)
                .await?
        );
        evidence.push(Evidence {
            host: Some(to),
            at: self.clock.now(),
            via: import_via,
            observed: format!(
                "imported (sha256 {sha_d} equal on both ends); {}",
                match &set_aside {
                    Some(a) => format!("the previous history set aside at {a}"),
                    None => "there was no previous history".into(),
                }
            ),
        });

        // Verify: the history in place, read as the client's DB, owned as the unit runs.
        let hist = match probes::history_state(dest.as_ref(), loc.clone(), u64::MAX, None, t).await
        {
            Ok(o) => o.value,
            Err(e) => return Ok(Err(format!("{to}: {target}: {}", e.detail))),
        };
        if let Some(p) = hist.problem() {
            // The client may exit 0 without importing (its terms-of-use refusal does):
            // never leave the destination with no history where it had one.
            if hist.file.is_none()
                && let Some(aside) = &set_aside
            {
                let _ = self.remote(to, xfer::rename(aside, &target), t).await?;
            }
            return Ok(Err(format!(
                "after the import, the {to}'s history is not usable: {p}"
            )));
        }
        step!(
            self.owned_as_configured(to, &owner, std::slice::from_ref(&target), "the import")
                .await
        );
        evidence.push(Evidence {
            host: Some(to),
            at: self.clock.now(),
            via: format!("stat {target}; read here as bbolt"),
            observed: format!("{}; owned by {owner}", hist.summary()),
        });
        let last_signed = self.last_signed_by_index(to, &report.last_target).await?;
        Ok(Ok(Transferred {
            archive_sha256: sha_l.to_string(),
            bytes,
            files: vec![crate::archive::ArchivedFile {
                path: INTERCHANGE_FILE.into(),
                size: bytes,
                kind: probes::HistoryKind::Eip3076,
                sha256: sha_d,
            }],
            set_aside,
            local_copy: local.display().to_string(),
            last_target: report.last_target,
            last_signed,
        }))
    }

    /// Item 3 by archive: the history file (`<datadir>/validator.db`, where the client
    /// keeps it) archived on the source after the stop (or a backup archive that holds
    /// one), streamed here with sha256 on both ends, validated and read here as qrysm's
    /// DB (its genesis root the destination chain's), the DB file streamed to a private
    /// directory beside the destination's history (sha256 compared), owned and moded as
    /// the unit runs, flushed, the previous DB set aside with a timestamp (never
    /// deleted) and the new one renamed in (atomic), then verified by sha256 and owner.
    /// The wallet and keystores are never touched.
    async fn transfer_steps(
        &mut self,
        from: &Source,
        to: Role,
        evidence: &mut Vec<Evidence>,
        temps: &mut Vec<(Role, String)>,
    ) -> std::io::Result<StepResult<Transferred>> {
        let t = self.cfg.ssh.command_timeout;
        let (local, sha_l, bytes) = step!(self.fetch_archive(from, evidence, temps).await?);

        // Validate and read the history here before anything reaches the destination
        // (the copy read here is removed afterwards, whatever happens; the archive
        // stays beside the journal).
        let dir = local.with_extension("d");
        let _remove_copy = RemoveDirOnDrop(dir.clone());
        let (archive, out) = (local.clone(), dir.clone());
        let opened =
            tokio::task::spawn_blocking(move || crate::archive::open_history(&archive, &out))
                .await
                .unwrap_or_else(|e| Err(format!("validation crashed: {e}")));
        let opened = self.record_validation(
            &local,
            opened,
            |(r, db, _)| format!("{}; {}", r.summary(), db.summary()),
            evidence,
        )?;
        let (report, db, db_local) = match opened {
            Ok(o) => o,
            Err(e) => {
                return Ok(Err(format!(
                    "the archive is refused: {e}; nothing on the {to} was changed"
                )));
            }
        };
        step!(self.same_chain(to, &db).await?);
        let db_sha = match report
            .files
            .iter()
            .find(|f| crate::archive::extracted(&dir, &f.path) == db_local)
        {
            Some(f) => f.sha256.clone(),
            None => return Ok(Err("the history's checksum was lost".into())),
        };

        // To the destination, beside the history it replaces (same filesystem).
        let (loc, owner) = step!(self.locate(to).await?);
        let target = loc.file.clone();
        let tmp_b = step!(self.remote(to, xfer::mktemp_dir(&loc.datadir), t).await?)
            .stdout_text()
            .trim()
            .to_string();
        temps.push((to, tmp_b.clone()));
        let staged = format!("{tmp_b}/{}", crate::history::PROTECTION_DB_FILE);
        step!(
            self.upload_checked(to, &db_local, &staged, &db_sha, "history")
                .await?
        );
        step!(self.remote(to, xfer::chown(&owner, &staged), t).await?);
        step!(self.remote(to, xfer::chmod("0600", &staged), t).await?);
        step!(
            self.remote(to, xfer::sync_fs(&staged), TRANSFER_TIMEOUT)
                .await?
        );
        evidence.push(Evidence {
            host: Some(to),
            at: self.clock.now(),
            via: format!("sha256sum -- {staged}"),
            observed: format!(
                "the history ({}) staged beside {target}: sha256 {db_sha} equal here and on the {to}",
                crate::probes::human_bytes(std::fs::metadata(&db_local).map(|m| m.len()).unwrap_or(0))
            ),
        });

        // Swap: the previous DB set aside (never deleted), the new one renamed in.
        let set_aside = step!(self.set_aside(to, &target).await?);
        if let Err(why) = self.remote(to, xfer::rename(&staged, &target), t).await? {
            // Put the previous history back where it was rather than leave none.
            if let Some(aside) = &set_aside {
                let _ = self.remote(to, xfer::rename(aside, &target), t).await?;
            }
            return Ok(Err(why));
        }
        step!(
            self.remote(to, xfer::sync_fs(&target), TRANSFER_TIMEOUT)
                .await?
        );
        evidence.push(Evidence {
            host: Some(to),
            at: self.clock.now(),
            via: format!("mv -T -- {staged} {target}"),
            observed: match &set_aside {
                Some(a) => format!("in place; the previous history set aside at {a}"),
                None => "in place; there was no previous history".into(),
            },
        });

        // Verify what is in place: its sha256 and owner.
        let sums = step!(
            self.remote_sha256(to, std::slice::from_ref(&target))
                .await?
        );
        if sums.first().map(|(sum, _)| sum) != Some(&db_sha) {
            return Ok(Err(format!(
                "{target} on the {to} differs from the history sent (sha256 {:?}, expected {db_sha})",
                sums.first().map(|(s, _)| s)
            )));
        }
        step!(
            self.owned_as_configured(to, &owner, std::slice::from_ref(&target), "the swap")
                .await
        );
        evidence.push(Evidence {
            host: Some(to),
            at: self.clock.now(),
            via: format!("sha256sum -- {target}; stat"),
            observed: format!("{target} equal to the history sent, owned by {owner}"),
        });
        let last_target: std::collections::BTreeMap<String, Option<u64>> = db
            .keys
            .iter()
            .map(|k| (k.pubkey.to_lowercase(), k.last_target))
            .collect();
        let last_signed = self.last_signed_by_index(to, &last_target).await?;
        Ok(Ok(Transferred {
            archive_sha256: sha_l,
            bytes,
            files: report.files,
            set_aside,
            local_copy: local.display().to_string(),
            last_target,
            last_signed,
        }))
    }

    /// The history read here must have been signed on the destination's chain.
    async fn same_chain(
        &mut self,
        to: Role,
        db: &crate::validator_db::DbSummary,
    ) -> std::io::Result<StepResult<()>> {
        let root = match probes::chain_info(
            self.host(to),
            &self.cfg.beacon.endpoint,
            self.beacon_flavour[slot(to)].unwrap_or(BeaconFlavour::Zond),
            self.cfg.ssh.command_timeout,
        )
        .await
        {
            Ok(o) => o.value.genesis_validators_root,
            Err(e) => {
                return Ok(Err(format!(
                    "the {to}'s chain cannot be read to check the history against it: {}",
                    e.detail
                )));
            }
        };
        Ok(match (&db.genesis_validators_root, root) {
            (Some(h), Some(c)) if !h.eq_ignore_ascii_case(&c) => Err(format!(
                "the history was signed on another chain (genesis validators root {h}, the {to}'s chain {c}); nothing on the {to} was changed"
            )),
            _ => Ok(()),
        })
    }

    /// Rename the history at `target` aside to `<target>.old-<UTC stamp>` if there is
    /// one; the name it got.
    async fn set_aside(
        &mut self,
        to: Role,
        target: &str,
    ) -> std::io::Result<StepResult<Option<String>>> {
        let t = self.cfg.ssh.command_timeout;
        let old = match probes::stat(self.host(to), target, t).await {
            Ok(o) => o.value,
            Err(e) => return Ok(Err(format!("{to}: cannot look at {target}: {}", e.detail))),
        };
        if old.is_none() {
            return Ok(Ok(None));
        }
        let stamp = jiff::Timestamp::from_second(self.clock.now() as i64)
            .map(|ts| ts.strftime("%Y%m%dT%H%M%SZ").to_string())
            .unwrap_or_default();
        let aside = format!("{target}.old-{stamp}");
        step!(self.remote(to, xfer::rename(target, &aside), t).await?);
        Ok(Ok(Some(aside)))
    }

    /// Each key's last signed target epoch, by validator index, for the liveness gate:
    /// the beacon node says which index each public key has. A node that cannot say
    /// leaves the map empty (journaled): the gate then judges from the stop's epoch.
    async fn last_signed_by_index(
        &mut self,
        to: Role,
        last_target: &std::collections::BTreeMap<String, Option<u64>>,
    ) -> std::io::Result<std::collections::BTreeMap<u64, u64>> {
        let pubkeys: Vec<String> = last_target.keys().cloned().collect();
        let mut last_signed = std::collections::BTreeMap::new();
        match probes::validator_indices(
            self.host(to),
            &self.cfg.beacon.endpoint,
            self.beacon_flavour[slot(to)].unwrap_or(BeaconFlavour::Zond),
            &self.cfg.validator.indices,
            &pubkeys,
            self.cfg.ssh.command_timeout,
        )
        .await
        {
            Ok(o) => {
                for (pk, last) in last_target {
                    if let (Some(i), Some(e)) = (o.value.get(pk), last) {
                        last_signed.insert(*i, *e);
                    }
                }
                self.record(Record::Probe {
                    host: Some(to),
                    via: o.via.clone(),
                    ok: true,
                    observed: format!(
                        "{} of {} key(s) known to the chain; last signed target epoch by index: {last_signed:?}",
                        o.value.len(),
                        pubkeys.len()
                    ),
                })?;
            }
            Err(e) => {
                self.record(Record::Probe {
                    host: Some(to),
                    via: e.what.clone(),
                    ok: false,
                    observed: format!(
                        "the indices of the history's keys are unknown ({}: {}); the liveness gate judges from the stop's epoch",
                        e.failure.as_str(),
                        e.detail
                    ),
                })?;
            }
        }
        Ok(last_signed)
    }
}

/// Items 4-5 on the backup, looked at every `verify_interval` until `done`: (what
/// was asked, Ok(None) ready / Ok(Some(why not)) / Err(could not tell)).
async fn watch_readiness(
    backup: Arc<dyn Host>,
    cfg: Config,
    flavour: BeaconFlavour,
    exec: Option<ExecutionFlavour>,
    mut done: tokio::sync::watch::Receiver<bool>,
) -> Vec<(String, Result<Option<String>, String>)> {
    let t = cfg.ssh.command_timeout;
    let mut seen = Vec::new();
    loop {
        let (b, e) = tokio::join!(
            probes::beacon_sync(backup.as_ref(), &cfg.beacon.endpoint, flavour, t),
            probes::execution_sync(
                backup.as_ref(),
                &cfg.execution.endpoint,
                exec,
                &cfg.beacon,
                t
            )
        );
        match b {
            Ok(o) => seen.push((
                o.via,
                Ok(o.value
                    .problem(cfg.beacon.max_sync_distance)
                    .map(|p| format!("the beacon node: {p}"))),
            )),
            Err(e) => seen.push((
                e.what.clone(),
                Err(format!("{}: {}", e.failure.as_str(), e.detail)),
            )),
        }
        match e {
            Ok(o) => seen.push((
                o.via,
                Ok(o.value
                    .problem()
                    .map(|p| format!("the execution node: {p}"))),
            )),
            Err(e) => seen.push((
                e.what.clone(),
                Err(format!("{}: {}", e.failure.as_str(), e.detail)),
            )),
        }
        tokio::select! {
            _ = done.wait_for(|d| *d) => return seen,
            _ = tokio::time::sleep(cfg.failover.verify_interval) => {}
        }
    }
}

/// The backup archives on this machine matching the configured pattern.
/// Removes a directory of ours when dropped.
struct RemoveDirOnDrop(std::path::PathBuf);

impl Drop for RemoveDirOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The client's EIP-3076 file name (`cmd/validator/slashing-protection/export.go`).
const INTERCHANGE_FILE: &str = "slashing_protection.json";

/// How many backup archives, newest first, are opened to find one with a history.
const ARCHIVES_OPENED: usize = 8;

fn local_archives(pattern: &str) -> Vec<ArchiveAt> {
    let Ok(paths) = glob::glob(pattern) else {
        return Vec::new();
    };
    paths
        .flatten()
        .filter_map(|p| {
            let m = std::fs::metadata(&p).ok()?;
            if !m.is_file() {
                return None;
            }
            let mtime = m
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_secs_f64();
            Some(ArchiveAt {
                host: None,
                path: p.display().to_string(),
                size: m.len(),
                mtime,
                holds: None,
            })
        })
        .collect()
}

/// A unix time as UTC, for evidence.
fn utc(t: f64) -> String {
    jiff::Timestamp::from_second(t as i64)
        .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| format!("{t:.0}"))
}

/// Does the machine ask for more than journal records?
/// The engine's event for an interrupt; None for a note (journaled, not the engine's).
fn event_of(i: &Interrupt, now: f64) -> Option<Event> {
    Some(match i {
        Interrupt::Request(request) => Event::Requested {
            now,
            request: request.clone(),
        },
        Interrupt::FencedOutOfBand(statement) => Event::FencedOutOfBand {
            now,
            statement: statement.clone(),
        },
        Interrupt::Note { .. } => return None,
    })
}

fn actionable(effects: &[Effect]) -> bool {
    effects.iter().any(|e| !matches!(e, Effect::Record(_)))
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
        Value::Validators(v) => v
            .iter()
            .map(|v| {
                format!(
                    "{} {}{} balance {}",
                    v.index,
                    v.status,
                    if v.slashed { " SLASHED" } else { "" },
                    v.balance.map_or("?".to_string(), |b| b.to_string())
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
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
        Value::Archives(v) => match v.first() {
            None => "no backup archive".into(),
            Some(a) => format!(
                "{} archive(s); newest {} ({}, modified {})",
                v.len(),
                a.place(),
                probes::human_bytes(a.size),
                utc(a.mtime)
            ),
        },
    }
}
