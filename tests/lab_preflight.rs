//! The preflight over real SSH against the lab's systemd hosts: the same scenarios and
//! expectations as `tests/preflight_sim.rs`, and the `check` command's exit codes.

mod common;

use assert_cmd::Command;
use common::lab::Lab;
use common::{Fault, Pair, assert_preflight};
use validator_failover::check;

fn run(fault: Option<Fault>) {
    let pair = Lab::get().scenario();
    if let Some(f) = fault {
        pair.apply(f);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (p, b) = pair.hosts();
    let pf = rt.block_on(check::preflight(&pair.config(), p, b));
    assert_preflight(&pf, fault);
    if fault != Some(Fault::BackupValidatorRunning) {
        pair.assert_no_double_signing();
    }
}

#[test]
fn healthy_pair_is_all_green() {
    run(None);
}

scenario_tests!(run);

fn check_cmd(pair: &common::lab::LabPair, json: bool) -> std::process::Output {
    let mut c = Command::cargo_bin("validator-failover").unwrap();
    c.arg("check").arg("--config").arg(pair.config_file());
    if json {
        c.arg("--json");
    }
    c.env("NO_COLOR", "1")
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap()
}

#[test]
fn check_command_exit_codes_and_json_on_the_lab() {
    let pair = Lab::get().scenario();
    let out = check_cmd(&pair, false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("PREFLIGHT GREEN"), "{text}");
    assert!(
        text.contains("systemctl show"),
        "evidence is printed: {text}"
    );

    let out = check_cmd(&pair, true);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(v["ok"], true);
    assert!(v["items"].as_array().unwrap().len() >= 20);

    // A syncing backup beacon: exit 1, a red item naming the cause, in both forms.
    pair.apply(Fault::BackupBeaconSyncing);
    let out = check_cmd(&pair, false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("[✗] Beacon node synced") && text.contains("syncing (120 slots behind)"),
        "{text}"
    );
    let out = check_cmd(&pair, true);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let item = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "backup.beacon")
        .unwrap();
    assert_eq!(item["verdict"], "red");
}

#[test]
fn check_command_bad_config_exits_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.toml");
    std::fs::write(
        &f,
        "[primary]\nssh = \"primary\"\n[backup]\nssh = \"backup\"\n[beacon]\naddress = \"nope\"\n",
    )
    .unwrap();
    let out = Command::cargo_bin("validator-failover")
        .unwrap()
        .args(["check", "--config"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:6: key `beacon.address`", f.display())),
        "{err}"
    );
}

/// The reference hardening's `MaxAuthTries 3` against an agent holding four keys (the
/// right one last) and an ssh config that offers them all: the backup refuses with a
/// reason that says what to set; `[ssh] identity_file` offers only that key.
#[test]
fn max_auth_tries_3_is_met_by_the_one_identity_file() {
    use validator_failover::config::Role;
    let pair = Lab::get().scenario();
    pair.lab.fault(Role::Backup, "sshd-hardened", true);
    let dir = pair.tmp.path();
    let run = |c: &mut std::process::Command| {
        let out = c.output().expect("runs");
        assert!(out.status.success(), "{c:?}: {out:?}");
    };
    for k in ["k1", "k2", "k3"] {
        run(std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(dir.join(k)));
    }
    let sock = dir.join("agent.sock");
    let mut agent = std::process::Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ssh-agent starts");
    for _ in 0..50 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let lab_key = pair.lab.dir.join("id_ed25519");
    run(std::process::Command::new("ssh-add")
        .env("SSH_AUTH_SOCK", &sock)
        .arg("-q")
        .arg(dir.join("k1"))
        .arg(dir.join("k2"))
        .arg(dir.join("k3"))
        .arg(&lab_key));
    let lab_cfg = std::fs::read_to_string(pair.lab.ssh_config()).unwrap();
    let offers_all: String = lab_cfg
        .lines()
        .filter(|l| !l.contains("IdentitiesOnly") && !l.contains("IdentityFile"))
        .map(|l| format!("{l}\n"))
        .collect();
    let ssh_cfg = dir.join("ssh_config_agent");
    std::fs::write(&ssh_cfg, offers_all).unwrap();
    let base = std::fs::read_to_string(pair.config_file())
        .unwrap()
        .replace(
            &format!(
                "config_file = {:?}",
                pair.lab.ssh_config().display().to_string()
            ),
            &format!("config_file = {:?}", ssh_cfg.display().to_string()),
        );
    assert!(base.contains("ssh_config_agent"), "{base}");
    let check = |toml: &str| {
        let f = dir.join("agent.toml");
        std::fs::write(&f, toml).unwrap();
        Command::cargo_bin("validator-failover")
            .unwrap()
            .arg("check")
            .arg("--config")
            .arg(&f)
            .env("SSH_AUTH_SOCK", &sock)
            .env("NO_COLOR", "1")
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .unwrap()
    };
    let out = check(&base);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let with_key = base.replace(
        "[ssh]\n",
        &format!(
            "[ssh]\nidentity_file = {:?}\n",
            lab_key.display().to_string()
        ),
    );
    let out2 = check(&with_key);
    let text2 = String::from_utf8_lossy(&out2.stdout).into_owned();
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("Too many authentication failures") && text.contains("identity_file"),
        "{text}"
    );
    assert_eq!(out2.status.code(), Some(0), "{text2}");
    assert!(text2.contains("read with curl on the host"), "{text2}");
}

