//! The machine tested as a machine (issue 9 item 5, the atuin model): no I/O, no
//! async. A model of the pair (`World`) answers the machine's effects as a faithful
//! driver would; from it every `Phase` is reached by driving the machine along one
//! of the runbook's paths (so each carries the state that phase implies: the
//! primary touched, the backup unlocked, the chain, the liveness gate). Then every
//! event, and for `Observed` every batch (all right, each check wrong in turn, host
//! errors, missing observations, wrong value kinds), is handed to every phase, and
//! random sequences are driven from `Phase::New` (proptest). The invariants:
//!
//! - the backup's lock comes off (and its validator starts) only after the Start
//!   gate opened, after the backup's name was typed;
//! - the emergency stop-all is taken in every phase: both hosts fenced and stopped,
//!   nothing started or unlocked;
//! - nothing on the primary is touched before its name is typed;
//! - no input makes the engine panic.

use super::*;
use crate::chain::ChainClock;
use crate::config::{BeaconFlavour, ExecutionFlavour};
use crate::observed::{ExecutionBasis, FileInfo, HistoryState, Metrics, UnitState};
use proptest::prelude::*;

pub(super) const P: &str = "val-a";
pub(super) const B: &str = "val-b";
/// Genesis, and the machine's first moment (a few epochs after it).
const GENESIS: u64 = 1_000_000;
pub(super) const T0: f64 = 1_000_100.0;
const PID: u32 = 4242;

fn clock() -> ChainClock {
    ChainClock::new(GENESIS, 2, 4).expect("a chain")
}

/// The pair's plan (parsed once: a configuration is not cheap to parse).
static PLAN: std::sync::LazyLock<Plan> = std::sync::LazyLock::new(|| {
    let mut p = Plan::from_config(&crate::config::Config::with_hosts(P, B));
    p.indices = vec![7, 8];
    p.verify_interval = 3.0;
    p.stop_timeout = 10.0;
    p.verify_attempts = 3;
    p.liveness_epochs = 2;
    p.attest_epochs = 3;
    p.gate_timeout = 600.0;
    p
});

fn plan() -> Plan {
    PLAN.clone()
}

// ---------------------------------------------------------------------------
// The pair, as a model a driver executes on.

#[derive(Debug, Clone, Copy)]
pub(super) struct Host {
    pub(super) reachable: bool,
    pub(super) running: bool,
    pub(super) disabled: bool,
    /// The fence's runtime drop-in is loaded.
    pub(super) fenced: bool,
    pub(super) lock: bool,
}

#[derive(Debug, Clone)]
pub(super) struct World {
    pub(super) primary: Host,
    pub(super) backup: Host,
    /// A backup archive holding a history, on the backup.
    pub(super) archive: bool,
}

impl World {
    /// Before a failover: the primary signs, the backup is stopped and locked.
    pub(super) fn before() -> World {
        World {
            primary: Host {
                reachable: true,
                running: true,
                disabled: false,
                fenced: false,
                lock: false,
            },
            backup: Host {
                reachable: true,
                running: false,
                disabled: true,
                fenced: false,
                lock: true,
            },
            archive: true,
        }
    }

    pub(super) fn unreachable_primary(archive: bool) -> World {
        let mut w = World::before();
        w.primary.reachable = false;
        w.archive = archive;
        w
    }

    pub(super) fn host(&mut self, r: Role) -> &mut Host {
        match r {
            Role::Primary => &mut self.primary,
            Role::Backup => &mut self.backup,
        }
    }

    pub(super) fn act(&mut self, a: Action) {
        let h = self.host(a.host());
        match a {
            Action::WriteLock(_) => h.lock = true,
            Action::RemoveLock(_) => h.lock = false,
            Action::Disable(_) | Action::MaskRuntime(_) => h.disabled = true,
            Action::Enable(_) => h.disabled = false,
            Action::WriteFenceDropIn(_) => h.fenced = true,
            Action::RemoveFenceDropIn(_) => h.fenced = false,
            Action::Stop(_) | Action::Kill(_) => h.running = false,
            // The unit's precheck refuses with the lock; the drop-in refuses always.
            Action::Start(_) => h.running = !h.fenced && !h.lock,
            Action::EnsureLockDir(_)
            | Action::EnsureDropInDir(_)
            | Action::DaemonReload(_)
            | Action::UnmaskRuntime(_) => {}
        }
    }

    fn signs(&self) -> bool {
        self.backup.running || (self.primary.running && self.primary.reachable)
    }

    fn value(&self, r: Role, what: Observe, now: f64) -> Value {
        let plan = &*PLAN;
        let h = match r {
            Role::Primary => self.primary,
            Role::Backup => self.backup,
        };
        let file = |kind: &str, size: u64| FileInfo {
            kind: kind.into(),
            mode: 0o444,
            user: "root".into(),
            group: "root".into(),
            size,
            mtime: now as i64,
        };
        match what {
            Observe::Unit => Value::Unit(UnitState {
                load_state: "loaded".into(),
                active_state: if h.running { "active" } else { "inactive" }.into(),
                sub_state: if h.running { "running" } else { "dead" }.into(),
                main_pid: if h.running { PID } else { 0 },
                unit_file_state: if h.disabled { "disabled" } else { "enabled" }.into(),
                n_restarts: 0,
                drop_in_paths: if h.fenced {
                    vec![plan.fence_dropin.clone()]
                } else {
                    Vec::new()
                },
                exec_start: String::new(),
                user: "qrysm".into(),
                group: "qrysm".into(),
                environment: String::new(),
            }),
            Observe::Processes => Value::Processes(if h.running { vec![PID] } else { vec![] }),
            Observe::Metrics => Value::Metrics(Metrics {
                answering: h.running,
                successful_attestations: None,
                keys: 0,
            }),
            Observe::Lock => Value::Lock(h.lock.then(|| file("regular empty file", 0))),
            Observe::History => Value::History(HistoryState {
                location: crate::history::HistoryLocation {
                    datadir: "/var/lib/qrysm/validator".into(),
                    file: "/var/lib/qrysm/validator/validator.db".into(),
                    wallet_dir: None,
                    rule: crate::history::Rule::Configured {
                        key: "validator.history".into(),
                    },
                },
                file: Some(file("regular file", 1 << 20)),
                read: None,
            }),
            Observe::Beacon => Value::Beacon(BeaconSync {
                flavour: BeaconFlavour::Zond,
                head_slot: clock().slot_at(now),
                sync_distance: 0,
                is_syncing: false,
                is_optimistic: false,
                el_offline: false,
                peers: Some(12),
                health: Some(200),
            }),
            Observe::Execution => Value::Execution(ExecutionSync {
                method: ExecutionFlavour::Zond,
                syncing: false,
                current_block: Some(100),
                highest_block: Some(100),
                peers: Some(8),
                basis: ExecutionBasis::Direct,
            }),
            Observe::Chain => Value::Chain(ChainInfo {
                clock: clock(),
                head_slot: clock().slot_at(now),
                genesis_validators_root: None,
            }),
            Observe::Space => Value::Space(10 << 30),
            Observe::Liveness(_) => {
                Value::Liveness(plan.indices.iter().map(|k| (*k, self.signs())).collect())
            }
            Observe::JournalSince(_) => Value::Journal(if self.backup.running {
                vec!["level=info msg=\"Submitted new attestation\" slot=9".into()]
            } else {
                Vec::new()
            }),
            Observe::SlashingPool => Value::SlashingPool(Vec::new()),
            Observe::Validators => Value::Validators(
                plan.indices
                    .iter()
                    .map(|k| ValidatorState {
                        index: *k,
                        pubkey: format!("0x{k:04x}"),
                        status: "active_ongoing".into(),
                        slashed: false,
                        balance: Some(32_000_000_000),
                    })
                    .collect(),
            ),
            Observe::Archives => Value::Archives(if self.archive {
                vec![ArchiveAt {
                    host: Some(Role::Backup),
                    path: "/var/backups/validator-db.tar.gz".into(),
                    size: 4096,
                    mtime: now - 30.0,
                    holds: Some(Ok("2 keys".into())),
                }]
            } else {
                Vec::new()
            }),
        }
    }

