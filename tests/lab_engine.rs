//! The failover engine over real SSH against the lab's systemd hosts: the same
//! scenarios as `tests/engine_sim.rs`, and the chain record checked after each.

mod common;

use common::Fault;
use common::engine as e;
use common::lab::Lab;

#[test]
fn happy_path_stops_and_fences_the_primary() {
    e::happy_path_stops_and_fences_the_primary(&Lab::get().scenario());
}

#[test]
fn sigterm_ignored_is_escalated() {
    e::sigterm_ignored_is_escalated(&Lab::get().scenario());
}

#[test]
fn wrong_confirmation_is_asked_again() {
    e::wrong_confirmation_is_asked_again(&Lab::get().scenario());
}

#[test]
fn rollback_after_the_stop_restores_the_primary() {
    e::rollback_after_the_stop_restores_the_primary(&Lab::get().scenario());
}

#[test]
fn rollback_at_the_confirmation_touches_nothing() {
    e::rollback_at_the_confirmation_touches_nothing(&Lab::get().scenario());
}

#[test]
fn hostile_archive_is_refused_and_the_backup_unchanged() {
    e::hostile_archive_is_refused_and_the_backup_unchanged(&Lab::get().scenario());
}

#[test]
fn second_failover_is_refused_by_the_run_lock() {
    e::second_failover_is_refused_by_the_run_lock(&Lab::get().scenario());
}

#[test]
fn failed_start_then_rollback_relocks_the_backup() {
    e::failed_start_then_rollback_relocks_the_backup(&Lab::get().scenario());
}

#[test]
fn powered_off_primary_is_not_touched() {
    e::powered_off_primary_is_not_touched(&Lab::get().scenario());
}

macro_rules! blocked {
    ($($name:ident => $fault:ident, $words:expr;)*) => {
        $(
            #[test]
            fn $name() {
                e::blocked_before_the_primary_is_touched(&Lab::get().scenario(), Fault::$fault, $words);
            }
        )*
    };
}

blocked! {
    blocked_when_backup_validator_runs => BackupValidatorRunning, "the backup's validator is not stopped";
    blocked_when_backup_unlocked => BackupUnlocked, "lock file is gone";
    blocked_when_backup_beacon_syncing => BackupBeaconSyncing, "beacon node is not ready: syncing";
    blocked_when_backup_execution_syncing => BackupExecutionSyncing, "execution node is not ready: syncing";
    blocked_when_primary_history_missing => PrimaryHistoryMissing, "history is not usable";
    blocked_when_primary_history_empty => PrimaryHistoryEmpty, "is empty";
    blocked_when_backup_host_key_mismatch => BackupHostKeyMismatch, "the backup cannot be reached: host key mismatch";
}

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
