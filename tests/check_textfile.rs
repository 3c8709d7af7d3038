//! `check --textfile`: the preflight as node_exporter textfile metrics, read back by
//! real Prometheus parsers, never by matching strings: the `prometheus-parse` crate,
//! the real node_exporter (Debian `prometheus-node-exporter`) reading the textfile
//! directory and scraped over loopback, and `promtool check metrics`; the alert rules
//! shipped beside them through `promtool check rules` and `promtool test rules`.
//!
//! The preflights are the simulated pair's (`tests/common`): green, red, and with an
//! unreachable host. Needs `apt-get install prometheus-node-exporter prometheus` (as
//! `.ci/run` does); a missing tool fails the test, naming its package.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{Fault, Pair, SimPair};
use validator_failover::check;
use validator_failover::config::Role;
use validator_failover::engine::preflight::{Preflight, Verdict};
use validator_failover::textfile;

/// (metric name, labels) → value.
type Series = BTreeMap<(String, BTreeMap<String, String>), f64>;

/// Parse exposition text with prometheus-parse: every sample a gauge (so its TYPE
/// line was read) with a HELP line.
fn parse(text: &str) -> Series {
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses");
    let mut out = Series::new();
    for s in scrape.samples {
        let value = match s.value {
            prometheus_parse::Value::Gauge(v) => v,
            other => panic!("{} is not a gauge: {other:?}", s.metric),
        };
        assert!(
            scrape.docs.contains_key(&s.metric),
            "{} has no HELP line",
            s.metric
        );
        let labels = s
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let dup = out.insert((s.metric.clone(), labels), value);
        assert!(dup.is_none(), "{} twice", s.metric);
    }
    out
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn get(series: &Series, metric: &str, l: &[(&str, &str)]) -> Option<f64> {
    series.get(&(metric.to_string(), labels(l))).copied()
}

fn preflight(fault: Option<Fault>) -> (validator_failover::config::Config, Preflight) {
    let pair = SimPair::new();
    if let Some(f) = fault {
        pair.apply(f);
    }
    let (p, b) = pair.hosts();
    let cfg = pair.config();
    let pf = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(check::preflight(&cfg, p, b));
    (cfg, pf)
}

fn host_of(i: &validator_failover::engine::preflight::CheckItem) -> &'static str {
    i.host.map(|r| r.as_str()).unwrap_or("pair")
}

/// The parsed metrics say what the typed preflight says: every check's 0/1 and
/// warning under its host and its check id, the totals, the time, the figures.
fn assert_series_match(series: &Series, pf: &Preflight) {
    let ok_samples = series
        .keys()
        .filter(|(m, _)| m == "validator_failover_check_ok")
        .count();
    assert_eq!(ok_samples, pf.items.len(), "one check_ok sample per check");
    for i in &pf.items {
        let l = [("host", host_of(i)), ("check", i.check.name())];
        assert_eq!(
            get(series, "validator_failover_check_ok", &l),
            Some(if i.verdict.fails() { 0.0 } else { 1.0 }),
            "{} ({:?}: {})",
            i.id,
            i.verdict,
            i.summary
        );
        assert_eq!(
            get(series, "validator_failover_check_warning", &l),
            Some(if i.verdict == Verdict::Warn { 1.0 } else { 0.0 }),
            "{}",
            i.id
        );
    }
    assert_eq!(
        get(series, "validator_failover_check_success", &[]),
        Some(if pf.all_green() { 1.0 } else { 0.0 })
    );
    assert_eq!(
        get(series, "validator_failover_check_red", &[]),
        Some(pf.red().count() as f64)
    );
    assert_eq!(
        get(series, "validator_failover_check_timestamp_seconds", &[]),
        Some(pf.at)
    );
    for h in &pf.hosts {
        let l = [("host", h.role.as_str())];
        assert_eq!(
            get(series, "validator_failover_clock_offset_seconds", &l),
            h.clock_offset
        );
        assert_eq!(
            get(series, "validator_failover_archives", &l),
            h.archives.map(|n| n as f64)
        );
        assert_eq!(
            get(series, "validator_failover_newest_archive_age_seconds", &l),
            h.newest_archive_age
        );
    }
}

