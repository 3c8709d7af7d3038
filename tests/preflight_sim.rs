//! The preflight on the simulated pair: every scenario, fast. `tests/lab_preflight.rs`
//! runs the same scenarios with the same expectations on real hosts.

mod common;

use common::{Fault, Pair, SimPair, assert_preflight};
use validator_failover::check;

async fn run(fault: Option<Fault>) {
    let pair = SimPair::new();
    if let Some(f) = fault {
        pair.apply(f);
    }
    let (p, b) = pair.hosts();
    let pf = check::preflight(&pair.config(), p, b).await;
    assert_preflight(&pf, fault);
    if fault != Some(Fault::BackupValidatorRunning) {
        assert!(pair.world.slashable().is_empty(), "nobody signed twice");
    }
}

#[tokio::test]
async fn healthy_pair_is_all_green() {
    run(None).await;
}

macro_rules! scenarios {
    ($($name:ident => $fault:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                run(Some(Fault::$fault)).await;
            }
        )*
        /// Every scenario has a test here.
        #[test]
        fn every_scenario_is_tested() {
            let tested = [$(Fault::$fault),*];
            for f in common::SCENARIOS {
                assert!(tested.contains(&f), "{f:?} has no simulated test");
            }
        }
    };
}

scenarios! {
    backup_validator_running_is_an_alarm => BackupValidatorRunning,
    backup_unlocked_is_an_alarm => BackupUnlocked,
    backup_beacon_syncing_is_red => BackupBeaconSyncing,
    backup_beacon_el_offline_is_red => BackupBeaconElOffline,
    backup_execution_syncing_is_red => BackupExecutionSyncing,
    backup_beacon_garbage_is_red => BackupBeaconGarbage,
    backup_host_key_mismatch_is_red => BackupHostKeyMismatch,
    primary_powered_off_is_red => PrimaryPoweredOff,
    primary_sshd_hanging_is_red => PrimarySshdHangs,
    primary_sshd_down_is_red => PrimarySshdDown,
    primary_history_missing_is_red => PrimaryHistoryMissing,
    primary_history_empty_is_red => PrimaryHistoryEmpty,
    qrl_api_flavour_is_detected => ApiQrl,
    eth_api_flavour_is_detected => ApiEth,
}

#[tokio::test]
async fn liveness_is_reported_when_indices_are_configured() {
    let mut pair = SimPair::new();
    pair.cfg.validator.indices = vec![0, 1, 2, 3];
    let (p, b) = pair.hosts();
    let pf = check::preflight(&pair.config(), p, b).await;
    let live = pf
        .items
        .iter()
        .find(|i| i.id == "backup.liveness")
        .expect("liveness item");
    assert!(live.summary.contains("all 4 keys live"), "{}", live.summary);
}

#[tokio::test]
async fn json_and_table_carry_the_same_items() {
    let pair = SimPair::new();
    pair.apply(Fault::BackupUnlocked);
    let (p, b) = pair.hosts();
    let cfg = pair.config();
    let pf = check::preflight(&cfg, p, b).await;
    let json = check::render_json(&cfg, &pf);
    assert_eq!(json["ok"], false);
    let items = json["items"].as_array().unwrap();
    assert_eq!(items.len(), pf.items.len());
    let table = check::render_table(&pf, false);
    for i in &pf.items {
        assert!(table.contains(&i.summary), "table lacks {}", i.id);
    }
    let red = items
        .iter()
        .find(|i| i["id"] == "backup.validator.lock")
        .unwrap();
    assert_eq!(red["verdict"], "red");
    assert!(
        red["evidence"][0]["via"]
            .as_str()
            .unwrap()
            .starts_with("stat ")
    );
    assert!(table.contains("PREFLIGHT RED"));
    assert!(
        !table.contains('\x1b'),
        "no colour codes when colour is off"
    );
}
