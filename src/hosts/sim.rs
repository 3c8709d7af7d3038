//! The simulated pair: two in-memory hosts sharing a chain. It serves the demo and
//! the fast tests, and answers the same commands and requests as the lab's real
//! hosts (`tests/lab/`), so the same scenarios behave the same on both.
//!
//! The validator signs once per epoch for each of its keys while it runs, keeps its
//! slashing-protection history in a bbolt-shaped file, and refuses to sign a target
//! epoch its history already holds. Every attestation is recorded on the shared chain,
//! so a test can prove that no key signed twice.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{
    Cmd, Failure, Host, HostError, HttpRequest, HttpResponse, HttpRoute, HttpWay, LineStream,
    Method, Output,
};
use crate::chain::{ChainClock, unix_now};
use crate::config::{BeaconFlavour, Config, ExecutionFlavour, Role};

/// Where the simulated time comes from.
#[derive(Debug, Clone)]
pub enum SimTime {
    /// Wall-clock time: the demo.
    Real,
    /// A clock that only moves when a test says so (unix milliseconds).
    Manual(Arc<AtomicU64>),
}

impl SimTime {
    fn now(&self) -> f64 {
        match self {
            SimTime::Real => unix_now(),
            SimTime::Manual(ms) => ms.load(Ordering::SeqCst) as f64 / 1000.0,
        }
    }
}

/// Faults a scenario can switch on, per host.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Faults {
    /// Powered off: nothing answers, connections fail.
    pub powered_off: bool,
    /// sshd accepts but never answers: every operation times out.
    pub ssh_hangs: bool,
    /// sshd is stopped but the machine runs (the validator may still sign).
    pub sshd_down: bool,
    /// The host presents a key that does not match known_hosts.
    pub host_key_mismatch: bool,
    pub beacon_syncing: bool,
    pub beacon_el_offline: bool,
    pub beacon_no_peers: bool,
    pub beacon_garbage: bool,
    pub beacon_api: Option<BeaconFlavour>,
    pub exec_syncing: bool,
    pub exec_no_peers: bool,
    pub exec_api: Option<ExecutionFlavour>,
    /// gzond's default HTTP modules (`net,web3`) or the reference role's
    /// (`eth,net,web3,txpool`): every `*_syncing` method answers -32601.
    pub exec_default_modules: bool,
    pub validator_ignores_sigterm: bool,
    /// The sshd forbids forwarding (`AllowTcpForwarding no`): endpoints are read with
    /// curl on the host, as on the lab's `sshd-hardened` host.
    pub forwarding_refused: bool,
    /// No curl on the host (only matters when forwarding is refused).
    pub curl_missing: bool,
    /// Seconds the host's clock is ahead of the true time.
    pub clock_skew: f64,
    /// A stream into this host makes no progress (a saturated link, a disk that
    /// hangs): an upload waits, in real time, until the fault is lifted or its
    /// deadline passes.
    pub upload_stalls: bool,
    /// The host's BMC does not answer (its power device fails every call).
    pub bmc_unreachable: bool,
}

#[derive(Debug, Clone)]
struct SimFile {
    data: Vec<u8>,
    mode: u32,
    owner: String,
    mtime: f64,
    dir: bool,
    /// A symbolic link to this target (scenario faults only).
    link: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct Unit {
    running: bool,
    failed: bool,
    enabled: bool,
    main_pid: u32,
    n_restarts: u32,
    started_at: f64,
    /// Process start nonce: a different signer each start.
    nonce: u64,
    /// A stop job is waiting for a validator that ignores SIGTERM.
    stopping_since: Option<f64>,
    /// `Restart=on-failure` will try to start it again at this time.
    restart_at: Option<f64>,
    /// systemd loaded the fence drop-in at the last daemon-reload: no start at all.
    fence_loaded: bool,
    /// Another drop-in whose condition is never met (a scenario's fault, as the lab's
    /// `lab-fault.conf`): starts are skipped, and it is not the fence.
    blocking_dropin: Option<String>,
}

/// The lab unit's `TimeoutStopSec` and `RestartSec` (tests/lab/units).
pub const SIM_TIMEOUT_STOP_SEC: f64 = 20.0;
pub const SIM_RESTART_SEC: f64 = 3.0;

#[derive(Debug, Clone)]
struct Node {
    hostname: String,
    files: BTreeMap<String, SimFile>,
    unit: Unit,
    journal: Vec<(f64, String)>,
    faults: Faults,
    next_pid: u32,
    last_heartbeat_slot: u64,
    /// The DB the running validator has open when its file was replaced under it (as
    /// bbolt keeps writing to the old inode): it signs into this, not into the path.
    detached_db: Option<Vec<u8>>,
    /// The login user when commands run without root's rights (a non-root SSH
    /// user without `become`): they are refused as a real host refuses them.
    unprivileged: Option<String>,
    /// How commands run there, as the host's description says it.
    privilege_note: Option<String>,
}

/// The user commands run as on a host, when it is not root: a non-root SSH login
/// without sudo to root (`become`).
fn unprivileged_user(h: &crate::config::HostSpec) -> Option<String> {
    use crate::config::Privilege;
    match (&h.privilege, h.user.as_deref()) {
        (Privilege::Sudo { user }, _) => (user != "root").then(|| user.clone()),
        (Privilege::Login, Some(u)) if u != "root" => Some(u.to_string()),
        (Privilege::Login, _) => None,
    }
}

/// What a real host (Debian, systemd, the reference layout) answers a user who is
/// not root and has no sudo: the unit's state, processes, the clock, the lock
/// file's presence and HTTP can be read; what the failover changes, the
/// validator's private directories (`qrysm:qrysm 0750`), the backups (`0750`),
/// `/run` and the system journal cannot. None: the command runs as it would for
/// root. (A sudo that asks for a password is not modelled: see the lab's `ops2`.)
fn unprivileged_answer(cmd: &Cmd, l: &Layout) -> Option<Output> {
    let a: Vec<&str> = cmd.args.iter().map(String::as_str).collect();
    match cmd.program.as_str() {
        "systemctl" => match a.first().copied() {
            Some("show" | "is-active" | "is-enabled" | "status" | "cat") => None,
            Some("daemon-reload") => Some(out(1, "", "Failed to reload daemon: Access denied\n")),
            Some(verb) => {
                let unit = a.last().copied().unwrap_or("");
                let unit = if unit.ends_with(".service") {
                    unit.to_string()
                } else {
                    format!("{unit}.service")
                };
                Some(out(
                    4,
                    "",
                    format!(
                        "Failed to {verb} {unit}: Access denied\nSee system logs and 'systemctl status {unit}' for details.\n"
                    ),
                ))
            }
            None => None,
        },
        // A user outside adm/systemd-journal sees only its own messages.
        "journalctl" => Some(out(
            0,
            "-- No entries --\n",
            "Hint: You are currently not seeing messages from other users and the system.\n      Users in groups 'adm', 'systemd-journal' can see all messages.\n      Pass -q to turn off this notice.\n",
        )),
        "pgrep" | "date" | "timedatectl" | "curl" | "getent" | "true" => None,
        prog => {
            let private = [
                l.datadir.as_str(),
                l.sp_dir.as_str(),
                l.wallet_dir.as_str(),
                l.backups_dir.as_str(),
                "/var/lib/qrysm",
                "/var/lib/validator-failover",
                "/run",
                "/etc/systemd",
            ];
            let lock_dir = l.lock_file.rsplit_once('/').map_or("/", |(d, _)| d);
            let reads_only = matches!(
                prog,
                "stat" | "test" | "head" | "cat" | "find" | "df" | "sha256sum"
            );
            let denied = cmd.args.iter().find(|arg| {
                let path = arg.rsplit_once('=').map_or(arg.as_str(), |(_, p)| p);
                path.starts_with('/')
                    && (private.iter().any(|d| path == *d || path.starts_with(&format!("{d}/")))
                        // Reading the lock file is allowed (/etc/quantapool is 0755); changing it is not.
                        || (!reads_only && (path == l.lock_file || path.starts_with(&format!("{lock_dir}/")))))
            })?;
            let path = denied.rsplit_once('=').map_or(denied.as_str(), |(_, p)| p);
            Some(out(
                1,
                "",
                match prog {
                    "stat" => format!("stat: cannot statx '{path}': Permission denied\n"),
                    "sh" => format!("sh: 1: cannot create {path}: Permission denied\n"),
                    "find" => format!("find: ‘{path}’: Permission denied\n"),
                    p => format!("{p}: cannot access '{path}': Permission denied\n"),
                },
            ))
        }
    }
}

/// One attestation as the chain saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attestation {
    pub host: Role,
    pub index: u64,
    pub source_epoch: u64,
    pub target_epoch: u64,
    pub slot: u64,
    pub root: String,
}

struct World {
    clock: ChainClock,
    time: SimTime,
    layout: Layout,
    indices: Vec<u64>,
    nodes: [Node; 2],
    chain: Vec<Attestation>,
    duty_model: DutyModel,
    /// The keys (of ours) in the sync committee, every epoch.
    sync_committee: Vec<u64>,
}

/// How the simulated validator does its attester duties (as the lab's
/// `validator-real-duties` fault switches it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DutyModel {
    /// Each epoch's attestation is made as soon as the validator runs in that epoch,
    /// also right after a start: a stale history shows at once.
    #[default]
    Strict,
    /// The real clients': each key attests at its duty slot (`sim_attester_slot`,
    /// what `duties/attester` answers), and a duty whose slot began before the
    /// validator started is not performed (qrysm's slot ticker first fires at the
    /// slot after the one it starts in).
    Real,
}

/// How many validators the simulated chain has beside ours: proposers are drawn
/// from them all (as the lab's `labsim.CHAIN_VALIDATORS`).
pub const SIM_CHAIN_VALIDATORS: u64 = 64;

fn sha_u64(text: &str) -> u64 {
    let h = Sha256::digest(text.as_bytes());
    u64::from_be_bytes(h[..8].try_into().expect("8 bytes"))
}

/// The slot of a key's attester duty in an epoch: the lab's (`labsim.attester_slot`).
pub fn sim_attester_slot(index: u64, epoch: u64, slots_per_epoch: u64) -> u64 {
    epoch * slots_per_epoch + sha_u64(&format!("vf-lab-duty-{index}-{epoch}")) % slots_per_epoch
}

/// The proposer of a slot: the lab's (`labsim.proposer_index`), one of
/// [`SIM_CHAIN_VALIDATORS`].
pub fn sim_proposer(slot: u64) -> u64 {
    sha_u64(&format!("vf-lab-proposer-{slot}")) % SIM_CHAIN_VALIDATORS
}

/// Names and places from the configuration that the simulated hosts honour.
#[derive(Debug, Clone)]
struct Layout {
    service: String,
    binary: String,
    process_name: String,
    /// The runbook's `slashing-protection/` directory.
    sp_dir: String,
    /// The unit's `--datadir`: the history is `<datadir>/validator.db` there.
    datadir: String,
    db_path: String,
    wallet_dir: String,
    lock_file: String,
    fence_dropin: String,
    owner: String,
    backups_dir: String,
    backups_prefix: String,
    beacon_port: u16,
    execution_port: u16,
    metrics_port: u16,
}

fn idx(role: Role) -> usize {
    match role {
        Role::Primary => 0,
        Role::Backup => 1,
    }
}

/// The shared state of a simulated primary/backup pair and their chain.
#[derive(Clone)]
pub struct SimWorld {
    inner: Arc<Mutex<World>>,
}

/// Where the simulated hosts keep the validator's history (as the lab's `layout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimLayout {
    /// The reference deployment: `--datadir=/var/lib/qrysm/validator`, the DB there,
    /// `wallet/` beside it, the runbook's `slashing-protection/` created empty, and
    /// the backup script's archives of that empty directory.
    Reference,
    /// The runbook's: the unit's datadir is the `slashing-protection/` directory, so
    /// the DB lives there and the backups hold it.
    Runbook,
}

/// The chain's genesis validators root (also stored in every DB the sim writes).
pub const SIM_GENESIS_ROOT: [u8; 32] = [0xab; 32];

/// Timing of the simulated chain: 2 s slots, 4 slots per epoch, as the lab.
pub const SIM_SECONDS_PER_SLOT: u64 = 2;
pub const SIM_SLOTS_PER_EPOCH: u64 = 4;

impl SimWorld {
    /// A healthy pair, as the runbook expects before a failover: the primary signing,
    /// the backup stopped, disabled and locked, both nodes synced, older archives on
    /// the backup.
    pub fn new(cfg: &Config, time: SimTime) -> SimWorld {
        SimWorld::with_layout(cfg, time, SimLayout::Reference)
    }

