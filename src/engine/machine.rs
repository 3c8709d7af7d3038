//! THE RUNBOOK as a state machine: `Failover::handle(Event) -> Vec<Effect>`. No I/O:
//! the driver (`src/driver.rs`) executes the effects on the hosts and feeds the
//! results back as events. No interface can talk it into an unsafe step: every step
//! runs only after the observations and confirmations it needs, and every gate is
//! judged on observations made after the step began.
//!
//! The runbook's order: the first gate ("nothing is touched that cannot be
//! finished"), the typed stop confirmation, fencing and stopping the primary with
//! escalation, the independent stop checks of items 1-2, the transfer of item 3, the
//! Start gate (items 1-5 fresh and the liveness gate), the typed start confirmation,
//! items 6-9. An unreachable primary goes through the newest archive and the
//! liveness wait instead. The rollback (with the backup's history brought back to
//! the primary) and the emergency stop-all are reachable from every phase.

use serde::{Deserialize, Serialize};

mod rollback;
mod stop_all;

use super::checklist::{Checklist, Evidence, ItemState};
use super::ids::{GateId, ItemId, Milestone, RollbackStep};
use super::journal::Record;
use super::steps::Action;
use crate::config::Role;
use crate::observed::{
    BeaconSync, ChainInfo, ExecutionSync, Failure, FileInfo, HistoryState, HostError, Metrics,
    UnitState, ValidatorState,
};

/// What an interrupted run's journal says was done: (the primary touched, the
/// backup unlocked), for `Event::Resume`. None when the run ended, or when it was
/// rolling back or stopping all (such a run is not resumed as a failover).
pub fn resume_facts(entries: &[super::journal::Entry]) -> Option<(bool, bool)> {
    let ended_or_undoing = entries.iter().any(|e| {
        matches!(
            &e.record,
            Record::RunEnded { .. }
                | Record::Gate {
                    gate: GateId::Rollback | GateId::StopAll,
                    ..
                }
        )
    });
    if ended_or_undoing {
        return None;
    }
    let format = match entries.first().map(|e| &e.record) {
        Some(Record::RunStarted { format, .. }) => *format,
        _ => 1,
    };
    let reached = |m: Milestone| {
        entries
            .iter()
            .any(|e| matches!(&e.record, Record::Milestone { milestone } if *milestone == m))
    };
    if format >= 2 {
        return Some((
            reached(Milestone::PrimaryTouched),
            reached(Milestone::BackupUnlocked),
        ));
    }
    // Format 1 had no milestones: a command on the primary other than the run
    // lock's, and item 6 begun, said the same.
    let primary = entries.iter().any(|e| {
        matches!(&e.record, Record::Command { host: Role::Primary, command, .. }
            if !command.contains(super::steps::RUN_LOCK))
    });
    let backup = entries.iter().any(|e| {
        matches!(
            &e.record,
            Record::Item {
                number: ItemId::LockFileRemoved,
                state: ItemState::Running | ItemState::Green,
                ..
            }
        )
    });
    Some((primary, backup))
}

/// What the machine needs to know of the pair, from the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub primary: String,
    pub backup: String,
    pub max_sync_distance: u64,
    /// How long `systemctl stop` may take before the escalation.
    pub stop_timeout: f64,
    /// Seconds between the two stop checks of item 1.
    pub verify_interval: f64,
    /// How many looks after the escalation before the stop is declared failed.
    pub verify_attempts: u32,
    /// The fence's runtime drop-in, as `systemctl show -p DropInPaths` lists it.
    pub fence_dropin: String,
    /// The validator indices: the liveness gate and items 8-9 ask the chain about them.
    pub indices: Vec<u64>,
    /// Whole quiet epochs the unverified path waits for.
    pub liveness_epochs: u64,
    /// Epochs to wait for the backup's first attestation before item 8 goes red.
    pub attest_epochs: u64,
    /// Seconds the Start gate may stay shut (a backup node syncing, say) before the
    /// failover gives up, with everything still fenced.
    pub gate_timeout: f64,
    /// A statement, given in advance (automation), that the primary is fenced out of
    /// band: used if the primary cannot be reached.
    pub fenced_out_of_band: Option<String>,
}

impl Plan {
    pub fn from_config(cfg: &crate::config::Config) -> Plan {
        Plan {
            primary: cfg.primary.name.clone(),
            backup: cfg.backup.name.clone(),
            max_sync_distance: cfg.beacon.max_sync_distance,
            stop_timeout: cfg.failover.stop_timeout.as_secs_f64(),
            verify_interval: cfg.failover.verify_interval.as_secs_f64(),
            verify_attempts: 10,
            fence_dropin: super::steps::fence_dropin(cfg),
            indices: cfg.validator.indices.clone(),
            liveness_epochs: cfg.failover.liveness_epochs,
            attest_epochs: 3,
            gate_timeout: cfg.failover.gate_timeout.as_secs_f64(),
            fenced_out_of_band: None,
        }
    }
}

/// An observation the machine asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Observe {
    Unit,
    Processes,
    Metrics,
    Lock,
    History,
    Beacon,
    Execution,
    Chain,
    /// Free bytes where the slashing-protection history will go.
    Space,
    /// The chain's liveness of our keys in this epoch.
    Liveness(u64),
    /// The validator's journal since this unix second.
    JournalSince(u64),
    /// The beacon node's attester-slashing pool: our indices found in it.
    SlashingPool,
    /// Our indices as the head state holds them (`validator.slashed`, status, balance).
    Validators,
    /// The runbook's backup archives of the slashing-protection history: on this
    /// host, and (asked of the backup) on the operator's machine as well.
    Archives,
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Value {
    Liveness(Vec<(u64, bool)>),
    Journal(Vec<String>),
    SlashingPool(Vec<u64>),
    Validators(Vec<ValidatorState>),
    Unit(UnitState),
    Processes(Vec<u32>),
    Metrics(Metrics),
    Lock(Option<FileInfo>),
    History(HistoryState),
    Beacon(BeaconSync),
    Execution(ExecutionSync),
    Chain(ChainInfo),
    Space(u64),
    Archives(Vec<ArchiveAt>),
}

/// A backup archive of the slashing-protection history, and where it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveAt {
    /// The host it is on; None: on the operator's machine.
    pub host: Option<Role>,
    pub path: String,
    pub size: u64,
    pub mtime: f64,
    /// What it holds, once opened: the history's summary, or why it holds none.
    /// None: not opened. Only an archive that holds a history can stand in for the
    /// primary's.
    #[serde(default)]
    pub holds: Option<Result<String, String>>,
}

impl ArchiveAt {
    pub fn holds_history(&self) -> bool {
        matches!(self.holds, Some(Ok(_)))
    }

    pub fn place(&self) -> String {
        match self.host {
            Some(r) => format!("{r}:{}", self.path),
            None => format!("(this machine):{}", self.path),
        }
    }
}

/// Where the history moved by `Effect::Transfer` comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Archived now, from this host's live history (its validator verified stopped).
    Live(Role),
    /// A backup archive made earlier (the primary cannot be reached).
    Archive(ArchiveAt),
    /// The primary cannot be reached and no archive holds a history: a watermark
    /// from the chain (EIP-3076's minimal form: per key the current epoch as target,
    /// the chain's justified epoch as source) imported into the backup's history.
    Watermark,
}

impl Source {
    /// Where the history comes from, in the operator's words.
    pub fn place(&self) -> String {
        match self {
            Source::Live(r) => format!("{r}: its history, archived after the stop"),
            Source::Archive(a) => a.place(),
            Source::Watermark => "a watermark from the chain (no archive holds a history)".into(),
        }
    }

    /// Epochs between the source's making and `now` (0 for what is made now).
    fn age_epochs(&self, clock: &crate::chain::ChainClock, now: f64) -> u64 {
        match self {
            Source::Archive(a) => clock.epoch_at(now).saturating_sub(clock.epoch_at(a.mtime)),
            _ => 0,
        }
    }
}

/// One observation, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    pub host: Role,
    pub what: Observe,
    pub at: f64,
    pub via: String,
    pub value: Result<Value, HostError>,
}

/// The confirmations typed by the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "confirm")]
pub enum Confirm {
    /// Stop the primary: type its name.
    StopPrimary { expect: String },
    /// Start the backup's validator: type the backup's name.
    StartBackup { expect: String },
    /// The primary cannot be reached: go on without verifying its stop, with this
    /// archive, through the liveness wait. Type the primary's name.
    UnverifiedPrimary {
        expect: String,
        archive: String,
        age_epochs: u64,
        wait_epochs: u64,
    },
    /// Roll back: type the primary's name.
    Rollback { expect: String },
    /// Emergency stop-all: stop and fence both validators. Type `STOP`.
    StopAll { expect: String },
}

