//! The lab's real hosts laid out as the runbook has it (`lab.sh layout runbook`: the
//! unit's `--datadir` is the runbook's slashing-protection/ directory, so the
//! client's DB lives there and the backup script's archives hold a DB): the
//! preflight scenarios, and the failover scenarios that touch the history, with the
//! same expectations as on the reference layout.

mod common;

use common::lab::Lab;
use common::{Fault, Pair, assert_preflight};
use validator_failover::check;

struct Runbook;

impl Runbook {
    fn pair(&self) -> common::lab::LabPair {
        Lab::get().scenario_in("runbook")
    }
}

fn run(fault: Option<Fault>) {
    let pair = Runbook.pair();
    assert!(
        pair.history_file()
            .ends_with("/slashing-protection/validator.db")
    );
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

mod preflight {
    use super::run;
    crate::scenario_tests!(run);
}

mod engine {
    use super::Runbook;
    crate::engine_tests!(@each Runbook.pair(),
        happy_path_stops_and_fences_the_primary,
        stale_history_is_refused_before_the_backup_starts,
        powered_off_primary_goes_through_the_liveness_wait,
        powered_off_primary_with_only_empty_archives_goes_through_a_watermark,
        rollback_after_the_backup_signed_brings_its_history_back,
        eip3076_method_exports_and_imports,
    );
    crate::engine_tests!(@blocked Runbook.pair(),
        blocked_when_primary_history_missing => PrimaryHistoryMissing, "history is not usable";
        blocked_when_primary_history_empty => PrimaryHistoryEmpty, "holds no key";
    );
}
