//! Benchmarks of the failover engine on the lab's real hosts (root; boots the lab):
//!
//! - the program's own time for a happy-path failover, and how much of it was spent
//!   waiting for the chain (the gates and item 8 wait for epochs);
//! - the downtime in slots between the primary's last and the backup's first
//!   attestation, from the lab's chain record;
//! - the transfer of a large history, a real qrysm `validator.db` (VF_BENCH_MIB,
//!   default 1024 MiB) through the program, next to a plain
//!   `ssh primary 'tar -czf - …' | ssh backup 'cat > …'` of the same directory.
//!
//! - the emergency stop-all issued while the transfer of a large history (VF_BENCH_STOP_MIB,
//!   default 256 MiB) runs: how long until both validators are verified stopped and
//!   fenced (the transfer is cut short, not waited for).
//!
//! Run: `cargo bench --bench failover` (`VF_BENCH_ONLY=stop-all` for the last alone).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use validator_failover::audit::JournalWriter;
use validator_failover::cli::ssh_hosts;
use validator_failover::config::Config;
use validator_failover::driver::{Answer, Driver, Ended, Interrupt, Operator, RealClock};
use validator_failover::engine::journal::Record;
use validator_failover::engine::machine::{
    Confirm, Failover, Outcome, Plan, Request, StopAllConsent,
};

fn lab(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab.sh");
    let out = Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "lab.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Yes(String, String);

#[async_trait]
impl Operator for Yes {
    async fn confirm(&mut self, q: &Confirm) -> Answer {
        match q {
            Confirm::StopPrimary { .. } => Answer::Typed(self.0.clone()),
            Confirm::StartBackup { .. } => Answer::Typed(self.1.clone()),
            _ => Answer::Decline,
        }
    }
}

fn main() {
    let lab_dir = std::env::var("VF_LAB_DIR").unwrap_or_else(|_| "/tmp/vf-lab".into());
    lab(&["up"]);
    let turn = std::fs::File::options()
        .create(true)
        .append(true)
        .open(format!("{lab_dir}/.tests.lock"))
        .unwrap();
    turn.lock().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cfg_path = tmp.path().join("bench.toml");
    let ssh_config = format!("{lab_dir}/ssh_config");
    std::fs::write(
        &cfg_path,
        format!(
            "[primary]\nssh = \"primary\"\n[backup]\nssh = \"backup\"\n[ssh]\nconfig_file = {ssh_config:?}\ncommand_timeout_secs = 600\n[validator]\nindices = [0, 1, 2, 3]\n[failover]\nstop_timeout_secs = 5\nverify_interval_secs = 2\n"
        ),
    )
    .unwrap();
    let cfg = Config::load(&cfg_path).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    println!("validator-failover failover benchmarks on the lab (2 s slots, 4 slots per epoch)");

    // --- a whole failover, three times by the runbook's archive, once by the client's
    // EIP-3076 export and import
    let all = std::env::var("VF_BENCH_ONLY").ok().as_deref() != Some("stop-all");
    for round in (1..=4).filter(|_| all) {
        lab(&["reset"]);
        let mut cfg = cfg.clone();
        let method = if round == 4 {
            cfg.failover.method = validator_failover::config::TransferMethod::Eip3076;
            "EIP-3076"
        } else {
            "archive"
        };
        let (p, b) = ssh_hosts(&cfg).unwrap();
        let journal = JournalWriter::create(tmp.path(), &format!("run{round}"), "bench").unwrap();
        let mut driver = Driver::new(
            cfg.clone(),
            format!("run{round}"),
            p,
            b,
            Arc::new(RealClock),
            journal,
        );
        let mut machine = Failover::new(Plan::from_config(&cfg));
        let mut op = Yes(cfg.primary.name.clone(), cfg.backup.name.clone());
        let t = Instant::now();
        let ended = rt
            .block_on(driver.failover(&mut machine, "bench", &mut op))
            .unwrap();
        let total = t.elapsed().as_secs_f64();
        assert_eq!(ended, Ended::Finished(Outcome::Completed));
        // Waits the chain or the runbook imposes: the two stop checks apart, and the
        // polls at the gate and for the first attestation (each a WaitUntil → Tick).
        let entries = validator_failover::audit::read_journal(driver.journal.dir()).unwrap();
        let verify = cfg.failover.verify_interval.as_secs_f64();
        let gate_polls = entries
            .iter()
            .filter(
                |e| matches!(&e.record, Record::Gate { gate, open: false, .. } if *gate == validator_failover::engine::journal::GateId::Start),
            )
            .count();
        // Downtime from the chain record: the primary's last and the backup's first slot.
        let record =
            std::fs::read_to_string(format!("{lab_dir}/chain/attestations.jsonl")).unwrap();
        let mut last_primary = 0u64;
        let mut first_backup = u64::MAX;
        for line in record.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let slot = v["slot"].as_u64().unwrap();
            match v["host"].as_str() {
                Some("primary") => last_primary = last_primary.max(slot),
                Some("backup") => first_backup = first_backup.min(slot),
                _ => {}
            }
        }
        let t0 = entries[0].at;
        let started = entries
            .iter()
            .find(|e| matches!(&e.record, Record::Item { number: validator_failover::engine::journal::ItemId::BackupValidatorStarted, state, .. } if *state == validator_failover::engine::checklist::ItemState::Green))
            .map(|e| e.at - t0)
            .unwrap_or(f64::NAN);
        println!(
            "failover #{round} ({method}): backup started after {started:.2}s (of which {verify:.0}s the runbook's two stop checks apart: {:.2}s of the program's own work); done after {total:.2}s (the rest waits for the backup's first epoch to attest); {gate_polls} gate poll(s); downtime {} slot(s) between the primary's last (slot {last_primary}) and the backup's first attestation (slot {first_backup})",
            started - verify,
            first_backup.saturating_sub(last_primary)
        );
    }

    // --- a large history (validator.db): through the program vs plain ssh
    let db = "/var/lib/qrysm/validator/validator.db";
    if all {
        large_transfer(&cfg, &rt, tmp.path(), &ssh_config, db);
    }
    stop_all_during_a_transfer(&cfg, &rt, tmp.path(), db);
}

