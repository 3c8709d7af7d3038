//! Every probe and host operation over real SSH against the lab's systemd hosts.

mod common;

use std::time::Duration;

use assert_cmd::Command;
use common::Pair;
use common::lab::Lab;
use sha2::{Digest, Sha256};
use validator_failover::config::{BeaconFlavour, ExecutionFlavour, Role};
use validator_failover::hosts::{Cmd, Failure, HostExt, relay};
use validator_failover::probes;

const T: Duration = Duration::from_secs(15);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

#[test]
fn every_probe_answers_with_typed_evidence() {
    let pair = Lab::get().scenario();
    let cfg = pair.config();
    let (p, b) = pair.hosts();
    let v = &cfg.validator;
    rt().block_on(async {
        let u = probes::unit_state(p.as_ref(), &v.service, T).await.unwrap();
        assert!(u.value.is_running(), "{:?}", u.value);
        assert_eq!(u.value.unit_file_state, "enabled");
        assert_eq!(u.host, Role::Primary);
        assert!(u.via.starts_with("systemctl show"), "{}", u.via);
        let u = probes::unit_state(b.as_ref(), &v.service, T).await.unwrap();
        assert!(
            u.value.is_stopped() && u.value.is_disabled(),
            "{:?}",
            u.value
        );

        let pids = probes::processes(p.as_ref(), &v.process_name, T)
            .await
            .unwrap();
        assert_eq!(
            pids.value.len(),
            1,
            "exactly one validator process on the primary"
        );
        let unit = probes::unit_state(p.as_ref(), &v.service, T).await.unwrap();
        assert_eq!(
            pids.value[0], unit.value.main_pid,
            "the process is the unit's main PID"
        );
        assert!(
            probes::processes(b.as_ref(), &v.process_name, T)
                .await
                .unwrap()
                .value
                .is_empty()
        );

        let lock = probes::lock_file(b.as_ref(), &v.lock_file, T)
            .await
            .unwrap()
            .value
            .unwrap();
        assert_eq!((lock.user.as_str(), lock.mode), ("root", 0o444));
        assert!(
            probes::lock_file(p.as_ref(), &v.lock_file, T)
                .await
                .unwrap()
                .value
                .is_none()
        );

        let m = probes::metrics(p.as_ref(), &cfg.metrics, T)
            .await
            .unwrap()
            .value;
        assert!(m.answering && m.keys == 4, "{m:?}");
        let m = probes::metrics(b.as_ref(), &cfg.metrics, T)
            .await
            .unwrap()
            .value;
        assert!(!m.answering, "nothing listens on the backup's metrics port");

        // The history where the client keeps it: found from the unit's ExecStart, read
        // here as the bbolt DB the real library wrote (the lab's validator holds it).
        let h = probes::history(p.as_ref(), v, probes::HISTORY_READ_LIMIT, None, T)
            .await
            .unwrap()
            .value;
        assert!(h.problem().is_none(), "{h:?}");
        assert_eq!(h.location.file, "/var/lib/qrysm/validator/validator.db");
        assert!(
            h.location
                .how()
                .contains("--datadir=/var/lib/qrysm/validator")
        );
        let db = h.db().expect("read");
        assert_eq!(db.keys.len(), 4, "{db:?}");
        assert!(
            db.keys
                .iter()
                .all(|k| k.pubkey.len() == 2 + 2 * 2592 && k.last_target.is_some()),
            "{db:?}"
        );
        // Looked at again: the validator signs on, so the file changed and is read again;
        // the backup's, which nothing writes, is taken from the earlier reading.
        let hb = probes::history(b.as_ref(), v, probes::HISTORY_READ_LIMIT, None, T)
            .await
            .unwrap();
        let again = probes::history(
            b.as_ref(),
            v,
            probes::HISTORY_READ_LIMIT,
            Some(&hb.value),
            T,
        )
        .await
        .unwrap();
        assert!(
            again.via.contains("unchanged since it was read"),
            "{}",
            again.via
        );
        assert_eq!(again.value.read, hb.value.read);
        let chain = probes::chain_info(b.as_ref(), &cfg.beacon.endpoint, BeaconFlavour::Zond, T)
            .await
            .unwrap()
            .value;
        assert_eq!(db.genesis_validators_root, chain.genesis_validators_root);

        // The role's backups archive its empty slashing-protection/: no history in them.
        let a = probes::archives(b.as_ref(), &cfg.backups, T)
            .await
            .unwrap()
            .value;
        assert_eq!(a.len(), 2, "{a:?}");
        assert!(a[0].mtime > a[1].mtime, "newest first");
        let holds = probes::archive_contents(b.as_ref(), &a[0], T).await;
        assert!(
            holds
                .as_ref()
                .is_err_and(|e| e.contains("holds no file with data")),
            "{holds:?}"
        );

        let f = probes::beacon_flavour(b.as_ref(), &cfg.beacon.endpoint, None, T)
            .await
            .unwrap();
        assert_eq!(f.value, BeaconFlavour::Zond);
        let s = probes::beacon_sync(b.as_ref(), &cfg.beacon.endpoint, f.value, T)
            .await
            .unwrap()
            .value;
        assert!(s.problem(2).is_none(), "{s:?}");
        let c = probes::chain_info(b.as_ref(), &cfg.beacon.endpoint, f.value, T)
            .await
            .unwrap()
            .value;
        assert_eq!((c.clock.seconds_per_slot, c.clock.slots_per_epoch), (2, 4));
        let now = validator_failover::chain::unix_now();
        assert!(
            c.clock.slot_at(now).abs_diff(c.head_slot) <= 1,
            "head follows the clock"
        );

        // The primary has signed: its keys are live in the current or previous epoch.
        let epoch = c.clock.epoch_at(now);
        let mut seen_live = false;
        for e in [epoch, epoch.saturating_sub(1)] {
            let l = probes::liveness(
                b.as_ref(),
                &cfg.beacon.endpoint,
                f.value,
                e,
                &[0, 1, 2, 3],
                T,
            )
            .await
            .unwrap()
            .value;
            assert_eq!(l.len(), 4);
            seen_live |= l.iter().all(|(_, live)| *live);
        }
        assert!(seen_live, "the primary's keys are live");
        let far = probes::liveness(
            b.as_ref(),
            &cfg.beacon.endpoint,
            f.value,
            epoch + 5,
            &[0],
            T,
        )
        .await;
        assert_eq!(
            far.unwrap_err().failure,
            Failure::Unexpected,
            "a future epoch is refused, and said so"
        );

        let e = probes::execution_sync(b.as_ref(), &cfg.execution.endpoint, None, &cfg.beacon, T)
            .await
            .unwrap()
            .value;
        assert_eq!(e.method, ExecutionFlavour::Zond);
        assert!(e.problem().is_none(), "{e:?}");

        let clock = probes::clock(b.as_ref(), T).await.unwrap().value;
        assert!(clock.offset.abs() < 1.0 + clock.round_trip, "{clock:?}");
    });
}

