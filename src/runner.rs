//! The non-interactive runner (spec §4): a whole failover for automation, printing
//! the checklist as the engine changes it. One of the three consumers of the
//! engine's events (the wizard and the audit writer are the others).

use std::io::Write;
use std::sync::Arc;

use async_trait::async_trait;

use crate::audit::JournalWriter;
use crate::audit::writer::run_id;
use crate::cli::{EXIT_BLOCKED, EXIT_FAILED, EXIT_OK};
use crate::config::Config;
use crate::driver::{Answer, Clock, Driver, Ended, Operator, RealClock};
use crate::engine::journal::{Entry, GateId, JOURNAL_FORMAT, Record, RunOutcome};
use crate::engine::machine::{Confirm, Event, Failover, Outcome, Plan};
use crate::hosts::Host;
use crate::notify::{Notice, Notifier, RunIdent};

/// Answers the engine's confirmations with what the command line said: the
/// operator typed the backup's name in `--confirm`, and the runner types the
/// primary's for the stop (both named in the configuration).
struct CommandLine {
    primary: String,
    backup: String,
    allow_unreachable: bool,
    /// `stop-all --confirm PRIMARY,BACKUP`, as typed: given to the engine once (a
    /// second question is declined, never answered in a loop).
    stop_all: Option<String>,
    /// The unverified path's question, when it was declined for want of the flag.
    declined: Option<Confirm>,
}

#[async_trait]
impl Operator for CommandLine {
    async fn confirm(&mut self, question: &Confirm) -> Answer {
        match question {
            Confirm::StopPrimary { .. } => Answer::Typed(self.primary.clone()),
            Confirm::StartBackup { .. } => Answer::Typed(self.backup.clone()),
            // `rollback --confirm PRIMARY` was checked against the configuration.
            Confirm::Rollback { .. } => Answer::Typed(self.primary.clone()),
            Confirm::UnverifiedPrimary { .. } if self.allow_unreachable => {
                Answer::Typed(self.primary.clone())
            }
            Confirm::StopAll { .. } if self.stop_all.is_some() => {
                Answer::Typed(self.stop_all.take().unwrap_or_default())
            }
            Confirm::UnverifiedPrimary { .. } | Confirm::StopAll { .. } => {
                self.declined = Some(question.clone());
                Answer::Decline
            }
        }
    }
}

/// What a non-interactive run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Failover,
    Rollback,
    /// The emergency stop-all, with both names typed; it goes first when another run
    /// holds the pair.
    StopAll {
        typed: String,
    },
}

/// The options of a non-interactive run (all but the mode optional).
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub reason: Option<String>,
    pub operator: Option<String>,
    pub allow_unreachable: bool,
    pub fenced_out_of_band: Option<String>,
    /// Resume an interrupted failover of the pair found under the runs directory
    /// (not for the demo, whose simulated pair is new each time).
    pub resume: bool,
}

/// One line of the checklist for an entry worth printing.
fn line(e: &Entry) -> Option<String> {
    let t = &e.time[11..19];
    match &e.record {
        Record::Item {
            number,
            state,
            evidence,
        } => {
            let title = number.title();
            let ev = evidence
                .first()
                .map(|e| format!(" — {}", e.observed))
                .unwrap_or_default();
            let why = match state {
                crate::engine::checklist::ItemState::Red(r) => format!(": {r}"),
                crate::engine::checklist::ItemState::Waived(r) => format!(" (waived: {r})"),
                crate::engine::checklist::ItemState::Undone(r) => format!(" (undone: {r})"),
                _ => String::new(),
            };
            Some(format!(
                "{t} {} {number:>2}. {title}{why}{ev}",
                state.symbol()
            ))
        }
        Record::RollbackStep {
            step,
            state,
            evidence,
        } => {
            let why = match state {
                crate::engine::checklist::ItemState::Red(r) => format!(": {r}"),
                _ => String::new(),
            };
            let ev = evidence
                .first()
                .map(|e| format!(" — {}", e.observed))
                .unwrap_or_default();
            Some(format!(
                "{t} {} {}. {}{why}{ev}",
                state.symbol(),
                step.label(),
                step.title()
            ))
        }
        Record::Gate {
            gate, open, why, ..
        } => Some(format!(
            "{t}     gate {gate}: {} — {why}",
            if *open { "open" } else { "shut" }
        )),
        Record::Liveness {
            verdict:
                crate::engine::gate::LivenessVerdict::Waiting {
                    why,
                    earliest,
                    missed_duties,
                    ..
                },
        } => Some(format!(
            "{t}     liveness wait: {why}{}; missed duties so far: {missed_duties}",
            earliest
                .map(|e| format!(
                    "; opens at {} at the earliest",
                    crate::engine::journal::rfc3339(e)
                ))
                .unwrap_or_default()
        )),
        Record::Confirmation { action, typed } if action.contains("fenced out of band") => {
            Some(format!("{t}     stated: {typed:?}"))
        }
        Record::Confirmation { action, typed } => {
            Some(format!("{t}     confirmed {action}: typed {typed:?}"))
        }
        Record::Command {
            host,
            command,
            status,
            ..
        } => Some(format!(
            "{t}     {host}$ {command}{}",
            match status {
                Some(0) => String::new(),
                Some(s) => format!("  (exit {s})"),
                None => "  (no answer)".into(),
            }
        )),
        _ => None,
    }
}

