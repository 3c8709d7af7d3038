//! The runbook's commands, as data: what each action sends to a host. Every word is
//! a literal argument (the hosts layer quotes them); nothing here runs anything.

use serde::{Deserialize, Serialize};

use crate::config::{Config, Role};
use crate::observed::Cmd;

/// Something the failover does to a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "action", content = "host")]
pub enum Action {
    /// `mkdir -p` the lock file's directory.
    EnsureLockDir(Role),
    /// Create the lock file (root, 0444): the unit's precheck then refuses to start.
    WriteLock(Role),
    /// `systemctl disable`: not started at boot.
    Disable(Role),
    /// `systemctl mask --runtime`: cannot be started at all until unmasked or rebooted.
    /// Only for a unit whose file lives under /lib or /usr/lib: a runtime mask is
    /// shadowed by a unit file in /etc/systemd/system (seen on systemd 252), hence
    /// the drop-in below as well.
    MaskRuntime(Role),
    /// `mkdir -p` the unit's runtime drop-in directory.
    EnsureDropInDir(Role),
    /// A runtime drop-in whose condition can never be met: nothing can start the unit
    /// (a manual start, a restart, a dependency) until it is removed or the host reboots.
    WriteFenceDropIn(Role),
    /// `systemctl daemon-reload`, so that systemd sees the drop-in.
    DaemonReload(Role),
    RemoveFenceDropIn(Role),
    /// `systemctl stop`: a stop through systemd never triggers a restart.
    Stop(Role),
    /// `systemctl kill --signal=SIGKILL`: the escalation, after the fence.
    Kill(Role),
    UnmaskRuntime(Role),
    Enable(Role),
    RemoveLock(Role),
    Start(Role),
}

impl Action {
    pub fn host(self) -> Role {
        match self {
            Action::EnsureLockDir(r)
            | Action::WriteLock(r)
            | Action::Disable(r)
            | Action::MaskRuntime(r)
            | Action::EnsureDropInDir(r)
            | Action::WriteFenceDropIn(r)
            | Action::DaemonReload(r)
            | Action::RemoveFenceDropIn(r)
            | Action::Stop(r)
            | Action::Kill(r)
            | Action::UnmaskRuntime(r)
            | Action::Enable(r)
            | Action::RemoveLock(r)
            | Action::Start(r) => r,
        }
    }

    /// In the operator's words.
    pub fn describe(self, cfg: &Config) -> String {
        let v = &cfg.validator;
        let h = cfg.host(self.host()).name.clone();
        match self {
            Action::EnsureLockDir(_) => {
                format!("make sure the lock file's directory exists on {h}")
            }
            Action::WriteLock(_) => format!("create the lock file {} on {h}", v.lock_file),
            Action::Disable(_) => format!("disable {} on {h} (no start at boot)", v.service),
            Action::MaskRuntime(_) => format!(
                "mask {} on {h} for the runtime (no start at all)",
                v.service
            ),
            Action::EnsureDropInDir(_) => format!(
                "make sure the runtime drop-in directory of {} exists on {h}",
                v.service
            ),
            Action::WriteFenceDropIn(_) => format!(
                "fence {} on {h} with a runtime drop-in (no start at all)",
                v.service
            ),
            Action::DaemonReload(_) => format!("reload systemd on {h}"),
            Action::RemoveFenceDropIn(_) => {
                format!("remove the fence drop-in of {} on {h}", v.service)
            }
            Action::Stop(_) => format!("stop {} on {h}", v.service),
            Action::Kill(_) => format!("kill {} on {h} with SIGKILL through systemd", v.service),
            Action::UnmaskRuntime(_) => format!("unmask {} on {h}", v.service),
            Action::Enable(_) => format!("enable {} on {h}", v.service),
            Action::RemoveLock(_) => format!("remove the lock file {} on {h}", v.lock_file),
            Action::Start(_) => format!("start {} on {h}", v.service),
        }
    }
}

/// How an action reaches the host: a command, or a file written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Run(Cmd),
    WriteFile {
        path: String,
        content: Vec<u8>,
        mode: u32,
    },
}

/// The lock file's words: who locked the host, and why.
pub fn lock_content(run: &str, role: Role) -> Vec<u8> {
    format!(
        "Locked by validator-failover run {run}: this host ({role}) must not run the validator.\nRemove only when this host is to sign again and the other one is stopped and locked.\n"
    )
    .into_bytes()
}

/// The unit's full name.
pub fn unit_name(cfg: &Config) -> String {
    let s = &cfg.validator.service;
    if s.contains('.') {
        s.clone()
    } else {
        format!("{s}.service")
    }
}

