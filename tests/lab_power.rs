//! Power fencing on the lab (issue 10 items 3 and 5): the REAL `fence_ipmilan`
//! (Debian fence-agents, with `ipmitool`), run by `power::FenceAgent` from a
//! configuration's `[primary.fence]`, against the lab host's IPMI BMC
//! (`tests/lab/bmc/labbmc.py`, pyghmi). Off is verified by `status` and by the host
//! itself (its init gone, no SSH, no signature); on boots it again with sshd and its
//! validator; a wrong password and a BMC that does not answer are typed errors.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::lab::{Lab, LabPair, lab_sh};
use validator_failover::config::{Config, Role};
use validator_failover::power::{self, PowerAction, PowerDevice, PowerErrorKind, PowerState};

/// The lab's configuration with a `[primary.fence]` for this BMC port and password
/// file, as an operator writes it.
fn config_with_fence(pair: &LabPair, port: u16, password_file: &Path, extra: &str) -> Config {
    let bmc = pair.lab.bmc();
    let text = std::fs::read_to_string(pair.config_file()).expect("the lab's config");
    let text = format!(
        "{text}\n[primary.fence]\nagent = \"fence_ipmilan\"\noptions = {{ ip = \"127.0.0.1\", ipport = \"{port}\", lanplus = \"1\", username = \"{}\" }}\npassword_file = {:?}\n{extra}",
        bmc.username,
        password_file.display().to_string()
    );
    let path = pair.tmp.path().join("fenced.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn agent_on_path() {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("fence_ipmilan").is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "fence_ipmilan is not on PATH (apt-get install fence-agents ipmitool, as .ci/run does; it lives in /usr/sbin)"
    );
}

/// `lab.sh power HOST status`: what the lab says of the host, not the BMC.
fn lab_power(role: Role) -> String {
    lab_sh(&["power", role.as_str(), "status"])
        .trim()
        .to_string()
}

