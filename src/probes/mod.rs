//! Typed observations of a host, built on [`Host`]. Every probe returns evidence:
//! the value, when it was observed, on which host, and by which command or request.
//! A probe that cannot answer says why, instead of guessing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::chain::{ChainClock, unix_now};
use crate::config::{BeaconFlavour, BeaconSettings, Config, Endpoint, ExecutionFlavour};
use crate::hosts::{Cmd, Failure, Host, HostError, HttpRequest, LineStream};
pub use crate::observed::{
    Archive, AttesterDuty, BeaconSync, ChainInfo, ClockState, Duty, DutyKind, DutySchedule,
    EXECUTION_SYNCING_HINT, Entry, EpochDuties, ExecutionBasis, ExecutionSync, FileInfo,
    HistoryKind, HistoryState, KeyDuties, Metrics, Observed, Probe, UnitState, ValidatorState,
    history_kind, human_bytes,
};

pub mod duties;
pub use duties::duty_schedule;

impl<T> Observed<T> {
    fn new(host: &dyn Host, via: impl Into<String>, value: T) -> Observed<T> {
        Observed {
            value,
            host: host.role(),
            at: unix_now(),
            via: via.into(),
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Observed<U> {
        Observed {
            value: f(self.value),
            host: self.host,
            at: self.at,
            via: self.via,
        }
    }
}

fn unexpected(host: &dyn Host, via: &str, detail: impl Into<String>) -> HostError {
    HostError::new(host.role(), Failure::Unexpected, via, detail)
}

// ---------------------------------------------------------------------------
// systemd

pub async fn unit_state(host: &dyn Host, unit: &str, timeout: Duration) -> Probe<UnitState> {
    let cmd = Cmd::new("systemctl")
        .arg("show")
        .arg(
            "--property=LoadState,ActiveState,SubState,MainPID,UnitFileState,NRestarts,DropInPaths,ExecStart,User,Group,Environment",
        )
        .arg("--")
        .arg(unit);
    let via = cmd.display();
    let out = host.run(&cmd, timeout).await?;
    if !out.success() {
        return Err(unexpected(
            host,
            &via,
            format!("systemctl failed: {}", out.stderr_text()),
        ));
    }
    let text = out.stdout_text();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
            .map(str::to_string)
    };
    let need = |k: &str| {
        get(k).ok_or_else(|| unexpected(host, &via, format!("no {k}= in the answer: {text:?}")))
    };
    let num = |k: &str| -> Result<u32, HostError> {
        let v = need(k)?;
        v.parse()
            .map_err(|_| unexpected(host, &via, format!("{k}={v:?} is not a number")))
    };
    let state = UnitState {
        load_state: need("LoadState")?,
        active_state: need("ActiveState")?,
        sub_state: need("SubState")?,
        main_pid: num("MainPID")?,
        unit_file_state: get("UnitFileState").unwrap_or_default(),
        n_restarts: get("NRestarts").and_then(|v| v.parse().ok()).unwrap_or(0),
        drop_in_paths: get("DropInPaths")
            .map(|v| v.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        exec_start: get("ExecStart").unwrap_or_default(),
        user: get("User").unwrap_or_default(),
        group: get("Group").unwrap_or_default(),
        environment: get("Environment").unwrap_or_default(),
    };
    if state.load_state == "not-found" {
        return Err(unexpected(
            host,
            &via,
            format!("systemd has no unit {unit:?} on this host (LoadState=not-found)"),
        ));
    }
    Ok(Observed::new(host, via, state))
}

/// Processes whose name is exactly `name` (never `pgrep -f`: it matches its own shell).
pub async fn processes(host: &dyn Host, name: &str, timeout: Duration) -> Probe<Vec<u32>> {
    let cmd = Cmd::new("pgrep").arg("-x").arg("--").arg(name);
    let via = cmd.display();
    let out = host.run(&cmd, timeout).await?;
    match out.status {
        Some(0) => {
            let pids: Result<Vec<u32>, _> = out
                .stdout_text()
                .split_whitespace()
                .map(str::parse)
                .collect();
            let pids = pids.map_err(|_| {
                unexpected(
                    host,
                    &via,
                    format!("not a PID list: {:?}", out.stdout_text()),
                )
            })?;
            Ok(Observed::new(host, via, pids))
        }
        Some(1) => Ok(Observed::new(host, via, Vec::new())),
        _ => Err(unexpected(
            host,
            &via,
            format!("pgrep failed: {}", out.stderr_text()),
        )),
    }
}

// ---------------------------------------------------------------------------
// Files

/// `stat` of a path; None when it does not exist.
pub async fn stat(host: &dyn Host, path: &str, timeout: Duration) -> Probe<Option<FileInfo>> {
    let cmd = Cmd::new("stat")
        .arg("-c")
        .arg("%F|%a|%U|%G|%s|%Y")
        .arg("--")
        .arg(path);
    let via = cmd.display();
    let out = host.run(&cmd, timeout).await?;
    if !out.success() {
        let e = out.stderr_text();
        if e.contains("No such file or directory") {
            return Ok(Observed::new(host, via, None));
        }
        return Err(unexpected(host, &via, format!("stat failed: {e}")));
    }
    let text = out.stdout_text();
    let f: Vec<&str> = text.trim().split('|').collect();
    if f.len() != 6 {
        return Err(unexpected(
            host,
            &via,
            format!("not the stat line asked for: {text:?}"),
        ));
    }
    let bad = |what: &str| unexpected(host, &via, format!("{what} is not a number in {text:?}"));
    Ok(Observed::new(
        host,
        via.clone(),
        Some(FileInfo {
            kind: f[0].to_string(),
            mode: u32::from_str_radix(f[1], 8).map_err(|_| bad("mode"))?,
            user: f[2].to_string(),
            group: f[3].to_string(),
            size: f[4].parse().map_err(|_| bad("size"))?,
            mtime: f[5].parse().map_err(|_| bad("mtime"))?,
        }),
    ))
}

/// The validator's lock file: present means the validator cannot start.
pub async fn lock_file(host: &dyn Host, path: &str, timeout: Duration) -> Probe<Option<FileInfo>> {
    stat(host, path, timeout).await
}

/// Files and directories under `dir` (to `depth` levels). None when `dir` is missing.
pub async fn list(
    host: &dyn Host,
    dir: &str,
    depth: u32,
    name: Option<&str>,
    timeout: Duration,
) -> Probe<Option<Vec<Entry>>> {
    let mut cmd = Cmd::new("find")
        .arg(dir)
        .arg("-maxdepth")
        .arg(depth.to_string())
        .arg("-mindepth")
        .arg("1");
    if let Some(n) = name {
        cmd = cmd.arg("-type").arg("f").arg("-name").arg(n);
    }
    let cmd = cmd.arg("-printf").arg("%y|%s|%T@|%p\\n");
    let via = cmd.display();
    let out = host.run(&cmd, timeout).await?;
    if !out.success() {
        let e = out.stderr_text();
        if e.contains("No such file or directory") {
            return Ok(Observed::new(host, via, None));
        }
        return Err(unexpected(host, &via, format!("find failed: {e}")));
    }
    let mut entries = Vec::new();
    for line in out.stdout_text().lines() {
        let mut f = line.splitn(4, '|');
        let (Some(t), Some(s), Some(m), Some(p)) = (f.next(), f.next(), f.next(), f.next()) else {
            return Err(unexpected(
                host,
                &via,
                format!("not the find line asked for: {line:?}"),
            ));
        };
        entries.push(Entry {
            dir: t == "d",
            size: s
                .parse()
                .map_err(|_| unexpected(host, &via, format!("size in {line:?}")))?,
            mtime: m
                .parse()
                .map_err(|_| unexpected(host, &via, format!("mtime in {line:?}")))?,
            path: p.to_string(),
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Observed::new(host, via, Some(entries)))
}

/// The runbook's backup archives matching `pattern` (`/dir/name-*.tar.gz`), newest first.
pub async fn archives(host: &dyn Host, pattern: &str, timeout: Duration) -> Probe<Vec<Archive>> {
    let (dir, name) = pattern.rsplit_once('/').unwrap_or(("/", pattern));
    let dir = if dir.is_empty() { "/" } else { dir };
    let listing = list(host, dir, 1, Some(name), timeout).await?;
    Ok(listing.map(|entries| {
        let mut v: Vec<Archive> = entries
            .unwrap_or_default()
            .into_iter()
            .map(|e| Archive {
                path: e.path,
                size: e.size,
                mtime: e.mtime,
                holds: None,
            })
            .collect();
        v.sort_by(|a, b| b.mtime.total_cmp(&a.mtime));
        v
    }))
}

// ---------------------------------------------------------------------------
// The slashing-protection history, where the client keeps it

/// Where the client keeps its history on this host: the unit's `ExecStart` read and
/// qrysm's own rule applied (`crate::history`), checked against a configured pin.
/// `Err` (inside the observation) when it cannot be told: the text says why.
pub async fn history_location(
    host: &dyn Host,
    pin: Option<&crate::history::HistoryPin>,
    unit: &UnitState,
    timeout: Duration,
) -> Probe<Result<crate::history::HistoryLocation, String>> {
    use crate::history::{self, LocateError, UnitLaunch};
    let mut vias = vec![format!(
        "systemctl show --property=ExecStart,User,Group,Environment"
    )];
    let client: Result<history::HistoryLocation, LocateError> = async {
        let argv = history::parse_exec_start(&unit.exec_start)?;
        let mut launch = UnitLaunch {
            argv,
            home: history::home_from_environment(&unit.environment),
            user: unit.user.clone(),
            group: unit.group.clone(),
            wallet_kinds_present: Vec::new(),
        };
        // The datadir flag alone decides, unless it is missing, the default, or `~/…`:
        // then the service's home and the wallet's accounts directories are needed.
        match history::locate(&launch) {
            Ok(l) if matches!(l.rule, history::Rule::DataDirFlag { .. }) => return Ok(l),
            _ => {}
        }
        if launch.home.is_none() {
            let user = if unit.user.is_empty() {
                "root"
            } else {
                unit.user.as_str()
            };
            let cmd = Cmd::new("getent").arg("passwd").arg("--").arg(user);
            vias.push(cmd.display());
            if let Ok(out) = host.run(&cmd, timeout).await
                && out.success()
            {
                launch.home = out
                    .stdout_text()
                    .lines()
                    .next()
                    .and_then(|l| l.split(':').nth(5))
                    .filter(|h| h.starts_with('/'))
                    .map(str::to_string);
            }
        }
        match history::locate(&launch) {
            Ok(l) => return Ok(l),
            Err(LocateError::WalletKind { wallet_dir, .. }) => {
                vias.push(format!("find {wallet_dir} -maxdepth 1"));
                if let Ok(o) = list(host, &wallet_dir, 1, None, timeout).await {
                    launch.wallet_kinds_present = o
                        .value
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|e| e.dir)
                        .filter_map(|e| e.path.rsplit('/').next().map(str::to_string))
                        .collect();
                }
            }
            Err(e) => return Err(e),
        }
        history::locate(&launch)
    }
    .await;
    let mut pin_is_dir = false;
    if let Some(p) = pin {
        let o = stat(host, &p.path, timeout).await?;
        vias.push(o.via);
        pin_is_dir = o.value.is_some_and(|f| f.kind == "directory");
    }
    let decided = history::decide(client, pin, pin_is_dir);
    Ok(Observed::new(host, vias.join("; "), decided))
}

/// Largest history that a look (preflight, gates) reads whole; the transfer reads any size.
pub const HISTORY_READ_LIMIT: u64 = 256 << 20;

/// The history of a host, found and read as the client keeps it: the unit read
/// (`ExecStart`), the location decided (`crate::history`), the file read here. A copy
/// taken while the validator writes the DB may be torn: read again, twice at most.
///
/// `known`: an earlier look at this host's history; when the file is the same
/// (path, size, time, owner, mode), its reading is taken again rather than the whole
/// DB streamed once more (a gate that looks every few seconds for hours).
pub async fn history(
    host: &dyn Host,
    v: &crate::config::ValidatorSettings,
    read_limit: u64,
    known: Option<&HistoryState>,
    timeout: Duration,
) -> Probe<HistoryState> {
    let unit = unit_state(host, &v.service, timeout).await?;
    let loc = history_location(host, v.history.as_ref(), &unit.value, timeout).await?;
    let location = loc.value.map_err(|why| unexpected(host, &loc.via, why))?;
    let mut tries = 0;
    loop {
        let o = history_state(host, location.clone(), read_limit, known, timeout).await?;
        tries += 1;
        let torn = matches!(o.value.read, Some(Err(_))) && unit.value.is_running();
        if !torn || tries >= 3 {
            return Ok(Observed {
                via: format!("{}; {}", loc.via, o.via),
                ..o
            });
        }
    }
}

/// The history file at `location`: its stat and, when it is at most `read_limit`
/// bytes, its contents read here (a copy streamed into a private temporary file,
/// then read as bbolt in qrysm's schema). Read while the validator writes it, the
/// copy may be torn: the caller says so.
pub async fn history_state(
    host: &dyn Host,
    location: crate::history::HistoryLocation,
    read_limit: u64,
    known: Option<&HistoryState>,
    timeout: Duration,
) -> Probe<HistoryState> {
    let st = stat(host, &location.file, timeout).await?;
    let mut via = st.via.clone();
    let file = st.value;
    let mut read = None;
    if let Some(k) = known
        && k.location == location
        && k.file.is_some()
        && k.file == file
        && matches!(k.read, Some(Ok(_)))
    {
        return Ok(Observed::new(
            host,
            format!("{via} (unchanged since it was read)"),
            HistoryState {
                location,
                file,
                read: k.read.clone(),
            },
        ));
    }
    if let Some(f) = &file
        && f.size > 0
        && f.size <= read_limit
        && f.kind.starts_with("regular")
    {
        let tmp = tempfile::Builder::new()
            .prefix("validator-failover-history-")
            .tempfile()
            .map_err(|e| {
                HostError::new(
                    host.role(),
                    Failure::Local,
                    "a temporary file",
                    e.to_string(),
                )
            })?;
        let path = tmp.path().to_path_buf();
        let mut sink = tokio::fs::File::create(&path).await.map_err(|e| {
            HostError::new(
                host.role(),
                Failure::Local,
                path.display().to_string(),
                e.to_string(),
            )
        })?;
        host.download(
            &location.file,
            &mut sink,
            timeout.max(Duration::from_secs(60)),
        )
        .await?;
        tokio::io::AsyncWriteExt::flush(&mut sink).await.ok();
        drop(sink);
        via = format!("{via}; cat -- {} (read here as bbolt)", location.file);
        let summary = tokio::task::spawn_blocking(move || {
            let r = crate::validator_db::summarise(&path).map_err(|e| e.to_string());
            drop(tmp);
            r
        })
        .await
        .unwrap_or_else(|e| Err(format!("the reader crashed: {e}")));
        read = Some(summary);
    }
    Ok(Observed::new(
        host,
        via,
        HistoryState {
            location,
            file,
            read,
        },
    ))
}

/// Largest archive `archive_contents` opens.
pub const ARCHIVE_OPEN_LIMIT: u64 = 256 << 20;

/// Open a backup archive (streamed here into a private temporary file): is there a
/// history in it that could stand in for the primary's, and what does it hold?
pub async fn archive_contents(
    host: &dyn Host,
    archive: &Archive,
    timeout: Duration,
) -> Result<String, String> {
    if archive.size > ARCHIVE_OPEN_LIMIT {
        return Err(format!(
            "not opened: larger than {}",
            human_bytes(ARCHIVE_OPEN_LIMIT)
        ));
    }
    let tmp = tempfile::Builder::new()
        .prefix("validator-failover-archive-")
        .tempdir()
        .map_err(|e| format!("a temporary directory: {e}"))?;
    let local = tmp.path().join("archive.tar.gz");
    let mut sink = tokio::fs::File::create(&local)
        .await
        .map_err(|e| format!("{}: {e}", local.display()))?;
    host.download(
        &archive.path,
        &mut sink,
        timeout.max(Duration::from_secs(60)),
    )
    .await
    .map_err(|e| e.to_string())?;
    tokio::io::AsyncWriteExt::flush(&mut sink).await.ok();
    drop(sink);
    let out = tmp.path().join("history");
    tokio::task::spawn_blocking(move || {
        let r = crate::archive::open_history(&local, &out).map(|(_, s, _)| s.summary());
        drop(tmp);
        r
    })
    .await
    .unwrap_or_else(|e| Err(format!("the reader crashed: {e}")))
}

// ---------------------------------------------------------------------------
// Clock

pub async fn clock(host: &dyn Host, timeout: Duration) -> Probe<ClockState> {
    let cmd = Cmd::new("date").arg("-u").arg("+%s.%N");
    let via = cmd.display();
    let t0 = unix_now();
    let out = host.run(&cmd, timeout).await?;
    let t1 = unix_now();
    let remote: f64 = out
        .stdout_text()
        .trim()
        .parse()
        .map_err(|_| unexpected(host, &via, format!("not a time: {:?}", out.stdout_text())))?;
    let ntp_cmd = Cmd::new("timedatectl")
        .arg("show")
        .arg("--property=NTPSynchronized")
        .arg("--value");
    let ntp = match host.run(&ntp_cmd, timeout).await {
        Ok(o) if o.success() => match o.stdout_text().trim() {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        },
        _ => None,
    };
    Ok(Observed::new(
        host,
        format!("{via}; {}", ntp_cmd.display()),
        ClockState {
            offset: remote - (t0 + t1) / 2.0,
            round_trip: t1 - t0,
            ntp_synchronized: ntp,
        },
    ))
}

// ---------------------------------------------------------------------------
// HTTP services: beacon, execution, metrics

async fn get_json(
    host: &dyn Host,
    endpoint: &Endpoint,
    path: &str,
    timeout: Duration,
) -> Probe<(u16, Value)> {
    let req = HttpRequest::get(endpoint, path);
    let r = host.http(&req, timeout).await?;
    let via = format!("{}{}", req.display(), r.route.via_suffix());
    let v = if r.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&r.body).map_err(|e| {
            unexpected(
                host,
                &via,
                format!("HTTP {}: not JSON ({e}): {:?}", r.status, excerpt(&r.body)),
            )
        })?
    };
    Ok(Observed::new(host, via, (r.status, v)))
}

fn excerpt(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let s: String = s.chars().take(80).collect();
    s
}

/// A field that the beacon API gives as a decimal string.
fn str_u64(v: &Value, ptr: &str) -> Option<u64> {
    match v.pointer(ptr)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// Find which API prefix the beacon node serves (or use the pinned one).
pub async fn beacon_flavour(
    host: &dyn Host,
    endpoint: &Endpoint,
    pinned: Option<BeaconFlavour>,
    timeout: Duration,
) -> Probe<BeaconFlavour> {
    let candidates: Vec<BeaconFlavour> = match pinned {
        Some(f) => vec![f],
        None => BeaconFlavour::ALL.to_vec(),
    };
    let mut tried = Vec::new();
    for f in candidates {
        let path = format!("{}/node/syncing", f.prefix());
        let req = HttpRequest::get(endpoint, &path);
        let r = host.http(&req, timeout).await?;
        if r.status != 404 {
            return Ok(Observed::new(
                host,
                format!("{}{}", req.display(), r.route.via_suffix()),
                f,
            ));
        }
        tried.push(path);
    }
    Err(unexpected(
        host,
        &format!("GET http://{endpoint}/…/node/syncing"),
        format!("the beacon node answered 404 to {}", tried.join(", ")),
    ))
}

/// `node/syncing`, `node/peer_count` and `node/health` of the beacon node.
pub async fn beacon_sync(
    host: &dyn Host,
    endpoint: &Endpoint,
    flavour: BeaconFlavour,
    timeout: Duration,
) -> Probe<BeaconSync> {
    let p = flavour.prefix();
    let s = get_json(host, endpoint, &format!("{p}/node/syncing"), timeout).await?;
    let (status, v) = &s.value;
    if *status != 200 {
        return Err(unexpected(host, &s.via, format!("HTTP {status}: {v}")));
    }
    let field = |name: &str| -> Result<&Value, HostError> {
        v.pointer(&format!("/data/{name}"))
            .ok_or_else(|| unexpected(host, &s.via, format!("no data.{name} in {v}")))
    };
    let num = |name: &str| -> Result<u64, HostError> {
        str_u64(v, &format!("/data/{name}"))
            .ok_or_else(|| unexpected(host, &s.via, format!("data.{name} is not a number in {v}")))
    };
    let boolean = |name: &str| -> Result<bool, HostError> {
        field(name)?.as_bool().ok_or_else(|| {
            unexpected(
                host,
                &s.via,
                format!("data.{name} is not true/false in {v}"),
            )
        })
    };
    let mut sync = BeaconSync {
        flavour,
        head_slot: num("head_slot")?,
        sync_distance: num("sync_distance")?,
        is_syncing: boolean("is_syncing")?,
        // Never taken as false when missing: qrysm always gives both
        // (beacon-chain/rpc/zond/node/structs.go), and false greens item 4.
        is_optimistic: boolean("is_optimistic")?,
        el_offline: boolean("el_offline")?,
        peers: None,
        health: None,
    };
    if let Ok(pc) = get_json(host, endpoint, &format!("{p}/node/peer_count"), timeout).await {
        sync.peers = str_u64(&pc.value.1, "/data/connected");
    }
    if let Ok(r) = host
        .http(
            &HttpRequest::get(endpoint, format!("{p}/node/health")),
            timeout,
        )
        .await
    {
        sync.health = Some(r.status);
    }
    Ok(Observed::new(
        host,
        format!("{}; …/node/peer_count; …/node/health", s.via),
        sync,
    ))
}

pub async fn chain_info(
    host: &dyn Host,
    endpoint: &Endpoint,
    flavour: BeaconFlavour,
    timeout: Duration,
) -> Probe<ChainInfo> {
    let p = flavour.prefix();
    let spec = get_json(host, endpoint, &format!("{p}/config/spec"), timeout).await?;
    let genesis = get_json(host, endpoint, &format!("{p}/beacon/genesis"), timeout).await?;
    let head = get_json(host, endpoint, &format!("{p}/beacon/headers/head"), timeout).await?;
    let sps = str_u64(&spec.value.1, "/data/SECONDS_PER_SLOT")
        .ok_or_else(|| unexpected(host, &spec.via, "no numeric data.SECONDS_PER_SLOT"))?;
    let spe = str_u64(&spec.value.1, "/data/SLOTS_PER_EPOCH")
        .ok_or_else(|| unexpected(host, &spec.via, "no numeric data.SLOTS_PER_EPOCH"))?;
    let gt = str_u64(&genesis.value.1, "/data/genesis_time")
        .ok_or_else(|| unexpected(host, &genesis.via, "no numeric data.genesis_time"))?;
    let clock = ChainClock::new(gt, sps, spe).ok_or_else(|| {
        unexpected(
            host,
            &spec.via,
            format!(
                "impossible timing: {sps} s slots, {spe} slots per epoch, genesis at {gt} (at most {} s)",
                crate::chain::MAX_CLOCK_SECONDS
            ),
        )
    })?;
    let head_slot = str_u64(&head.value.1, "/data/header/message/slot")
        .ok_or_else(|| unexpected(host, &head.via, "no numeric data.header.message.slot"))?;
    Ok(Observed::new(
        host,
        format!("{}; {}; {}", spec.via, genesis.via, head.via),
        ChainInfo {
            clock,
            head_slot,
            genesis_validators_root: genesis
                .value
                .1
                .pointer("/data/genesis_validators_root")
                .and_then(Value::as_str)
                .map(str::to_string),
        },
    ))
}

/// The head state's current justified checkpoint epoch
/// (`GET …/beacon/states/head/finality_checkpoints`, `data.current_justified.epoch`).
pub async fn justified_epoch(
    host: &dyn Host,
    endpoint: &Endpoint,
    flavour: BeaconFlavour,
    timeout: Duration,
) -> Probe<u64> {
    let p = flavour.prefix();
    let f = get_json(
        host,
        endpoint,
        &format!("{p}/beacon/states/head/finality_checkpoints"),
        timeout,
    )
    .await?;
    let epoch = str_u64(&f.value.1, "/data/current_justified/epoch")
        .ok_or_else(|| unexpected(host, &f.via, "no numeric data.current_justified.epoch"))?;
    Ok(Observed::new(host, f.via, epoch))
}

/// The `data` array of a beacon API answer: 200 and JSON, or an error naming why.
fn data_array(
    host: &dyn Host,
    via: &str,
    r: &crate::hosts::HttpResponse,
) -> Result<Vec<Value>, HostError> {
    let v: Value = serde_json::from_slice(&r.body).map_err(|e| {
        unexpected(
            host,
            via,
            format!("HTTP {}: not JSON ({e}): {:?}", r.status, excerpt(&r.body)),
        )
    })?;
    if r.status != 200 {
        return Err(unexpected(host, via, format!("HTTP {}: {v}", r.status)));
    }
    match v.pointer("/data") {
        Some(Value::Array(a)) => Ok(a.clone()),
        _ => Err(unexpected(host, via, format!("no data array in {v}"))),
    }
}

/// Validators of the head state by index or public key
/// (`GET …/beacon/states/head/validators?id=…`, the only form qrysm serves: POST is
/// 405). Asked in batches, so that a URL stays short with 2,592-byte keys.
pub async fn validators(
    host: &dyn Host,
    endpoint: &Endpoint,
    flavour: BeaconFlavour,
    ids: &[String],
    timeout: Duration,
) -> Probe<Vec<ValidatorState>> {
    let mut out = Vec::new();
    let mut vias = Vec::new();
    let batch = if ids.iter().any(|i| i.len() > 64) {
        4
    } else {
        64
    };
    for chunk in ids.chunks(batch) {
        let query: Vec<String> = chunk.iter().map(|i| format!("id={i}")).collect();
        let req = HttpRequest::get(
            endpoint,
            format!(
                "{}/beacon/states/head/validators?{}",
                flavour.prefix(),
                query.join("&")
            ),
        );
        let via = format!(
            "GET {}/beacon/states/head/validators?id=… ({} id(s))",
            flavour.prefix(),
            chunk.len()
        );
        let r = host.http(&req, timeout).await?;
        let via = format!("{via}{}", r.route.via_suffix());
        let data = data_array(host, &via, &r)?;
        for d in &data {
            let index = str_u64(d, "/index")
                .ok_or_else(|| unexpected(host, &via, format!("no index in {d}")))?;
            let pubkey = d
                .pointer("/validator/pubkey")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    unexpected(host, &via, format!("no validator.pubkey for index {index}"))
                })?
                .to_lowercase();
            let slashed = match d.pointer("/validator/slashed") {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
                other => {
                    return Err(unexpected(
                        host,
                        &via,
                        format!("validator.slashed of index {index} is {other:?}, not a boolean"),
                    ));
                }
            };
            out.push(ValidatorState {
                index,
                pubkey,
                status: d
                    .pointer("/status")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                slashed,
                balance: str_u64(d, "/balance"),
            });
        }
        vias.push(via);
    }
    vias.dedup();
    Ok(Observed::new(host, vias.join("; "), out))
}