/// The fence's runtime drop-in: gone at reboot, like a runtime mask.
pub fn fence_dropin(cfg: &Config) -> String {
    format!(
        "/run/systemd/system/{}.d/zz-validator-failover-fence.conf",
        unit_name(cfg)
    )
}

/// The run lock on each host: two engineers cannot fail the same pair over at once.
pub const RUN_LOCK: &str = "/run/validator-failover.lock";

/// The condition the fence puts on the unit: a path nobody creates.
pub const FENCE_CONDITION: &str = "/run/validator-failover/fence-lifted";

fn fence_content(run: &str) -> Vec<u8> {
    format!(
        "# validator-failover run {run}: this host must not run the validator.\n# Remove this file and run `systemctl daemon-reload` to lift the fence.\n[Unit]\nConditionPathExists={FENCE_CONDITION}\n"
    )
    .into_bytes()
}

/// What an action sends.
pub fn step(cfg: &Config, run: &str, action: Action) -> Step {
    let v = &cfg.validator;
    let unit = v.service.as_str();
    let systemctl = |verb: &[&str]| {
        Step::Run(
            Cmd::new("systemctl")
                .args(verb.iter().copied())
                .arg("--")
                .arg(unit),
        )
    };
    match action {
        Action::EnsureLockDir(_) => {
            let dir = v
                .lock_file
                .rsplit_once('/')
                .map(|(d, _)| d)
                .filter(|d| !d.is_empty())
                .unwrap_or("/");
            Step::Run(Cmd::new("mkdir").arg("-p").arg("--").arg(dir))
        }
        Action::WriteLock(r) => Step::WriteFile {
            path: v.lock_file.clone(),
            content: lock_content(run, r),
            mode: 0o444,
        },
        Action::Disable(_) => systemctl(&["disable"]),
        Action::MaskRuntime(_) => systemctl(&["mask", "--runtime"]),
        Action::EnsureDropInDir(_) => {
            let path = fence_dropin(cfg);
            let dir = path
                .rsplit_once('/')
                .map(|(d, _)| d.to_string())
                .unwrap_or_default();
            Step::Run(Cmd::new("mkdir").arg("-p").arg("--").arg(dir))
        }
        Action::WriteFenceDropIn(_) => Step::WriteFile {
            path: fence_dropin(cfg),
            content: fence_content(run),
            mode: 0o644,
        },
        Action::DaemonReload(_) => Step::Run(Cmd::new("systemctl").arg("daemon-reload")),
        Action::RemoveFenceDropIn(_) => {
            Step::Run(Cmd::new("rm").arg("-f").arg("--").arg(fence_dropin(cfg)))
        }
        Action::Stop(_) => systemctl(&["stop"]),
        Action::Kill(_) => systemctl(&["kill", "--signal=SIGKILL"]),
        Action::UnmaskRuntime(_) => systemctl(&["unmask", "--runtime"]),
        Action::Enable(_) => systemctl(&["enable"]),
        Action::RemoveLock(_) => Step::Run(Cmd::new("rm").arg("-f").arg("--").arg(&v.lock_file)),
        Action::Start(_) => systemctl(&["start"]),
    }
}

