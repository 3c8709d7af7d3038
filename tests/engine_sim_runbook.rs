//! The failover engine and the preflight on the simulated pair laid out as the
//! runbook has it (the unit's datadir is the runbook's slashing-protection/
//! directory, so the client's DB lives there): every scenario of the reference
//! layout (`tests/engine_sim.rs`, `tests/preflight_sim.rs`), with the same
//! expectations. `tests/lab_runbook.rs` runs them on the lab's real hosts.

mod common;

use common::{Fault, Pair, SimPair, assert_preflight};
use validator_failover::check;

engine_tests!(common::SimPair::runbook());

fn run(fault: Option<Fault>) {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let pair = SimPair::runbook();
        if let Some(f) = fault {
            pair.apply(f);
        }
        assert!(
            pair.history_file()
                .ends_with("/slashing-protection/validator.db"),
            "{}",
            pair.history_file()
        );
        let (p, b) = pair.hosts();
        let pf = check::preflight(&pair.config(), p, b).await;
        assert_preflight(&pf, fault);
        if fault != Some(Fault::BackupValidatorRunning) {
            assert!(pair.world.slashable().is_empty(), "nobody signed twice");
        }
    });
}

#[test]
fn healthy_pair_is_all_green() {
    run(None);
}

mod preflight {
    use super::run;
    crate::scenario_tests!(run);
}
