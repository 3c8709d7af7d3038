//! `cargo bench --bench validator_db`: the time and peak memory to summarise a
//! ~1 GiB qrysm `validator.db` made by the real bbolt library (`vf-bolt bulk`, many
//! keys × many epochs), cached under /var/tmp. Without Go it says why and exits 0.
//!
//! `VF_BENCH_KEYS` and `VF_BENCH_EPOCHS` change the DB's shape (default 64 × 64,000:
//! about 4.1 million attestations).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// VmHWM (peak resident set) in KiB.
fn peak_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn vf_bolt() -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/bolt/build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn main() {
    let bin = match vf_bolt() {
        Ok(b) => b,
        Err(why) => {
            println!("validator_db bench skipped: vf-bolt cannot be built: {why}");
            return;
        }
    };
    let keys = env_u64("VF_BENCH_KEYS", 64);
    let epochs = env_u64("VF_BENCH_EPOCHS", 64_000);
    let dir = PathBuf::from("/var/tmp/validator-failover");
    std::fs::create_dir_all(&dir).expect("/var/tmp/validator-failover");
    let db = dir.join(format!("validator-{keys}x{epochs}.db"));
    let done = dir.join(format!("validator-{keys}x{epochs}.db.done"));
    if !done.exists() {
        println!(
            "making {} with vf-bolt bulk ({keys} keys × {epochs} epochs) …",
            db.display()
        );
        let t = Instant::now();
        let st = Command::new(&bin)
            .args(["bulk", db.to_str().unwrap()])
            .args(["--keys", &keys.to_string(), "--epochs", &epochs.to_string()])
            .status()
            .expect("vf-bolt bulk");
        assert!(st.success(), "vf-bolt bulk failed");
        std::fs::write(&done, b"").unwrap();
        println!("  made in {:.1} s", t.elapsed().as_secs_f64());
    }
    let size = std::fs::metadata(&db).unwrap().len();
    let before = peak_kib().unwrap_or(0);
    // Reset the peak so that it measures summarise alone (Linux: clear_refs 5).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let t = Instant::now();
    let s = validator_failover::validator_db::summarise(&db).expect("summarise");
    let took = t.elapsed();
    let peak = peak_kib().unwrap_or(0);
    let atts: u64 = s.keys.iter().map(|k| k.attestations).sum();
    println!(
        "summarise {}: {:.1} MiB file ({} pages of {}), {} keys, {atts} attestations: {:.2} s, peak RSS {:.1} MiB (before: {:.1} MiB)",
        db.display(),
        size as f64 / (1 << 20) as f64,
        size / u64::from(s.page_size),
        s.page_size,
        s.keys.len(),
        took.as_secs_f64(),
        peak as f64 / 1024.0,
        before as f64 / 1024.0,
    );
    println!("  {}", s.summary().chars().take(200).collect::<String>());
}
