//! The real binary's wizard in tmux: a private tmux server per test, on its own
//! socket, killed at the end (only ours).

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    pub socket: PathBuf,
    pub session: String,
    pub dir: tempfile::TempDir,
}

pub fn have_tmux() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

impl Tmux {
    pub fn start(name: &str, args: &str) -> Tmux {
        Tmux::start_sized(name, args, 100, 30)
    }

    /// On a terminal of this size (the wizard's smallest is 80×24).
    pub fn start_sized(name: &str, args: &str, w: u16, h: u16) -> Tmux {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("tmux.sock");
        let session = format!("vf-{name}-{}", std::process::id());
        let bin = env!("CARGO_BIN_EXE_validator-failover");
        let t = Tmux {
            socket,
            session,
            dir,
        };
        let ok = Command::new("tmux")
            .arg("-S")
            .arg(&t.socket)
            .args(["-f", "/dev/null", "new-session", "-d", "-s", &t.session])
            .args(["-x", &w.to_string(), "-y", &h.to_string()])
            // The shell reports the exit status on the screen when the wizard ends.
            .arg(format!("{bin} {args}; echo EXIT=$?; sleep 600"))
            .env("TMPDIR", t.dir.path())
            .env("TERM", "xterm-256color")
            .env_remove("NO_COLOR")
            .status()
            .unwrap();
        assert!(ok.success(), "tmux new-session");
        t
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        let o = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", &self.session])
    }

    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", &self.session, k]);
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    pub fn type_text(&self, s: &str) {
        self.tmux(&["send-keys", "-t", &self.session, "-l", s]);
        std::thread::sleep(Duration::from_millis(100));
    }

    pub fn wait_for(&self, needle: &str, secs: u64) -> String {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            if Instant::now() > end {
                panic!("no {needle:?} on screen after {secs}s:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn runs(&self) -> PathBuf {
        self.dir.path().join("validator-failover-demo/wizard-runs")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Only our own server, on our own socket.
        self.tmux(&["kill-session", "-t", &self.session]);
        self.tmux(&["kill-server"]);
    }
}

impl Tmux {
    /// The PID of the program in the pane (the pane's shell's child).
    pub fn program_pid(&self) -> Option<u32> {
        let shell = self.tmux(&["list-panes", "-t", &self.session, "-F", "#{pane_pid}"]);
        let shell = shell.trim();
        let children =
            std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }
}
