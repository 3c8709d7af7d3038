//! Failover scenarios run the same way on the simulated pair and on the lab: the
//! engine driven through the driver, the hosts checked afterwards with the probes,
//! and the chain record checked for double signing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use validator_failover::audit::{JournalWriter, read_journal};
use validator_failover::config::Role;
use validator_failover::driver::{Answer, Driver, Ended, Operator, RUN_LOCK};
use validator_failover::engine::checklist::ItemState;
use validator_failover::engine::journal::{Entry, GateId, ItemId, Record, RollbackStep};
use validator_failover::engine::machine::{
    BackupStanding, Confirm, Event, Failover, Outcome, Plan, PrimaryStanding, Request,
    StopAllConsent,
};
use validator_failover::hosts::{Cmd, Host};
use validator_failover::probes;

use super::{Fault, Pair};

/// An operator who answers from a script and remembers what was asked.
pub struct Scripted {
    pub answers: VecDeque<Answer>,
    pub asked: Vec<Confirm>,
}

#[async_trait]
impl Operator for Scripted {
    async fn confirm(&mut self, question: &Confirm) -> Answer {
        self.asked.push(question.clone());
        self.answers
            .pop_front()
            .unwrap_or_else(|| panic!("the engine asked {question:?} and the script has no answer"))
    }
}

pub struct Run {
    pub ended: Ended,
    pub machine: Failover,
    pub driver: Driver,
    pub op: Scripted,
    pub _tmp: tempfile::TempDir,
    pub rt: tokio::runtime::Runtime,
}

impl Run {
    pub fn journal(&self) -> Vec<Entry> {
        read_journal(self.driver.journal.dir()).expect("the journal verifies")
    }

    /// The commands that changed a host, leaving out the run lock's own.
    pub fn commands(&self) -> Vec<String> {
        self.journal()
            .into_iter()
            .filter_map(|e| match e.record {
                Record::Command { command, .. } if !command.contains(RUN_LOCK) => Some(command),
                _ => None,
            })
            .collect()
    }

    /// Send another event to the same machine (a rollback, say).
    pub fn send(&mut self, event: Event, answers: Vec<Answer>) -> Ended {
        self.op.answers.extend(answers);
        let Run {
            machine,
            driver,
            op,
            rt,
            ..
        } = self;
        rt.block_on(driver.drive(machine, event, op))
            .expect("journal writes")
    }
}

pub fn start(pair: &dyn Pair, answers: Vec<Answer>) -> Run {
    start_with(
        pair,
        pair.config(),
        |_| {},
        Event::Begin { now: 0.0 },
        answers,
    )
}

/// A run whose driver calls `listener` with every journal entry.
pub fn start_listening(
    pair: &dyn Pair,
    listener: validator_failover::driver::Listener,
    answers: Vec<Answer>,
) -> Run {
    START_LISTENER.with(|l| *l.borrow_mut() = Some(listener));
    start(pair, answers)
}

/// A run whose driver calls `listener` with every journal entry and takes the
/// operator's interrupts (stop-all, rollback) from `interrupts`, as the wizard's do.
pub fn start_interruptible(
    pair: &dyn Pair,
    listener: validator_failover::driver::Listener,
    interrupts: tokio::sync::mpsc::UnboundedReceiver<validator_failover::driver::Interrupt>,
    answers: Vec<Answer>,
) -> Run {
    START_INTERRUPTS.with(|i| *i.borrow_mut() = Some(interrupts));
    start_listening(pair, listener, answers)
}

type Interrupts = tokio::sync::mpsc::UnboundedReceiver<validator_failover::driver::Interrupt>;

thread_local! {
    static START_LISTENER: std::cell::RefCell<Option<validator_failover::driver::Listener>> =
        const { std::cell::RefCell::new(None) };
    static START_INTERRUPTS: std::cell::RefCell<Option<Interrupts>> =
        const { std::cell::RefCell::new(None) };
}

/// A run with this configuration and plan, begun with `first` (`now` is filled in).
pub fn start_with(
    pair: &dyn Pair,
    cfg: validator_failover::config::Config,
    edit: impl FnOnce(&mut Plan),
    first: Event,
    answers: Vec<Answer>,
) -> Run {
    start_on(pair, pair.hosts(), cfg, edit, first, answers)
}

/// The same, on these hosts (made from another configuration than the pair's).
pub fn start_on(
    pair: &dyn Pair,
    (p, b): (Arc<dyn Host>, Arc<dyn Host>),
    cfg: validator_failover::config::Config,
    edit: impl FnOnce(&mut Plan),
    first: Event,
    answers: Vec<Answer>,
) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let journal = JournalWriter::create(tmp.path(), "test-run", "tester").unwrap();
    let mut driver = Driver::new(cfg.clone(), "test-run".into(), p, b, pair.clock(), journal);
    driver.listener = START_LISTENER.with(|l| l.borrow_mut().take());
    driver.interrupts = START_INTERRUPTS.with(|i| i.borrow_mut().take());
    let mut plan = Plan::from_config(&cfg);
    edit(&mut plan);
    let mut machine = Failover::new(plan);
    let mut op = Scripted {
        answers: answers.into(),
        asked: Vec::new(),
    };
    let now = pair.clock().now();
    let first = match first {
        Event::Begin { .. } => Event::Begin { now },
        Event::BeginRollback { .. } => Event::BeginRollback { now },
        other => other,
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ended = rt
        .block_on(driver.run(&mut machine, "tester", &mut op, first))
        .expect("journal writes");
    Run {
        ended,
        machine,
        driver,
        op,
        _tmp: tmp,
        rt,
    }
}