impl Confirm {
    pub fn expected(&self) -> &str {
        match self {
            Confirm::StopPrimary { expect }
            | Confirm::StartBackup { expect }
            | Confirm::UnverifiedPrimary { expect, .. }
            | Confirm::Rollback { expect }
            | Confirm::StopAll { expect } => expect,
        }
    }
    pub fn action(&self) -> &'static str {
        match self {
            Confirm::StopPrimary { .. } => "stop the primary",
            Confirm::StartBackup { .. } => "start the backup",
            Confirm::UnverifiedPrimary { .. } => {
                "go on without the primary: use the newest archive and wait for the chain"
            }
            Confirm::Rollback { .. } => "roll back to the primary",
            Confirm::StopAll { .. } => "stop and fence both validators",
        }
    }
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Effect {
    /// Observe these on these hosts, all at once, and answer with `Event::Observed`.
    Observe(Vec<(Role, Observe)>),
    /// Do this, with this deadline (seconds), and answer with `Event::Acted`.
    Act { action: Action, timeout: f64 },
    /// Ask the operator to type a confirmation; answer with `Event::Confirmed`.
    Ask(Confirm),
    /// Answer with `Event::Tick` at this unix time.
    WaitUntil(f64),
    /// Write to the run's journal.
    Record(Record),
    /// Move a slashing-protection history from `from` to the host `to` (item 3, or
    /// the rollback's way back) and answer with `Event::Transferred`.
    Transfer { from: Source, to: Role },
    /// Stopped by a safety gate before anything was touched (exit 3, `BLOCKED:`).
    Blocked(String),
    /// The machine has nothing more to do.
    Finished(Outcome),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome", content = "why")]
pub enum Outcome {
    /// The backup signs: items 1-9 green (10 is the operator's notes).
    Completed,
    RolledBack,
    /// The emergency stop-all: both validators stopped and fenced, verified.
    StoppedAll,
    /// A step failed; the checklist says which and why. Roll back or finish by hand.
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Event {
    Begin {
        now: f64,
    },
    Observed {
        now: f64,
        observations: Vec<Observation>,
    },
    Acted {
        now: f64,
        action: Action,
        via: String,
        result: Result<(), HostError>,
    },
    Confirmed {
        now: f64,
        typed: String,
    },
    Tick {
        now: f64,
    },
    Transferred {
        now: f64,
        result: Result<Transferred, String>,
        evidence: Vec<Evidence>,
    },
    /// Undo what was done to the primary (from any point after it was touched).
    Rollback {
        now: f64,
    },
    /// The operator declined the question asked (or automation was not allowed to
    /// answer it): nothing more is done.
    Declined {
        now: f64,
    },
    /// The same run again, after the program was killed: what its journal says was
    /// done. The hosts are looked at again before anything else.
    Resume {
        now: f64,
        primary_touched: bool,
        backup_touched: bool,
    },
    /// A rollback on its own (the `rollback` command): the hosts are looked at first,
    /// to learn what was done to them.
    BeginRollback {
        now: f64,
    },
    /// The stop-all on its own (the `stop-all` command): both names asked first.
    BeginStopAll {
        now: f64,
    },
    /// Emergency stop-all (runbook: "slashing detected or suspected"), from any point.
    StopAll {
        now: f64,
    },
    /// The operator's typed statement that the primary is fenced out of band
    /// (powered off at the provider): the other way through the liveness gate.
    FencedOutOfBand {
        now: f64,
        statement: String,
    },
}

/// What the transfer did, for item 3.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transferred {
    pub archive_sha256: String,
    pub bytes: u64,
    pub files: Vec<crate::archive::ArchivedFile>,
    /// Where the backup's previous history was set aside (never deleted).
    pub set_aside: Option<String>,
    /// The archive's copy beside the run's journal.
    pub local_copy: String,
    /// With the EIP-3076 method: each key's (public key's) last signed target epoch.
    pub last_target: std::collections::BTreeMap<String, Option<u64>>,
    /// The same by validator index, as the beacon node maps the keys: the liveness
    /// gate's threshold per key.
    pub last_signed: std::collections::BTreeMap<u64, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Phase {
    New,
    Preflight,
    /// Resumed after a kill: the backup and the chain looked at again first.
    ResumeSurvey {
        primary_touched: bool,
        backup_touched: bool,
    },
    /// The rollback command: looking at both hosts to learn what to undo.
    RollbackSurvey,
    AwaitRollbackConfirmation,
    /// The stop-all on its own: waiting for both names, typed.
    AwaitStopAllConfirmation,
    AwaitStopConfirmation,
    /// Fencing the primary: the actions in order.
    Fencing(usize),
    Stopping,
    VerifyingStop {
        first_ok: Option<f64>,
        escalated: bool,
        attempts: u32,
    },
    Transferring,
    /// Items 4-5 and the liveness gate, re-probed until the Start gate opens.
    AwaitingGate,
    AwaitStartConfirmation,
    /// Confirmed: one more look before the lock comes off.
    FinalCheck,
    RemovingLock,
    Starting,
    VerifyingStart {
        attempts: u32,
    },
    WatchingAttestations {
        since: f64,
        deadline: f64,
        journal: bool,
    },
    CheckingAlerts,
    Completed,
    /// The primary cannot be reached: asked whether to go on with this history.
    AwaitUnverifiedConfirmation {
        source: Source,
    },
    Blocked(String),
    /// Undoing, step `i` of a sequence (the primary's fence, or the backup's unlock).
    Undoing {
        undo: Undo,
        i: usize,
    },
    /// The rollback after the backup was unlocked: its validator stopped and locked
    /// again, seen so twice, seconds apart, before its history is taken.
    VerifyingBackupStopped {
        first_ok: Option<f64>,
        attempts: u32,
    },
    /// The backup's history on its way back to the primary.
    TransferringBack,
    /// The rollback's Start gate, in reverse: the backup still stopped and locked, the
    /// primary's beacon and execution nodes synced.
    ReverseGate {
        since: f64,
    },
    VerifyingRollback {
        attempts: u32,
    },
    RolledBack,
    VerifyingStopAll {
        escalated: bool,
        attempts: u32,
    },
    StoppedAll,
    Failed(String),
}

/// A sequence of actions run one after the other; a failed one is journaled and the
/// next still runs (each is independent, and a check after the sequence judges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Undo {
    /// The fence and the stop of the primary (`UNFENCE`): it signs again.
    Primary,
    /// The backup's unlock and start (`RELOCK`): it is stopped and locked again.
    Backup,
    /// The emergency stop-all: both fenced, then both stopped.
    StopAll,
}

impl Undo {
    fn actions(self) -> Vec<Action> {
        match self {
            Undo::Primary => UNFENCE.iter().map(|a| a(Role::Primary)).collect(),
            Undo::Backup => RELOCK.iter().map(|a| a(Role::Backup)).collect(),
            Undo::StopAll => {
                let mut v: Vec<Action> = Vec::new();
                for role in Role::BOTH {
                    v.extend(FENCE.iter().map(|a| a(role)));
                }
                v.extend(Role::BOTH.iter().map(|r| Action::Stop(*r)));
                v
            }
        }
    }
}

/// The fence, in order: lock file, not at boot, not at all.
const FENCE: [fn(Role) -> Action; 7] = [
    Action::EnsureLockDir,
    Action::WriteLock,
    Action::Disable,
    Action::MaskRuntime,
    Action::EnsureDropInDir,
    Action::WriteFenceDropIn,
    Action::DaemonReload,
];
/// The rollback of the fence and the stop, in order.
const UNFENCE: [fn(Role) -> Action; 6] = [
    Action::RemoveFenceDropIn,
    Action::UnmaskRuntime,
    Action::DaemonReload,
    Action::Enable,
    Action::RemoveLock,
    Action::Start,
];

/// The backup, stopped and locked again (a rollback after it was unlocked).
const RELOCK: [fn(Role) -> Action; 5] = [
    Action::Stop,
    Action::Kill,
    Action::EnsureLockDir,
    Action::WriteLock,
    Action::Disable,
];

/// Seconds a read-only observation may take.
pub const OBSERVE_TIMEOUT: f64 = 30.0;

pub struct Failover {
    pub plan: Plan,
    pub phase: Phase,
    pub checklist: Checklist,
    /// When the primary was first touched (None: nothing done to it yet).
    pub touched_primary: Option<f64>,
    /// When the backup was first touched (its lock removed).
    pub touched_backup: Option<f64>,
    /// The chain's clock, from the backup's beacon node at the preflight.
    pub chain: Option<crate::chain::ChainClock>,
    pub liveness: Option<super::gate::LivenessGate>,
    /// When the current gate step began: no observation older than this counts.
    pub gate_since: f64,
    /// When the failover first reached the Start gate.
    gate_entered: f64,
    last_gate: String,
    /// The stop-all's SIGKILLs still to send.
    pending_kills: Vec<Role>,
    /// The liveness verdict last recorded while waiting.
    last_liveness: Option<super::gate::LivenessVerdict>,
    /// Resumed after this run removed the backup's lock and was killed before the
    /// start: the lock may be gone at the Start gate.
    resumed_unlocked: bool,
    /// Each index's balance at the Start gate's last look before the start (item 9:
    /// balances not falling).
    balances_before: Option<std::collections::BTreeMap<u64, u64>>,
    /// The backup's validator was started: when (None inside: before an
    /// interruption this run resumed from).
    backup_started: Option<Option<f64>>,
    /// The rollback verified the backup stopped and locked again.
    backup_relocked: bool,
    /// The rollback began to unfence and start the primary.
    primary_restarting: bool,
    /// The emergency stop-all began (both fenced and stopped, until verified).
    stopping_all: bool,
}

/// Where the backup's validator stands at the end of a run, from what the engine did
/// and verified.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "backup")]
pub enum BackupStanding {
    /// This run never removed its lock: stopped and locked, as the gates saw it.
    Locked,
    /// Its lock removed; its validator not started.
    Unlocked,
    /// Started (at this time; None: before an interruption), not verified running.
    Started { at: Option<f64> },
    /// Verified running; no attestation seen yet.
    Runs { at: Option<f64> },
    /// Verified running and attesting (item 8).
    Signs { at: Option<f64> },
    /// Stopped and locked again by the rollback, verified.
    LockedAgain,
    /// The emergency stop-all fenced and stopped it; not verified.
    StopAllUnverified,
}

/// Where the primary's validator stands at the end of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "primary")]
pub enum PrimaryStanding {
    /// Nothing was done to it.
    Untouched,
    /// It could not be reached: nothing was done to it; its stop is judged by the chain
    /// (or by the operator's statement that it is fenced out of band).
    Unreached { fenced_out_of_band: bool },
    /// Fencing and stopping began, not verified.
    Touched,
    /// Verified stopped and fenced (item 1).
    StoppedAndFenced,
    /// The rollback unfenced and started it again.
    Restarted,
    /// The emergency stop-all fenced and stopped it; not verified.
    StopAllUnverified,
}

/// Both validators at the end of a run: what the closing line says beside the reason.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Standing {
    pub primary: PrimaryStanding,
    pub backup: BackupStanding,
}

/// A unix time as the operator's clock shows it: `19:02:11Z`.
pub fn clock_time(unix: f64) -> String {
    jiff::Timestamp::from_second(unix as i64)
        .map(|t| t.strftime("%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

impl std::fmt::Display for BackupStanding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let started = |at: &Option<f64>| match at {
            Some(t) => format!("started {}", clock_time(*t)),
            None => "started before the interruption".to_string(),
        };
        match self {
            BackupStanding::Locked => write!(f, "the backup is stopped and locked"),
            BackupStanding::Unlocked => {
                write!(
                    f,
                    "the backup's lock is removed; its validator was not started"
                )
            }
            BackupStanding::Started { at } => write!(
                f,
                "the backup's validator was {}, not verified running",
                started(at)
            ),
            BackupStanding::Runs { at } => write!(
                f,
                "the backup's validator runs ({}, no attestation seen)",
                started(at)
            ),
            BackupStanding::Signs { at } => {
                write!(f, "the backup signs ({}, attestations seen)", started(at))
            }
            BackupStanding::LockedAgain => write!(f, "the backup is stopped and locked again"),
            BackupStanding::StopAllUnverified => write!(
                f,
                "the stop-all fenced and stopped the backup, not verified"
            ),
        }
    }
}

impl std::fmt::Display for PrimaryStanding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrimaryStanding::Untouched => write!(f, "the primary was not touched"),
            PrimaryStanding::Unreached {
                fenced_out_of_band: true,
            } => write!(
                f,
                "the primary could not be reached (nothing done to it; stated fenced out of band)"
            ),
            PrimaryStanding::Unreached {
                fenced_out_of_band: false,
            } => write!(
                f,
                "the primary could not be reached (nothing done to it; judged stopped by the chain only)"
            ),
            PrimaryStanding::Touched => {
                write!(f, "the primary's fence and stop began, not verified")
            }
            PrimaryStanding::StoppedAndFenced => write!(f, "the primary is stopped and fenced"),
            PrimaryStanding::Restarted => write!(
                f,
                "the primary was unfenced and started again by the rollback, not verified running"
            ),
            PrimaryStanding::StopAllUnverified => write!(
                f,
                "the stop-all fenced and stopped the primary, not verified"
            ),
        }
    }
}

impl Standing {
    /// Whether anything was done to either validator (else a closing line needs no
    /// word about them).
    pub fn touched(&self) -> bool {
        self.primary != PrimaryStanding::Untouched || self.backup != BackupStanding::Locked
    }

