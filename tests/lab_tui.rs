//! The wizard end to end over real SSH against the lab's systemd hosts, driven in
//! tmux as an engineer would: a whole failover, and the program killed mid-step
//! then started again, resuming its run. The chain record is checked after each.

mod common;

use common::Pair;
use common::engine as e;
use common::lab::Lab;
use common::tmux::{Tmux, have_tmux};

fn wizard(pair: &common::lab::LabPair, name: &str) -> Tmux {
    Tmux::start(name, &format!("--config {}", pair.config_file().display()))
}

/// Stop confirmed, then on to the Start action, confirmed: DONE.
fn through_the_start(t: &Tmux) -> String {
    let s = t.wait_for("▶ [ Start backup ] ready", 120);
    assert!(
        s.contains("[✓]  1 Primary validator confirmed stopped"),
        "{s}"
    );
    assert!(s.contains("[✓]  3 Slashing protection transferred"), "{s}");
    t.keys(&["s"]);
    t.wait_for("Confirm: start the backup ─", 10);
    t.type_text("backup");
    t.keys(&["Enter"]);
    t.wait_for("DONE", 120)
}

#[test]
fn wizard_fails_the_lab_over_through_ssh() {
    if !have_tmux() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
        return;
    }
    let pair = Lab::get().scenario();
    let t = wizard(&pair, "lab-failover");
    let s = t.wait_for("Confirm: stop the primary", 60);
    assert!(s.contains("[ Start backup ] disabled"), "{s}");
    // The sync panes come from the real hosts over SSH.
    t.wait_for("beacon[✓]", 30);
    t.keys(&["Enter"]);
    t.wait_for("Confirm: stop the primary ─", 10);
    t.type_text("primary");
    t.keys(&["Enter"]);
    let s = through_the_start(&t);
    for n in [
        "[✓]  6 Lock file removed on backup",
        "[✓]  7 Backup validator started",
        "[✓]  8 Attestations being submitted",
        "[✓]  9 Alerts cleared",
    ] {
        assert!(s.contains(n), "{n}:\n{s}");
    }
    assert!(e::backup_running(&pair));
    assert!(!e::primary_state(&pair).0);
    pair.wait(9.0);
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
}

#[test]
fn wizard_killed_mid_step_resumes_its_run() {
    if !have_tmux() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
        return;
    }
    let pair = Lab::get().scenario();
    let t = wizard(&pair, "lab-kill");
    t.wait_for("Confirm: stop the primary", 60);
    t.keys(&["Enter"]);
    t.wait_for("Confirm: stop the primary ─", 10);
    t.type_text("primary");
    t.keys(&["Enter"]);
    // Mid-step: the primary is being fenced, stopped or verified.
    t.wait_for("[~]  1 Primary validator confirmed stopped", 60);
    let pid = t.program_pid().expect("the wizard's PID");
    // SIGKILL: nothing is flushed or restored, as when the machine dies.
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    t.wait_for("EXIT=137", 10);
    assert!(!e::backup_running(&pair), "nothing started the backup");
    let runs = std::fs::read_dir(pair.tmp.path().join("runs"))
        .unwrap()
        .map(|d| d.unwrap().path())
        .collect::<Vec<_>>();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let id = runs[0].file_name().unwrap().to_string_lossy().to_string();

    // Started again: the same run, resumed; the hosts are probed again.
    let t2 = wizard(&pair, "lab-resume");
    let s = through_the_start(&t2);
    assert!(
        s.contains(&id[..id.len().min(20)]),
        "the same run {id}:\n{s}"
    );
    let journal = std::fs::read_to_string(runs[0].join("journal.jsonl")).unwrap();
    assert!(
        journal.contains("\"gate\":\"resume\""),
        "resumed in the journal"
    );
    assert_eq!(
        std::fs::read_dir(pair.tmp.path().join("runs"))
            .unwrap()
            .count(),
        1,
        "no second run"
    );
    assert!(e::backup_running(&pair));
    pair.wait(9.0);
    assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
    drop(t);
}