    /// A healthy pair laid out as `layout` says (`new`: the reference deployment's).
    pub fn with_layout(cfg: &Config, time: SimTime, layout: SimLayout) -> SimWorld {
        let now = time.now();
        let genesis =
            (now as u64).saturating_sub(10 * SIM_SECONDS_PER_SLOT * SIM_SLOTS_PER_EPOCH + 1);
        let clock = ChainClock::new(genesis, SIM_SECONDS_PER_SLOT, SIM_SLOTS_PER_EPOCH)
            .expect("valid timing");
        let (backups_dir, pattern) = cfg.backups.rsplit_once('/').unwrap_or(("/", &cfg.backups));
        let layout = Layout {
            service: cfg.validator.service.clone(),
            binary: cfg.validator.binary.clone(),
            process_name: cfg.validator.process_name.clone(),
            sp_dir: cfg.validator.slashing_protection_dir(),
            datadir: match layout {
                SimLayout::Reference => cfg.validator.data_dir.clone(),
                SimLayout::Runbook => cfg.validator.slashing_protection_dir(),
            },
            db_path: match layout {
                SimLayout::Reference => format!("{}/validator.db", cfg.validator.data_dir),
                SimLayout::Runbook => {
                    format!("{}/validator.db", cfg.validator.slashing_protection_dir())
                }
            },
            wallet_dir: format!("{}/wallet", cfg.validator.data_dir),
            lock_file: cfg.validator.lock_file.clone(),
            fence_dropin: crate::engine::steps::fence_dropin(cfg),
            owner: cfg.validator.owner.clone(),
            backups_dir: backups_dir.to_string(),
            backups_prefix: pattern
                .split(['*', '?', '['])
                .next()
                .unwrap_or("")
                .to_string(),
            beacon_port: cfg.beacon.endpoint.port,
            execution_port: cfg.execution.endpoint.port,
            metrics_port: cfg.metrics.port,
        };
        let indices = if cfg.validator.indices.is_empty() {
            vec![0, 1, 2, 3]
        } else {
            cfg.validator.indices.clone()
        };
        let node = |name: &str| Node {
            hostname: name.to_string(),
            files: BTreeMap::new(),
            unit: Unit::default(),
            journal: Vec::new(),
            faults: Faults::default(),
            next_pid: 1200,
            last_heartbeat_slot: 0,
            detached_db: None,
            unprivileged: None,
            privilege_note: None,
        };
        let mut nodes = [node(&cfg.primary.name), node(&cfg.backup.name)];
        for (n, h) in nodes.iter_mut().zip([&cfg.primary, &cfg.backup]) {
            n.unprivileged = unprivileged_user(h);
            n.privilege_note = h.privilege_note();
        }
        let mut w = World {
            clock,
            time,
            layout,
            indices,
            nodes,
            chain: Vec::new(),
            duty_model: DutyModel::Strict,
            sync_committee: Vec::new(),
        };
        w.baseline(now);
        SimWorld {
            inner: Arc::new(Mutex::new(w)),
        }
    }

    /// A host of the pair.
    pub fn host(&self, role: Role) -> SimHost {
        SimHost {
            role,
            world: self.clone(),
            as_root: false,
        }
    }

    /// A host of the pair as root sees it, whatever the configuration's login (what
    /// the lab's `ctl` is to its hosts: for tests that look at a host).
    pub fn root_host(&self, role: Role) -> SimHost {
        SimHost {
            role,
            world: self.clone(),
            as_root: true,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let mut w = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let now = w.time.now();
        w.tick(now);
        f(&mut w)
    }

    /// Switch a host's faults.
    pub fn set_faults(&self, role: Role, f: impl FnOnce(&mut Faults)) {
        self.with(|w| f(&mut w.nodes[idx(role)].faults));
    }

    /// Let simulated time pass: a manual clock moves on; real time is waited for.
    pub async fn advance(&self, secs: f64) {
        let time = self.with(|w| w.time.clone());
        match time {
            SimTime::Manual(ms) => {
                ms.fetch_add((secs * 1000.0) as u64, Ordering::SeqCst);
            }
            SimTime::Real => tokio::time::sleep(Duration::from_secs_f64(secs)).await,
        }
    }

    pub fn clock(&self) -> ChainClock {
        self.with(|w| w.clock)
    }

    /// How the validators do their attester duties from now on.
    pub fn set_duty_model(&self, model: DutyModel) {
        self.with(|w| w.duty_model = model);
    }

    /// Which of our keys sit in the sync committee (every epoch); none by default.
    pub fn set_sync_committee(&self, indices: Vec<u64>) {
        self.with(|w| w.sync_committee = indices);
    }

    pub fn now(&self) -> f64 {
        self.with(|w| w.time.now())
    }

    /// Every attestation the chain has seen, in order.
    pub fn attestations(&self) -> Vec<Attestation> {
        self.with(|w| w.chain.clone())
    }

    /// A vote of `index` that conflicts with its first one (same target, another
    /// root), signed elsewhere, appears in the chain record: the key is slashable, and
    /// the beacon node reports it slashed (`validator.slashed`, the pool).
    pub fn add_conflicting_vote(&self, index: u64) {
        self.with(|w| {
            if let Some(first) = w.chain.iter().find(|a| a.index == index).cloned() {
                w.chain.push(Attestation {
                    root: format!("{:0>64}", "bad"),
                    ..first
                });
            }
        });
    }

    /// Pairs of attestations that would get a key slashed (double or surround votes).
    pub fn slashable(&self) -> Vec<(Attestation, Attestation)> {
        self.with(|w| slashable_pairs(&w.chain))
    }

    /// Start the validator on a host behind the tool's back (a scenario's fault).
    /// Replace the history file under the running validator with an older copy (only
    /// what it signed up to `epochs_back` epochs ago), while the validator keeps
    /// signing into the DB it has open: the file on disk no longer covers the chain.
    pub fn replace_history_with_older(&self, role: Role, epochs_back: u64) {
        self.with(|w| {
            let cutoff = w.clock.epoch_at(w.time.now()).saturating_sub(epochs_back);
            let path = w.layout.db_path.clone();
            let n = &mut w.nodes[idx(role)];
            let Some(f) = n.files.get_mut(&path) else {
                return;
            };
            let old: Vec<Value> = db_records(&f.data)
                .into_iter()
                .filter(|r| r["target_epoch"].as_u64().is_some_and(|t| t <= cutoff))
                .collect();
            n.detached_db = Some(f.data.clone());
            f.data = db_append(&new_db(), &old);
        });
    }

    /// An archive of the primary's history file as it is now (`tar -czf … -C DATADIR
    /// validator.db`), put on the backup as the newest of its backups: what an
    /// operator who backs up the real history has.
    pub fn archive_primary_history(&self) {
        self.with(|w| {
            let now = w.time.now();
            let l = w.layout.clone();
            let Some(db) = w.nodes[0].files.get(&l.db_path).map(|f| f.data.clone()) else {
                return;
            };
            let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::fast(),
            ));
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o600);
            h.set_size(db.len() as u64);
            h.set_mtime(now as u64);
            b.append_data(&mut h, "validator.db", &db[..])
                .expect("in memory");
            let data = b
                .into_inner()
                .and_then(|gz| gz.finish())
                .expect("in memory");
            let name = format!(
                "{}/{}{}.tar.gz",
                l.backups_dir,
                l.backups_prefix,
                jiff::Timestamp::from_second(now as i64)
                    .map(|ts| ts.strftime("%Y%m%d_%H%M%S").to_string())
                    .unwrap_or_default()
            );
            w.nodes[1].files.insert(
                name,
                SimFile {
                    data,
                    mode: 0o600,
                    owner: "root:root".into(),
                    mtime: now,
                    dir: false,
                    link: None,
                },
            );
        });
    }

    /// Where the simulated hosts keep the validator's history.
    pub fn history_file(&self) -> String {
        self.with(|w| w.layout.db_path.clone())
    }

    /// The host's power, as its BMC sees it (`crate::power::SimPowerDevice`).
    pub fn powered_on(&self, role: Role) -> bool {
        self.with(|w| !w.nodes[idx(role)].faults.powered_off)
    }

    /// The `bmc_unreachable` fault of the host.
    pub fn bmc_unreachable(&self, role: Role) -> bool {
        self.with(|w| w.nodes[idx(role)].faults.bmc_unreachable)
    }

    /// A hard power-off through the host's BMC: it stops answering, and its
    /// validator dies with it (nothing is written on the way down).
    pub fn power_off(&self, role: Role) {
        self.with(|w| {
            let n = &mut w.nodes[idx(role)];
            n.faults.powered_off = true;
            n.unit.running = false;
            n.unit.failed = false;
            n.unit.main_pid = 0;
            n.unit.stopping_since = None;
            n.unit.restart_at = None;
            n.detached_db = None;
        });
    }

    /// Power on through the host's BMC: it boots as a real host does. What lived
    /// in `/run` (a runtime mask, runtime drop-ins, the run lock) is gone; what is
    /// on disk stays; an enabled validator is started, and its precheck refuses
    /// while the lock file is there.
    pub fn power_on(&self, role: Role) {
        self.with(|w| {
            let now = w.time.now();
            let i = idx(role);
            let n = &mut w.nodes[i];
            if !n.faults.powered_off {
                return;
            }
            n.faults.powered_off = false;
            n.faults.ssh_hangs = false;
            n.faults.sshd_down = false;
            n.files.retain(|path, _| !path.starts_with("/run/"));
            n.unit = Unit {
                enabled: n.unit.enabled,
                n_restarts: 0,
                nonce: n.unit.nonce,
                fence_loaded: n.files.contains_key(&w.layout.fence_dropin),
                blocking_dropin: n
                    .unit
                    .blocking_dropin
                    .take()
                    .filter(|d| !d.starts_with("/run/")),
                ..Unit::default()
            };
            n.journal.push((now, "-- Boot --".into()));
            if n.unit.enabled {
                let _ = w.start_validator(i, now, false);
            }
        });
    }

    pub fn force_start_validator(&self, role: Role) {
        self.with(|w| {
            let now = w.time.now();
            let _ = w.start_validator(idx(role), now, true);
        });
    }

    /// Make every start of the validator on a host a skipped no-op (a scenario's
    /// fault: a drop-in with an unmet condition, loaded).
    pub fn block_starts(&self, role: Role) {
        self.with(|w| {
            let service = w.layout.service.clone();
            w.nodes[idx(role)].unit.blocking_dropin = Some(format!(
                "/run/systemd/system/{service}.service.d/lab-fault.conf"
            ));
        });
    }

    /// Put a symbolic link on a host (a scenario's fault: a hostile history).
    pub fn add_symlink(&self, role: Role, path: &str, target: &str) {
        self.with(|w| {
            w.detach_history(idx(role), path);
            let now = w.time.now();
            w.nodes[idx(role)].files.insert(
                path.to_string(),
                SimFile {
                    data: Vec::new(),
                    mode: 0o777,
                    owner: "root:root".into(),
                    mtime: now,
                    dir: false,
                    link: Some(target.to_string()),
                },
            );
        });
    }

    /// A file's bytes on a host (tests).
    pub fn file(&self, role: Role, path: &str) -> Option<Vec<u8>> {
        self.with(|w| {
            w.nodes[idx(role)]
                .files
                .get(path)
                .filter(|f| !f.dir)
                .map(|f| f.data.clone())
        })
    }

    /// Paths on a host under a directory (tests).
    pub fn paths_under(&self, role: Role, dir: &str) -> Vec<String> {
        self.with(|w| {
            let prefix = format!("{}/", dir.trim_end_matches('/'));
            w.nodes[idx(role)]
                .files
                .keys()
                .filter(|p| p.starts_with(&prefix))
                .cloned()
                .collect()
        })
    }

    /// Remove a file or directory tree on a host (a scenario's fault).
    /// Write a file (owned as the validator, 0600), replacing what is there.
    pub fn put_file(&self, role: Role, path: &str, data: Vec<u8>) {
        self.with(|w| {
            w.detach_history(idx(role), path);
            let now = w.time.now();
            let owner = w.layout.owner.clone();
            w.nodes[idx(role)].files.insert(
                path.to_string(),
                SimFile {
                    data,
                    mode: 0o600,
                    owner,
                    mtime: now,
                    dir: false,
                    link: None,
                },
            );
        });
    }

    pub fn remove_path(&self, role: Role, path: &str) {
        self.with(|w| {
            w.detach_history(idx(role), path);
            let n = &mut w.nodes[idx(role)];
            let prefix = format!("{}/", path.trim_end_matches('/'));
            n.files.retain(|p, _| p != path && !p.starts_with(&prefix));
        });
    }
}