    /// The closing line's words after `FAILED: ` (or `DONE: `): both validators and
    /// the reason between them, e.g. `the backup signs (started 19:02:11Z,
    /// attestations seen); item 9 could not be verified: …; the primary is stopped and
    /// fenced`.
    pub fn with(&self, why: &str) -> String {
        if !self.touched() {
            return why.to_string();
        }
        format!("{}; {why}; {}", self.backup, self.primary)
    }
}

fn ev(o: &Observation, observed: String) -> Evidence {
    Evidence {
        host: Some(o.host),
        at: o.at,
        via: o.via.clone(),
        observed,
    }
}

/// The observations of one batch, by host and kind.
struct Batch<'a>(&'a [Observation]);

impl<'a> Batch<'a> {
    fn get(&self, host: Role, what: Observe) -> Option<&'a Observation> {
        self.0.iter().find(|o| o.host == host && o.what == what)
    }
    fn failed(&self, host: Role) -> Option<&'a HostError> {
        self.0
            .iter()
            .filter(|o| o.host == host)
            .find_map(|o| o.value.as_ref().err())
    }
}

macro_rules! value {
    ($batch:expr, $host:expr, $what:ident) => {
        match $batch.get($host, Observe::$what).map(|o| (o, &o.value)) {
            Some((o, Ok(Value::$what(v)))) => Ok((o, v)),
            Some((_, Err(e))) => Err(format!("{}: {}", e.failure.as_str(), e.detail)),
            Some((_, Ok(_))) => Err("a different answer than asked for".to_string()),
            None => Err("not observed".to_string()),
        }
    };
}

/// The same wait, give or take the clock: only a change is journaled.
fn same_wait(a: &super::gate::LivenessVerdict, b: &super::gate::LivenessVerdict) -> bool {
    use super::gate::LivenessVerdict::Waiting;
    match (a, b) {
        (
            Waiting {
                why: w1,
                quiet_epochs: q1,
                required: r1,
                earliest: e1,
                missed_duties: m1,
            },
            Waiting {
                why: w2,
                quiet_epochs: q2,
                required: r2,
                earliest: e2,
                missed_duties: m2,
            },
        ) => {
            w1 == w2
                && q1 == q2
                && r1 == r2
                && m1 == m2
                && match (e1, e2) {
                    (Some(x), Some(y)) => (x - y).abs() < 2.0,
                    (x, y) => x == y,
                }
        }
        _ => false,
    }
}

/// On the path without a verified stop: the primary answers again. Why that ends
/// this run, and whether its validator runs (it signs).
fn primary_answers_again(b: &Batch<'_>) -> Option<(String, bool)> {
    let unit = value!(b, Role::Primary, Unit).ok();
    let procs = value!(b, Role::Primary, Processes).ok();
    if unit.is_none() && procs.is_none() {
        return None;
    }
    let runs =
        unit.is_some_and(|(_, u)| !u.is_stopped()) || procs.is_some_and(|(_, p)| !p.is_empty());
    let state = unit.map(|(_, u)| u.summary()).unwrap_or_default();
    Some(if runs {
        (
            format!(
                "the primary answers again and its validator runs ({state}): it signs; the backup stays locked"
            ),
            true,
        )
    } else {
        (
            format!(
                "the primary answers again ({state}): start the failover again, to fence it and take its fresh history; the backup stays locked"
            ),
            false,
        )
    })
}

/// What keeps the backup from being the idle backup the runbook wants before its
/// start: its validator stopped, no process, the metrics port closed, the lock file
/// in place.
fn backup_idle_problems(b: &Batch<'_>) -> Vec<String> {
    backup_problems(b, false)
}

/// As [`backup_idle_problems`]; with `unlocked_by_us`, the lock file this run removed
/// before it was interrupted may be gone.
fn backup_problems(b: &Batch<'_>, unlocked_by_us: bool) -> Vec<String> {
    let mut p = Vec::new();
    match value!(b, Role::Backup, Unit) {
        Ok((_, u)) if u.is_stopped() => {}
        Ok((_, u)) => p.push(format!(
            "the backup's validator is not stopped ({})",
            u.summary()
        )),
        Err(e) => p.push(format!("the backup's validator state is unknown: {e}")),
    }
    match value!(b, Role::Backup, Processes) {
        Ok((_, procs)) if procs.is_empty() => {}
        Ok((_, procs)) => p.push(format!(
            "a validator process runs on the backup (PID {procs:?})"
        )),
        Err(e) => p.push(format!("the backup's processes are unknown: {e}")),
    }
    match value!(b, Role::Backup, Metrics) {
        Ok((_, m)) if !m.answering => {}
        Ok(_) => {
            p.push("the backup's validator metrics port answers: a validator runs there".into())
        }
        Err(e) => p.push(format!("the backup's metrics port is unknown: {e}")),
    }
    match value!(b, Role::Backup, Lock) {
        Ok((_, Some(_))) => {}
        Ok((_, None)) if unlocked_by_us => {}
        Ok((_, None)) => p.push("the backup's lock file is gone: it is not a locked backup".into()),
        Err(e) => p.push(format!("the backup's lock file is unknown: {e}")),
    }
    p
}

impl Failover {
    pub fn new(plan: Plan) -> Failover {
        Failover {
            plan,
            phase: Phase::New,
            checklist: Checklist::new(),
            touched_primary: None,
            touched_backup: None,
            chain: None,
            liveness: None,
            gate_since: 0.0,
            gate_entered: 0.0,
            last_gate: String::new(),
            pending_kills: Vec::new(),
            last_liveness: None,
            resumed_unlocked: false,
            balances_before: None,
            backup_started: None,
            backup_relocked: false,
            primary_restarting: false,
            stopping_all: false,
        }
    }

    /// What a completed run did of items 1-9, for its closing line.
    pub fn completion(&self) -> String {
        match &self.checklist.item(ItemId::AlertsCleared).state {
            ItemState::Waived(why) => format!("items 1-8 are done, 9 is not: {why}"),
            _ => "items 1-9 are done".to_string(),
        }
    }

    /// Where both validators stand now, from what this run did and verified.
    pub fn standing(&self) -> Standing {
        let item = |n: ItemId| &self.checklist.item(n).state;
        if self.stopping_all {
            return Standing {
                primary: PrimaryStanding::StopAllUnverified,
                backup: BackupStanding::StopAllUnverified,
            };
        }
        let backup = if self.backup_relocked {
            BackupStanding::LockedAgain
        } else if self.touched_backup.is_none() {
            BackupStanding::Locked
        } else {
            match self.backup_started {
                None => BackupStanding::Unlocked,
                Some(at) if *item(ItemId::AttestationsSubmitted) == ItemState::Green => {
                    BackupStanding::Signs { at }
                }
                Some(at) if *item(ItemId::BackupValidatorStarted) == ItemState::Green => {
                    BackupStanding::Runs { at }
                }
                Some(at) => BackupStanding::Started { at },
            }
        };
        let primary = if self.primary_restarting {
            PrimaryStanding::Restarted
        } else if self.is_unverified() {
            PrimaryStanding::Unreached {
                fenced_out_of_band: matches!(
                    self.liveness.as_ref().and_then(|g| g.path.as_ref()),
                    Some(super::gate::LivenessPath::FencedOutOfBand { .. })
                ),
            }
        } else if self.touched_primary.is_none() {
            PrimaryStanding::Untouched
        } else if *item(ItemId::PrimaryStopped) == ItemState::Green {
            PrimaryStanding::StoppedAndFenced
        } else {
            PrimaryStanding::Touched
        };
        Standing { primary, backup }
    }

    fn set_item(
        &mut self,
        n: ItemId,
        state: ItemState,
        at: f64,
        evidence: Vec<Evidence>,
        out: &mut Vec<Effect>,
    ) {
        self.checklist
            .set(n, state.clone(), at, evidence.clone())
            .expect("items 1-10 and no waiver");
        out.push(Effect::Record(Record::Item {
            number: n,
            state,
            evidence,
        }));
    }

    fn gate(&self, gate: GateId, open: bool, why: String) -> Effect {
        Effect::Record(Record::Gate {
            gate,
            open,
            why,
            waits: Vec::new(),
        })
    }