#[test]
fn a_green_preflight_reads_back_as_every_check_ok() {
    let (cfg, pf) = preflight(None);
    assert!(pf.all_green());
    let series = parse(&textfile::render(&cfg, &pf));
    assert_series_match(&series, &pf);
    assert_eq!(
        get(&series, "validator_failover_check_success", &[]),
        Some(1.0)
    );
    assert_eq!(
        get(
            &series,
            "validator_failover_check_ok",
            &[("host", "backup"), ("check", "beacon_synced")]
        ),
        Some(1.0)
    );
    assert_eq!(
        get(
            &series,
            "validator_failover_check_ok",
            &[("host", "pair"), ("check", "chain_timing")]
        ),
        Some(1.0)
    );
    // Both hosts answered: both clocks and both archive listings are there; the
    // simulated backup has the reference role's two archives, the newest 10 min old.
    for role in Role::BOTH {
        let l = [("host", role.as_str())];
        assert!(get(&series, "validator_failover_clock_offset_seconds", &l).is_some());
    }
    assert_eq!(
        get(
            &series,
            "validator_failover_archives",
            &[("host", "backup")]
        ),
        Some(2.0)
    );
    let age = get(
        &series,
        "validator_failover_newest_archive_age_seconds",
        &[("host", "backup")],
    )
    .unwrap();
    assert!((500.0..700.0).contains(&age), "newest archive age {age}");
    // The reference role's archives hold no history: a warning, not a failure.
    assert_eq!(
        get(
            &series,
            "validator_failover_check_warning",
            &[("host", "backup"), ("check", "backup_archives")]
        ),
        Some(1.0)
    );
    assert_eq!(
        get(
            &series,
            "validator_failover_host_info",
            &[
                ("host", "backup"),
                ("name", &cfg.backup.name),
                ("destination", &cfg.backup.display_destination())
            ]
        ),
        Some(1.0)
    );
}

#[test]
fn a_red_preflight_reads_back_with_the_red_check_at_zero() {
    let (cfg, pf) = preflight(Some(Fault::BackupUnlocked));
    assert!(!pf.all_green());
    let series = parse(&textfile::render(&cfg, &pf));
    assert_series_match(&series, &pf);
    assert_eq!(
        get(&series, "validator_failover_check_success", &[]),
        Some(0.0)
    );
    assert_eq!(get(&series, "validator_failover_check_red", &[]), Some(1.0));
    assert_eq!(
        get(
            &series,
            "validator_failover_check_ok",
            &[("host", "backup"), ("check", "lock_file")]
        ),
        Some(0.0)
    );
    assert_eq!(
        get(
            &series,
            "validator_failover_check_ok",
            &[("host", "primary"), ("check", "lock_file")]
        ),
        Some(1.0)
    );
}

#[test]
fn an_unreachable_host_has_its_checks_at_zero_and_no_figures() {
    let (cfg, pf) = preflight(Some(Fault::PrimaryPoweredOff));
    let series = parse(&textfile::render(&cfg, &pf));
    assert_series_match(&series, &pf);
    for c in ["ssh", "validator_service", "clock_synchronised"] {
        assert_eq!(
            get(
                &series,
                "validator_failover_check_ok",
                &[("host", "primary"), ("check", c)]
            ),
            Some(0.0),
            "{c}"
        );
    }
    let primary = [("host", "primary")];
    assert_eq!(
        get(&series, "validator_failover_clock_offset_seconds", &primary),
        None
    );
    assert_eq!(get(&series, "validator_failover_archives", &primary), None);
    assert!(
        get(
            &series,
            "validator_failover_clock_offset_seconds",
            &[("host", "backup")]
        )
        .is_some()
    );
}

#[test]
fn every_check_id_is_distinct_snake_case() {
    use validator_failover::engine::preflight::CheckId;
    let mut seen = std::collections::BTreeSet::new();
    for c in CheckId::ALL {
        let n = c.name();
        assert!(
            !n.is_empty() && n.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'),
            "{n}"
        );
        assert!(seen.insert(n), "{n} twice");
    }
    // Every row of a preflight carries one of them.
    let (_, pf) = preflight(Some(Fault::PrimaryPoweredOff));
    for i in &pf.items {
        assert!(CheckId::ALL.contains(&i.check), "{}", i.id);
    }
}

fn tool(name: &str, package: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} is not installed: apt-get install {package} (as .ci/run does)");
}