#[test]
fn journal_tail_streams_the_validators_attestations() {
    let pair = Lab::get().scenario();
    let cfg = pair.config();
    let (p, _) = pair.hosts();
    rt().block_on(async {
        let mut tail = probes::journal_tail(p.as_ref(), &cfg.validator.service, 5)
            .await
            .unwrap();
        // An epoch is 8 s in the lab; wait up to three.
        let found = tokio::time::timeout(Duration::from_secs(25), async {
            while let Some(line) = tail.next().await {
                if line.contains("Submitted new attestations") {
                    return line;
                }
            }
            panic!("the journal stream ended");
        })
        .await
        .expect("an attestation line within three epochs");
        assert!(found.contains("TargetEpoch="), "{found}");
    });
}

#[test]
fn hostile_strings_reach_the_host_only_as_literal_words() {
    let pair = Lab::get().scenario();
    let lab = pair.lab;
    let (p, _) = pair.hosts();
    let hostile = [
        "x; touch /tmp/pwned1",
        "$(touch /tmp/pwned2)",
        "`touch /tmp/pwned3`",
        "a' ; touch /tmp/pwned4 ; '",
        "a\" ; touch /tmp/pwned5 ; \"",
        "-h; touch /tmp/pwned6",
        "x\ntouch /tmp/pwned7",
        "x && touch /tmp/pwned8 | cat > /tmp/pwned9",
    ];
    rt().block_on(async {
        for h in hostile {
            let e = probes::unit_state(p.as_ref(), h, T).await.unwrap_err();
            assert_eq!(e.failure, Failure::Unexpected, "{h}: {e}");
            assert!(
                probes::processes(p.as_ref(), h, T)
                    .await
                    .unwrap()
                    .value
                    .is_empty()
            );
            let path = format!("/tmp/{h}");
            assert!(
                probes::stat(p.as_ref(), &path, T)
                    .await
                    .unwrap()
                    .value
                    .is_none()
            );
            assert!(
                probes::list(p.as_ref(), &format!("/{h}"), 1, None, T)
                    .await
                    .unwrap()
                    .value
                    .is_none()
            );
            let out = p.run(&Cmd::new("echo").arg(h), T).await.unwrap();
            assert_eq!(
                out.stdout_text(),
                format!("{h}\n"),
                "echo gets the word as it is"
            );
        }
        // A file whose name is hostile is written and read under exactly that name.
        let name = "/tmp/validator-failover $(reboot) `touch pwned10` 'q' \"d\".txt";
        p.write_file(name, b"literal\n", 0o600, T).await.unwrap();
        assert_eq!(p.read_file(name, 100, T).await.unwrap(), b"literal\n");
        let st = probes::stat(p.as_ref(), name, T)
            .await
            .unwrap()
            .value
            .unwrap();
        assert_eq!((st.mode, st.size), (0o600, 8));
    });
    let listing = lab.ctl(Role::Primary, &["ls", "-1", "/tmp"]);
    assert!(
        !listing.lines().any(|l| l.starts_with("pwned")),
        "something ran as shell: {listing}"
    );
    assert!(
        listing.contains("validator-failover $(reboot) `touch pwned10`"),
        "{listing}"
    );

    // The whole `check` with hostile names in the config: red, and nothing ran.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hostile.toml");
    let base = std::fs::read_to_string(pair.config_file()).unwrap();
    let base = base.split("[validator]").next().unwrap().to_string();
    std::fs::write(
        &cfg,
        base + "[validator]\nservice = \"x; touch /tmp/pwned11\"\nprocess_name = \"$(reboot)\"\nlock_file = \"/etc/$(touch /tmp/pwned12)\"\ndata_dir = \"/var/lib/`touch /tmp/pwned13`\"\n[backups]\npattern = \"/opt/$(touch /tmp/pwned14)/x-*.tar.gz\"\n",
    )
    .unwrap();
    let out = Command::cargo_bin("validator-failover")
        .unwrap()
        .args(["check", "--json", "--config"])
        .arg(&cfg)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for role in Role::BOTH {
        let listing = lab.ctl(role, &["ls", "-1", "/tmp", "/", "/root"]);
        assert!(
            !listing.lines().any(|l| l.starts_with("pwned")),
            "{role}: something ran as shell: {listing}"
        );
        let up = lab.ctl(role, &["cat", "/proc/uptime"]);
        let secs: f64 = up.split_whitespace().next().unwrap().parse().unwrap();
        assert!(secs > 5.0, "{role} did not reboot");
    }
    // A hostile host name is refused before ssh ever sees it.
    std::fs::write(
        &cfg,
        "[primary]\nssh = \"$(reboot)\"\n[backup]\nssh = \"backup\"\n",
    )
    .unwrap();
    let out = Command::cargo_bin("validator-failover")
        .unwrap()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("key `primary.ssh`"));
}