    fn stop_checks(&self) -> Vec<(Role, Observe)> {
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

    /// Handle one event; returns what the driver must do next.
    pub fn handle(&mut self, event: Event) -> Vec<Effect> {
        let mut out = Vec::new();
        if let Event::Observed { observations, .. } = &event
            && self.stopped_by_another(observations, &mut out)
        {
            return out;
        }
        match (self.phase.clone(), event) {
            (Phase::New, Event::Begin { .. }) => {
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
            (
                Phase::New,
                Event::Resume {
                    now,
                    primary_touched,
                    backup_touched,
                },
            ) => {
                if !primary_touched && !backup_touched {
                    // Nothing was done: the run begins again with its preflight.
                    out.push(self.gate(
                        GateId::Resume,
                        true,
                        "nothing was done to either host before the interruption: starting again from the preflight".into(),
                    ));
                    let mut more = self.handle(Event::Begin { now });
                    out.append(&mut more);
                    return out;
                }
                self.phase = Phase::ResumeSurvey {
                    primary_touched,
                    backup_touched,
                };
                out.push(Effect::Observe(vec![
                    (Role::Backup, Observe::Chain),
                    (Role::Backup, Observe::Unit),
                    (Role::Backup, Observe::Processes),
                ]));
            }
            (
                Phase::ResumeSurvey {
                    primary_touched,
                    backup_touched,
                },
                Event::Observed { now, observations },
            ) => {
                let b = Batch(&observations);
                match value!(b, Role::Backup, Chain) {
                    Ok((_, c)) => self.chain = Some(c.clock),
                    Err(e) => {
                        let why = format!(
                            "resume: the chain's timing is unknown on the backup: {e}; nothing more was done"
                        );
                        self.stop_at(GateId::Resume, why, &mut out);
                        return out;
                    }
                }
                if primary_touched {
                    self.touched_primary = Some(now);
                }
                if backup_touched {
                    self.touched_backup = Some(now);
                    let runs = matches!(value!(b, Role::Backup, Unit), Ok((_, u)) if u.is_running())
                        && matches!(value!(b, Role::Backup, Processes), Ok((_, p)) if !p.is_empty());
                    if runs {
                        // It was started: verify it as the start step would have.
                        out.push(self.gate(
                            GateId::Resume,
                            true,
                            "the backup's lock was removed before the interruption and its validator runs: verifying the start (items 7-9)".into(),
                        ));
                        self.set_item(
                            ItemId::BackupValidatorStarted,
                            ItemState::Running,
                            now,
                            Vec::new(),
                            &mut out,
                        );
                        self.backup_started = Some(None);
                        self.phase = Phase::VerifyingStart { attempts: 0 };
                        out.push(Effect::Observe(vec![
                            (Role::Backup, Observe::Unit),
                            (Role::Backup, Observe::Processes),
                        ]));
                    } else if !primary_touched {
                        // The path without a verified stop (the primary could not be
                        // reached, so nothing was done to it): a rollback could not
                        // reach it either. The gate again, the liveness wait afresh.
                        out.push(self.gate(
                            GateId::Resume,
                            true,
                            "the backup's lock was removed before the interruption and the primary was never reached: the Start gate again, with a fresh liveness wait, then the start asked again".into(),
                        ));
                        let clock = self.chain.expect("read above");
                        let mut g =
                            super::gate::LivenessGate::new(clock, self.plan.indices.clone());
                        g.path = Some(super::gate::LivenessPath::Unverified {
                            since_epoch: clock.epoch_at(now),
                            required: self.plan.liveness_epochs,
                        });
                        self.liveness = Some(g);
                        self.resumed_unlocked = true;
                        for n in [
                            ItemId::PrimaryStopped,
                            ItemId::PrimaryKilled,
                            ItemId::SlashingProtectionTransferred,
                        ] {
                            self.set_item(n, ItemState::Running, now, Vec::new(), &mut out);
                        }
                        self.enter_gate(now, &mut out);
                    } else {
                        out.push(self.gate(
                            GateId::Resume,
                            true,
                            "the backup's lock was removed before the interruption, but its validator does not run: rolling back (re-lock the backup, its history back to the primary, start the primary)".into(),
                        ));
                        let mut more = self.handle(Event::Rollback { now });
                        out.append(&mut more);
                    }
                    return out;
                }
                // The primary was touched, the backup not: fence again (each step is
                // idempotent), stop, verify twice, and take the history afresh.
                out.push(self.gate(
                    GateId::Resume,
                    true,
                    "the primary was touched before the interruption, the backup not: fencing and stopping again, verifying, and transferring the history afresh".into(),
                ));
                self.set_item(
                    ItemId::PrimaryStopped,
                    ItemState::Running,
                    now,
                    Vec::new(),
                    &mut out,
                );
                self.phase = Phase::Fencing(0);
                out.push(Effect::Act {
                    action: FENCE[0](Role::Primary),
                    timeout: OBSERVE_TIMEOUT,
                });
            }
            (Phase::New, Event::BeginRollback { .. }) => {
                self.phase = Phase::RollbackSurvey;
                let mut want = Vec::new();
                for host in Role::BOTH {
                    for w in [
                        Observe::Unit,
                        Observe::Processes,
                        Observe::Metrics,
                        Observe::Lock,
                        Observe::History,
                    ] {
                        want.push((host, w));
                    }
                }
                out.push(Effect::Observe(want));
            }
            (Phase::RollbackSurvey, Event::Observed { now, observations }) => {
                self.survey_for_rollback(now, &observations, &mut out);
            }
            (Phase::AwaitRollbackConfirmation, Event::Confirmed { now, typed }) => {
                let question = Confirm::Rollback {
                    expect: self.plan.primary.clone(),
                };
                if !self.confirmed(question, &typed, &mut out) {
                    return out;
                }
                let mut more = self.handle(Event::Rollback { now });
                out.append(&mut more);
            }
            (Phase::AwaitRollbackConfirmation, Event::Declined { .. }) => {
                let why = "the operator declined the rollback: nothing was touched".to_string();
                self.block_at(GateId::RollbackConfirmation, why, &mut out);
            }
            (Phase::Preflight, Event::Observed { now, observations }) => {
                self.first_gate(now, &observations, &mut out);
            }
            (Phase::AwaitStopConfirmation, Event::Confirmed { now, typed }) => {
                let question = Confirm::StopPrimary {
                    expect: self.plan.primary.clone(),
                };
                if !self.confirmed(question, &typed, &mut out) {
                    return out;
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
                    &mut out,
                );
                self.phase = Phase::Fencing(0);
                out.push(Effect::Act {
                    action: FENCE[0](Role::Primary),
                    timeout: OBSERVE_TIMEOUT,
                });
            }
            (
                Phase::Fencing(i),
                Event::Acted {
                    now,
                    action,
                    result,
                    via,
                },
            ) => match result {
                Err(e) => {
                    let why = format!(
                        "fencing failed at {action:?}: {}: {} ({via})",
                        e.failure.as_str(),
                        e.detail
                    );
                    self.fail(now, ItemId::PrimaryStopped, why, &mut out);
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
            },
            (
                Phase::Stopping,
                Event::Acted {
                    now, result, via, ..
                },
            ) => match result {
                // A stop that did not finish in time is judged by the checks below.
                Ok(())
                | Err(HostError {
                    failure: Failure::TimedOut,
                    ..
                }) => {
                    self.phase = Phase::VerifyingStop {
                        first_ok: None,
                        escalated: false,
                        attempts: 0,
                    };
                    out.push(Effect::Observe(self.stop_checks()));
                }
                Err(e) => {
                    let why = format!(
                        "the stop failed: {}: {} ({via})",
                        e.failure.as_str(),
                        e.detail
                    );
                    self.fail(now, ItemId::PrimaryStopped, why, &mut out);
                }
            },
            (
                Phase::VerifyingStop {
                    first_ok,
                    escalated,
                    attempts,
                },
                Event::Observed { now, observations },
            ) => self.verify_stop(now, &observations, first_ok, escalated, attempts, &mut out),
            (
                Phase::VerifyingStop { .. },
                Event::Acted {
                    now, result, via, ..
                },
            ) => {
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
                let _ = now;
                out.push(Effect::Observe(self.stop_checks()));
            }
            (Phase::VerifyingStop { .. }, Event::Tick { .. }) => {
                out.push(Effect::Observe(self.stop_checks()));
            }
            (
                Phase::Transferring,
                Event::Transferred {
                    now,
                    result,
                    evidence,
                },
            ) => match result {
                Ok(t) => {
                    if !t.last_signed.is_empty()
                        && let Some(g) = &mut self.liveness
                        && let Some(super::gate::LivenessPath::VerifiedStop { last_signed, .. }) =
                            &mut g.path
                    {
                        *last_signed = t.last_signed.clone();
                        out.push(self.gate(
                            GateId::Liveness,
                            true,
                            format!(
                                "judged per key from the history's last signed target epoch by index {:?}: a key live on chain after its epoch means something else signs with it",
                                t.last_signed
                            ),
                        ));
                    }
                    self.set_item(
                        ItemId::SlashingProtectionTransferred,
                        ItemState::Green,
                        now,
                        evidence,
                        &mut out,
                    );
                    out.push(self.gate(
                        GateId::SlashingProtection,
                        true,
                        format!(
                            "{} bytes, sha256 {} on both ends; previous history set aside at {}",
                            t.bytes,
                            t.archive_sha256,
                            t.set_aside.as_deref().unwrap_or("(none was there)")
                        ),
                    ));
                    self.enter_gate(now, &mut out);
                }
                Err(why) => {
                    self.set_item(
                        ItemId::SlashingProtectionTransferred,
                        ItemState::Red(why.clone()),
                        now,
                        evidence,
                        &mut out,
                    );
                    self.phase = Phase::Failed(why.clone());
                    out.push(Effect::Finished(Outcome::Failed(why)));
                }
            },
            (Phase::AwaitingGate | Phase::FinalCheck, Event::Observed { now, observations }) => {
                self.judge_gate(now, &observations, &mut out);
            }
            (Phase::AwaitingGate, Event::Tick { now }) => {
                out.push(Effect::Observe(self.gate_observations(now)));
            }
            (Phase::AwaitStartConfirmation, Event::Confirmed { now, typed }) => {
                let question = Confirm::StartBackup {
                    expect: self.plan.backup.clone(),
                };
                if !self.confirmed(question, &typed, &mut out) {
                    return out;
                }
                // The confirmation may have taken minutes: look once more.
                self.gate_since = now;
                self.phase = Phase::FinalCheck;
                out.push(Effect::Observe(self.gate_observations(now)));
            }
            (
                Phase::RemovingLock,
                Event::Acted {
                    now, result, via, ..
                },
            ) => match result {
                Ok(()) => {
                    let e = Evidence {
                        host: Some(Role::Backup),
                        at: now,
                        via,
                        observed: "lock file removed, after items 1-5 and the liveness gate".into(),
                    };
                    self.set_item(
                        ItemId::LockFileRemoved,
                        ItemState::Green,
                        now,
                        vec![e],
                        &mut out,
                    );
                    self.set_item(
                        ItemId::BackupValidatorStarted,
                        ItemState::Running,
                        now,
                        Vec::new(),
                        &mut out,
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
                    self.fail(now, ItemId::LockFileRemoved, why, &mut out);
                }
            },
            (
                Phase::Starting,
                Event::Acted {
                    now, result, via, ..
                },
            ) => match result {
                Ok(()) => {
                    self.backup_started = Some(Some(now));
                    self.phase = Phase::VerifyingStart { attempts: 0 };
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
                    self.fail(now, ItemId::BackupValidatorStarted, why, &mut out);
                }
            },
            (Phase::VerifyingStart { attempts }, Event::Observed { now, observations }) => {
                let b = Batch(&observations);
                match (
                    value!(b, Role::Backup, Unit),
                    value!(b, Role::Backup, Processes),
                ) {
                    (Ok((uo, u)), Ok((po, p))) if u.is_running() && !p.is_empty() => {
                        let evidence = vec![ev(uo, u.summary()), ev(po, format!("PID {p:?}"))];
                        self.set_item(
                            ItemId::BackupValidatorStarted,
                            ItemState::Green,
                            now,
                            evidence,
                            &mut out,
                        );
                        self.set_item(
                            ItemId::AttestationsSubmitted,
                            ItemState::Running,
                            now,
                            Vec::new(),
                            &mut out,
                        );
                        let since = self.touched_backup.unwrap_or(now);
                        let epochs = self.plan.attest_epochs as f64;
                        let deadline = now
                            + epochs * self.chain.map(|c| c.epoch_seconds() as f64).unwrap_or(60.0);
                        self.phase = Phase::WatchingAttestations {
                            since,
                            deadline,
                            journal: false,
                        };
                        out.push(Effect::Observe(self.attestation_observations(now, since)));
                    }
                    _ if attempts < self.plan.verify_attempts => {
                        self.phase = Phase::VerifyingStart {
                            attempts: attempts + 1,
                        };
                        out.push(Effect::WaitUntil(now + self.plan.verify_interval));
                    }
                    (u, _) => {
                        let why = format!(
                            "the backup's validator is not running: {}",
                            match u {
                                Ok((_, u)) => u.summary(),
                                Err(e) => e,
                            }
                        );
                        self.fail(now, ItemId::BackupValidatorStarted, why, &mut out);
                    }
                }
            }
            (Phase::VerifyingStart { .. }, Event::Tick { .. }) => {
                out.push(Effect::Observe(vec![
                    (Role::Backup, Observe::Unit),
                    (Role::Backup, Observe::Processes),
                ]));
            }
            (
                Phase::WatchingAttestations {
                    since,
                    deadline,
                    journal,
                },
                Event::Observed { now, observations },
            ) => self.watch_attestations(now, &observations, since, deadline, journal, &mut out),
            (Phase::WatchingAttestations { since, .. }, Event::Tick { now }) => {
                out.push(Effect::Observe(self.attestation_observations(now, since)));
            }
            (Phase::CheckingAlerts, Event::Observed { now, observations }) => {
                self.judge_alerts(now, &observations, &mut out);
            }
            (Phase::AwaitUnverifiedConfirmation { source }, Event::Confirmed { now, typed }) => {
                let clock = self.chain.expect("known at the first gate");
                let question = Confirm::UnverifiedPrimary {
                    expect: self.plan.primary.clone(),
                    archive: source.place(),
                    age_epochs: source.age_epochs(&clock, now),
                    wait_epochs: self.plan.liveness_epochs,
                };
                if !self.confirmed(question, &typed, &mut out) {
                    return out;
                }
                let since_epoch = clock.epoch_at(now);
                let mut g = super::gate::LivenessGate::new(clock, self.plan.indices.clone());
                g.path = Some(super::gate::LivenessPath::Unverified {
                    since_epoch,
                    required: self.plan.liveness_epochs,
                });
                self.liveness = Some(g);
                let waiting = Evidence {
                    host: Some(Role::Primary),
                    at: now,
                    via: "ssh".into(),
                    observed: "cannot be reached: to be judged by the chain (liveness wait)".into(),
                };
                self.set_item(
                    ItemId::PrimaryStopped,
                    ItemState::Running,
                    now,
                    vec![waiting.clone()],
                    &mut out,
                );
                self.set_item(
                    ItemId::PrimaryKilled,
                    ItemState::Running,
                    now,
                    vec![waiting],
                    &mut out,
                );
                if let Some(statement) = self.plan.fenced_out_of_band.clone() {
                    self.fenced_out_of_band(now, statement, &mut out);
                }
                self.set_item(
                    ItemId::SlashingProtectionTransferred,
                    ItemState::Running,
                    now,
                    Vec::new(),
                    &mut out,
                );
                self.phase = Phase::Transferring;
                out.push(Effect::Transfer {
                    from: source,
                    to: Role::Backup,
                });
            }
            (
                Phase::AwaitingGate | Phase::AwaitStartConfirmation | Phase::Transferring,
                Event::FencedOutOfBand { now, statement },
            ) if self.is_unverified() => {
                self.fenced_out_of_band(now, statement, &mut out);
                if self.phase == Phase::AwaitingGate {
                    out.push(Effect::Observe(self.gate_observations(now)));
                }
            }
            (Phase::AwaitStartConfirmation, Event::Declined { now }) => {
                let why = "the operator declined to start the backup: the primary stays fenced and the backup locked; roll back, or start again".to_string();
                out.push(self.gate(GateId::StartConfirmation, false, why.clone()));
                self.fail(now, ItemId::LockFileRemoved, why, &mut out);
            }
            (
                Phase::AwaitStopConfirmation | Phase::AwaitUnverifiedConfirmation { .. },
                Event::Declined { .. },
            ) => {
                let why = "the operator declined: nothing was touched".to_string();
                self.block_at(GateId::Confirmation, why, &mut out);
            }
            (phase, Event::StopAll { now }) => self.stop_all(now, &phase, &mut out),
            (Phase::New, Event::BeginStopAll { .. }) => self.begin_stop_all(&mut out),
            (Phase::AwaitStopAllConfirmation, Event::Confirmed { now, typed }) => {
                if self.confirmed(self.stop_all_question(), &typed, &mut out) {
                    self.stop_all(now, &Phase::AwaitStopAllConfirmation, &mut out);
                }
            }
            (Phase::AwaitStopAllConfirmation, Event::Declined { .. }) => {
                let why = format!(
                    "the stop-all was not confirmed: type both names, PRIMARY,BACKUP ({:?}); nothing was done",
                    self.stop_all_question().expected()
                );
                self.block_at(GateId::StopAllConfirmation, why, &mut out);
            }
            (
                Phase::VerifyingStopAll {
                    escalated,
                    attempts,
                },
                Event::Observed { now, observations },
            ) => {
                self.verify_stop_all(now, &observations, escalated, attempts, &mut out);
            }
            (Phase::VerifyingStopAll { .. }, Event::Acted { .. } | Event::Tick { .. }) => {
                match self.pending_kills.pop() {
                    Some(r) => out.push(Effect::Act {
                        action: Action::Kill(r),
                        timeout: OBSERVE_TIMEOUT,
                    }),
                    None => out.push(Effect::Observe(self.stop_all_checks())),
                }
            }
            (
                Phase::VerifyingBackupStopped { first_ok, attempts },
                Event::Observed { now, observations },
            ) => {
                let b = Batch(&observations);
                let problems = backup_idle_problems(&b);
                if problems.is_empty() {
                    match first_ok {
                        Some(t) if now - t >= self.plan.verify_interval => {
                            self.backup_relocked = true;
                            out.push(self.gate(
                                GateId::Rollback,
                                true,
                                format!("the backup is stopped and locked (seen twice, {:.0}s apart): bringing its history back to the primary", now - t),
                            ));
                            self.backup_relocked_seen(now, &b, &mut out);
                            self.phase = Phase::TransferringBack;
                            out.push(Effect::Transfer {
                                from: Source::Live(Role::Backup),
                                to: Role::Primary,
                            });
                        }
                        _ => {
                            let t = first_ok.unwrap_or(now);
                            self.phase = Phase::VerifyingBackupStopped {
                                first_ok: Some(t),
                                attempts,
                            };
                            out.push(Effect::WaitUntil(t + self.plan.verify_interval));
                        }
                    }
                } else if attempts < self.plan.verify_attempts {
                    self.phase = Phase::VerifyingBackupStopped {
                        first_ok: None,
                        attempts: attempts + 1,
                    };
                    out.push(Effect::WaitUntil(now + self.plan.verify_interval));
                } else {
                    let why = format!(
                        "ALARM: the backup is not verified stopped and locked: {}; the primary stays fenced",
                        problems.join("; ")
                    );
                    let step = RollbackStep::BackupRelocked;
                    self.rollback_step(step, ItemState::Red(why.clone()), Vec::new(), &mut out);
                    self.stop_at(GateId::Rollback, why, &mut out);
                }
            }
            (Phase::VerifyingBackupStopped { .. }, Event::Tick { .. }) => {
                out.push(Effect::Observe(self.backup_idle_checks()));
            }
            (
                Phase::TransferringBack,
                Event::Transferred {
                    now,
                    result,
                    evidence,
                },
            ) => match result {
                Ok(t) => {
                    let step = RollbackStep::HistoryBack;
                    self.rollback_step(step, ItemState::Green, evidence, &mut out);
                    out.push(self.gate(
                        GateId::Rollback,
                        true,
                        format!(
                            "the backup's history is on the primary: {} bytes, sha256 {} on both ends; the primary's previous history set aside at {}",
                            t.bytes,
                            t.archive_sha256,
                            t.set_aside.as_deref().unwrap_or("(none was there)")
                        ),
                    ));
                    self.phase = Phase::ReverseGate { since: now };
                    out.push(Effect::Observe(self.reverse_gate_observations()));
                }
                Err(why) => {
                    let why = format!(
                        "bringing the backup's history back to the primary failed: {why}; both validators are stopped (the primary fenced, the backup locked): the primary must not sign before it has the backup's history"
                    );
                    let step = RollbackStep::HistoryBack;
                    self.rollback_step(step, ItemState::Red(why.clone()), evidence, &mut out);
                    self.stop_at(GateId::Rollback, why, &mut out);
                }
            },
            (Phase::ReverseGate { since }, Event::Observed { now, observations }) => {
                let b = Batch(&observations);
                let alarm = backup_idle_problems(&b);
                if !alarm.is_empty() {
                    let why = format!(
                        "ALARM: the backup is no longer stopped and locked: {}; the primary stays fenced",
                        alarm.join("; ")
                    );
                    let step = RollbackStep::ReverseGate;
                    self.rollback_step(step, ItemState::Red(why.clone()), Vec::new(), &mut out);
                    self.stop_at(GateId::RollbackStart, why, &mut out);
                    return out;
                }
                let mut waits = Vec::new();
                match value!(b, Role::Primary, Beacon) {
                    Ok((_, s)) => waits.extend(
                        s.problem(self.plan.max_sync_distance)
                            .map(|p| format!("the primary's beacon node: {p}")),
                    ),
                    Err(e) => waits.push(format!("the primary's beacon node: {e}")),
                }
                match value!(b, Role::Primary, Execution) {
                    Ok((_, s)) => waits.extend(
                        s.problem()
                            .map(|p| format!("the primary's execution node: {p}")),
                    ),
                    Err(e) => waits.push(format!("the primary's execution node: {e}")),
                }
                if waits.is_empty() {
                    out.push(self.gate(
                        GateId::RollbackStart,
                        true,
                        "the backup stopped and locked; the primary has its history and synced nodes: unfencing and starting the primary".into(),
                    ));
                    self.reverse_gate_opened(&b, &mut out);
                    self.primary_restarting = true;
                    self.undo_step(Undo::Primary, 0, &mut out);
                } else if now - since > self.plan.gate_timeout {
                    let why = format!(
                        "held at the rollback's start gate for longer than {:.0}s: {}; both validators stay stopped",
                        self.plan.gate_timeout,
                        waits.join("; ")
                    );
                    let step = RollbackStep::ReverseGate;
                    self.rollback_step(step, ItemState::Red(why.clone()), Vec::new(), &mut out);
                    self.stop_at(GateId::RollbackStart, why, &mut out);
                } else {
                    let why = waits.join("; ");
                    if why != self.last_gate {
                        out.push(self.gate(GateId::RollbackStart, false, why.clone()));
                        self.last_gate = why;
                    }
                    out.push(Effect::WaitUntil(now + self.plan.verify_interval));
                }
            }
            (Phase::ReverseGate { .. }, Event::Tick { .. }) => {
                out.push(Effect::Observe(self.reverse_gate_observations()));
            }
            (phase, Event::Rollback { now }) => {
                if self.touched_backup.is_some() {
                    // The backup may have signed: its history is now the newest, and
                    // the primary may not sign again until it has it. Stop and re-lock
                    // the backup, verify, bring its history back, then the primary.
                    out.push(self.gate(
                        GateId::Rollback,
                        true,
                        format!("requested at {now:.0} in phase {phase:?}: stopping and re-locking the backup first"),
                    ));
                    self.rollback_begins(true, &mut out);
                    self.undo_step(Undo::Backup, 0, &mut out);
                    return out;
                }
                if self.touched_primary.is_none() {
                    out.push(self.gate(
                        GateId::Rollback,
                        true,
                        "nothing was done to the primary and the backup was not unlocked: nothing to roll back".into(),
                    ));
                    self.phase = Phase::RolledBack;
                    out.push(Effect::Finished(Outcome::RolledBack));
                    return out;
                }
                out.push(self.gate(
                    GateId::Rollback,
                    true,
                    format!("requested at {now:.0} in phase {phase:?}"),
                ));
                self.rollback_begins(false, &mut out);
                self.primary_restarting = true;
                self.undo_step(Undo::Primary, 0, &mut out);
            }
            (
                Phase::Undoing { undo, i },
                Event::Acted {
                    action,
                    result,
                    via,
                    ..
                },
            ) => {
                if let Err(e) = &result {
                    // Go on: each undo step is independent, and the check after judges.
                    out.push(self.gate(
                        GateId::Rollback,
                        false,
                        format!(
                            "{action:?} failed: {}: {} ({via})",
                            e.failure.as_str(),
                            e.detail
                        ),
                    ));
                }
                if i + 1 < undo.actions().len() {
                    self.undo_step(undo, i + 1, &mut out);
                } else {
                    match undo {
                        Undo::Primary => {
                            self.phase = Phase::VerifyingRollback { attempts: 0 };
                            out.push(Effect::Observe(vec![
                                (Role::Primary, Observe::Unit),
                                (Role::Primary, Observe::Processes),
                            ]));
                        }
                        Undo::Backup => {
                            self.phase = Phase::VerifyingBackupStopped {
                                first_ok: None,
                                attempts: 0,
                            };
                            out.push(Effect::Observe(self.backup_idle_checks()));
                        }
                        Undo::StopAll => {
                            self.phase = Phase::VerifyingStopAll {
                                escalated: false,
                                attempts: 0,
                            };
                            out.push(Effect::Observe(self.stop_all_checks()));
                        }
                    }
                }
            }
            (Phase::VerifyingRollback { attempts }, Event::Observed { now, observations }) => {
                let b = Batch(&observations);
                let running = matches!(value!(b, Role::Primary, Unit), Ok((_, u)) if u.is_running())
                    && matches!(value!(b, Role::Primary, Processes), Ok((_, p)) if !p.is_empty());
                if running {
                    out.push(self.gate(
                        GateId::Rollback,
                        true,
                        "the primary's validator runs again".into(),
                    ));
                    self.primary_runs_again(now, &b, &mut out);
                    self.phase = Phase::RolledBack;
                    out.push(Effect::Finished(Outcome::RolledBack));
                } else if attempts < self.plan.verify_attempts {
                    self.phase = Phase::VerifyingRollback {
                        attempts: attempts + 1,
                    };
                    out.push(Effect::WaitUntil(now + self.plan.verify_interval));
                } else {
                    let why =
                        "the primary's validator did not come back after the rollback".to_string();
                    let step = RollbackStep::PrimaryRestarted;
                    self.rollback_step(step, ItemState::Red(why.clone()), Vec::new(), &mut out);
                    self.stop_at(GateId::Rollback, why, &mut out);
                }
            }
            (Phase::VerifyingRollback { .. }, Event::Tick { .. }) => {
                out.push(Effect::Observe(vec![
                    (Role::Primary, Observe::Unit),
                    (Role::Primary, Observe::Processes),
                ]));
            }
            (phase, event) => {
                // An event that does not belong here changes nothing.
                out.push(self.gate(
                    GateId::Event,
                    false,
                    format!(
                        "ignored {:?} in phase {phase:?}",
                        std::mem::discriminant(&event)
                    ),
                ));
            }
        }
        out
    }

    /// Items 1-2 at the Start gate: the primary still stopped and fenced, seen again.
    fn judge_stop_again(
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

    /// The rollback command: what was done to the hosts, from what they show.
    fn survey_for_rollback(&mut self, now: f64, obs: &[Observation], out: &mut Vec<Effect>) {
        let b = Batch(obs);
        let block = |this: &mut Failover, why: String, out: &mut Vec<Effect>| {
            this.block_at(GateId::Rollback, why, out)
        };
        if let Some(e) = b
            .failed(Role::Primary)
            .filter(|_| value!(b, Role::Primary, Unit).is_err())
        {
            return block(
                self,
                format!(
                    "the primary cannot be reached ({}: {}): there is nothing to roll back to",
                    e.failure.as_str(),
                    e.detail
                ),
                out,
            );
        }
        if let Some(e) = b
            .failed(Role::Backup)
            .filter(|_| value!(b, Role::Backup, Unit).is_err())
        {
            return block(
                self,
                format!(
                    "the backup cannot be reached ({}: {}): it cannot be verified stopped, so the primary may not sign again",
                    e.failure.as_str(),
                    e.detail
                ),
                out,
            );
        }
        let backup_busy = backup_idle_problems(&b);
        // The backup's history newer than the primary's: it signed after the transfer.
        let newer = match (
            value!(b, Role::Backup, History),
            value!(b, Role::Primary, History),
        ) {
            (Ok((_, hb)), Ok((_, hp))) => match (hb.newest_mtime(), hp.newest_mtime()) {
                (Some(tb), Some(tp)) => tb > tp,
                (Some(_), None) => true,
                _ => false,
            },
            _ => false,
        };
        let primary_runs = matches!(value!(b, Role::Primary, Unit), Ok((_, u)) if !u.is_stopped())
            || matches!(value!(b, Role::Primary, Processes), Ok((_, p)) if !p.is_empty());
        if primary_runs && !backup_busy.is_empty() {
            return block(
                self,
                format!(
                    "ALARM: the primary's validator runs and the backup is not a stopped, locked backup ({}): use the emergency stop-all",
                    backup_busy.join("; ")
                ),
                out,
            );
        }
        if primary_runs {
            out.push(self.gate(
                GateId::Rollback,
                true,
                "the primary's validator runs and the backup is stopped and locked: nothing to roll back".into(),
            ));
            self.phase = Phase::RolledBack;
            out.push(Effect::Finished(Outcome::RolledBack));
            return;
        }
        self.touched_primary = Some(now);
        let plan = if !backup_busy.is_empty() || newer {
            self.touched_backup = Some(now);
            format!(
                "the backup was unlocked or signed ({}): stop and re-lock it, verify, bring its history back to the primary, then unfence and start the primary",
                if backup_busy.is_empty() {
                    "its history is newer than the primary's".to_string()
                } else {
                    backup_busy.join("; ")
                }
            )
        } else {
            "the primary is stopped and the backup stopped and locked with no newer history: unfence and start the primary".to_string()
        };
        out.push(self.gate(GateId::Rollback, true, plan));
        self.phase = Phase::AwaitRollbackConfirmation;
        out.push(Effect::Ask(Confirm::Rollback {
            expect: self.plan.primary.clone(),
        }));
    }

    /// Is this the path without a verified stop (the primary cannot be reached)?
    pub fn is_unverified(&self) -> bool {
        matches!(
            self.liveness.as_ref().and_then(|g| g.path.as_ref()),
            Some(
                super::gate::LivenessPath::Unverified { .. }
                    | super::gate::LivenessPath::FencedOutOfBand { .. }
            )
        )
    }

    /// The operator's statement that the primary is fenced out of band: recorded, and
    /// the liveness gate's path from now on, if it says enough.
    fn fenced_out_of_band(&mut self, now: f64, statement: String, out: &mut Vec<Effect>) {
        out.push(Effect::Record(Record::Confirmation {
            action: "state that the primary is fenced out of band".into(),
            typed: statement.clone(),
        }));
        let primary = &self.plan.primary;
        if statement.trim().chars().count() < 20 || !statement.contains(primary.as_str()) {
            out.push(self.gate(
                GateId::FencedOutOfBand,
                false,
                format!("not accepted: the statement must name the primary ({primary:?}) and say how it is fenced (20 characters at least), e.g. \"{primary} powered off at the provider, console confirms\""),
            ));
            return;
        }
        let Some(g) = &mut self.liveness else { return };
        let since_epoch = match &g.path {
            Some(super::gate::LivenessPath::Unverified { since_epoch, .. }) => *since_epoch,
            _ => g.clock.epoch_at(now),
        };
        g.path = Some(super::gate::LivenessPath::FencedOutOfBand {
            statement: statement.clone(),
            at: now,
            since_epoch,
        });
        out.push(self.gate(
            GateId::FencedOutOfBand,
            true,
            format!("the operator states: {statement:?}; the chain is still watched for the keys"),
        ));
    }

    fn stop_all_checks(&self) -> Vec<(Role, Observe)> {
        let mut v = Vec::new();
        for r in Role::BOTH {
            for w in [Observe::Unit, Observe::Processes, Observe::Metrics] {
                v.push((r, w));
            }
        }
        v
    }

    fn backup_idle_checks(&self) -> Vec<(Role, Observe)> {
        [
            Observe::Unit,
            Observe::Processes,
            Observe::Metrics,
            Observe::Lock,
        ]
        .into_iter()
        .map(|w| (Role::Backup, w))
        .collect()
    }

    fn reverse_gate_observations(&self) -> Vec<(Role, Observe)> {
        let mut v = self.backup_idle_checks();
        v.push((Role::Primary, Observe::Beacon));
        v.push((Role::Primary, Observe::Execution));
        v
    }

    /// The emergency stop-all's check: both validators stopped, no process, the
    /// metrics ports closed; SIGKILL through systemd once for one that is stuck.
    fn verify_stop_all(
        &mut self,
        now: f64,
        obs: &[Observation],
        escalated: bool,
        attempts: u32,
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
        if not_yet.is_empty() {
            out.push(self.gate(
                GateId::StopAll,
                true,
                "both validators stopped and fenced: no process, metrics ports closed".into(),
            ));
            self.phase = Phase::StoppedAll;
            out.push(Effect::Finished(Outcome::StoppedAll));
            return;
        }
        let why = not_yet.join("; ");
        if !stuck.is_empty() && !escalated {
            out.push(self.gate(
                GateId::StopAll,
                false,
                format!("{why}: escalating to SIGKILL"),
            ));
            self.phase = Phase::VerifyingStopAll {
                escalated: true,
                attempts,
            };
            // One kill per stuck host; the check after the last one judges.
            self.pending_kills = stuck[1..].to_vec();
            out.push(Effect::Act {
                action: Action::Kill(stuck[0]),
                timeout: OBSERVE_TIMEOUT,
            });
            return;
        }
        if attempts >= self.plan.verify_attempts {
            let why = format!(
                "ALARM: the emergency stop-all is not verified: {why}; stop it by hand or at the provider"
            );
            self.stop_at(GateId::StopAll, why, out);
            return;
        }
        self.phase = Phase::VerifyingStopAll {
            escalated,
            attempts: attempts + 1,
        };
        out.push(Effect::WaitUntil(now + self.plan.verify_interval));
    }

    /// What the Start gate is judged on: the backup's state and sync, and the chain.
    fn gate_observations(&self, now: f64) -> Vec<(Role, Observe)> {
        let mut v: Vec<(Role, Observe)> = [
            Observe::Unit,
            Observe::Processes,
            Observe::Metrics,
            Observe::Lock,
            Observe::Beacon,
            Observe::Execution,
            Observe::History,
        ]
        .into_iter()
        .map(|w| (Role::Backup, w))
        .collect();
        // Items 1-2 again: no gate trusts an observation older than the step.
        v.extend(self.stop_checks());
        if let Some(g) = &self.liveness
            && !self.plan.indices.is_empty()
        {
            for e in g.epochs_to_ask(now) {
                v.push((Role::Backup, Observe::Liveness(e)));
            }
        }
        // Item 9's balances before the start: the last look before the lock comes off.
        if !self.plan.indices.is_empty() {
            v.push((Role::Backup, Observe::Validators));
        }
        v
    }

    fn enter_gate(&mut self, now: f64, out: &mut Vec<Effect>) {
        self.gate_since = now;
        self.gate_entered = now;
        self.phase = Phase::AwaitingGate;
        out.push(Effect::Observe(self.gate_observations(now)));
    }

    /// Items 4-5 re-probed, the backup still stopped and locked, the liveness gate:
    /// then the Start gate decides.
    fn judge_gate(&mut self, now: f64, obs: &[Observation], out: &mut Vec<Effect>) {
        let b = Batch(obs);
        if let Ok((_, vals)) = value!(b, Role::Backup, Validators) {
            self.balances_before = Some(super::alerts::balances(vals));
        }
        // The backup must still be the stopped, locked backup it was; items 4-5 again.
        let mut alarm = backup_problems(&b, self.resumed_unlocked);
        self.judge_sync(&b, now, out);
        for o in obs {
            if let (Observe::Liveness(epoch), Ok(Value::Liveness(l))) = (o.what, &o.value)
                && let Some(g) = &mut self.liveness
            {
                g.record(super::gate::LivenessObservation {
                    epoch,
                    at: o.at,
                    live: l.iter().filter(|(_, v)| *v).map(|(k, _)| *k).collect(),
                    asked: l.iter().map(|(k, _)| *k).collect(),
                });
            }
        }
        // Items 1-2: the primary still stopped and fenced, seen again now; or, on the
        // path without a verified stop, still unreachable (judged below by the chain).
        if self.is_unverified() {
            if let Some((why, signs)) = primary_answers_again(&b) {
                let why = if signs { format!("ALARM: {why}") } else { why };
                out.push(self.gate(GateId::Start, false, why.clone()));
                self.fail(now, ItemId::PrimaryStopped, why, out);
                return;
            }
        } else {
            self.judge_stop_again(&b, now, &mut alarm, out);
        }
        // Item 3: the transferred history still in place on the backup.
        match value!(b, Role::Backup, History) {
            Ok((o, h)) if h.problem().is_none() => {
                let mut evidence = self
                    .checklist
                    .item(ItemId::SlashingProtectionTransferred)
                    .evidence
                    .clone();
                evidence.retain(|e| !e.via.starts_with("find "));
                evidence.push(ev(o, format!("still in place: {}", h.summary())));
                self.set_item(
                    ItemId::SlashingProtectionTransferred,
                    ItemState::Green,
                    now,
                    evidence,
                    out,
                );
            }
            Ok((_, h)) => alarm.push(format!(
                "the transferred history is no longer in place on the backup: {}",
                h.problem().unwrap_or_default()
            )),
            Err(e) => self.set_item(
                ItemId::SlashingProtectionTransferred,
                ItemState::Red(format!("cannot see the history on the backup: {e}")),
                now,
                Vec::new(),
                out,
            ),
        }
        if !alarm.is_empty() {
            let why = format!("ALARM: {}", alarm.join("; "));
            self.stop_at(GateId::Start, why, out);
            return;
        }
        let verdict = match &self.liveness {
            Some(g) => g.verdict(now),
            None => super::gate::LivenessVerdict::Waiting {
                why: "the chain's clock is unknown".into(),
                quiet_epochs: 0,
                required: 0,
                earliest: None,
                missed_duties: 0,
            },
        };
        if let super::gate::LivenessVerdict::Alarm { why } = &verdict {
            let why = format!("ALARM: {why}");
            self.stop_at(GateId::Liveness, why, out);
            return;
        }
        if let super::gate::LivenessVerdict::Waiting { .. } = &verdict
            && self.is_unverified()
            && self
                .last_liveness
                .as_ref()
                .is_none_or(|last| !same_wait(last, &verdict))
        {
            self.last_liveness = Some(verdict.clone());
            out.push(Effect::Record(Record::Liveness {
                verdict: verdict.clone(),
            }));
        }
        if self.is_unverified() {
            // Items 1-2 without SSH: the chain's evidence (or the operator's statement)
            // that nothing signs with the keys any more.
            let e = |observed: String| Evidence {
                host: Some(Role::Primary),
                at: now,
                via: "ssh (unreachable); POST …/validator/liveness".into(),
                observed,
            };
            match &verdict {
                super::gate::LivenessVerdict::Open { why } => {
                    self.set_item(
                        ItemId::PrimaryStopped,
                        ItemState::Green,
                        now,
                        vec![e(why.clone())],
                        out,
                    );
                    self.set_item(
                        ItemId::PrimaryKilled,
                        ItemState::Green,
                        now,
                        vec![e(why.clone())],
                        out,
                    );
                }
                super::gate::LivenessVerdict::Waiting {
                    why,
                    quiet_epochs,
                    required,
                    earliest,
                    missed_duties,
                } => {
                    let countdown = earliest
                        .map(|t| format!("; opens at the earliest in {:.0}s", (t - now).max(0.0)))
                        .unwrap_or_default();
                    let line = format!(
                        "unreachable; {why} ({quiet_epochs} of {required} quiet epochs){countdown}; missed duties so far: {missed_duties}"
                    );
                    self.set_item(
                        ItemId::PrimaryStopped,
                        ItemState::Running,
                        now,
                        vec![e(line.clone())],
                        out,
                    );
                    self.set_item(
                        ItemId::PrimaryKilled,
                        ItemState::Running,
                        now,
                        vec![e(line)],
                        out,
                    );
                }
                super::gate::LivenessVerdict::Alarm { .. } => {}
            }
        }
        let start = super::gate::start_gate(&self.checklist, &verdict, self.gate_since);
        if start.is_open() {
            out.push(self.gate(
                GateId::Start,
                true,
                format!(
                    "items 1-5 green and fresh; liveness: {}",
                    match &verdict {
                        super::gate::LivenessVerdict::Open { why } => why.clone(),
                        _ => String::new(),
                    }
                ),
            ));
            self.last_gate.clear();
            match self.phase {
                Phase::FinalCheck => {
                    self.touched_backup = Some(now);
                    out.push(Effect::Record(Record::Milestone {
                        milestone: Milestone::BackupUnlocked,
                    }));
                    self.set_item(
                        ItemId::LockFileRemoved,
                        ItemState::Running,
                        now,
                        Vec::new(),
                        out,
                    );
                    self.phase = Phase::RemovingLock;
                    out.push(Effect::Act {
                        action: Action::RemoveLock(Role::Backup),
                        timeout: OBSERVE_TIMEOUT,
                    });
                }
                _ => {
                    self.phase = Phase::AwaitStartConfirmation;
                    out.push(Effect::Ask(Confirm::StartBackup {
                        expect: self.plan.backup.clone(),
                    }));
                }
            }
            return;
        }
        // Held at the gate: say why (once per change), look again shortly.
        let why = start.summary();
        if now - self.gate_entered > self.plan.gate_timeout {
            let why = format!(
                "held at the Start gate for {:.0}s, longer than {:.0}s: {why}; the primary stays fenced and the backup locked",
                now - self.gate_entered,
                self.plan.gate_timeout
            );
            self.stop_at(GateId::Start, why, out);
            return;
        }
        if why != self.last_gate {
            out.push(Effect::Record(Record::Gate {
                gate: GateId::Start,
                open: false,
                why: why.clone(),
                waits: start.described(),
            }));
            self.last_gate = why;
        }
        self.gate_since = now;
        self.phase = Phase::AwaitingGate;
        // The liveness wait moves with the chain: look once a slot, not faster.
        let interval = match (self.is_unverified(), self.chain) {
            (true, Some(c)) => self.plan.verify_interval.max(c.seconds_per_slot as f64),
            _ => self.plan.verify_interval,
        };
        out.push(Effect::WaitUntil(now + interval));
    }

    fn attestation_observations(&self, now: f64, since: f64) -> Vec<(Role, Observe)> {
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
    fn watch_attestations(
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
                let why = format!("item 9 cannot be verified: {}", super::alerts::NO_INDICES);
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

    /// Item 9 after the start, by [`super::alerts::judge`]: the beacon state's record
    /// of our validators, the pool, the balances against the Start gate's.
    fn judge_alerts(&mut self, now: f64, obs: &[Observation], out: &mut Vec<Effect>) {
        let b = Batch(obs);
        let vals = value!(b, Role::Backup, Validators);
        let pool = value!(b, Role::Backup, SlashingPool);
        let verdict = super::alerts::judge(super::alerts::AlertsInput {
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
                if let super::alerts::Alerts::Clear(seen) = &verdict {
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

    fn complete(&mut self, out: &mut Vec<Effect>) {
        out.push(self.gate(
            GateId::Failover,
            true,
            "the backup signs; items 1-9 done".into(),
        ));
        self.phase = Phase::Completed;
        out.push(Effect::Finished(Outcome::Completed));
    }

    /// Items 4-5 from the backup's beacon and execution nodes; what is not ready.
    fn judge_sync(&mut self, b: &Batch<'_>, now: f64, out: &mut Vec<Effect>) -> Vec<String> {
        let mut not_ready = Vec::new();
        let max = self.plan.max_sync_distance;
        match value!(b, Role::Backup, Beacon) {
            Ok((o, s)) => match s.problem(max) {
                None => self.set_item(
                    ItemId::BackupBeaconSynced,
                    ItemState::Green,
                    o.at,
                    vec![ev(o, s.summary())],
                    out,
                ),
                Some(p) => {
                    not_ready.push(format!("the backup's beacon node is not ready: {p}"));
                    self.set_item(
                        ItemId::BackupBeaconSynced,
                        ItemState::Red(p),
                        o.at,
                        vec![ev(o, s.summary())],
                        out,
                    );
                }
            },
            Err(e) => {
                not_ready.push(format!("the backup's beacon node: {e}"));
                self.set_item(
                    ItemId::BackupBeaconSynced,
                    ItemState::Red(e),
                    now,
                    Vec::new(),
                    out,
                );
            }
        }
        match value!(b, Role::Backup, Execution) {
            Ok((o, s)) => match s.problem() {
                None => self.set_item(
                    ItemId::BackupGzondSynced,
                    ItemState::Green,
                    o.at,
                    vec![ev(o, s.summary())],
                    out,
                ),
                Some(p) => {
                    not_ready.push(format!("the backup's execution node is not ready: {p}"));
                    self.set_item(
                        ItemId::BackupGzondSynced,
                        ItemState::Red(p),
                        o.at,
                        vec![ev(o, s.summary())],
                        out,
                    );
                }
            },
            Err(e) => {
                not_ready.push(format!("the backup's execution node: {e}"));
                self.set_item(
                    ItemId::BackupGzondSynced,
                    ItemState::Red(e),
                    now,
                    Vec::new(),
                    out,
                );
            }
        }
        not_ready
    }

    /// Record a typed confirmation; unless it is exactly the expected host name, say
    /// so and ask again.
    fn confirmed(&self, question: Confirm, typed: &str, out: &mut Vec<Effect>) -> bool {
        out.push(Effect::Record(Record::Confirmation {
            action: question.action().into(),
            typed: typed.to_string(),
        }));
        if typed.trim() == question.expected() {
            return true;
        }
        let (gate, whose) = match question {
            Confirm::StopPrimary { .. } => (GateId::StopConfirmation, "primary"),
            Confirm::StartBackup { .. } => (GateId::StartConfirmation, "backup"),
            Confirm::UnverifiedPrimary { .. } => (GateId::UnverifiedConfirmation, "primary"),
            Confirm::Rollback { .. } => (GateId::RollbackConfirmation, "primary"),
            Confirm::StopAll { .. } => (GateId::StopAllConfirmation, "pair"),
        };
        out.push(self.gate(
            gate,
            false,
            format!(
                "typed {typed:?}, not the {whose}'s name {:?}",
                question.expected()
            ),
        ));
        out.push(Effect::Ask(question));
        false
    }

    /// Step `i` of an undo sequence.
    fn undo_step(&mut self, undo: Undo, i: usize, out: &mut Vec<Effect>) {
        let action = undo.actions()[i];
        self.phase = Phase::Undoing { undo, i };
        out.push(Effect::Act {
            action,
            timeout: if matches!(action, Action::Stop(_)) {
                self.plan.stop_timeout
            } else {
                OBSERVE_TIMEOUT
            },
        });
    }

    /// A gate that stops the run before anything is touched: said, exit 3.
    fn block_at(&mut self, gate: GateId, why: String, out: &mut Vec<Effect>) {
        out.push(self.gate(gate, false, why.clone()));
        self.phase = Phase::Blocked(why.clone());
        out.push(Effect::Blocked(why));
    }

    /// A gate that ends the run: said, and finished as failed.
    fn stop_at(&mut self, gate: GateId, why: String, out: &mut Vec<Effect>) {
        out.push(self.gate(gate, false, why.clone()));
        self.phase = Phase::Failed(why.clone());
        out.push(Effect::Finished(Outcome::Failed(why)));
    }

    fn fail(&mut self, now: f64, item: ItemId, why: String, out: &mut Vec<Effect>) {
        self.set_item(item, ItemState::Red(why.clone()), now, Vec::new(), out);
        self.phase = Phase::Failed(why.clone());
        out.push(Effect::Finished(Outcome::Failed(why)));
    }

    /// Spec §2, first gate: everything that can be known before the primary is
    /// stopped is checked before it is stopped.
    fn first_gate(&mut self, now: f64, obs: &[Observation], out: &mut Vec<Effect>) {
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

    /// The stop checks of items 1-2 on one batch: the evidence of each, or why not
    /// and whether that is an alarm (the primary seen running or unfenced) rather
    /// than not knowing.
    #[allow(clippy::type_complexity)]
    fn stop_problems(
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
    fn verify_stop(
        &mut self,
        now: f64,
        obs: &[Observation],
        first_ok: Option<f64>,
        escalated: bool,
        attempts: u32,
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

        if not_yet.is_empty() {
            match first_ok {
                Some(t) if now - t >= self.plan.verify_interval => {
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
                                    now - t
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
                            super::gate::LivenessGate::new(clock, self.plan.indices.clone());
                        g.path = Some(super::gate::LivenessPath::VerifiedStop {
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
                Some(t) => {
                    self.phase = Phase::VerifyingStop {
                        first_ok: Some(t),
                        escalated,
                        attempts,
                    };
                    out.push(Effect::WaitUntil(t + self.plan.verify_interval));
                }
                None => {
                    self.phase = Phase::VerifyingStop {
                        first_ok: Some(now),
                        escalated,
                        attempts,
                    };
                    out.push(Effect::WaitUntil(now + self.plan.verify_interval));
                }
            }
            return;
        }

        // Not stopped (or not yet known). Escalate once, through systemd, then look
        // again a bounded number of times.
        let why = not_yet.join("; ");
        if stuck && !escalated {
            out.push(self.gate(
                GateId::Stop,
                false,
                format!("the primary did not stop in time: {why}; escalating to SIGKILL"),
            ));
            self.phase = Phase::VerifyingStop {
                first_ok: None,
                escalated: true,
                attempts,
            };
            out.push(Effect::Act {
                action: Action::Kill(Role::Primary),
                timeout: OBSERVE_TIMEOUT,
            });
            return;
        }
        if attempts >= self.plan.verify_attempts {
            let why = format!("the primary is not verified stopped: {why}");
            self.set_item(
                ItemId::PrimaryKilled,
                ItemState::Red(why.clone()),
                now,
                Vec::new(),
                out,
            );
            self.fail(now, ItemId::PrimaryStopped, why, out);
            return;
        }
        self.phase = Phase::VerifyingStop {
            first_ok: None,
            escalated,
            attempts: attempts + 1,
        };
        out.push(Effect::WaitUntil(now + self.plan.verify_interval));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan::from_config(&crate::config::Config::with_hosts("primary", "backup"))
    }

    #[test]
    fn a_new_run_touched_nothing_and_its_reason_stands_alone() {
        let m = Failover::new(plan());
        let s = m.standing();
        assert_eq!(
            s,
            Standing {
                primary: PrimaryStanding::Untouched,
                backup: BackupStanding::Locked,
            }
        );
        assert!(!s.touched());
        assert_eq!(
            s.with("the backup cannot be reached"),
            "the backup cannot be reached"
        );
    }

    #[test]
    fn the_standing_follows_what_was_done_and_verified() {
        let mut m = Failover::new(plan());
        m.touched_primary = Some(100.0);
        assert_eq!(m.standing().primary, PrimaryStanding::Touched);
        m.checklist
            .set(ItemId::PrimaryStopped, ItemState::Green, 101.0, Vec::new())
            .unwrap();
        assert_eq!(m.standing().primary, PrimaryStanding::StoppedAndFenced);
        assert_eq!(m.standing().backup, BackupStanding::Locked);
        m.touched_backup = Some(200.0);
        assert_eq!(m.standing().backup, BackupStanding::Unlocked);
        m.backup_started = Some(Some(201.0));
        assert_eq!(
            m.standing().backup,
            BackupStanding::Started { at: Some(201.0) }
        );
        m.checklist
            .set(
                ItemId::BackupValidatorStarted,
                ItemState::Green,
                202.0,
                Vec::new(),
            )
            .unwrap();
        assert_eq!(
            m.standing().backup,
            BackupStanding::Runs { at: Some(201.0) }
        );
        m.checklist
            .set(
                ItemId::AttestationsSubmitted,
                ItemState::Green,
                203.0,
                Vec::new(),
            )
            .unwrap();
        assert_eq!(
            m.standing().backup,
            BackupStanding::Signs { at: Some(201.0) }
        );
        m.primary_restarting = true;
        m.backup_relocked = true;
        assert_eq!(
            m.standing(),
            Standing {
                primary: PrimaryStanding::Restarted,
                backup: BackupStanding::LockedAgain,
            }
        );
        m.stopping_all = true;
        assert_eq!(
            m.standing(),
            Standing {
                primary: PrimaryStanding::StopAllUnverified,
                backup: BackupStanding::StopAllUnverified,
            }
        );
    }

    #[test]
    fn the_closing_words_name_both_validators_around_the_reason() {
        let s = Standing {
            primary: PrimaryStanding::StoppedAndFenced,
            backup: BackupStanding::Signs {
                at: Some(1_796_151_731.0),
            },
        };
        assert_eq!(
            s.with("item 9 could not be verified: the beacon node did not answer (timed-out)"),
            "the backup signs (started 19:02:11Z, attestations seen); item 9 could not be verified: the beacon node did not answer (timed-out); the primary is stopped and fenced"
        );
        let s = Standing {
            primary: PrimaryStanding::Unreached {
                fenced_out_of_band: false,
            },
            backup: BackupStanding::Runs { at: None },
        };
        assert_eq!(
            s.with("no attestation"),
            "the backup's validator runs (started before the interruption, no attestation seen); no attestation; the primary could not be reached (nothing done to it; judged stopped by the chain only)"
        );
    }

    #[test]
    fn a_resume_rests_on_the_milestones_or_on_a_format_1_journals_commands() {
        use super::super::journal::{Entry, JOURNAL_FORMAT, RunOutcome};
        let journal = |format: u32, rest: Vec<Record>| {
            let mut v: Vec<Entry> = Vec::new();
            let first = Record::RunStarted {
                run: "r".into(),
                primary: "p".into(),
                backup: "b".into(),
                reason: None,
                config: None,
                program: "t".into(),
                config_origin: None,
                format,
            };
            for r in std::iter::once(first).chain(rest) {
                let e = Entry::next(v.last(), 1.0, "t", r);
                v.push(e);
            }
            v
        };
        let touched = Record::Milestone {
            milestone: Milestone::PrimaryTouched,
        };
        let lock = Record::Command {
            host: Role::Primary,
            command: format!("create {} exclusively", super::super::steps::RUN_LOCK),
            status: Some(0),
            excerpt: String::new(),
        };
        let fence = Record::Command {
            host: Role::Primary,
            command: "mkdir -p -- /etc/quantapool".into(),
            status: Some(0),
            excerpt: String::new(),
        };
        // Killed after the milestone, before the fence's command was journaled.
        let f2 = journal(JOURNAL_FORMAT, vec![lock.clone(), touched.clone()]);
        assert_eq!(resume_facts(&f2), Some((true, false)));
        // Format 2 reads only the milestones: the run lock is not a touch.
        let f2 = journal(JOURNAL_FORMAT, vec![lock.clone()]);
        assert_eq!(resume_facts(&f2), Some((false, false)));
        let unlocked = Record::Milestone {
            milestone: Milestone::BackupUnlocked,
        };
        let f2 = journal(JOURNAL_FORMAT, vec![touched.clone(), unlocked]);
        assert_eq!(resume_facts(&f2), Some((true, true)));
        // Format 1: a command on the primary other than the run lock's.
        let f1 = journal(1, vec![lock.clone()]);
        assert_eq!(resume_facts(&f1), Some((false, false)));
        let f1 = journal(1, vec![lock.clone(), fence.clone()]);
        assert_eq!(resume_facts(&f1), Some((true, false)));
        // Ended, or rolling back or stopping all: not resumed as a failover.
        let ended = Record::RunEnded {
            outcome: RunOutcome::Completed,
        };
        assert_eq!(
            resume_facts(&journal(JOURNAL_FORMAT, vec![touched.clone(), ended])),
            None
        );
        for gate in [GateId::Rollback, GateId::StopAll] {
            let g = Record::Gate {
                gate,
                open: true,
                why: String::new(),
                waits: Vec::new(),
            };
            assert_eq!(
                resume_facts(&journal(JOURNAL_FORMAT, vec![touched.clone(), g])),
                None
            );
        }
    }

    #[test]
    fn completion_says_when_item_9_was_waived() {
        let mut m = Failover::new(plan());
        assert_eq!(m.completion(), "items 1-9 are done");
        m.checklist
            .waive(ItemId::AlertsCleared, "item 9 cannot be verified: x", 1.0)
            .unwrap();
        assert_eq!(
            m.completion(),
            "items 1-8 are done, 9 is not: item 9 cannot be verified: x"
        );
    }
}
