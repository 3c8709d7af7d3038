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
//!
//! One module per part of the runbook, each a set of steps over its phases;
//! `handle` below is the table that says which part takes which event in which phase:
//!
//! - `first_gate`: the first look at everything, and the stop asked (typed, `confirm`)
//! - `fence_stop`: items 1-2, the primary fenced, stopped and verified twice
//! - `unreachable`: the path without a verified stop (archive, liveness wait)
//! - `transfer`: item 3's result
//! - `start_gate`: items 1-5 fresh and the liveness gate; the start asked
//! - `start`: items 6-9
//! - `rollback` (and `rollback_record`, what it shows), `undo`: the way back
//! - `stop_all`: the emergency stop, from any phase
//! - `resume`: the same run again after a kill
//! - `standing`: where both validators stand, for the closing line
//! - `seen`: a batch of observations and the judgements the parts share

use serde::{Deserialize, Serialize};

use super::checklist::{Checklist, Evidence, ItemState};
use super::ids::{Alarm, GateId, ItemId, Milestone, RollbackStep};
use super::journal::Record;
use super::steps::Action;
use crate::config::Role;
use crate::observed::{
    BeaconSync, ChainInfo, ExecutionSync, Failure, FileInfo, HistoryState, HostError, Metrics,
    UnitState, ValidatorState,
};

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
    /// How a check is repeated (`verify`): `verify_interval` apart, at most
    /// `verify_attempts` failed looks.
    pub fn rule(&self, twice: bool, escalate: bool) -> Rule {
        Rule {
            twice,
            interval: self.verify_interval,
            attempts: self.verify_attempts,
            escalate,
        }
    }

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
    /// A person's rollback or stop-all, with its confirmation: journaled, and done
    /// only when it is the one the action needs (`confirm::Request`).
    Requested {
        now: f64,
        request: Request,
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
    /// Items 1-2: the stop checks, seen right twice, with one escalation.
    VerifyingStop(Verifying),
    Transferring,
    /// Items 4-5 and the liveness gate, re-probed until the Start gate opens.
    AwaitingGate,
    AwaitStartConfirmation,
    /// Confirmed: one more look before the lock comes off.
    FinalCheck,
    RemovingLock,
    Starting,
    /// Item 7: the backup's validator seen running.
    VerifyingStart(Verifying),
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
    VerifyingBackupStopped(Verifying),
    /// The backup's history on its way back to the primary.
    TransferringBack,
    /// The rollback's Start gate, in reverse: the backup still stopped and locked, the
    /// primary's beacon and execution nodes synced.
    ReverseGate {
        since: f64,
    },
    /// R4: the primary's validator seen running again.
    VerifyingRollback(Verifying),
    RolledBack,
    /// The stop-all's checks on both hosts, with one escalation.
    VerifyingStopAll(Verifying),
    StoppedAll,
    Failed(String),
}

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
    /// The action whose answer the machine waits for: an `Acted` for any other (a
    /// late answer to a step an interrupt replaced) is not taken for it.
    awaiting: Option<Action>,
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

mod seen;
use seen::*;
mod confirm;
mod fence_stop;
mod first_gate;
mod resume;
mod rollback;
mod rollback_record;
mod standing;
mod start;
mod start_gate;
mod stop_all;
#[cfg(test)]
mod sweep;
mod transfer;
mod undo;
mod unreachable;
mod verify;

