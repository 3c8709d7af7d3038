//! The keys' duties on the lab's real hosts (issue 10): read over real SSH from the
//! beacon simulator's duty endpoints, and the real clients' duty model judged from
//! the shared chain record: a validator started after a key's duty slot misses that
//! key's attestation of the epoch.

mod common;

use std::time::Duration;

use common::Pair;
use common::lab::{Chain, Lab, LabPair};
use validator_failover::chain::{ChainClock, unix_now};
use validator_failover::config::Role;
use validator_failover::hosts::Failure;
use validator_failover::hosts::sim::{sim_attester_slot, sim_proposer, sim_pubkey};
use validator_failover::probes::{self, DutySchedule};

const T: Duration = Duration::from_secs(15);
const KEYS: [u64; 4] = [0, 1, 2, 3];

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn eight_slots(sync_committee: Vec<u64>) -> Chain {
    Chain {
        slots_per_epoch: 8,
        sync_committee,
    }
}

/// The chain's timing and the keys' duties for this epoch and the next, as the
/// primary's beacon node gives them over SSH.
fn read(pair: &LabPair) -> (ChainClock, u64, probes::Observed<DutySchedule>) {
    let cfg = pair.config();
    let (p, _) = pair.hosts();
    rt().block_on(async {
        let f = probes::beacon_flavour(p.as_ref(), &cfg.beacon.endpoint, None, T)
            .await
            .unwrap()
            .value;
        let c = probes::chain_info(p.as_ref(), &cfg.beacon.endpoint, f, T)
            .await
            .unwrap()
            .value
            .clock;
        let epoch = c.epoch_at(unix_now());
        let s = probes::duty_schedule(p.as_ref(), &cfg.beacon.endpoint, f, &c, epoch, &KEYS, T)
            .await
            .unwrap();
        (c, epoch, s)
    })
}

#[test]
fn duties_are_read_over_ssh_in_the_real_shapes() {
    let pair = Lab::get().scenario_on("reference", &eight_slots(Vec::new()));
    let (c, epoch, s) = read(&pair);
    assert_eq!(
        (c.seconds_per_slot, c.slots_per_epoch),
        (2, 8),
        "lab.sh slots-per-epoch 8"
    );
    assert_eq!(s.host, Role::Primary);
    assert!(
        s.via.contains("/zond/v1/validator/duties/attester/")
            && s.via.contains("/zond/v1/validator/duties/proposer/")
            && s.via.contains("/zond/v1/validator/duties/sync/"),
        "{}",
        s.via
    );
    let s = s.value;
    assert_eq!(
        s.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(),
        vec![epoch, epoch + 1]
    );
    for e in &s.epochs {
        assert!(!e.execution_optimistic);
        assert_eq!(e.attester_dependent_root.len(), 66, "{e:?}");
    }
    for k in KEYS {
        let kd = &s.keys[&k];
        assert_eq!(kd.pubkey.as_deref(), Some(sim_pubkey(k).as_str()));
        for e in [epoch, epoch + 1] {
            // The lab's schedule is the simulated pair's: one algorithm, two worlds.
            assert_eq!(s.attestation_slot(k, e), Some(sim_attester_slot(k, e, 8)));
        }
        for slot in &kd.proposals {
            assert_eq!(sim_proposer(*slot), k, "only our keys' proposals");
        }
        assert!(
            kd.sync_committee.is_empty(),
            "no key of ours in the committee"
        );
    }
    // Every proposal of ours in the two epochs is in the schedule.
    let ours: Vec<u64> = (epoch * 8..(epoch + 2) * 8)
        .filter(|slot| *slot > 0 && KEYS.contains(&sim_proposer(*slot)))
        .collect();
    let mut theirs: Vec<u64> = s.keys.values().flat_map(|k| k.proposals.clone()).collect();
    theirs.sort_unstable();
    assert_eq!(theirs, ours);
    drop(pair);

    // Keys 1 and 3 in the sync committee.
    let pair = Lab::get().scenario_on("reference", &eight_slots(vec![1, 3]));
    let (_, epoch, s) = read(&pair);
    for k in KEYS {
        let member = s.value.keys[&k].sync_committee.contains_key(&epoch);
        assert_eq!(member, k == 1 || k == 3, "key {k}");
    }
    assert_eq!(s.value.keys[&3].sync_committee[&epoch], vec![1]);

    // A beacon node answering garbage: an error naming the endpoint.
    pair.lab.fault(Role::Primary, "beacon-garbage", true);
    let cfg = pair.config();
    let (p, _) = pair.hosts();
    let c = ChainClock::new(0, 2, 8).unwrap();
    let e = rt()
        .block_on(probes::duty_schedule(
            p.as_ref(),
            &cfg.beacon.endpoint,
            validator_failover::config::BeaconFlavour::Zond,
            &c,
            0,
            &KEYS,
            T,
        ))
        .unwrap_err();
    assert_eq!(e.failure, Failure::Unexpected, "{e}");
    assert!(
        e.what.contains("/zond/v1/validator/duties/attester/0"),
        "{e}"
    );
    assert!(e.detail.contains("not JSON"), "{e}");
}