fn large_transfer(
    cfg: &Config,
    rt: &tokio::runtime::Runtime,
    tmp: &Path,
    ssh_config: &str,
    db: &str,
) {
    let mib = large_history_on_the_primary("VF_BENCH_MIB", 1024, db);
    let (p, b) = ssh_hosts(cfg).unwrap();
    let journal = JournalWriter::create(tmp, "big", "bench").unwrap();
    let mut driver = Driver::new(
        cfg.clone(),
        "big".into(),
        p,
        b,
        Arc::new(RealClock),
        journal,
    );
    let t = Instant::now();
    let (r, _) = rt
        .block_on(driver.transfer_archive(
            validator_failover::engine::machine::Source::Live(
                validator_failover::config::Role::Primary,
            ),
            validator_failover::config::Role::Backup,
        ))
        .unwrap();
    let ours = t.elapsed().as_secs_f64();
    let moved = r.expect("the transfer succeeds");
    let t = Instant::now();
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ssh -F {ssh_config} primary 'tar -czf - -C /var/lib/qrysm/validator validator.db' | ssh -F {ssh_config} backup 'cat > /var/tmp/validator-failover-plain.tar.gz'"
        ))
        .status()
        .unwrap();
    let plain = t.elapsed().as_secs_f64();
    assert!(st.success());
    println!(
        "transfer of a {mib} MiB history (archive {} MiB): through the program (tar, sha256 on both ends, validation, swap, verify) {ours:.1}s = {:.0} MiB/s; plain ssh tar | ssh cat {plain:.1}s = {:.0} MiB/s",
        moved.bytes >> 20,
        mib as f64 / ours,
        mib as f64 / plain
    );
    lab(&["reset"]);
}

