//! Benchmarks of the core on the lab's real hosts (root; boots the lab if needed):
//!
//! - one `check` (both hosts), cold (new SSH connections) and warm (reused);
//! - streaming a 256 MiB file from one lab host to the other through the program,
//!   next to the same bytes piped with plain `ssh primary cat … | ssh backup 'cat > …'`.
//!
//! Run: `cargo bench --bench core` (VF_BENCH_MIB sets the file size).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use validator_failover::check;
use validator_failover::cli::ssh_hosts;
use validator_failover::config::Config;
use validator_failover::hosts::{Host, relay};

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

fn stats(v: &mut [f64]) -> String {
    v.sort_by(f64::total_cmp);
    let median = v[v.len() / 2];
    format!(
        "median {median:.3}s  min {:.3}s  max {:.3}s  (n={})",
        v[0],
        v[v.len() - 1],
        v.len()
    )
}

fn main() {
    let lab_dir = std::env::var("VF_LAB_DIR").unwrap_or_else(|_| "/tmp/vf-lab".into());
    lab(&["up"]);
    // Take turns with the lab tests (tests/common/lab.rs holds the same lock).
    let turn = std::fs::File::options()
        .create(true)
        .append(true)
        .open(format!("{lab_dir}/.tests.lock"))
        .unwrap();
    turn.lock().unwrap();
    lab(&["reset"]);
    let tmp = tempfile::tempdir().unwrap();
    let cfg_path = tmp.path().join("bench.toml");
    let ssh_config = format!("{lab_dir}/ssh_config");
    std::fs::write(
        &cfg_path,
        format!("[primary]\nssh = \"primary\"\n[backup]\nssh = \"backup\"\n[ssh]\nconfig_file = {ssh_config:?}\ncommand_timeout_secs = 300\n"),
    )
    .unwrap();
    let cfg = Config::load(&cfg_path).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();

    println!(
        "validator-failover core benchmarks on the lab ({} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    // --- check: cold and warm
    let runs = 5;
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for _ in 0..runs {
        let (p, b) = ssh_hosts(&cfg).unwrap();
        let t = Instant::now();
        let pf = rt.block_on(check::preflight(&cfg, p.clone(), b.clone()));
        cold.push(t.elapsed().as_secs_f64());
        assert!(pf.all_green(), "the lab should be green for the benchmark");
        let t = Instant::now();
        rt.block_on(check::preflight(&cfg, p.clone(), b.clone()));
        warm.push(t.elapsed().as_secs_f64());
        drop((p, b));
    }
    println!("check, cold connections : {}", stats(&mut cold));
    println!("check, warm connections : {}", stats(&mut warm));

    // --- streaming host to host
    let mib: u64 = std::env::var("VF_BENCH_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256);
    let src = "/tmp/validator-failover-bench.bin";
    let dst = "/tmp/validator-failover-bench.copy";
    lab(&[
        "ctl",
        "primary",
        "sh",
        "-c",
        &format!("head -c {} /dev/urandom > {src}", mib << 20),
    ]);
    let (p, b): (Arc<dyn Host>, Arc<dyn Host>) = ssh_hosts(&cfg).unwrap();
    rt.block_on(async {
        p.connect(Duration::from_secs(10)).await.unwrap();
        b.connect(Duration::from_secs(10)).await.unwrap();
    });
    let mut ours = Vec::new();
    let mut plain = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let (_, n) = rt
            .block_on(relay(
                p.as_ref(),
                src,
                b.as_ref(),
                dst,
                0o600,
                Duration::from_secs(600),
            ))
            .unwrap();
        ours.push(t.elapsed().as_secs_f64());
        assert_eq!(n, mib << 20);

        let t = Instant::now();
        let st = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ssh -F {ssh_config} primary cat {src} | ssh -F {ssh_config} backup 'cat > {dst}.plain'"
            ))
            .status()
            .unwrap();
        plain.push(t.elapsed().as_secs_f64());
        assert!(st.success());
    }
    let rate = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        mib as f64 / s[s.len() / 2]
    };
    println!(
        "stream {mib} MiB primary->backup through the program (sha256 on the way): {:.0} MiB/s  [{}]",
        rate(&ours),
        stats(&mut ours.clone())
    );
    println!(
        "stream {mib} MiB plain ssh cat | ssh 'cat >' (new connections each)   : {:.0} MiB/s  [{}]",
        rate(&plain),
        stats(&mut plain.clone())
    );
    lab(&["ctl", "primary", "rm", "-f", src]);
    lab(&["ctl", "backup", "rm", "-f", dst, &format!("{dst}.plain")]);
}
