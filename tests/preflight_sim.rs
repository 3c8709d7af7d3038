//! The preflight on the simulated pair: every scenario, fast. `tests/lab_preflight.rs`
//! runs the same scenarios with the same expectations on real hosts.

mod common;

use common::{Fault, Pair, SimPair, assert_preflight};
use validator_failover::check;

fn run(fault: Option<Fault>) {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(run_async(fault));
}

async fn run_async(fault: Option<Fault>) {
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

#[test]
fn healthy_pair_is_all_green() {
    run(None);
}

scenario_tests!(run);

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