/// `check --textfile` on the real hosts: the file written whole (mode 0644, nothing
/// left beside it), read back by a Prometheus text parser, and the exit status as
/// without it: 0 green, 1 with the backup unlocked (its lock_file check at 0).
#[test]
fn check_textfile_on_the_lab_green_then_red() {
    use std::os::unix::fs::PermissionsExt;
    let pair = Lab::get().scenario();
    let dir = pair.tmp.path().join("node-exporter");
    std::fs::create_dir(&dir).unwrap();
    let prom = dir.join("validator-failover.prom");
    let run = || {
        Command::cargo_bin("validator-failover")
            .unwrap()
            .arg("check")
            .arg("--config")
            .arg(pair.config_file())
            .arg("--textfile")
            .arg(&prom)
            .env("NO_COLOR", "1")
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .unwrap()
    };
    let read = || -> Vec<prometheus_parse::Sample> {
        let text = std::fs::read_to_string(&prom).unwrap();
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .unwrap()
            .samples
    };
    let value = |samples: &[prometheus_parse::Sample], metric: &str, l: &[(&str, &str)]| {
        let found: Vec<_> = samples
            .iter()
            .filter(|s| {
                s.metric == metric
                    && s.labels.len() == l.len()
                    && l.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
            })
            .collect();
        assert_eq!(found.len(), 1, "{metric} {l:?}");
        match found[0].value {
            prometheus_parse::Value::Gauge(v) => v,
            ref other => panic!("{metric} is not a gauge: {other:?}"),
        }
    };

    let out = run();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let mode = std::fs::metadata(&prom).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("validator-failover.prom")]
    );
    let green = read();
    assert_eq!(value(&green, "validator_failover_check_success", &[]), 1.0);
    assert_eq!(
        value(
            &green,
            "validator_failover_check_ok",
            &[("host", "backup"), ("check", "lock_file")]
        ),
        1.0
    );
    // The lab's backup keeps the reference role's archives, 10 min and 1 h old.
    let age = value(
        &green,
        "validator_failover_newest_archive_age_seconds",
        &[("host", "backup")],
    );
    assert!((0.0..3600.0).contains(&age), "newest archive age {age}");
    assert_eq!(
        value(&green, "validator_failover_archives", &[("host", "backup")]),
        2.0
    );
    let offset = value(
        &green,
        "validator_failover_clock_offset_seconds",
        &[("host", "primary")],
    );
    assert!(
        offset.abs() < 5.0,
        "the lab hosts share this machine's clock: {offset}"
    );

    pair.apply(Fault::BackupUnlocked);
    let out = run();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let red = read();
    assert_eq!(value(&red, "validator_failover_check_success", &[]), 0.0);
    assert_eq!(
        value(
            &red,
            "validator_failover_check_ok",
            &[("host", "backup"), ("check", "lock_file")]
        ),
        0.0
    );
    let at = value(&red, "validator_failover_check_timestamp_seconds", &[]);
    let before = value(&green, "validator_failover_check_timestamp_seconds", &[]);
    assert!(
        at > before,
        "the second check's time {at} after the first's {before}"
    );
}