/// The validator index of each public key the beacon node knows: asked by the
/// configured indices when there are any (short URLs), else by the keys themselves.
pub async fn validator_indices(
    host: &dyn Host,
    endpoint: &Endpoint,
    flavour: BeaconFlavour,
    indices: &[u64],
    pubkeys: &[String],
    timeout: Duration,
) -> Probe<std::collections::BTreeMap<String, u64>> {
    let ids: Vec<String> = if indices.is_empty() {
        pubkeys.to_vec()
    } else {
        indices.iter().map(u64::to_string).collect()
    };
    let o = validators(host, endpoint, flavour, &ids, timeout).await?;
    Ok(o.map(|v| {
        v.into_iter()
            .filter(|s| {
                pubkeys.is_empty() || pubkeys.iter().any(|p| p.eq_ignore_ascii_case(&s.pubkey))
            })
            .map(|s| (s.pubkey, s.index))
            .collect()
    }))
}

pub async fn liveness(
    host: &dyn Host,
    endpoint: &Endpoint,
    flavour: BeaconFlavour,
    epoch: u64,
    indices: &[u64],
    timeout: Duration,
) -> Probe<Vec<(u64, bool)>> {
    let body = json!(indices.iter().map(|i| i.to_string()).collect::<Vec<_>>());
    let req = HttpRequest::post_json(
        endpoint,
        format!("{}/validator/liveness/{epoch}", flavour.prefix()),
        &body,
    );
    let r = host.http(&req, timeout).await?;
    let via = format!("{}{}", req.display(), r.route.via_suffix());
    let data = data_array(host, &via, &r)?;
    let mut out = Vec::new();
    for d in &data {
        let i = str_u64(d, "/index")
            .ok_or_else(|| unexpected(host, &via, format!("no index in {d}")))?;
        let live = d
            .get("is_live")
            .and_then(Value::as_bool)
            .ok_or_else(|| unexpected(host, &via, format!("no is_live in {d}")))?;
        out.push((i, live));
    }
    for i in indices {
        if !out.iter().any(|(k, _)| k == i) {
            return Err(unexpected(
                host,
                &via,
                format!("the answer leaves out index {i}"),
            ));
        }
    }
    Ok(Observed::new(host, via, out))
}

