//! The lab: two real systemd hosts under systemd-nspawn (`tests/lab/lab.sh`), booted
//! once and shared by every test, which take turns (a file lock) and reset the
//! hosts before each scenario.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use validator_failover::config::{Config, Role};
use validator_failover::hosts::Host;

use super::{Fault, Pair};

pub struct Lab {
    pub dir: PathBuf,
    pub script: PathBuf,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab.sh")
}

/// Run `lab.sh` with arguments; panics with its output when it fails.
pub fn lab_sh(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .expect("bash runs");
    if !out.status.success() {
        panic!(
            "lab.sh {} failed ({}):\n{}\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Lab {
    /// The lab, booted (once per test process; `lab.sh up` is idempotent and fast
    /// when the hosts are already up).
    pub fn get() -> &'static Lab {
        static LAB: OnceLock<Lab> = OnceLock::new();
        LAB.get_or_init(|| {
            lab_sh(&["up"]);
            Lab {
                dir: PathBuf::from(
                    std::env::var("VF_LAB_DIR").unwrap_or_else(|_| "/tmp/vf-lab".into()),
                ),
                script: script(),
            }
        })
    }

    /// Take the lab for one scenario: waits for other tests (in this process or
    /// another), then resets both hosts to the baseline, laid out as the reference
    /// deployment (the history in `--datadir=/var/lib/qrysm/validator`).
    pub fn scenario(&'static self) -> LabPair {
        self.scenario_in("reference")
    }

    /// The same, with the hosts laid out as `layout` says (`lab.sh layout`):
    /// "reference", or "runbook" (the unit's datadir is the runbook's
    /// slashing-protection/ directory, so the client's DB lives there).
    pub fn scenario_in(&'static self, layout: &str) -> LabPair {
        self.scenario_on(layout, &Chain::default())
    }

    /// The same on a chain set up as `chain` says (`lab.sh slots-per-epoch`,
    /// `lab.sh sync-committee`); every other scenario gets the default chain back.
    pub fn scenario_on(&'static self, layout: &str, chain: &Chain) -> LabPair {
        let f = File::options()
            .create(true)
            .append(true)
            .open(self.dir.join(".tests.lock"))
            .expect("lab test lock file");
        f.lock().expect("lab test lock");
        lab_sh(&["layout", layout]);
        lab_sh(&["slots-per-epoch", &chain.slots_per_epoch.to_string()]);
        let committee: Vec<String> = chain.sync_committee.iter().map(u64::to_string).collect();
        let committee = if committee.is_empty() {
            "none".to_string()
        } else {
            committee.join(",")
        };
        lab_sh(&["sync-committee", &committee]);
        lab_sh(&["reset"]);
        let tmp = tempfile::tempdir().expect("tempdir");
        LabPair {
            lab: self,
            _guard: f,
            tmp,
            bad_key: std::cell::Cell::new(false),
            operator: std::cell::RefCell::new(None),
        }
    }

    pub fn ctl(&self, host: Role, args: &[&str]) -> String {
        let mut a = vec!["ctl", host.as_str()];
        a.extend_from_slice(args);
        lab_sh(&a)
    }

    pub fn fault(&self, host: Role, name: &str, on: bool) {
        lab_sh(&["fault", host.as_str(), name, if on { "on" } else { "off" }]);
    }

    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    /// The hosts' BMCs as `lab.sh up` started them (`$VF_LAB_DIR/bmc.env`).
    pub fn bmc(&self) -> Bmc {
        let path = self.dir.join("bmc.env");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: the lab has no BMCs (`lab.sh up` starts them when pyghmi is in /opt/vf-pyghmi, as .ci/run installs it)",
                path.display()
            )
        });
        let var = |k: &str| -> String {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("{}: no {k}", path.display()))
                .to_string()
        };
        let port = |k: &str| -> u16 {
            var(k)
                .parse()
                .unwrap_or_else(|e| panic!("{}: {k}: {e}", path.display()))
        };
        Bmc {
            username: var("BMC_USERNAME"),
            password_file: PathBuf::from(var("BMC_PASSWORD_FILE")),
            primary_port: port("PRIMARY_BMC_PORT"),
            backup_port: port("BACKUP_BMC_PORT"),
        }
    }
}

