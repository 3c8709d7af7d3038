//! The preflight (spec §1): read-only observations of both hosts, judged. A backup
//! that runs or is unlocked is a red alarm, not a detail.

use serde::Serialize;

use crate::chain::ChainClock;
use crate::config::{Config, HostSource, Role};
use crate::observed::{
    Archive, BeaconSync, ChainInfo, ClockState, ExecutionSync, FileInfo, HistoryState, HostError,
    HttpWay, Metrics, Observed, Probe, UnitState,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Green,
    /// Worth knowing, not a gate (a skewed clock, no recent archive).
    Warn,
    /// Something is wrong: the failover must not go on as things are.
    Red,
    /// Could not be observed (its host did not answer): counts as red.
    Unknown,
}

impl Verdict {
    pub fn symbol(self) -> &'static str {
        match self {
            Verdict::Green => "[✓]",
            Verdict::Warn => "[!]",
            Verdict::Red => "[✗]",
            Verdict::Unknown => "[?]",
        }
    }
    pub fn fails(self) -> bool {
        matches!(self, Verdict::Red | Verdict::Unknown)
    }
}

/// Which check a preflight row is: the typed id that automation keys on (the metrics'
/// `check` label, JSON's `check`), with the row's title and the stable dotted part of
/// its `id` (`backup.validator.unit`). One place names each check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CheckId {
    Config,
    ChainTiming,
    Ssh,
    HttpEndpoints,
    ValidatorService,
    StartsAtBoot,
    ValidatorProcess,
    LockFile,
    ValidatorMetrics,
    BeaconSynced,
    ExecutionSynced,
    ClockSynchronised,
    SlashingProtectionHistory,
    BackupArchives,
    KeysLive,
}

impl CheckId {
    pub const ALL: [CheckId; 15] = [
        CheckId::Config,
        CheckId::ChainTiming,
        CheckId::Ssh,
        CheckId::HttpEndpoints,
        CheckId::ValidatorService,
        CheckId::StartsAtBoot,
        CheckId::ValidatorProcess,
        CheckId::LockFile,
        CheckId::ValidatorMetrics,
        CheckId::BeaconSynced,
        CheckId::ExecutionSynced,
        CheckId::ClockSynchronised,
        CheckId::SlashingProtectionHistory,
        CheckId::BackupArchives,
        CheckId::KeysLive,
    ];

    /// snake_case, stable: the metrics' `check` label.
    pub fn name(self) -> &'static str {
        match self {
            CheckId::Config => "config",
            CheckId::ChainTiming => "chain_timing",
            CheckId::Ssh => "ssh",
            CheckId::HttpEndpoints => "http_endpoints",
            CheckId::ValidatorService => "validator_service",
            CheckId::StartsAtBoot => "starts_at_boot",
            CheckId::ValidatorProcess => "validator_process",
            CheckId::LockFile => "lock_file",
            CheckId::ValidatorMetrics => "validator_metrics",
            CheckId::BeaconSynced => "beacon_synced",
            CheckId::ExecutionSynced => "execution_synced",
            CheckId::ClockSynchronised => "clock_synchronised",
            CheckId::SlashingProtectionHistory => "slashing_protection_history",
            CheckId::BackupArchives => "backup_archives",
            CheckId::KeysLive => "keys_live",
        }
    }

    /// The dotted part of the row's `id`, as `check --json` has always named it.
    fn key(self) -> &'static str {
        match self {
            CheckId::Config => "config",
            CheckId::ChainTiming => "chain",
            CheckId::Ssh => "ssh",
            CheckId::HttpEndpoints => "endpoints",
            CheckId::ValidatorService => "validator.unit",
            CheckId::StartsAtBoot => "validator.boot",
            CheckId::ValidatorProcess => "validator.process",
            CheckId::LockFile => "validator.lock",
            CheckId::ValidatorMetrics => "validator.metrics",
            CheckId::BeaconSynced => "beacon",
            CheckId::ExecutionSynced => "execution",
            CheckId::ClockSynchronised => "clock",
            CheckId::SlashingProtectionHistory => "history",
            CheckId::BackupArchives => "archives",
            CheckId::KeysLive => "liveness",
        }
    }

    /// The row's title, as `check` prints it.
    pub fn title(self) -> &'static str {
        match self {
            CheckId::Config => "Configuration",
            CheckId::ChainTiming => "Chain timing",
            CheckId::Ssh => "SSH",
            CheckId::HttpEndpoints => "HTTP endpoints",
            CheckId::ValidatorService => "Validator service",
            CheckId::StartsAtBoot => "Starts at boot",
            CheckId::ValidatorProcess => "Validator process",
            CheckId::LockFile => "Lock file",
            CheckId::ValidatorMetrics => "Validator metrics",
            CheckId::BeaconSynced => "Beacon node synced",
            CheckId::ExecutionSynced => "Execution node synced",
            CheckId::ClockSynchronised => "Clock synchronised",
            CheckId::SlashingProtectionHistory => "Slashing-protection history",
            CheckId::BackupArchives => "Backup archives",
            CheckId::KeysLive => "Keys live on chain",
        }
    }
}

