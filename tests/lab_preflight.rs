//! The preflight over real SSH against the lab's systemd hosts: the same scenarios and
//! expectations as `tests/preflight_sim.rs`, and the `check` command's exit codes.

mod common;

use assert_cmd::Command;
use common::lab::Lab;
use common::{Fault, Pair, assert_preflight};
use validator_failover::check;

fn run(fault: Option<Fault>) {
    let pair = Lab::get().scenario();
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

scenario_tests!(run);

fn check_cmd(pair: &common::lab::LabPair, json: bool) -> std::process::Output {
    let mut c = Command::cargo_bin("validator-failover").unwrap();
    c.arg("check").arg("--config").arg(pair.config_file());
    if json {
        c.arg("--json");
    }
    c.env("NO_COLOR", "1")
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap()
}

#[test]
fn check_command_exit_codes_and_json_on_the_lab() {
    let pair = Lab::get().scenario();
    let out = check_cmd(&pair, false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("PREFLIGHT GREEN"), "{text}");
    assert!(
        text.contains("systemctl show"),
        "evidence is printed: {text}"
    );

    let out = check_cmd(&pair, true);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(v["ok"], true);
    assert!(v["items"].as_array().unwrap().len() >= 20);

    // A syncing backup beacon: exit 1, a red item naming the cause, in both forms.
    pair.apply(Fault::BackupBeaconSyncing);
    let out = check_cmd(&pair, false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("[✗] Beacon node synced") && text.contains("syncing (120 slots behind)"),
        "{text}"
    );
    let out = check_cmd(&pair, true);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let item = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "backup.beacon")
        .unwrap();
    assert_eq!(item["verdict"], "red");
}

#[test]
fn check_command_bad_config_exits_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.toml");
    std::fs::write(
        &f,
        "[primary]\nssh = \"primary\"\n[backup]\nssh = \"backup\"\n[beacon]\naddress = \"nope\"\n",
    )
    .unwrap();
    let out = Command::cargo_bin("validator-failover")
        .unwrap()
        .args(["check", "--config"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:6: key `beacon.address`", f.display())),
        "{err}"
    );
}