/// The IPMI BMCs of the lab's hosts (tests/lab/bmc/labbmc.py): 127.0.0.1, UDP.
#[derive(Debug, Clone)]
pub struct Bmc {
    pub username: String,
    /// Mode 0600, one line.
    pub password_file: PathBuf,
    pub primary_port: u16,
    pub backup_port: u16,
}

impl Bmc {
    pub fn port(&self, role: Role) -> u16 {
        match role {
            Role::Primary => self.primary_port,
            Role::Backup => self.backup_port,
        }
    }

    pub fn password(&self) -> String {
        std::fs::read_to_string(&self.password_file)
            .expect("the BMC password")
            .trim()
            .to_string()
    }
}

/// The lab's chain, as a scenario wants it (applied by its reset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// 4 (the default) or 8.
    pub slots_per_epoch: u64,
    /// Our keys in the sync committee (none by default).
    pub sync_committee: Vec<u64>,
}

impl Default for Chain {
    fn default() -> Chain {
        Chain {
            slots_per_epoch: 4,
            sync_committee: Vec::new(),
        }
    }
}

/// The lab for one scenario; other tests wait until it is dropped.
pub struct LabPair {
    pub lab: &'static Lab,
    _guard: File,
    pub tmp: tempfile::TempDir,
    bad_key: std::cell::Cell<bool>,
    /// Reach the hosts as this user with `become` (the lab's `ops`), not as root.
    operator: std::cell::RefCell<Option<String>>,
}

impl LabPair {
    /// From now on, the configuration reaches both hosts as `user` with `[ssh]
    /// become = true` (the lab's `ops` has passwordless sudo).
    pub fn as_operator(&self, user: &str) {
        *self.operator.borrow_mut() = Some(user.to_string());
    }

    /// The configuration for the lab, written to a file as an operator would.
    pub fn config_file(&self) -> PathBuf {
        let ssh_config = if self.bad_key.get() {
            self.tmp.path().join("ssh_config")
        } else {
            self.lab.ssh_config()
        };
        let path = self.tmp.path().join("lab.toml");
        let (login, become_) = match self.operator.borrow().as_deref() {
            Some(u) => (format!("{u}@"), "become = true\n"),
            None => (String::new(), ""),
        };
        std::fs::write(
            &path,
            format!(
                "[primary]\nssh = \"{login}primary\"\n[backup]\nssh = \"{login}backup\"\n[ssh]\n{become_}config_file = {:?}\nconnect_timeout_secs = 5\ncommand_timeout_secs = 10\n[failover]\nruns_dir = {:?}\nstop_timeout_secs = 5\nverify_interval_secs = 2\ngate_timeout_secs = 120\n[validator]\nindices = [0, 1, 2, 3]\n",
                ssh_config.display().to_string(),
                self.tmp.path().join("runs").display().to_string()
            ),
        )
        .expect("write lab config");
        path
    }

    /// Prove from the lab's chain record that no key signed twice.
    pub fn assert_no_double_signing(&self) {
        lab_sh(&["chain-check"]);
    }

    /// A copy of the ssh config whose known_hosts holds a wrong key for the backup.
    fn use_bad_backup_key(&self) {
        let dir = self.tmp.path();
        let key = dir.join("impostor");
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .expect("ssh-keygen runs");
        assert!(st.success());
        let pubkey = std::fs::read_to_string(key.with_extension("pub")).expect("impostor key");
        let real =
            std::fs::read_to_string(self.lab.dir.join("known_hosts")).expect("lab known_hosts");
        let mut bad = String::new();
        for line in real.lines() {
            if line.starts_with("backup ") {
                let mut it = pubkey.split_whitespace();
                bad.push_str(&format!(
                    "backup {} {}\n",
                    it.next().unwrap(),
                    it.next().unwrap()
                ));
            } else {
                bad.push_str(line);
                bad.push('\n');
            }
        }
        let known = dir.join("known_hosts");
        std::fs::write(&known, bad).expect("write known_hosts");
        let cfg = std::fs::read_to_string(self.lab.ssh_config()).expect("lab ssh_config");
        let lab_known = self.lab.dir.join("known_hosts").display().to_string();
        assert!(
            cfg.contains(&lab_known),
            "the lab's ssh_config names {lab_known}"
        );
        std::fs::write(
            dir.join("ssh_config"),
            cfg.replace(&lab_known, &known.display().to_string()),
        )
        .expect("write ssh_config");
        self.bad_key.set(true);
    }
}