impl Serialize for CheckId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Where a judgement came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub host: Role,
    /// Unix seconds.
    pub at: f64,
    pub via: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckItem {
    /// Stable identifier for automation (`backup.validator.unit`).
    pub id: String,
    /// Which check this is, typed.
    pub check: CheckId,
    pub host: Option<Role>,
    pub title: String,
    pub verdict: Verdict,
    /// One line: what was seen, or why it is not right.
    pub summary: String,
    pub evidence: Vec<Evidence>,
}

impl CheckItem {
    /// A row: its id and title made from `check` (and the host, for a host's row).
    pub fn new(
        host: Option<Role>,
        check: CheckId,
        verdict: Verdict,
        summary: String,
        evidence: Vec<Evidence>,
    ) -> CheckItem {
        CheckItem {
            id: match host {
                Some(r) => format!("{r}.{}", check.key()),
                None => check.key().to_string(),
            },
            check,
            host,
            title: check.title().to_string(),
            verdict,
            summary,
            evidence,
        }
    }
}

/// The chain's liveness answer for an epoch: (epoch, [(index, live)]).
pub type Liveness = (u64, Vec<(u64, bool)>);

/// What was observed of one host. `None` in a field: not observed, because the host
/// could not be reached.
#[derive(Debug, Clone)]
pub struct HostObservations {
    pub role: Role,
    pub describe: String,
    pub reach: Result<(), HostError>,
    pub unit: Option<Probe<UnitState>>,
    pub processes: Option<Probe<Vec<u32>>>,
    pub lock: Option<Probe<Option<FileInfo>>>,
    pub metrics: Option<Probe<Metrics>>,
    pub beacon: Option<Probe<BeaconSync>>,
    pub execution: Option<Probe<ExecutionSync>>,
    pub chain: Option<Probe<ChainInfo>>,
    pub clock: Option<Probe<ClockState>>,
    pub history: Option<Probe<HistoryState>>,
    pub archives: Option<Probe<Vec<Archive>>>,
    pub liveness: Option<Probe<Liveness>>,
    /// Which way the host's endpoints were read (None: not reached).
    pub http_way: Option<HttpWay>,
}

impl HostObservations {
    pub fn unreachable(role: Role, describe: String, e: HostError) -> HostObservations {
        HostObservations {
            role,
            describe,
            reach: Err(e),
            unit: None,
            processes: None,
            lock: None,
            metrics: None,
            beacon: None,
            execution: None,
            chain: None,
            clock: None,
            history: None,
            archives: None,
            liveness: None,
            http_way: None,
        }
    }
}