/// Every pair of attestations by one key that the chain would slash.
pub fn slashable_pairs(chain: &[Attestation]) -> Vec<(Attestation, Attestation)> {
    let mut out = Vec::new();
    for (i, a) in chain.iter().enumerate() {
        for b in &chain[i + 1..] {
            if a.index != b.index {
                continue;
            }
            let double = a.target_epoch == b.target_epoch && a.root != b.root;
            let surround = (a.source_epoch < b.source_epoch && b.target_epoch < a.target_epoch)
                || (b.source_epoch < a.source_epoch && a.target_epoch < b.target_epoch);
            if double || surround {
                out.push((a.clone(), b.clone()));
            }
        }
    }
    out
}

/// A bbolt-shaped slashing-protection DB: a meta page with the magic, then JSON lines.
/// The same fake Dilithium public key as the lab's (`labsim.pubkey`): 2592 bytes.
pub fn sim_pubkey(index: u64) -> String {
    let mut raw = Vec::with_capacity(2592);
    for j in 0..81 {
        raw.extend_from_slice(&Sha256::digest(
            format!("vf-lab-key-{index}-{j}").as_bytes(),
        ));
    }
    format!("0x{}", hex(&raw))
}

/// `qrysm-validator slashing-protection-history export|import`, on the DB at the
/// configured place, as the client (and the lab's simulator) do it.
fn history_command(
    w: &mut World,
    i: usize,
    sub: &str,
    datadir: &str,
    arg: &str,
    now: f64,
) -> Output {
    let db_path = format!("{datadir}/validator.db");
    let gvr = format!("0x{}", hex(&SIM_GENESIS_ROOT));
    match (sub, arg.split_once('=')) {
        ("export", Some(("--slashing-protection-export-dir", dir))) => {
            let n = &mut w.nodes[i];
            if n.unit.running {
                return out(
                    1,
                    "",
                    "cannot obtain database lock, database may be in use by another process\n",
                );
            }
            let db = n
                .files
                .get(&db_path)
                .map(|f| f.data.clone())
                .unwrap_or_default();
            if !n.files.get(dir).is_some_and(|f| f.dir) {
                n.files.insert(dir.to_string(), dir_entry("root:root", now));
            }
            let mut per: std::collections::BTreeMap<u64, Vec<Value>> = Default::default();
            for r in db_records(&db) {
                if let Some(k) = r["index"].as_u64() {
                    per.entry(k).or_default().push(json!({
                        "source_epoch": r["source_epoch"].as_u64().unwrap_or(0).to_string(),
                        "target_epoch": r["target_epoch"].as_u64().unwrap_or(0).to_string(),
                    }));
                }
            }
            if per.is_empty() {
                // qrysm: log.Fatal, exit 1.
                return out(
                    1,
                    "",
                    "level=fatal msg=\"No slashing protection data was found in your database. This is likely because an older version of Qrysm would place your validator database in your wallet directory as a validator.db file.\"\n",
                );
            }
            let data: Vec<Value> = per
                .into_iter()
                .map(|(k, atts)| json!({"pubkey": sim_pubkey(k), "signed_blocks": [], "signed_attestations": atts}))
                .collect();
            let doc = json!({"metadata": {"interchange_format_version": "5", "genesis_validators_root": gvr}, "data": data});
            n.files.insert(
                format!("{dir}/slashing_protection.json"),
                SimFile {
                    data: doc.to_string().into_bytes(),
                    mode: 0o600,
                    owner: "root:root".into(),
                    mtime: now,
                    dir: false,
                    link: None,
                },
            );
            out(
                0,
                "level=info msg=\"Successfully wrote slashing protection JSON file\"\n",
                "",
            )
        }
        ("import", Some(("--slashing-protection-json-file", file))) => {
            let n = &mut w.nodes[i];
            if n.unit.running {
                return out(
                    1,
                    "",
                    "cannot obtain database lock, database may be in use by another process\n",
                );
            }
            let Some(doc) = n
                .files
                .get(file)
                .and_then(|f| serde_json::from_slice::<Value>(&f.data).ok())
            else {
                return out(
                    1,
                    "",
                    format!("error: could not parse slashing protection JSON {file}\n"),
                );
            };
            if doc["metadata"]["interchange_format_version"] != "5"
                || doc["metadata"]["genesis_validators_root"] != gvr.as_str()
            {
                return out(
                    1,
                    "",
                    "error: version or genesis validators root does not match\n",
                );
            }
            let mut lines = Vec::new();
            for e in doc["data"].as_array().cloned().unwrap_or_default() {
                let Some(k) = (0..64).find(|k| e["pubkey"] == sim_pubkey(*k).as_str()) else {
                    continue;
                };
                for a in e["signed_attestations"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    let s: u64 = a["source_epoch"]
                        .as_str()
                        .and_then(|x| x.parse().ok())
                        .unwrap_or(0);
                    let t: u64 = a["target_epoch"]
                        .as_str()
                        .and_then(|x| x.parse().ok())
                        .unwrap_or(0);
                    lines.push(
                        json!({"index": k, "source_epoch": s, "target_epoch": t, "root": "00".repeat(32)}),
                    );
                }
            }
            n.files
                .entry(datadir.to_string())
                .or_insert_with(|| dir_entry("root:root", now));
            // Created (root, 0600) when absent, as the client does; merged otherwise.
            let f = n.files.entry(db_path.clone()).or_insert_with(|| SimFile {
                data: new_db(),
                mode: 0o600,
                owner: "root:root".into(),
                mtime: now,
                dir: false,
                link: None,
            });
            f.data = db_append(&f.data, &lines);
            f.mtime = now;
            out(
                0,
                format!(
                    "level=info msg=\"Slashing protection JSON successfully imported\" imported={}\n",
                    lines.len()
                ),
                "",
            )
        }
        _ => out(
            2,
            "",
            format!("error: unknown slashing-protection-history command {sub:?}\n"),
        ),
    }
}

/// A backup archive as the role's script makes it: `tar -czf … -C DATA
/// slashing-protection` (holding the DB only where it lives there, `db` Some).
fn archive_of(sp_dir: &str, db: Option<Vec<u8>>, mtime: f64) -> Vec<u8> {
    let name = sp_dir.rsplit('/').next().unwrap_or("slashing-protection");
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o700);
    h.set_size(0);
    h.set_mtime(mtime as u64);
    b.append_data(&mut h, format!("{name}/"), std::io::empty())
        .expect("in memory");
    if let Some(db) = db {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o600);
        h.set_size(db.len() as u64);
        h.set_mtime(mtime as u64);
        b.append_data(&mut h, format!("{name}/validator.db"), &db[..])
            .expect("in memory");
    }
    b.into_inner()
        .and_then(|gz| gz.finish())
        .expect("in memory")
}

/// A new, empty validator.db as qrysm creates it: a real bbolt file in its schema
/// (the chain's genesis validators root stored), written by `validator_db`.
pub fn new_db() -> Vec<u8> {
    crate::validator_db::write_history(&crate::validator_db::QrysmHistory {
        genesis_root: Some(SIM_GENESIS_ROOT),
        ..Default::default()
    })
}

fn raw_pubkey(index: u64) -> Vec<u8> {
    let mut raw = Vec::with_capacity(2592);
    for j in 0..81 {
        raw.extend_from_slice(&Sha256::digest(
            format!("vf-lab-key-{index}-{j}").as_bytes(),
        ));
    }
    raw
}

/// The attestations in a DB, as `{index, source_epoch, target_epoch, root}` (keys
/// mapped back to the simulator's indices; keys it does not know are left out). A
/// file that is not a DB holds none.
fn db_records(data: &[u8]) -> Vec<Value> {
    let Ok(h) = crate::validator_db::read_history_bytes(data, "validator.db") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (pk, kh) in &h.keys {
        let Some(index) = (0..64).find(|i| &raw_pubkey(*i) == pk) else {
            continue;
        };
        for (target, (sources, root)) in &kh.attestations {
            for source in sources {
                out.push(json!({"index": index, "source_epoch": source, "target_epoch": target, "root": hex(root)}));
            }
        }
    }
    out
}

/// The DB with these attestations added (as the client's SaveAttestationForPubKey).
fn db_append(data: &[u8], records: &[Value]) -> Vec<u8> {
    let mut h = crate::validator_db::read_history_bytes(data, "validator.db").unwrap_or_default();
    if h.genesis_root.is_none() {
        h.genesis_root = Some(SIM_GENESIS_ROOT);
    }
    for r in records {
        let (Some(index), Some(source), Some(target)) = (
            r["index"].as_u64(),
            r["source_epoch"].as_u64(),
            r["target_epoch"].as_u64(),
        ) else {
            continue;
        };
        let mut root = [0u8; 32];
        let rh = r["root"].as_str().unwrap_or("");
        for (k, b) in root.iter_mut().enumerate() {
            *b = rh
                .get(2 * k..2 * k + 2)
                .and_then(|x| u8::from_str_radix(x, 16).ok())
                .unwrap_or(0);
        }
        let kh = h.keys.entry(raw_pubkey(index)).or_default();
        if !kh
            .attestations
            .get(&target)
            .is_some_and(|(sources, _)| sources.contains(&source))
        {
            kh.attest(source, target, root);
        }
    }
    crate::validator_db::write_history(&h)
}

impl World {
    /// The path of the history is about to stop naming the DB the running validator
    /// has open (replaced, removed, renamed): bbolt keeps writing to the open file,
    /// so the validator signs on into its own copy, not into whatever the path names.
    fn detach_history(&mut self, i: usize, path: &str) {
        let n = &mut self.nodes[i];
        if path == self.layout.db_path && n.unit.running && n.detached_db.is_none() {
            n.detached_db = Some(
                n.files
                    .get(path)
                    .map(|f| f.data.clone())
                    .unwrap_or_else(new_db),
            );
        }
    }

    fn baseline(&mut self, now: f64) {
        let l = self.layout.clone();
        for i in 0..2 {
            let n = &mut self.nodes[i];
            for dir in [
                "/etc",
                "/etc/quantapool",
                "/var/lib/qrysm",
                "/tmp",
                "/run",
                "/opt/quantapool",
            ] {
                n.files.insert(dir.to_string(), dir_entry("root:root", now));
            }
            let data_dir = l
                .sp_dir
                .rsplit_once('/')
                .map(|(d, _)| d.to_string())
                .unwrap_or_default();
            n.files.insert(data_dir, dir_entry(&l.owner, now));
            n.files.insert(l.datadir.clone(), dir_entry(&l.owner, now));
            // The role's empty slashing-protection/ (0750), and the wallet (keystores).
            let mut sp = dir_entry(&l.owner, now);
            sp.mode = 0o750;
            n.files.insert(l.sp_dir.clone(), sp);
            let mut wallet = dir_entry(&l.owner, now);
            wallet.mode = 0o700;
            n.files.insert(l.wallet_dir.clone(), wallet.clone());
            n.files
                .insert(format!("{}/direct", l.wallet_dir), wallet.clone());
            n.files
                .insert(format!("{}/direct/accounts", l.wallet_dir), wallet);
            n.files
                .insert(l.backups_dir.clone(), dir_entry("root:root", now));
            n.files.insert(
                l.db_path.clone(),
                SimFile {
                    data: new_db(),
                    mode: 0o600,
                    owner: l.owner.clone(),
                    mtime: now - 3600.0,
                    dir: false,
                    link: None,
                },
            );
        }
        // The backup: locked, disabled, stopped; two older archives of its own.
        let b = &mut self.nodes[1];
        b.files.insert(
            l.lock_file.clone(),
            SimFile {
                data: b"locked: this host is the backup\n".to_vec(),
                mode: 0o444,
                owner: "root:root".into(),
                mtime: now - 86400.0,
                dir: false,
                link: None,
            },
        );
        for (age, stamp) in [(3600.0, "a"), (600.0, "b")] {
            let t = now - age;
            let name = format!(
                "{}/{}{}.tar.gz",
                l.backups_dir,
                l.backups_prefix,
                // As the role's script names them: `date +%Y%m%d_%H%M%S`.
                jiff::Timestamp::from_second(t as i64)
                    .map(|ts| ts.strftime("%Y%m%d_%H%M%S").to_string())
                    .unwrap_or_else(|_| stamp.to_string())
            );
            b.files.insert(
                name,
                SimFile {
                    data: archive_of(
                        &l.sp_dir,
                        (l.db_path.starts_with(&format!("{}/", l.sp_dir))).then(new_db),
                        t,
                    ),
                    mode: 0o600,
                    owner: "root:root".into(),
                    mtime: t,
                    dir: false,
                    link: None,
                },
            );
        }
        // The primary: enabled and signing.
        self.nodes[0].unit.enabled = true;
        // It has been signing for a few epochs already.
        let since = now - 3.0 * self.clock.epoch_seconds() as f64;
        self.start_validator(0, since, false)
            .expect("the baseline primary starts");
    }