impl Pair for LabPair {
    fn config(&self) -> Config {
        Config::load(&self.config_file()).expect("the lab's config loads")
    }

    fn history_file(&self) -> String {
        // The lab's layout decides the unit's --datadir (lab.sh layout).
        match lab_sh(&["layout"]).trim() {
            "runbook" => "/var/lib/qrysm/validator/slashing-protection/validator.db".into(),
            _ => "/var/lib/qrysm/validator/validator.db".into(),
        }
    }

    fn hosts(&self) -> (Arc<dyn Host>, Arc<dyn Host>) {
        validator_failover::cli::ssh_hosts(&self.config()).expect("ssh hosts")
    }

    fn beacon_syncing_switch(&self) -> Arc<dyn Fn(bool) + Send + Sync> {
        let lab = self.lab;
        Arc::new(move |on| lab.fault(Role::Backup, "beacon-syncing", on))
    }

    fn beacon_garbage_switch(&self) -> Arc<dyn Fn(bool) + Send + Sync> {
        let lab = self.lab;
        Arc::new(move |on| lab.fault(Role::Backup, "beacon-garbage", on))
    }

    fn conflicting_vote(&self) -> Arc<dyn Fn(u64) + Send + Sync> {
        // The chain record every validator appends to (tests/lab/README.md): the
        // index's first vote again, with another root, signed elsewhere.
        let path = self.lab.dir.join("chain/attestations.jsonl");
        Arc::new(move |index| {
            use std::io::Write;
            let text = std::fs::read_to_string(&path).expect("the chain record");
            let mut first: serde_json::Value = text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|r| r["index"].as_u64() == Some(index))
                .expect("a vote of this index in the chain record");
            first["root"] = serde_json::Value::String(format!("{:0>64}", "bad"));
            first["host"] = serde_json::Value::String("elsewhere".into());
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .expect("the chain record opens for appending");
            writeln!(f, "{first}").expect("the conflicting vote is appended");
        })
    }

    fn apply(&self, fault: Fault) {
        let cfg = self.config();
        let v = &cfg.validator;
        let lab = self.lab;
        match fault {
            Fault::BackupValidatorRunning => {
                // Started behind the lock's back: the lock file is put back after.
                lab.ctl(
                    Role::Backup,
                    &[
                        "sh",
                        "-c",
                        "mv \"$1\" /root/lock.saved && systemctl start \"$2\"; rc=$?; mv /root/lock.saved \"$1\"; exit $rc",
                        "sh",
                        &v.lock_file,
                        &v.service,
                    ],
                );
            }
            Fault::BackupUnlocked => {
                lab.ctl(Role::Backup, &["rm", "-f", "--", &v.lock_file]);
            }
            Fault::BackupBeaconSyncing => lab.fault(Role::Backup, "beacon-syncing", true),
            Fault::BackupBeaconElOffline => lab.fault(Role::Backup, "beacon-el-offline", true),
            Fault::BackupExecutionSyncing => lab.fault(Role::Backup, "exec-syncing", true),
            Fault::SshdHardened => {
                for r in Role::BOTH {
                    lab.fault(r, "sshd-hardened", true);
                }
            }
            Fault::BackupExecDefaultModules => {
                lab.fault(Role::Backup, "exec-default-modules", true)
            }
            Fault::BackupBeaconGarbage => lab.fault(Role::Backup, "beacon-garbage", true),
            Fault::BackupHostKeyMismatch => self.use_bad_backup_key(),
            Fault::PrimaryPoweredOff => lab.fault(Role::Primary, "power-off", true),
            Fault::PrimarySshdHangs => lab.fault(Role::Primary, "sshd-hang", true),
            Fault::PrimarySshdDown => lab.fault(Role::Primary, "sshd-down", true),
            Fault::PrimaryHistoryMissing => {
                lab.ctl(Role::Primary, &["rm", "-f", "--", &self.history_file()]);
            }
            Fault::PrimaryHistoryEmpty => {
                // Replaced under the running validator by a DB that holds no key.
                let db = self.history_file();
                lab.ctl(
                    Role::Primary,
                    &[
                        "sh",
                        "-c",
                        "rm -f -- \"$1\" && python3 -B /usr/local/lib/vf-lab/labsim.py db-init \"$1\" && chown qrysm:qrysm -- \"$1\"",
                        "sh",
                        &db,
                    ],
                );
            }
            Fault::PrimaryHistoryStale => {
                // A copy taken now, put back (rename) 3 epochs later: the validator keeps
                // writing to the DB it has open, the file on disk falls behind.
                let db = self.history_file();
                let old = format!("{db}.lab-stale");
                lab.ctl(Role::Primary, &["cp", "-a", "--", &db, &old]);
                self.wait(3.0 * 8.0 + 1.0);
                lab.ctl(Role::Primary, &["mv", "-f", "--", &old, &db]);
            }
            Fault::ApiQrl => {
                for r in Role::BOTH {
                    lab.fault(r, "beacon-api-qrl", true);
                    lab.fault(r, "exec-api-qrl", true);
                }
            }
            Fault::ApiEth => {
                for r in Role::BOTH {
                    lab.fault(r, "beacon-api-eth", true);
                    lab.fault(r, "exec-api-eth", true);
                }
            }
            Fault::PrimaryIgnoresSigterm => {
                lab.fault(Role::Primary, "validator-ignore-sigterm", true)
            }
            Fault::BackupStartSkipped => {
                lab.ctl(
                    Role::Backup,
                    &[
                        "sh",
                        "-c",
                        "mkdir -p /run/systemd/system/qrysm-validator.service.d && printf '[Unit]\\nConditionPathExists=/nonexistent-lab-fault\\n' > /run/systemd/system/qrysm-validator.service.d/lab-fault.conf && systemctl daemon-reload",
                    ],
                );
            }
            Fault::PrimaryHistoryArchived => {
                // Through the chain directory both hosts share.
                let db = self.history_file();
                let (dir, name) = db.rsplit_once('/').unwrap();
                lab.ctl(
                    Role::Primary,
                    &[
                        "tar",
                        "-czf",
                        "/lab/chain/vf-history.tar.gz",
                        "-C",
                        dir,
                        "--",
                        name,
                    ],
                );
                lab.ctl(
                    Role::Backup,
                    &[
                        "sh",
                        "-c",
                        "mv -- /lab/chain/vf-history.tar.gz \"/opt/quantapool/backups/slashing-protection-$(date +%Y%m%d_%H%M%S).tar.gz\"",
                    ],
                );
            }
            Fault::PrimaryHistorySymlink => {
                lab.ctl(
                    Role::Primary,
                    &["ln", "-sfn", "--", "/etc/shadow", &self.history_file()],
                );
            }
        }
    }

    fn clock(&self) -> Arc<dyn validator_failover::driver::Clock> {
        Arc::new(validator_failover::driver::RealClock)
    }

    fn chain_records(&self, host: Role) -> Vec<(u64, u64)> {
        // The chain record both hosts' validators append to (lab.sh: $VF_LAB_DIR/chain).
        let text = std::fs::read_to_string(self.lab.dir.join("chain/attestations.jsonl"))
            .expect("the lab's chain record");
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|r| r["host"] == host.as_str())
            .filter_map(|r| Some((r["index"].as_u64()?, r["target_epoch"].as_u64()?)))
            .collect()
    }

    fn slashable(&self) -> Vec<String> {
        let out = Command::new("bash")
            .arg(script())
            .arg("chain-check")
            .output()
            .expect("bash");
        if out.status.success() {
            Vec::new()
        } else {
            vec![String::from_utf8_lossy(&out.stdout).into_owned()]
        }
    }

    fn wait(&self, secs: f64) {
        std::thread::sleep(std::time::Duration::from_secs_f64(secs));
    }
}