/// What was measured of one host, as numbers (for `check --textfile`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostFigures {
    pub role: Role,
    /// The host's clock minus this machine's, in seconds (None: not read).
    pub clock_offset: Option<f64>,
    /// How many backup archives match the pattern (None: not listed).
    pub archives: Option<usize>,
    /// Seconds since the newest of them was written (None: none, or not listed).
    pub newest_archive_age: Option<f64>,
}

impl HostFigures {
    fn of(h: &HostObservations, now: f64) -> HostFigures {
        let archives = h.archives.as_ref().and_then(|a| a.as_ref().ok());
        HostFigures {
            role: h.role,
            clock_offset: h
                .clock
                .as_ref()
                .and_then(|c| c.as_ref().ok())
                .map(|c| c.value.offset),
            archives: archives.map(|a| a.value.len()),
            newest_archive_age: archives
                .and_then(|a| a.value.iter().map(|x| x.mtime).reduce(f64::max))
                .map(|m| (now - m).max(0.0)),
        }
    }
}

/// The judged preflight.
#[derive(Debug, Clone, Serialize)]
pub struct Preflight {
    pub items: Vec<CheckItem>,
    /// Each host's figures, in the order the hosts were observed.
    pub hosts: Vec<HostFigures>,
    /// The chain's clock as the nodes report it, when any did.
    pub chain: Option<ChainClock>,
    /// Unix seconds when the judgement was made.
    pub at: f64,
}

impl Preflight {
    pub fn all_green(&self) -> bool {
        !self.items.iter().any(|i| i.verdict.fails())
    }
    pub fn red(&self) -> impl Iterator<Item = &CheckItem> {
        self.items.iter().filter(|i| i.verdict.fails())
    }
}

struct Judge<'a> {
    role: Role,
    items: Vec<CheckItem>,
    unreachable: Option<&'a HostError>,
    /// When the judgement is made: the time of a failed probe's evidence.
    now: f64,
}

impl Judge<'_> {
    fn push(&mut self, check: CheckId, verdict: Verdict, summary: String, ev: Vec<Evidence>) {
        self.items
            .push(CheckItem::new(Some(self.role), check, verdict, summary, ev));
    }

    /// Judge one probe: `f` for an answer; a failed probe is `on_error` with its cause.
    fn probe<T>(
        &mut self,
        check: CheckId,
        p: &Option<Probe<T>>,
        on_error: Verdict,
        f: impl FnOnce(&T) -> (Verdict, String),
    ) {
        match p {
            None => {
                let why = self
                    .unreachable
                    .map(|e| format!("not observed: {} is {}", self.role, e.failure.as_str()))
                    .unwrap_or_else(|| "not observed".into());
                self.push(check, Verdict::Unknown, why, Vec::new());
            }
            Some(Err(e)) => {
                let ev = vec![Evidence {
                    host: e.host,
                    at: self.now,
                    via: e.what.clone(),
                }];
                self.push(
                    check,
                    on_error,
                    format!("{}: {}", e.failure.as_str(), e.detail),
                    ev,
                );
            }
            Some(Ok(o)) => {
                let (v, s) = f(&o.value);
                let ev = vec![evidence(o)];
                self.push(check, v, s, ev);
            }
        }
    }
}

fn evidence<T>(o: &Observed<T>) -> Evidence {
    Evidence {
        host: o.host,
        at: o.at,
        via: o.via.clone(),
    }
}

