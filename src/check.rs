//! `validator-failover check`: the read-only preflight on both hosts, concurrently.

use std::sync::Arc;

use serde_json::json;

use crate::chain::unix_now;
use crate::config::{Config, Role};
use crate::engine::preflight::{self, HostObservations, Preflight, Verdict};
use crate::hosts::Host;
use crate::probes;

/// The backup archives on a host, the newest opened: does it hold a history?
async fn archives_opened(host: &dyn Host, cfg: &Config) -> probes::Probe<Vec<probes::Archive>> {
    let t = cfg.ssh.command_timeout;
    let mut o = probes::archives(host, &cfg.backups, t).await?;
    if let Some(newest) = o.value.first_mut() {
        newest.holds = Some(probes::archive_contents(host, newest, t).await);
        o.via = format!("{}; cat -- {} (opened here)", o.via, newest.path);
    }
    Ok(o)
}

/// Observe one host: connect, then every probe at once.
pub async fn observe(cfg: &Config, host: &dyn Host) -> HostObservations {
    let role = host.role();
    let describe = host.describe();
    if let Err(e) = host.connect(cfg.ssh.connect_timeout).await {
        return HostObservations::unreachable(role, describe, e);
    }
    let t = cfg.ssh.command_timeout;
    let v = &cfg.validator;
    let beacon = async {
        let flavour = probes::beacon_flavour(host, &cfg.beacon.endpoint, cfg.beacon.api, t).await?;
        let f = flavour.value;
        let (sync, chain) = tokio::join!(
            probes::beacon_sync(host, &cfg.beacon.endpoint, f, t),
            probes::chain_info(host, &cfg.beacon.endpoint, f, t)
        );
        let liveness = match (&chain, v.indices.is_empty()) {
            (Ok(c), false) => {
                // The previous epoch: liveness early in the current one proves little.
                let epoch = c.value.clock.epoch_at(unix_now()).saturating_sub(1);
                Some(
                    probes::liveness(host, &cfg.beacon.endpoint, f, epoch, &v.indices, t)
                        .await
                        .map(|o| o.map(|l| (epoch, l))),
                )
            }
            _ => None,
        };
        Ok::<_, crate::hosts::HostError>((sync, chain, liveness))
    };
    let (unit, processes, lock, metrics, beacon, execution, clock, history, archives) = tokio::join!(
        probes::unit_state(host, &v.service, t),
        probes::processes(host, &v.process_name, t),
        probes::lock_file(host, &v.lock_file, t),
        probes::metrics(host, &cfg.metrics, t),
        beacon,
        probes::execution_sync(
            host,
            &cfg.execution.endpoint,
            cfg.execution.api,
            &cfg.beacon,
            t
        ),
        probes::clock(host, t),
        probes::history(host, v, probes::HISTORY_READ_LIMIT, None, t),
        archives_opened(host, cfg),
    );
    let (beacon, chain, liveness) = match beacon {
        Ok((s, c, l)) => (s, c, l),
        Err(e) => (Err(e.clone()), Err(e), None),
    };
    HostObservations {
        role,
        describe,
        reach: Ok(()),
        unit: Some(unit),
        processes: Some(processes),
        lock: Some(lock),
        metrics: Some(metrics),
        beacon: Some(beacon),
        execution: Some(execution),
        chain: Some(chain),
        clock: Some(clock),
        history: Some(history),
        archives: Some(archives),
        liveness,
        http_way: Some(host.http_way()),
    }
}

/// The whole preflight: both hosts at once, then judged.
pub async fn preflight(cfg: &Config, primary: Arc<dyn Host>, backup: Arc<dyn Host>) -> Preflight {
    let (p, b) = tokio::join!(
        observe(cfg, primary.as_ref()),
        observe(cfg, backup.as_ref())
    );
    preflight::evaluate(cfg, &[p, b], unix_now())
}

fn clock_time(unix: f64) -> String {
    jiff::Timestamp::from_second(unix as i64)
        .map(|t| t.strftime("%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// The preflight as a table a person reads at night. `color` adds ANSI colours.
pub fn render_table(p: &Preflight, color: bool) -> String {
    let mut s = String::new();
    let paint = |v: Verdict, text: &str| -> String {
        if !color {
            return text.to_string();
        }
        let code = match v {
            Verdict::Green => "32",
            Verdict::Warn => "33",
            Verdict::Red => "1;31",
            Verdict::Unknown => "35",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    };
    let width = p
        .items
        .iter()
        .map(|i| i.title.chars().count())
        .max()
        .unwrap_or(10);
    let mut last_host: Option<Option<Role>> = None;
    for i in &p.items {
        if last_host != Some(i.host) {
            let head = match i.host {
                None => "── pair".to_string(),
                Some(r) => format!("── {r}"),
            };
            s.push_str(&format!("{head}\n"));
            last_host = Some(i.host);
        }
        s.push_str(&format!(
            "{} {:width$}  {}\n",
            paint(i.verdict, i.verdict.symbol()),
            i.title,
            i.summary,
        ));
        for e in &i.evidence {
            s.push_str(&format!(
                "      {:width$}  ↳ {} {} {}\n",
                "",
                clock_time(e.at),
                e.host,
                e.via
            ));
        }
    }
    let red: Vec<&str> = p.red().map(|i| i.id.as_str()).collect();
    let warn = p
        .items
        .iter()
        .filter(|i| i.verdict == Verdict::Warn)
        .count();
    if red.is_empty() {
        s.push_str(&paint(
            Verdict::Green,
            &format!(
                "\nPREFLIGHT GREEN: {} checks, {warn} warning(s)\n",
                p.items.len()
            ),
        ));
    } else {
        s.push_str(&paint(
            Verdict::Red,
            &format!(
                "\nPREFLIGHT RED: {} of {} checks: {}\n",
                red.len(),
                p.items.len(),
                red.join(", ")
            ),
        ));
    }
    s
}

/// The preflight as data, for automation.
pub fn render_json(cfg: &Config, p: &Preflight) -> serde_json::Value {
    json!({
        "config": cfg.source.as_ref().map(|s| &s.path),
        "config_origin": cfg.source.as_ref().map(|s| s.origin),
        "primary": cfg.primary.display_destination(),
        "backup": cfg.backup.display_destination(),
        "at": p.at,
        "ok": p.all_green(),
        "chain": p.chain,
        "items": p.items,
    })
}
