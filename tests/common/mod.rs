//! What the integration tests share: the two worlds (the simulated pair and the lab's
//! real systemd hosts) behind one interface, and the scenarios both must agree on.

#![allow(dead_code)]

pub mod engine;
pub mod lab;
pub mod tmux;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use validator_failover::config::{BeaconFlavour, Config, ExecutionFlavour, Role};
use validator_failover::engine::preflight::{Preflight, Verdict};
use validator_failover::hosts::Host;
use validator_failover::hosts::sim::{self, SimLayout, SimTime, SimWorld};

/// A fault a scenario switches on before the preflight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    BackupValidatorRunning,
    BackupUnlocked,
    BackupBeaconSyncing,
    BackupBeaconElOffline,
    BackupExecutionSyncing,
    BackupBeaconGarbage,
    BackupHostKeyMismatch,
    PrimaryPoweredOff,
    PrimarySshdHangs,
    PrimarySshdDown,
    /// No validator.db where the client keeps it.
    PrimaryHistoryMissing,
    /// A validator.db that holds no key (as a client that never signed creates it).
    PrimaryHistoryEmpty,
    /// The primary's history file replaced by an older copy (3 epochs behind) while
    /// its validator keeps signing into the DB it has open.
    PrimaryHistoryStale,
    /// Both hosts serve the newer `/qrl/v1` and `qrl_syncing`.
    ApiQrl,
    /// Both hosts serve the Ethereum originals.
    ApiEth,
    /// The primary's validator ignores SIGTERM (only SIGKILL stops it).
    PrimaryIgnoresSigterm,
    /// An archive of the primary's validator.db as it is now, on the backup, the
    /// newest of its backups (the role's own archives hold nothing).
    PrimaryHistoryArchived,
    /// The primary's validator.db replaced by a symbolic link (to /etc/shadow).
    PrimaryHistorySymlink,
    /// Every start of the backup's validator is skipped (an unmet unit condition).
    BackupStartSkipped,
    /// Both hosts' sshd as the reference security role hardens it
    /// (`AllowTcpForwarding no`): every forward is refused, curl on the host is not.
    SshdHardened,
    /// The backup's gzond without the `zond` HTTP module: every syncing method -32601.
    BackupExecDefaultModules,
}

/// A primary/backup pair in a known state, simulated or real.
pub trait Pair {
    fn config(&self) -> Config;
    /// Where the pair's validator keeps its history (`<datadir>/validator.db`).
    fn history_file(&self) -> String;
    fn hosts(&self) -> (Arc<dyn Host>, Arc<dyn Host>);
    fn apply(&self, fault: Fault);
    /// The time the driver runs on.
    fn clock(&self) -> Arc<dyn validator_failover::driver::Clock>;
    /// Pairs of attestations by one key that the chain would slash.
    fn slashable(&self) -> Vec<String>;
    /// (key index, target epoch) of every attestation the chain has from `host`.
    fn chain_records(&self, host: Role) -> Vec<(u64, u64)>;
    /// Let time pass (simulated, or really).
    fn wait(&self, secs: f64);
    /// A switch for the backup's beacon node syncing, usable while a run goes on.
    fn beacon_syncing_switch(&self) -> Arc<dyn Fn(bool) + Send + Sync>;
    /// A switch for the backup's beacon node answering garbage (it no longer answers
    /// its API), usable while a run goes on.
    fn beacon_garbage_switch(&self) -> Arc<dyn Fn(bool) + Send + Sync>;
    /// Something usable while a run goes on that puts a vote of this index conflicting
    /// with its first one (same target epoch, another root) in the chain record: the
    /// key is then slashed as the beacon node reports it.
    fn conflicting_vote(&self) -> Arc<dyn Fn(u64) + Send + Sync>;
}

pub struct SimPair {
    pub world: SimWorld,
    pub cfg: Config,
    pub clock_ms: Arc<AtomicU64>,
}

impl SimPair {
    pub fn new() -> SimPair {
        SimPair::with_layout(SimLayout::Reference)
    }

    /// The runbook's layout: the unit's datadir is its slashing-protection/ directory.
    pub fn runbook() -> SimPair {
        SimPair::with_layout(SimLayout::Runbook)
    }