#[test]
fn relay_streams_between_hosts_and_hashes_on_the_way() {
    let pair = Lab::get().scenario();
    let lab = pair.lab;
    let (p, b) = pair.hosts();
    lab.ctl(
        Role::Primary,
        &[
            "sh",
            "-c",
            "head -c 3000000 /dev/urandom > /tmp/validator-failover-relay.bin",
        ],
    );
    let remote_sha = |role: Role, path: &str| {
        lab.ctl(role, &["sha256sum", path])
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    let src_sha = remote_sha(Role::Primary, "/tmp/validator-failover-relay.bin");
    rt().block_on(async {
        let (sha, n) = relay(
            p.as_ref(),
            "/tmp/validator-failover-relay.bin",
            b.as_ref(),
            "/tmp/validator-failover-relay.copy",
            0o600,
            T,
        )
        .await
        .unwrap();
        assert_eq!(n, 3_000_000);
        assert_eq!(sha, src_sha, "hashed on the way, equal to the source");

        // Download into memory and hash locally: equal again.
        let mut buf = Vec::new();
        p.download("/tmp/validator-failover-relay.bin", &mut buf, T)
            .await
            .unwrap();
        let local: String = Sha256::digest(&buf)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(local, src_sha);

        // A missing file is an error, never an empty success.
        let mut sink = Vec::new();
        let e = p
            .download("/tmp/validator-failover-missing", &mut sink, T)
            .await
            .unwrap_err();
        assert_eq!(e.failure, Failure::Unexpected, "{e}");
        assert!(e.detail.contains("No such file"), "{e}");
        // Writing into a directory that does not exist: an error naming it.
        let e = b
            .write_file("/nonexistent-dir/x", b"x", 0o600, T)
            .await
            .unwrap_err();
        assert!(e.detail.contains("/nonexistent-dir/x"), "{e}");
    });
    assert_eq!(
        remote_sha(Role::Backup, "/tmp/validator-failover-relay.copy"),
        src_sha
    );
    let mode = lab.ctl(
        Role::Backup,
        &["stat", "-c", "%a", "/tmp/validator-failover-relay.copy"],
    );
    assert_eq!(mode.trim(), "600");
}

#[test]
fn a_host_that_stops_answering_mid_session_is_reported_within_the_deadline() {
    let pair = Lab::get().scenario();
    let lab = pair.lab;
    let cfg = pair.config();
    let (p, _) = pair.hosts();
    rt().block_on(async {
        // Connected and working...
        probes::unit_state(p.as_ref(), &cfg.validator.service, T)
            .await
            .unwrap();
        // ...then the host freezes (sshd stopped, established connections too).
        lab.fault(Role::Primary, "power-off", true);
        let started = std::time::Instant::now();
        let e = probes::unit_state(p.as_ref(), &cfg.validator.service, Duration::from_secs(8))
            .await
            .unwrap_err();
        assert!(
            matches!(e.failure, Failure::TimedOut | Failure::Unreachable),
            "{e}"
        );
        // Generous: the point is that it ends, not how fast (benchmarks measure that).
        assert!(started.elapsed() < Duration::from_secs(60), "it ended");
    });
}

/// Many requests to the same services at once on a new connection (the engine's
/// first look and the wizard's panes start together): one tunnel per endpoint is set
/// up, and every request is answered. (Two callers setting up the same tunnel at
/// once once unlinked each other's socket: "No such file or directory".)
#[test]
fn concurrent_requests_on_a_new_connection_share_one_tunnel() {
    let pair = Lab::get().scenario();
    let cfg = pair.config();
    for round in 0..3 {
        let (_, b) = pair.hosts();
        let results = rt().block_on(async {
            let mut futs = Vec::new();
            for _ in 0..8 {
                let b = b.clone();
                let cfg = cfg.clone();
                futs.push(tokio::spawn(async move {
                    let (s, c, e) = tokio::join!(
                        probes::beacon_sync(
                            b.as_ref(),
                            &cfg.beacon.endpoint,
                            BeaconFlavour::Zond,
                            T
                        ),
                        probes::chain_info(
                            b.as_ref(),
                            &cfg.beacon.endpoint,
                            BeaconFlavour::Zond,
                            T
                        ),
                        probes::execution_sync(
                            b.as_ref(),
                            &cfg.execution.endpoint,
                            None,
                            &cfg.beacon,
                            T
                        ),
                    );
                    (
                        s.map(|_| ()).map_err(|e| e.detail),
                        c.map(|_| ()).map_err(|e| e.detail),
                        e.map(|_| ()).map_err(|e| e.detail),
                    )
                }));
            }
            let mut out = Vec::new();
            for f in futs {
                out.push(f.await.unwrap());
            }
            out
        });
        for r in results {
            assert!(
                r.0.is_ok() && r.1.is_ok() && r.2.is_ok(),
                "round {round}: {r:?}"
            );
        }
    }
}

/// The reference security role's sshd (`AllowTcpForwarding no`): every endpoint is read
/// with curl on the host, found once per host and said in the evidence; item 2's
/// metrics check counts only curl's own "connection refused", never a refused forward
/// or a curl that is missing.
#[test]
fn a_host_whose_sshd_forbids_forwarding_is_read_with_curl_on_the_host() {
    use validator_failover::hosts::{HttpRequest, HttpWay};
    let pair = Lab::get().scenario();
    let cfg = pair.config();
    for r in Role::BOTH {
        pair.lab.fault(r, "sshd-hardened", true);
    }
    let (p, b) = pair.hosts();
    assert_eq!(p.http_way(), HttpWay::Unknown);
    rt().block_on(async {
        // The running primary's metrics answer (today's bug: "nothing answers").
        let m = probes::metrics(p.as_ref(), &cfg.metrics, T).await.unwrap();
        assert!(m.value.answering && m.value.keys == 4, "{m:?}");
        assert!(m.via.ends_with("(with curl on the host)"), "{}", m.via);
        assert!(
            matches!(p.http_way(), HttpWay::Curl { .. }),
            "{:?}",
            p.http_way()
        );
        assert!(
            p.http_way()
                .describe()
                .starts_with("read with curl on the host: the sshd forbids forwarding"),
            "{}",
            p.http_way().describe()
        );
        // Nothing listens on the backup's metrics port: curl's exit 7 says so.
        let m = probes::metrics(b.as_ref(), &cfg.metrics, T).await.unwrap();
        assert!(!m.value.answering, "{m:?}");
        assert!(
            m.via.contains("nothing listens on 127.0.0.1:8081"),
            "{}",
            m.via
        );

        // Statuses come back exactly (404 drives the API detection), POST bodies go.
        let r = b
            .http(
                &HttpRequest::get(&cfg.beacon.endpoint, "/qrl/v1/node/syncing"),
                T,
            )
            .await
            .unwrap();
        assert_eq!(r.status, 404);
        let f = probes::beacon_flavour(b.as_ref(), &cfg.beacon.endpoint, None, T)
            .await
            .unwrap();
        assert_eq!(f.value, BeaconFlavour::Zond);
        let s = probes::beacon_sync(b.as_ref(), &cfg.beacon.endpoint, f.value, T)
            .await
            .unwrap();
        assert!(s.value.problem(2).is_none(), "{s:?}");
        assert!(s.via.contains("(with curl on the host)"), "{}", s.via);
        let c = probes::chain_info(b.as_ref(), &cfg.beacon.endpoint, f.value, T)
            .await
            .unwrap()
            .value;
        let epoch = c.clock.epoch_at(validator_failover::chain::unix_now());
        let l = probes::liveness(
            b.as_ref(),
            &cfg.beacon.endpoint,
            f.value,
            epoch.saturating_sub(1),
            &[0, 1, 2, 3],
            T,
        )
        .await
        .unwrap();
        assert_eq!(l.value.len(), 4, "{l:?}");
        let e = probes::execution_sync(b.as_ref(), &cfg.execution.endpoint, None, &cfg.beacon, T)
            .await
            .unwrap();
        assert_eq!(e.value.method, ExecutionFlavour::Zond);
        assert!(e.value.problem().is_none(), "{e:?}");
        assert!(
            e.via.contains("zond_syncing (with curl on the host)"),
            "{}",
            e.via
        );
    });

    // Without curl on a hardened host, the metrics port could not be read: never
    // "nothing answers", whether the validator runs or not.
    pair.lab.fault(Role::Primary, "curl-missing", true);
    for running in [true, false] {
        if !running {
            pair.lab.ctl(
                Role::Primary,
                &["systemctl", "stop", &cfg.validator.service],
            );
        }
        let (p, _) = pair.hosts();
        let e = rt()
            .block_on(probes::metrics(p.as_ref(), &cfg.metrics, T))
            .expect_err("no reading without curl");
        assert_eq!(e.failure, Failure::Unexpected, "{e}");
        assert!(
            e.detail.contains("curl is not installed on the host")
                && e.detail.contains("could not be read"),
            "{e}"
        );
    }
    // With curl back, the stopped validator's port is read as closed.
    pair.lab.fault(Role::Primary, "curl-missing", false);
    let (p, _) = pair.hosts();
    let m = rt()
        .block_on(probes::metrics(p.as_ref(), &cfg.metrics, T))
        .unwrap();
    assert!(!m.value.answering, "{m:?}");
}

/// gzond without the `zond` module: every syncing method -32601, judged by the beacon
/// node's view and said so; an optimistic beacon node keeps it red.
#[test]
fn execution_without_the_zond_module_is_judged_by_the_beacon_nodes_view() {
    let pair = Lab::get().scenario();
    let cfg = pair.config();
    pair.lab.fault(Role::Backup, "exec-default-modules", true);
    let (_, b) = pair.hosts();
    let e = rt()
        .block_on(probes::execution_sync(
            b.as_ref(),
            &cfg.execution.endpoint,
            None,
            &cfg.beacon,
            T,
        ))
        .unwrap();
    assert!(e.value.problem().is_none(), "{e:?}");
    assert!(
        e.value.summary().starts_with(
            "judged by the beacon node's view: is_optimistic=false, el_offline=false; peers 25 (zond_syncing not enabled"
        ),
        "{}",
        e.value.summary()
    );
    assert!(e.via.contains("node/syncing"), "{}", e.via);
    pair.lab.fault(Role::Backup, "beacon-el-offline", true);
    let e = rt()
        .block_on(probes::execution_sync(
            b.as_ref(),
            &cfg.execution.endpoint,
            None,
            &cfg.beacon,
            T,
        ))
        .unwrap();
    assert!(
        e.value.problem().is_some_and(|p| p.contains("el_offline")),
        "{e:?}"
    );
}
