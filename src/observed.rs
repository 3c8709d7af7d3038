//! What a host is asked and what it answered, as data: the command (`Cmd`), how
//! an operation failed (`HostError`), and the typed observations the probes build
//! (`UnitState`, `BeaconSync`, `HistoryState`, …) with their judgements. No I/O
//! and no clock: the engine reads these; `hosts` and `probes` make them.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::bolt::BBOLT_MAGIC;
use crate::chain::ChainClock;
use crate::config::{BeaconFlavour, ExecutionFlavour, Role};

/// A command to run on a host: a program and its arguments, each passed as one
/// literal word. Nothing here is ever interpreted by a remote shell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<String>,
}

impl Cmd {
    pub fn new(program: impl Into<String>) -> Cmd {
        Cmd {
            program: program.into(),
            args: Vec::new(),
        }
    }

    pub fn arg(mut self, a: impl Into<String>) -> Cmd {
        self.args.push(a.into());
        self
    }

    pub fn args<I, A>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = A>,
        A: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The command as a shell would need it typed: every word quoted. Used for
    /// evidence and the audit, and it is exactly what reaches the remote shell.
    pub fn display(&self) -> String {
        std::iter::once(&self.program)
            .chain(self.args.iter())
            .map(|w| {
                shlex::try_quote(w)
                    .map(|c| c.into_owned())
                    .unwrap_or_else(|_| format!("{w:?}"))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

/// Why an operation on a host did not give an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    /// The host could not be reached at all (no route, connection refused, closed).
    Unreachable,
    /// No answer within the deadline.
    TimedOut,
    /// The host answered, and its key is not the one known for it.
    HostKeyMismatch,
    /// The host refused (authentication, permission).
    Refused,
    /// Nothing listens on the port asked for: the host itself refused the TCP
    /// connection (curl's exit 7 on the host, or a simulated closed port). The only
    /// failure of an HTTP request that is evidence that a service is down: a forward
    /// the sshd refused, a reset, a timeout or a missing curl say nothing about it.
    NothingListens,
    /// An answer came, but not the one the interface promises.
    Unexpected,
    /// A local problem (a file, a socket).
    Local,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Unreachable => "unreachable",
            Failure::TimedOut => "timed out",
            Failure::HostKeyMismatch => "host key mismatch",
            Failure::Refused => "refused",
            Failure::NothingListens => "nothing listens",
            Failure::Unexpected => "unexpected answer",
            Failure::Local => "local error",
        }
    }
}

/// An operation on a host that failed: which host, what was attempted, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostError {
    pub host: Role,
    pub failure: Failure,
    /// The operation, as the evidence names it (a command line or a request).
    pub what: String,
    pub detail: String,
}

impl HostError {
    pub fn new(
        host: Role,
        failure: Failure,
        what: impl Into<String>,
        detail: impl Into<String>,
    ) -> HostError {
        HostError {
            host,
            failure,
            what: what.into(),
            detail: detail.into(),
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.host,
            self.failure.as_str(),
            self.detail
        )?;
        if !self.what.is_empty() {
            write!(f, " ({})", self.what)?;
        }
        Ok(())
    }
}

impl std::error::Error for HostError {}

/// The way a request reaches a service on the host's own loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HttpRoute {
    /// The simulated pair answers directly.
    Simulated,
    /// Through an SSH local forward (a direct-tcpip channel).
    SshForward,
    /// With `curl` run on the host over the SSH session: its sshd forbids forwarding.
    CurlOnHost,
}

impl HttpRoute {
    /// How a probe's evidence names the way (appended to the request), or nothing.
    pub fn via_suffix(self) -> &'static str {
        match self {
            HttpRoute::Simulated => "",
            HttpRoute::SshForward => " (through an SSH forward)",
            HttpRoute::CurlOnHost => " (with curl on the host)",
        }
    }
}

/// What is known of the way a host's endpoints are read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum HttpWay {
    /// No request has been answered yet.
    Unknown,
    /// Simulated: answered directly.
    Simulated,
    /// Requests through an SSH forward are answered.
    Forward,
    /// The sshd forbids forwarding; `why` is what showed it.
    Curl { why: String },
}

impl HttpWay {
    /// For the preflight: "read through an SSH forward", "read with curl on the host: …".
    pub fn describe(&self) -> String {
        match self {
            HttpWay::Unknown => "not known yet: no request was answered".into(),
            HttpWay::Simulated => "read directly (simulated)".into(),
            HttpWay::Forward => "read through an SSH forward".into(),
            HttpWay::Curl { why } => {
                format!("read with curl on the host: the sshd forbids forwarding ({why})")
            }
        }
    }
}