/// The lab reset, the primary's validator stopped, and its history replaced by a
/// real qrysm DB of about `$var` MiB (default `default`) written by the real bbolt
/// library on the host (64 keys; 64,000 epochs each make about 980 MiB), validated
/// and read as the transfer reads any history. Returns the MiB asked for.
fn large_history_on_the_primary(var: &str, default: u64, db: &str) -> u64 {
    let mib: u64 = std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    lab(&["reset"]);
    lab(&["ctl", "primary", "systemctl", "stop", "qrysm-validator"]);
    let epochs = (mib * 64_000 / 1024).max(1);
    lab(&[
        "ctl",
        "primary",
        "sh",
        "-c",
        &format!(
            "rm -f {db}.new && /usr/local/lib/vf-lab/vf-bolt bulk {db}.new --keys 64 --epochs {epochs} >/dev/null && chown qrysm:qrysm {db}.new && mv {db}.new {db}"
        ),
    ]);
    mib
}

/// The emergency stop-all while a large history moves.
fn stop_all_during_a_transfer(cfg: &Config, rt: &tokio::runtime::Runtime, tmp: &Path, db: &str) {
    large_history_on_the_primary("VF_BENCH_STOP_MIB", 256, db);
    lab(&["ctl", "primary", "systemctl", "start", "qrysm-validator"]);
    let size = lab(&["ctl", "primary", "stat", "-c", "%s", db]);
    let (p, b) = ssh_hosts(cfg).unwrap();
    let journal = JournalWriter::create(tmp, "stopall", "bench").unwrap();
    let mut driver = Driver::new(
        cfg.clone(),
        "stopall".into(),
        p,
        b,
        Arc::new(RealClock),
        journal,
    );
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    driver.interrupts = Some(rx);
    let sent: Arc<std::sync::Mutex<Option<Instant>>> = Default::default();
    let at = sent.clone();
    driver.listener = Some(Box::new(move |e| {
        // The transfer has begun: the primary's history is being archived.
        if let Record::Item {
            number: validator_failover::engine::journal::ItemId::SlashingProtectionTransferred,
            state: validator_failover::engine::checklist::ItemState::Running,
            ..
        } = &e.record
        {
            let mut at = at.lock().unwrap();
            if at.is_none() {
                std::thread::sleep(std::time::Duration::from_secs(1));
                *at = Some(Instant::now());
                let _ = tx.send(Interrupt::Request(Request::StopAll {
                    consent: StopAllConsent::Key('y'),
                }));
            }
        }
    }));
    let mut machine = Failover::new(Plan::from_config(cfg));
    let mut op = Yes(cfg.primary.name.clone(), cfg.backup.name.clone());
    let ended = rt
        .block_on(driver.failover(&mut machine, "bench", &mut op))
        .unwrap();
    let took = sent
        .lock()
        .unwrap()
        .map(|t| t.elapsed().as_secs_f64())
        .unwrap_or(f64::NAN);
    assert_eq!(ended, Ended::Finished(Outcome::StoppedAll));
    let entries = validator_failover::audit::read_journal(driver.journal.dir()).unwrap();
    let cut = entries.iter().any(|e| {
        matches!(&e.record, Record::Gate { gate: validator_failover::engine::journal::GateId::SlashingProtection, open: false, why, .. } if why.contains("cut short"))
    });
    println!(
        "emergency stop-all issued 1 s into the transfer of a {} MiB history: both validators verified stopped and fenced {took:.2}s later (the transfer {})",
        size.trim().parse::<u64>().unwrap_or(0) >> 20,
        if cut {
            "cut short"
        } else {
            "had already ended"
        }
    );
    lab(&["reset"]);
}
