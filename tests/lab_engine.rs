//! The failover engine over real SSH against the lab's systemd hosts: the same
//! scenarios as `tests/engine_sim.rs`, and the chain record checked after each.

mod common;

use common::Fault;
use common::engine as e;
use common::lab::Lab;

engine_tests!(Lab::get().scenario());

fn failover_cmd(pair: &common::lab::LabPair) -> (Option<i32>, String) {
    cmd(
        pair,
        &["failover", "--non-interactive", "--confirm", "backup"],
    )
}

#[test]
fn failover_command_completes_and_its_audit_exports() {
    use common::Pair;
    let pair = Lab::get().scenario();
    let (code, text) = failover_cmd(&pair);
    assert_eq!(code, Some(0), "{text}");
    let first = text.lines().next().unwrap();
    let run = first
        .strip_prefix("RUN: ")
        .unwrap_or_else(|| panic!("RUN: comes first: {text}"));
    assert!(text.contains("[✓]  7. Backup validator started"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("DONE:")), "{text}");
    assert!(e::backup_running(&pair));
    pair.wait(9.0);
    assert!(pair.slashable().is_empty());
    let out = assert_cmd::Command::cargo_bin("validator-failover")
        .unwrap()
        .args(["audit", "export", run, "--format", "md"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let md = String::from_utf8_lossy(&out.stdout);
    for n in 1..=9 {
        assert!(
            md.contains(&format!("- [x] {n}. ")),
            "item {n} ticked:\n{md}"
        );
    }
    assert!(md.contains("- [ ] 10. Incident documented"), "{md}");
}

#[test]
fn failover_command_blocked_exits_3_with_the_reason() {
    use common::Pair;
    let pair = Lab::get().scenario();
    pair.apply(Fault::BackupBeaconSyncing);
    let (code, text) = failover_cmd(&pair);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.starts_with("RUN: "), "{text}");
    let blocked: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("BLOCKED: "))
        .collect();
    assert_eq!(blocked.len(), 1, "{text}");
    assert!(
        blocked[0].contains("beacon node is not ready: syncing"),
        "{}",
        blocked[0]
    );
    assert!(e::primary_state(&pair).0, "the primary still signs");

    // A --confirm that is not the backup's name is bad usage, and touches nothing.
    let out = assert_cmd::Command::cargo_bin("validator-failover")
        .unwrap()
        .args([
            "failover",
            "--non-interactive",
            "--confirm",
            "primary",
            "--config",
        ])
        .arg(pair.config_file())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

fn cmd(pair: &common::lab::LabPair, args: &[&str]) -> (Option<i32>, String) {
    let out = assert_cmd::Command::cargo_bin("validator-failover")
        .unwrap()
        .args(args)
        .arg("--config")
        .arg(pair.config_file())
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn failover_command_with_an_unreachable_primary_needs_the_flag() {
    use common::Pair;
    let pair = Lab::get().scenario();
    pair.apply(Fault::PrimaryHistoryArchived);
    pair.apply(Fault::PrimaryPoweredOff);
    let (code, text) = failover_cmd(&pair);
    assert_eq!(code, Some(3), "{text}");
    let blocked = text
        .lines()
        .find(|l| l.starts_with("BLOCKED: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        blocked.contains("--allow-unreachable-primary")
            && blocked.contains("backup:/opt/quantapool/backups/slashing-protection-"),
        "{blocked}"
    );
    assert!(!e::backup_running(&pair));
    // With the flag and the out-of-band statement: through, from the next epoch on.
    let (code, text) = cmd(
        &pair,
        &[
            "failover",
            "--non-interactive",
            "--confirm",
            "backup",
            "--allow-unreachable-primary",
            "--fenced-out-of-band",
            "primary powered off at the provider, console shows it halted",
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("stated: \"primary powered off"), "{text}");
    assert!(e::backup_running(&pair));
    pair.wait(9.0);
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

#[test]
fn rollback_command_after_the_failover_command() {
    use common::Pair;
    let pair = Lab::get().scenario();
    let (code, text) = failover_cmd(&pair);
    assert_eq!(code, Some(0), "{text}");
    pair.wait(4.0);
    let (code, text) = cmd(
        &pair,
        &["rollback", "--non-interactive", "--confirm", "backup"],
    );
    assert_eq!(code, Some(2), "the primary's name is needed: {text}");
    let (code, text) = cmd(
        &pair,
        &["rollback", "--non-interactive", "--confirm", "primary"],
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(text.starts_with("RUN: "), "{text}");
    assert!(text.lines().any(|l| l.starts_with("ROLLED BACK")), "{text}");
    assert!(!e::backup_running(&pair));
    assert!(e::primary_state(&pair).0);
    e::assert_history_within(
        &pair,
        validator_failover::config::Role::Backup,
        validator_failover::config::Role::Primary,
    );
    pair.wait(9.0);
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

/// The real program killed with SIGKILL during the transfer, then started again: it
/// resumes the same run and finishes.
#[test]
fn failover_command_killed_during_the_transfer_resumes() {
    use common::Pair;
    use std::io::BufRead;
    let pair = Lab::get().scenario();
    let bin = assert_cmd::cargo::cargo_bin("validator-failover");
    let mut child = std::process::Command::new(&bin)
        .args([
            "failover",
            "--non-interactive",
            "--confirm",
            "backup",
            "--config",
        ])
        .arg(pair.config_file())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let hit = line.contains("tar -czf");
        seen.push(line);
        if hit {
            // SIGKILL: no clean-up of any kind, as a crash or a lost session.
            child.kill().unwrap();
            break;
        }
    }
    let _ = child.wait();
    assert!(seen.iter().any(|l| l.contains("tar -czf")), "{seen:?}");
    let run = seen[0].strip_prefix("RUN: ").unwrap().to_string();
    assert!(!e::backup_running(&pair));
    let (code, text) = failover_cmd(&pair);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(
        text.lines().next(),
        Some(format!("RUN: {run}").as_str()),
        "the same run: {text}"
    );
    assert!(text.contains("RESUMING the interrupted run"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("DONE:")), "{text}");
    assert!(e::backup_running(&pair));
    pair.wait(9.0);
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
    // One journal, one chain of hashes, across the kill.
    let out = assert_cmd::Command::cargo_bin("validator-failover")
        .unwrap()
        .args(["audit", "export", &run, "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
