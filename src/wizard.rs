//! The interactive wizard command: the third consumer of the engine's events (beside
//! the non-interactive runner and the audit writer). It starts the drive, the sync
//! probes and the journal tails in background tasks, each reporting over a channel,
//! and hands the terminal to [`crate::tui`], which only renders and sends decisions.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::chain::unix_now;
use crate::cli::{EXIT_BLOCKED, EXIT_FAILED, EXIT_OK};
use crate::config::{Config, Role};
use crate::driver::{Answer, Clock, Driver, Ended, Interrupt, Operator};
use crate::engine::journal::{Entry, NoteField, Record, RunOutcome};
use crate::engine::machine::{Confirm, Event, Failover, Outcome, Plan, Request};
use crate::hosts::Host;
use crate::probes;
use crate::tui::app::{self, App, EngineMsg, Exit, ExportFormat, Inputs};
use crate::tui::model::{Model, Probed, WorldMsg};
use crate::tui::theme::Theme;

/// How long a sync probe may take before the host shows as not answering.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the sync panes are refreshed.
pub const PROBE_EVERY: Duration = Duration::from_secs(3);
/// Tail lines are handed to the interface in batches, at most this often (k9s).
pub const TAIL_BATCH: Duration = Duration::from_millis(50);

/// Answers the engine's questions through the interface: the question goes over a
/// channel, the typed answer comes back on a oneshot.
pub struct UiOperator {
    pub tx: mpsc::UnboundedSender<EngineMsg>,
}

#[async_trait]
impl Operator for UiOperator {
    async fn confirm(&mut self, question: &Confirm) -> Answer {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(EngineMsg::Ask(question.clone(), tx)).is_ok()
            && let Ok(a) = rx.await
        {
            return a;
        }
        // The interface is gone (quit, hang-up): never answer for the engineer.
        std::future::pending().await
    }
}

/// What the run's end means, for the screen and the exit code; `machine` says where
/// both validators stand, so that a failed run never hides it.
pub fn summarize(ended: &std::io::Result<Ended>, machine: &Failover) -> (String, RunOutcome, i32) {
    let standing = machine.standing();
    match ended {
        Err(e) => (
            format!("the journal could not be written: {e}"),
            RunOutcome::Failed(format!("journal: {e}")),
            EXIT_FAILED,
        ),
        Ok(Ended::Blocked(why)) => (
            format!("BLOCKED: {why}"),
            RunOutcome::Blocked(why.clone()),
            EXIT_BLOCKED,
        ),
        Ok(Ended::Finished(Outcome::Completed)) => (
            format!(
                "DONE: {}",
                standing.with(&format!(
                    "{} (10: write the notes, then export the audit)",
                    machine.completion()
                ))
            ),
            RunOutcome::Completed,
            EXIT_OK,
        ),
        Ok(Ended::Finished(Outcome::RolledBack)) => (
            "ROLLED BACK: the primary signs; the backup is stopped and locked".into(),
            RunOutcome::RolledBack,
            EXIT_FAILED,
        ),
        Ok(Ended::Finished(Outcome::StoppedAll)) => (
            "STOPPED ALL: both validators are stopped and fenced".into(),
            RunOutcome::StoppedAll,
            EXIT_FAILED,
        ),
        Ok(Ended::Finished(Outcome::Failed(why))) => (
            format!("FAILED: {}", standing.with(why)),
            RunOutcome::Failed(standing.with(why)),
            EXIT_FAILED,
        ),
    }
}

/// The exit code of a wizard quit before its run ended: what the journal says was
/// done, as a resume would read it (`engine::machine::resume_facts`). Nothing done to
/// either validator: 0. The primary touched, the backup unlocked, a rollback or a
/// stop-all under way, or a journal that cannot be read: 1.
pub fn quit_code(run: &std::path::Path) -> i32 {
    match crate::audit::read_journal(run)
        .ok()
        .and_then(|entries| crate::engine::machine::resume_facts(&entries))
    {
        Some((false, false)) => EXIT_OK,
        _ => EXIT_FAILED,
    }
}

/// The loop's side effects on the world.
struct WizardFx {
    interrupts: mpsc::UnboundedSender<Interrupt>,
    drive_over: Arc<AtomicBool>,
    /// For the read-only preflight, run in the background on demand.
    cfg: Config,
    hosts: (Arc<dyn Host>, Arc<dyn Host>),
    world: mpsc::Sender<WorldMsg>,
}

impl WizardFx {
    /// To the engine: during the drive at its next wait or question; after the end a
    /// rollback or a stop-all starts it again on the same run.
    fn interrupt(&mut self, i: Interrupt) -> Result<(), String> {
        if self.drive_over.load(Ordering::SeqCst) && matches!(i, Interrupt::FencedOutOfBand(_)) {
            return Err("the run has ended: the statement changes nothing now".into());
        }
        self.interrupts
            .send(i)
            .map_err(|_| "the engine is gone".to_string())
    }
}