// ------------------------------------------------------------------ observations

/// A value observed on a host.
#[derive(Debug, Clone, Serialize)]
pub struct Observed<T> {
    pub value: T,
    pub host: Role,
    /// Unix seconds.
    pub at: f64,
    /// The command or request that observed it.
    pub via: String,
}

pub type Probe<T> = Result<Observed<T>, HostError>;

/// What `systemctl show` says of a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitState {
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    pub main_pid: u32,
    pub unit_file_state: String,
    pub n_restarts: u32,
    /// The drop-in files systemd loaded for the unit.
    pub drop_in_paths: Vec<String>,
    /// `ExecStart` as systemd prints it (`{ path=… ; argv[]=… ; … }`).
    pub exec_start: String,
    /// `User=`, `Group=` (empty: root) and `Environment=` of the unit.
    pub user: String,
    pub group: String,
    pub environment: String,
}

impl UnitState {
    /// Stopped, as item 1 needs it: inactive or failed, and no main process.
    pub fn is_stopped(&self) -> bool {
        matches!(self.active_state.as_str(), "inactive" | "failed") && self.main_pid == 0
    }

    /// Running, as item 7 needs it: exactly active/running with a process.
    pub fn is_running(&self) -> bool {
        self.active_state == "active" && self.sub_state == "running" && self.main_pid != 0
    }

    /// Nothing will start it at boot: disabled or masked.
    pub fn is_disabled(&self) -> bool {
        matches!(
            self.unit_file_state.as_str(),
            "disabled" | "masked" | "masked-runtime" | "linked" | "linked-runtime"
        )
    }

    pub fn summary(&self) -> String {
        format!(
            "{}/{} MainPID={} {}",
            self.active_state,
            self.sub_state,
            self.main_pid,
            if self.unit_file_state.is_empty() {
                "unit-file=?".to_string()
            } else {
                self.unit_file_state.clone()
            }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileInfo {
    pub kind: String,
    pub mode: u32,
    pub user: String,
    pub group: String,
    pub size: u64,
    pub mtime: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub dir: bool,
    pub size: u64,
    pub mtime: f64,
    pub path: String,
}

/// What kind of slashing-protection data a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HistoryKind {
    /// A bbolt database (qrysm's `validator.db`).
    Bbolt,
    /// EIP-3076 interchange JSON.
    Eip3076,
    /// Neither: not slashing-protection data.
    Unknown,
}

/// Recognise slashing-protection data from the first bytes of a file.
pub fn history_kind(head: &[u8]) -> HistoryKind {
    if head.len() >= 20
        && u32::from_le_bytes([head[16], head[17], head[18], head[19]]) == BBOLT_MAGIC
    {
        return HistoryKind::Bbolt;
    }
    let text = String::from_utf8_lossy(head);
    let t = text.trim_start();
    if t.starts_with('{') && t.contains("\"interchange_format_version\"") {
        return HistoryKind::Eip3076;
    }
    HistoryKind::Unknown
}

/// A backup archive of the slashing-protection directory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Archive {
    pub path: String,
    pub size: u64,
    pub mtime: f64,
    /// What it holds, once opened (`archive_contents`): the history's summary, or why
    /// it holds none. None: not opened.
    pub holds: Option<Result<String, String>>,
}

/// What the history on a host holds, read as the client wrote it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryState {
    pub location: crate::history::HistoryLocation,
    /// None: no file there.
    pub file: Option<FileInfo>,
    /// The DB read (a copy brought here): its keys and their last signed epochs.
    /// None when it was not read (no file, or larger than the limit asked).
    pub read: Option<Result<crate::validator_db::DbSummary, String>>,
}

impl HistoryState {
    /// Why this history cannot be transferred, or None when it can.
    pub fn problem(&self) -> Option<String> {
        let l = &self.location;
        let Some(f) = &self.file else {
            return Some(format!("no history at {} ({})", l.file, l.how()));
        };
        if f.kind != "regular file" && f.kind != "regular empty file" {
            return Some(format!(
                "{} is a {}, not the client's DB file",
                l.file, f.kind
            ));
        }
        if f.size == 0 {
            return Some(format!("{} is empty", l.file));
        }
        match &self.read {
            None => None,
            Some(Err(e)) => Some(format!("{} cannot be read as qrysm's DB: {e}", l.file)),
            Some(Ok(s)) if s.keys.is_empty() => Some(format!("{} holds no key", l.file)),
            Some(Ok(_)) => None,
        }
    }