    pub(super) fn observe(&self, wants: &[(Role, Observe)], now: f64) -> Vec<Observation> {
        wants
            .iter()
            .map(|(r, w)| {
                let reachable = match r {
                    Role::Primary => self.primary.reachable,
                    Role::Backup => self.backup.reachable,
                };
                Observation {
                    host: *r,
                    what: *w,
                    at: now,
                    via: format!("{w:?} on {r}"),
                    value: if reachable {
                        Ok(self.value(*r, *w, now))
                    } else {
                        Err(HostError::new(
                            *r,
                            Failure::Unreachable,
                            "ssh",
                            "no route to host",
                        ))
                    },
                }
            })
            .collect()
    }
}

/// The answer a faithful driver gives to a transfer.
pub(super) fn transferred() -> Transferred {
    Transferred {
        archive_sha256: "ab".repeat(32),
        bytes: 1 << 20,
        files: Vec::new(),
        set_aside: Some("/var/lib/qrysm/validator.before".into()),
        local_copy: "/tmp/run/history.tar.gz".into(),
        last_target: Default::default(),
        last_signed: Default::default(),
    }
}

pub(super) fn acted(now: f64, action: Action, result: Result<(), HostError>) -> Event {
    Event::Acted {
        now,
        action,
        via: format!("{action:?}"),
        result,
    }
}

pub(super) fn err(r: Role, failure: Failure) -> HostError {
    HostError::new(r, failure, "the step", failure.as_str())
}

// ---------------------------------------------------------------------------
// A run: the events handed to the machine, and what it answered.

pub(super) struct Step {
    pub(super) phase: Phase,
    pub(super) event: Event,
    pub(super) out: Vec<Effect>,
}

pub(super) struct Run {
    pub(super) m: Failover,
    pub(super) world: World,
    pub(super) steps: Vec<Step>,
    pub(super) now: f64,
}

impl Run {
    fn new(world: World) -> Run {
        Run {
            m: Failover::new(plan()),
            world,
            steps: Vec::new(),
            now: T0,
        }
    }

    pub(super) fn send(&mut self, event: Event) -> &[Effect] {
        let phase = self.m.phase.clone();
        let out = self.m.handle(event.clone());
        self.steps.push(Step { phase, event, out });
        &self.steps.last().expect("just pushed").out
    }

    /// The last effect that asks for an answer.
    pub(super) fn pending(&self) -> Option<Effect> {
        let out = &self.steps.last()?.out;
        out.iter()
            .rev()
            .find(|e| !matches!(e, Effect::Record(_)))
            .cloned()
    }

    fn finished(&self) -> bool {
        matches!(
            self.pending(),
            Some(Effect::Finished(_) | Effect::Blocked(_)) | None
        )
    }

    /// Answer the pending effect as a faithful driver would, the operator typing the
    /// expected name.
    pub(super) fn answer(&mut self) -> bool {
        let Some(e) = self.pending() else {
            return false;
        };
        self.now += 1.0;
        let now = self.now;
        let event = match e {
            Effect::Observe(wants) => Event::Observed {
                now,
                observations: self.world.observe(&wants, now),
            },
            Effect::Act { action, .. } => {
                if self.world.host(action.host()).reachable {
                    self.world.act(action);
                    acted(now, action, Ok(()))
                } else {
                    let e = err(action.host(), Failure::Unreachable);
                    acted(now, action, Err(e))
                }
            }
            Effect::Ask(q) => Event::Confirmed {
                now,
                typed: q.expected().to_string(),
            },
            Effect::WaitUntil(t) => {
                self.now = self.now.max(t);
                Event::Tick { now: self.now }
            }
            Effect::Transfer { .. } => Event::Transferred {
                now,
                result: Ok(transferred()),
                evidence: Vec::new(),
            },
            Effect::Record(_) | Effect::Blocked(_) | Effect::Finished(_) => return false,
        };
        self.send(event);
        true
    }

    /// Answer until the machine is in a phase `stop` accepts (true) or has nothing
    /// more to ask (false).
    pub(super) fn until(&mut self, stop: impl Fn(&Phase) -> bool) -> bool {
        for _ in 0..400 {
            if stop(&self.m.phase) {
                return true;
            }
            if !self.answer() {
                return stop(&self.m.phase);
            }
        }
        panic!("no end after 400 answers, in {:?}", self.m.phase)
    }
}

/// A phase's name: exhaustive, so that a new phase is a compile error here until the
/// sweep reaches it.
fn kind(p: &Phase) -> &'static str {
    match p {
        Phase::New => "New",
        Phase::Preflight => "Preflight",
        Phase::ResumeSurvey { .. } => "ResumeSurvey",
        Phase::RollbackSurvey => "RollbackSurvey",
        Phase::AwaitRollbackConfirmation => "AwaitRollbackConfirmation",
        Phase::AwaitStopAllConfirmation => "AwaitStopAllConfirmation",
        Phase::AwaitStopConfirmation => "AwaitStopConfirmation",
        Phase::Fencing(_) => "Fencing",
        Phase::Stopping => "Stopping",
        Phase::VerifyingStop(_) => "VerifyingStop",
        Phase::Transferring => "Transferring",
        Phase::AwaitingGate => "AwaitingGate",
        Phase::AwaitStartConfirmation => "AwaitStartConfirmation",
        Phase::FinalCheck => "FinalCheck",
        Phase::RemovingLock => "RemovingLock",
        Phase::Starting => "Starting",
        Phase::VerifyingStart(_) => "VerifyingStart",
        Phase::WatchingAttestations { .. } => "WatchingAttestations",
        Phase::CheckingAlerts => "CheckingAlerts",
        Phase::Completed => "Completed",
        Phase::AwaitUnverifiedConfirmation { .. } => "AwaitUnverifiedConfirmation",
        Phase::Blocked(_) => "Blocked",
        Phase::Undoing { .. } => "Undoing",
        Phase::VerifyingBackupStopped(_) => "VerifyingBackupStopped",
        Phase::TransferringBack => "TransferringBack",
        Phase::ReverseGate { .. } => "ReverseGate",
        Phase::VerifyingRollback(_) => "VerifyingRollback",
        Phase::RolledBack => "RolledBack",
        Phase::VerifyingStopAll(_) => "VerifyingStopAll",
        Phase::StoppedAll => "StoppedAll",
        Phase::Failed(_) => "Failed",
    }
}