fn hex_u64(v: &Value) -> Option<u64> {
    let s = v.as_str()?;
    u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

async fn rpc(
    host: &dyn Host,
    endpoint: &Endpoint,
    method: &str,
    timeout: Duration,
) -> Probe<Result<Value, (i64, String)>> {
    let req = HttpRequest::post_json(
        endpoint,
        "/",
        &json!({"jsonrpc": "2.0", "method": method, "params": [], "id": 1}),
    );
    // A failed request names its method: every JSON-RPC request is a POST to `/`.
    let r = host.http(&req, timeout).await.map_err(|e| HostError {
        what: format!("{} {method}", e.what),
        ..e
    })?;
    let via = format!("{} {method}{}", req.display(), r.route.via_suffix());
    let v: Value = serde_json::from_slice(&r.body).map_err(|e| {
        unexpected(
            host,
            &via,
            format!(
                "HTTP {}: not JSON-RPC ({e}): {:?}",
                r.status,
                excerpt(&r.body)
            ),
        )
    })?;
    if let Some(err) = v.get("error") {
        let code = err.get("code").and_then(Value::as_i64).unwrap_or(0);
        let msg = err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        return Ok(Observed::new(host, via, Err((code, msg))));
    }
    match v.get("result") {
        Some(res) => Ok(Observed::new(host, via, Ok(res.clone()))),
        None => Err(unexpected(
            host,
            &via,
            format!("neither result nor error in {v}"),
        )),
    }
}

async fn peer_count(host: &dyn Host, endpoint: &Endpoint, timeout: Duration) -> Option<u64> {
    match rpc(host, endpoint, "net_peerCount", timeout).await {
        Ok(o) => o.value.ok().as_ref().and_then(hex_u64),
        Err(_) => None,
    }
}

/// The execution client's sync state, detecting which syncing method it answers.
/// When it answers none (-32601 to each: the module is not enabled), the beacon node
/// at `beacon` is asked how it sees its execution client.
pub async fn execution_sync(
    host: &dyn Host,
    endpoint: &Endpoint,
    pinned: Option<ExecutionFlavour>,
    beacon: &BeaconSettings,
    timeout: Duration,
) -> Probe<ExecutionSync> {
    let candidates: Vec<ExecutionFlavour> = match pinned {
        Some(f) => vec![f],
        None => ExecutionFlavour::ALL.to_vec(),
    };
    let mut tried = Vec::new();
    let mut vias = Vec::new();
    for f in candidates {
        let r = rpc(host, endpoint, f.syncing_method(), timeout).await?;
        let via = r.via.clone();
        match r.value {
            Err((-32601, _)) => {
                tried.push(f.syncing_method());
                vias.push(via);
                continue;
            }
            Err((code, msg)) => return Err(unexpected(host, &via, format!("error {code}: {msg}"))),
            Ok(res) => {
                let (syncing, current, highest) = match &res {
                    Value::Bool(false) => (false, None, None),
                    Value::Object(o) => (
                        true,
                        o.get("currentBlock").and_then(hex_u64),
                        o.get("highestBlock").and_then(hex_u64),
                    ),
                    other => {
                        return Err(unexpected(
                            host,
                            &via,
                            format!("not false or a sync object: {other}"),
                        ));
                    }
                };
                let peers = peer_count(host, endpoint, timeout).await;
                return Ok(Observed::new(
                    host,
                    format!("{via}; net_peerCount"),
                    ExecutionSync {
                        method: f,
                        syncing,
                        current_block: current,
                        highest_block: highest,
                        peers,
                        basis: ExecutionBasis::Direct,
                    },
                ));
            }
        }
    }
    // No syncing method at all: the beacon node's view of its execution client.
    let refused = format!(
        "the execution client has none of {} (-32601)",
        tried.join(", ")
    );
    let bv = async {
        let flavour = beacon_flavour(host, &beacon.endpoint, beacon.api, timeout).await?;
        get_json(
            host,
            &beacon.endpoint,
            &format!("{}/node/syncing", flavour.value.prefix()),
            timeout,
        )
        .await
    };
    let s = bv.await.map_err(|e| {
        HostError::new(
            e.host,
            e.failure,
            e.what.clone(),
            format!(
                "{refused}, and the beacon node's view could not be read: {}",
                e.detail
            ),
        )
    })?;
    let (status, v) = &s.value;
    if *status != 200 {
        return Err(unexpected(
            host,
            &s.via,
            format!("{refused}, and the beacon node answered HTTP {status}: {v}"),
        ));
    }
    let peers = peer_count(host, endpoint, timeout).await;
    Ok(Observed::new(
        host,
        format!("{}; {}; net_peerCount", vias.join("; "), s.via),
        ExecutionSync {
            method: pinned.unwrap_or(ExecutionFlavour::Zond),
            syncing: false,
            current_block: None,
            highest_block: None,
            peers,
            basis: ExecutionBasis::BeaconView {
                is_optimistic: v.pointer("/data/is_optimistic").and_then(Value::as_bool),
                el_offline: v.pointer("/data/el_offline").and_then(Value::as_bool),
            },
        },
    ))
}

pub async fn metrics(host: &dyn Host, endpoint: &Endpoint, timeout: Duration) -> Probe<Metrics> {
    let req = HttpRequest::get(endpoint, "/metrics");
    let r = match host.http(&req, timeout).await {
        Ok(r) => r,
        // Only a refused connection on the host is evidence that nothing listens: a
        // forward the sshd refused, a timeout or a missing curl is "could not be read".
        Err(e) if e.failure == Failure::NothingListens => {
            return Ok(Observed::new(
                host,
                format!("{}: {}", req.display(), e.detail),
                Metrics {
                    answering: false,
                    successful_attestations: None,
                    keys: 0,
                },
            ));
        }
        Err(e) => return Err(e),
    };
    let via = format!("{}{}", req.display(), r.route.via_suffix());
    if r.status != 200 {
        return Err(unexpected(host, &via, format!("HTTP {}", r.status)));
    }
    let text = String::from_utf8_lossy(&r.body);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .map_err(|e| unexpected(host, &via, format!("not Prometheus text: {e}")))?;
    let mut total = None;
    let mut keys = std::collections::BTreeSet::new();
    for s in &scrape.samples {
        if s.metric == "validator_successful_attestations" {
            let v = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            };
            *total.get_or_insert(0.0) += v;
        }
        if let Some(pk) = s.labels.get("pubkey") {
            keys.insert(pk.to_string());
        }
    }
    Ok(Observed::new(
        host,
        via,
        Metrics {
            answering: true,
            successful_attestations: total,
            keys: keys.len(),
        },
    ))
}