    /// The file's size (0 when absent).
    pub fn total_size(&self) -> u64 {
        self.file.as_ref().map(|f| f.size).unwrap_or(0)
    }

    /// The file's modification time, unix seconds.
    pub fn newest_mtime(&self) -> Option<f64> {
        self.file.as_ref().map(|f| f.mtime as f64)
    }

    /// The DB as read, when it was read and is one.
    pub fn db(&self) -> Option<&crate::validator_db::DbSummary> {
        self.read.as_ref().and_then(|r| r.as_ref().ok())
    }

    pub fn summary(&self) -> String {
        if let Some(p) = self.problem() {
            return p;
        }
        let l = &self.location;
        let size = self.file.as_ref().map(|f| f.size).unwrap_or(0);
        match &self.read {
            Some(Ok(s)) => format!(
                "{} ({}, {}): {}",
                l.file,
                human_bytes(size),
                l.how(),
                s.summary()
            ),
            _ => format!("{} ({}, {}): not read", l.file, human_bytes(size), l.how()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClockState {
    /// Host clock minus ours, in seconds, within half the round trip.
    pub offset: f64,
    pub round_trip: f64,
    /// What `timedatectl` says of NTP; None when it cannot say.
    pub ntp_synchronized: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BeaconSync {
    pub flavour: BeaconFlavour,
    pub head_slot: u64,
    pub sync_distance: u64,
    pub is_syncing: bool,
    pub is_optimistic: bool,
    pub el_offline: bool,
    pub peers: Option<u64>,
    /// HTTP status of node/health: 200 ready, 206 syncing, 503 not initialised.
    pub health: Option<u16>,
}

impl BeaconSync {
    /// Why this node is not ready for a validator, or None (item 4).
    pub fn problem(&self, max_sync_distance: u64) -> Option<String> {
        let mut p = Vec::new();
        if self.is_syncing {
            p.push(format!("syncing ({} slots behind)", self.sync_distance));
        } else if self.sync_distance > max_sync_distance {
            p.push(format!(
                "{} slots behind (at most {max_sync_distance})",
                self.sync_distance
            ));
        }
        if self.el_offline {
            p.push("execution client offline (el_offline)".into());
        }
        if self.is_optimistic {
            p.push("optimistic".into());
        }
        match self.peers {
            Some(0) => p.push("no peers".into()),
            None => p.push("peer count unknown".into()),
            _ => {}
        }
        (!p.is_empty()).then(|| p.join(", "))
    }

    pub fn summary(&self) -> String {
        format!(
            "is_syncing={} sync_distance={} head_slot={} el_offline={} peers={} ({})",
            self.is_syncing,
            self.sync_distance,
            self.head_slot,
            self.el_offline,
            self.peers
                .map(|p| p.to_string())
                .unwrap_or_else(|| "?".into()),
            self.flavour.prefix()
        )
    }
}

/// The chain's timing from `config/spec` and `beacon/genesis`, and its head slot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainInfo {
    pub clock: ChainClock,
    pub head_slot: u64,
    pub genesis_validators_root: Option<String>,
}

/// One validator as the beacon state holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidatorState {
    pub index: u64,
    /// `0x` hex, lower case.
    pub pubkey: String,
    pub status: String,
    pub slashed: bool,
    pub balance: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecutionSync {
    pub method: ExecutionFlavour,
    /// What the syncing method answered: `false` is not syncing. Meaningless when
    /// `basis` is the beacon node's view (the method is not enabled).
    pub syncing: bool,
    pub current_block: Option<u64>,
    pub highest_block: Option<u64>,
    pub peers: Option<u64>,
    /// What the judgement rests on.
    pub basis: ExecutionBasis,
}

/// Where an execution client's sync state was read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ExecutionBasis {
    /// Its own syncing method answered.
    Direct,
    /// Every syncing method answered -32601 (the `zond` module is not in gzond's
    /// `--http.api`): the beacon node's view of its execution client, as its
    /// `node/syncing` gives it (None: the field is missing there).
    BeaconView {
        is_optimistic: Option<bool>,
        el_offline: Option<bool>,
    },
}

/// The flag that lets gzond answer `zond_syncing` over HTTP (go-zond
/// `cmd/utils/flags.go`: `HTTPApiFlag`, default modules `net,web3`).
pub const EXECUTION_SYNCING_HINT: &str =
    "add zond to gzond's --http.api (e.g. --http.api zond,net,web3) for the direct check";

impl ExecutionSync {
    /// Why this execution client is not ready for a validator, or None (item 5, the
    /// preflight's execution row, the wizard's panes: this one judgement).
    pub fn problem(&self) -> Option<String> {
        let mut p = Vec::new();
        match &self.basis {
            ExecutionBasis::Direct => {
                if self.syncing {
                    p.push(match (self.current_block, self.highest_block) {
                        (Some(c), Some(h)) => format!("syncing (block {c} of {h})"),
                        _ => "syncing".to_string(),
                    });
                }
            }
            ExecutionBasis::BeaconView {
                is_optimistic,
                el_offline,
            } => {
                // A refused method is never "synced": only the beacon node's word is.
                match is_optimistic {
                    Some(false) => {}
                    Some(true) => p.push(
                        "the beacon node is optimistic (its execution client is not synced)".into(),
                    ),
                    None => p.push("the beacon node does not report is_optimistic".into()),
                }
                match el_offline {
                    Some(false) => {}
                    Some(true) => p.push(
                        "the beacon node sees its execution client offline (el_offline)".into(),
                    ),
                    None => p.push("the beacon node does not report el_offline".into()),
                }
            }
        }
        match self.peers {
            Some(0) => p.push("no peers".into()),
            None => p.push("peer count unknown".into()),
            _ => {}
        }
        (!p.is_empty()).then(|| p.join(", "))
    }

    pub fn summary(&self) -> String {
        let peers = self
            .peers
            .map(|p| p.to_string())
            .unwrap_or_else(|| "?".into());
        match &self.basis {
            ExecutionBasis::Direct => format!(
                "{} = {} peers={peers}",
                self.method.syncing_method(),
                if self.syncing { "syncing" } else { "false" },
            ),
            ExecutionBasis::BeaconView {
                is_optimistic,
                el_offline,
            } => {
                let b = |v: &Option<bool>| v.map(|v| v.to_string()).unwrap_or_else(|| "?".into());
                format!(
                    "judged by the beacon node's view: is_optimistic={}, el_offline={}; peers {peers} ({} not enabled: {EXECUTION_SYNCING_HINT})",
                    b(is_optimistic),
                    b(el_offline),
                    self.method.syncing_method(),
                )
            }
        }
    }
}

/// What the validator's metrics port says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// False when nothing answers on the port (what item 2 wants on a stopped primary).
    pub answering: bool,
    pub successful_attestations: Option<f64>,
    pub keys: usize,
}

/// A readable size.
pub fn human_bytes(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < U.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[u])
    }
}