const PHASES: usize = 31;

fn terminal(p: &Phase) -> bool {
    matches!(
        p,
        Phase::Completed
            | Phase::RolledBack
            | Phase::StoppedAll
            | Phase::Failed(_)
            | Phase::Blocked(_)
    )
}

/// How a fixture is reached: the world, the first event, and where to stop.
type Reach = (World, fn(f64) -> Event, fn(&Phase) -> bool);

fn begin(now: f64) -> Event {
    Event::Begin { now }
}

/// Every phase (and the variants of a payload that change what it does), reached
/// along a path of the runbook by a faithful driver.
fn paths() -> Vec<(&'static str, Reach)> {
    fn w() -> World {
        World::before()
    }
    let mut v: Vec<(&'static str, Reach)> = vec![
        ("new", (w(), begin, |p| *p == Phase::New)),
        ("preflight", (w(), begin, |p| *p == Phase::Preflight)),
        (
            "stop asked",
            (w(), begin, |p| *p == Phase::AwaitStopConfirmation),
        ),
        ("fence 0", (w(), begin, |p| *p == Phase::Fencing(0))),
        ("fence 3", (w(), begin, |p| *p == Phase::Fencing(3))),
        ("fence 6", (w(), begin, |p| *p == Phase::Fencing(6))),
        ("stopping", (w(), begin, |p| *p == Phase::Stopping)),
        (
            "stop seen once",
            (
                w(),
                begin,
                |p| matches!(p, Phase::VerifyingStop(v) if v.first_ok.is_some()),
            ),
        ),
        ("transferring", (w(), begin, |p| *p == Phase::Transferring)),
        ("gate", (w(), begin, |p| *p == Phase::AwaitingGate)),
        (
            "start asked",
            (w(), begin, |p| *p == Phase::AwaitStartConfirmation),
        ),
        ("final check", (w(), begin, |p| *p == Phase::FinalCheck)),
        ("removing lock", (w(), begin, |p| *p == Phase::RemovingLock)),
        ("starting", (w(), begin, |p| *p == Phase::Starting)),
        (
            "verifying start",
            (w(), begin, |p| matches!(p, Phase::VerifyingStart(_))),
        ),
        (
            "attestations",
            (w(), begin, |p| {
                matches!(p, Phase::WatchingAttestations { .. })
            }),
        ),
        ("alerts", (w(), begin, |p| *p == Phase::CheckingAlerts)),
        ("completed", (w(), begin, |p| *p == Phase::Completed)),
        (
            "unverified asked (archive)",
            (World::unreachable_primary(true), begin, |p| {
                matches!(p, Phase::AwaitUnverifiedConfirmation { .. })
            }),
        ),
        (
            "unverified asked (watermark)",
            (World::unreachable_primary(false), begin, |p| {
                matches!(p, Phase::AwaitUnverifiedConfirmation { .. })
            }),
        ),
        (
            "unverified transferring",
            (World::unreachable_primary(true), begin, |p| {
                *p == Phase::Transferring
            }),
        ),
        (
            "unverified gate",
            (World::unreachable_primary(true), begin, |p| {
                *p == Phase::AwaitingGate
            }),
        ),
        (
            "unverified start asked",
            (World::unreachable_primary(true), begin, |p| {
                *p == Phase::AwaitStartConfirmation
            }),
        ),
        (
            "resume survey (primary)",
            (
                w(),
                |now| Event::Resume {
                    now,
                    primary_touched: true,
                    backup_touched: false,
                },
                |p| matches!(p, Phase::ResumeSurvey { .. }),
            ),
        ),
        (
            "resume survey (both)",
            (
                w(),
                |now| Event::Resume {
                    now,
                    primary_touched: true,
                    backup_touched: true,
                },
                |p| matches!(p, Phase::ResumeSurvey { .. }),
            ),
        ),
        (
            "rollback survey",
            (
                w(),
                |now| Event::BeginRollback { now },
                |p| *p == Phase::RollbackSurvey,
            ),
        ),
        (
            "stop-all asked",
            (
                w(),
                |now| Event::BeginStopAll { now },
                |p| *p == Phase::AwaitStopAllConfirmation,
            ),
        ),
        (
            "stop-all fencing",
            (
                w(),
                |now| Event::BeginStopAll { now },
                |p| {
                    matches!(
                        p,
                        Phase::Undoing {
                            undo: Undo::StopAll,
                            i: 9
                        }
                    )
                },
            ),
        ),
        (
            "stop-all verifying",
            (
                w(),
                |now| Event::BeginStopAll { now },
                |p| matches!(p, Phase::VerifyingStopAll(_)),
            ),
        ),
        (
            "stopped all",
            (
                w(),
                |now| Event::BeginStopAll { now },
                |p| *p == Phase::StoppedAll,
            ),
        ),
    ];
    // A primary that was stopped and the backup stopped and locked, for the rollback
    // command: it asks to roll back.
    let mut stopped = World::before();
    stopped.primary.running = false;
    stopped.primary.fenced = true;
    v.push((
        "rollback asked",
        (
            stopped.clone(),
            |now| Event::BeginRollback { now },
            |p| *p == Phase::AwaitRollbackConfirmation,
        ),
    ));
    v.push((
        "rollback: primary unfencing",
        (
            stopped.clone(),
            |now| Event::BeginRollback { now },
            |p| {
                matches!(
                    p,
                    Phase::Undoing {
                        undo: Undo::Primary,
                        i: 2
                    }
                )
            },
        ),
    ));
    v.push((
        "rollback: primary verifying",
        (
            stopped,
            |now| Event::BeginRollback { now },
            |p| matches!(p, Phase::VerifyingRollback(_)),
        ),
    ));
    // The backup unlocked and signing, for the rollback command: the long way back.
    let mut signing = World::before();
    signing.primary.running = false;
    signing.primary.fenced = true;
    signing.backup.running = true;
    signing.backup.lock = false;
    signing.backup.disabled = false;
    for (name, stop) in [
        (
            "rollback: backup relocking",
            (|p: &Phase| {
                matches!(
                    p,
                    Phase::Undoing {
                        undo: Undo::Backup,
                        i: 1
                    }
                )
            }) as fn(&Phase) -> bool,
        ),
        ("rollback: backup verifying", |p: &Phase| {
            matches!(p, Phase::VerifyingBackupStopped(_))
        }),
        ("rollback: transferring back", |p: &Phase| {
            *p == Phase::TransferringBack
        }),
        ("rollback: reverse gate", |p: &Phase| {
            matches!(p, Phase::ReverseGate { .. })
        }),
        ("rolled back", |p: &Phase| *p == Phase::RolledBack),
    ] {
        v.push((
            name,
            (signing.clone(), |now| Event::BeginRollback { now }, stop),
        ));
    }
    // Blocked (the backup's beacon node is not reachable... the backup unlocked).
    let mut unlocked = World::before();
    unlocked.backup.lock = false;
    v.push((
        "blocked",
        (unlocked, begin, |p| matches!(p, Phase::Blocked(_))),
    ));
    v
}