    fn start_validator(&mut self, i: usize, now: f64, bypass_lock: bool) -> Result<(), String> {
        let l = self.layout.clone();
        let n = &mut self.nodes[i];
        if n.unit.running {
            return Ok(());
        }
        if !bypass_lock && (n.unit.fence_loaded || n.unit.blocking_dropin.is_some()) {
            // The fence drop-in's condition is never met: skipped, not failed.
            n.journal.push((
                now,
                format!(
                    "{}.service was skipped because of an unmet condition check",
                    l.service
                ),
            ));
            n.unit.failed = false;
            return Ok(());
        }
        if !bypass_lock && n.files.contains_key(&l.lock_file) {
            n.unit.failed = true;
            n.journal.push((
                now,
                format!(
                    "qrysm-validator-precheck: {} exists; refusing to start",
                    l.lock_file
                ),
            ));
            return Err(format!(
                "Job for {}.service failed because the control process exited with error code.",
                l.service
            ));
        }
        if !n.files.contains_key(&l.db_path) {
            // A real client opens an empty history when none is there.
            n.files
                .entry(l.datadir.clone())
                .or_insert_with(|| dir_entry(&l.owner, now));
            n.files.insert(
                l.db_path.clone(),
                SimFile {
                    data: new_db(),
                    mode: 0o600,
                    owner: l.owner.clone(),
                    mtime: now,
                    dir: false,
                    link: None,
                },
            );
        }
        n.detached_db = None;
        n.next_pid += 7;
        n.unit.running = true;
        n.unit.failed = false;
        n.unit.stopping_since = None;
        n.unit.main_pid = n.next_pid;
        n.unit.started_at = now;
        n.unit.nonce = n.unit.nonce.wrapping_add(1) ^ (now.to_bits());
        n.journal.push((
            now,
            "level=info msg=\"Starting validator node\" prefix=node".into(),
        ));
        Ok(())
    }

    /// `systemctl stop` (kill = false) or `systemctl kill --signal=SIGKILL` (kill = true).
    /// A stop of a validator that ignores SIGTERM leaves a stop job pending, which
    /// systemd ends with SIGKILL after TimeoutStopSec (see `tick`).
    fn stop_validator(&mut self, i: usize, now: f64, kill: bool) -> Result<(), String> {
        let n = &mut self.nodes[i];
        n.unit.restart_at = None;
        if !n.unit.running {
            return Ok(());
        }
        if n.faults.validator_ignores_sigterm && !kill {
            if n.unit.stopping_since.is_none() {
                n.unit.stopping_since = Some(now);
                n.journal
                    .push((now, "level=warning msg=\"Ignoring SIGTERM\"".into()));
            }
            return Err("the validator ignores SIGTERM; the stop job waits".into());
        }
        let stop_job = n.unit.stopping_since.take().is_some() || !kill;
        n.unit.running = false;
        n.unit.main_pid = 0;
        if kill {
            n.unit.failed = true;
            n.journal.push((
                now,
                "qrysm-validator.service: Main process exited, code=killed, status=9/KILL".into(),
            ));
            // Killed outside a stop job: Restart=on-failure starts it again (a fence
            // drop-in then makes the start a skipped no-op).
            if !stop_job {
                n.unit.restart_at = Some(now + SIM_RESTART_SEC);
            }
        } else {
            n.journal
                .push((now, "level=info msg=\"Shutting down\" prefix=node".into()));
        }
        Ok(())
    }

    /// systemd's own timers: the stop timeout's SIGKILL and Restart=on-failure.
    fn systemd_timers(&mut self, now: f64) {
        for i in 0..2 {
            let u = &self.nodes[i].unit;
            if let Some(since) = u.stopping_since
                && now >= since + SIM_TIMEOUT_STOP_SEC
            {
                let n = &mut self.nodes[i];
                n.unit.stopping_since = None;
                n.unit.running = false;
                n.unit.main_pid = 0;
                n.unit.failed = true;
                n.journal.push((
                    since + SIM_TIMEOUT_STOP_SEC,
                    "qrysm-validator.service: State 'stop-sigterm' timed out. Killing.".into(),
                ));
            }
            if let Some(at) = self.nodes[i].unit.restart_at
                && now >= at
            {
                self.nodes[i].unit.restart_at = None;
                self.nodes[i].unit.n_restarts += 1;
                if self.start_validator(i, at, false).is_err() {
                    self.nodes[i].unit.restart_at = Some(now + SIM_RESTART_SEC);
                }
            }
        }
    }

    /// Bring the world up to `now`: the validators sign what is due.
    fn tick(&mut self, now: f64) {
        self.systemd_timers(now);
        let current_slot = self.clock.slot_at(now);
        let epoch = self.clock.epoch_of_slot(current_slot);
        for i in 0..2 {
            if self.nodes[i].faults.powered_off || !self.nodes[i].unit.running {
                continue;
            }
            let role = if i == 0 { Role::Primary } else { Role::Backup };
            let start_epoch = self.clock.epoch_at(self.nodes[i].unit.started_at);
            let db_path = self.layout.db_path.clone();
            let open = self.nodes[i]
                .detached_db
                .clone()
                .or_else(|| self.nodes[i].files.get(&db_path).map(|f| f.data.clone()));
            let Some(db) = open else {
                continue;
            };
            let records = db_records(&db);
            let mut appended = Vec::new();
            let mut signed: BTreeMap<(u64, u64), Vec<u64>> = BTreeMap::new();
            for e in start_epoch..=epoch {
                let slot = self
                    .clock
                    .epoch_start(e)
                    .max(self.nodes[i].unit.started_at as u64);
                let first_slot = self.clock.slot_at(slot as f64 + 0.5);
                for &k in &self.indices {
                    let already = records.iter().chain(appended.iter()).any(|r| {
                        r["index"].as_u64() == Some(k)
                            && r["target_epoch"].as_u64().is_some_and(|t| t >= e)
                    });
                    if already {
                        continue;
                    }
                    let slot = match self.duty_model {
                        DutyModel::Strict => first_slot,
                        DutyModel::Real => {
                            // At its duty slot; not at all when that slot began before
                            // the validator started.
                            let duty = sim_attester_slot(k, e, self.clock.slots_per_epoch);
                            if duty <= self.clock.slot_at(self.nodes[i].unit.started_at)
                                || duty > current_slot
                            {
                                continue;
                            }
                            duty
                        }
                    };
                    let root = hex(&Sha256::digest(
                        format!(
                            "{}/{}/{}",
                            self.nodes[i].hostname, self.nodes[i].unit.nonce, e
                        )
                        .as_bytes(),
                    ));
                    appended.push(json!({"index": k, "source_epoch": e.saturating_sub(1), "target_epoch": e, "root": root}));
                    self.chain.push(Attestation {
                        host: role,
                        index: k,
                        source_epoch: e.saturating_sub(1),
                        target_epoch: e,
                        slot,
                        root,
                    });
                    signed.entry((e, slot)).or_default().push(k);
                }
            }
            let n = &mut self.nodes[i];
            if !appended.is_empty() {
                if let Some(d) = n.detached_db.as_mut() {
                    *d = db_append(d, &appended);
                } else {
                    let f = n.files.get_mut(&db_path).expect("db present");
                    f.data = db_append(&f.data, &appended);
                    f.mtime = now;
                }
            }
            for ((e, slot), keys) in signed {
                let when = (self.clock.genesis_time as f64
                    + (slot * self.clock.seconds_per_slot) as f64)
                    .max(n.unit.started_at)
                    + 0.5;
                n.journal.push((
                    when,
                    format!(
                        "level=info msg=\"Submitted new attestations\" AttesterIndices=\"{keys:?}\" Slot={slot} TargetEpoch={e} prefix=validator",
                    )
                    .replace(',', ""),
                ));
            }
            if current_slot > n.last_heartbeat_slot {
                n.last_heartbeat_slot = current_slot;
                n.journal.push((
                    now,
                    format!("level=info msg=\"Waiting for next epoch\" slot={current_slot}"),
                ));
            }
            if n.journal.len() > 5000 {
                let cut = n.journal.len() - 4000;
                n.journal.drain(..cut);
            }
        }
    }
}