#[test]
fn with_the_real_duty_model_a_validator_started_after_its_duty_slot_misses_it() {
    let pair = Lab::get().scenario_on("reference", &eight_slots(Vec::new()));
    let lab = pair.lab;
    let (c, now_epoch, _) = read(&pair);
    let spe = c.slots_per_epoch;
    // An epoch ahead in which some keys attest early and some at least four slots
    // later: the validator is started in the early keys' slot.
    let (epoch, early) = (now_epoch + 2..now_epoch + 40)
        .find_map(|e| {
            let slots: Vec<u64> = KEYS.iter().map(|k| sim_attester_slot(*k, e, spe)).collect();
            let first = *slots.iter().min()?;
            (slots.iter().max()? - first >= 4).then_some((e, first))
        })
        .expect("an epoch whose duties spread over 4 slots");
    // Stop the primary's validator before that epoch begins (the strict model signs
    // the epochs before it at once), then switch to the real clients' model.
    lab.ctl(Role::Primary, &["systemctl", "stop", "qrysm-validator"]);
    lab.fault(Role::Primary, "validator-real-duties", true);
    let start_at = c.genesis_time as f64 + (early * c.seconds_per_slot) as f64 + 0.3;
    assert!(unix_now() < start_at, "the chosen epoch is still ahead");
    pair.wait(start_at - unix_now());
    lab.ctl(Role::Primary, &["systemctl", "start", "qrysm-validator"]);
    // The unit is active when `systemctl start` returns: its slot then, or later.
    let started = c.slot_at(unix_now());
    assert!(
        started >= early,
        "started in slot {started}, its duty slot {early}"
    );
    // The epoch's last slot has passed, and its attestations are on the record.
    let end = c.epoch_start(epoch + 1) as f64 + 1.0;
    pair.wait((end - unix_now()).max(0.0));

    let record: Vec<serde_json::Value> =
        std::fs::read_to_string(lab.dir.join("chain/attestations.jsonl"))
            .expect("the chain record")
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
    let signed: Vec<(u64, u64)> = record
        .iter()
        .filter(|r| r["host"] == "primary" && r["target_epoch"].as_u64() == Some(epoch))
        .filter_map(|r| Some((r["index"].as_u64()?, r["slot"].as_u64()?)))
        .collect();
    let mut performed = 0;
    for k in KEYS {
        let duty = sim_attester_slot(k, epoch, spe);
        let made = signed.iter().find(|(i, _)| *i == k);
        if duty <= early {
            assert!(
                made.is_none(),
                "key {k}'s duty slot {duty} began before the start (slot {started}): missed, yet {made:?} ({signed:?})"
            );
        } else if duty > started + 1 {
            assert_eq!(
                made.map(|m| m.1),
                Some(duty),
                "key {k} attests at its duty slot once running ({signed:?})"
            );
            performed += 1;
        }
    }
    assert!(
        performed > 0,
        "a key whose duty slot came after the start (slot {started}) was checked"
    );
    assert!(
        signed.len() < KEYS.len(),
        "a duty is missed: {signed:?} in epoch {epoch}"
    );
    pair.assert_no_double_signing();
}