    pub fn with_layout(layout: SimLayout) -> SimPair {
        let mut cfg = Config::with_hosts("primary", "backup");
        // As the lab's configuration (tests/common/lab.rs): a short stop timeout, so
        // that a validator ignoring SIGTERM (TimeoutStopSec 20 s) is escalated.
        cfg.failover.stop_timeout = std::time::Duration::from_secs(5);
        cfg.failover.verify_interval = std::time::Duration::from_secs(2);
        cfg.validator.indices = vec![0, 1, 2, 3];
        cfg.failover.gate_timeout = std::time::Duration::from_secs(120);
        let clock_ms = Arc::new(AtomicU64::new(
            validator_failover::chain::unix_now() as u64 * 1000,
        ));
        let world = SimWorld::with_layout(&cfg, SimTime::Manual(clock_ms.clone()), layout);
        SimPair {
            world,
            cfg,
            clock_ms,
        }
    }
}

impl Pair for SimPair {
    fn config(&self) -> Config {
        self.cfg.clone()
    }

    fn history_file(&self) -> String {
        self.world.history_file()
    }

    fn chain_records(&self, host: Role) -> Vec<(u64, u64)> {
        self.world
            .attestations()
            .into_iter()
            .filter(|a| a.host == host)
            .map(|a| (a.index, a.target_epoch))
            .collect()
    }

    fn hosts(&self) -> (Arc<dyn Host>, Arc<dyn Host>) {
        (
            Arc::new(self.world.host(Role::Primary)),
            Arc::new(self.world.host(Role::Backup)),
        )
    }

    fn apply(&self, fault: Fault) {
        let w = &self.world;
        let v = &self.cfg.validator;
        match fault {
            Fault::BackupValidatorRunning => w.force_start_validator(Role::Backup),
            Fault::BackupUnlocked => w.remove_path(Role::Backup, &v.lock_file),
            Fault::BackupBeaconSyncing => w.set_faults(Role::Backup, |f| f.beacon_syncing = true),
            Fault::BackupBeaconElOffline => {
                w.set_faults(Role::Backup, |f| f.beacon_el_offline = true)
            }
            Fault::BackupExecutionSyncing => w.set_faults(Role::Backup, |f| f.exec_syncing = true),
            Fault::BackupBeaconGarbage => w.set_faults(Role::Backup, |f| f.beacon_garbage = true),
            Fault::BackupHostKeyMismatch => {
                w.set_faults(Role::Backup, |f| f.host_key_mismatch = true)
            }
            Fault::PrimaryPoweredOff => w.set_faults(Role::Primary, |f| f.powered_off = true),
            Fault::PrimarySshdHangs => w.set_faults(Role::Primary, |f| f.ssh_hangs = true),
            Fault::PrimarySshdDown => w.set_faults(Role::Primary, |f| f.sshd_down = true),
            Fault::PrimaryHistoryMissing => w.remove_path(Role::Primary, &self.history_file()),
            Fault::PrimaryHistoryEmpty => {
                w.put_file(Role::Primary, &self.history_file(), sim::new_db())
            }
            Fault::PrimaryHistoryStale => w.replace_history_with_older(Role::Primary, 3),
            Fault::PrimaryHistoryArchived => w.archive_primary_history(),
            Fault::ApiQrl => {
                for r in Role::BOTH {
                    w.set_faults(r, |f| {
                        f.beacon_api = Some(BeaconFlavour::Qrl);
                        f.exec_api = Some(ExecutionFlavour::Qrl);
                    });
                }
            }
            Fault::ApiEth => {
                for r in Role::BOTH {
                    w.set_faults(r, |f| {
                        f.beacon_api = Some(BeaconFlavour::Eth);
                        f.exec_api = Some(ExecutionFlavour::Eth);
                    });
                }
            }
            Fault::PrimaryIgnoresSigterm => {
                w.set_faults(Role::Primary, |f| f.validator_ignores_sigterm = true)
            }
            Fault::BackupStartSkipped => w.block_starts(Role::Backup),
            Fault::SshdHardened => {
                for r in Role::BOTH {
                    w.set_faults(r, |f| f.forwarding_refused = true);
                }
            }
            Fault::BackupExecDefaultModules => {
                w.set_faults(Role::Backup, |f| f.exec_default_modules = true)
            }
            Fault::PrimaryHistorySymlink => {
                w.remove_path(Role::Primary, &self.history_file());
                w.add_symlink(Role::Primary, &self.history_file(), "/etc/shadow")
            }
        }
    }

    fn clock(&self) -> Arc<dyn validator_failover::driver::Clock> {
        Arc::new(self.world.clone())
    }

    fn slashable(&self) -> Vec<String> {
        self.world
            .slashable()
            .iter()
            .map(|p| format!("{p:?}"))
            .collect()
    }