/// The configuration used: which file and how it was found, the hosts and where
/// they were given; `[!]` when inventory variable files were left unread.
fn config_item(cfg: &Config) -> CheckItem {
    let file = match (&cfg.source, &cfg.primary.given_in) {
        (Some(s), _) => s.to_string(),
        (None, HostSource::Inventory { .. }) => "no configuration file (every default)".into(),
        (None, HostSource::Config) => "built-in".into(),
    };
    let mut inventories: Vec<&std::path::Path> = Vec::new();
    let mut unread: Vec<String> = Vec::new();
    for h in [&cfg.primary, &cfg.backup] {
        if let HostSource::Inventory { file, unread: u } = &h.given_in {
            if !inventories.contains(&file.as_path()) {
                inventories.push(file);
            }
            for f in u {
                let f = f.display().to_string();
                if !unread.contains(&f) {
                    unread.push(f);
                }
            }
        }
    }
    let mut summary = format!(
        "{file}: primary {} ({}), backup {} ({}), service {}",
        cfg.primary.name,
        cfg.primary.display_destination(),
        cfg.backup.name,
        cfg.backup.display_destination(),
        cfg.validator.service,
    );
    for i in &inventories {
        summary.push_str(&format!("; hosts from the inventory {}", i.display()));
    }
    if !unread.is_empty() {
        summary.push_str(&format!(
            "; left unread (encrypted with ansible-vault): {}",
            unread.join(", ")
        ));
    }
    CheckItem::new(
        None,
        CheckId::Config,
        if unread.is_empty() {
            Verdict::Green
        } else {
            Verdict::Warn
        },
        summary,
        Vec::new(),
    )
}

