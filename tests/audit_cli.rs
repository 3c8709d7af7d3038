//! `validator-failover audit export` through the binary: Markdown, JSON, and a
//! tampered journal refused with the line named.

use assert_cmd::Command;
use validator_failover::audit::JournalWriter;
use validator_failover::engine::journal::{GateId, JOURNAL_FORMAT, Record};

fn journal(dir: &std::path::Path) -> std::path::PathBuf {
    let mut w = JournalWriter::create(&dir.join("runs"), "20261128T000000Z-000001", "ops").unwrap();
    w.append(
        1_795_000_000.0,
        Record::RunStarted {
            run: "20261128T000000Z-000001".into(),
            primary: "val-a".into(),
            backup: "val-b".into(),
            reason: None,
            config: None,
            config_origin: None,
            program: "test".into(),
            format: JOURNAL_FORMAT,
        },
    )
    .unwrap();
    w.append(
        1_795_000_001.0,
        Record::Gate {
            gate: GateId::Start,
            open: false,
            why: "4. Backup beacon synced: syncing".into(),
            waits: vec!["4. Backup beacon synced: syncing".into()],
        },
    )
    .unwrap();
    w.dir().to_path_buf()
}

#[test]
fn export_markdown_json_and_refuse_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = journal(tmp.path());
    let out = Command::cargo_bin("validator-failover")
        .unwrap()
        .args(["audit", "export"])
        .arg(&dir)
        .args(["--format", "md"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.starts_with("# Failover incident: run 20261128T000000Z-000001"),
        "{md}"
    );
    assert!(
        md.contains("gate start: SHUT (4. Backup beacon synced: syncing)"),
        "{md}"
    );

    let file = tmp.path().join("audit.json");
    let out = Command::cargo_bin("validator-failover")
        .unwrap()
        .args(["audit", "export"])
        .arg(&dir)
        .args(["--format", "json", "--output"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        file.display().to_string()
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(v["verified"], true);

    let j = dir.join("journal.jsonl");
    let text = std::fs::read_to_string(&j).unwrap();
    std::fs::write(&j, text.replace("syncing", "synced")).unwrap();
    let out = Command::cargo_bin("validator-failover")
        .unwrap()
        .args(["audit", "export"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("journal.jsonl:2: TAMPERED"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "nothing exported from a tampered journal"
    );

    let out = Command::cargo_bin("validator-failover")
        .unwrap()
        .args(["audit", "export", "no-such-run"])
        .env("HOME", tmp.path())
        .env_remove("XDG_STATE_HOME")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A journal written before gates, items and outcomes were types (format 1) still
/// verifies and exports, in both forms, with what it said.
#[test]
fn a_format_1_journal_still_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("20261201T202324Z-608860");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/journals/format1-demo-failover.jsonl"
        ),
        dir.join("journal.jsonl"),
    )
    .unwrap();
    let md = Command::cargo_bin("validator-failover")
        .unwrap()
        .args(["audit", "export"])
        .arg(&dir)
        .assert()
        .success();
    let md = String::from_utf8(md.get_output().stdout.clone()).unwrap();
    assert!(md.contains("completed"), "{md}");
    assert!(md.contains("[x] 7. Backup validator started"), "{md}");
    let json = Command::cargo_bin("validator-failover")
        .unwrap()
        .args(["audit", "export", "--format", "json"])
        .arg(&dir)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    assert_eq!(v["verified"], serde_json::json!(true), "{v}");
}