/// The validator's journal lines since a unix second (messages only).
pub async fn journal_since(
    host: &dyn Host,
    unit: &str,
    since: u64,
    timeout: Duration,
) -> Probe<Vec<String>> {
    let cmd = Cmd::new("journalctl")
        .arg("-u")
        .arg(unit)
        .arg("--since")
        .arg(format!("@{since}"))
        .arg("-o")
        .arg("cat")
        .arg("--no-pager")
        .arg("-q");
    let via = cmd.display();
    let out = host.run(&cmd, timeout).await?;
    if !out.success() {
        return Err(unexpected(
            host,
            &via,
            format!("journalctl failed: {}", out.stderr_text()),
        ));
    }
    Ok(Observed::new(
        host,
        via,
        out.stdout_text().lines().map(str::to_string).collect(),
    ))
}

/// Which of `indices` the beacon node's attester-slashing pool holds (both
/// attestations of a slashing name the index).
pub async fn slashings_of(
    host: &dyn Host,
    endpoint: &Endpoint,
    flavour: BeaconFlavour,
    indices: &[u64],
    timeout: Duration,
) -> Probe<Vec<u64>> {
    let o = get_json(
        host,
        endpoint,
        &format!("{}/beacon/pool/attester_slashings", flavour.prefix()),
        timeout,
    )
    .await?;
    let (status, v) = &o.value;
    if *status != 200 {
        return Err(unexpected(host, &o.via, format!("HTTP {status}: {v}")));
    }
    let data = v
        .pointer("/data")
        .and_then(Value::as_array)
        .ok_or_else(|| unexpected(host, &o.via, format!("no data array in {v}")))?;
    // An attestation whose indices cannot all be read is refused, never read as
    // naming none of ours: that would be "not slashed" on no evidence.
    let idx = |a: &Value| -> Option<std::collections::BTreeSet<u64>> {
        a.pointer("/attesting_indices")?
            .as_array()?
            .iter()
            .map(|x| str_u64(x, ""))
            .collect()
    };
    let mut ours = std::collections::BTreeSet::new();
    for s in data {
        let (Some(a1), Some(a2)) = (
            s.get("attestation_1").and_then(idx),
            s.get("attestation_2").and_then(idx),
        ) else {
            return Err(unexpected(
                host,
                &o.via,
                format!(
                    "a slashing without two attestations whose attesting_indices are numbers: {s}"
                ),
            ));
        };
        let both: Vec<u64> = a1.intersection(&a2).copied().collect();
        ours.extend(both.into_iter().filter(|k| indices.contains(k)));
    }
    Ok(Observed::new(
        host,
        o.via.clone(),
        ours.into_iter().collect(),
    ))
}

