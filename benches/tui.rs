//! The wizard's figures (prints them; no timed assertions anywhere):
//!
//! - time to the first frame (headless, and the real binary in tmux when present);
//! - CPU used while idle over 10 s (nothing on screen moves; and with a clock shown);
//! - resident memory after 1,000,000 log lines streamed through a tail pane;
//! - the latency from a key press to the redrawn frame while the tails receive
//!   10,000 lines per second.
//!
//! `cargo bench --bench tui`

use std::io;
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use futures::Stream;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;

use validator_failover::chain::{ChainClock, unix_now};
use validator_failover::config::Role;
use validator_failover::tui::app::{self, App, EngineMsg, ExportFormat, Inputs};
use validator_failover::tui::model::{Model, WorldMsg};
use validator_failover::tui::theme::Theme;
use validator_failover::wizard::forward_batches;

struct NoFx;
impl app::Effects for NoFx {
    fn request(&mut self, _: validator_failover::engine::machine::Request) -> Result<(), String> {
        Ok(())
    }
    fn fenced_out_of_band(&mut self, _: String) -> Result<(), String> {
        Ok(())
    }
    fn save_notes(
        &mut self,
        _: Vec<(validator_failover::engine::ids::NoteField, String)>,
    ) -> Result<bool, String> {
        Ok(true)
    }
    fn export(&mut self, _: Option<&str>, _: ExportFormat) -> Result<String, String> {
        Ok(String::new())
    }
}

type Keys = mpsc::UnboundedSender<Event>;
type Frames = mpsc::UnboundedReceiver<(Instant, u64)>;

fn key_stream(rx: mpsc::UnboundedReceiver<Event>) -> impl Stream<Item = io::Result<Event>> + Unpin {
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok(e), rx))
    }))
}

/// A wizard on a 120×40 TestBackend, running on this runtime.
struct Harness {
    keys: Keys,
    frames: Frames,
    world: mpsc::Sender<WorldMsg>,
    _engine: mpsc::UnboundedSender<EngineMsg>,
    task: tokio::task::JoinHandle<()>,
}

fn start(model: Model) -> (Harness, Instant) {
    let (ktx, krx) = mpsc::unbounded_channel();
    let (ftx, frx) = mpsc::unbounded_channel();
    let (wtx, wrx) = mpsc::channel(1024);
    let (etx, erx) = mpsc::unbounded_channel();
    let t0 = Instant::now();
    let task = tokio::spawn(async move {
        let mut app = App::new(model, Theme::COLOR);
        let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
        let inputs = Inputs {
            engine: erx,
            world: wrx,
            signals: false,
            frames: Some(ftx),
            now: unix_now,
        };
        let _ = app::run_loop(&mut term, &mut app, key_stream(krx), inputs, &mut NoFx).await;
    });
    (
        Harness {
            keys: ktx,
            frames: frx,
            world: wtx,
            _engine: etx,
            task,
        },
        t0,
    )
}

fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 (1-based), 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn demo_model(clock: bool) -> Model {
    let mut m = Model::new("primary.example", "backup.example");
    if clock {
        let c = ChainClock::new(unix_now() as u64 - 10_000, 12, 8).unwrap();
        m.apply_world(WorldMsg::Chain {
            clock: c,
            head_slot: 0,
            at: unix_now(),
        });
    }
    m
}

fn line(i: u64) -> String {
    format!(
        "2027-01-15T08:00:00+0000 backup.example qrysm-validator[1207]: level=info msg=\"Submitted new attestations\" slot={i} committeeIndex=3 sourceEpoch=1299 targetEpoch=1300"
    )
}

async fn first_frame() {
    let (mut h, t0) = start(demo_model(true));
    let (t, _) = h.frames.recv().await.unwrap();
    println!(
        "time to the first frame (headless, 120×40): {:.2} ms",
        (t - t0).as_secs_f64() * 1e3
    );
    h.task.abort();
}