/// A phase reached along its path, with the run that reached it.
fn reach(name: &str, (world, first, stop): &Reach) -> Run {
    let mut run = Run::new(world.clone());
    if stop(&run.m.phase) {
        return run;
    }
    run.send(first(T0));
    assert!(
        run.until(stop),
        "{name}: not reached, ended in {:?}",
        run.m.phase
    );
    run
}

/// Failed: a fence step refused.
fn failed() -> Run {
    let mut run = reach("fence 3", &paths()[4].1);
    let now = run.now + 1.0;
    // Fencing(3) waits for the fence's fourth step (the runtime mask).
    run.send(acted(
        now,
        Action::MaskRuntime(Role::Primary),
        Err(err(Role::Primary, Failure::Refused)),
    ));
    assert!(matches!(run.m.phase, Phase::Failed(_)), "{:?}", run.m.phase);
    run
}

/// Every fixture: a name, and a fresh run in its phase.
fn fixtures() -> Vec<(String, Run)> {
    let mut v: Vec<(String, Run)> = paths()
        .iter()
        .map(|(name, r)| (name.to_string(), reach(name, r)))
        .collect();
    v.push(("failed".into(), failed()));
    v
}

/// A fresh run of the named fixture.
pub(super) fn fixture(name: &str) -> Run {
    if name == "failed" {
        return failed();
    }
    let (n, r) = paths()
        .into_iter()
        .find(|(n, _)| *n == name)
        .expect("a fixture");
    reach(n, &r)
}

// ---------------------------------------------------------------------------
// Events and batches.

/// Every way a batch can be wrong, for one that has `n` observations.
#[derive(Debug, Clone, Copy)]
enum Fault {
    None,
    /// The i-th observation says the opposite of what is right.
    Wrong(usize),
    /// The i-th observation failed on its host.
    HostError(usize, Failure),
    /// Every observation of this host failed.
    HostDown(Role, Failure),
    Missing(usize),
    /// The i-th observation answers another kind than asked.
    WrongKind(usize),
    /// Nothing at all.
    Empty,
}

fn faults(n: usize) -> Vec<Fault> {
    let mut v = vec![Fault::None, Fault::Empty];
    for i in 0..n {
        v.push(Fault::Wrong(i));
        v.push(Fault::Missing(i));
        v.push(Fault::WrongKind(i));
        for f in [Failure::TimedOut, Failure::Refused, Failure::Unreachable] {
            v.push(Fault::HostError(i, f));
        }
    }
    for r in Role::BOTH {
        for f in [
            Failure::TimedOut,
            Failure::Refused,
            Failure::Unreachable,
            Failure::HostKeyMismatch,
        ] {
            v.push(Fault::HostDown(r, f));
        }
    }
    v
}

/// The opposite of a value: what a check sees when it is wrong.
pub(super) fn wrong(v: &Value) -> Value {
    match v {
        Value::Unit(u) => {
            let mut u = u.clone();
            if u.main_pid == 0 {
                u.active_state = "active".into();
                u.sub_state = "running".into();
                u.main_pid = PID;
            } else {
                u.active_state = "inactive".into();
                u.sub_state = "dead".into();
                u.main_pid = 0;
            }
            u.unit_file_state = "enabled".into();
            u.drop_in_paths.clear();
            Value::Unit(u)
        }
        Value::Processes(p) if p.is_empty() => Value::Processes(vec![PID]),
        Value::Processes(_) => Value::Processes(Vec::new()),
        Value::Metrics(m) => Value::Metrics(Metrics {
            answering: !m.answering,
            ..m.clone()
        }),
        Value::Lock(Some(_)) => Value::Lock(None),
        Value::Lock(None) => Value::Lock(Some(FileInfo {
            kind: "directory".into(),
            mode: 0o755,
            user: "root".into(),
            group: "root".into(),
            size: 0,
            mtime: 0,
        })),
        Value::History(h) => Value::History(HistoryState {
            file: None,
            ..h.clone()
        }),
        Value::Beacon(s) => Value::Beacon(BeaconSync {
            is_syncing: true,
            sync_distance: 500,
            el_offline: true,
            peers: Some(0),
            ..s.clone()
        }),
        Value::Execution(s) => Value::Execution(ExecutionSync {
            syncing: true,
            peers: None,
            ..s.clone()
        }),
        Value::Chain(c) => Value::Chain(ChainInfo {
            head_slot: 0,
            ..c.clone()
        }),
        Value::Space(_) => Value::Space(0),
        Value::Liveness(l) => Value::Liveness(l.iter().map(|(k, v)| (*k, !v)).collect()),
        Value::Journal(j) if j.is_empty() => {
            Value::Journal(vec!["Submitted new attestation".into()])
        }
        Value::Journal(_) => Value::Journal(Vec::new()),
        Value::SlashingPool(_) => Value::SlashingPool(plan().indices),
        Value::Validators(vals) => Value::Validators(
            vals.iter()
                .map(|v| ValidatorState {
                    slashed: true,
                    status: "active_slashed".into(),
                    balance: Some(1),
                    ..v.clone()
                })
                .collect(),
        ),
        Value::Archives(a) if a.is_empty() => Value::Archives(vec![ArchiveAt {
            host: None,
            path: "empty.tar.gz".into(),
            size: 10,
            mtime: 0.0,
            holds: Some(Err("an empty directory".into())),
        }]),
        Value::Archives(_) => Value::Archives(Vec::new()),
    }
}

fn other_kind(v: &Value) -> Value {
    match v {
        Value::Space(_) => Value::Journal(Vec::new()),
        _ => Value::Space(7),
    }
}

fn spoil(mut obs: Vec<Observation>, fault: Fault) -> Vec<Observation> {
    let host_err = |o: &Observation, f: Failure| Err(err(o.host, f));
    match fault {
        Fault::None => {}
        Fault::Empty => obs.clear(),
        Fault::Wrong(i) => {
            if let Some(o) = obs.get_mut(i)
                && let Ok(v) = &o.value
            {
                o.value = Ok(wrong(v));
            }
        }
        Fault::WrongKind(i) => {
            if let Some(o) = obs.get_mut(i)
                && let Ok(v) = &o.value
            {
                o.value = Ok(other_kind(v));
            }
        }
        Fault::HostError(i, f) => {
            if let Some(o) = obs.get_mut(i) {
                o.value = host_err(o, f);
            }
        }
        Fault::Missing(i) => {
            if i < obs.len() {
                obs.remove(i);
            }
        }
        Fault::HostDown(r, f) => {
            for o in obs.iter_mut().filter(|o| o.host == r) {
                o.value = host_err(o, f);
            }
        }
    }
    obs
}