/// Follow the validator's journal (`journalctl -f`).
pub async fn journal_tail(
    host: &dyn Host,
    unit: &str,
    lines: u32,
) -> Result<LineStream, HostError> {
    let cmd = Cmd::new("journalctl")
        .arg("-u")
        .arg(unit)
        .arg("-f")
        .arg("-n")
        .arg(lines.to_string())
        .arg("-o")
        .arg("short-iso")
        .arg("--no-pager");
    host.stream_lines(&cmd).await
}

/// Probe settings derived from the configuration.
pub fn timeout(cfg: &Config) -> Duration {
    cfg.ssh.command_timeout
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bbolt_magic_at_offset_16() {
        let db = crate::hosts::sim::new_db();
        assert_eq!(history_kind(&db), HistoryKind::Bbolt);
        let mut wrong = db.clone();
        wrong[16] ^= 1;
        assert_eq!(history_kind(&wrong), HistoryKind::Unknown);
        assert_eq!(
            history_kind(b"{\"metadata\":{\"interchange_format_version\":\"5\"}}"),
            HistoryKind::Eip3076
        );
        assert_eq!(history_kind(b"hello"), HistoryKind::Unknown);
        assert_eq!(history_kind(b""), HistoryKind::Unknown);
    }

    #[test]
    fn unit_state_words_compared_whole() {
        let mut u = UnitState {
            load_state: "loaded".into(),
            active_state: "inactive".into(),
            sub_state: "dead".into(),
            main_pid: 0,
            unit_file_state: "disabled".into(),
            n_restarts: 0,
            drop_in_paths: Vec::new(),
            exec_start: String::new(),
            user: String::new(),
            group: String::new(),
            environment: String::new(),
        };
        assert!(u.is_stopped() && !u.is_running());
        u.main_pid = 42;
        assert!(!u.is_stopped(), "a main PID means something still runs");
        u.active_state = "activating".into();
        assert!(!u.is_running() && !u.is_stopped());
        u.active_state = "active".into();
        u.sub_state = "running".into();
        assert!(u.is_running());
    }

    #[test]
    fn beacon_problems_are_named() {
        let s = BeaconSync {
            flavour: BeaconFlavour::Zond,
            head_slot: 10,
            sync_distance: 0,
            is_syncing: false,
            is_optimistic: false,
            el_offline: false,
            peers: Some(3),
            health: Some(200),
        };
        assert_eq!(s.problem(2), None);
        let syncing = BeaconSync {
            is_syncing: true,
            sync_distance: 120,
            ..s.clone()
        };
        assert!(
            syncing
                .problem(2)
                .unwrap()
                .contains("syncing (120 slots behind)")
        );
        let lagging = BeaconSync {
            sync_distance: 5,
            ..s.clone()
        };
        assert!(lagging.problem(2).unwrap().contains("5 slots behind"));
        let lonely = BeaconSync {
            peers: Some(0),
            ..s
        };
        assert_eq!(lonely.problem(2).unwrap(), "no peers");
    }

    fn exec(basis: ExecutionBasis, syncing: bool, peers: Option<u64>) -> ExecutionSync {
        ExecutionSync {
            method: ExecutionFlavour::Zond,
            syncing,
            current_block: syncing.then_some(16),
            highest_block: syncing.then_some(1024),
            peers,
            basis,
        }
    }

    #[test]
    fn execution_judged_by_its_own_method() {
        let e = exec(ExecutionBasis::Direct, false, Some(25));
        assert_eq!(e.problem(), None);
        assert_eq!(e.summary(), "zond_syncing = false peers=25");
        let e = exec(ExecutionBasis::Direct, true, Some(25));
        assert_eq!(e.problem().unwrap(), "syncing (block 16 of 1024)");
        assert_eq!(
            exec(ExecutionBasis::Direct, false, Some(0))
                .problem()
                .unwrap(),
            "no peers"
        );
        assert_eq!(
            exec(ExecutionBasis::Direct, false, None).problem().unwrap(),
            "peer count unknown"
        );
    }

    /// Every syncing method refused (-32601): every combination of the beacon node's
    /// view and the peer count; ready only with both flags reported false and peers.
    #[test]
    fn execution_without_a_syncing_method_is_ready_only_on_the_beacons_word() {
        let flags = [None, Some(false), Some(true)];
        for is_optimistic in flags {
            for el_offline in flags {
                for peers in [None, Some(0), Some(12)] {
                    // `syncing` is what a refused method leaves: never read as synced.
                    for syncing in [false, true] {
                        let e = exec(
                            ExecutionBasis::BeaconView {
                                is_optimistic,
                                el_offline,
                            },
                            syncing,
                            peers,
                        );
                        let ready = is_optimistic == Some(false)
                            && el_offline == Some(false)
                            && peers.is_some_and(|p| p > 0);
                        assert_eq!(
                            e.problem().is_none(),
                            ready,
                            "{is_optimistic:?} {el_offline:?} {peers:?}: {:?}",
                            e.problem()
                        );
                        let p = e.problem().unwrap_or_default();
                        if is_optimistic == Some(true) {
                            assert!(p.contains("optimistic"), "{p}");
                        }
                        if is_optimistic.is_none() {
                            assert!(p.contains("does not report is_optimistic"), "{p}");
                        }
                        if el_offline == Some(true) {
                            assert!(p.contains("el_offline"), "{p}");
                        }
                        if el_offline.is_none() {
                            assert!(p.contains("does not report el_offline"), "{p}");
                        }
                    }
                }
            }
        }
        let e = exec(
            ExecutionBasis::BeaconView {
                is_optimistic: Some(false),
                el_offline: Some(false),
            },
            false,
            Some(12),
        );
        assert_eq!(
            e.summary(),
            "judged by the beacon node's view: is_optimistic=false, el_offline=false; peers 12 (zond_syncing not enabled: add zond to gzond's --http.api (e.g. --http.api zond,net,web3) for the direct check)"
        );
    }
}