// ------------------------------------------------------------------ duties

/// Which of a key's duties (domain.md: one attestation per epoch, occasional
/// proposals, and while it sits in the sync committee a message every slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DutyKind {
    Attestation,
    Proposal,
    SyncCommittee,
}

impl DutyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DutyKind::Attestation => "attestation",
            DutyKind::Proposal => "proposal",
            DutyKind::SyncCommittee => "sync-committee message",
        }
    }
}

impl fmt::Display for DutyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One duty of one key: what, and at which slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Duty {
    pub slot: u64,
    pub index: u64,
    pub kind: DutyKind,
}

/// One key's attester duty in one epoch, as `POST …/validator/duties/attester/{epoch}`
/// answers it (qrysm `beacon-chain/rpc/eth/validator/structs.go` `AttesterDuty`, every
/// number a decimal string on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttesterDuty {
    /// The slot at which the attestation is made (it may be included until one epoch
    /// later, but it is made at this slot: a validator not running then misses it).
    pub slot: u64,
    pub committee_index: u64,
    pub committee_length: u64,
    pub committees_at_slot: u64,
    pub validator_committee_index: u64,
}

/// What one key must do in the epochs read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KeyDuties {
    /// `0x` hex, lower case, as the node gave it (None when no answer named the key).
    pub pubkey: Option<String>,
    /// Per epoch read, its attester duty; an epoch without one is an epoch in which the
    /// node gave the key no committee seat (qrysm leaves inactive keys out).
    pub attester: BTreeMap<u64, AttesterDuty>,
    /// The slots at which it proposes, ascending.
    pub proposals: Vec<u64>,
    /// Per epoch read in which it is a sync-committee member, its positions in the
    /// committee (`validator_sync_committee_indices`).
    pub sync_committee: BTreeMap<u64, Vec<u64>>,
}