fn dir_entry(owner: &str, now: f64) -> SimFile {
    SimFile {
        data: Vec::new(),
        mode: 0o755,
        owner: owner.to_string(),
        mtime: now,
        dir: true,
        link: None,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One host of the simulated pair.
#[derive(Clone)]
pub struct SimHost {
    role: Role,
    world: SimWorld,
    /// Ignores the configured login's lack of rights (a test's own look).
    as_root: bool,
}

fn out(status: i32, stdout: impl Into<Vec<u8>>, stderr: impl Into<Vec<u8>>) -> Output {
    Output {
        status: Some(status),
        stdout: stdout.into(),
        stderr: stderr.into(),
    }
}

impl SimHost {
    /// Is the host reachable for this operation? Mirrors what ssh would report.
    fn gate(&self, what: &str, timeout: Duration) -> Result<(), HostError> {
        let f = self.world.with(|w| w.nodes[idx(self.role)].faults.clone());
        if f.powered_off {
            return Err(HostError::new(
                self.role,
                Failure::Unreachable,
                what,
                "failed to connect to the remote host: connect to host: No route to host",
            ));
        }
        if f.ssh_hangs {
            return Err(HostError::new(
                self.role,
                Failure::TimedOut,
                what,
                format!(
                    "no SSH handshake within {}s (host down, or its sshd hangs)",
                    timeout.as_secs()
                ),
            ));
        }
        if f.sshd_down {
            return Err(HostError::new(
                self.role,
                Failure::Unreachable,
                what,
                "failed to connect to the remote host: kex_exchange_identification: Connection closed by remote host",
            ));
        }
        if f.host_key_mismatch {
            return Err(HostError::new(
                self.role,
                Failure::HostKeyMismatch,
                what,
                "the host key does not match known_hosts, connection refused: Host key verification failed.",
            ));
        }
        Ok(())
    }

    fn exec(&self, cmd: &Cmd) -> Output {
        let role = self.role;
        self.world.with(|w| {
            let i = idx(role);
            if !self.as_root
                && w.nodes[i].unprivileged.is_some()
                && let Some(o) = unprivileged_answer(cmd, &w.layout)
            {
                return o;
            }
            exec_in(w, i, cmd)
        })
    }

    /// A file operation refused to a login without root's rights, as a real host
    /// refuses it (None: allowed).
    fn denied_file(&self, prog: &str, path: &str) -> Option<String> {
        let cmd = Cmd::new(prog).arg("--").arg(path);
        self.world.with(|w| {
            if self.as_root {
                return None;
            }
            w.nodes[idx(self.role)].unprivileged.as_ref()?;
            let o = unprivileged_answer(&cmd, &w.layout)?;
            Some(o.stderr_text())
        })
    }
}

/// The small shell the simulated hosts understand: exactly the commands the probes
/// and the engine send, with the same outputs and exit codes as on Debian.
fn exec_in(w: &mut World, i: usize, cmd: &Cmd) -> Output {
    let now = w.time.now();
    let l = w.layout.clone();
    let a: Vec<&str> = cmd.args.iter().map(String::as_str).collect();
    let unit_name = |u: &str| u.trim_end_matches(".service").to_string();
    match (cmd.program.as_str(), a.as_slice()) {
        ("systemctl", [show, props, "--", unit])
            if *show == "show" && props.starts_with("--property=") =>
        {
            let n = &w.nodes[i];
            let ours = unit_name(unit) == l.service;
            let u = &n.unit;
            let (active, sub) = if !ours {
                ("inactive", "dead")
            } else if u.stopping_since.is_some() {
                ("deactivating", "stop-sigterm")
            } else if u.restart_at.is_some() {
                ("activating", "auto-restart")
            } else if u.running {
                ("active", "running")
            } else if u.failed {
                ("failed", "failed")
            } else {
                ("inactive", "dead")
            };
            let file_state = if !ours {
                ""
            } else if u.enabled {
                "enabled"
            } else {
                "disabled"
            };
            let mut s = String::new();
            for p in props["--property=".len()..].split(',') {
                let v = match p {
                    "ActiveState" => active.to_string(),
                    "SubState" => sub.to_string(),
                    "MainPID" => if ours { u.main_pid } else { 0 }.to_string(),
                    "UnitFileState" => file_state.to_string(),
                    "LoadState" => if ours { "loaded" } else { "not-found" }.to_string(),
                    "NRestarts" => if ours { u.n_restarts } else { 0 }.to_string(),
                    "DropInPaths" if ours => {
                        let mut paths: Vec<&str> = Vec::new();
                        if u.fence_loaded {
                            paths.push(&l.fence_dropin);
                        }
                        if let Some(p) = &u.blocking_dropin {
                            paths.push(p);
                        }
                        paths.join(" ")
                    }
                    "ExecMainStartTimestamp" => "".to_string(),
                    "ExecStart" if ours => format!(
                        "{{ path={b} ; argv[]={b} --datadir={d} --wallet-dir={w} --beacon-rpc-provider=127.0.0.1:4000 --monitoring-host=127.0.0.1 --monitoring-port={m} --accept-terms-of-use ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }}",
                        b = format!("/usr/local/bin/{}", l.binary),
                        d = l.datadir,
                        w = l.wallet_dir,
                        m = l.metrics_port
                    ),
                    "User" if ours => l.owner.split(':').next().unwrap_or("").to_string(),
                    "Group" if ours => l.owner.split(':').nth(1).unwrap_or("").to_string(),
                    _ => "".to_string(),
                };
                s.push_str(&format!("{p}={v}\n"));
            }
            out(0, s, "")
        }
        ("systemctl", ["daemon-reload"]) => {
            let loaded = w.nodes[i].files.contains_key(&l.fence_dropin);
            w.nodes[i].unit.fence_loaded = loaded;
            out(0, "", "")
        }
        ("systemctl", [verb, rest @ ..]) => {
            let (runtime, units): (bool, Vec<&str>) = {
                let runtime = rest.contains(&"--runtime");
                (
                    runtime,
                    rest.iter()
                        .filter(|x| !x.starts_with('-'))
                        .copied()
                        .collect(),
                )
            };
            let Some(unit) = units.first() else {
                return out(1, "", "Too few arguments.\n");
            };
            if unit_name(unit) != l.service {
                return out(
                    5,
                    "",
                    format!("Failed to {verb} {unit}: Unit {unit} not found.\n"),
                );
            }
            match *verb {
                "start" => match w.start_validator(i, now, false) {
                    Ok(()) => out(0, "", ""),
                    Err(e) => out(1, "", e + "\n"),
                },
                "stop" => match w.stop_validator(i, now, false) {
                    Ok(()) => out(0, "", ""),
                    Err(e) => out(1, "", e + "\n"),
                },
                "kill" => {
                    let _ = w.stop_validator(i, now, true);
                    out(0, "", "")
                }
                "enable" => {
                    w.nodes[i].unit.enabled = true;
                    out(0, "", "")
                }
                "disable" => {
                    w.nodes[i].unit.enabled = false;
                    out(0, "", "")
                }
                // The unit file lives in /etc/systemd/system (as the reference one and
                // the lab's): a runtime mask in /run is shadowed by it and changes
                // nothing, exactly as systemd 252 does. The fence's drop-in does the work.
                "mask" if runtime => out(
                    0,
                    "",
                    format!("Created symlink /run/systemd/system/{unit}.service → /dev/null.\n"),
                ),
                "unmask" if runtime => out(0, "", ""),
                "reset-failed" => {
                    w.nodes[i].unit.failed = false;
                    out(0, "", "")
                }
                _ => out(1, "", format!("sim: systemctl {verb} is not simulated\n")),
            }
        }
        ("pgrep", ["-x", "--", name]) => {
            let u = &w.nodes[i].unit;
            if u.running && *name == l.process_name {
                out(0, format!("{}\n", u.main_pid), "")
            } else {
                out(1, "", "")
            }
        }
        ("stat", ["-c", _fmt, "--", path]) => match w.nodes[i].files.get(*path) {
            Some(f) => {
                let (user, group) = f.owner.split_once(':').unwrap_or((&f.owner, &f.owner));
                // As GNU stat's %F.
                let kind = if f.dir {
                    "directory"
                } else if f.link.is_some() {
                    "symbolic link"
                } else if f.data.is_empty() {
                    "regular empty file"
                } else {
                    "regular file"
                };
                out(
                    0,
                    format!(
                        "{kind}|{:o}|{user}|{group}|{}|{}\n",
                        f.mode,
                        f.data.len(),
                        f.mtime as i64
                    ),
                    "",
                )
            }
            None => out(
                1,
                "",
                format!("stat: cannot statx '{path}': No such file or directory\n"),
            ),
        },
        ("find", [dir, "-maxdepth", depth, rest @ ..]) => {
            let n = &w.nodes[i];
            let Some(d) = n.files.get(*dir) else {
                return out(1, "", format!("find: '{dir}': No such file or directory\n"));
            };
            if !d.dir {
                return out(0, "", "");
            }
            let depth: usize = depth.parse().unwrap_or(1);
            let name_glob = rest
                .windows(2)
                .find(|p| p[0] == "-name")
                .map(|p| p[1].to_string());
            let only_files = rest.windows(2).any(|p| p[0] == "-type" && p[1] == "f");
            let prefix = format!("{}/", dir.trim_end_matches('/'));
            let mut s = String::new();
            for (p, f) in n.files.range(prefix.clone()..) {
                let Some(rel) = p.strip_prefix(&prefix) else {
                    break;
                };
                if rel.split('/').count() > depth || (only_files && f.dir) {
                    continue;
                }
                let base = rel.rsplit('/').next().unwrap_or(rel);
                if let Some(g) = &name_glob
                    && !glob_match(g, base)
                {
                    continue;
                }
                s.push_str(&format!(
                    "{}|{}|{:.3}|{}\n",
                    if f.dir {
                        'd'
                    } else if f.link.is_some() {
                        'l'
                    } else {
                        'f'
                    },
                    f.data.len(),
                    f.mtime,
                    p
                ));
            }
            out(0, s, "")
        }
        ("head", ["-c", n, "--", path]) => match w.nodes[i].files.get(*path) {
            Some(f) if f.dir => out(
                1,
                "",
                format!("head: error reading '{path}': Is a directory\n"),
            ),
            Some(f) => {
                let n: usize = n.parse().unwrap_or(0);
                out(0, f.data[..n.min(f.data.len())].to_vec(), "")
            }
            None => out(
                1,
                "",
                format!("head: cannot open '{path}' for reading: No such file or directory\n"),
            ),
        },
        ("date", ["-u", "+%s.%N"]) => {
            let t = now + w.nodes[i].faults.clock_skew;
            out(0, format!("{t:.9}\n"), "")
        }
        ("timedatectl", ["show", "--property=NTPSynchronized", "--value"]) => out(
            0,
            if w.nodes[i].faults.clock_skew.abs() > 0.5 {
                "no\n"
            } else {
                "yes\n"
            },
            "",
        ),
        ("journalctl", args) => {
            let j = &w.nodes[i].journal;
            let since: Option<f64> = args
                .windows(2)
                .find(|p| p[0] == "--since")
                .and_then(|p| p[1].strip_prefix('@'))
                .and_then(|v| v.parse().ok());
            let cat = args.windows(2).any(|p| p[0] == "-o" && p[1] == "cat");
            let lines: Vec<&(f64, String)> = match since {
                Some(t) => j.iter().filter(|(at, _)| *at >= t).collect(),
                None => {
                    let n: usize = args
                        .windows(2)
                        .find(|p| p[0] == "-n")
                        .and_then(|p| p[1].parse().ok())
                        .unwrap_or(10);
                    j[j.len().saturating_sub(n)..].iter().collect()
                }
            };
            let s: String = lines
                .into_iter()
                .map(|(t, line)| {
                    if cat {
                        format!("{line}\n")
                    } else {
                        format!(
                            "{} {} {}[{}]: {line}\n",
                            iso(*t),
                            w.nodes[i].hostname,
                            l.process_name,
                            w.nodes[i].unit.main_pid
                        )
                    }
                })
                .collect();
            out(0, s, "")
        }
        ("mkdir", ["-p", "--", path]) => {
            let n = &mut w.nodes[i];
            let mut cur = String::new();
            for part in path.split('/').filter(|p| !p.is_empty()) {
                cur.push('/');
                cur.push_str(part);
                match n.files.get(&cur) {
                    Some(f) if !f.dir => {
                        return out(
                            1,
                            "",
                            format!("mkdir: cannot create directory '{path}': File exists\n"),
                        );
                    }
                    Some(_) => {}
                    None => {
                        n.files.insert(cur.clone(), dir_entry("root:root", now));
                    }
                }
            }
            out(0, "", "")
        }
        ("rm", ["-f", "--", path]) => {
            let n = &mut w.nodes[i];
            match n.files.get(*path) {
                Some(f) if f.dir => out(
                    1,
                    "",
                    format!("rm: cannot remove '{path}': Is a directory\n"),
                ),
                _ => {
                    n.files.remove(*path);
                    out(0, "", "")
                }
            }
        }
        ("df", ["--output=avail", "-B1", "--", path]) => {
            if w.nodes[i].files.contains_key(*path) {
                out(0, format!("    Avail\n{}\n", 100u64 << 30), "")
            } else {
                out(1, "", format!("df: {path}: No such file or directory\n"))
            }
        }
        ("mktemp", ["-d", "-p", parent, template]) => {
            let n = &mut w.nodes[i];
            if !n.files.get(*parent).is_some_and(|f| f.dir) {
                return out(
                    1,
                    "",
                    format!(
                        "mktemp: failed to create directory via template '{parent}/{template}': No such file or directory\n"
                    ),
                );
            }
            n.next_pid += 1;
            let x = template.chars().filter(|c| *c == 'X').count();
            let suffix: String = format!("{:0width$x}", n.next_pid, width = x)
                .chars()
                .rev()
                .take(x)
                .collect();
            let name = format!(
                "{}/{}{}",
                parent.trim_end_matches('/'),
                template.trim_end_matches('X'),
                suffix
            );
            let mut d = dir_entry("root:root", now);
            d.mode = 0o700;
            n.files.insert(name.clone(), d);
            out(0, format!("{name}\n"), "")
        }
        ("tar", ["-czf", archive, "-C", dir, "--", name]) => {
            let n = &mut w.nodes[i];
            let top = format!("{}/{}", dir.trim_end_matches('/'), name);
            if !n.files.contains_key(&top) {
                return out(
                    2,
                    "",
                    format!("tar: {name}: Cannot stat: No such file or directory\n"),
                );
            }
            let base = format!("{}/", dir.trim_end_matches('/'));
            let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::fast(),
            ));
            let prefix = format!("{top}/");
            for (p, f) in n
                .files
                .iter()
                .filter(|(p, _)| **p == top || p.starts_with(&prefix))
            {
                let rel = p.strip_prefix(&base).unwrap_or(p);
                let mut h = tar::Header::new_gnu();
                h.set_mode(f.mode);
                h.set_mtime(f.mtime as u64);
                if f.dir {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    let _ = b.append_data(&mut h, format!("{rel}/"), &[][..]);
                } else if let Some(target) = &f.link {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    let _ = b.append_link(&mut h, rel, target);
                } else {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(f.data.len() as u64);
                    let _ = b.append_data(&mut h, rel, &f.data[..]);
                }
            }
            let data = b.into_inner().and_then(|g| g.finish()).unwrap_or_default();
            n.files.insert(
                archive.to_string(),
                SimFile {
                    data,
                    mode: 0o644,
                    owner: "root:root".into(),
                    mtime: now,
                    dir: false,
                    link: None,
                },
            );
            out(0, "", "")
        }
        ("tar", ["-xzf", archive, "-C", dest, "--no-same-owner"]) => {
            let n = &mut w.nodes[i];
            let Some(a) = n.files.get(*archive).map(|f| f.data.clone()) else {
                return out(
                    2,
                    "",
                    format!("tar: {archive}: Cannot open: No such file or directory\n"),
                );
            };
            if !n.files.get(*dest).is_some_and(|f| f.dir) {
                return out(
                    2,
                    "",
                    format!("tar: {dest}: Cannot open: No such file or directory\n"),
                );
            }
            let mut t = tar::Archive::new(flate2::read::GzDecoder::new(&a[..]));
            let Ok(entries) = t.entries() else {
                return out(2, "", "tar: This does not look like a tar archive\n");
            };
            for e in entries {
                let Ok(mut e) = e else {
                    return out(2, "", "tar: Unexpected EOF in archive\n");
                };
                let rel = e
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                let path = format!(
                    "{}/{}",
                    dest.trim_end_matches('/'),
                    rel.trim_start_matches("./").trim_end_matches('/')
                );
                let mode = e.header().mode().unwrap_or(0o644);
                if e.header().entry_type().is_dir() {
                    let mut d = dir_entry("root:root", now);
                    d.mode = mode;
                    n.files.insert(path, d);
                } else {
                    let mut data = Vec::new();
                    if std::io::Read::read_to_end(&mut e, &mut data).is_err() {
                        return out(2, "", "tar: Unexpected EOF in archive\n");
                    }
                    n.files.insert(
                        path,
                        SimFile {
                            data,
                            mode,
                            owner: "root:root".into(),
                            mtime: now,
                            dir: false,
                            link: None,
                        },
                    );
                }
            }
            out(0, "", "")
        }
        ("sha256sum", ["--", paths @ ..]) => {
            let n = &w.nodes[i];
            let mut o = String::new();
            let mut e = String::new();
            for p in paths {
                match n.files.get(*p) {
                    Some(f) if !f.dir => {
                        o.push_str(&format!("{}  {p}\n", hex(&Sha256::digest(&f.data))))
                    }
                    Some(_) => e.push_str(&format!("sha256sum: {p}: Is a directory\n")),
                    None => e.push_str(&format!("sha256sum: {p}: No such file or directory\n")),
                }
            }
            out(if e.is_empty() { 0 } else { 1 }, o, e)
        }
        ("mkdir", ["--", path]) => {
            let n = &mut w.nodes[i];
            let parent = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("/");
            if n.files.contains_key(*path) {
                out(
                    1,
                    "",
                    format!("mkdir: cannot create directory '{path}': File exists\n"),
                )
            } else if !n.files.get(parent).is_some_and(|f| f.dir) {
                out(
                    1,
                    "",
                    format!("mkdir: cannot create directory '{path}': No such file or directory\n"),
                )
            } else {
                n.files
                    .insert(path.to_string(), dir_entry("root:root", now));
                out(0, "", "")
            }
        }
        ("cp", ["-a", "-T", "--", from, to]) => {
            let n = &mut w.nodes[i];
            if !n.files.contains_key(*from) {
                return out(
                    1,
                    "",
                    format!("cp: cannot stat '{from}': No such file or directory\n"),
                );
            }
            let prefix = format!("{from}/");
            let copies: Vec<(String, SimFile)> = n
                .files
                .iter()
                .filter(|(p, _)| *p == from || p.starts_with(&prefix))
                .map(|(p, f)| (format!("{to}{}", &p[from.len()..]), f.clone()))
                .collect();
            n.files.extend(copies);
            out(0, "", "")
        }
        (prog, ["slashing-protection-history", sub, flags @ ..]) if *prog == l.binary => {
            let flag = |name: &str| {
                flags
                    .iter()
                    .find_map(|f| f.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
            };
            let datadir = flag("--datadir")
                .unwrap_or("/root/.eth2")
                .trim_end_matches('/');
            let tos = flags.contains(&"--accept-terms-of-use")
                || w.nodes[i]
                    .files
                    .contains_key(&format!("{datadir}/tosaccepted"));
            if !tos {
                // qrysm prompts on standard input, which is null here.
                return out(
                    1,
                    "",
                    "could not scan text input, if you are trying to run in non-interactive environment, you\ncan use the --accept-terms-of-use flag after reading the terms and conditions here: \n",
                );
            }
            let arg = match *sub {
                "export" => flag("--slashing-protection-export-dir")
                    .map(|d| format!("--slashing-protection-export-dir={d}")),
                _ => flag("--slashing-protection-json-file")
                    .map(|f| format!("--slashing-protection-json-file={f}")),
            }
            .unwrap_or_default();
            let datadir = datadir.to_string();
            history_command(w, i, sub, &datadir, &arg, now)
        }
        ("chown", ["--", owner, path]) => match w.nodes[i].files.get_mut(*path) {
            Some(f) => {
                f.owner = owner.to_string();
                out(0, "", "")
            }
            None => out(
                1,
                "",
                format!("chown: cannot access '{path}': No such file or directory\n"),
            ),
        },
        ("chmod", ["--", mode, path]) => match (
            w.nodes[i].files.get_mut(*path),
            u32::from_str_radix(mode, 8),
        ) {
            (Some(f), Ok(m)) => {
                f.mode = m;
                out(0, "", "")
            }
            (None, _) => out(
                1,
                "",
                format!("chmod: cannot access '{path}': No such file or directory\n"),
            ),
            (_, Err(_)) => out(1, "", format!("chmod: invalid mode: '{mode}'\n")),
        },
        ("getent", ["passwd", "--", user]) => {
            let owner = l.owner.split(':').next().unwrap_or("");
            if *user == owner {
                out(
                    0,
                    format!("{user}:x:999:999::/var/lib/qrysm:/usr/sbin/nologin\n"),
                    "",
                )
            } else if *user == "root" {
                out(0, "root:x:0:0:root:/root:/bin/bash\n", "")
            } else {
                out(2, "", "")
            }
        }
        ("chown", ["-R", "--", owner, path]) => {
            let n = &mut w.nodes[i];
            let prefix = format!("{path}/");
            let mut any = false;
            for (p, f) in n.files.iter_mut() {
                if p == path || p.starts_with(&prefix) {
                    f.owner = owner.to_string();
                    any = true;
                }
            }
            if any {
                out(0, "", "")
            } else {
                out(
                    1,
                    "",
                    format!("chown: cannot access '{path}': No such file or directory\n"),
                )
            }
        }
        ("sync", ["-f", "--", path]) => {
            if w.nodes[i].files.contains_key(*path) {
                out(0, "", "")
            } else {
                out(
                    1,
                    "",
                    format!("sync: error opening '{path}': No such file or directory\n"),
                )
            }
        }
        ("mv", ["-T", "--", from, to]) => {
            w.detach_history(i, from);
            w.detach_history(i, to);
            let n = &mut w.nodes[i];
            if !n.files.contains_key(*from) {
                return out(
                    1,
                    "",
                    format!("mv: cannot stat '{from}': No such file or directory\n"),
                );
            }
            if n.files.contains_key(*to) {
                return out(
                    1,
                    "",
                    format!("mv: cannot overwrite '{to}': Directory not empty\n"),
                );
            }
            let prefix = format!("{from}/");
            let moving: Vec<String> = n
                .files
                .keys()
                .filter(|p| *p == from || p.starts_with(&prefix))
                .cloned()
                .collect();
            for p in moving {
                let f = n.files.remove(&p).expect("listed");
                n.files.insert(format!("{to}{}", &p[from.len()..]), f);
            }
            out(0, "", "")
        }
        ("rm", ["-rf", "--", path]) => {
            let n = &mut w.nodes[i];
            let prefix = format!("{path}/");
            n.files.retain(|p, _| p != path && !p.starts_with(&prefix));
            out(0, "", "")
        }
        ("test", ["-e", path]) => out(
            if w.nodes[i].files.contains_key(*path) {
                0
            } else {
                1
            },
            "",
            "",
        ),
        ("true", []) => out(0, "", ""),
        _ => out(
            127,
            "",
            format!("sim: {}: command not simulated\n", cmd.display()),
        ),
    }
}

/// fnmatch-style `*` and `?` (what `find -name` does with the runbook's pattern).
fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

fn iso(t: f64) -> String {
    jiff::Timestamp::from_second(t as i64)
        .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%S+0000").to_string())
        .unwrap_or_default()
}

fn json_resp(status: u16, v: Value) -> HttpResponse {
    HttpResponse {
        status,
        body: v.to_string().into_bytes(),
        route: HttpRoute::Simulated,
    }
}

fn http_in(w: &mut World, i: usize, req: &HttpRequest) -> Result<HttpResponse, String> {
    let now = w.time.now();
    let l = w.layout.clone();
    let f = w.nodes[i].faults.clone();
    let port = req.endpoint.port;
    if port == l.metrics_port {
        let u = &w.nodes[i].unit;
        if !u.running {
            return Err(format!(
                "nothing listens on {} on the host (connection refused)",
                req.endpoint
            ));
        }
        let role = if i == 0 { Role::Primary } else { Role::Backup };
        let mut s = String::from("# TYPE validator_successful_attestations counter\n");
        for k in &w.indices {
            let n = w
                .chain
                .iter()
                .filter(|a| a.host == role && a.index == *k)
                .count();
            s.push_str(&format!(
                "validator_successful_attestations{{pubkey=\"0x{k:04x}\"}} {n}\n"
            ));
        }
        for k in &w.indices {
            s.push_str(&format!("validator_statuses{{pubkey=\"0x{k:04x}\"}} 3\n"));
            s.push_str(&format!(
                "validator_balance{{pubkey=\"0x{k:04x}\"}} 40000\n"
            ));
        }
        return Ok(HttpResponse {
            status: 200,
            body: s.into_bytes(),
            route: HttpRoute::Simulated,
        });
    }
    if port == l.beacon_port {
        if f.beacon_garbage {
            return Ok(HttpResponse {
                status: 200,
                body: b"<html>oops</html>".to_vec(),
                route: HttpRoute::Simulated,
            });
        }
        let flavour = f.beacon_api.unwrap_or(BeaconFlavour::Zond);
        let Some(rest) = req.path.strip_prefix(flavour.prefix()) else {
            return Ok(json_resp(404, json!({"code": 404, "message": "Not Found"})));
        };
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let slot = w.clock.slot_at(now);
        let epoch = w.clock.epoch_of_slot(slot);
        let sync_distance = if f.beacon_syncing { 120 } else { 0 };
        return Ok(match (req.method, rest) {
            (Method::Get, "/node/syncing") => json_resp(
                200,
                json!({"data": {"head_slot": (slot - sync_distance.min(slot)).to_string(), "sync_distance": sync_distance.to_string(),
                    "is_syncing": f.beacon_syncing, "is_optimistic": false, "el_offline": f.beacon_el_offline}}),
            ),
            (Method::Get, "/node/health") => HttpResponse {
                status: if f.beacon_syncing { 206 } else { 200 },
                body: Vec::new(),
                route: HttpRoute::Simulated,
            },
            (Method::Get, "/node/peer_count") => json_resp(
                200,
                json!({"data": {"disconnected": "0", "connecting": "0", "connected": if f.beacon_no_peers {"0"} else {"12"}, "disconnecting": "0"}}),
            ),
            (Method::Get, "/config/spec") => json_resp(
                200,
                json!({"data": {"SECONDS_PER_SLOT": w.clock.seconds_per_slot.to_string(), "SLOTS_PER_EPOCH": w.clock.slots_per_epoch.to_string()}}),
            ),
            (Method::Get, "/beacon/genesis") => json_resp(
                200,
                json!({"data": {"genesis_time": w.clock.genesis_time.to_string(), "genesis_validators_root": format!("0x{}", "ab".repeat(32)), "genesis_fork_version": "0x00000000"}}),
            ),
            (Method::Get, "/beacon/headers/head") => json_resp(
                200,
                json!({"data": {"root": "0x00", "canonical": true, "header": {"message": {"slot": slot.to_string()}}}}),
            ),
            (Method::Post, p) if p.starts_with("/validator/liveness/") => {
                let Ok(e) = p["/validator/liveness/".len()..].parse::<u64>() else {
                    return Ok(json_resp(
                        400,
                        json!({"code": 400, "message": "invalid epoch"}),
                    ));
                };
                if e > epoch {
                    // Older epochs are answered from the state at their end.
                    return Ok(json_resp(
                        400,
                        json!({"code": 400, "message": "Requested epoch cannot be in the future"}),
                    ));
                }
                let body: Result<Vec<String>, _> =
                    serde_json::from_slice(req.body.as_deref().unwrap_or(b""));
                let Ok(ids) = body else {
                    return Ok(json_resp(
                        400,
                        json!({"code": 400, "message": "could not decode request body"}),
                    ));
                };
                let data: Vec<Value> = ids
                    .iter()
                    .map(|s| {
                        let k: u64 = s.parse().unwrap_or(u64::MAX);
                        let live = w.chain.iter().any(|a| a.index == k && a.target_epoch == e);
                        json!({"index": s, "is_live": live})
                    })
                    .collect();
                json_resp(200, json!({"data": data}))
            }
            (method, p) if p.starts_with("/validator/duties/") => {
                duties_answer(w, method, p, req.body.as_deref(), epoch)
            }
            (Method::Get, "/beacon/states/head/finality_checkpoints") => {
                // A healthy chain: the previous epoch justified, the one before final.
                let cp = |e: u64| json!({"epoch": e.to_string(), "root": format!("0x{}", "cd".repeat(32))});
                json_resp(
                    200,
                    json!({"execution_optimistic": false, "finalized": false, "data": {
                        "previous_justified": cp(epoch.saturating_sub(2)),
                        "current_justified": cp(epoch.saturating_sub(1)),
                        "finalized": cp(epoch.saturating_sub(2)),
                    }}),
                )
            }
            (Method::Post, p) if p.starts_with("/beacon/states/") && p.ends_with("/validators") => {
                json_resp(405, json!({"code": 405, "message": "Method Not Allowed"}))
            }
            (Method::Get, "/beacon/states/head/validators") => {
                // ids by index or 0x pubkey, repeated `id=` and/or comma separated.
                let ids: Vec<&str> = query
                    .split('&')
                    .filter_map(|kv| kv.strip_prefix("id="))
                    .flat_map(|v| v.split(','))
                    .filter(|v| !v.is_empty())
                    .collect();
                let slashed: Vec<u64> = slashable_pairs(&w.chain)
                    .into_iter()
                    .map(|(a, _)| a.index)
                    .collect();
                let data: Vec<Value> = ids
                    .iter()
                    .filter_map(|id| {
                        let k = if id.starts_with("0x") {
                            w.indices.iter().copied().find(|k| sim_pubkey(*k) == *id)
                        } else {
                            id.parse().ok().filter(|k| w.indices.contains(k))
                        }?;
                        let s = slashed.contains(&k);
                        Some(json!({"index": k.to_string(), "balance": "40000000000",
                            "status": if s { "active_slashed" } else { "active_ongoing" },
                            "validator": {"pubkey": sim_pubkey(k), "slashed": s}}))
                    })
                    .collect();
                json_resp(200, json!({"data": data}))
            }
            (Method::Get, "/beacon/pool/attester_slashings") => {
                let data: Vec<Value> = slashable_pairs(&w.chain)
                    .into_iter()
                    .map(|(a, b)| {
                        json!({"attestation_1": {"attesting_indices": [a.index.to_string()], "data": {"target": {"epoch": a.target_epoch.to_string()}}},
                               "attestation_2": {"attesting_indices": [b.index.to_string()], "data": {"target": {"epoch": b.target_epoch.to_string()}}}})
                    })
                    .collect();
                json_resp(200, json!({"data": data}))
            }
            _ => json_resp(404, json!({"code": 404, "message": "Not Found"})),
        });
    }
    if port == l.execution_port {
        let flavour = f.exec_api.unwrap_or(ExecutionFlavour::Zond);
        let body: Value =
            serde_json::from_slice(req.body.as_deref().unwrap_or(b"")).unwrap_or(Value::Null);
        let id = body["id"].clone();
        let method = body["method"].as_str().unwrap_or("");
        let result = if f.exec_default_modules && method.ends_with("_syncing") {
            return Ok(json_resp(
                200,
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": format!("the method {method} does not exist/is not available")}}),
            ));
        } else if method == flavour.syncing_method() {
            if f.exec_syncing {
                json!({"startingBlock": "0x0", "currentBlock": "0x10", "highestBlock": "0x400"})
            } else {
                json!(false)
            }
        } else if method == "net_peerCount" {
            json!(if f.exec_no_peers { "0x0" } else { "0x19" })
        } else {
            return Ok(json_resp(
                200,
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": format!("the method {method} does not exist/is not available")}}),
            ));
        };
        return Ok(json_resp(
            200,
            json!({"jsonrpc": "2.0", "id": id, "result": result}),
        ));
    }
    Err(format!(
        "nothing listens on {} on the host (connection refused)",
        req.endpoint
    ))
}

fn root_of(text: &str) -> String {
    format!("0x{}", hex(&Sha256::digest(text.as_bytes())))
}

/// `validator/duties/{attester,proposer,sync}/{epoch}` as qrysm answers them
/// (`beacon-chain/rpc/eth/validator/handlers.go`), from the same deterministic
/// schedule as the lab's beacon: each key's attester slot per epoch, proposers drawn
/// from [`SIM_CHAIN_VALIDATORS`], and the configured sync committee.
fn duties_answer(
    w: &World,
    method: Method,
    path: &str,
    body: Option<&[u8]>,
    current: u64,
) -> HttpResponse {
    let err =
        |code: u16, message: String| json_resp(code, json!({"code": code, "message": message}));
    let rest = &path["/validator/duties/".len()..];
    let Some((kind, epoch)) = rest.split_once('/') else {
        return err(404, "Not Found".into());
    };
    let want = if kind == "proposer" {
        Method::Get
    } else {
        Method::Post
    };
    if !matches!(kind, "attester" | "proposer" | "sync") {
        return err(404, "Not Found".into());
    }
    if method != want {
        return err(405, "Method Not Allowed".into());
    }
    let Ok(epoch) = epoch.parse::<u64>() else {
        return err(400, format!("Epoch is invalid: {epoch}"));
    };
    if epoch > current + 1 {
        return err(
            400,
            format!(
                "Request epoch {epoch} can not be greater than next epoch {}",
                current + 1
            ),
        );
    }
    let spe = w.clock.slots_per_epoch;
    let known = |k: u64| k < SIM_CHAIN_VALIDATORS || w.indices.contains(&k);
    let asked = || -> Result<Vec<u64>, HttpResponse> {
        let ids: Vec<String> = serde_json::from_slice(body.unwrap_or(b""))
            .map_err(|e| err(400, format!("Could not decode request body: {e}")))?;
        if ids.is_empty() {
            return Err(err(400, "No data submitted".into()));
        }
        ids.iter()
            .enumerate()
            .map(|(n, id)| match id.parse::<u64>() {
                Ok(k) if known(k) => Ok(k),
                Ok(k) => Err(err(400, format!("Invalid validator index {k}"))),
                Err(_) => Err(err(400, format!("ValidatorIndices[{n}] is invalid: {id}"))),
            })
            .collect()
    };
    let block_root = |slot: u64| root_of(&format!("block/sim/{slot}"));
    match kind {
        "attester" => {
            let ids = match asked() {
                Ok(ids) => ids,
                Err(r) => return r,
            };
            let data: Vec<Value> = ids
                .iter()
                .map(|&k| {
                    let slot = sim_attester_slot(k, epoch, spe);
                    let committee: Vec<u64> = w
                        .indices
                        .iter()
                        .copied()
                        .filter(|&o| sim_attester_slot(o, epoch, spe) == slot)
                        .collect();
                    let at = committee.iter().position(|&o| o == k).unwrap_or(0);
                    json!({"pubkey": sim_pubkey(k), "validator_index": k.to_string(),
                        "committee_index": "0", "committee_length": committee.len().max(1).to_string(),
                        "committees_at_slot": "1", "validator_committee_index": at.to_string(),
                        "slot": slot.to_string()})
                })
                .collect();
            json_resp(
                200,
                json!({"dependent_root": block_root((epoch.saturating_sub(1) * spe).saturating_sub(1)),
                    "execution_optimistic": false, "data": data}),
            )
        }
        "proposer" => {
            let data: Vec<Value> = (epoch * spe..(epoch + 1) * spe)
                .filter(|&slot| slot > 0)
                .map(|slot| {
                    let k = sim_proposer(slot);
                    json!({"pubkey": sim_pubkey(k), "validator_index": k.to_string(), "slot": slot.to_string()})
                })
                .collect();
            json_resp(
                200,
                json!({"dependent_root": block_root((epoch * spe).saturating_sub(1)),
                    "execution_optimistic": false, "data": data}),
            )
        }
        _ => {
            let ids = match asked() {
                Ok(ids) => ids,
                Err(r) => return r,
            };
            let data: Vec<Value> = ids
                .iter()
                .filter_map(|k| {
                    let at = w.sync_committee.iter().position(|m| m == k)?;
                    Some(
                        json!({"pubkey": sim_pubkey(*k), "validator_index": k.to_string(),
                        "validator_sync_committee_indices": [at.to_string()]}),
                    )
                })
                .collect();
            json_resp(200, json!({"execution_optimistic": false, "data": data}))
        }
    }
}

#[async_trait]
impl Host for SimHost {
    fn role(&self) -> Role {
        self.role
    }

    fn describe(&self) -> String {
        let note = self
            .world
            .with(|w| w.nodes[idx(self.role)].privilege_note.clone());
        match note {
            Some(n) if !self.as_root => format!("simulated {} ({n})", self.role),
            _ => format!("simulated {}", self.role),
        }
    }

    async fn connect(&self, timeout: Duration) -> Result<(), HostError> {
        self.gate(&format!("ssh {}", self.role), timeout)
    }

    async fn run(&self, cmd: &Cmd, timeout: Duration) -> Result<Output, HostError> {
        self.gate(&cmd.display(), timeout)?;
        let out = self.exec(cmd);
        let stopping = cmd.program == "systemctl"
            && cmd.args.first().is_some_and(|a| a == "stop")
            && self
                .world
                .with(|w| w.nodes[idx(self.role)].unit.stopping_since.is_some());
        if stopping {
            // systemctl waits for the stop job: TimeoutStopSec, then systemd kills.
            if timeout.as_secs_f64() < SIM_TIMEOUT_STOP_SEC {
                self.world.advance(timeout.as_secs_f64()).await;
                return Err(HostError::new(
                    self.role,
                    Failure::TimedOut,
                    cmd.display(),
                    format!("no answer within {}s", timeout.as_secs_f32()),
                ));
            }
            self.world.advance(SIM_TIMEOUT_STOP_SEC).await;
            return Ok(Output {
                status: Some(0),
                stdout: Vec::new(),
                stderr: Vec::new(),
            });
        }
        Ok(out)
    }

    async fn stream_lines(&self, cmd: &Cmd) -> Result<LineStream, HostError> {
        self.gate(&cmd.display(), Duration::from_secs(10))?;
        if cmd.program != "journalctl" {
            return Err(HostError::new(
                self.role,
                Failure::Unexpected,
                cmd.display(),
                "sim: only journalctl streams",
            ));
        }
        let (tx, rx) = mpsc::channel(1024);
        let world = self.world.clone();
        let role = self.role;
        let first = self.exec(cmd).stdout_text();
        // Without root's rights the validator's journal is not seen at all.
        let follow = self.as_root
            || self
                .world
                .with(|w| w.nodes[idx(role)].unprivileged.is_none());
        let task = tokio::spawn(async move {
            for line in first.lines() {
                if tx.send(line.to_string()).await.is_err() {
                    return;
                }
            }
            while !follow && !tx.is_closed() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let mut seen = world.with(|w| w.nodes[idx(role)].journal.len());
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let (new, host, name, pid, down) = world.with(|w| {
                    let n = &w.nodes[idx(role)];
                    let start = seen.min(n.journal.len());
                    (
                        n.journal[start..].to_vec(),
                        n.hostname.clone(),
                        w.layout.process_name.clone(),
                        n.unit.main_pid,
                        n.faults.powered_off || n.faults.ssh_hangs,
                    )
                });
                if down {
                    return;
                }
                seen += new.len();
                for (t, line) in new {
                    if tx
                        .send(format!("{} {host} {name}[{pid}]: {line}", iso(t)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        });
        Ok(LineStream::new(rx, Some(task)))
    }

    async fn download(
        &self,
        path: &str,
        sink: &mut (dyn AsyncWrite + Unpin + Send),
        timeout: Duration,
    ) -> Result<u64, HostError> {
        let what = format!("cat -- {path}");
        self.gate(&what, timeout)?;
        if let Some(e) = self.denied_file("cat", path) {
            return Err(HostError::new(
                self.role,
                Failure::Unexpected,
                what,
                format!("cat exited with exit status: 1: {e}"),
            ));
        }
        let data = self
            .world
            .with(|w| w.nodes[idx(self.role)].files.get(path).cloned());
        match data {
            Some(f) if !f.dir => {
                sink.write_all(&f.data)
                    .await
                    .map_err(|e| HostError::new(self.role, Failure::Local, &what, e.to_string()))?;
                sink.flush()
                    .await
                    .map_err(|e| HostError::new(self.role, Failure::Local, &what, e.to_string()))?;
                Ok(f.data.len() as u64)
            }
            _ => Err(HostError::new(
                self.role,
                Failure::Unexpected,
                what,
                format!("cat exited with exit status: 1: cat: {path}: No such file or directory"),
            )),
        }
    }

    async fn upload(
        &self,
        path: &str,
        source: &mut (dyn AsyncRead + Unpin + Send),
        mode: u32,
        timeout: Duration,
    ) -> Result<u64, HostError> {
        let what = format!("write {path}");
        self.gate(&what, timeout)?;
        if let Some(e) = self.denied_file("sh", path) {
            return Err(HostError::new(
                self.role,
                Failure::Unexpected,
                &what,
                format!("writing {path} failed (exit status: 1): {e}"),
            ));
        }
        let deadline = std::time::Instant::now() + timeout;
        while self
            .world
            .with(|w| w.nodes[idx(self.role)].faults.upload_stalls)
        {
            if std::time::Instant::now() >= deadline {
                return Err(HostError::new(
                    self.role,
                    Failure::TimedOut,
                    &what,
                    format!("no progress within {}s", timeout.as_secs()),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let data = super::read_limited(source, 1 << 30)
            .await
            .map_err(|e| HostError::new(self.role, Failure::Local, &what, e.to_string()))?;
        let n = data.len() as u64;
        let parent = path
            .rsplit_once('/')
            .map(|(d, _)| d.to_string())
            .unwrap_or_default();
        self.world.with(|w| {
            let now = w.time.now();
            let node = &mut w.nodes[idx(self.role)];
            if !parent.is_empty() && !node.files.get(&parent).is_some_and(|f| f.dir) {
                return Err(HostError::new(
                    self.role,
                    Failure::Unexpected,
                    &what,
                    format!("sh: 1: cannot create {path}: Directory nonexistent"),
                ));
            }
            node.files.insert(
                path.to_string(),
                SimFile {
                    data,
                    mode,
                    owner: "root:root".into(),
                    mtime: now,
                    dir: false,
                    link: None,
                },
            );
            Ok(n)
        })
    }

    async fn create_exclusive(
        &self,
        path: &str,
        content: &str,
        timeout: Duration,
    ) -> Result<bool, HostError> {
        self.gate(&format!("create {path}"), timeout)?;
        if let Some(e) = self.denied_file("sh", path) {
            return Err(HostError::new(
                self.role,
                Failure::Unexpected,
                format!("create {path}"),
                e,
            ));
        }
        let role = self.role;
        Ok(self.world.with(|w| {
            let now = w.time.now();
            let n = &mut w.nodes[idx(role)];
            if n.files.contains_key(path) {
                return false;
            }
            n.files.insert(
                path.to_string(),
                SimFile {
                    data: content.as_bytes().to_vec(),
                    mode: 0o600,
                    owner: "root:root".into(),
                    mtime: now,
                    dir: false,
                    link: None,
                },
            );
            true
        }))
    }

    async fn http(&self, req: &HttpRequest, timeout: Duration) -> Result<HttpResponse, HostError> {
        self.gate(&req.display(), timeout)?;
        let role = self.role;
        let f = self.world.with(|w| w.nodes[idx(role)].faults.clone());
        if f.forwarding_refused && f.curl_missing {
            // As SshHost says it: the forward was refused, and the other way is missing.
            return Err(HostError::new(
                role,
                Failure::Unexpected,
                req.display(),
                format!(
                    "the sshd on the host forbids forwarding, and curl is not installed on the host (exit 127): {} could not be read; install curl there or allow TCP forwarding",
                    req.endpoint
                ),
            ));
        }
        let mut r = self
            .world
            .with(|w| http_in(w, idx(role), req))
            .map_err(|detail| {
                HostError::new(role, Failure::NothingListens, req.display(), detail)
            })?;
        if f.forwarding_refused {
            r.route = HttpRoute::CurlOnHost;
        }
        Ok(r)
    }

    fn http_way(&self) -> HttpWay {
        let f = self.world.with(|w| w.nodes[idx(self.role)].faults.clone());
        if f.forwarding_refused {
            HttpWay::Curl {
                why: "simulated: the forward was administratively prohibited".into(),
            }
        } else {
            HttpWay::Simulated
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> (SimWorld, Arc<AtomicU64>) {
        let cfg = Config::with_hosts("primary", "backup");
        let ms = Arc::new(AtomicU64::new(1_700_000_000_000));
        (SimWorld::new(&cfg, SimTime::Manual(ms.clone())), ms)
    }

    /// A refused forward with no curl on the host is "could not be read", never
    /// "nothing listens", whether the validator runs or not (item 2 must not go
    /// green on it); with curl there, the stopped validator's port reads as closed.
    #[tokio::test]
    async fn a_refused_forward_without_curl_never_reads_as_a_closed_port() {
        let (w, _) = world();
        let cfg = Config::with_hosts("primary", "backup");
        let p = w.host(Role::Primary);
        w.set_faults(Role::Primary, |f| {
            f.forwarding_refused = true;
            f.curl_missing = true;
        });
        let stop = Cmd::new("systemctl")
            .arg("stop")
            .arg(&cfg.validator.service);
        for running in [true, false] {
            if !running {
                assert!(
                    p.run(&stop, Duration::from_secs(5))
                        .await
                        .unwrap()
                        .success()
                );
            }
            let e = crate::probes::metrics(&p, &cfg.metrics, Duration::from_secs(5))
                .await
                .expect_err("no reading without curl");
            assert_eq!(e.failure, Failure::Unexpected, "{e}");
            assert!(
                e.detail.contains("curl is not installed on the host"),
                "{e}"
            );
        }
        w.set_faults(Role::Primary, |f| f.curl_missing = false);
        let m = crate::probes::metrics(&p, &cfg.metrics, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(!m.value.answering, "{m:?}");
        assert!(m.via.contains("nothing listens"), "{}", m.via);
        assert!(matches!(p.http_way(), HttpWay::Curl { .. }));
    }

    #[test]
    fn primary_signs_once_per_epoch_and_backup_is_locked() {
        let (w, ms) = world();
        let first = w.attestations().len();
        assert_eq!(
            first,
            4 * 4,
            "the primary signed this epoch and the three before, for 4 keys"
        );
        ms.fetch_add(8_000, Ordering::SeqCst);
        assert_eq!(
            w.attestations().len(),
            first + 4,
            "one more epoch: one more attestation per key"
        );
        let b = w.host(Role::Backup);
        let o = b.exec(&Cmd::new("systemctl").arg("start").arg("qrysm-validator"));
        assert_eq!(
            o.status,
            Some(1),
            "the lock file's precheck refuses the start"
        );
        assert!(w.slashable().is_empty());
    }

    #[test]
    fn two_signers_are_caught_by_the_chain_record() {
        let (w, ms) = world();
        w.force_start_validator(Role::Backup);
        ms.fetch_add(8_000, Ordering::SeqCst);
        assert!(
            !w.slashable().is_empty(),
            "two validators with one set of keys must show as slashable"
        );
    }

    use crate::observed::{DutySchedule, Observed};

    /// The duty endpoints answer the schedule the validators act on, in qrysm's
    /// shapes, and the probe reads it back.
    #[tokio::test]
    async fn duties_are_served_as_the_beacon_api_shapes_them() {
        let (w, _) = world();
        let cfg = Config::with_hosts("primary", "backup");
        let p = w.host(Role::Primary);
        let c = w.clock();
        let epoch = c.epoch_at(w.now());
        let t = Duration::from_secs(5);
        async fn read(w: &SimWorld, cfg: &Config, epoch: u64) -> Observed<DutySchedule> {
            crate::probes::duty_schedule(
                &w.host(Role::Primary),
                &cfg.beacon.endpoint,
                BeaconFlavour::Zond,
                &w.clock(),
                epoch,
                &[0, 1, 2, 3],
                Duration::from_secs(5),
            )
            .await
            .unwrap()
        }
        let s = read(&w, &cfg, epoch).await;
        assert_eq!(
            s.value.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(),
            vec![epoch, epoch + 1]
        );
        assert!(
            s.via
                .starts_with("POST http://127.0.0.1:3500/zond/v1/validator/duties/attester/"),
            "{}",
            s.via
        );
        for k in 0..4 {
            let kd = &s.value.keys[&k];
            assert_eq!(kd.pubkey.as_deref(), Some(sim_pubkey(k).as_str()));
            for e in [epoch, epoch + 1] {
                assert_eq!(
                    s.value.attestation_slot(k, e),
                    Some(sim_attester_slot(k, e, c.slots_per_epoch))
                );
            }
            for slot in &kd.proposals {
                assert_eq!(sim_proposer(*slot), k, "only our proposals are kept");
            }
            assert!(kd.sync_committee.is_empty());
        }
        w.set_sync_committee(vec![2]);
        let s = read(&w, &cfg, epoch).await;
        assert_eq!(s.value.keys[&2].sync_committee.get(&epoch), Some(&vec![0]));
        assert!(s.value.keys[&1].sync_committee.is_empty());

        // What the real API refuses, the simulated one refuses.
        let post = |path: String, body: Value| {
            let req = HttpRequest::post_json(&cfg.beacon.endpoint, path, &body);
            let p = p.clone();
            async move { p.http(&req, t).await.unwrap() }
        };
        let r = post(
            format!("/zond/v1/validator/duties/attester/{}", epoch + 2),
            json!(["0"]),
        )
        .await;
        assert_eq!(r.status, 400);
        assert!(String::from_utf8_lossy(&r.body).contains("can not be greater than next epoch"));
        let r = post(
            format!("/zond/v1/validator/duties/attester/{epoch}"),
            json!([]),
        )
        .await;
        assert_eq!(r.status, 400);
        let r = post(
            format!("/zond/v1/validator/duties/proposer/{epoch}"),
            json!([]),
        )
        .await;
        assert_eq!(r.status, 405, "proposer duties are GET only");
    }

    /// With the real clients' duty model, a validator started after a key's duty
    /// slot misses that key's attestation of the epoch; the strict one makes it.
    #[test]
    fn the_real_duty_model_misses_a_duty_whose_slot_passed_before_the_start() {
        for model in [DutyModel::Strict, DutyModel::Real] {
            let (w, ms) = world();
            w.set_duty_model(model);
            let c = w.clock();
            let spe = c.slots_per_epoch;
            // Stop the primary, then find an epoch ahead whose duty slots leave a
            // key's slot before a later one, and start the backup between them.
            let p = w.host(Role::Primary);
            assert!(
                p.exec(&Cmd::new("systemctl").arg("stop").arg("qrysm-validator"))
                    .success()
            );
            let (epoch, early, start_slot) = (c.epoch_at(w.now()) + 1..)
                .find_map(|e| {
                    let slots: Vec<u64> = (0..4).map(|k| sim_attester_slot(k, e, spe)).collect();
                    let first = *slots.iter().min()?;
                    let last = *slots.iter().max()?;
                    let early = slots.iter().position(|s| *s == first)? as u64;
                    (last > first).then_some((e, early, first))
                })
                .unwrap();
            // Half-way into the early key's slot: the slot began before the start.
            let at = c.genesis_time as f64 + (start_slot * c.seconds_per_slot) as f64 + 0.5;
            ms.store((at * 1000.0) as u64, Ordering::SeqCst);
            w.force_start_validator(Role::Backup);
            ms.store(
                ((c.epoch_start(epoch + 1) as f64 + 0.5) * 1000.0) as u64,
                Ordering::SeqCst,
            );
            let signed: Vec<(u64, u64)> = w
                .attestations()
                .into_iter()
                .filter(|a| a.host == Role::Backup && a.target_epoch == epoch)
                .map(|a| (a.index, a.slot))
                .collect();
            match model {
                DutyModel::Strict => assert_eq!(signed.len(), 4, "{signed:?}"),
                DutyModel::Real => {
                    assert!(!signed.iter().any(|(k, _)| *k == early), "{signed:?}");
                    for (k, slot) in &signed {
                        assert_eq!(*slot, sim_attester_slot(*k, epoch, spe));
                        assert!(*slot > start_slot);
                    }
                    let later = (0..4)
                        .filter(|k| sim_attester_slot(*k, epoch, spe) > start_slot)
                        .count();
                    assert_eq!(signed.len(), later, "{signed:?}");
                }
            }
        }
    }

    /// The same schedule as the lab's (`labsim.attester_slot`, `labsim.proposer_index`,
    /// values computed by the lab's Python).
    #[test]
    fn the_schedule_is_the_labs() {
        let slots: Vec<u64> = (0..4).map(|k| sim_attester_slot(k, 5, 8)).collect();
        assert_eq!(slots, vec![41, 40, 45, 40]);
        let proposers: Vec<u64> = (0..8).map(sim_proposer).collect();
        assert_eq!(proposers, vec![16, 51, 15, 46, 13, 16, 20, 5]);
    }

    #[test]
    fn glob_is_fnmatch_like() {
        assert!(glob_match(
            "slashing-protection-*.tar.gz",
            "slashing-protection-20261128T010203Z.tar.gz"
        ));
        assert!(!glob_match(
            "slashing-protection-*.tar.gz",
            "slashing-protection.tar"
        ));
        assert!(glob_match("a?c", "abc"));
    }
}
