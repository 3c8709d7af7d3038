//! Non-root operators on the lab's real hosts (issue 11, item 4): the lab's `ops`
//! logs in with the lab's key and has passwordless sudo; `ops2` is in sudoers but
//! sudo asks it for a password (`tests/lab/sim/vf-lab-host`, `ensure_users`).
//! With `[ssh] become = true` every command goes through `sudo -n -H -u root --`:
//! a whole failover and a rollback as `ops`, nothing slashable, the hosts' own
//! sudo log showing who ran what; `ops2` gets the clear error and nothing is
//! touched; `ops` without `become` is refused by the hosts and nothing is touched.

mod common;

use common::Pair;
use common::engine as e;
use common::lab::{Lab, LabPair};
use validator_failover::config::Role;

/// The lab's configuration with the hosts reached as `user`, `become` as given.
fn config_as(pair: &LabPair, user: &str, become_: bool) -> std::path::PathBuf {
    let text = std::fs::read_to_string(pair.config_file()).expect("the lab's config");
    let text = text
        .replace(
            "[primary]\nssh = \"primary\"",
            &format!("[primary]\nssh = \"{user}@primary\""),
        )
        .replace(
            "[backup]\nssh = \"backup\"",
            &format!("[backup]\nssh = \"{user}@backup\""),
        )
        .replace("[ssh]\n", &format!("[ssh]\nbecome = {become_}\n"));
    assert!(text.contains(&format!("ssh = \"{user}@backup\"")), "{text}");
    let path = pair.tmp.path().join(format!("{user}-{become_}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn cmd(config: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = assert_cmd::Command::cargo_bin("validator-failover")
        .unwrap()
        .args(args)
        .arg("--config")
        .arg(config)
        .env("NO_COLOR", "1")
        .timeout(std::time::Duration::from_secs(300))
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
}

/// What the host's sudo logged since `since` (unix seconds): "ops : … COMMAND=…".
fn sudo_log(pair: &LabPair, role: Role, since: u64) -> String {
    pair.lab.ctl(
        role,
        &[
            "journalctl",
            "-q",
            "--no-pager",
            "-o",
            "cat",
            "_COMM=sudo",
            &format!("--since=@{since}"),
        ],
    )
}

fn now() -> u64 {
    validator_failover::chain::unix_now() as u64
}

#[test]
fn a_whole_failover_and_a_rollback_as_ops_with_become_nothing_slashable() {
    let pair = Lab::get().scenario();
    let cfg = config_as(&pair, "ops", true);
    let t0 = now().saturating_sub(1);

    let (code, text) = cmd(&cfg, &["check"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("connected: ssh ops@primary (commands through sudo -n to root)"),
        "{text}"
    );

    let (code, text) = cmd(
        &cfg,
        &["failover", "--non-interactive", "--confirm", "backup"],
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(text.lines().any(|l| l.starts_with("DONE:")), "{text}");
    // Item 8 is judged on the backup's journal, read through sudo.
    assert!(
        text.contains("[✓]  8. Attestations being submitted"),
        "{text}"
    );
    assert!(e::backup_running(&pair));
    // The hosts' own record: ops ran them as root, through sudo.
    let p = sudo_log(&pair, Role::Primary, t0);
    assert!(
        p.contains("ops : ")
            && p.contains("USER=root ; COMMAND=/usr/bin/systemctl stop -- qrysm-validator"),
        "{p}"
    );
    assert!(
        p.contains("COMMAND=/usr/bin/tar -czf"),
        "the history, archived as root: {p}"
    );
    let b = sudo_log(&pair, Role::Backup, t0);
    assert!(
        b.contains("USER=root ; COMMAND=/usr/bin/systemctl start -- qrysm-validator"),
        "{b}"
    );
    assert!(
        b.contains("COMMAND=/usr/bin/sh -c"),
        "the history, written as root: {b}"
    );

    pair.wait(4.0);
    let (code, text) = cmd(
        &cfg,
        &["rollback", "--non-interactive", "--confirm", "primary"],
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(text.lines().any(|l| l.starts_with("ROLLED BACK")), "{text}");
    assert!(!e::backup_running(&pair));
    assert!(e::primary_state(&pair).0, "the primary signs again");
    e::assert_history_within(&pair, Role::Backup, Role::Primary);
    pair.wait(9.0);
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

#[test]
fn sudo_asking_for_a_password_is_a_clear_error_and_nothing_is_touched() {
    let pair = Lab::get().scenario();
    let cfg = config_as(&pair, "ops2", true);
    let want = [
        "sudo on the primary (ops2@primary) asks ops2 for a password",
        "a password is required",
        "ops2 ALL=(root) NOPASSWD: ALL",
    ];

    let (code, text) = cmd(&cfg, &["check"]);
    assert_eq!(code, Some(1), "{text}");
    let ssh = text
        .lines()
        .find(|l| l.contains("SSH") && l.contains("ops2@primary"))
        .unwrap_or_else(|| panic!("{text}"));
    for w in want {
        assert!(ssh.contains(w), "{w:?} in {ssh}");
    }
    assert!(ssh.contains("refused"), "{ssh}");

    let (code, text) = cmd(
        &cfg,
        &["failover", "--non-interactive", "--confirm", "backup"],
    );
    assert_eq!(code, Some(3), "stopped by a safety gate: {text}");
    let blocked = text
        .lines()
        .find(|l| l.starts_with("BLOCKED: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        blocked.contains("asks ops2 for a password") && blocked.contains("NOPASSWD"),
        "{blocked}"
    );
    let (running, file_state, locked) = e::primary_state(&pair);
    assert!(running && file_state == "enabled" && !locked, "untouched");
    assert!(!e::backup_running(&pair));
    pair.wait(9.0);
    assert!(e::primary_state(&pair).0, "and still signs an epoch later");
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

#[test]
fn ops_without_become_is_refused_by_the_hosts_and_nothing_is_touched() {
    let pair = Lab::get().scenario();
    let cfg = config_as(&pair, "ops", false);
    let (code, text) = cmd(&cfg, &["check"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(
            "connected: ssh ops@primary (commands run as ops, without sudo: [ssh] become is off)"
        ),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("Slashing-protection history") && l.contains("Permission denied")),
        "{text}"
    );
    let (code, text) = cmd(
        &cfg,
        &["failover", "--non-interactive", "--confirm", "backup"],
    );
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("BLOCKED: ") && l.contains("Permission denied")),
        "{text}"
    );
    let (running, file_state, locked) = e::primary_state(&pair);
    assert!(running && file_state == "enabled" && !locked, "untouched");
    assert!(!e::backup_running(&pair));
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

/// The engine's own scenarios, as `ops` with `become` (the pair's configuration and
/// every look the scenario takes at the hosts go through sudo).
fn as_ops() -> LabPair {
    let pair = Lab::get().scenario();
    pair.as_operator("ops");
    assert!(
        pair.config().primary.privilege
            == validator_failover::config::Privilege::Sudo {
                user: "root".into()
            }
    );
    pair
}

#[test]
fn as_ops_the_client_s_own_export_and_import_carry_the_history() {
    e::eip3076_method_exports_and_imports(&as_ops());
}

#[test]
fn as_ops_on_the_reference_hardening_endpoints_are_read_with_curl() {
    e::happy_path_on_the_reference_hardening(&as_ops());
}

#[test]
fn as_ops_the_emergency_stop_all_stops_and_fences_both() {
    e::stop_all_stops_and_fences_both(&as_ops());
}