/// What the node said of one epoch's duties as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochDuties {
    pub epoch: u64,
    /// `dependent_root` of the attester duties: they hold while this block is canonical.
    pub attester_dependent_root: String,
    /// `dependent_root` of the proposer duties.
    pub proposer_dependent_root: String,
    /// Any of the three answers came from an optimistic head (the execution client not
    /// yet verified it): the schedule may still change.
    pub execution_optimistic: bool,
}

/// The keys' duties for consecutive epochs (this one and the next: the furthest the
/// beacon API answers attester duties), read from the beacon node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DutySchedule {
    /// The epochs read, ascending and consecutive.
    pub epochs: Vec<EpochDuties>,
    /// Per validator index asked.
    pub keys: BTreeMap<u64, KeyDuties>,
}

impl DutySchedule {
    /// The first epoch read.
    pub fn first_epoch(&self) -> Option<u64> {
        self.epochs.first().map(|e| e.epoch)
    }

    /// The last epoch read: nothing is known of the duties after it.
    pub fn last_epoch(&self) -> Option<u64> {
        self.epochs.last().map(|e| e.epoch)
    }

    /// Whether the schedule covers this epoch.
    pub fn covers(&self, epoch: u64) -> bool {
        self.epochs.iter().any(|e| e.epoch == epoch)
    }

    /// The slot of a key's attester duty in an epoch.
    pub fn attestation_slot(&self, index: u64, epoch: u64) -> Option<u64> {
        self.keys
            .get(&index)
            .and_then(|k| k.attester.get(&epoch))
            .map(|d| d.slot)
    }