/// The primary's init (the container's leader) as lab.sh recorded it.
fn leader(lab: &Lab, role: Role) -> Option<u32> {
    std::fs::read_to_string(lab.dir.join(format!("{}.leader", role.as_str())))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

fn ssh_true(lab: &Lab, role: Role) -> bool {
    Command::new("timeout")
        .args(["15", "ssh", "-F"])
        .arg(lab.ssh_config())
        .args(["-o", "ConnectTimeout=5", role.as_str(), "true"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("ssh runs")
        .status
        .success()
}

fn primary_signatures(lab: &Lab) -> usize {
    std::fs::read_to_string(lab.dir.join("chain/attestations.jsonl"))
        .expect("the chain record")
        .lines()
        .filter(|l| l.contains("\"host\": \"primary\""))
        .count()
}

/// `ipmitool … power status` against a lab BMC: (exit, output).
fn ipmitool_status(port: u16, user: &str, password: &str) -> (Option<i32>, String) {
    let out = Command::new("ipmitool")
        .args(["-I", "lanplus", "-H", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .args(["-U", user, "-P", password, "power", "status"])
        .output()
        .expect("ipmitool runs (apt-get install ipmitool)");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Powers the host on again if a test ends (or panics) with it off: the lab is left
/// as it was found.
struct PowerOnAtEnd(Role);

impl Drop for PowerOnAtEnd {
    fn drop(&mut self) {
        if lab_power(self.0) != "on" {
            lab_sh(&["power", self.0.as_str(), "on"]);
        }
    }
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[tokio::test]
async fn fence_ipmilan_powers_the_primary_off_verified_and_on_again() {
    agent_on_path();
    let lab = Lab::get();
    let pair = lab.scenario();
    let _on = PowerOnAtEnd(Role::Primary);
    let bmc = lab.bmc();
    let cfg = config_with_fence(&pair, bmc.primary_port, &bmc.password_file, "");
    let dev = power::device(&cfg, Role::Primary).expect("[primary.fence] is configured");

    // ipmitool, as the issue names it, reads the same BMC.
    let (code, said) = ipmitool_status(bmc.primary_port, &bmc.username, &bmc.password());
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("Chassis Power is on"), "{said}");

    let ev = dev.status().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ev.verified, PowerState::On);
    assert_eq!(ev.calls[0].exit, Some(0));
    assert!(ev.calls[0].stdout.contains("Status: ON"), "{:?}", ev.calls);
    assert!(ev.calls[0].program.ends_with("/fence_ipmilan"));

    let init = leader(lab, Role::Primary).expect("the primary's init");
    let ev = dev.power_off().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ev.verified, PowerState::Off);
    assert_eq!(ev.calls[0].action, PowerAction::Off);
    assert_eq!(ev.calls[0].exit, Some(0));
    assert!(
        ev.calls[0].stdout.contains("Success: Powered OFF"),
        "{:?}",
        ev.calls
    );
    let last = ev.calls.last().unwrap();
    assert_eq!((last.action, last.exit), (PowerAction::Status, Some(2)));
    // The evidence, as it would be journaled, holds no secret.
    let json = serde_json::to_string(&ev).unwrap();
    assert!(!json.contains(&bmc.password()), "{json}");
    assert_eq!(ev.device.options["ipport"], bmc.primary_port.to_string());

    // Really off: its init is gone, the lab says so, ssh does not get in, and
    // nothing is signed over the next epoch and more.
    assert!(
        !Path::new(&format!("/proc/{init}")).exists(),
        "the primary's init ({init}) still runs"
    );
    assert_eq!(lab_power(Role::Primary), "off");
    assert!(
        !ssh_true(lab, Role::Primary),
        "ssh reached a powered-off host"
    );
    let (code, said) = ipmitool_status(bmc.primary_port, &bmc.username, &bmc.password());
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("Chassis Power is off"), "{said}");
    let signed = primary_signatures(lab);
    std::thread::sleep(Duration::from_secs(9));
    assert_eq!(
        primary_signatures(lab),
        signed,
        "a powered-off primary signed"
    );
    // The backup was never touched.
    assert_eq!(lab_power(Role::Backup), "on");

    let ev = dev.power_on().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ev.verified, PowerState::On);
    assert!(
        ev.calls[0].stdout.contains("Success: Powered ON"),
        "{:?}",
        ev.calls
    );
    // It boots as it was: sshd answers, its (enabled, unlocked) validator runs and
    // signs again.
    wait_until(
        "the primary's sshd answers",
        Duration::from_secs(90),
        || ssh_true(lab, Role::Primary),
    );
    assert_ne!(leader(lab, Role::Primary), Some(init), "a new boot");
    wait_until(
        "the primary's validator is active",
        Duration::from_secs(60),
        || {
            lab.ctl(
                Role::Primary,
                &[
                    "systemctl",
                    "show",
                    "-p",
                    "ActiveState",
                    "--value",
                    "qrysm-validator",
                ],
            )
            .trim()
                == "active"
        },
    );
    wait_until("the primary signs again", Duration::from_secs(60), || {
        primary_signatures(lab) > signed
    });
    pair.assert_no_double_signing();
}

#[tokio::test]
async fn a_wrong_password_is_a_typed_error_and_nothing_is_switched() {
    agent_on_path();
    let lab = Lab::get();
    let pair = lab.scenario();
    let _on = PowerOnAtEnd(Role::Primary);
    let bmc = lab.bmc();
    let wrong = pair.tmp.path().join("wrong.pass");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = config_with_fence(&pair, bmc.primary_port, &wrong, "");
    let dev = power::device(&cfg, Role::Primary).unwrap();

    let (code, said) = ipmitool_status(bmc.primary_port, &bmc.username, "not-the-password");
    assert_ne!(code, Some(0), "ipmitool with a wrong password: {said}");

    // fence_ipmilan reads the power state first, also for `off`: that is what fails.
    for (e, action) in [
        (dev.status().await.unwrap_err(), PowerAction::Status),
        (dev.power_off().await.unwrap_err(), PowerAction::Off),
    ] {
        match &e.kind {
            PowerErrorKind::Failed {
                action: a,
                exit: Some(1),
                said,
            } if *a == action => assert!(
                said.contains("Unable to obtain correct plug status"),
                "fence_ipmilan's words: {said}"
            ),
            other => panic!("{other:?}: {e}"),
        }
        assert_eq!(
            e.calls.len(),
            1,
            "no status is asked after a failed {action}"
        );
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "primary (primary): fence agent fence_ipmilan: action={action} failed (exit 1)"
            )),
            "{text}"
        );
        assert!(!text.contains("not-the-password"), "{text}");
        assert!(
            !serde_json::to_string(&e)
                .unwrap()
                .contains("not-the-password")
        );
    }
    assert_eq!(lab_power(Role::Primary), "on");
    assert!(ssh_true(lab, Role::Primary));

    // A password file others can read is refused before the agent runs.
    let open = pair.tmp.path().join("open.pass");
    std::fs::copy(&bmc.password_file, &open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cfg = config_with_fence(&pair, bmc.primary_port, &open, "");
    let e = power::device(&cfg, Role::Primary)
        .unwrap()
        .power_off()
        .await
        .unwrap_err();
    assert!(
        matches!(&e.kind, PowerErrorKind::Password(why) if why.contains(&open.display().to_string())),
        "{e}"
    );
    assert!(e.calls.is_empty(), "the agent never ran");
    assert_eq!(lab_power(Role::Primary), "on");
}