    fn beacon_syncing_switch(&self) -> Arc<dyn Fn(bool) + Send + Sync> {
        let w = self.world.clone();
        Arc::new(move |on| w.set_faults(Role::Backup, |f| f.beacon_syncing = on))
    }

    fn beacon_garbage_switch(&self) -> Arc<dyn Fn(bool) + Send + Sync> {
        let w = self.world.clone();
        Arc::new(move |on| w.set_faults(Role::Backup, |f| f.beacon_garbage = on))
    }

    fn conflicting_vote(&self) -> Arc<dyn Fn(u64) + Send + Sync> {
        let w = self.world.clone();
        Arc::new(move |index| w.add_conflicting_vote(index))
    }

    fn wait(&self, secs: f64) {
        self.clock_ms
            .fetch_add((secs * 1000.0) as u64, std::sync::atomic::Ordering::SeqCst);
    }
}

/// What the preflight must say in a scenario: (item id, verdict, words in its summary).
pub fn expected(fault: Fault) -> Vec<(&'static str, Verdict, &'static str)> {
    use Verdict::*;
    match fault {
        Fault::BackupValidatorRunning => vec![
            ("backup.validator.unit", Red, "ALARM"),
            ("backup.validator.process", Red, "runs on the backup"),
            ("backup.validator.metrics", Red, "answers on the backup"),
        ],
        Fault::BackupUnlocked => vec![("backup.validator.lock", Red, "is gone")],
        Fault::BackupBeaconSyncing => vec![("backup.beacon", Red, "syncing")],
        Fault::BackupBeaconElOffline => vec![("backup.beacon", Red, "el_offline")],
        Fault::BackupExecutionSyncing => {
            vec![("backup.execution", Red, "syncing (block 16 of 1024)")]
        }
        Fault::BackupBeaconGarbage => vec![("backup.beacon", Red, "not JSON")],
        Fault::BackupHostKeyMismatch => vec![
            ("backup.ssh", Red, "host key"),
            ("backup.validator.unit", Unknown, "host key mismatch"),
        ],
        Fault::PrimaryPoweredOff => vec![
            ("primary.ssh", Red, "unreachable"),
            ("primary.validator.unit", Unknown, "not observed"),
        ],
        Fault::PrimarySshdHangs => vec![
            ("primary.ssh", Red, "timed out"),
            ("primary.validator.unit", Unknown, "not observed"),
        ],
        Fault::PrimarySshdDown => vec![
            ("primary.ssh", Red, "unreachable"),
            ("primary.history", Unknown, "not observed"),
        ],
        Fault::PrimaryHistoryMissing => vec![("primary.history", Red, "no history at")],
        Fault::PrimaryHistoryEmpty => vec![("primary.history", Red, "holds no key")],
        Fault::PrimaryHistoryStale => {
            vec![("primary.history", Red, "older than what the chain shows")]
        }
        Fault::PrimaryHistorySymlink => vec![("primary.history", Red, "symbolic link")],
        Fault::ApiQrl => vec![
            ("backup.beacon", Green, "/qrl/v1"),
            ("backup.execution", Green, "qrl_syncing = false"),
            ("primary.beacon", Green, "/qrl/v1"),
        ],
        Fault::ApiEth => vec![
            ("backup.beacon", Green, "/eth/v1"),
            ("backup.execution", Green, "eth_syncing = false"),
        ],
        Fault::SshdHardened => vec![
            (
                "primary.endpoints",
                Green,
                "read with curl on the host: the sshd forbids forwarding",
            ),
            (
                "backup.endpoints",
                Green,
                "read with curl on the host: the sshd forbids forwarding",
            ),
            // Not "nothing answers": a refused forward is no evidence of a stop.
            ("primary.validator.metrics", Green, "answers: 4 keys"),
            ("backup.validator.metrics", Green, "nothing answers"),
            ("backup.beacon", Green, "is_syncing=false"),
            ("backup.execution", Green, "zond_syncing = false"),
            ("chain", Green, "s slots x"),
        ],
        Fault::BackupExecDefaultModules => vec![(
            "backup.execution",
            Green,
            "judged by the beacon node's view: is_optimistic=false, el_offline=false; peers 25 (zond_syncing not enabled",
        )],
        // Invisible to a read-only preflight.
        Fault::PrimaryHistoryArchived => {
            vec![("backup.archives", Green, "holds 4 keys")]
        }
        Fault::PrimaryIgnoresSigterm | Fault::BackupStartSkipped => vec![],
    }
}

