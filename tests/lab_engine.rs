//! The failover engine over real SSH against the lab's systemd hosts: the same
//! scenarios as `tests/engine_sim.rs`, and the chain record checked after each.

mod common;

use common::Fault;
use common::engine as e;
use common::lab::Lab;

engine_tests!(Lab::get().scenario());

fn failover_cmd(pair: &common::lab::LabPair) -> (Option<i32>, String) {
    let out = assert_cmd::Command::cargo_bin("validator-failover")
        .unwrap()
        .args([
            "failover",
            "--non-interactive",
            "--confirm",
            "backup",
            "--config",
        ])
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