#[tokio::test]
async fn a_bmc_that_does_not_answer_is_a_typed_error_within_the_timeout() {
    agent_on_path();
    let lab = Lab::get();
    let pair = lab.scenario();
    let _on = PowerOnAtEnd(Role::Primary);
    let bmc = lab.bmc();
    // A closed port: bound once by the kernel's choice, then let go.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = config_with_fence(
        &pair,
        closed,
        &bmc.password_file,
        "call_timeout_secs = 5\noff_wait_secs = 10\n",
    );
    let dev = power::device(&cfg, Role::Primary).unwrap();
    for (e, action) in [
        (dev.status().await.unwrap_err(), PowerAction::Status),
        (dev.power_off().await.unwrap_err(), PowerAction::Off),
    ] {
        assert_eq!(
            e.kind,
            PowerErrorKind::TimedOut {
                action,
                after_ms: 5000
            },
            "{e}"
        );
        assert_eq!(e.calls.len(), 1);
        assert!(e.calls[0].timed_out, "killed at the timeout");
        assert!(
            e.to_string().contains("did not end within 5000 ms: killed"),
            "{e}"
        );
    }
    assert_eq!(lab_power(Role::Primary), "on", "nothing reached the host");
}

#[tokio::test]
async fn a_fenced_primary_powered_on_again_comes_up_fenced() {
    agent_on_path();
    let lab = Lab::get();
    let pair = lab.scenario();
    let _on = PowerOnAtEnd(Role::Primary);
    let bmc = lab.bmc();
    let cfg = config_with_fence(&pair, bmc.primary_port, &bmc.password_file, "");
    let v = &cfg.validator;
    // Fenced as a failover fences it: the lock file, disabled, a runtime drop-in
    // whose condition is never met, stopped.
    lab.ctl(
        Role::Primary,
        &[
            "sh",
            "-ec",
            "install -m 0444 /dev/null \"$1\"; systemctl disable \"$2\"; mkdir -p /run/systemd/system/\"$2\".service.d; printf '[Unit]\\nConditionPathExists=/run/validator-failover/fence-lifted\\n' > /run/systemd/system/\"$2\".service.d/zz-validator-failover-fence.conf; systemctl daemon-reload; systemctl stop \"$2\"",
            "sh",
            &v.lock_file,
            &v.service,
        ],
    );
    let dev = power::device(&cfg, Role::Primary).unwrap();
    assert_eq!(
        dev.power_off()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .verified,
        PowerState::Off
    );
    let signed = primary_signatures(lab);
    assert_eq!(
        dev.power_on()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .verified,
        PowerState::On
    );
    wait_until(
        "the primary's sshd answers",
        Duration::from_secs(90),
        || ssh_true(lab, Role::Primary),
    );
    // What lived in /run is gone with the boot, as on any host; the lock file and
    // the disabled unit are on its disk and keep the validator down.
    let state = |args: &[&str]| lab.ctl(Role::Primary, args).trim().to_string();
    let dropin = format!(
        "/run/systemd/system/{}.service.d/zz-validator-failover-fence.conf",
        v.service
    );
    assert_eq!(
        state(&[
            "sh",
            "-c",
            "test -e \"$1\" && echo present || echo gone",
            "sh",
            &dropin
        ]),
        "gone"
    );
    assert_eq!(
        state(&[
            "sh",
            "-c",
            "test -e \"$1\" && echo present || echo gone",
            "sh",
            &v.lock_file
        ]),
        "present"
    );
    assert_eq!(
        state(&[
            "sh",
            "-c",
            "systemctl is-enabled \"$1\" || true",
            "sh",
            &v.service
        ]),
        "disabled"
    );
    std::thread::sleep(Duration::from_secs(9));
    assert_eq!(
        state(&[
            "systemctl",
            "show",
            "-p",
            "ActiveState",
            "--value",
            &v.service
        ]),
        "inactive"
    );
    assert_eq!(
        state(&[
            "sh",
            "-c",
            "pgrep -x -- \"$1\" || echo none",
            "sh",
            &v.process_name
        ]),
        "none"
    );
    assert_eq!(
        primary_signatures(lab),
        signed,
        "a fenced primary signed after its boot"
    );
    pair.assert_no_double_signing();
}