/// What a phase is asked about: the pending observation if there is one, else
/// everything on both hosts (an observation nobody asked for).
fn wanted(run: &Run) -> Vec<(Role, Observe)> {
    match run.pending() {
        Some(Effect::Observe(w)) => w,
        _ => {
            let mut v = Vec::new();
            for r in Role::BOTH {
                for w in [
                    Observe::Unit,
                    Observe::Processes,
                    Observe::Metrics,
                    Observe::Lock,
                    Observe::History,
                    Observe::Beacon,
                    Observe::Execution,
                    Observe::Chain,
                ] {
                    v.push((r, w));
                }
            }
            v
        }
    }
}

/// A stop-all the engine takes: the interrupt, or a person's confirmed request.
fn stop_all_taken(e: &Event) -> bool {
    match e {
        Event::StopAll { .. } => true,
        Event::Requested {
            request: Request::StopAll { consent },
            ..
        } => match consent {
            StopAllConsent::Key(k) => matches!(k, 'y' | 'Y'),
            StopAllConsent::Typed(t) => t.trim() == format!("{P},{B}"),
        },
        _ => false,
    }
}

/// A rollback the engine takes: the engine's own, or a person's with the name typed.
fn rollback_taken(e: &Event) -> bool {
    match e {
        Event::Rollback { .. } => true,
        Event::Requested {
            request: Request::Rollback { typed },
            ..
        } => typed.trim() == P,
        _ => false,
    }
}

/// Every event, for a machine in this run's phase (the observation batches apart).
fn events(run: &Run) -> Vec<Event> {
    let now = run.now + 1.0;
    let mut v = vec![
        Event::Begin { now },
        Event::Tick { now },
        Event::Tick { now: now + 1e6 },
        Event::Rollback { now },
        Event::Declined { now },
        Event::BeginRollback { now },
        Event::BeginStopAll { now },
        Event::StopAll { now },
        Event::Transferred {
            now,
            result: Ok(transferred()),
            evidence: Vec::new(),
        },
        Event::Transferred {
            now,
            result: Err("the backup's disk is full".into()),
            evidence: Vec::new(),
        },
        Event::FencedOutOfBand {
            now,
            statement: format!("{P} powered off at the provider, console confirms"),
        },
        Event::FencedOutOfBand {
            now,
            statement: "off".into(),
        },
    ];
    for typed in [P, B, "val-a,val-b", "", "  val-b  ", "nobody"] {
        v.push(Event::Confirmed {
            now,
            typed: typed.into(),
        });
        // A person's rollback and stop-all, with what they typed.
        v.push(Event::Requested {
            now,
            request: Request::Rollback {
                typed: typed.into(),
            },
        });
        v.push(Event::Requested {
            now,
            request: Request::StopAll {
                consent: StopAllConsent::Typed(typed.into()),
            },
        });
    }
    for key in ['y', 'Y', 'n', 'q'] {
        v.push(Event::Requested {
            now,
            request: Request::StopAll {
                consent: StopAllConsent::Key(key),
            },
        });
    }
    for (pt, bt) in [(false, false), (true, false), (false, true), (true, true)] {
        v.push(Event::Resume {
            now,
            primary_touched: pt,
            backup_touched: bt,
        });
    }
    // The pending action answered every way, and actions nobody asked for.
    let mut actions = vec![
        Action::Stop(Role::Primary),
        Action::RemoveLock(Role::Backup),
        Action::Start(Role::Backup),
        Action::Kill(Role::Backup),
    ];
    if let Some(Effect::Act { action, .. }) = run.pending() {
        actions.insert(0, action);
    }
    for a in actions {
        v.push(acted(now, a, Ok(())));
        for f in [
            Failure::TimedOut,
            Failure::Refused,
            Failure::Unreachable,
            Failure::Unexpected,
        ] {
            v.push(acted(now, a, Err(err(a.host(), f))));
        }
    }
    v
}

/// Every batch of observations for this run's phase: right, and each fault.
fn batches(run: &Run) -> Vec<Vec<Observation>> {
    let now = run.now + 1.0;
    let want = wanted(run);
    let right = run.world.observe(&want, now);
    let mut v: Vec<Vec<Observation>> = faults(right.len())
        .into_iter()
        .map(|f| spoil(right.clone(), f))
        .collect();
    // The right answers, late (after the gate step began: no stale evidence counts).
    v.push(run.world.observe(&want, now + 3.0));
    v
}

// ---------------------------------------------------------------------------
// The invariants, over a whole run.

fn unlocks_backup(a: &Action) -> bool {
    matches!(
        a,
        Action::RemoveLock(Role::Backup) | Action::Start(Role::Backup)
    )
}

/// Undoes a fence, or starts: what a stop-all must never be followed by.
fn unfences(a: &Action) -> bool {
    matches!(
        a,
        Action::RemoveLock(_)
            | Action::Start(_)
            | Action::Enable(_)
            | Action::UnmaskRuntime(_)
            | Action::RemoveFenceDropIn(_)
    )
}