    /// Every duty of every key, ordered by slot: each attestation, each proposal, and a
    /// sync-committee message at every slot of every epoch of membership.
    pub fn duties(&self, slots_per_epoch: u64) -> Vec<Duty> {
        let mut out = Vec::new();
        for (&index, k) in &self.keys {
            for d in k.attester.values() {
                out.push(Duty {
                    slot: d.slot,
                    index,
                    kind: DutyKind::Attestation,
                });
            }
            for &slot in &k.proposals {
                out.push(Duty {
                    slot,
                    index,
                    kind: DutyKind::Proposal,
                });
            }
            for &epoch in k.sync_committee.keys() {
                let first = epoch.saturating_mul(slots_per_epoch);
                for slot in first..first.saturating_add(slots_per_epoch) {
                    out.push(Duty {
                        slot,
                        index,
                        kind: DutyKind::SyncCommittee,
                    });
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// True when any answer came from an optimistic head.
    pub fn optimistic(&self) -> bool {
        self.epochs.iter().any(|e| e.execution_optimistic)
    }

    /// One line: the epochs, and per key its attestation slots, proposals and
    /// sync-committee epochs.
    pub fn summary(&self) -> String {
        let epochs = match (self.first_epoch(), self.last_epoch()) {
            (Some(a), Some(b)) if a == b => format!("epoch {a}"),
            (Some(a), Some(b)) => format!("epochs {a}-{b}"),
            _ => "no epoch".to_string(),
        };
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|(i, k)| {
                let att: Vec<String> = k.attester.values().map(|d| d.slot.to_string()).collect();
                let mut s = format!(
                    "{i}: attests at {}",
                    if att.is_empty() {
                        "-".into()
                    } else {
                        att.join(",")
                    }
                );
                if !k.proposals.is_empty() {
                    let p: Vec<String> = k.proposals.iter().map(u64::to_string).collect();
                    s.push_str(&format!(", proposes at {}", p.join(",")));
                }
                if !k.sync_committee.is_empty() {
                    let e: Vec<String> = k.sync_committee.keys().map(u64::to_string).collect();
                    s.push_str(&format!(", sync committee in epoch {}", e.join(",")));
                }
                s
            })
            .collect();
        format!(
            "{epochs}{}: {}",
            if self.optimistic() {
                " (optimistic head)"
            } else {
                ""
            },
            keys.join("; ")
        )
    }
}

// ---------------------------------------------------------------------------
// Power fencing: what a host's fence device (its BMC, through a fence-agents
// agent) was asked and what it answered. Made by `crate::power`.

/// A host's power as its fence device reports it (fence-agents' `status`: exit 0
/// on, 2 off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PowerState {
    On,
    Off,
}

impl PowerState {
    pub fn as_str(self) -> &'static str {
        match self {
            PowerState::On => "on",
            PowerState::Off => "off",
        }
    }
}

impl fmt::Display for PowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a fence agent is asked (its `action=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PowerAction {
    Status,
    Off,
    On,
}

impl PowerAction {
    /// The agent's own word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            PowerAction::Status => "status",
            PowerAction::Off => "off",
            PowerAction::On => "on",
        }
    }

    /// The state the action powers the host into (None for `status`).
    pub fn target(self) -> Option<PowerState> {
        match self {
            PowerAction::Status => None,
            PowerAction::Off => Some(PowerState::Off),
            PowerAction::On => Some(PowerState::On),
        }
    }
}

impl fmt::Display for PowerAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which fence device, without its secret: what every piece of power evidence
/// names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PowerDeviceInfo {
    pub role: Role,
    /// The host as the configuration names it.
    pub host: String,
    /// The agent (`fence_ipmilan`), or what stands in for one (the simulated BMC).
    pub agent: String,
    /// The agent's options as configured: never the password, never the action.
    pub options: std::collections::BTreeMap<String, String>,
    /// Where the password is read (`primary.fence.password_file: /etc/…`), never
    /// its value; None when the agent gets no password.
    pub password_from: Option<String>,
}

/// One run of the agent, as evidence.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct PowerCall {
    pub action: PowerAction,
    /// The program run (the agent as found on PATH), with no argument: options and
    /// password went on its standard input.
    pub program: String,
    /// When it started (unix seconds) and how long it took.
    pub at: f64,
    pub took_ms: u64,
    /// Its exit code; None when it was killed (see `timed_out`) or died of a signal.
    pub exit: Option<i32>,
    /// Killed at the per-call timeout, with what it had started.
    pub timed_out: bool,
    /// What it printed, cut to its last 2,000 characters, the password blanked.
    pub stdout: String,
    pub stderr: String,
}

/// A power operation that reached its state, verified by `status`: what to journal.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct PowerEvidence {
    pub device: PowerDeviceInfo,
    /// Every run of the agent, in order (for `power_off`: `off`, then each `status`).
    pub calls: Vec<PowerCall>,
    /// The state the last `status` reported.
    pub verified: PowerState,
    /// When that `status` ended (unix seconds). For an off, the host may have run
    /// (and signed) until then: the epoch of `verified_at` is the one that must end
    /// before anything signs for its keys.
    pub verified_at: f64,
}

/// A power operation that did not reach (or could not read) its state; names the
/// host and the agent, and carries the runs made so far (an `off` that was sent
/// is evidence even when it was not verified).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, thiserror::Error)]
#[error("{} ({}): fence agent {}: {kind}", device.host, device.role, device.agent)]
pub struct PowerError {
    /// Boxed: an error stays small on the way up.
    pub device: Box<PowerDeviceInfo>,
    pub calls: Vec<PowerCall>,
    pub kind: PowerErrorKind,
}

/// Why a power operation failed.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum PowerErrorKind {
    /// The agent is not on the operator's PATH.
    #[error(
        "not found on PATH ({path}); fence-agents installs its agents in /usr/sbin (Debian: apt-get install fence-agents)"
    )]
    AgentNotFound { path: String },
    /// The password could not be read, or may not be used (a file others can read).
    #[error("{0}")]
    Password(String),
    /// The agent could not be started.
    #[error("could not run {program}: {reason}")]
    Spawn { program: String, reason: String },
    /// The agent did not end within the per-call timeout: it was killed, with what
    /// it had started (its process group).
    #[error("action={action} did not end within {after_ms} ms: killed")]
    TimedOut { action: PowerAction, after_ms: u64 },
    /// The agent ended with a failure (fence-agents: exit 1), or `status` with an
    /// exit code that is neither on (0) nor off (2).
    #[error("action={action} failed (exit {}): {said}", exit.map_or("by a signal".to_string(), |c| c.to_string()))]
    Failed {
        action: PowerAction,
        exit: Option<i32>,
        /// Its standard error (else its standard output), last line first cut.
        said: String,
    },
    /// `status` did not report the state within the wait after the action.
    #[error(
        "status did not report {want} within {waited_ms} ms after action={action} (last: {})",
        match (last, last_error) {
            (Some(s), _) => s.as_str().to_string(),
            (None, Some(e)) => e.clone(),
            (None, None) => "no answer".to_string(),
        }
    )]
    NotReached {
        action: PowerAction,
        want: PowerState,
        waited_ms: u64,
        /// The last state `status` reported, if it answered at all.
        last: Option<PowerState>,
        /// The last failed `status`, if the last one failed.
        last_error: Option<String>,
    },
}