/// Free bytes on the filesystem holding `path`.
pub fn free_space(path: &str) -> Cmd {
    Cmd::new("df")
        .arg("--output=avail")
        .arg("-B1")
        .arg("--")
        .arg(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fence_and_stop_are_the_runbooks_commands_quoted() {
        let cfg = Config::with_hosts("p", "b");
        let show = |a| match step(&cfg, "r1", a) {
            Step::Run(c) => c.display(),
            Step::WriteFile { path, mode, .. } => format!("write {path} {mode:o}"),
        };
        assert_eq!(
            show(Action::MaskRuntime(Role::Primary)),
            "systemctl mask --runtime -- qrysm-validator"
        );
        assert_eq!(
            show(Action::Kill(Role::Primary)),
            "systemctl kill '--signal=SIGKILL' -- qrysm-validator"
        );
        assert_eq!(
            show(Action::EnsureLockDir(Role::Primary)),
            "mkdir -p -- /etc/quantapool"
        );
        assert_eq!(
            show(Action::WriteLock(Role::Primary)),
            "write /etc/quantapool/VALIDATOR_LOCKED 444"
        );
        assert_eq!(
            show(Action::RemoveLock(Role::Backup)),
            "rm -f -- /etc/quantapool/VALIDATOR_LOCKED"
        );
        let mut hostile = cfg.clone();
        hostile.validator.service = "x; reboot".into();
        match step(&hostile, "r", Action::Stop(Role::Primary)) {
            Step::Run(c) => assert_eq!(c.args.last().unwrap(), "x; reboot"),
            _ => unreachable!(),
        }
    }
}

/// The commands of the archive transfer (spec §1 item 3), in the order they run.
pub mod transfer {
    use crate::observed::Cmd;

    /// A private (0700) temporary directory under `parent`.
    pub fn mktemp_dir(parent: &str) -> Cmd {
        Cmd::new("mktemp")
            .arg("-d")
            .arg("-p")
            .arg(parent)
            .arg(".validator-failover.XXXXXXXX")
    }

    /// The runbook's archive of the directory, made after the stop.
    pub fn tar_create(archive: &str, data_dir: &str, name: &str) -> Cmd {
        Cmd::new("tar")
            .arg("-czf")
            .arg(archive)
            .arg("-C")
            .arg(data_dir)
            .arg("--")
            .arg(name)
    }

    /// The client's EIP-3076 export of the validator's history into `out_dir`
    /// (`slashing_protection.json`), made after the stop.
    pub fn export_history(binary: &str, data_dir: &str, out_dir: &str) -> Cmd {
        Cmd::new(binary)
            .arg("slashing-protection-history")
            .arg("export")
            .arg("--accept-terms-of-use")
            .arg(format!("--datadir={data_dir}"))
            .arg(format!("--slashing-protection-export-dir={out_dir}"))
    }

    /// The client's EIP-3076 import: merged into the validator's history.
    pub fn import_history(binary: &str, data_dir: &str, file: &str) -> Cmd {
        Cmd::new(binary)
            .arg("slashing-protection-history")
            .arg("import")
            .arg("--accept-terms-of-use")
            .arg(format!("--datadir={data_dir}"))
            .arg(format!("--slashing-protection-json-file={file}"))
    }

    /// A copy kept aside (owners, modes and times kept).
    pub fn copy_aside(from: &str, to: &str) -> Cmd {
        Cmd::new("cp")
            .arg("-a")
            .arg("-T")
            .arg("--")
            .arg(from)
            .arg(to)
    }

    pub fn sha256(paths: &[String]) -> Cmd {
        Cmd::new("sha256sum").arg("--").args(paths.iter().cloned())
    }

    pub fn mkdir(path: &str) -> Cmd {
        Cmd::new("mkdir").arg("--").arg(path)
    }

    /// Extract a validated archive; ownership is set afterwards, explicitly.
    pub fn tar_extract(archive: &str, dest: &str) -> Cmd {
        Cmd::new("tar")
            .arg("-xzf")
            .arg(archive)
            .arg("-C")
            .arg(dest)
            .arg("--no-same-owner")
    }

    pub fn chown(owner: &str, path: &str) -> Cmd {
        Cmd::new("chown").arg("--").arg(owner).arg(path)
    }

    pub fn chmod(mode: &str, path: &str) -> Cmd {
        Cmd::new("chmod").arg("--").arg(mode).arg(path)
    }

    pub fn chown_r(owner: &str, path: &str) -> Cmd {
        Cmd::new("chown").arg("-R").arg("--").arg(owner).arg(path)
    }

    /// Flush the filesystem that holds `path` to disk.
    pub fn sync_fs(path: &str) -> Cmd {
        Cmd::new("sync").arg("-f").arg("--").arg(path)
    }

    /// Rename, never into an existing directory (`-T`).
    pub fn rename(from: &str, to: &str) -> Cmd {
        Cmd::new("mv").arg("-T").arg("--").arg(from).arg(to)
    }

    /// Remove one of our own temporary directories (and nothing else).
    pub fn remove_temp(path: &str) -> Option<Cmd> {
        path.rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with(".validator-failover."))
            .then(|| Cmd::new("rm").arg("-rf").arg("--").arg(path))
    }

    /// Parse `sha256sum` output: (hash, path) per line.
    pub fn parse_sha256(out: &str) -> Vec<(String, String)> {
        out.lines()
            .filter_map(|l| {
                let (h, p) = l.split_once("  ")?;
                (h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
                    .then(|| (h.to_string(), p.to_string()))
            })
            .collect()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn only_our_temporary_directories_are_ever_removed() {
            assert!(remove_temp("/tmp/.validator-failover.abcd1234").is_some());
            assert!(remove_temp("/var/lib/qrysm/validator").is_none());
            assert!(remove_temp("/").is_none());
            assert!(remove_temp("/tmp/.validator-failover.x/../../etc").is_none());
        }

        #[test]
        fn sha256sum_lines() {
            let h = "a".repeat(64);
            let v = parse_sha256(&format!("{h}  /x/y z\nnoise\n"));
            assert_eq!(v, vec![(h, "/x/y z".to_string())]);
        }
    }
}