impl app::Effects for WizardFx {
    fn request(&mut self, request: Request) -> Result<(), String> {
        self.interrupt(Interrupt::Request(request))
    }
    fn fenced_out_of_band(&mut self, statement: String) -> Result<(), String> {
        self.interrupt(Interrupt::FencedOutOfBand(statement))
    }
    fn save_notes(&mut self, notes: Vec<(NoteField, String)>) -> Result<bool, String> {
        for (field, text) in notes {
            self.interrupts
                .send(Interrupt::Note { field, text })
                .map_err(|_| "the journal is closed".to_string())?;
        }
        // Journaled by the driver as soon as it takes them (between two steps).
        Ok(true)
    }
    fn export(&mut self, dir: Option<&str>, f: ExportFormat) -> Result<String, String> {
        export(dir, f)
    }
    fn preflight(&mut self) {
        let (cfg, (p, b), world) = (self.cfg.clone(), self.hosts.clone(), self.world.clone());
        tokio::spawn(async move {
            let pf = crate::check::preflight(&cfg, p, b).await;
            let _ = world.send(WorldMsg::Preflight(Box::new(pf))).await;
        });
    }
}

/// Write the run's audit beside its journal; returns the path.
pub fn export(dir: Option<&str>, f: ExportFormat) -> Result<String, String> {
    use crate::audit::{Format, export};
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = dir.ok_or("the run has no journal yet")?;
    let dir = std::path::Path::new(dir);
    let entries = export::read_journal(dir).map_err(|e| e.to_string())?;
    let (format, ext) = match f {
        ExportFormat::Markdown => (Format::Markdown, "md"),
        ExportFormat::Json => (Format::Json, "json"),
    };
    let text = export::render(&entries, format);
    let path = dir.join(format!("audit.{ext}"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path.display().to_string())
}

async fn sync_loop(host: Arc<dyn Host>, cfg: Config, tx: mpsc::Sender<WorldMsg>, chain: bool) {
    let role = host.role();
    let mut flavour = cfg.beacon.api;
    loop {
        if tx.send(WorldMsg::Asking(role, unix_now())).await.is_err() {
            return;
        }
        let h = host.as_ref();
        let beacon = async {
            let f = match flavour {
                Some(f) => f,
                None => {
                    let f = probes::beacon_flavour(h, &cfg.beacon.endpoint, None, PROBE_TIMEOUT)
                        .await
                        .map_err(|e| e.detail)?
                        .value;
                    flavour = Some(f);
                    f
                }
            };
            probes::beacon_sync(h, &cfg.beacon.endpoint, f, PROBE_TIMEOUT)
                .await
                .map_err(|e| e.detail)
        };
        let exec = probes::execution_sync(
            h,
            &cfg.execution.endpoint,
            cfg.execution.api,
            &cfg.beacon,
            PROBE_TIMEOUT,
        );
        let (b, e) = tokio::join!(
            tokio::time::timeout(PROBE_TIMEOUT, beacon),
            tokio::time::timeout(PROBE_TIMEOUT, exec)
        );
        let beacon = match b {
            Err(_) => Probed::Failed(format!("no answer in {}s", PROBE_TIMEOUT.as_secs())),
            Ok(Err(why)) => Probed::Failed(why),
            Ok(Ok(o)) => {
                let s = o.value;
                match s.problem(cfg.beacon.max_sync_distance) {
                    None => Probed::Ok {
                        ready: true,
                        text: format!(
                            "synced, head {}, {} peers",
                            s.head_slot,
                            s.peers.map(|p| p.to_string()).unwrap_or("?".into())
                        ),
                    },
                    Some(p) => Probed::Ok {
                        ready: false,
                        text: p,
                    },
                }
            }
        };
        let execution = match e {
            Err(_) => Probed::Failed(format!("no answer in {}s", PROBE_TIMEOUT.as_secs())),
            Ok(Err(e)) => Probed::Failed(e.detail),
            Ok(Ok(o)) => match o.value.problem() {
                None => Probed::Ok {
                    ready: true,
                    text: format!(
                        "synced{}, {} peers",
                        match o.value.basis {
                            probes::ExecutionBasis::Direct => "",
                            // Said, so that nobody takes it for the client's own word.
                            probes::ExecutionBasis::BeaconView { .. } => " (beacon node's view)",
                        },
                        o.value.peers.map(|p| p.to_string()).unwrap_or("?".into())
                    ),
                },
                Some(p) => Probed::Ok {
                    ready: false,
                    text: p,
                },
            },
        };
        let msg = WorldMsg::Sync {
            role,
            at: unix_now(),
            beacon,
            execution,
        };
        if tx.send(msg).await.is_err() {
            return;
        }
        if chain
            && let Some(f) = flavour
            && let Ok(Ok(c)) = tokio::time::timeout(
                PROBE_TIMEOUT,
                probes::chain_info(h, &cfg.beacon.endpoint, f, PROBE_TIMEOUT),
            )
            .await
        {
            let msg = WorldMsg::Chain {
                clock: c.value.clock,
                head_slot: c.value.head_slot,
                at: c.at,
            };
            if tx.send(msg).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

/// Follow the validator's journal on a host, in batches; retried when it ends.
async fn tail_loop(host: Arc<dyn Host>, unit: String, tx: mpsc::Sender<WorldMsg>) {
    let role = host.role();
    loop {
        let stream = tokio::time::timeout(
            PROBE_TIMEOUT,
            probes::journal_tail(host.as_ref(), &unit, 50),
        )
        .await;
        let mut stream = match stream {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                if tx.send(WorldMsg::TailDown(role, e.detail)).await.is_err() {
                    return;
                }
                tokio::time::sleep(PROBE_EVERY).await;
                continue;
            }
            Err(_) => {
                let why = format!("no answer in {}s", PROBE_TIMEOUT.as_secs());
                if tx.send(WorldMsg::TailDown(role, why)).await.is_err() {
                    return;
                }
                continue;
            }
        };
        if !forward_batches(&mut stream.lines, role, &tx).await {
            return;
        }
        if tx
            .send(WorldMsg::TailDown(role, "the journal stream ended".into()))
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

/// Hand lines on in batches (one message per `TAIL_BATCH` at most). False: the
/// interface is gone.
pub async fn forward_batches(
    lines: &mut mpsc::Receiver<String>,
    role: Role,
    tx: &mpsc::Sender<WorldMsg>,
) -> bool {
    loop {
        let Some(first) = lines.recv().await else {
            return true;
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + TAIL_BATCH;
        loop {
            match tokio::time::timeout_at(deadline, lines.recv()).await {
                Ok(Some(l)) => {
                    batch.push(l);
                    if batch.len() >= 10_000 {
                        break;
                    }
                }
                Ok(None) => {
                    return tx.send(WorldMsg::Tail(role, batch)).await.is_ok();
                }
                Err(_) => break,
            }
        }
        if tx.send(WorldMsg::Tail(role, batch)).await.is_err() {
            return false;
        }
    }
}

/// Restores the terminal however the wizard ends (the panic hook restores it too).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// The whole wizard on these hosts: the drive, the probes, the tails, the terminal.
pub async fn run(
    cfg: Config,
    p: Arc<dyn Host>,
    b: Arc<dyn Host>,
    clock: Arc<dyn Clock>,
    reason: Option<String>,
    operator: Option<String>,
    resume: bool,
) -> i32 {
    let operator = crate::runner::operator_name(&cfg, operator);
    let now = clock.now();
    let (etx, erx) = mpsc::unbounded_channel();
    // An interrupted failover of this pair is resumed, not begun again: its journal
    // is shown as it stands, and the engine looks at the hosts afresh.
    let opened = match crate::runner::open_run(
        &cfg,
        &operator,
        crate::runner::Mode::Failover,
        resume,
        reason,
        now,
        " in the wizard",
    ) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILED;
        }
    };
    if let Some((p, b)) = opened.resumed {
        println!(
            "RESUMING the interrupted run {} (primary touched: {}, backup unlocked: {})",
            opened.id,
            if p { "yes" } else { "no" },
            if b { "yes" } else { "no" }
        );
    }
    for e in &opened.entries {
        let _ = etx.send(EngineMsg::Entry(Box::new(e.clone())));
    }
    // Said before the terminal is taken over (and journaled at the next entry).
    let notifier = opened.notifier(&cfg);
    for problem in notifier.problems() {
        eprintln!("warning: {problem}");
    }
    let crate::runner::OpenedRun {
        id,
        journal,
        first,
        entries,
        ..
    } = opened;
    let dir = journal.dir().display().to_string();
    // Once, early, so that the run can be found whatever happens next.
    println!("RUN: {dir}");
    let _ = etx.send(EngineMsg::RunDir(dir.clone()));
    let mut driver = Driver::new(
        cfg.clone(),
        id,
        p.clone(),
        b.clone(),
        clock.clone(),
        journal,
    );
    driver.notifier = notifier.clone();
    driver.seen(&entries);
    let asking = (notifier.clone(), clock);
    let ltx = etx.clone();
    driver.listener = Some(Box::new(move |e: &Entry| {
        let _ = ltx.send(EngineMsg::Entry(Box::new(e.clone())));
    }));
    let ptx = etx.clone();
    driver.progress = Some(std::sync::Arc::new(move |p: &crate::progress::Progress| {
        let _ = ptx.send(EngineMsg::Progress(p.clone()));
    }));
    let (itx, irx) = mpsc::unbounded_channel();
    driver.interrupts = Some(irx);
    let drive_over = Arc::new(AtomicBool::new(false));
    let over = drive_over.clone();
    let plan = Plan::from_config(&cfg);
    // The drive runs in its own task: a journal's fsync or a slow host never holds
    // up the interface.
    let drive = tokio::spawn(async move {
        let mut machine = Failover::new(plan);
        // A person answers here: each new question is told (waiting for a person).
        let mut op = crate::notify::Asking::new(UiOperator { tx: etx.clone() }, asking.0, asking.1);
        let mut first = first;
        loop {
            over.store(false, Ordering::SeqCst);
            let ended = driver.run(&mut machine, &operator, &mut op, first).await;
            let (line, outcome, code) = summarize(&ended, &machine);
            let notice = crate::notify::notice_for_outcome(&outcome);
            if driver
                .record(Record::RunEnded {
                    outcome: outcome.clone(),
                })
                .is_err()
            {
                // The journal failed: the end is told all the same.
                driver.notifier.notice(unix_now(), notice);
            }
            over.store(true, Ordering::SeqCst);
            let _ = etx.send(EngineMsg::Ended(line, outcome, code));
            // After the end: incident notes are journaled; a rollback or a stop-all
            // starts the engine again on the same run (its run lock taken again).
            let mut rx = driver.interrupts.take();
            let next = loop {
                let Some(rx) = rx.as_mut() else {
                    return;
                };
                match rx.recv().await {
                    None => return,
                    Some(Interrupt::Note { field, text }) => {
                        let _ = driver.record(Record::Note { field, text });
                    }
                    Some(Interrupt::Request(request)) => {
                        break Event::Requested {
                            now: unix_now(),
                            request,
                        };
                    }
                    Some(Interrupt::FencedOutOfBand(_)) => {}
                }
            };
            driver.interrupts = rx;
            let _ = etx.send(EngineMsg::Restarted);
            first = next;
        }
    });
    let (wtx, wrx) = mpsc::channel(1024);
    let mut tasks = Vec::new();
    let hosts = (p.clone(), b.clone());
    for (h, chain) in [(p, false), (b, true)] {
        tasks.push(tokio::spawn(sync_loop(
            h.clone(),
            cfg.clone(),
            wtx.clone(),
            chain,
        )));
        tasks.push(tokio::spawn(tail_loop(
            h,
            cfg.validator.service.clone(),
            wtx.clone(),
        )));
    }
    let world = wtx.clone();
    drop(wtx);

    let mut app = App::new(
        Model::new(&cfg.primary.name, &cfg.backup.name),
        Theme::from_env(),
    );
    let mut fx = WizardFx {
        interrupts: itx,
        drive_over,
        cfg: cfg.clone(),
        hosts,
        world,
    };
    // The preflight, read-only, beside the engine's own first gate: its screen (p).
    app::Effects::preflight(&mut fx);
    let exit = {
        let mut terminal = match ratatui::try_init() {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot take over the terminal: {e}");
                return EXIT_FAILED;
            }
        };
        let _restore = Restore;
        let inputs = Inputs {
            engine: erx,
            world: wrx,
            signals: true,
            frames: None,
            now: unix_now,
        };
        let ui = app::run_loop(
            &mut terminal,
            &mut app,
            crossterm::event::EventStream::new(),
            inputs,
            &mut fx,
        );
        ui.await
    };
    // Quitting mid-step (confirmed) leaves the run as a kill would: resumable.
    drive.abort();
    for t in tasks {
        t.abort();
    }
    let code = match exit {
        // The run ended: its own exit code.
        Ok(Exit::Quit(code)) if app.finished.is_some() => code,
        // Quit before its end: 0 when nothing was done to either validator (started
        // again, the run begins afresh from the preflight), else 1 (interrupted).
        Ok(Exit::Quit(_)) => quit_code(std::path::Path::new(&dir)),
        Ok(Exit::Signal(code)) => {
            eprintln!(
                "validator-failover: signal received, the terminal restored; the journal is in {dir}"
            );
            code
        }
        Ok(Exit::Hangup) => 129,
        Ok(Exit::EngineLost) => {
            eprintln!(
                "error: the engine stopped unexpectedly (its message is above); the terminal is restored and the journal is intact in {dir}: look at both hosts (validator-failover check) before anything else"
            );
            EXIT_FAILED
        }
        Err(e) => {
            eprintln!("error: the terminal: {e}");
            EXIT_FAILED
        }
    };
    if let Some((line, _)) = &app.finished {
        println!("{line}");
    }
    // Pending notices: waited for at most notify.timeout_secs, failures said.
    crate::runner::finish_notices(&notifier, None).await;
    code
}
