//! The simulated pair's power device (`power::SimPowerDevice`): what engine tests on
//! the simulated pair get in place of a BMC driven through fence-agents.

mod common;

use std::time::Duration;

use common::SimPair;
use validator_failover::config::Role;
use validator_failover::hosts::{Cmd, Failure, Host};
use validator_failover::power::{
    PowerAction, PowerDevice, PowerErrorKind, PowerState, SIM_AGENT, SimPowerDevice,
};

/// One epoch of the simulated chain (2 s slots, 4 per epoch).
const EPOCH: f64 = 8.0;

fn signed(p: &SimPair, role: Role) -> usize {
    p.world
        .attestations()
        .iter()
        .filter(|a| a.host == role)
        .count()
}

async fn answers(p: &SimPair, role: Role) -> Result<(), Failure> {
    p.world
        .host(role)
        .run(&Cmd::new("true"), Duration::from_secs(5))
        .await
        .map(|_| ())
        .map_err(|e| e.failure)
}

#[tokio::test]
async fn power_off_silences_the_host_and_power_on_boots_it() {
    let p = SimPair::new();
    let dev = SimPowerDevice::new(p.world.clone(), &p.cfg, Role::Primary);
    let info = dev.info();
    assert_eq!(
        (info.role, info.host.as_str(), info.agent.as_str()),
        (Role::Primary, "primary", SIM_AGENT)
    );
    let ev = dev.status().await.unwrap();
    assert_eq!(ev.verified, PowerState::On);
    assert_eq!(ev.calls[0].exit, Some(0));

    p.world.advance(EPOCH).await;
    let before = signed(&p, Role::Primary);
    assert!(before > 0, "the primary signs");

    let ev = dev.power_off().await.unwrap();
    assert_eq!(ev.verified, PowerState::Off);
    let calls: Vec<_> = ev.calls.iter().map(|c| (c.action, c.exit)).collect();
    assert_eq!(
        calls,
        [(PowerAction::Off, Some(0)), (PowerAction::Status, Some(2))],
        "as fence_ipmilan's exit codes"
    );
    assert_eq!(dev.status().await.unwrap().verified, PowerState::Off);
    assert_eq!(answers(&p, Role::Primary).await, Err(Failure::Unreachable));
    p.world.advance(3.0 * EPOCH).await;
    assert_eq!(
        signed(&p, Role::Primary),
        before,
        "nothing signed while off"
    );

    // Off again: already off, still verified.
    let ev = dev.power_off().await.unwrap();
    assert_eq!(ev.verified, PowerState::Off);
    assert!(ev.calls[0].stdout.contains("Already OFF"), "{:?}", ev.calls);

    // On: it boots; its validator is enabled and not locked, so it signs again.
    let ev = dev.power_on().await.unwrap();
    assert_eq!(ev.verified, PowerState::On);
    assert_eq!(answers(&p, Role::Primary).await, Ok(()));
    p.world.advance(2.0 * EPOCH).await;
    assert!(
        signed(&p, Role::Primary) > before,
        "it signs after the boot"
    );
    assert!(p.world.slashable().is_empty());
}

#[tokio::test]
async fn a_fenced_primary_comes_up_fenced() {
    let p = SimPair::new();
    let v = &p.cfg.validator;
    let host = p.world.host(Role::Primary);
    // The persistent part of the fence: the lock file and the unit disabled (the
    // runtime drop-in lives in /run and is gone after a boot).
    p.world
        .put_file(Role::Primary, &v.lock_file, b"fenced\n".to_vec());
    let out = host
        .run(
            &Cmd::new("systemctl").args(["disable", v.service.as_str()]),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(out.success());
    let dev = SimPowerDevice::new(p.world.clone(), &p.cfg, Role::Primary);
    dev.power_off().await.unwrap();
    p.world.advance(EPOCH).await;
    let before = signed(&p, Role::Primary);
    assert_eq!(dev.power_on().await.unwrap().verified, PowerState::On);
    assert_eq!(answers(&p, Role::Primary).await, Ok(()));
    p.world.advance(3.0 * EPOCH).await;
    assert_eq!(
        signed(&p, Role::Primary),
        before,
        "disabled and locked: its validator stays stopped after the boot"
    );
    let out = host
        .run(
            &Cmd::new("pgrep").args(["-x", "--", v.process_name.as_str()]),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(out.status, Some(1), "no validator process");
}

#[tokio::test]
async fn an_unreachable_bmc_is_a_typed_error_and_nothing_changes() {
    let p = SimPair::new();
    p.world
        .set_faults(Role::Primary, |f| f.bmc_unreachable = true);
    let dev = SimPowerDevice::new(p.world.clone(), &p.cfg, Role::Primary);
    for e in [
        dev.status().await.unwrap_err(),
        dev.power_off().await.unwrap_err(),
    ] {
        assert!(
            matches!(e.kind, PowerErrorKind::Failed { exit: Some(1), .. }),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .starts_with("primary (primary): fence agent simulated BMC: action="),
            "{e}"
        );
        assert_eq!(e.calls.len(), 1, "the attempt is evidence");
    }
    assert_eq!(answers(&p, Role::Primary).await, Ok(()), "still on");
    let before = signed(&p, Role::Primary);
    p.world.advance(2.0 * EPOCH).await;
    assert!(signed(&p, Role::Primary) > before, "still signing");
}