/// The backup's lock comes off (and it starts) only after the backup's name was
/// typed at the start confirmation and then the Start gate opened, with no shut
/// Start gate between.
fn check_backup_lock(steps: &[Step]) -> Result<(), String> {
    // Since the last start confirmation: (typed right, the gate opened after it).
    let mut confirmed = false;
    let mut open = false;
    for (n, s) in steps.iter().enumerate() {
        if let (Phase::AwaitStartConfirmation, Event::Confirmed { typed, .. }) =
            (&s.phase, &s.event)
        {
            confirmed = typed.trim() == B;
            open = false;
        }
        for e in &s.out {
            match e {
                Effect::Record(Record::Gate {
                    gate: GateId::Start,
                    open: o,
                    ..
                }) => open = confirmed && *o,
                Effect::Act { action, .. } if unlocks_backup(action) && !open => {
                    return Err(format!(
                        "step {n}: {action:?} in {:?} on {:?} without the Start gate open after the typed start confirmation",
                        s.phase, s.event
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Nothing on the primary before its name was typed at the stop confirmation (or,
/// resumed, the journal said it was touched), until a stop-all or a rollback
/// command (each confirmed on its own) takes over.
fn check_primary_untouched(steps: &[Step]) -> Result<(), String> {
    let mut confirmed = false;
    for (n, s) in steps.iter().enumerate() {
        match (&s.phase, &s.event) {
            (_, e) if stop_all_taken(e) => return Ok(()),
            (Phase::AwaitStopAllConfirmation | Phase::AwaitRollbackConfirmation, _) => {
                return Ok(());
            }
            (Phase::AwaitStopConfirmation, Event::Confirmed { typed, .. }) => {
                confirmed |= typed.trim() == P
            }
            (
                Phase::New,
                Event::Resume {
                    primary_touched: true,
                    ..
                },
            ) => confirmed = true,
            _ => {}
        }
        for e in &s.out {
            if let Effect::Act { action, .. } = e
                && action.host() == Role::Primary
                && !confirmed
            {
                return Err(format!(
                    "step {n}: {action:?} in {:?} on {:?} before the primary's name was typed",
                    s.phase, s.event
                ));
            }
        }
    }
    Ok(())
}

/// After a stop-all is taken, nothing is unfenced or started unless a rollback is
/// asked for afterwards.
fn check_stop_all_holds(steps: &[Step]) -> Result<(), String> {
    let mut stopping = false;
    for (n, s) in steps.iter().enumerate() {
        match &s.event {
            e if rollback_taken(e) => stopping = false,
            e if stop_all_taken(e) => stopping = true,
            _ => {}
        }
        if s.phase == Phase::AwaitStopAllConfirmation
            && matches!(&s.event, Event::Confirmed { typed, .. } if typed.trim() == format!("{P},{B}"))
        {
            stopping = true;
        }
        for e in &s.out {
            if let Effect::Act { action, .. } = e
                && stopping
                && unfences(action)
            {
                return Err(format!(
                    "step {n}: {action:?} in {:?} on {:?} after a stop-all",
                    s.phase, s.event
                ));
            }
        }
    }
    Ok(())
}

fn check_all(steps: &[Step]) -> Result<(), String> {
    check_backup_lock(steps)?;
    check_primary_untouched(steps)?;
    check_one_action_at_a_time(steps)?;
    check_stop_all_holds(steps)
}

/// One action in flight at a time: the machine waits for its answer (`awaiting`),
/// and an answer to any other is not taken for it.
fn check_one_action_at_a_time(steps: &[Step]) -> Result<(), String> {
    for (n, s) in steps.iter().enumerate() {
        let acts = s
            .out
            .iter()
            .filter(|e| matches!(e, Effect::Act { .. }))
            .count();
        if acts > 1 {
            return Err(format!(
                "step {n}: {acts} actions at once in {:?} on {:?}",
                s.phase, s.event
            ));
        }
    }
    Ok(())
}

#[test]
fn a_late_answer_to_a_replaced_step_is_not_taken_for_the_current_one() {
    // Fencing the primary; a stop-all replaces the fence step before its answer.
    let mut m = Failover::new(PLAN.clone());
    m.phase = Phase::AwaitStopConfirmation;
    let out = m.handle(Event::Confirmed {
        now: 1.0,
        typed: P.into(),
    });
    let first = out
        .iter()
        .find_map(|e| match e {
            Effect::Act { action, .. } => Some(*action),
            _ => None,
        })
        .expect("the first fence step");
    let out = m.handle(Event::StopAll { now: 2.0 });
    let stop_all_first = out
        .iter()
        .find_map(|e| match e {
            Effect::Act { action, .. } => Some(*action),
            _ => None,
        })
        .expect("the stop-all's first step");
    let phase = m.phase.clone();
    // The fence step's answer arrives late: ignored, the stop-all's step still awaited.
    if first != stop_all_first {
        let out = m.handle(Event::Acted {
            now: 3.0,
            action: first,
            via: "late".into(),
            result: Ok(()),
        });
        assert_eq!(m.phase, phase, "{out:?}");
        assert!(
            !out.iter().any(|e| matches!(e, Effect::Act { .. })),
            "{out:?}"
        );
    }
    let out = m.handle(Event::Acted {
        now: 4.0,
        action: stop_all_first,
        via: "answer".into(),
        result: Ok(()),
    });
    assert_ne!(m.phase, phase, "the awaited answer moves it on: {out:?}");
}

// ---------------------------------------------------------------------------
// The sweep: phase x event x observation.

#[test]
fn the_fixtures_reach_every_phase() {
    let reached: std::collections::BTreeSet<&str> =
        fixtures().iter().map(|(_, r)| kind(&r.m.phase)).collect();
    assert_eq!(reached.len(), PHASES, "reached {reached:?}");
    // Each fixture was reached the runbook's way: the invariants hold on its path.
    for (name, run) in fixtures() {
        check_all(&run.steps).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn the_faithful_paths_end_as_the_runbook_says() {
    let end = |w: World, first: Event| {
        let mut run = Run::new(w);
        run.send(first);
        run.until(|_| false);
        (run.m.phase.clone(), run)
    };
    let (p, run) = end(World::before(), Event::Begin { now: T0 });
    assert_eq!(p, Phase::Completed);
    assert!(run.world.backup.running && !run.world.primary.running);
    let (p, run) = end(World::unreachable_primary(true), Event::Begin { now: T0 });
    assert_eq!(p, Phase::Completed, "the unverified path, through the wait");
    assert!(run.m.is_unverified());
    let (p, run) = end(World::before(), Event::BeginStopAll { now: T0 });
    assert_eq!(p, Phase::StoppedAll);
    assert!(!run.world.primary.running && !run.world.backup.running);
    assert!(run.world.primary.fenced && run.world.backup.fenced);
}

/// One fixture, every event and every batch: the invariants after each.
fn sweep_one(name: &str, mut each: impl FnMut(&str, &Run, &Event, &[Effect])) {
    let probe = fixture(name);
    let mut all: Vec<Event> = events(&probe);
    let now = probe.now + 1.0;
    for observations in batches(&probe) {
        all.push(Event::Observed { now, observations });
    }
    for event in all {
        let mut run = fixture(name);
        run.send(event.clone());
        let out = run.steps.last().expect("sent").out.clone();
        if let Err(e) = check_all(&run.steps) {
            panic!("{name}: {e}");
        }
        each(name, &run, &event, &out);
    }
}

#[test]
fn no_event_in_any_phase_unlocks_the_backup_without_the_start_gate_open() {
    // (check_all, in sweep_one, asserts it after every event.) And the only phase
    // from which the lock comes off is the final look after the confirmation.
    let mut unlocking: Vec<(&str, Action)> = Vec::new();
    for (name, _) in fixtures() {
        sweep_one(&name, |_, run, _, out| {
            let from = &run.steps.last().expect("sent").phase;
            for e in out {
                if let Effect::Act { action, .. } = e
                    && unlocks_backup(action)
                    && !unlocking.contains(&(kind(from), *action))
                {
                    unlocking.push((kind(from), *action));
                }
            }
        });
    }
    assert_eq!(
        unlocking,
        vec![
            ("FinalCheck", Action::RemoveLock(Role::Backup)),
            ("RemovingLock", Action::Start(Role::Backup)),
        ]
    );
}

#[test]
fn nothing_touches_the_primary_before_its_name_is_typed() {
    // Phases before the confirmation: only the confirmation itself, a stop-all and
    // the rollback command's own confirmation act on the primary.
    for name in [
        "new",
        "preflight",
        "stop asked",
        "unverified asked (archive)",
        "unverified asked (watermark)",
        "unverified transferring",
        "unverified gate",
        "unverified start asked",
        "blocked",
    ] {
        sweep_one(name, |name, run, event, out| {
            let touches = out
                .iter()
                .any(|e| matches!(e, Effect::Act { action, .. } if action.host() == Role::Primary));
            let from = &run.steps.last().expect("sent").phase;
            let allowed = stop_all_taken(event)
                || matches!((from, event), (Phase::AwaitStopConfirmation, Event::Confirmed { typed, .. }) if typed.trim() == P);
            assert!(
                !touches || allowed,
                "{name}: {event:?} in {from:?} touched the primary: {out:?}"
            );
        });
    }
}

/// What a stop-all does, from a machine just handed `Event::StopAll`: every action
/// answered by a faithful driver, to its end.
fn stop_all_to_the_end(run: &mut Run) -> Vec<Action> {
    let mut acts = Vec::new();
    let mut i = run.steps.len() - 1;
    run.until(|_| false);
    while i < run.steps.len() {
        for e in &run.steps[i].out {
            if let Effect::Act { action, .. } = e {
                acts.push(*action);
            }
        }
        i += 1;
    }
    acts
}

#[test]
fn stop_all_is_taken_in_every_phase_and_fences_both() {
    let mut fence = Vec::new();
    for r in Role::BOTH {
        fence.extend(FENCE.iter().map(|a| a(r)));
    }
    fence.extend(Role::BOTH.iter().map(|r| Action::Stop(*r)));
    let mut terminals = std::collections::BTreeSet::new();
    for (name, mut run) in fixtures() {
        let from = run.m.phase.clone();
        let now = run.now + 1.0;
        let out = run.send(Event::StopAll { now }).to_vec();
        assert!(
            matches!(
                &out[0],
                Effect::Record(Record::Gate {
                    gate: GateId::StopAll,
                    open: true,
                    ..
                })
            ),
            "{name} ({from:?}): {out:?}"
        );
        assert_eq!(
            out.last(),
            Some(&Effect::Act {
                action: Action::EnsureLockDir(Role::Primary),
                timeout: OBSERVE_TIMEOUT
            }),
            "{name} ({from:?})"
        );
        // Terminal phases too (a completed failover, a rollback, a failed run, a
        // blocked one): the keys may still sign somewhere, so the stop-all is taken
        // there as well, the same way.
        if terminal(&from) {
            terminals.insert(kind(&from));
        }
        let acts = stop_all_to_the_end(&mut run);
        assert_eq!(
            acts, fence,
            "{name} ({from:?}): the fence of both, then both stopped"
        );
        assert!(!acts.iter().any(unfences), "{name}");
        assert!(
            run.world.backup.fenced && !run.world.backup.running,
            "{name}: the backup fenced and stopped"
        );
        if run.world.primary.reachable {
            assert_eq!(run.m.phase, Phase::StoppedAll, "{name} ({from:?})");
            assert!(
                run.world.primary.fenced && !run.world.primary.running,
                "{name}: the primary fenced and stopped"
            );
        } else {
            // Every step was still tried on the unreachable primary; what cannot
            // be verified is an alarm, never a success.
            assert!(
                matches!(&run.m.phase, Phase::Failed(why) if why.starts_with("ALARM: the emergency stop-all is not verified: primary")),
                "{name}: {:?}",
                run.m.phase
            );
        }
        assert!(run.m.touched_primary.is_some(), "{name}");
        check_all(&run.steps).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_eq!(
        terminals.into_iter().collect::<Vec<_>>(),
        ["Blocked", "Completed", "Failed", "RolledBack", "StoppedAll"]
    );
}

#[test]
fn a_stuck_validator_at_the_stop_all_is_killed_and_checked_again() {
    let mut run = fixture("completed");
    let now = run.now + 1.0;
    run.send(Event::StopAll { now });
    // Every step answered, but the backup's validator does not stop.
    run.until(|p| matches!(p, Phase::VerifyingStopAll(_)));
    run.world.backup.running = true;
    run.world.backup.fenced = true;
    let want = match run.pending() {
        Some(Effect::Observe(w)) => w,
        other => panic!("{other:?}"),
    };
    let obs = run.world.observe(&want, run.now + 1.0);
    let out = run
        .send(Event::Observed {
            now: run.now + 1.0,
            observations: obs,
        })
        .to_vec();
    assert_eq!(
        out.last(),
        Some(&Effect::Act {
            action: Action::Kill(Role::Backup),
            timeout: OBSERVE_TIMEOUT
        }),
        "{out:?}"
    );
    run.until(|_| false);
    assert_eq!(run.m.phase, Phase::StoppedAll);
    check_all(&run.steps).unwrap();
}

#[test]
fn no_event_and_no_batch_in_any_phase_panics() {
    // sweep_one hands every event and every batch to every phase; a panic fails it.
    let mut handled = 0;
    for (name, _) in fixtures() {
        sweep_one(&name, |_, _, _, _| handled += 1);
    }
    assert!(handled > 5_000, "{handled}");
    // Odd times: before genesis, far away, not a number.
    for (name, _) in fixtures() {
        for now in [0.0, -1.0, 1e300, f64::NAN, f64::INFINITY] {
            let mut run = fixture(&name);
            let want = wanted(&run);
            let observations = run.world.observe(&want, now);
            run.send(Event::Observed { now, observations });
            let mut run = fixture(&name);
            run.send(Event::Tick { now });
        }
    }
}

// ---------------------------------------------------------------------------
// Random runs (proptest): a driver that answers, now rightly, now wrongly.

/// What the random driver does at one step.
#[derive(Debug, Clone)]
enum Choice {
    /// Answer the pending effect rightly.
    Right,
    /// Answer it with this fault (observations), a failure (actions, transfers), a
    /// wrong name or a refusal (questions).
    Wrong(u8, u8),
    /// An interrupt or an event nobody asked for.
    Other(u8),
    /// The world changes behind the machine's back.
    Meddle(u8),
    /// Time passes.
    Later(u16),
}

fn choice() -> impl Strategy<Value = Choice> {
    prop_oneof![
        6 => Just(Choice::Right),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Choice::Wrong(a, b)),
        1 => any::<u8>().prop_map(Choice::Other),
        1 => any::<u8>().prop_map(Choice::Meddle),
        1 => (0u16..200).prop_map(Choice::Later),
    ]
}

fn start_event() -> impl Strategy<Value = (u8, bool)> {
    (0u8..4, any::<bool>())
}

fn play(first: (u8, bool), choices: &[Choice], interrupts: bool) -> Run {
    let world = if first.1 {
        World::before()
    } else {
        World::unreachable_primary(first.0.is_multiple_of(2))
    };
    let mut run = Run::new(world);
    let e = match first.0 {
        0 | 1 => Event::Begin { now: T0 },
        2 => Event::Resume {
            now: T0,
            primary_touched: false,
            backup_touched: false,
        },
        _ => Event::Begin { now: T0 },
    };
    run.send(e);
    for c in choices {
        if run.finished() && !matches!(c, Choice::Other(_)) {
            continue;
        }
        match c.clone() {
            Choice::Right => {
                run.answer();
            }
            Choice::Later(s) => run.now += s as f64,
            Choice::Meddle(x) => {
                let h = if x.is_multiple_of(2) {
                    &mut run.world.primary
                } else {
                    &mut run.world.backup
                };
                match (x / 2) % 5 {
                    0 => h.running = !h.running,
                    1 => h.lock = !h.lock,
                    2 => h.fenced = !h.fenced,
                    3 => h.reachable = !h.reachable,
                    _ => h.disabled = !h.disabled,
                }
            }
            Choice::Wrong(a, b) => {
                run.now += 1.0;
                let now = run.now;
                let event = match run.pending() {
                    Some(Effect::Observe(want)) => {
                        let right = run.world.observe(&want, now);
                        let f = faults(right.len());
                        Event::Observed {
                            now,
                            observations: spoil(right, f[a as usize % f.len()]),
                        }
                    }
                    Some(Effect::Act { action, .. }) => {
                        let f = [Failure::TimedOut, Failure::Refused, Failure::Unreachable]
                            [b as usize % 3];
                        acted(now, action, Err(err(action.host(), f)))
                    }
                    Some(Effect::Ask(q)) => match a % 3 {
                        0 => Event::Declined { now },
                        1 => Event::Confirmed {
                            now,
                            typed: format!("{} ", q.expected()).repeat(2),
                        },
                        _ => Event::Confirmed {
                            now,
                            typed: [P, B, "val-a,val-b"][b as usize % 3].into(),
                        },
                    },
                    Some(Effect::Transfer { .. }) => Event::Transferred {
                        now,
                        result: Err("the stream was cut".into()),
                        evidence: Vec::new(),
                    },
                    _ => Event::Tick { now },
                };
                run.send(event);
            }
            Choice::Other(x) => {
                run.now += 1.0;
                let now = run.now;
                let events = [
                    Event::Tick { now },
                    Event::Declined { now },
                    Event::Confirmed {
                        now,
                        typed: B.into(),
                    },
                    Event::Confirmed {
                        now,
                        typed: P.into(),
                    },
                    Event::Transferred {
                        now,
                        result: Ok(transferred()),
                        evidence: Vec::new(),
                    },
                    acted(now, Action::Stop(Role::Primary), Ok(())),
                    acted(now, Action::RemoveLock(Role::Backup), Ok(())),
                    Event::FencedOutOfBand {
                        now,
                        statement: format!("{P} powered off at the provider, seen on the console"),
                    },
                    Event::Begin { now },
                    Event::Rollback { now },
                    Event::StopAll { now },
                ];
                // Interrupts (the last two) only where the run asks for them.
                let n = if interrupts {
                    events.len()
                } else {
                    events.len() - 2
                };
                run.send(events[x as usize % n].clone());
            }
        }
    }
    run
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn random_runs_never_unlock_the_backup_without_the_start_gate(
        first in start_event(),
        choices in proptest::collection::vec(choice(), 0..90),
    ) {
        let run = play(first, &choices, true);
        if let Err(e) = check_backup_lock(&run.steps) {
            return Err(TestCaseError::fail(e));
        }
        if let Err(e) = check_stop_all_holds(&run.steps) {
            return Err(TestCaseError::fail(e));
        }
    }

    #[test]
    fn random_runs_without_interrupts_touch_the_primary_only_after_its_name(
        first in start_event(),
        choices in proptest::collection::vec(choice(), 0..90),
    ) {
        let run = play(first, &choices, false);
        if let Err(e) = check_primary_untouched(&run.steps) {
            return Err(TestCaseError::fail(e));
        }
        if let Err(e) = check_backup_lock(&run.steps) {
            return Err(TestCaseError::fail(e));
        }
    }
}

/// Any value of any kind, right or wrong, for the no-panic property.
fn any_value() -> impl Strategy<Value = Result<Value, HostError>> {
    let w = World::before();
    let kinds = [
        Observe::Unit,
        Observe::Processes,
        Observe::Metrics,
        Observe::Lock,
        Observe::History,
        Observe::Beacon,
        Observe::Execution,
        Observe::Chain,
        Observe::Space,
        Observe::Liveness(3),
        Observe::JournalSince(0),
        Observe::SlashingPool,
        Observe::Validators,
        Observe::Archives,
    ];
    let mut values: Vec<Value> = Vec::new();
    for k in kinds {
        let v = w.value(Role::Backup, k, T0);
        values.push(wrong(&v));
        values.push(v);
    }
    let fails = [
        Failure::Unreachable,
        Failure::TimedOut,
        Failure::HostKeyMismatch,
        Failure::Refused,
        Failure::NothingListens,
        Failure::Unexpected,
        Failure::Local,
    ];
    (0..values.len() + fails.len()).prop_map(move |i| match values.get(i) {
        Some(v) => Ok(v.clone()),
        None => Err(err(Role::Backup, fails[i - values.len()])),
    })
}

fn any_observe() -> impl Strategy<Value = Observe> {
    prop_oneof![
        Just(Observe::Unit),
        Just(Observe::Processes),
        Just(Observe::Metrics),
        Just(Observe::Lock),
        Just(Observe::History),
        Just(Observe::Beacon),
        Just(Observe::Execution),
        Just(Observe::Chain),
        Just(Observe::Space),
        any::<u64>().prop_map(Observe::Liveness),
        any::<u64>().prop_map(Observe::JournalSince),
        Just(Observe::SlashingPool),
        Just(Observe::Validators),
        Just(Observe::Archives),
    ]
}

fn any_batch() -> impl Strategy<Value = Vec<Observation>> {
    proptest::collection::vec(
        (any::<bool>(), any_observe(), any_value(), -1e3f64..1e7),
        0..24,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(p, what, value, dt)| Observation {
                host: if p { Role::Primary } else { Role::Backup },
                what,
                at: T0 + dt,
                via: "random".into(),
                value,
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn no_batch_in_any_phase_panics(batches in proptest::collection::vec(any_batch(), 1..4)) {
        for (_, mut run) in fixtures() {
            for observations in &batches {
                let now = run.now + 1.0;
                run.now = now;
                run.send(Event::Observed { now, observations: observations.clone() });
            }
            if let Err(e) = check_all(&run.steps) {
                return Err(TestCaseError::fail(e));
            }
        }
    }
}

/// The actions of a batch of effects, in order.
pub(super) fn acts(out: &[Effect]) -> Vec<Action> {
    out.iter()
        .filter_map(|e| match e {
            Effect::Act { action, .. } => Some(*action),
            _ => None,
        })
        .collect()
}

/// The last answer's effects.
pub(super) fn last(run: &Run) -> Vec<Effect> {
    run.steps.last().map(|s| s.out.clone()).unwrap_or_default()
}

/// An item's state in the machine's checklist.
pub(super) fn item(run: &Run, n: ItemId) -> ItemState {
    run.m.checklist.item(n).state.clone()
}