/// Issue 11: "a YAML inventory with a bastion in `ansible_ssh_common_args` reaches
/// the lab". The lab's hosts share no network (each its own namespace), so each
/// host's bastion is its own sshd, reached as the lab reaches it (the ssh_config's
/// ProxyCommand): `-o ProxyJump=root@primary` is a real jump, ssh's `-W` forward
/// through that sshd to the host's `127.0.0.1:22`, with `HostKeyAlias` and a
/// known_hosts file as teams give them. With the backup's sshd hardened
/// (`AllowTcpForwarding no`) its jump is refused and the backup is unreachable:
/// proof that the connection goes through the bastion.
#[test]
fn a_yaml_inventory_with_a_bastion_in_ansible_ssh_common_args_reaches_the_lab() {
    use validator_failover::config::Role;
    let pair = Lab::get().scenario();
    let lab = &pair.lab.dir;
    let dir = pair.tmp.path();
    let s = |p: &std::path::Path| p.display().to_string();
    let known = s(&lab.join("known_hosts"));
    let host = |name: &str| {
        format!(
            "            lab-{name}:\n              ansible_host: 127.0.0.1\n              ansible_ssh_common_args: '-o ProxyJump=root@{name} -o HostKeyAlias={name} -o UserKnownHostsFile={known}'\n"
        )
    };
    let inventory = format!(
        "all:\n  vars:\n    ansible_user: root\n    ansible_ssh_private_key_file: {}\n  children:\n    validators:\n      children:\n        primary:\n          hosts:\n{}        backup:\n          hosts:\n{}",
        s(&lab.join("id_ed25519")),
        host("primary"),
        host("backup"),
    );
    std::fs::write(dir.join("inventory.yml"), &inventory).unwrap();
    let cfg = dir.join("inventory.toml");
    std::fs::write(
        &cfg,
        format!(
            "inventory = \"inventory.yml\"\n[ssh]\n# for the jump hosts: the lab's ProxyCommand\nconfig_file = {:?}\nconnect_timeout_secs = 5\n[failover]\nruns_dir = {:?}\n[validator]\nindices = [0, 1, 2, 3]\n",
            s(&pair.lab.ssh_config()),
            s(&dir.join("runs"))
        ),
    )
    .unwrap();
    let check = || {
        let out = Command::cargo_bin("validator-failover")
            .unwrap()
            .arg("check")
            .arg("--config")
            .arg(&cfg)
            .env("NO_COLOR", "1")
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .unwrap();
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (code, text) = check();
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("PREFLIGHT GREEN"), "{text}");
    assert!(
        text.contains("primary lab-primary (root@127.0.0.1), backup lab-backup (root@127.0.0.1)")
            && text.contains("hosts from the inventory"),
        "{text}"
    );
    for name in ["primary", "backup"] {
        assert!(
            text.contains(&format!(
                "connected: ssh -o 'ProxyJump=root@{name}' -o 'HostKeyAlias={name}'"
            )),
            "{name} through its bastion: {text}"
        );
    }

    pair.lab.fault(Role::Backup, "sshd-hardened", true);
    let (code, text) = check();
    assert_eq!(code, Some(1), "{text}");
    let backup = text.split("── backup").nth(1).unwrap_or("");
    assert!(
        backup
            .lines()
            .any(|l| l.contains("SSH") && l.contains("unreachable")),
        "the backup's bastion refuses the jump: {text}"
    );
    let primary = text.split("── primary").nth(1).unwrap_or("");
    assert!(
        primary
            .lines()
            .any(|l| l.contains("SSH") && l.contains("connected")),
        "{text}"
    );
}