/// Check a preflight against what a scenario expects: the named items as expected, and
/// every other item green or a warning (nothing else may turn red on the side).
pub fn assert_preflight(p: &Preflight, fault: Option<Fault>) {
    let exp = fault.map(expected).unwrap_or_default();
    let dump = || {
        p.items
            .iter()
            .map(|i| format!("{} {} {}", i.verdict.symbol(), i.id, i.summary))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for (id, verdict, words) in &exp {
        let item = p
            .items
            .iter()
            .find(|i| i.id == *id)
            .unwrap_or_else(|| panic!("no item {id} in:\n{}", dump()));
        assert_eq!(item.verdict, *verdict, "{id}: {}\n{}", item.summary, dump());
        assert!(
            item.summary.contains(words),
            "{id} should say {words:?}, says {:?}\n{}",
            item.summary,
            dump()
        );
    }
    // Items a fault makes "not observed" are whole hosts; the others must be fine.
    let unobserved_host = exp
        .iter()
        .find(|(_, v, _)| *v == Verdict::Unknown)
        .map(|(id, _, _)| id.split('.').next().unwrap());
    for i in &p.items {
        if exp.iter().any(|(id, _, _)| *id == i.id) {
            continue;
        }
        if let Some(h) = unobserved_host
            && i.id.starts_with(&format!("{h}."))
        {
            assert_eq!(
                i.verdict,
                Verdict::Unknown,
                "{} should be unobserved\n{}",
                i.id,
                dump()
            );
            continue;
        }
        assert!(
            matches!(i.verdict, Verdict::Green | Verdict::Warn),
            "{} is {:?} ({}) but the scenario {fault:?} should not touch it\n{}",
            i.id,
            i.verdict,
            i.summary,
            dump()
        );
    }
    // The reference role's backups archive its empty slashing-protection/: flagged,
    // never green, unless a real archive of the history is there.
    if fault != Some(Fault::PrimaryHistoryArchived)
        && let Some(a) = p.items.iter().find(|i| i.id == "backup.archives")
        && a.verdict != Verdict::Unknown
    {
        assert!(
            a.verdict == Verdict::Warn && a.summary.contains("holds no history"),
            "the role's empty archives are flagged: {}\n{}",
            a.summary,
            dump()
        );
    }
    let should_fail = exp.iter().any(|(_, v, _)| v.fails());
    assert_eq!(
        !p.all_green(),
        should_fail,
        "exit status of the preflight\n{}",
        dump()
    );
}

/// Every scenario the preflight is tested on, in both worlds.
pub const SCENARIOS: [Fault; 19] = [
    Fault::BackupValidatorRunning,
    Fault::BackupUnlocked,
    Fault::BackupBeaconSyncing,
    Fault::BackupBeaconElOffline,
    Fault::BackupExecutionSyncing,
    Fault::BackupBeaconGarbage,
    Fault::BackupHostKeyMismatch,
    Fault::PrimaryPoweredOff,
    Fault::PrimarySshdHangs,
    Fault::PrimarySshdDown,
    Fault::PrimaryHistoryMissing,
    Fault::PrimaryHistoryEmpty,
    Fault::PrimaryHistoryStale,
    Fault::PrimaryHistorySymlink,
    Fault::PrimaryHistoryArchived,
    Fault::ApiQrl,
    Fault::ApiEth,
    Fault::SshdHardened,
    Fault::BackupExecDefaultModules,
];

/// One test per scenario, each calling `$run(Some(Fault::…))`, plus a test that
/// every scenario in [`SCENARIOS`] has one. Used by the simulated and the lab suites,
/// so that both test the same list.
#[macro_export]
macro_rules! scenario_tests {
    ($run:path) => {
        $crate::scenario_tests!(@each $run,
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
            primary_history_stale_is_red => PrimaryHistoryStale,
            primary_history_symlink_is_red => PrimaryHistorySymlink,
            archive_with_the_history_is_named => PrimaryHistoryArchived,
            qrl_api_flavour_is_detected => ApiQrl,
            eth_api_flavour_is_detected => ApiEth,
            hardened_sshd_is_read_with_curl => SshdHardened,
            backup_exec_without_zond_module_is_judged_by_the_beacon => BackupExecDefaultModules,
        );
    };
    (@each $run:path, $($name:ident => $fault:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $run(Some($crate::common::Fault::$fault));
            }
        )*
        #[test]
        fn every_scenario_is_tested() {
            let tested = [$($crate::common::Fault::$fault),*];
            for f in $crate::common::SCENARIOS {
                assert!(tested.contains(&f), "{f:?} has no test");
            }
        }
    };
}