/// The whole failover over SSH, as `failover --non-interactive` runs it.
pub async fn failover(
    cfg: Config,
    reason: Option<String>,
    operator: Option<String>,
    allow_unreachable: bool,
) -> i32 {
    let (p, b) = match crate::cli::ssh_hosts(&cfg) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: cannot create a private directory for SSH sockets: {e}");
            return EXIT_FAILED;
        }
    };
    run_with(
        cfg,
        p,
        b,
        Arc::new(RealClock),
        Options {
            mode: Mode::Failover,
            reason,
            operator,
            allow_unreachable,
            fenced_out_of_band: None,
            resume: true,
        },
    )
    .await
}

/// A whole run (failover or rollback) over SSH.
pub async fn over_ssh(cfg: Config, opts: Options) -> i32 {
    let (p, b) = match crate::cli::ssh_hosts(&cfg) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: cannot create a private directory for SSH sockets: {e}");
            return EXIT_FAILED;
        }
    };
    run_with(cfg, p, b, Arc::new(RealClock), opts).await
}

/// The whole failover on these hosts, printing the checklist as it goes.
pub async fn run(
    cfg: Config,
    p: Arc<dyn Host>,
    b: Arc<dyn Host>,
    clock: Arc<dyn Clock>,
    reason: Option<String>,
    operator: Option<String>,
    allow_unreachable: bool,
) -> i32 {
    run_with(
        cfg,
        p,
        b,
        clock,
        Options {
            mode: Mode::Failover,
            reason,
            operator,
            allow_unreachable,
            fenced_out_of_band: None,
            resume: false,
        },
    )
    .await
}

/// A whole run on these hosts, printing the checklist as it goes.
pub async fn run_with(
    cfg: Config,
    p: Arc<dyn Host>,
    b: Arc<dyn Host>,
    clock: Arc<dyn Clock>,
    opts: Options,
) -> i32 {
    let Options {
        mode,
        reason,
        operator,
        allow_unreachable,
        fenced_out_of_band,
        resume,
    } = opts;
    let operator = operator_name(&cfg, operator);
    let now = crate::chain::unix_now();
    let opened = match open_run(&cfg, &operator, mode.clone(), resume, reason, now, "") {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILED;
        }
    };
    say!("RUN: {}", opened.journal.dir().display());
    if let Some((p, b)) = opened.resumed {
        say!(
            "RESUMING the interrupted run {} (primary touched: {}, backup unlocked: {}): the hosts are probed again",
            opened.id,
            if p { "yes" } else { "no" },
            if b { "yes" } else { "no" }
        );
    }
    let _ = std::io::stdout().flush();
    let notifier = opened.notifier(&cfg);
    for problem in notifier.problems() {
        eprintln!("warning: {problem}");
    }
    let OpenedRun {
        id,
        journal,
        first,
        entries,
        ..
    } = opened;
    drive_run(
        cfg,
        p,
        b,
        clock,
        (journal, entries),
        id,
        operator,
        mode,
        allow_unreachable,
        fenced_out_of_band,
        first,
        notifier,
    )
    .await
}