pub use confirm::{Confirm, Request, StopAllConsent};
pub use resume::resume_facts;
pub use standing::{BackupStanding, PrimaryStanding, Standing, clock_time};
use undo::FENCE;
pub use undo::Undo;
use verify::Next;
pub use verify::{Rule, Verifying};

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
            awaiting: None,
        }
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

    pub fn handle(&mut self, event: Event) -> Vec<Effect> {
        if let Event::Acted { action, .. } = &event {
            if self.awaiting != Some(*action) {
                // Not the answer this step waits for: it changes nothing.
                return vec![self.gate(
                    GateId::Event,
                    false,
                    format!(
                        "ignored the answer to {action:?}: the step waits for {:?}",
                        self.awaiting
                    ),
                )];
            }
            self.awaiting = None;
        }
        let out = self.step(event);
        if let Some(action) = out.iter().rev().find_map(|e| match e {
            Effect::Act { action, .. } => Some(*action),
            _ => None,
        }) {
            self.awaiting = Some(action);
        }
        out
    }

    /// The table: which part of the runbook takes this event in this phase.
    fn step(&mut self, event: Event) -> Vec<Effect> {
        let mut out = Vec::new();
        if let Event::Observed { observations, .. } = &event
            && self.stopped_by_another(observations, &mut out)
        {
            return out;
        }
        match (self.phase.clone(), event) {
            (Phase::New, Event::Begin { .. }) => self.begin(&mut out),
            (
                Phase::New,
                Event::Resume {
                    now,
                    primary_touched,
                    backup_touched,
                },
            ) => self.resume(now, primary_touched, backup_touched, &mut out),
            (
                Phase::ResumeSurvey {
                    primary_touched,
                    backup_touched,
                },
                Event::Observed { now, observations },
            ) => self.resume_survey(
                now,
                &observations,
                primary_touched,
                backup_touched,
                &mut out,
            ),
            (Phase::New, Event::BeginRollback { .. }) => self.begin_rollback(&mut out),
            (Phase::RollbackSurvey, Event::Observed { now, observations }) => {
                self.survey_for_rollback(now, &observations, &mut out);
            }
            (Phase::AwaitRollbackConfirmation, Event::Confirmed { now, typed }) => {
                self.rollback_confirmed(now, typed, &mut out)
            }
            (Phase::AwaitRollbackConfirmation, Event::Declined { .. }) => {
                let why = "the operator declined the rollback: nothing was touched".to_string();
                self.block_at(GateId::RollbackConfirmation, why, &mut out);
            }
            (Phase::Preflight, Event::Observed { now, observations }) => {
                self.first_gate(now, &observations, &mut out);
            }
            (Phase::AwaitStopConfirmation, Event::Confirmed { now, typed }) => {
                self.stop_confirmed(now, typed, &mut out)
            }
            (
                Phase::Fencing(i),
                Event::Acted {
                    now,
                    action,
                    result,
                    via,
                },
            ) => self.fenced(i, now, action, result, via, &mut out),
            (
                Phase::Stopping,
                Event::Acted {
                    now, result, via, ..
                },
            ) => self.stopped(now, result, via, &mut out),
            (Phase::VerifyingStop(v), Event::Observed { now, observations }) => {
                self.verify_stop(now, &observations, v, &mut out)
            }
            (Phase::VerifyingStop(_), Event::Acted { result, via, .. }) => {
                self.stop_escalated(result, via, &mut out)
            }
            (Phase::VerifyingStop(_), Event::Tick { .. }) => {
                out.push(Effect::Observe(self.stop_checks()));
            }
            (
                Phase::Transferring,
                Event::Transferred {
                    now,
                    result,
                    evidence,
                },
            ) => self.transferred(now, result, evidence, &mut out),
            (Phase::AwaitingGate | Phase::FinalCheck, Event::Observed { now, observations }) => {
                self.judge_gate(now, &observations, &mut out);
            }
            (Phase::AwaitingGate, Event::Tick { now }) => {
                out.push(Effect::Observe(self.gate_observations(now)));
            }
            (Phase::AwaitStartConfirmation, Event::Confirmed { now, typed }) => {
                self.start_confirmed(now, typed, &mut out)
            }
            (
                Phase::RemovingLock,
                Event::Acted {
                    now, result, via, ..
                },
            ) => self.lock_removed(now, result, via, &mut out),
            (
                Phase::Starting,
                Event::Acted {
                    now, result, via, ..
                },
            ) => self.started(now, result, via, &mut out),
            (Phase::VerifyingStart(v), Event::Observed { now, observations }) => {
                self.verify_start(now, &observations, v, &mut out)
            }
            (Phase::VerifyingStart(_), Event::Tick { .. }) => {
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
                self.unverified_confirmed(source, now, typed, &mut out)
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
            (phase, Event::Requested { now, request }) => {
                self.requested(now, &phase, request, &mut out)
            }
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
            (Phase::VerifyingStopAll(v), Event::Observed { now, observations }) => {
                self.verify_stop_all(now, &observations, v, &mut out);
            }
            (Phase::VerifyingStopAll(_), Event::Acted { .. } | Event::Tick { .. }) => {
                match self.pending_kills.pop() {
                    Some(r) => out.push(Effect::Act {
                        action: Action::Kill(r),
                        timeout: OBSERVE_TIMEOUT,
                    }),
                    None => out.push(Effect::Observe(self.stop_all_checks())),
                }
            }
            (Phase::VerifyingBackupStopped(v), Event::Observed { now, observations }) => {
                self.verify_backup_stopped(now, &observations, v, &mut out)
            }
            (Phase::VerifyingBackupStopped(_), Event::Tick { .. }) => {
                out.push(Effect::Observe(self.backup_idle_checks()));
            }
            (
                Phase::TransferringBack,
                Event::Transferred {
                    now,
                    result,
                    evidence,
                },
            ) => self.transferred_back(now, result, evidence, &mut out),
            (Phase::ReverseGate { since }, Event::Observed { now, observations }) => {
                self.reverse_gate(now, &observations, since, &mut out)
            }
            (Phase::ReverseGate { .. }, Event::Tick { .. }) => {
                out.push(Effect::Observe(self.reverse_gate_observations()));
            }
            (phase, Event::Rollback { now }) => self.rollback(now, &phase, &mut out),
            (
                Phase::Undoing { undo, i },
                Event::Acted {
                    action,
                    result,
                    via,
                    ..
                },
            ) => self.undone(undo, i, action, result, via, &mut out),
            (Phase::VerifyingRollback(v), Event::Observed { now, observations }) => {
                self.verify_rollback(now, &observations, v, &mut out)
            }
            (Phase::VerifyingRollback(_), Event::Tick { .. }) => {
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

    /// An alarm, journaled as a value beside the words that say it.
    fn alarm(&self, alarm: Alarm, why: &str) -> Effect {
        Effect::Record(Record::Alarm {
            alarm,
            why: why.to_string(),
        })
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
}