fn first_frame_in_tmux() {
    let ok = std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("time to the first frame (the binary in tmux): skipped, no tmux");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s");
    let bin = env!("CARGO_BIN_EXE_validator-failover");
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .arg("-S")
            .arg(&sock)
            .args(args)
            .env("TMPDIR", dir.path())
            .output()
            .unwrap()
    };
    let t0 = Instant::now();
    tmux(&[
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-s",
        "bench",
        "-x",
        "120",
        "-y",
        "40",
        bin,
        "demo",
    ]);
    let mut t = None;
    while t0.elapsed() < Duration::from_secs(10) {
        let o = tmux(&["capture-pane", "-p", "-t", "bench"]);
        if String::from_utf8_lossy(&o.stdout).contains("Checklist (runbook)") {
            t = Some(t0.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    tmux(&["kill-server"]);
    match t {
        Some(t) => println!(
            "time to the first frame (`validator-failover demo` in tmux, 120×40, polled every 5 ms): {:.0} ms",
            t.as_secs_f64() * 1e3
        ),
        None => println!("time to the first frame (in tmux): no frame in 10 s"),
    }
}

async fn idle(clock: bool) {
    let (mut h, _) = start(demo_model(clock));
    h.frames.recv().await.unwrap();
    let c0 = cpu_seconds();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let mut frames = 0;
    while h.frames.try_recv().is_ok() {
        frames += 1;
    }
    let used = cpu_seconds() - c0;
    println!(
        "idle over {:.0} s{}: {:.3} s of CPU ({:.2} %), {frames} frame(s)",
        t0.elapsed().as_secs_f64(),
        if clock {
            " with the next-epoch clock on screen"
        } else {
            ", nothing moving"
        },
        used,
        100.0 * used / t0.elapsed().as_secs_f64()
    );
    h.task.abort();
}

async fn million_lines() {
    let (mut h, _) = start(demo_model(false));
    h.frames.recv().await.unwrap();
    let before = rss_mib();
    let (ltx, mut lrx) = mpsc::channel::<String>(4096);
    let world = h.world.clone();
    let fwd = tokio::spawn(async move { forward_batches(&mut lrx, Role::Backup, &world).await });
    let t0 = Instant::now();
    for i in 0..1_000_000u64 {
        ltx.send(line(i)).await.unwrap();
    }
    drop(ltx);
    fwd.await.unwrap();
    // Let the interface take the last batch in and draw it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    while h.frames.try_recv().is_ok() {}
    let after = rss_mib();
    println!(
        "1,000,000 log lines through a tail pane in {:.2} s: resident memory {before:.1} MiB before, {after:.1} MiB after (the pane keeps {} lines)",
        t0.elapsed().as_secs_f64(),
        validator_failover::tui::model::TAIL_LINES
    );
    h.task.abort();
}

async fn key_latency_under_load() {
    let (mut h, _) = start(demo_model(true));
    h.frames.recv().await.unwrap();
    let (ltx, mut lrx) = mpsc::channel::<String>(65_536);
    let world = h.world.clone();
    let fwd = tokio::spawn(async move { forward_batches(&mut lrx, Role::Backup, &world).await });
    // 10,000 lines a second: 100 every 10 ms.
    let feeder = tokio::spawn(async move {
        let mut i = 0u64;
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        loop {
            tick.tick().await;
            for _ in 0..100 {
                if ltx.send(line(i)).await.is_err() {
                    return;
                }
                i += 1;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut lat = Vec::new();
    let mut sent = 0u64;
    let mut frames = 0u64;
    let t_all = Instant::now();
    for n in 0..200 {
        while h.frames.try_recv().is_ok() {
            frames += 1;
        }
        let code = if n % 2 == 0 {
            KeyCode::Tab
        } else {
            KeyCode::Up
        };
        let t0 = Instant::now();
        h.keys
            .send(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
            .unwrap();
        sent += 1;
        loop {
            let (t, keys) = h.frames.recv().await.unwrap();
            frames += 1;
            if keys >= sent {
                lat.push((t - t0).as_secs_f64() * 1e3);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = t_all.elapsed().as_secs_f64();
    feeder.abort();
    fwd.abort();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize];
    println!(
        "key press to redrawn frame while the tails receive 10,000 lines/s ({} keys, {:.0} frames/s): median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        lat.len(),
        frames as f64 / secs,
        pct(0.5),
        pct(0.95),
        pct(1.0)
    );
    h.task.abort();
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("validator-failover wizard figures (release build; 2 shared cores here)");
    rt.block_on(first_frame());
    first_frame_in_tmux();
    rt.block_on(idle(false));
    rt.block_on(idle(true));
    rt.block_on(key_latency_under_load());
    rt.block_on(million_lines());
}