/// The primary's validator as the probes see it: (running, unit file state, lock present).
pub fn primary_state(pair: &dyn Pair) -> (bool, String, bool) {
    let cfg = pair.config();
    let (p, _) = pair.hosts();
    let t = Duration::from_secs(15);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let u = probes::unit_state(p.as_ref(), &cfg.validator.service, t)
            .await
            .unwrap()
            .value;
        let procs = probes::processes(p.as_ref(), &cfg.validator.process_name, t)
            .await
            .unwrap()
            .value;
        let lock = probes::lock_file(p.as_ref(), &cfg.validator.lock_file, t)
            .await
            .unwrap()
            .value;
        assert_eq!(
            u.is_running(),
            !procs.is_empty(),
            "systemd and the process list agree: {u:?} {procs:?}"
        );
        (u.is_running(), u.unit_file_state, lock.is_some())
    })
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// The sha256 of a file on a host.
pub fn remote_sha256(pair: &dyn Pair, role: Role, path: &str) -> String {
    let (p, b) = pair.hosts();
    let h = if role == Role::Primary { p } else { b };
    let out = rt()
        .block_on(h.run(
            &Cmd::new("sha256sum").arg("--").arg(path),
            Duration::from_secs(15),
        ))
        .unwrap();
    assert!(
        out.success(),
        "{role}: sha256sum {path}: {}",
        out.stderr_text()
    );
    out.stdout_text()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// A (small) file's bytes on a host.
pub fn read(pair: &dyn Pair, role: Role, path: &str) -> Vec<u8> {
    use validator_failover::hosts::HostExt;
    let (p, b) = pair.hosts();
    let h = if role == Role::Primary { p } else { b };
    rt().block_on(h.read_file(path, 64 << 20, Duration::from_secs(15)))
        .unwrap()
}

/// Every path under a directory on a host (three levels), with file sizes.
pub fn listing(pair: &dyn Pair, role: Role, dir: &str) -> Vec<String> {
    let (p, b) = pair.hosts();
    let h = if role == Role::Primary { p } else { b };
    let l = rt()
        .block_on(probes::list(
            h.as_ref(),
            dir,
            3,
            None,
            Duration::from_secs(15),
        ))
        .unwrap()
        .value
        .unwrap_or_default();
    l.into_iter()
        .map(|e| format!("{} {}", e.path, if e.dir { 0 } else { e.size }))
        .collect()
}

pub fn stat(pair: &dyn Pair, role: Role, path: &str) -> probes::FileInfo {
    let (p, b) = pair.hosts();
    let h = if role == Role::Primary { p } else { b };
    rt().block_on(probes::stat(h.as_ref(), path, Duration::from_secs(15)))
        .unwrap()
        .value
        .unwrap_or_else(|| panic!("{role}: {path} is missing"))
}

/// The primary's history file replaced by an older copy while its validator kept
/// signing into the DB it has open (the file on disk no longer covers the chain): the
/// transferred history's last signed targets are older than what the chain shows the
/// keys signed, and the backup is never started on it; the refusal names the key and
/// both epochs. Nothing slashable follows.
pub fn stale_history_is_refused_before_the_backup_starts(pair: &dyn Pair) {
    pair.apply(Fault::PrimaryHistoryStale);
    let run = start(pair, both_names(pair));
    match &run.ended {
        Ended::Finished(Outcome::Failed(why)) => assert!(
            why.contains("ALARM")
                && why.contains("key ")
                && why.contains("was live in epoch")
                && why.contains("history's last signed target epoch")
                && why.contains("stale"),
            "{why}\n{}",
            dump(&run)
        ),
        other => panic!("{other:?}\n{}", dump(&run)),
    }
    assert!(!backup_running(pair), "the backup was never started");
    assert!(
        !run.commands().iter().any(|c| c.contains("systemctl start")),
        "{:?}",
        run.commands()
    );
    assert!(
        !primary_state(pair).0,
        "the primary stays fenced and stopped"
    );
    pair.wait(9.0);
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

/// Remove the lock file and `systemctl start` on the primary, as a well-meaning
/// colleague would.
pub fn unlock_and_start_primary_by_hand(pair: &dyn Pair) {
    let cfg = pair.config();
    let (p, _) = pair.hosts();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = Duration::from_secs(15);
    let rm = Cmd::new("rm")
        .arg("-f")
        .arg("--")
        .arg(&cfg.validator.lock_file);
    assert!(rt.block_on(p.run(&rm, t)).unwrap().success());
    let start = Cmd::new("systemctl")
        .arg("start")
        .arg("--")
        .arg(&cfg.validator.service);
    rt.block_on(p.run(&start, t)).unwrap();
}

pub fn both_names(pair: &dyn Pair) -> Vec<Answer> {
    let cfg = pair.config();
    vec![
        Answer::Typed(cfg.primary.name),
        Answer::Typed(cfg.backup.name),
    ]
}

/// Is the backup's validator running (systemd and the process list agree)?
pub fn backup_running(pair: &dyn Pair) -> bool {
    let cfg = pair.config();
    let (_, b) = pair.hosts();
    let t = Duration::from_secs(15);
    rt().block_on(async {
        let u = probes::unit_state(b.as_ref(), &cfg.validator.service, t)
            .await
            .unwrap()
            .value;
        let procs = probes::processes(b.as_ref(), &cfg.validator.process_name, t)
            .await
            .unwrap()
            .value;
        u.is_running() && !procs.is_empty()
    })
}

/// The rollback instead of an answer, with the primary's name typed (as the wizard
/// sends it).
fn rollback_typed(pair: &dyn Pair) -> Answer {
    Answer::Request(Request::Rollback {
        typed: primary_name(pair),
    })
}

/// The stop-all instead of an answer, as the wizard's `y` to its question.
fn stop_all_key() -> Answer {
    Answer::Request(Request::StopAll {
        consent: StopAllConsent::Key('y'),
    })
}

fn primary_name(pair: &dyn Pair) -> String {
    pair.config().primary.name
}

/// The whole first half: confirmed, fenced, stopped, verified twice; nothing restarts it.
pub fn happy_path_stops_and_fences_the_primary(pair: &dyn Pair) {
    let run = start(pair, both_names(pair));
    assert_eq!(
        run.ended,
        Ended::Finished(Outcome::Completed),
        "{:?}",
        run.journal().last()
    );
    for n in 1..=9 {
        let item = run.machine.checklist.item(ItemId::from_number(n).unwrap());
        assert_eq!(item.state, ItemState::Green, "item {n}: {item:?}");
        assert!(!item.evidence.is_empty(), "item {n} has evidence");
    }
    let cmds = run.commands();
    let order: Vec<&str> = [
        "mkdir -p -- /etc/quantapool",
        "write /etc/quantapool/VALIDATOR_LOCKED",
        "systemctl disable",
        "systemctl mask --runtime",
        "mkdir -p -- /run/systemd/system/qrysm-validator.service.d",
        "write /run/systemd/system/qrysm-validator.service.d/zz-validator-failover-fence.conf",
        "systemctl daemon-reload",
        "systemctl stop",
    ]
    .into_iter()
    .collect();
    assert!(cmds.len() > order.len(), "{cmds:?}");
    for (want, got) in order.iter().zip(cmds.iter()) {
        assert!(got.starts_with(want), "fence first, then stop: {cmds:?}");
    }
    assert!(
        !cmds.iter().any(|c| c.contains("SIGKILL")),
        "no escalation needed: {cmds:?}"
    );
    let (running, file_state, locked) = primary_state(pair);
    assert!(
        !running && locked && file_state == "disabled",
        "{running} {file_state} {locked}"
    );
    // Item 3: the primary's history is on the backup, record for record; the
    // backup's own is set aside, not deleted; no temporary directory is left behind.
    let db = pair.history_file();
    // (The backup has signed since: its history is the primary's and more.)
    assert_history_within(pair, Role::Primary, Role::Backup);
    // And it covers every attestation the chain has from the primary.
    let backup_history = history_records(pair, Role::Backup);
    for r in pair.chain_records(Role::Primary) {
        assert!(
            backup_history.contains(&r),
            "{r:?} is on chain from the primary but not in the backup's history"
        );
    }
    assert!(
        history_records(pair, Role::Backup).len() > history_records(pair, Role::Primary).len(),
        "the backup signed on the primary's history"
    );
    let datadir = db.rsplit_once('/').unwrap().0.to_string();
    let backup_files = listing(pair, Role::Backup, &datadir);
    assert!(
        backup_files
            .iter()
            .any(|p| p.contains("/validator.db.old-")),
        "the backup's own history set aside: {backup_files:?}"
    );
    // The wallet (keystores) is never moved, archived or swapped.
    let wallet = format!("{}/wallet", pair.config().validator.data_dir);
    assert!(
        listing(pair, Role::Backup, &wallet)
            .iter()
            .any(|p| p.contains("/wallet/direct")),
        "{wallet} is still in place"
    );
    assert!(
        !backup_files
            .iter()
            .any(|p| p.contains(".validator-failover.")),
        "{backup_files:?}"
    );
    let st = stat(pair, Role::Backup, &db);
    assert_eq!((st.user.as_str(), st.group.as_str()), ("qrysm", "qrysm"));
    assert_eq!(st.mode, 0o600, "the history moded as the client keeps it");
    assert!(
        run.journal().iter().any(|e| matches!(&e.record, Record::Gate { gate, why, .. } if *gate == GateId::Liveness && why.contains("by index {0: "))),
        "the liveness gate judges each key from the history's last signed target epoch\n{}",
        dump(&run)
    );
    let validated = run
        .journal()
        .iter()
        .any(|e| matches!(&e.record, Record::Probe { via, ok: true, .. } if via.starts_with("validate ")));
    assert!(
        validated,
        "the archive was validated here before it went to the backup"
    );
    assert!(backup_running(pair), "the backup signs now");
    // Past RestartSec, twice: nothing brought it back.
    pair.wait(7.0);
    let (running, _, _) = primary_state(pair);
    assert!(!running, "nothing restarts a fenced primary");
    assert!(pair.slashable().is_empty());
    let md = validator_failover::audit::export::markdown(&run.journal());
    assert!(
        md.contains("- [x] 1. Primary validator confirmed stopped"),
        "{md}"
    );
    assert!(
        md.contains("- [x] 2. Primary process confirmed killed"),
        "{md}"
    );
    // The runtime fence holds on its own: lock file removed, a start by hand is
    // skipped by the drop-in's condition.
    unlock_and_start_primary_by_hand(pair);
    pair.wait(4.0);
    assert!(
        !primary_state(pair).0,
        "a manual start after unlocking is refused by the fence"
    );
    assert!(pair.slashable().is_empty());
}

/// Refused up front: blocked, nothing done to the primary, which goes on signing.
pub fn blocked_before_the_primary_is_touched(pair: &dyn Pair, fault: Fault, words: &str) {
    pair.apply(fault);
    let run = start(pair, vec![]);
    match &run.ended {
        Ended::Blocked(why) => assert!(why.contains(words), "{fault:?}: {why}"),
        other => panic!("{fault:?} should be blocked, ended {other:?}"),
    }
    assert!(run.op.asked.is_empty(), "no confirmation was even asked");
    assert!(
        run.commands().is_empty(),
        "nothing was sent that changes a host: {:?}",
        run.commands()
    );
    assert_eq!(
        run.machine.checklist.item(ItemId::PrimaryStopped).state,
        ItemState::Pending
    );
    let (running, file_state, locked) = primary_state(pair);
    assert!(
        running && file_state == "enabled" && !locked,
        "the primary is untouched"
    );
    pair.wait(9.0);
    assert!(primary_state(pair).0, "and still runs an epoch later");
    if fault != Fault::BackupValidatorRunning {
        assert!(pair.slashable().is_empty());
    }
}

/// A validator that ignores SIGTERM: the stop times out, SIGKILL goes through systemd
/// (after the fence), and nothing restarts it.
pub fn sigterm_ignored_is_escalated(pair: &dyn Pair) {
    pair.apply(Fault::PrimaryIgnoresSigterm);
    let run = start(pair, both_names(pair));
    assert_eq!(
        run.ended,
        Ended::Finished(Outcome::Completed),
        "{:?}",
        run.commands()
    );
    let cmds = run.commands();
    let mask = cmds
        .iter()
        .position(|c| c.contains("mask --runtime"))
        .expect("masked");
    let kill = cmds
        .iter()
        .position(|c| c.starts_with("systemctl kill") && c.contains("--signal=SIGKILL"))
        .unwrap_or_else(|| panic!("escalated: {cmds:?}"));
    assert!(mask < kill, "fenced before the kill: {cmds:?}");
    pair.wait(7.0);
    let (running, _, locked) = primary_state(pair);
    assert!(!running && locked, "nothing restarts it");
    assert!(pair.slashable().is_empty());
}

/// The stop is confirmed only by the primary's exact name.
pub fn wrong_confirmation_is_asked_again(pair: &dyn Pair) {
    let backup = pair.config().backup.name;
    let run = start(
        pair,
        vec![
            Answer::Typed(backup.clone()),
            Answer::Typed(format!(" {} ", primary_name(pair))),
            Answer::Typed(primary_name(pair)),
            Answer::Typed(backup),
        ],
    );
    assert_eq!(run.op.asked.len(), 4, "each asked again after a wrong name");
    assert_eq!(run.ended, Ended::Finished(Outcome::Completed));
    let refused = run
        .journal()
        .iter()
        .any(|e| matches!(&e.record, Record::Gate { gate, open: false, .. } if *gate == GateId::StopConfirmation));
    assert!(refused);
}

/// Rolled back after the stop: unfenced, started, signing again, nothing twice.
pub fn rollback_after_the_stop_restores_the_primary(pair: &dyn Pair) {
    let run = start(
        pair,
        vec![Answer::Typed(primary_name(pair)), rollback_typed(pair)],
    );
    let ended = run.ended.clone();
    assert!(
        matches!(run.op.asked.last(), Some(Confirm::StartBackup { .. })),
        "rolled back at the start"
    );
    assert_eq!(
        ended,
        Ended::Finished(Outcome::RolledBack),
        "{:?}",
        run.commands()
    );
    let (running, file_state, locked) = primary_state(pair);
    assert!(
        running && file_state == "enabled" && !locked,
        "{running} {file_state} {locked}"
    );
    assert!(!backup_running(pair), "the backup was never unlocked");
    // Its one step, and what it undid: the primary's stop (items 1-2), nothing of
    // the backup's, which was never begun.
    assert_eq!(
        rollback_steps(&run),
        vec![(RollbackStep::PrimaryRestarted, ItemState::Green)],
        "{}",
        dump(&run)
    );
    for n in [ItemId::PrimaryStopped, ItemId::PrimaryKilled] {
        assert!(undone_with_evidence(&run, n), "{n:?}\n{}", dump(&run));
    }
    for n in [
        ItemId::LockFileRemoved,
        ItemId::BackupValidatorStarted,
        ItemId::AttestationsSubmitted,
        ItemId::AlertsCleared,
    ] {
        assert_eq!(
            run.machine.checklist.item(n).state,
            ItemState::Pending,
            "{n:?}"
        );
    }
    pair.wait(9.0);
    assert!(primary_state(pair).0);
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

/// The rollback's steps as the journal last has each, in their order.
pub fn rollback_steps(run: &Run) -> Vec<(RollbackStep, ItemState)> {
    let mut last: std::collections::BTreeMap<RollbackStep, ItemState> = Default::default();
    for e in run.journal() {
        if let Record::RollbackStep { step, state, .. } = e.record {
            last.insert(step, state);
        }
    }
    last.into_iter().collect()
}

/// The item's last record is `undone`, with the rollback's evidence, and the engine's
/// checklist says the same.
pub fn undone_with_evidence(run: &Run, n: ItemId) -> bool {
    let last = run
        .journal()
        .into_iter()
        .rev()
        .find_map(|e| match e.record {
            Record::Item {
                number,
                state,
                evidence,
            } if number == n => Some((state, evidence)),
            _ => None,
        });
    matches!(&last, Some((ItemState::Undone(_), ev)) if !ev.is_empty())
        && matches!(run.machine.checklist.item(n).state, ItemState::Undone(_))
}

/// Two failovers at once: the second is refused by the run lock, with the first's
/// name in the message, and touches nothing; once the first ends, it may run.
pub fn second_failover_is_refused_by_the_run_lock(pair: &dyn Pair) {
    let cfg = pair.config();
    let (p, b) = pair.hosts();
    let tmp = tempfile::tempdir().unwrap();
    let journal = JournalWriter::create(tmp.path(), "first-run", "alice").unwrap();
    let mut first = Driver::new(cfg.clone(), "first-run".into(), p, b, pair.clock(), journal);
    let rt = rt();
    rt.block_on(first.take_run_locks("alice"))
        .unwrap()
        .expect("the first run takes the lock");
    let second = start(pair, both_names(pair));
    match &second.ended {
        Ended::Blocked(why) => assert!(
            why.contains("another failover holds the run lock")
                && why.contains("first-run")
                && why.contains("alice"),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(second.commands().is_empty());
    assert!(second.op.asked.is_empty());
    assert!(primary_state(pair).0, "the primary is untouched");
    rt.block_on(first.release_run_locks()).unwrap();
    let third = start(pair, vec![rollback_typed(pair)]);
    assert_eq!(
        third.ended,
        Ended::Finished(Outcome::RolledBack),
        "free again once the first ended"
    );
}

/// The backup's validator does not come up after its lock was removed: item 7 red;
/// a rollback then stops and re-locks the backup, brings its history back to the
/// primary (it could have signed), and starts the primary.
pub fn failed_start_then_rollback_relocks_the_backup(pair: &dyn Pair) {
    pair.apply(Fault::BackupStartSkipped);
    let mut run = start(pair, both_names(pair));
    match &run.ended {
        Ended::Finished(Outcome::Failed(why)) => assert!(why.contains("not running"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        run.machine
            .checklist
            .item(ItemId::BackupValidatorStarted)
            .state,
        ItemState::Red(_)
    ));
    let now = pair.clock().now();
    let ended = run.send(Event::Rollback { now }, vec![]);
    assert_eq!(
        ended,
        Ended::Finished(Outcome::RolledBack),
        "{}",
        dump(&run)
    );
    let cfg = pair.config();
    assert!(!backup_running(pair));
    let lock = stat(pair, Role::Backup, &cfg.validator.lock_file);
    assert_eq!((lock.user.as_str(), lock.mode), ("root", 0o444));
    let cmds = run.commands();
    let relock = cmds
        .iter()
        .position(|c| c.starts_with("write /etc/quantapool/VALIDATOR_LOCKED"))
        .unwrap();
    let back = cmds
        .iter()
        .rposition(|c| c.contains("tar -czf"))
        .expect("the backup's history archived");
    let start = cmds
        .iter()
        .rposition(|c| c.starts_with("systemctl start"))
        .unwrap();
    assert!(
        relock < back && back < start,
        "re-lock, history back, then start: {cmds:?}"
    );
    // Item 7 was red, 6 green: both undone; 8 and 9 were never begun.
    for n in [ItemId::LockFileRemoved, ItemId::BackupValidatorStarted] {
        assert!(undone_with_evidence(&run, n), "{n:?}\n{}", dump(&run));
    }
    for n in [ItemId::AttestationsSubmitted, ItemId::AlertsCleared] {
        assert_eq!(
            run.machine.checklist.item(n).state,
            ItemState::Pending,
            "{n:?}"
        );
    }
    let (running, _, locked) = primary_state(pair);
    assert!(running && !locked, "the primary signs again");
    pair.wait(9.0);
    assert!(pair.slashable().is_empty());
}

/// Declining at the confirmation: nothing was done, nothing to undo.
pub fn rollback_at_the_confirmation_touches_nothing(pair: &dyn Pair) {
    let run = start(pair, vec![rollback_typed(pair)]);
    assert_eq!(run.ended, Ended::Finished(Outcome::RolledBack));
    assert!(run.commands().is_empty());
    assert!(primary_state(pair).0);
}

/// The (key index, target epoch) records of a host's history: its validator.db read
/// as qrysm's bbolt DB (the lab's is written by the real bbolt library, the
/// simulator's by ours), each 2,592-byte key mapped back to its index.
pub fn history_records(pair: &dyn Pair, role: Role) -> Vec<(u64, u64)> {
    let db = read(pair, role, &pair.history_file());
    let h = validator_failover::validator_db::read_history_bytes(&db, "validator.db")
        .unwrap_or_else(|e| panic!("{role}'s history is not qrysm's DB: {e}"));
    let mut out = Vec::new();
    for (pk, kh) in &h.keys {
        let hex: String = pk.iter().map(|b| format!("{b:02x}")).collect();
        let index = (0..64u64)
            .find(|i| validator_failover::hosts::sim::sim_pubkey(*i) == format!("0x{hex}"))
            .unwrap_or_else(|| panic!("{role}'s history holds a key the lab does not have"));
        for target in kh.attestations.keys() {
            out.push((index, *target));
        }
    }
    out.sort_unstable();
    out
}

/// Everything `from` signed is in `to`'s history (which may have signed more since).
pub fn assert_history_within(pair: &dyn Pair, from: Role, to: Role) {
    let a = history_records(pair, from);
    let b = history_records(pair, to);
    assert!(!a.is_empty(), "{from} has signed something");
    for r in &a {
        assert!(
            b.contains(r),
            "{r:?} signed by the {from} is not in the {to}'s history"
        );
    }
}

/// The journal, one line an entry, for a failure message.
pub fn dump(run: &Run) -> String {
    run.journal()
        .iter()
        .map(|e| format!("{} {:?}", &e.time[11..19], e.record))
        .collect::<Vec<_>>()
        .join("\n")
}

fn primary_commands(run: &Run) -> Vec<String> {
    run.journal()
        .into_iter()
        .filter_map(|e| match e.record {
            Record::Command {
                host: Role::Primary,
                command,
                ..
            } if !command.contains(RUN_LOCK) => Some(command),
            _ => None,
        })
        .collect()
}

/// The primary is powered off: nothing can be verified or touched on it. The newest
/// archive goes to the backup, the liveness gate waits the configured quiet epochs,
/// then the backup starts; nothing signs twice.
pub fn powered_off_primary_goes_through_the_liveness_wait(pair: &dyn Pair) {
    pair.apply(Fault::PrimaryHistoryArchived);
    pair.apply(Fault::PrimaryPoweredOff);
    let cfg = pair.config();
    let run = start(pair, both_names(pair));
    assert_eq!(
        run.ended,
        Ended::Finished(Outcome::Completed),
        "{}",
        dump(&run)
    );
    match &run.op.asked[0] {
        Confirm::UnverifiedPrimary {
            archive,
            wait_epochs,
            ..
        } => {
            assert!(
                archive.starts_with("backup:/opt/quantapool/backups/slashing-protection-"),
                "{archive}"
            );
            assert_eq!(*wait_epochs, cfg.failover.liveness_epochs);
        }
        other => panic!("asked {other:?} first"),
    }
    // The newest of the backup's archives: the one that holds the history.
    let newest = listing(pair, Role::Backup, "/opt/quantapool/backups")
        .into_iter()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|p| p.ends_with(".tar.gz"))
        .max()
        .unwrap();
    let journal = run.journal();
    assert!(
        journal.iter().any(|e| matches!(&e.record, Record::Command { host: Role::Backup, command, .. } if command.contains(&newest))),
        "the newest archive {newest} was used\n{}",
        dump(&run)
    );
    assert!(
        primary_commands(&run).is_empty(),
        "nothing is sent to the primary"
    );
    // The wait: from the confirmation to the lock's removal, the configured epochs.
    let confirmed = journal
        .iter()
        .find(|e| matches!(&e.record, Record::Confirmation { action, .. } if action.contains("without the primary")))
        .expect("confirmed")
        .at;
    let unlocked = journal
        .iter()
        .find(|e| {
            matches!(
                &e.record,
                Record::Item {
                    number: ItemId::LockFileRemoved,
                    state: ItemState::Green,
                    ..
                }
            )
        })
        .expect("item 6 green")
        .at;
    // The gate counts whole quiet epochs from the one before the wait began (a key
    // not live in it did not sign then either: `engine::gate`, `Unverified`), so
    // with N required the last one counted ends at the earliest N-1 epochs after
    // the confirmation's epoch; the lock comes off only after it ended. (When the
    // primary still attested in the epoch before, the wait is a whole N epochs.)
    let clock = run.machine.chain.unwrap();
    let since = clock.epoch_at(confirmed);
    let last_counted = since + cfg.failover.liveness_epochs - 2;
    assert!(
        unlocked >= clock.epoch_start(last_counted + 1) as f64,
        "unlocked at {unlocked:.0}, before the end of epoch {last_counted} ({} quiet epochs from epoch {} on, confirmed in epoch {since})",
        cfg.failover.liveness_epochs,
        since - 1
    );
    assert!(
        journal.iter().any(|e| matches!(&e.record, Record::Item { number: ItemId::PrimaryStopped, state: ItemState::Running, evidence } if evidence.iter().any(|v| v.observed.contains("quiet epochs") && v.observed.contains("missed duties")))),
        "the countdown and its cost were shown"
    );
    assert!(
        journal.iter().any(|e| matches!(&e.record, Record::Liveness { verdict: validator_failover::engine::gate::LivenessVerdict::Waiting { earliest: Some(_), required, .. } } if *required == cfg.failover.liveness_epochs)),
        "the wait journaled as data, with the earliest time it can open"
    );
    assert!(backup_running(pair));
    pair.wait(9.0);
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

/// A powered-off primary never paces the run: the question of the unreachable path
/// comes within the connect timeout of the run's start (a functional bound from the
/// configuration, with 10 s for the backup's own looks), and the primary's
/// connection attempts are in the journal, typed unreachable or timed out.
pub fn powered_off_primary_is_asked_within_the_connect_timeout(pair: &dyn Pair) {
    pair.apply(Fault::PrimaryHistoryArchived);
    pair.apply(Fault::PrimaryPoweredOff);
    let run = start(pair, vec![Answer::Decline]);
    assert_asked_within_the_connect_timeout(&run, &pair.config());
}

/// What `powered_off_primary_is_asked_within_the_connect_timeout` asserts of a run.
pub fn assert_asked_within_the_connect_timeout(
    run: &Run,
    cfg: &validator_failover::config::Config,
) {
    assert!(
        matches!(
            run.op.asked.first(),
            Some(Confirm::UnverifiedPrimary { .. })
        ),
        "asked {:?} first\n{}",
        run.op.asked,
        dump(run)
    );
    let journal = run.journal();
    let started = journal[0].at;
    let asked = journal
        .iter()
        .find(|e| {
            matches!(
                &e.record,
                Record::Gate {
                    gate: GateId::FirstGate,
                    open: true,
                    ..
                }
            )
        })
        .unwrap_or_else(|| {
            panic!(
                "the first gate opened on the unreachable path\n{}",
                dump(run)
            )
        })
        .at;
    let bound = cfg.ssh.connect_timeout.as_secs_f64() + 10.0;
    assert!(
        asked - started <= bound,
        "the question came {:.1} s after the start, more than the connect timeout ({} s) + 10 s\n{}",
        asked - started,
        cfg.ssh.connect_timeout.as_secs(),
        dump(run)
    );
    // The primary's attempts: the run lock and the first gate's looks, each failed
    // as a host that cannot be reached.
    let attempts: Vec<&Entry> = journal
        .iter()
        .filter(|e| e.at <= asked)
        .filter(|e| match &e.record {
            Record::Probe {
                host: Some(Role::Primary),
                ok,
                observed,
                ..
            } => {
                assert!(!ok, "nothing answers on a powered-off primary: {observed}");
                true
            }
            Record::Command {
                host: Role::Primary,
                status,
                ..
            } => {
                assert_eq!(*status, None, "no command ran on a powered-off primary");
                true
            }
            _ => false,
        })
        .collect();
    assert!(
        attempts.iter().any(|e| matches!(&e.record, Record::Command { command, excerpt, .. } if command.contains(RUN_LOCK) && (excerpt.starts_with("unreachable") || excerpt.starts_with("timed out")))),
        "the run lock's attempt on the primary is journaled\n{}",
        dump(run)
    );
    assert!(
        attempts.iter().any(|e| matches!(&e.record, Record::Probe { observed, .. } if observed.starts_with("unreachable") || observed.starts_with("timed out"))),
        "the first gate's looks at the primary are journaled\n{}",
        dump(run)
    );
}

/// The primary cannot be reached but still signs (sshd down, validator running):
/// the liveness gate never opens, the backup is never unlocked.
pub fn primary_alive_behind_a_cut_never_opens_the_gate(pair: &dyn Pair) {
    pair.apply(Fault::PrimaryHistoryArchived);
    pair.apply(Fault::PrimarySshdDown);
    let mut cfg = pair.config();
    cfg.failover.gate_timeout = Duration::from_secs(40);
    let run = start_with(
        pair,
        cfg.clone(),
        |_| {},
        Event::Begin { now: 0.0 },
        vec![Answer::Typed(primary_name(pair))],
    );
    match &run.ended {
        Ended::Finished(Outcome::Failed(why)) => {
            assert!(why.contains("held at the Start gate"), "{why}");
            assert!(why.contains("still signing"), "{why}");
        }
        other => panic!("{other:?}\n{}", dump(&run)),
    }
    assert!(
        !run.op
            .asked
            .iter()
            .any(|q| matches!(q, Confirm::StartBackup { .. })),
        "the start was never offered"
    );
    assert!(!backup_running(pair));
    assert!(
        !run.commands()
            .iter()
            .any(|c| c.contains("rm ") && c.contains("VALIDATOR_LOCKED")),
        "the backup's lock was never removed: {:?}",
        run.commands()
    );
    assert_eq!(
        run.machine.checklist.item(ItemId::LockFileRemoved).state,
        ItemState::Pending
    );
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

/// The primary powered off, and only the role's backups, which hold no history (an
/// empty directory in the reference layout, the backup's own unsigned DB in the
/// runbook's): no archive can stand in for the history, so the way forward that is
/// safe is offered with its cost: a watermark from the chain (per key the current
/// epoch as target, the justified epoch as source) imported into the backup's
/// history, then the liveness wait, then the start. Nothing slashable follows, and the
/// backup's history refuses everything at or below the watermark.
pub fn powered_off_primary_with_only_empty_archives_goes_through_a_watermark(pair: &dyn Pair) {
    pair.apply(Fault::PrimaryPoweredOff);
    let cfg = pair.config();
    let run = start(pair, both_names(pair));
    assert_eq!(
        run.ended,
        Ended::Finished(Outcome::Completed),
        "{}",
        dump(&run)
    );
    match &run.op.asked[0] {
        Confirm::UnverifiedPrimary {
            archive,
            wait_epochs,
            ..
        } => {
            assert!(archive.contains("watermark from the chain"), "{archive}");
            assert_eq!(*wait_epochs, cfg.failover.liveness_epochs);
        }
        other => panic!("asked {other:?} first"),
    }
    let journal = run.journal();
    assert!(
        journal.iter().any(|e| matches!(&e.record, Record::Gate { why, .. } if why.contains("none of the") && why.contains("missed attester duties"))),
        "why, and the cost, said before the question\n{}",
        dump(&run)
    );
    let imported = run.commands().iter().any(|c| {
        c.contains("slashing-protection-history import") && c.contains("--accept-terms-of-use")
    });
    assert!(imported, "{:?}", run.commands());
    // Every key's watermark is in the backup's history, below what it signed since.
    let marks = journal
        .iter()
        .find_map(|e| match &e.record {
            Record::Probe { observed, .. }
                if observed.starts_with("a watermark from the chain") =>
            {
                Some(observed.clone())
            }
            _ => None,
        })
        .expect("the watermark journaled");
    let target: u64 = marks
        .split("target epoch ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("target epoch in the watermark");
    let records = history_records(pair, Role::Backup);
    for k in &cfg.validator.indices {
        assert!(records.contains(&(*k, target)), "key {k}: {records:?}");
        assert!(
            records
                .iter()
                .filter(|(i, _)| i == k)
                .all(|(_, t)| *t >= target),
            "nothing below the watermark for key {k}: {records:?}"
        );
    }
    assert!(backup_running(pair));
    pair.wait(9.0);
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

/// Without an answer for the unverified path (automation without the flag): blocked,
/// nothing touched.
pub fn unreachable_primary_declined_touches_nothing(pair: &dyn Pair) {
    pair.apply(Fault::PrimaryHistoryArchived);
    pair.apply(Fault::PrimaryPoweredOff);
    let run = start(pair, vec![Answer::Decline]);
    assert!(matches!(run.ended, Ended::Blocked(_)), "{:?}", run.ended);
    assert!(run.commands().is_empty(), "{:?}", run.commands());
}

/// The typed statement that the primary is fenced out of band opens the gate without
/// the wait; it is recorded.
pub fn fenced_out_of_band_statement_skips_the_wait(pair: &dyn Pair) {
    pair.apply(Fault::PrimaryHistoryArchived);
    pair.apply(Fault::PrimaryPoweredOff);
    let name = primary_name(pair);
    let statement = format!("{name} powered off at the provider, console shows it halted");
    let st = statement.clone();
    let run = start_with(
        pair,
        pair.config(),
        move |p| p.fenced_out_of_band = Some(st),
        Event::Begin { now: 0.0 },
        both_names(pair),
    );
    assert_eq!(
        run.ended,
        Ended::Finished(Outcome::Completed),
        "{}",
        dump(&run)
    );
    assert!(
        run.journal().iter().any(
            |e| matches!(&e.record, Record::Confirmation { typed, .. } if *typed == statement)
        )
    );
    assert!(run.journal().iter().any(|e| matches!(&e.record, Record::Gate { gate, open: true, .. } if *gate == GateId::FencedOutOfBand)));
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

/// After the backup signed, the rollback stops and re-locks it, brings its history
/// back to the primary (the primary's own set aside), unfences and starts the
/// primary: nothing signs twice.
pub fn rollback_after_the_backup_signed_brings_its_history_back(pair: &dyn Pair) {
    let mut run = start(pair, both_names(pair));
    assert_eq!(
        run.ended,
        Ended::Finished(Outcome::Completed),
        "{}",
        dump(&run)
    );
    pair.wait(4.0);
    let now = pair.clock().now();
    let ended = run.send(Event::Rollback { now }, vec![]);
    assert_eq!(
        ended,
        Ended::Finished(Outcome::RolledBack),
        "{}",
        dump(&run)
    );
    assert!(!backup_running(pair));
    assert!(
        listing(pair, Role::Backup, "/etc/quantapool")
            .iter()
            .any(|p| p.contains("VALIDATOR_LOCKED")),
        "the backup is locked again"
    );
    // The primary has the backup's history (it may have signed more since), every
    // attestation the chain has from the backup included; its own was set aside.
    assert_history_within(pair, Role::Backup, Role::Primary);
    let primary_history = history_records(pair, Role::Primary);
    for r in pair.chain_records(Role::Backup) {
        assert!(
            primary_history.contains(&r),
            "{r:?} is on chain from the backup but not in the primary's history"
        );
    }
    let db = pair.history_file();
    assert!(
        listing(pair, Role::Primary, db.rsplit_once('/').unwrap().0)
            .iter()
            .any(|p| p.contains("/validator.db.old-")),
        "the primary's previous history is kept"
    );
    let (running, file_state, locked) = primary_state(pair);
    assert!(
        running && file_state == "enabled" && !locked,
        "{running} {file_state} {locked}"
    );
    // Its four steps, each green, and what it undid: items 6-9 (the backup's start)
    // and 1-2 (the primary's stop), each with the rollback's evidence.
    assert_eq!(
        rollback_steps(&run),
        RollbackStep::ALL
            .into_iter()
            .map(|s| (s, ItemState::Green))
            .collect::<Vec<_>>(),
        "{}",
        dump(&run)
    );
    for n in [
        ItemId::PrimaryStopped,
        ItemId::PrimaryKilled,
        ItemId::LockFileRemoved,
        ItemId::BackupValidatorStarted,
        ItemId::AttestationsSubmitted,
        ItemId::AlertsCleared,
    ] {
        assert!(undone_with_evidence(&run, n), "{n:?}\n{}", dump(&run));
    }
    let journal = run.journal();
    let relocked = journal
        .iter()
        .position(|e| {
            matches!(
                &e.record,
                Record::RollbackStep {
                    step: RollbackStep::BackupRelocked,
                    state: ItemState::Green,
                    ..
                }
            )
        })
        .unwrap();
    let seven_undone = journal
        .iter()
        .position(|e| {
            matches!(
                &e.record,
                Record::Item {
                    number: ItemId::BackupValidatorStarted,
                    state: ItemState::Undone(_),
                    ..
                }
            )
        })
        .unwrap();
    let primary_start = journal
        .iter()
        .rposition(|e| matches!(&e.record, Record::Command { host: Role::Primary, command, .. } if command.starts_with("systemctl start")))
        .unwrap();
    assert!(
        relocked < seven_undone && seven_undone < primary_start,
        "item 7 undone once the backup was seen locked again, before the primary starts"
    );
    pair.wait(9.0);
    assert!(primary_state(pair).0);
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

/// The rollback command on its own, after a whole failover: it learns from the
/// hosts that the backup signed, and does the same.
pub fn rollback_command_after_a_failover(pair: &dyn Pair) {
    let run = start(pair, both_names(pair));
    assert_eq!(
        run.ended,
        Ended::Finished(Outcome::Completed),
        "{}",
        dump(&run)
    );
    drop(run);
    pair.wait(4.0);
    let rb = start_with(
        pair,
        pair.config(),
        |_| {},
        Event::BeginRollback { now: 0.0 },
        vec![
            Answer::Typed("wrong".into()),
            Answer::Typed(primary_name(pair)),
        ],
    );
    assert_eq!(
        rb.ended,
        Ended::Finished(Outcome::RolledBack),
        "{}",
        dump(&rb)
    );
    assert_eq!(rb.op.asked.len(), 2, "a wrong name is asked again");
    assert!(!backup_running(pair));
    let (running, file_state, locked) = primary_state(pair);
    assert!(
        running && file_state == "enabled" && !locked,
        "{running} {file_state} {locked}"
    );
    assert_history_within(pair, Role::Backup, Role::Primary);
    pair.wait(9.0);
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

/// The emergency stop-all, instead of the stop confirmation: both validators
/// stopped and fenced, verified.
pub fn stop_all_stops_and_fences_both(pair: &dyn Pair) {
    let run = start(pair, vec![stop_all_key()]);
    assert_eq!(
        run.ended,
        Ended::Finished(Outcome::StoppedAll),
        "{}",
        dump(&run)
    );
    let (running, file_state, locked) = primary_state(pair);
    assert!(
        !running && file_state != "enabled" && locked,
        "{running} {file_state} {locked}"
    );
    assert!(!backup_running(pair));
    let dropin = "/run/systemd/system/qrysm-validator.service.d";
    for role in Role::BOTH {
        assert!(
            listing(pair, role, dropin)
                .iter()
                .any(|p| p.contains("zz-validator-failover-fence.conf")),
            "{role} is fenced"
        );
    }
    pair.wait(9.0);
    assert!(
        !primary_state(pair).0 && !backup_running(pair),
        "nothing restarted them"
    );
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

/// How the other run ended, and its journal.
type TheirRun = (Ended, Vec<Entry>);

/// The emergency stop-all goes first (`stop-all --confirm PRIMARY,BACKUP`, for a
/// slashing monitor): a failover of the pair is held at the Start gate (the backup's
/// beacon node syncing) and holds the run lock on both hosts; a second run, the
/// stop-all, is refused by nothing, fences and stops both; the held run finds the
/// backup fenced at its next look and ends. Both journals say so.
pub fn stop_all_goes_first_over_a_run_in_progress(pair: &dyn Pair) {
    let switch = pair.beacon_syncing_switch();
    let cfg = pair.config();
    let (p, b) = pair.hosts();
    let clock = pair.clock();
    let expected = format!("{},{}", cfg.primary.name, cfg.backup.name);
    let second: Arc<Mutex<Option<TheirRun>>> = Default::default();
    let out = second.clone();
    let mut sent = false;
    let listener: validator_failover::driver::Listener =
        Box::new(move |e: &Entry| match &e.record {
            Record::Confirmation { action, typed }
                if action == "stop the primary" && !typed.is_empty() =>
            {
                switch(true)
            }
            Record::Gate {
                gate: GateId::Start,
                open: false,
                ..
            } if !sent => {
                sent = true;
                // The monitor's stop-all, as another process would run it.
                let (cfg, p, b, clock, typed, out) = (
                    cfg.clone(),
                    p.clone(),
                    b.clone(),
                    clock.clone(),
                    expected.clone(),
                    out.clone(),
                );
                std::thread::spawn(move || {
                    let tmp = tempfile::tempdir().unwrap();
                    let journal =
                        JournalWriter::create(tmp.path(), "stop-all-run", "monitor").unwrap();
                    let mut driver = Driver::new(
                        cfg.clone(),
                        "stop-all-run".into(),
                        p,
                        b,
                        clock.clone(),
                        journal,
                    );
                    driver.precedence = true;
                    let mut machine = Failover::new(Plan::from_config(&cfg));
                    let mut op = Scripted {
                        answers: vec![Answer::Typed(typed)].into(),
                        asked: Vec::new(),
                    };
                    let now = clock.now();
                    let ended = tokio::runtime::Runtime::new()
                        .unwrap()
                        .block_on(driver.run(
                            &mut machine,
                            "monitor",
                            &mut op,
                            Event::BeginStopAll { now },
                        ))
                        .expect("journal writes");
                    let entries = read_journal(driver.journal.dir()).expect("the journal verifies");
                    *out.lock().unwrap() = Some((ended, entries));
                })
                .join()
                .expect("the stop-all ran");
            }
            _ => {}
        });
    let run = start_listening(
        pair,
        listener,
        vec![Answer::Typed(pair.config().primary.name)],
    );
    pair.beacon_syncing_switch()(false);
    let (ended, theirs) = second.lock().unwrap().take().expect("the stop-all ran");
    assert_eq!(ended, Ended::Finished(Outcome::StoppedAll), "{theirs:#?}");
    assert!(
        theirs.iter().any(|e| matches!(&e.record, Record::Gate { gate: GateId::StopAll, open: true, why, .. } if why.contains("another run holds the run lock"))),
        "the stop-all went first over the held run lock"
    );
    assert!(
        theirs.iter().any(
            |e| matches!(&e.record, Record::Confirmation { typed, .. } if typed.contains(','))
        )
    );
    // The held run found the fence and ended, saying why.
    assert!(
        matches!(&run.ended, Ended::Finished(Outcome::Failed(why)) if why.contains("emergency stop-all of the pair is in force")),
        "{:?}\n{}",
        run.ended,
        dump(&run)
    );
    assert!(run.journal().iter().any(|e| matches!(
        &e.record,
        Record::Gate {
            gate: GateId::StopAll,
            open: false,
            ..
        }
    )));
    let (running, _, locked) = primary_state(pair);
    assert!(!running && locked);
    assert!(!backup_running(pair));
    for role in Role::BOTH {
        assert!(
            listing(pair, role, "/run/systemd/system/qrysm-validator.service.d")
                .iter()
                .any(|p| p.contains("zz-validator-failover-fence.conf")),
            "{role} is fenced"
        );
    }
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

/// The backup's beacon node falls behind right after the stop was confirmed: the
/// Start gate holds (item 4 red, the reason said), and opens once it has caught up.
pub fn backup_syncing_after_the_stop_is_held_at_the_gate(pair: &dyn Pair) {
    let switch = pair.beacon_syncing_switch();
    let mut seen = 0;
    let listener: validator_failover::driver::Listener =
        Box::new(move |e: &Entry| match &e.record {
            Record::Confirmation { action, typed }
                if action == "stop the primary" && !typed.is_empty() =>
            {
                switch(true)
            }
            Record::Probe {
                host: Some(Role::Backup),
                observed,
                ..
            } if observed.contains("is_syncing=true") => {
                seen += 1;
                if seen == 3 {
                    switch(false);
                }
            }
            _ => {}
        });
    let run = start_listening(pair, listener, both_names(pair));
    assert_eq!(
        run.ended,
        Ended::Finished(Outcome::Completed),
        "{}",
        dump(&run)
    );
    let journal = run.journal();
    let held = journal
        .iter()
        .position(|e| matches!(&e.record, Record::Gate { gate, open: false, why, .. } if *gate == GateId::Start && why.contains("syncing")))
        .unwrap_or_else(|| panic!("held at the gate for the sync\n{}", dump(&run)));
    let opened = journal
        .iter()
        .position(|e| matches!(&e.record, Record::Gate { gate, open: true, .. } if *gate == GateId::Start))
        .expect("the gate opened");
    assert!(held < opened, "held first, then open");
    assert!(
        journal.iter().any(|e| matches!(&e.record, Record::Gate { gate, open: false, why, .. } if *gate == GateId::BackupReadiness && why.contains("syncing"))),
        "the slip was seen while the history moved\n{}",
        dump(&run)
    );
    let unlocked = journal
        .iter()
        .position(|e| {
            matches!(
                &e.record,
                Record::Item {
                    number: ItemId::LockFileRemoved,
                    state: ItemState::Running,
                    ..
                }
            )
        })
        .unwrap();
    assert!(
        opened < unlocked,
        "the lock came off only after the gate opened"
    );
    assert!(journal[held..opened].iter().any(|e| matches!(
        &e.record,
        Record::Item {
            number: ItemId::BackupBeaconSynced,
            state: ItemState::Red(_),
            ..
        }
    )));
    pair.wait(9.0);
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

/// Item 9 after the start: the backup's beacon node no longer answers (garbage for
/// every request) once item 8 is green. Item 9 stays red with the reason, never green
/// by default, and the closing line says where both validators stand: the backup
/// signs, the primary is stopped and fenced.
pub fn item_9_red_when_the_beacon_node_cannot_answer_after_the_start(pair: &dyn Pair) {
    let switch = pair.beacon_garbage_switch();
    let off = switch.clone();
    let listener: validator_failover::driver::Listener = Box::new(move |e: &Entry| {
        if let Record::Item {
            number: ItemId::AttestationsSubmitted,
            state: ItemState::Green,
            ..
        } = &e.record
        {
            switch(true)
        }
    });
    let run = start_listening(pair, listener, both_names(pair));
    off(false);
    let Ended::Finished(Outcome::Failed(why)) = &run.ended else {
        panic!("failed at item 9: {:?}\n{}", run.ended, dump(&run));
    };
    assert!(
        why.starts_with(
            "item 9 could not be verified: the beacon node did not answer for our validators"
        ),
        "{why}"
    );
    assert!(why.contains("attester-slashing pool"), "{why}");
    for n in 1..=8 {
        let item = run.machine.checklist.item(ItemId::from_number(n).unwrap());
        assert_eq!(item.state, ItemState::Green, "item {n}: {item:?}");
    }
    assert_eq!(
        run.machine.checklist.item(ItemId::AlertsCleared).state,
        ItemState::Red(why.clone())
    );
    let standing = run.machine.standing();
    assert_eq!(standing.primary, PrimaryStanding::StoppedAndFenced);
    let BackupStanding::Signs { at: Some(started) } = standing.backup else {
        panic!("the backup signs: {standing:?}");
    };
    let line = standing.with(why);
    assert_eq!(
        line,
        format!(
            "the backup signs (started {}, attestations seen); {why}; the primary is stopped and fenced",
            validator_failover::engine::machine::clock_time(started)
        )
    );
    assert!(backup_running(pair), "the backup still signs");
    pair.wait(9.0);
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

/// Item 9 after the start: a vote of one of our keys conflicting with an earlier one
/// turns up in the chain record, so the beacon node reports the key slashed. Item 9
/// is red naming the index, from `validator.slashed`, and the pool's slashing too.
pub fn a_slashed_index_turns_item_9_red(pair: &dyn Pair) {
    let vote = pair.conflicting_vote();
    let listener: validator_failover::driver::Listener = Box::new(move |e: &Entry| {
        if let Record::Item {
            number: ItemId::AttestationsSubmitted,
            state: ItemState::Green,
            ..
        } = &e.record
        {
            vote(2)
        }
    });
    let run = start_listening(pair, listener, both_names(pair));
    let Ended::Finished(Outcome::Failed(why)) = &run.ended else {
        panic!("failed at item 9: {:?}\n{}", run.ended, dump(&run));
    };
    assert!(
        why.starts_with(
            "ALARM: validator 2 is slashed (status active_slashed, validator.slashed true)"
        ),
        "{why}"
    );
    assert!(
        why.contains("attester slashings of our indices [2] are in the pool"),
        "{why}"
    );
    assert!(
        !why.contains("validator 0")
            && !why.contains("validator 1 ")
            && !why.contains("validator 3"),
        "only index 2: {why}"
    );
    let item = run.machine.checklist.item(ItemId::AlertsCleared);
    assert_eq!(item.state, ItemState::Red(why.clone()));
    assert!(
        item.evidence
            .iter()
            .any(|e| e.via.contains("beacon/states/head/validators")
                && e.observed.contains("2: active_slashed slashed=true")),
        "{:?}",
        item.evidence
    );
    let line = run.machine.standing().with(why);
    assert!(
        line.starts_with("the backup signs (started ")
            && line.ends_with("; the primary is stopped and fenced"),
        "{line}"
    );
    // The chain record holds the conflicting vote this scenario put there, and on the
    // simulated pair nothing else (the lab's chain check reports its findings as one).
    let found = pair.slashable();
    assert_eq!(found.len(), 1, "{found:?}");
}

/// Item 3 by the client's EIP-3076 export on the primary and import on the backup:
/// validated (each key's last signed target epoch read), sha256 on both ends, the
/// backup's history copied aside first, imported, owned; the backup signs nothing
/// the primary signed.
pub fn eip3076_method_exports_and_imports(pair: &dyn Pair) {
    let mut cfg = pair.config();
    cfg.failover.method = validator_failover::config::TransferMethod::Eip3076;
    let run = start_with(
        pair,
        cfg.clone(),
        |_| {},
        Event::Begin { now: 0.0 },
        both_names(pair),
    );
    assert_eq!(
        run.ended,
        Ended::Finished(Outcome::Completed),
        "{}",
        dump(&run)
    );
    let cmds = run.commands();
    let export = cmds
        .iter()
        .position(|c| c.contains("slashing-protection-history export"))
        .expect("exported");
    let import = cmds
        .iter()
        .position(|c| c.contains("slashing-protection-history import"))
        .expect("imported");
    let aside = cmds
        .iter()
        .position(|c| c.starts_with("mv -T --") && c.contains("validator.db.old-"))
        .expect("the backup's previous history set aside before the import");
    assert!(export < aside && aside < import, "{cmds:?}");
    assert!(
        cmds[export].contains("--accept-terms-of-use")
            && cmds[import].contains("--accept-terms-of-use"),
        "the client's terms of use accepted on the command line (its prompt reads a null stdin): {cmds:?}"
    );
    assert!(
        !cmds.iter().any(|c| c.contains("tar -czf")),
        "not the archive: {cmds:?}"
    );
    let item3 = run
        .machine
        .checklist
        .item(ItemId::SlashingProtectionTransferred);
    assert_eq!(item3.state, ItemState::Green);
    assert!(
        item3
            .evidence
            .iter()
            .any(|e| e.observed.contains("EIP-3076 v5: 4 key(s)")
                && e.observed.contains("last signed target epoch")),
        "{:?}",
        item3.evidence
    );
    assert!(
        run.journal().iter().any(|e| matches!(&e.record, Record::Gate { gate, why, .. } if *gate == GateId::Liveness && why.contains("by index {0: "))),
        "the liveness gate judges each key from its last signed epoch\n{}",
        dump(&run)
    );
    let db = pair.history_file();
    let owner = stat(pair, Role::Backup, &db);
    assert_eq!(
        format!("{}:{}", owner.user, owner.group),
        cfg.validator.owner
    );
    assert_eq!(owner.mode, 0o600);
    let datadir = db.rsplit_once('/').unwrap().0.to_string();
    assert!(
        listing(pair, Role::Backup, &datadir)
            .iter()
            .any(|p| p.contains("/validator.db.old-")),
        "the backup's own history set aside"
    );
    // Every (key, target epoch) the primary signed is in the backup's history now,
    // every attestation the chain has from the primary included.
    assert_history_within(pair, Role::Primary, Role::Backup);
    let backup_history = history_records(pair, Role::Backup);
    for r in pair.chain_records(Role::Primary) {
        assert!(
            backup_history.contains(&r),
            "{r:?} is on chain from the primary but not in the backup's history"
        );
    }
    pair.wait(9.0);
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

/// A run killed when its journal shows a command starting with `marker` (its task
/// aborted at the next await: the run lock and the journal left as a crash leaves
/// them), then resumed from its journal by a new driver and machine.
fn killed_then_resumed(pair: &dyn Pair, marker: &'static str) -> (Run, usize) {
    killed_then_resumed_with(pair, marker, both_names(pair), both_names(pair))
}

fn killed_then_resumed_with(
    pair: &dyn Pair,
    marker: &'static str,
    first: Vec<Answer>,
    then: Vec<Answer>,
) -> (Run, usize) {
    let cfg = pair.config();
    let (p, b) = pair.hosts();
    let tmp = tempfile::tempdir().unwrap();
    let journal = JournalWriter::create(tmp.path(), "test-run", "tester").unwrap();
    let dir = journal.dir().to_path_buf();
    let mut driver = Driver::new(
        cfg.clone(),
        "test-run".into(),
        p.clone(),
        b.clone(),
        pair.clock(),
        journal,
    );
    // The kill: the run dies right after the marked command is journaled, wherever
    // it is (a panic unwinds the driver's task, as a SIGKILL would end the program).
    driver.listener = Some(Box::new(move |e: &Entry| {
        if matches!(&e.record, Record::Command { command, .. } if command.starts_with(marker)) {
            panic!("killed after {marker:?}");
        }
    }));
    let mut machine = Failover::new(Plan::from_config(&cfg));
    let mut op = Scripted {
        answers: first.into(),
        asked: Vec::new(),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let killed = rt
        .block_on(async move {
            tokio::spawn(async move { driver.failover(&mut machine, "tester", &mut op).await })
                .await
        })
        .is_err_and(|e| e.is_panic());
    assert!(killed);
    let before = read_journal(&dir)
        .expect("the journal verifies after the kill")
        .len();
    let (primary_touched, backup_touched) =
        validator_failover::engine::machine::resume_facts(&read_journal(&dir).unwrap())
            .expect("the run did not end");
    let journal = JournalWriter::resume(&dir, "tester").unwrap();
    let mut driver = Driver::new(cfg.clone(), "test-run".into(), p, b, pair.clock(), journal);
    let mut machine = Failover::new(Plan::from_config(&cfg));
    let mut op = Scripted {
        answers: then.into(),
        asked: Vec::new(),
    };
    let now = pair.clock().now();
    let ended = rt
        .block_on(driver.run(
            &mut machine,
            "tester",
            &mut op,
            Event::Resume {
                now,
                primary_touched,
                backup_touched,
            },
        ))
        .expect("journal writes");
    (
        Run {
            ended,
            machine,
            driver,
            op,
            _tmp: tmp,
            rt,
        },
        before,
    )
}

/// Killed during the transfer (the archive made on the primary, not yet moved):
/// resumed, the fence asserted again, the stop verified again, the history taken
/// afresh, and the failover finishes; nothing signs twice.
pub fn killed_during_the_transfer_resumes_and_finishes(pair: &dyn Pair) {
    let (run, before) = killed_then_resumed(pair, "tar -czf");
    assert_eq!(
        run.ended,
        Ended::Finished(Outcome::Completed),
        "{}",
        dump(&run)
    );
    let journal = run.journal();
    assert!(journal.len() > before, "one journal, carried on");
    assert!(journal.iter().any(|e| matches!(&e.record, Record::Gate { gate, why, .. } if *gate == GateId::Resume && why.contains("transferring the history afresh"))));
    assert!(backup_running(pair));
    assert!(!primary_state(pair).0);
    pair.wait(9.0);
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

/// Killed during the start (the backup's lock removed, its validator not started):
/// resumed, it rolls back: the backup re-locked, its history back on the primary,
/// the primary signing; nothing signs twice.
pub fn killed_during_the_start_resumes_and_rolls_back(pair: &dyn Pair) {
    let (run, _) = killed_then_resumed(pair, "rm -f -- /etc/quantapool/VALIDATOR_LOCKED");
    assert_eq!(
        run.ended,
        Ended::Finished(Outcome::RolledBack),
        "{}",
        dump(&run)
    );
    assert!(!backup_running(pair));
    assert!(primary_state(pair).0);
    pair.wait(9.0);
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

/// The primary powered off, the run killed right after it removed the backup's lock:
/// resumed, a rollback could not reach the primary, so the Start gate is judged
/// again with a fresh liveness wait, the start asked again, and the backup started.
pub fn killed_during_an_unverified_start_resumes_through_the_gate(pair: &dyn Pair) {
    pair.apply(Fault::PrimaryHistoryArchived);
    pair.apply(Fault::PrimaryPoweredOff);
    let cfg = pair.config();
    let backup = Answer::Typed(cfg.backup.name.clone());
    let (run, _) = killed_then_resumed_with(
        pair,
        "rm -f -- /etc/quantapool/VALIDATOR_LOCKED",
        both_names(pair),
        vec![backup],
    );
    assert_eq!(
        run.ended,
        Ended::Finished(Outcome::Completed),
        "{}",
        dump(&run)
    );
    assert!(
        matches!(run.op.asked.as_slice(), [Confirm::StartBackup { .. }]),
        "only the start is asked again: {:?}",
        run.op.asked
    );
    let journal = run.journal();
    let resumed = journal
        .iter()
        .position(|e| matches!(&e.record, Record::Gate { gate, why, .. } if *gate == GateId::Resume && why.contains("fresh liveness wait")))
        .expect("resumed through the gate");
    assert!(
        journal[resumed..]
            .iter()
            .any(|e| matches!(&e.record, Record::Liveness { .. })),
        "the liveness wait again"
    );
    assert!(
        primary_commands(&run).is_empty(),
        "nothing is sent to the primary"
    );
    assert!(backup_running(pair));
    pair.wait(9.0);
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

/// The reference deployment as its roles leave the hosts: both sshds forbid
/// forwarding (every endpoint is read with curl on the host) and the backup's gzond
/// serves no syncing method. The failover goes through, item 2 on curl's own
/// "connection refused", item 5 on the beacon node's view.
pub fn happy_path_on_the_reference_hardening(pair: &dyn Pair) {
    pair.apply(Fault::SshdHardened);
    pair.apply(Fault::BackupExecDefaultModules);
    let run = start(pair, both_names(pair));
    assert_eq!(
        run.ended,
        Ended::Finished(Outcome::Completed),
        "{}",
        dump(&run)
    );
    for n in 1..=9 {
        let item = run.machine.checklist.item(ItemId::from_number(n).unwrap());
        assert_eq!(item.state, ItemState::Green, "item {n}: {item:?}");
    }
    let two = run.machine.checklist.item(ItemId::PrimaryKilled);
    assert!(
        two.evidence
            .iter()
            .any(|e| e.via.contains("/metrics") && e.via.contains("nothing listens")),
        "item 2 rests on a refused connection on the host: {two:?}"
    );
    let five = run.machine.checklist.item(ItemId::BackupGzondSynced);
    assert!(
        five.evidence.iter().any(|e| e
            .observed
            .contains("judged by the beacon node's view: is_optimistic=false, el_offline=false")),
        "item 5 says what it rests on: {five:?}"
    );
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

/// One test per engine scenario, each on a fresh pair made by `$pair`, so that the
/// simulated and the lab suites run exactly the same list.
#[macro_export]
macro_rules! engine_tests {
    ($pair:expr) => {
        $crate::engine_tests!(@each $pair,
            happy_path_stops_and_fences_the_primary,
            sigterm_ignored_is_escalated,
            wrong_confirmation_is_asked_again,
            rollback_after_the_stop_restores_the_primary,
            rollback_at_the_confirmation_touches_nothing,
            stale_history_is_refused_before_the_backup_starts,
            second_failover_is_refused_by_the_run_lock,
            failed_start_then_rollback_relocks_the_backup,
            powered_off_primary_goes_through_the_liveness_wait,
            powered_off_primary_is_asked_within_the_connect_timeout,
            powered_off_primary_with_only_empty_archives_goes_through_a_watermark,
            primary_alive_behind_a_cut_never_opens_the_gate,
            unreachable_primary_declined_touches_nothing,
            fenced_out_of_band_statement_skips_the_wait,
            rollback_after_the_backup_signed_brings_its_history_back,
            rollback_command_after_a_failover,
            stop_all_stops_and_fences_both,
            stop_all_goes_first_over_a_run_in_progress,
            killed_during_the_transfer_resumes_and_finishes,
            killed_during_an_unverified_start_resumes_through_the_gate,
            eip3076_method_exports_and_imports,
            backup_syncing_after_the_stop_is_held_at_the_gate,
            killed_during_the_start_resumes_and_rolls_back,
            happy_path_on_the_reference_hardening,
            item_9_red_when_the_beacon_node_cannot_answer_after_the_start,
            a_slashed_index_turns_item_9_red,
        );
        $crate::engine_tests!(@blocked $pair,
            blocked_when_backup_validator_runs => BackupValidatorRunning, "the backup's validator is not stopped";
            blocked_when_backup_unlocked => BackupUnlocked, "lock file is gone";
            blocked_when_backup_beacon_syncing => BackupBeaconSyncing, "beacon node is not ready: syncing";
            blocked_when_backup_execution_syncing => BackupExecutionSyncing, "execution node is not ready: syncing";
            blocked_when_primary_history_missing => PrimaryHistoryMissing, "history is not usable";
            blocked_when_primary_history_empty => PrimaryHistoryEmpty, "holds no key";
            blocked_when_primary_history_is_a_link => PrimaryHistorySymlink, "is a symbolic link";
            blocked_when_backup_host_key_mismatch => BackupHostKeyMismatch, "the backup cannot be reached: host key mismatch";
        );
    };
    (@each $pair:expr, $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::common::engine::$name(&$pair);
            }
        )*
    };
    (@blocked $pair:expr, $($name:ident => $fault:ident, $words:expr;)*) => {
        $(
            #[test]
            fn $name() {
                $crate::common::engine::blocked_before_the_primary_is_touched(
                    &$pair,
                    $crate::common::Fault::$fault,
                    $words,
                );
            }
        )*
    };
}