/// A node_exporter of our own on a loopback port, reading only the textfile directory;
/// killed (by its PID, through the handle) when dropped.
struct NodeExporter {
    child: Child,
    url: String,
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeExporter {
    fn start(dir: &Path) -> NodeExporter {
        let bin = tool("prometheus-node-exporter", "prometheus-node-exporter");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--collector.disable-defaults")
            .arg("--collector.textfile")
            .arg(format!("--collector.textfile.directory={}", dir.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node_exporter starts");
        NodeExporter {
            child,
            url: format!("http://127.0.0.1:{port}/metrics"),
        }
    }

    /// One scrape, once it answers (a bounded number of tries).
    fn scrape(&mut self) -> String {
        let rt = tokio::runtime::Runtime::new().unwrap();
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("node_exporter exited: {status}");
            }
            let got = rt.block_on(async {
                let r = reqwest::get(&self.url).await?;
                r.error_for_status()?.text().await
            });
            match got {
                Ok(text) => return text,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
            }
        }
        panic!("node_exporter never answered on {}", self.url);
    }
}

/// Our families as node_exporter serves them.
fn ours(series: &Series) -> Series {
    series
        .iter()
        .filter(|((m, _), _)| m.starts_with("validator_failover_"))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

#[test]
fn the_real_node_exporter_reads_the_textfile_green_then_red() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("validator-failover.prom");
    let mut exporter = NodeExporter::start(dir.path());
    for fault in [None, Some(Fault::BackupUnlocked)] {
        let (cfg, pf) = preflight(fault);
        let text = textfile::render(&cfg, &pf);
        textfile::write_atomically(&path, &text).unwrap();
        let scraped = parse_scrape(&exporter.scrape());
        assert_eq!(
            get(&scraped, "node_textfile_scrape_error", &[]),
            Some(0.0),
            "node_exporter could not read the textfile ({fault:?}):\n{text}"
        );
        assert!(
            get(
                &scraped,
                "node_textfile_mtime_seconds",
                &[("file", &path.display().to_string())]
            )
            .is_some()
                || get(
                    &scraped,
                    "node_textfile_mtime_seconds",
                    &[("file", "validator-failover.prom")]
                )
                .is_some(),
            "node_exporter did not read {}",
            path.display()
        );
        let served = ours(&scraped);
        assert_eq!(
            served,
            parse(&text),
            "node_exporter serves exactly what was written ({fault:?})"
        );
        assert_series_match(&served, &pf);
    }
}

/// A node_exporter scrape: its own families are typed too, but some are counters
/// or untyped; keep the values whatever their type.
fn parse_scrape(text: &str) -> Series {
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses");
    let mut out = Series::new();
    for s in scrape.samples {
        let value = match s.value {
            prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => continue,
        };
        let labels = s
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.insert((s.metric, labels), value);
    }
    out
}

fn promtool(args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let bin = tool("promtool", "prometheus");
    let mut child = Command::new(bin)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

#[test]
fn promtool_finds_no_problem_in_the_metrics() {
    for fault in [
        None,
        Some(Fault::BackupUnlocked),
        Some(Fault::PrimaryPoweredOff),
    ] {
        let (cfg, pf) = preflight(fault);
        let text = textfile::render(&cfg, &pf);
        let out = promtool(&["check", "metrics"], Some(&text));
        assert!(
            out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
            "promtool check metrics ({fault:?}): {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_alert_rules_are_valid_and_fire_as_their_tests_say() {
    let rules = "assets/prometheus/validator-failover-alerts.yml";
    let out = promtool(&["check", "rules", rules], None);
    assert!(
        out.status.success(),
        "promtool check rules: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = promtool(&["test", "rules", "tests/prometheus/alerts.test.yml"], None);
    assert!(
        out.status.success(),
        "promtool test rules: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_textfile_the_collector_would_not_read_is_refused_before_any_probe() {
    // An unreachable pair: were the hosts probed first, this would wait for timeouts.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("pair.toml");
    std::fs::write(
        &cfg,
        "[primary]\nssh = \"primary.invalid\"\n[backup]\nssh = \"backup.invalid\"\n",
    )
    .unwrap();
    let run = |textfile: &Path| {
        assert_cmd::Command::cargo_bin("validator-failover")
            .unwrap()
            .arg("check")
            .arg("--config")
            .arg(&cfg)
            .arg("--textfile")
            .arg(textfile)
            .output()
            .unwrap()
    };
    let out = run(&dir.path().join("vf.txt"));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("reads only files named *.prom"), "{err}");
    let missing = dir.path().join("no-such-dir/vf.prom");
    let out = run(&missing);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "the directory {} does not exist",
            dir.path().join("no-such-dir").display()
        )),
        "{err}"
    );
}