/// Judge what was observed of both hosts.
pub fn evaluate(cfg: &Config, hosts: &[HostObservations], now: f64) -> Preflight {
    let mut items = vec![config_item(cfg)];

    // The chain's timing, from the backup's beacon node first (it is the one that matters).
    let mut chain: Option<(ChainInfo, Evidence)> = None;
    for role in [Role::Backup, Role::Primary] {
        if let Some(h) = hosts.iter().find(|h| h.role == role)
            && let Some(Ok(c)) = &h.chain
            && chain.is_none()
        {
            chain = Some((c.value.clone(), evidence(c)));
        }
    }
    let clock = chain.as_ref().map(|(c, _)| c.clock);

    for h in hosts {
        let role = h.role;
        let mut j = Judge {
            role,
            items: Vec::new(),
            unreachable: h.reach.as_ref().err(),
            now,
        };
        match &h.reach {
            Ok(()) => j.push(
                CheckId::Ssh,
                Verdict::Green,
                format!("connected: {}", h.describe),
                Vec::new(),
            ),
            Err(e) => j.push(
                CheckId::Ssh,
                Verdict::Red,
                format!("{}: {}", e.failure.as_str(), e.detail),
                vec![Evidence {
                    host: role,
                    at: now,
                    via: e.what.clone(),
                }],
            ),
        }
        // Which way the endpoints are read: through a forward, or with curl on a host
        // whose sshd forbids forwarding (the reference hardening).
        match &h.http_way {
            None => j.probe::<()>(CheckId::HttpEndpoints, &None, Verdict::Unknown, |_| {
                (Verdict::Unknown, String::new())
            }),
            Some(HttpWay::Unknown) => j.push(
                CheckId::HttpEndpoints,
                Verdict::Warn,
                HttpWay::Unknown.describe(),
                Vec::new(),
            ),
            Some(w) => j.push(
                CheckId::HttpEndpoints,
                Verdict::Green,
                w.describe(),
                Vec::new(),
            ),
        }
        let svc = &cfg.validator.service;
        match role {
            Role::Primary => {
                j.probe(CheckId::ValidatorService, &h.unit, Verdict::Red, |u| {
                    if u.is_running() {
                        (
                            Verdict::Green,
                            format!("running (signing): {}", u.summary()),
                        )
                    } else {
                        (
                            Verdict::Red,
                            format!("the primary's {svc} is not running: {}", u.summary()),
                        )
                    }
                });
                j.probe(CheckId::StartsAtBoot, &h.unit, Verdict::Red, |u| {
                    if u.unit_file_state == "enabled" {
                        (Verdict::Green, "enabled".into())
                    } else {
                        (
                            Verdict::Warn,
                            format!(
                                "{}: the primary will not come back after a reboot",
                                u.unit_file_state
                            ),
                        )
                    }
                });
                j.probe(CheckId::ValidatorProcess, &h.processes, Verdict::Red, |p| {
                    if p.is_empty() {
                        (
                            Verdict::Red,
                            format!("no process named {}", cfg.validator.process_name),
                        )
                    } else {
                        (
                            Verdict::Green,
                            format!("{} PID {}", cfg.validator.process_name, join(p)),
                        )
                    }
                });
                j.probe(CheckId::LockFile, &h.lock, Verdict::Red, |l| match l {
                    None => (
                        Verdict::Green,
                        format!("{} absent", cfg.validator.lock_file),
                    ),
                    Some(_) => (
                        Verdict::Warn,
                        format!(
                            "{} present: the primary's validator cannot start",
                            cfg.validator.lock_file
                        ),
                    ),
                });
                j.probe(CheckId::ValidatorMetrics, &h.metrics, Verdict::Warn, |m| {
                    if m.answering {
                        (Verdict::Green, metrics_summary(m, &cfg.metrics.to_string()))
                    } else {
                        (Verdict::Warn, format!("nothing answers on {}", cfg.metrics))
                    }
                });
            }
            Role::Backup => {
                j.probe(CheckId::ValidatorService, &h.unit, Verdict::Red, |u| {
                    if u.is_stopped() {
                        (Verdict::Green, format!("stopped: {}", u.summary()))
                    } else {
                        (
                            Verdict::Red,
                            format!("ALARM: the backup's {svc} is not stopped ({}): two validators may be signing", u.summary()),
                        )
                    }
                });
                j.probe(CheckId::StartsAtBoot, &h.unit, Verdict::Red, |u| {
                    if u.is_disabled() {
                        (Verdict::Green, u.unit_file_state.clone())
                    } else {
                        (
                            Verdict::Warn,
                            format!(
                                "{}: only the lock file keeps it from starting at boot",
                                u.unit_file_state
                            ),
                        )
                    }
                });
                j.probe(CheckId::ValidatorProcess, &h.processes, Verdict::Red, |p| {
                    if p.is_empty() {
                        (
                            Verdict::Green,
                            format!("no process named {}", cfg.validator.process_name),
                        )
                    } else {
                        (
                            Verdict::Red,
                            format!(
                                "ALARM: {} runs on the backup (PID {})",
                                cfg.validator.process_name,
                                join(p)
                            ),
                        )
                    }
                });
                j.probe(CheckId::LockFile, &h.lock, Verdict::Red, |l| match l {
                    Some(f) if f.user == "root" && f.mode & 0o222 == 0 => (
                        Verdict::Green,
                        format!(
                            "{} present ({}:{} {:o})",
                            cfg.validator.lock_file, f.user, f.group, f.mode
                        ),
                    ),
                    Some(f) => (
                        Verdict::Warn,
                        format!(
                            "{} present but {}:{} {:o} (expected root-owned, read-only)",
                            cfg.validator.lock_file, f.user, f.group, f.mode
                        ),
                    ),
                    None => (
                        Verdict::Red,
                        format!(
                            "ALARM: {} is gone: nothing stops the backup's validator from starting",
                            cfg.validator.lock_file
                        ),
                    ),
                });
                j.probe(CheckId::ValidatorMetrics, &h.metrics, Verdict::Warn, |m| {
                    if m.answering {
                        (
                            Verdict::Red,
                            format!(
                                "ALARM: {} answers on the backup: a validator runs there",
                                cfg.metrics
                            ),
                        )
                    } else {
                        (
                            Verdict::Green,
                            format!("nothing answers on {}", cfg.metrics),
                        )
                    }
                });
            }
        }
        // Sync: a gate for the backup (items 4-5); worth a warning on the primary.
        let sync_error = if role == Role::Backup {
            Verdict::Red
        } else {
            Verdict::Warn
        };
        let max = cfg.beacon.max_sync_distance;
        j.probe(CheckId::BeaconSynced, &h.beacon, sync_error, |b| {
            match b.problem(max) {
                None => (Verdict::Green, b.summary()),
                Some(p) => (sync_error, format!("{p}: {}", b.summary())),
            }
        });
        j.probe(
            CheckId::ExecutionSynced,
            &h.execution,
            sync_error,
            |e| match e.problem() {
                None => (Verdict::Green, e.summary()),
                Some(p) => (sync_error, format!("{p}: {}", e.summary())),
            },
        );
        let skew = cfg.failover.max_clock_skew.as_secs_f64();
        j.probe(CheckId::ClockSynchronised, &h.clock, Verdict::Warn, |c| {
            let ntp = match c.ntp_synchronized {
                Some(true) => "NTP synchronised",
                Some(false) => "NTP not synchronised",
                None => "NTP state unknown",
            };
            let text = format!(
                "offset {:+.3}s (±{:.3}s), {ntp}",
                c.offset,
                c.round_trip / 2.0
            );
            if c.offset.abs() - c.round_trip / 2.0 > skew || c.ntp_synchronized == Some(false) {
                (
                    Verdict::Warn,
                    format!("{text}: a skewed clock misses duties"),
                )
            } else {
                (Verdict::Green, text)
            }
        });
        let history_error = if role == Role::Primary {
            Verdict::Red
        } else {
            Verdict::Warn
        };
        // The newest epoch in which the chain saw one of our keys live, if asked.
        let liveness_seen = h
            .liveness
            .as_ref()
            .and_then(|l| l.as_ref().ok())
            .and_then(|o| {
                let (epoch, live) = &o.value;
                live.iter().any(|(_, l)| *l).then_some(*epoch)
            });
        let chain_root = h
            .chain
            .as_ref()
            .and_then(|c| c.as_ref().ok())
            .and_then(|c| c.value.genesis_validators_root.clone());
        j.probe(
            CheckId::SlashingProtectionHistory,
            &h.history,
            history_error,
            |hist| {
                let age = hist
                    .newest_mtime()
                    .map(|m| age_text(clock.as_ref(), m, now))
                    .unwrap_or_default();
                // The chain saw every key live in an epoch after the newest target in
                // the history on disk: the file no longer covers what the validator
                // signed (replaced under it, or not the DB it writes).
                let stale = match (role, hist.db(), liveness_seen) {
                    (Role::Primary, Some(db), Some(epoch)) => {
                        let newest = db.keys.iter().filter_map(|k| k.last_target).max();
                        match newest {
                            Some(t) if t < epoch => Some(format!(
                                "{} is older than what the chain shows: its newest signed target is epoch {t}, the chain saw the keys live in epoch {epoch}",
                                hist.location.file
                            )),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                let wrong_chain = match (hist.db().and_then(|d| d.genesis_validators_root.clone()), &chain_root) {
                    (Some(db), Some(chain)) if !db.eq_ignore_ascii_case(chain) => Some(format!(
                        "{} was signed on another chain: its genesis validators root is {db}, the chain's {chain}",
                        hist.location.file
                    )),
                    _ => None,
                };
                match (role, hist.problem().or(wrong_chain).or(stale)) {
                    (Role::Primary, Some(p)) => {
                        (Verdict::Red, format!("{p}: nothing valid to transfer"))
                    }
                    (Role::Backup, Some(p)) => (
                        Verdict::Green,
                        format!("{p} (it will be replaced by the primary's)"),
                    ),
                    (_, None) => (
                        Verdict::Green,
                        format!("{}, modified {age}", hist.summary()),
                    ),
                }
            },
        );
        j.probe(
            CheckId::BackupArchives,
            &h.archives,
            Verdict::Warn,
            |a| match a.first() {
                None => (
                    if role == Role::Backup {
                        Verdict::Warn
                    } else {
                        Verdict::Green
                    },
                    format!("none matching {}", cfg.backups),
                ),
                Some(newest) => {
                    let text = format!(
                        "{} archive(s); newest {} ({}, {})",
                        a.len(),
                        newest.path,
                        crate::observed::human_bytes(newest.size),
                        age_text(clock.as_ref(), newest.mtime, now)
                    );
                    match &newest.holds {
                        Some(Ok(holds)) => (Verdict::Green, format!("{text}: holds {holds}")),
                        Some(Err(why)) => (
                            Verdict::Warn,
                            format!(
                                "{text} holds no history ({why}); if the primary dies, no archive can stand in for it"
                            ),
                        ),
                        None => (Verdict::Green, format!("{text}: not opened")),
                    }
                }
            },
        );
        if !cfg.validator.indices.is_empty()
            && role == Role::Backup
            && h.reach.is_ok()
            && h.liveness.is_none()
        {
            j.push(
                CheckId::KeysLive,
                Verdict::Warn,
                "not asked: the beacon node gave no chain timing".into(),
                Vec::new(),
            );
        } else if !cfg.validator.indices.is_empty() && role == Role::Backup {
            j.probe(
                CheckId::KeysLive,
                &h.liveness,
                Verdict::Warn,
                |(epoch, l)| {
                    let live: Vec<u64> = l.iter().filter(|(_, v)| *v).map(|(k, _)| *k).collect();
                    if live.len() == l.len() {
                        (
                            Verdict::Green,
                            format!("all {} keys live in epoch {epoch}", l.len()),
                        )
                    } else {
                        (
                            Verdict::Warn,
                            format!(
                                "{} of {} keys live in epoch {epoch} (live: {})",
                                live.len(),
                                l.len(),
                                join(&live)
                            ),
                        )
                    }
                },
            );
        }
        items.extend(j.items);
    }

    // Both nodes must be on one chain.
    let genesis: Vec<(Role, u64)> = hosts
        .iter()
        .filter_map(|h| match &h.chain {
            Some(Ok(c)) => Some((h.role, c.value.clock.genesis_time)),
            _ => None,
        })
        .collect();
    let chain_item = match &chain {
        None => CheckItem::new(
            None,
            CheckId::ChainTiming,
            Verdict::Red,
            "no beacon node answered config/spec and beacon/genesis: epochs cannot be counted"
                .into(),
            Vec::new(),
        ),
        Some(_) if genesis.len() == 2 && genesis[0].1 != genesis[1].1 => CheckItem::new(
            None,
            CheckId::ChainTiming,
            Verdict::Red,
            format!(
                "the nodes are on different chains: genesis {} on {} and {} on {}",
                genesis[0].1, genesis[0].0, genesis[1].1, genesis[1].0
            ),
            Vec::new(),
        ),
        Some((c, ev)) => {
            let k = c.clock;
            CheckItem::new(
                None,
                CheckId::ChainTiming,
                Verdict::Green,
                format!(
                    "epoch {} slot {} (head {}); {} s slots x {} = {} per epoch; next epoch in {}",
                    k.epoch_at(now),
                    k.slot_at(now),
                    c.head_slot,
                    k.seconds_per_slot,
                    k.slots_per_epoch,
                    duration_text(k.epoch_seconds() as f64),
                    duration_text(k.seconds_to_next_epoch(now))
                ),
                vec![ev.clone()],
            )
        }
    };
    items.insert(1, chain_item);
    Preflight {
        items,
        hosts: hosts.iter().map(|h| HostFigures::of(h, now)).collect(),
        chain: clock,
        at: now,
    }
}

fn join(v: &[impl ToString]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn metrics_summary(m: &Metrics, at: &str) -> String {
    match m.successful_attestations {
        Some(n) => format!("{at} answers: {} keys, {n} successful attestations", m.keys),
        None => format!("{at} answers"),
    }
}

/// "3 min ago (0.4 epochs)".
pub fn age_text(clock: Option<&ChainClock>, then: f64, now: f64) -> String {
    let d = duration_text((now - then).max(0.0));
    match clock {
        Some(c) => format!("{d} ago, {:.1} epochs", c.age_in_epochs(then, now)),
        None => format!("{d} ago"),
    }
}

pub fn duration_text(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}
