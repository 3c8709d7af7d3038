//! The failover engine on the simulated pair. `tests/lab_engine.rs` runs the same
//! scenarios on the lab's real hosts.

mod common;

use common::engine as e;
use common::{Fault, SimPair};

#[test]
fn happy_path_stops_and_fences_the_primary() {
    e::happy_path_stops_and_fences_the_primary(&SimPair::new());
}

#[test]
fn sigterm_ignored_is_escalated() {
    e::sigterm_ignored_is_escalated(&SimPair::new());
}

#[test]
fn wrong_confirmation_is_asked_again() {
    e::wrong_confirmation_is_asked_again(&SimPair::new());
}

#[test]
fn rollback_after_the_stop_restores_the_primary() {
    e::rollback_after_the_stop_restores_the_primary(&SimPair::new());
}

#[test]
fn rollback_at_the_confirmation_touches_nothing() {
    e::rollback_at_the_confirmation_touches_nothing(&SimPair::new());
}

#[test]
fn hostile_archive_is_refused_and_the_backup_unchanged() {
    e::hostile_archive_is_refused_and_the_backup_unchanged(&SimPair::new());
}

#[test]
fn second_failover_is_refused_by_the_run_lock() {
    e::second_failover_is_refused_by_the_run_lock(&SimPair::new());
}

#[test]
fn failed_start_then_rollback_relocks_the_backup() {
    e::failed_start_then_rollback_relocks_the_backup(&SimPair::new());
}

#[test]
fn powered_off_primary_is_not_touched() {
    e::powered_off_primary_is_not_touched(&SimPair::new());
}

macro_rules! blocked {
    ($($name:ident => $fault:ident, $words:expr;)*) => {
        $(
            #[test]
            fn $name() {
                e::blocked_before_the_primary_is_touched(&SimPair::new(), Fault::$fault, $words);
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
