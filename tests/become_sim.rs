//! Operators who log in as themselves, on the simulated pair: with `[ssh] become =
//! true` the whole failover and a rollback go through (the simulated hosts run
//! commands through sudo as root would); without it, a non-root login is refused
//! what a real host refuses it (the validator's history, the backups, `/run`,
//! every systemctl that changes something), and the failover stops before anything
//! is touched. A sudo that asks for a password is not modelled here: the lab's
//! `ops2` is (`tests/lab_become.rs`).

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use common::SimPair;
use common::engine as e;
use validator_failover::config::{Config, Privilege, Role};
use validator_failover::driver::Ended;
use validator_failover::hosts::Host;
use validator_failover::hosts::sim::{SimTime, SimWorld};
use validator_failover::probes;

/// The simulated pair reached as `ops`, with or without `become`.
fn ops_pair(become_: bool) -> SimPair {
    let text = format!(
        "[primary]\nssh = \"ops@primary\"\n[backup]\nssh = \"ops@backup\"\n[ssh]\nbecome = {become_}\n[validator]\nindices = [0, 1, 2, 3]\n[failover]\nstop_timeout_secs = 5\nverify_interval_secs = 2\ngate_timeout_secs = 120\n"
    );
    let cfg = Config::parse(&text, std::path::Path::new("ops.toml")).unwrap();
    assert_eq!(
        cfg.primary.privilege,
        if become_ {
            Privilege::Sudo {
                user: "root".into(),
            }
        } else {
            Privilege::Login
        }
    );
    let clock_ms = Arc::new(AtomicU64::new(
        validator_failover::chain::unix_now() as u64 * 1000,
    ));
    let world = SimWorld::new(&cfg, SimTime::Manual(clock_ms.clone()));
    SimPair {
        world,
        cfg,
        clock_ms,
    }
}

#[test]
fn with_become_the_whole_failover_and_a_rollback_go_through_as_ops() {
    let pair = ops_pair(true);
    e::rollback_after_the_backup_signed_brings_its_history_back(&pair);
}

#[test]
fn with_become_the_failover_stops_and_fences_the_primary_as_ops() {
    e::happy_path_stops_and_fences_the_primary(&ops_pair(true));
}

#[test]
fn without_become_a_non_root_login_is_refused_and_nothing_is_touched() {
    let pair = ops_pair(false);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (p, b) = (
        Arc::new(pair.world.host(Role::Primary)) as Arc<dyn Host>,
        Arc::new(pair.world.host(Role::Backup)) as Arc<dyn Host>,
    );
    // The preflight: the history cannot be read, as on a real host.
    let pf = rt.block_on(validator_failover::check::preflight(&pair.cfg, p, b));
    assert!(!pf.all_green());
    let history = pf
        .items
        .iter()
        .find(|i| i.id == "primary.history")
        .expect("the primary's history item");
    assert!(
        history.summary.contains("Permission denied"),
        "{}",
        history.summary
    );
    let ssh = pf.items.iter().find(|i| i.id == "primary.ssh").unwrap();
    assert!(
        ssh.summary.contains("commands run as ops, without sudo"),
        "{}",
        ssh.summary
    );
    // The failover: stopped before anything changes (the run lock cannot even be
    // written in /run).
    let run = e::start(&pair, vec![]);
    match &run.ended {
        Ended::Blocked(why) => assert!(why.contains("Permission denied"), "{why}"),
        other => panic!("a non-root login without become went on: {other:?}"),
    }
    assert!(run.op.asked.is_empty(), "nothing was asked");
    assert!(run.commands().is_empty(), "{:?}", run.commands());
    // As root sees the hosts: the primary still runs, the backup is still locked.
    let t = Duration::from_secs(5);
    rt.block_on(async {
        let root_p = pair.world.root_host(Role::Primary);
        let u = probes::unit_state(&root_p, &pair.cfg.validator.service, t)
            .await
            .unwrap()
            .value;
        assert_eq!(
            (u.active_state.as_str(), u.sub_state.as_str()),
            ("active", "running")
        );
        let root_b = pair.world.root_host(Role::Backup);
        let lock = probes::lock_file(&root_b, &pair.cfg.validator.lock_file, t)
            .await
            .unwrap()
            .value;
        assert!(lock.is_some(), "the backup is still locked");
    });
    pair.world.advance(9.0).await_blocking(&rt);
    assert!(pair.world.slashable().is_empty());
}

/// `SimWorld::advance` from a synchronous test.
trait Blocking {
    fn await_blocking(self, rt: &tokio::runtime::Runtime);
}

impl<F: std::future::Future<Output = ()>> Blocking for F {
    fn await_blocking(self, rt: &tokio::runtime::Runtime) {
        rt.block_on(self)
    }
}