/// Who runs it: as given, else the configuration's operator, else `$USER`.
pub fn operator_name(cfg: &Config, given: Option<String>) -> String {
    given
        .or_else(|| cfg.failover.operator.clone())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// A run's journal, opened: a new run, or an interrupted failover of the pair
/// resumed (its journal carried on).
pub struct OpenedRun {
    pub id: String,
    pub journal: JournalWriter,
    /// The engine's first event: begin, begin the rollback, or resume.
    pub first: Event,
    /// Resumed: (the primary touched, the backup unlocked).
    pub resumed: Option<(bool, bool)>,
    /// The journal's entries so far (all of them when resumed).
    pub entries: Vec<Entry>,
}

impl OpenedRun {
    /// The run's notifier (`[notify]`), told that the run started (or resumed).
    pub fn notifier(&self, cfg: &Config) -> Notifier {
        let n = Notifier::start(
            &cfg.notify,
            RunIdent {
                run: self.id.clone(),
                primary: cfg.primary.name.clone(),
                backup: cfg.backup.name.clone(),
            },
        );
        match (&self.resumed, self.entries.first(), self.entries.last()) {
            (None, Some(started), _) => n.entry(started),
            (Some(_), first, Some(last)) => n.notice(
                last.at,
                Notice::RunStarted {
                    reason: first.and_then(|e| match &e.record {
                        Record::RunStarted { reason, .. } => reason.clone(),
                        _ => None,
                    }),
                    resumed: true,
                },
            ),
            _ => {}
        }
        n
    }
}

/// Open the run's journal: with `resume`, an interrupted failover of this pair is
/// carried on (a `resume` gate recorded, saying where: `place`); otherwise a new run
/// begins with its `RunStarted` record.
pub fn open_run(
    cfg: &Config,
    operator: &str,
    mode: Mode,
    resume: bool,
    reason: Option<String>,
    now: f64,
    place: &str,
) -> Result<OpenedRun, String> {
    let resumed = match mode {
        Mode::Failover if resume => interrupted_run(cfg),
        _ => None,
    };
    if let Some((dir, id, primary_touched, backup_touched)) = resumed {
        let mut journal = JournalWriter::resume(&dir, operator)
            .map_err(|e| format!("cannot resume the run in {}: {e}", dir.display()))?;
        let mut entries = crate::audit::read_journal(&dir).unwrap_or_default();
        let gate = Record::Gate {
            gate: GateId::Resume,
            open: true,
            why: format!(
                "resumed by {operator}{place} at {}",
                crate::engine::journal::rfc3339(now)
            ),
            waits: Vec::new(),
        };
        entries.push(
            journal
                .append(now, gate)
                .map_err(|e| format!("cannot write the journal: {e}"))?,
        );
        return Ok(OpenedRun {
            id,
            journal,
            first: Event::Resume {
                now,
                primary_touched,
                backup_touched,
            },
            resumed: Some((primary_touched, backup_touched)),
            entries,
        });
    }
    let id = run_id(now);
    let mut journal =
        JournalWriter::create(&cfg.failover.runs_dir, &id, operator).map_err(|e| {
            format!(
                "cannot create the run's journal under {}: {e}",
                cfg.failover.runs_dir.display()
            )
        })?;
    let started = Record::RunStarted {
        run: id.clone(),
        primary: cfg.primary.display_destination(),
        backup: cfg.backup.display_destination(),
        reason,
        config: cfg.source.as_ref().map(|s| s.path.display().to_string()),
        config_origin: cfg.source.as_ref().map(|s| s.origin),
        program: format!("validator-failover {}", env!("CARGO_PKG_VERSION")),
        format: JOURNAL_FORMAT,
    };
    let entry = journal
        .append(now, started)
        .map_err(|e| format!("cannot write the journal: {e}"))?;
    Ok(OpenedRun {
        id,
        journal,
        first: match mode {
            Mode::Failover => Event::Begin { now },
            Mode::Rollback => Event::BeginRollback { now },
            Mode::StopAll { .. } => Event::BeginStopAll { now },
        },
        resumed: None,
        entries: vec![entry],
    })
}

/// The newest interrupted failover of this pair under the runs directory: (its
/// directory, its id, primary touched, backup unlocked).
pub fn interrupted_run(cfg: &Config) -> Option<(std::path::PathBuf, String, bool, bool)> {
    let mut dirs: Vec<std::path::PathBuf> = std::fs::read_dir(&cfg.failover.runs_dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs.into_iter().rev() {
        let Ok(entries) = crate::audit::read_journal(&dir) else {
            continue;
        };
        let Some(Record::RunStarted {
            run,
            primary,
            backup,
            ..
        }) = entries.first().map(|e| &e.record)
        else {
            continue;
        };
        if *primary != cfg.primary.display_destination()
            || *backup != cfg.backup.display_destination()
        {
            continue;
        }
        return crate::engine::machine::resume_facts(&entries)
            .map(|(p, b)| (dir, run.clone(), p, b));
    }
    None
}

#[allow(clippy::too_many_arguments)]
async fn drive_run(
    cfg: Config,
    p: Arc<dyn Host>,
    b: Arc<dyn Host>,
    clock: Arc<dyn Clock>,
    (journal, written): (JournalWriter, Vec<Entry>),
    id: String,
    operator: String,
    mode: Mode,
    allow_unreachable: bool,
    fenced_out_of_band: Option<String>,
    first: Event,
    notifier: Notifier,
) -> i32 {
    let mut driver = Driver::new(cfg.clone(), id, p, b, clock.clone(), journal);
    driver.seen(&written);
    driver.notifier = notifier.clone();
    driver.progress = Some(crate::progress::for_the_runner(
        std::io::IsTerminal::is_terminal(&std::io::stdout()),
    ));
    driver.listener = Some(Box::new(|e: &Entry| {
        if let Some(l) = line(e) {
            say!("{l}");
            let _ = std::io::stdout().flush();
        }
    }));
    let mut plan = Plan::from_config(&cfg);
    plan.fenced_out_of_band = fenced_out_of_band;
    let mut machine = Failover::new(plan);
    let mut op = CommandLine {
        primary: cfg.primary.name.clone(),
        backup: cfg.backup.name.clone(),
        allow_unreachable,
        stop_all: match &mode {
            Mode::StopAll { typed } => Some(typed.clone()),
            _ => None,
        },
        declined: None,
    };
    driver.precedence = matches!(mode, Mode::StopAll { .. });
    let ended = match driver.run(&mut machine, &operator, &mut op, first).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: the journal could not be written, stopping: {e}");
            notifier.notice(
                clock.now(),
                Notice::Failed {
                    why: machine.standing().with(&format!(
                        "the journal could not be written, the run stopped: {e}"
                    )),
                },
            );
            finish_notices(&notifier, None).await;
            return EXIT_FAILED;
        }
    };
    let mut done_line: Option<String> = None;
    let (code, outcome) = match &ended {
        Ended::Blocked(why) => {
            let why = match &op.declined {
                Some(Confirm::UnverifiedPrimary {
                    archive,
                    age_epochs,
                    wait_epochs,
                    ..
                }) => format!(
                    "the primary cannot be reached: pass --allow-unreachable-primary to go on with the newest archive {archive} ({age_epochs} epoch(s) old) through the liveness wait ({wait_epochs} quiet epochs, or --fenced-out-of-band STATEMENT); nothing was touched"
                ),
                _ => why.clone(),
            };
            say!("BLOCKED: {why}");
            (EXIT_BLOCKED, RunOutcome::Blocked(why))
        }
        Ended::Finished(Outcome::Completed) => {
            let done = format!(
                "{} (10: document the incident, then `audit export`)",
                machine.completion()
            );
            // Said once the end is journaled (the timings are the journal's), just
            // before the closing line.
            done_line = Some(format!("DONE: {}", machine.standing().with(&done)));
            (EXIT_OK, RunOutcome::Completed)
        }
        Ended::Finished(Outcome::RolledBack) => {
            say!("ROLLED BACK: the primary signs; the backup is stopped and locked");
            match mode {
                Mode::Rollback => (EXIT_OK, RunOutcome::RolledBack),
                Mode::Failover | Mode::StopAll { .. } => (EXIT_FAILED, RunOutcome::RolledBack),
            }
        }
        Ended::Finished(Outcome::StoppedAll) => {
            say!("STOPPED ALL: both validators are stopped and fenced");
            match mode {
                Mode::StopAll { .. } => (EXIT_OK, RunOutcome::StoppedAll),
                _ => (EXIT_FAILED, RunOutcome::StoppedAll),
            }
        }
        Ended::Finished(Outcome::Failed(why)) => {
            // Never a bare reason once a validator was touched: both validators' state.
            let line = machine.standing().with(why);
            say!("FAILED: {line}");
            (EXIT_FAILED, RunOutcome::Failed(line))
        }
    };
    if let Err(e) = driver.record(Record::RunEnded { outcome }) {
        if let Some(l) = done_line {
            say!("{l}");
        }
        eprintln!("error: cannot write the journal: {e}");
        finish_notices(&notifier, None).await;
        return EXIT_FAILED;
    }
    if let Some(l) = done_line {
        // The switch's steps, as the audit lists them (`audit::switch_timings`).
        match crate::audit::read_journal(driver.journal.dir())
            .ok()
            .and_then(|entries| crate::audit::switch_timings(&entries))
        {
            Some(Ok(t)) => {
                for step in crate::audit::switch_timing_lines(&t) {
                    say!("SWITCH TIMING: {step}");
                }
            }
            Some(Err(why)) => say!("SWITCH TIMING: {why}"),
            None => {}
        }
        say!("{l}");
    }
    finish_notices(&notifier, Some(&mut driver)).await;
    code
}

/// The end of the program for the notifier: pending notices waited for (at most
/// `notify.timeout_secs`), what the sends said journaled, failures said on stderr.
pub async fn finish_notices(notifier: &Notifier, driver: Option<&mut Driver>) {
    let flushed = notifier.finish().await;
    if let Some(d) = driver {
        for r in flushed.reports {
            if d.record(r).is_err() {
                break;
            }
        }
    }
    for f in &flushed.failures {
        eprintln!("warning: {f}");
    }
}
