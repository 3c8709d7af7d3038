//! Power fencing (issue 10 item 3): a host's fence device, driven from the
//! operator's machine. THE WORLD, beside [`crate::hosts`]: the engine sees only
//! the data in [`crate::observed`] ([`PowerState`], [`PowerEvidence`],
//! [`PowerError`]).
//!
//! [`PowerDevice`] is what the engine's driver will use; two implementations:
//!
//! - [`FenceAgent`]: a ClusterLabs fence-agents agent (`fence_ipmilan`,
//!   `fence_redfish`, the cloud agents) found on the operator's PATH, run as a
//!   child process **with no argument at all**: its options, the password and the
//!   action go on its standard input, one `name=value` a line, as fence-agents'
//!   `fencing.py` reads them when it is given no argument (`_parse_input_stdin`).
//!   So the password is never on this program's command line, in its environment
//!   or in the journal. Each run is bounded by `call_timeout`: on timeout the agent
//!   and what it started (its own process group, whose id is its PID) are killed.
//!   `status` is fencing.py's exit code: 0 on, 2 off, anything else an error with
//!   what the agent said.
//! - [`SimPowerDevice`]: the simulated pair's BMC ([`crate::hosts::sim`]): a
//!   powered-off simulated host stops answering SSH and stops signing.
//!
//! `power_off()` runs `off`, then `status` every `status_interval` until it
//! reports off (at most `off_wait`), and returns the verified state with every
//! run as evidence. Nothing here decides when to fence: that is the engine's.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::chain::unix_now;
use crate::config::{Config, FenceSettings, Role, SecretSource};
use crate::hosts::sim::SimWorld;
pub use crate::observed::{
    PowerAction, PowerCall, PowerDeviceInfo, PowerError, PowerErrorKind, PowerEvidence, PowerState,
};

/// A host's fence device: its power read and switched from outside the host.
#[async_trait]
pub trait PowerDevice: Send + Sync {
    /// Which device (agent, options without secrets), for messages and evidence.
    fn info(&self) -> PowerDeviceInfo;

    /// The host's power now (one `status`).
    async fn status(&self) -> Result<PowerEvidence, PowerError>;

    /// Power the host off, then `status` until it reports off (bounded): Ok only
    /// when verified off.
    async fn power_off(&self) -> Result<PowerEvidence, PowerError>;

    /// Power the host on, then `status` until it reports on (bounded). The host
    /// then boots as it is: what persists on it (a lock file, a disabled unit)
    /// decides whether its validator starts.
    async fn power_on(&self) -> Result<PowerEvidence, PowerError>;
}

/// The configured device of `role`'s host, if `[<role>.fence]` is set.
pub fn device(cfg: &Config, role: Role) -> Option<FenceAgent> {
    cfg.fence(role)
        .map(|f| FenceAgent::new(role, &cfg.host(role).name, f.clone()))
}

// ---------------------------------------------------------------------------
// The real one: a fence-agents agent.

/// The most kept of each of an agent's output streams (its tail).
const OUTPUT_KEEP: usize = 2000;
/// The most read of each stream (the rest is drained).
const OUTPUT_READ: usize = 64 * 1024;
/// How long the agent's output may stay open after it ended (a child of its own
/// still holding it) before that child is killed too.
const OUTPUT_GRACE: Duration = Duration::from_secs(2);
/// A password file larger than this is not a password.
const PASSWORD_FILE_LIMIT: u64 = 4096;
/// How the password is blanked in what the agent printed.
const BLANKED: &str = "[password]";

/// A fence-agents agent on the operator's PATH, for one host.
#[derive(Debug, Clone)]
pub struct FenceAgent {
    role: Role,
    host: String,
    settings: FenceSettings,
    /// Where the agent is looked for; None: this process's `PATH` when it runs.
    search_path: Option<OsString>,
}

impl FenceAgent {
    pub fn new(role: Role, host: &str, settings: FenceSettings) -> FenceAgent {
        FenceAgent {
            role,
            host: host.to_string(),
            settings,
            search_path: None,
        }
    }

    /// Look for the agent in these directories (a `PATH`) instead of `$PATH`.
    pub fn with_search_path(mut self, path: impl Into<OsString>) -> FenceAgent {
        self.search_path = Some(path.into());
        self
    }

    pub fn settings(&self) -> &FenceSettings {
        &self.settings
    }

    fn error(&self, calls: Vec<PowerCall>, kind: PowerErrorKind) -> PowerError {
        PowerError {
            device: Box::new(self.info()),
            calls,
            kind,
        }
    }

    /// The agent as found on the search path.
    fn program(&self) -> Result<PathBuf, PowerErrorKind> {
        let path = self
            .search_path
            .clone()
            .or_else(|| std::env::var_os("PATH"))
            .unwrap_or_default();
        find_on_path(self.settings.agent.as_str(), &path).ok_or_else(|| {
            PowerErrorKind::AgentNotFound {
                path: path.to_string_lossy().into_owned(),
            }
        })
    }

    /// The password, read now (None when none is configured).
    fn password(&self) -> Result<Option<String>, PowerErrorKind> {
        match &self.settings.password {
            None => Ok(None),
            Some(src) => read_password(&self.settings.key, src)
                .map(Some)
                .map_err(PowerErrorKind::Password),
        }
    }

    /// One run of the agent: its evidence, and the exit code when it ended by
    /// itself.
    async fn call(
        &self,
        program: &Path,
        action: PowerAction,
        password: Option<&str>,
    ) -> (PowerCall, Result<Option<i32>, PowerErrorKind>) {
        let input = stdin_form(&self.settings.options, password, action);
        let at = unix_now();
        let started = Instant::now();
        let (exit, timed_out, stdout, stderr, spawn_error) =
            run_bounded(program, &input, self.settings.call_timeout).await;
        let blank = |s: String| tail(&blank_secret(&s, password), OUTPUT_KEEP);
        let call = PowerCall {
            action,
            program: program.display().to_string(),
            at,
            took_ms: started.elapsed().as_millis() as u64,
            exit,
            timed_out,
            stdout: blank(stdout),
            stderr: blank(stderr),
        };
        let result = if let Some(reason) = spawn_error {
            Err(PowerErrorKind::Spawn {
                program: program.display().to_string(),
                reason,
            })
        } else if timed_out {
            Err(PowerErrorKind::TimedOut {
                action,
                after_ms: self.settings.call_timeout.as_millis() as u64,
            })
        } else {
            Ok(exit)
        };
        (call, result)
    }

    /// `status`, judged: fencing.py's exit 0 is on, 2 is off.
    async fn status_call(
        &self,
        program: &Path,
        password: Option<&str>,
    ) -> (PowerCall, Result<PowerState, PowerErrorKind>) {
        let (call, r) = self.call(program, PowerAction::Status, password).await;
        let judged = r.and_then(|exit| match exit {
            Some(0) => Ok(PowerState::On),
            Some(2) => Ok(PowerState::Off),
            exit => Err(failed(PowerAction::Status, exit, &call)),
        });
        (call, judged)
    }

    /// `action`, then `status` until it reports the action's state.
    async fn switch(&self, action: PowerAction) -> Result<PowerEvidence, PowerError> {
        let want = action.target().expect("a switching action");
        let mut calls = Vec::new();
        let program = self.program().map_err(|k| self.error(Vec::new(), k))?;
        let password = self.password().map_err(|k| self.error(Vec::new(), k))?;
        let (call, r) = self.call(&program, action, password.as_deref()).await;
        calls.push(call);
        match r {
            Ok(Some(0)) => {}
            Ok(exit) => {
                let kind = failed(action, exit, calls.last().expect("a call"));
                return Err(self.error(calls, kind));
            }
            Err(kind) => return Err(self.error(calls, kind)),
        }
        let since = Instant::now();
        let last = loop {
            let (call, r) = self.status_call(&program, password.as_deref()).await;
            let ended = call.at + call.took_ms as f64 / 1000.0;
            calls.push(call);
            if let Ok(state) = r
                && state == want
            {
                return Ok(PowerEvidence {
                    device: self.info(),
                    calls,
                    verified: state,
                    verified_at: ended,
                });
            }
            if since.elapsed() + self.settings.status_interval > self.settings.off_wait {
                break r;
            }
            tokio::time::sleep(self.settings.status_interval).await;
        };
        let (last, last_error) = match last {
            Ok(state) => (Some(state), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let kind = PowerErrorKind::NotReached {
            action,
            want,
            waited_ms: since.elapsed().as_millis() as u64,
            last,
            last_error,
        };
        Err(self.error(calls, kind))
    }
}

#[async_trait]
impl PowerDevice for FenceAgent {
    fn info(&self) -> PowerDeviceInfo {
        PowerDeviceInfo {
            role: self.role,
            host: self.host.clone(),
            agent: self.settings.agent.to_string(),
            options: self.settings.options.clone(),
            password_from: self
                .settings
                .password
                .as_ref()
                .map(|src| secret_place(&self.settings.key, src)),
        }
    }

    async fn status(&self) -> Result<PowerEvidence, PowerError> {
        let program = self.program().map_err(|k| self.error(Vec::new(), k))?;
        let password = self.password().map_err(|k| self.error(Vec::new(), k))?;
        let (call, r) = self.status_call(&program, password.as_deref()).await;
        let ended = call.at + call.took_ms as f64 / 1000.0;
        match r {
            Ok(state) => Ok(PowerEvidence {
                device: self.info(),
                calls: vec![call],
                verified: state,
                verified_at: ended,
            }),
            Err(kind) => Err(self.error(vec![call], kind)),
        }
    }

    async fn power_off(&self) -> Result<PowerEvidence, PowerError> {
        self.switch(PowerAction::Off).await
    }

    async fn power_on(&self) -> Result<PowerEvidence, PowerError> {
        self.switch(PowerAction::On).await
    }
}

/// A failed run, with what the agent said (its standard error, else its output).
fn failed(action: PowerAction, exit: Option<i32>, call: &PowerCall) -> PowerErrorKind {
    let text = if call.stderr.trim().is_empty() {
        &call.stdout
    } else {
        &call.stderr
    };
    let said = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    PowerErrorKind::Failed {
        action,
        exit,
        said: if said.is_empty() {
            "(it said nothing)".into()
        } else {
            said
        },
    }
}

/// What the agent reads on its standard input: one `name=value` a line, as
/// fencing.py's `_parse_input_stdin` reads them (a line is stripped, `#` starts a
/// comment, the value's surrounding double quotes are removed: so every value is
/// quoted, and keeps its spaces and quotes). The options as configured (sorted),
/// then the password, then the action. Values hold no line break: the
/// configuration refuses them in options, [`read_password`] in passwords.
pub fn stdin_form(
    options: &BTreeMap<String, String>,
    password: Option<&str>,
    action: PowerAction,
) -> String {
    let mut s = String::new();
    for (name, value) in options {
        s.push_str(&format!("{name}=\"{value}\"\n"));
    }
    if let Some(p) = password {
        s.push_str(&format!("password=\"{p}\"\n"));
    }
    s.push_str(&format!("action={}\n", action.as_str()));
    s
}

/// Where a password is read, as messages and evidence name it (never the value).
fn secret_place(key: &str, src: &SecretSource) -> String {
    match src {
        SecretSource::File(p) => format!("{key}.password_file: {}", p.display()),
        SecretSource::Env(n) => format!("{key}.password_env: ${n}"),
    }
}

/// Read a fence device's password now. A file must be a regular file that no other
/// user may read or write (no group or other permission bits). One line: the
/// trailing line break is dropped, anything else is kept as it is. Errors name the
/// key and the file or variable, never the value.
pub fn read_password(key: &str, src: &SecretSource) -> Result<String, String> {
    let place = secret_place(key, src);
    let text = match src {
        SecretSource::File(p) => {
            use std::io::Read;
            use std::os::unix::fs::PermissionsExt;
            let f = std::fs::File::open(p)
                .map_err(|e| format!("{place}: cannot read {}: {e}", p.display()))?;
            let m = f
                .metadata()
                .map_err(|e| format!("{place}: cannot read {}: {e}", p.display()))?;
            if !m.is_file() {
                return Err(format!("{place}: {} is not a file", p.display()));
            }
            let mode = m.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(format!(
                    "{place}: refused: {} is open to other users (mode {mode:04o}); a BMC's password must be readable by its owner only: `chmod 600 {}`",
                    p.display(),
                    p.display()
                ));
            }
            let mut text = String::new();
            f.take(PASSWORD_FILE_LIMIT)
                .read_to_string(&mut text)
                .map_err(|e| format!("{place}: cannot read {}: {e}", p.display()))?;
            text
        }
        SecretSource::Env(name) => std::env::var(name).map_err(|e| match e {
            std::env::VarError::NotPresent => format!("{place}: ${name} is not set"),
            std::env::VarError::NotUnicode(_) => format!("{place}: ${name} is not UTF-8"),
        })?,
    };
    let value = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    if value.is_empty() {
        return Err(format!("{place}: the password is empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!(
            "{place}: the password holds a line break or another control character: the agent reads one option per line"
        ));
    }
    Ok(value.to_string())
}

/// The password blanked out of what an agent printed.
fn blank_secret(text: &str, password: Option<&str>) -> String {
    match password {
        Some(p) if !p.is_empty() => text.replace(p, BLANKED),
        _ => text.to_string(),
    }
}

/// The last `keep` characters of `text`.
fn tail(text: &str, keep: usize) -> String {
    let n = text.chars().count();
    if n <= keep {
        text.to_string()
    } else {
        format!("…{}", text.chars().skip(n - keep).collect::<String>())
    }
}

/// An executable file named `name` in one of `path`'s directories.
fn find_on_path(name: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path)
        .filter(|d| d.is_absolute())
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Run `program` with no argument, `input` on its standard input, in a process
/// group of its own, for at most `timeout` (then the group is killed by its id,
/// which is the child's PID). (exit code, timed out, stdout, stderr, spawn error)
async fn run_bounded(
    program: &Path,
    input: &str,
    timeout: Duration,
) -> (Option<i32>, bool, String, String, Option<String>) {
    let mut cmd = tokio::process::Command::new(program);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Python agents: no deprecation noise in the evidence (fence_ipmilan's `pipes`).
        .env("PYTHONWARNINGS", "ignore::DeprecationWarning")
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return (
                None,
                false,
                String::new(),
                String::new(),
                Some(e.to_string()),
            );
        }
    };
    let pgid = child.id().map(|p| p as i32);
    let mut stdin = child.stdin.take().expect("piped stdin");
    let out = tokio::spawn(read_capped(child.stdout.take().expect("piped stdout")));
    let err = tokio::spawn(read_capped(child.stderr.take().expect("piped stderr")));
    let input = input.to_string();
    let ran = tokio::time::timeout(timeout, async {
        // An agent that ends without reading closes the pipe: not an error here.
        let _ = stdin.write_all(input.as_bytes()).await;
        drop(stdin);
        child.wait().await
    })
    .await;
    let (exit, timed_out) = match ran {
        Ok(Ok(status)) => (status.code(), false),
        Ok(Err(_)) => (None, false),
        Err(_) => {
            // Not reaped yet: the group id is still ours.
            kill_group(pgid);
            let _ = child.kill().await;
            (None, true)
        }
    };
    let mut streams = Vec::new();
    for task in [out, err] {
        let mut task = task;
        let text = match tokio::time::timeout(OUTPUT_GRACE, &mut task).await {
            Ok(r) => r.unwrap_or_default(),
            Err(_) => {
                // Something the agent started still holds its output open.
                kill_group(pgid);
                tokio::time::timeout(OUTPUT_GRACE, task)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default()
            }
        };
        streams.push(text);
    }
    let stderr = streams.pop().unwrap_or_default();
    let stdout = streams.pop().unwrap_or_default();
    (exit, timed_out, stdout, stderr, None)
}

/// SIGKILL to the process group `pgid` (the agent's, made for it by `run_bounded`).
fn kill_group(pgid: Option<i32>) {
    if let Some(pgid) = pgid.filter(|p| *p > 1) {
        // SAFETY: kill(2) with a negative id signals that process group; no memory
        // is shared. The id is the group made for the agent's own run.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

async fn read_capped(mut r: impl AsyncRead + Unpin) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = OUTPUT_READ.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

// ---------------------------------------------------------------------------
// The simulated pair's BMC.

/// What the simulated device is called in evidence.
pub const SIM_AGENT: &str = "simulated BMC";

/// The BMC of a host of the simulated pair: `off` powers it off (it stops
/// answering SSH and its validator stops signing), `on` boots it (its runtime
/// state gone; its validator started when enabled and not locked). The sim's
/// `bmc_unreachable` fault makes every call fail as fence_ipmilan does against a
/// BMC that does not answer.
#[derive(Clone)]
pub struct SimPowerDevice {
    world: SimWorld,
    role: Role,
    host: String,
}

impl SimPowerDevice {
    pub fn new(world: SimWorld, cfg: &Config, role: Role) -> SimPowerDevice {
        SimPowerDevice {
            world,
            role,
            host: cfg.host(role).name.clone(),
        }
    }

    fn call(&self, action: PowerAction, exit: i32, stdout: &str, stderr: &str) -> PowerCall {
        PowerCall {
            action,
            program: SIM_AGENT.into(),
            at: self.world.now(),
            took_ms: 0,
            exit: Some(exit),
            timed_out: false,
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }

    fn unreachable(&self, action: PowerAction) -> Option<PowerError> {
        if !self.world.bmc_unreachable(self.role) {
            return None;
        }
        let said = "ERROR: Connection timed out";
        Some(PowerError {
            device: Box::new(self.info()),
            calls: vec![self.call(action, 1, "", said)],
            kind: PowerErrorKind::Failed {
                action,
                exit: Some(1),
                said: said.into(),
            },
        })
    }

    fn state(&self) -> PowerState {
        if self.world.powered_on(self.role) {
            PowerState::On
        } else {
            PowerState::Off
        }
    }

    fn status_call(&self) -> PowerCall {
        let s = self.state();
        let exit = if s == PowerState::Off { 2 } else { 0 };
        self.call(
            PowerAction::Status,
            exit,
            &format!("Status: {}\n", s.as_str().to_uppercase()),
            "",
        )
    }

    fn switch(&self, action: PowerAction) -> Result<PowerEvidence, PowerError> {
        if let Some(e) = self.unreachable(action) {
            return Err(e);
        }
        let want = action.target().expect("a switching action");
        let said = if self.state() == want {
            format!("Success: Already {}\n", want.as_str().to_uppercase())
        } else {
            match want {
                PowerState::Off => self.world.power_off(self.role),
                PowerState::On => self.world.power_on(self.role),
            }
            match want {
                PowerState::Off => "Success: Powered OFF\n".to_string(),
                PowerState::On => "Success: Powered ON\n".to_string(),
            }
        };
        let first = self.call(action, 0, &said, "");
        let status = self.status_call();
        let verified = self.state();
        Ok(PowerEvidence {
            device: self.info(),
            verified_at: status.at,
            calls: vec![first, status],
            verified,
        })
    }
}

#[async_trait]
impl PowerDevice for SimPowerDevice {
    fn info(&self) -> PowerDeviceInfo {
        PowerDeviceInfo {
            role: self.role,
            host: self.host.clone(),
            agent: SIM_AGENT.into(),
            options: BTreeMap::new(),
            password_from: None,
        }
    }

    async fn status(&self) -> Result<PowerEvidence, PowerError> {
        if let Some(e) = self.unreachable(PowerAction::Status) {
            return Err(e);
        }
        let call = self.status_call();
        Ok(PowerEvidence {
            device: self.info(),
            verified_at: call.at,
            calls: vec![call],
            verified: self.state(),
        })
    }

    async fn power_off(&self) -> Result<PowerEvidence, PowerError> {
        self.switch(PowerAction::Off)
    }

    async fn power_on(&self) -> Result<PowerEvidence, PowerError> {
        self.switch(PowerAction::On)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FenceAgentName;
    use std::os::unix::fs::PermissionsExt;

    const SECRET: &str = "s3cret \"pw\" x";

    fn settings(dir: &Path, agent: &str) -> FenceSettings {
        let pw = dir.join("bmc.pass");
        std::fs::write(&pw, format!("{SECRET}\n")).unwrap();
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
        FenceSettings {
            key: "primary.fence".into(),
            agent: FenceAgentName::try_from(agent.to_string()).unwrap(),
            options: BTreeMap::from([
                ("ip".to_string(), "10.0.9.10".to_string()),
                ("lanplus".to_string(), "1".to_string()),
                ("username".to_string(), "admin".to_string()),
            ]),
            password: Some(SecretSource::File(pw)),
            call_timeout: Duration::from_secs(20),
            off_wait: Duration::from_secs(5),
            status_interval: Duration::from_millis(50),
        }
    }

    /// A fake agent `name` in `dir`: a shell script with this body.
    fn agent(dir: &Path, name: &str, body: &str) -> FenceAgent {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        FenceAgent::new(Role::Primary, "validator-a", settings(dir, name))
            .with_search_path(dir.as_os_str())
    }

    /// The fake agents' power state lives in `dir/state`: `off` and `on` set it;
    /// `status` exits 0 on, 2 off, as fencing.py does.
    const STATEFUL: &str = r#"D=$(dirname "$0"); input=$(cat)
echo "$input" >> "$D/inputs"
case "$input" in
*action=off*) echo off > "$D/state"; echo "Success: Powered OFF" ;;
*action=on*) echo on > "$D/state"; echo "Success: Powered ON" ;;
*action=status*) s=$(cat "$D/state" 2>/dev/null || echo on)
  if [ "$s" = off ]; then echo "Status: OFF"; exit 2; else echo "Status: ON"; exit 0; fi ;;
esac"#;

    #[test]
    fn the_stdin_form_is_one_quoted_name_value_a_line() {
        let opts = BTreeMap::from([
            ("lanplus".to_string(), "1".to_string()),
            ("ip".to_string(), "10.0.9.10".to_string()),
            ("username".to_string(), "ad min".to_string()),
        ]);
        assert_eq!(
            stdin_form(&opts, Some("p\"w "), PowerAction::Off),
            "ip=\"10.0.9.10\"\nlanplus=\"1\"\nusername=\"ad min\"\npassword=\"p\"w \"\naction=off\n"
        );
        assert_eq!(
            stdin_form(&BTreeMap::new(), None, PowerAction::Status),
            "action=status\n"
        );
    }

    #[tokio::test]
    async fn options_and_password_go_on_stdin_never_on_the_command_line() {
        let d = tempfile::tempdir().unwrap();
        let a = agent(
            d.path(),
            "fence_fake",
            r#"D=$(dirname "$0"); echo "$#" > "$D/argc"; printf '%s\n' "$0" "$@" > "$D/argv"
tr '\0' '\n' < /proc/$$/cmdline > "$D/cmdline"; env > "$D/env"; cat > "$D/stdin"; echo "Status: ON""#,
        );
        let ev = a.status().await.unwrap();
        assert_eq!(ev.verified, PowerState::On);
        let read = |f: &str| std::fs::read_to_string(d.path().join(f)).unwrap();
        assert_eq!(read("argc").trim(), "0", "no argument at all");
        for f in ["argv", "cmdline", "env"] {
            assert!(!read(f).contains("s3cret"), "{f} holds the password");
            assert!(!read(f).contains("10.0.9.10"), "{f} holds an option");
        }
        assert_eq!(
            read("stdin"),
            format!(
                "ip=\"10.0.9.10\"\nlanplus=\"1\"\nusername=\"admin\"\npassword=\"{SECRET}\"\naction=status\n"
            )
        );
        // The evidence names the device without the secret.
        let json = serde_json::to_string(&ev).unwrap();
        assert!(!json.contains("s3cret"), "{json}");
        assert_eq!(ev.device.agent, "fence_fake");
        assert_eq!(ev.device.host, "validator-a");
        assert_eq!(ev.device.options["ip"], "10.0.9.10");
        assert!(
            ev.device
                .password_from
                .as_deref()
                .is_some_and(|p| p.starts_with("primary.fence.password_file: ")),
            "{:?}",
            ev.device.password_from
        );
        assert_eq!(ev.calls.len(), 1);
        assert_eq!(ev.calls[0].exit, Some(0));
        assert_eq!(ev.calls[0].stdout, "Status: ON\n");
        assert!(ev.calls[0].program.ends_with("/fence_fake"));
    }

    #[tokio::test]
    async fn status_is_the_agents_exit_code() {
        let d = tempfile::tempdir().unwrap();
        let on = agent(d.path(), "fence_on", "cat >/dev/null; exit 0");
        assert_eq!(on.status().await.unwrap().verified, PowerState::On);
        let off = agent(d.path(), "fence_off", "cat >/dev/null; exit 2");
        assert_eq!(off.status().await.unwrap().verified, PowerState::Off);
        for code in [1, 3, 5] {
            let bad = agent(
                d.path(),
                "fence_bad",
                &format!(
                    "cat >/dev/null; echo 'ERROR: Failed: Unable to obtain correct plug status' >&2; exit {code}"
                ),
            );
            let e = bad.status().await.unwrap_err();
            assert_eq!(
                e.kind,
                PowerErrorKind::Failed {
                    action: PowerAction::Status,
                    exit: Some(code),
                    said: "ERROR: Failed: Unable to obtain correct plug status".into()
                }
            );
            let text = e.to_string();
            assert!(
                text.starts_with(
                    "validator-a (primary): fence agent fence_bad: action=status failed"
                ),
                "{text}"
            );
            assert_eq!(e.calls.len(), 1, "the call is evidence too");
        }
    }

    #[tokio::test]
    async fn power_off_is_verified_by_status() {
        let d = tempfile::tempdir().unwrap();
        let a = agent(d.path(), "fence_lab", STATEFUL);
        let ev = a.power_off().await.unwrap();
        assert_eq!(ev.verified, PowerState::Off);
        let actions: Vec<_> = ev.calls.iter().map(|c| (c.action, c.exit)).collect();
        assert_eq!(
            actions,
            [(PowerAction::Off, Some(0)), (PowerAction::Status, Some(2))]
        );
        assert!(ev.verified_at >= ev.calls[0].at);
        let inputs = std::fs::read_to_string(d.path().join("inputs")).unwrap();
        assert_eq!(inputs.matches("action=off").count(), 1);
        // And on again.
        let ev = a.power_on().await.unwrap();
        assert_eq!(ev.verified, PowerState::On);
        assert_eq!(a.status().await.unwrap().verified, PowerState::On);
    }

    #[tokio::test]
    async fn a_host_that_stays_on_is_not_verified_off() {
        let d = tempfile::tempdir().unwrap();
        // `off` says it worked; `status` keeps saying on.
        let a = agent(
            d.path(),
            "fence_liar",
            "case $(cat) in *action=off*) echo 'Success: Powered OFF';; *) echo 'Status: ON';; esac",
        );
        let mut a = a;
        a.settings.off_wait = Duration::from_millis(300);
        let e = a.power_off().await.unwrap_err();
        match &e.kind {
            PowerErrorKind::NotReached {
                action: PowerAction::Off,
                want: PowerState::Off,
                last: Some(PowerState::On),
                last_error: None,
                ..
            } => {}
            other => panic!("{other:?}"),
        }
        assert!(
            e.calls.len() >= 3,
            "off and the status calls: {:?}",
            e.calls
        );
        assert_eq!(e.calls[0].action, PowerAction::Off);
        assert!(e.to_string().contains("did not report off"), "{e}");

        // An `off` that fails is an error with the agent's words, and no status is
        // asked after it.
        let a = agent(
            d.path(),
            "fence_fails",
            "cat >/dev/null; echo 'ERROR: Failed: Timed out waiting to power OFF' >&2; exit 1",
        );
        let e = a.power_off().await.unwrap_err();
        assert_eq!(
            e.kind,
            PowerErrorKind::Failed {
                action: PowerAction::Off,
                exit: Some(1),
                said: "ERROR: Failed: Timed out waiting to power OFF".into()
            }
        );
        assert_eq!(e.calls.len(), 1);
    }

    #[tokio::test]
    async fn a_hanging_agent_is_killed_with_what_it_started() {
        let d = tempfile::tempdir().unwrap();
        let mut a = agent(
            d.path(),
            "fence_hangs",
            r#"D=$(dirname "$0"); sleep 600 & echo $! > "$D/grandchild"; echo $$ > "$D/agent"; wait"#,
        );
        a.settings.call_timeout = Duration::from_secs(2);
        let e = a.status().await.unwrap_err();
        assert_eq!(
            e.kind,
            PowerErrorKind::TimedOut {
                action: PowerAction::Status,
                after_ms: 2000
            }
        );
        assert!(e.calls[0].timed_out);
        assert_eq!(e.calls[0].exit, None);
        // Running: its /proc entry is there and it is not a zombie (waiting for
        // its reaper). Killed processes are gone at once, save that reaping.
        let running = |pid: &str| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
                .unwrap_or(false)
        };
        for who in ["agent", "grandchild"] {
            let pid = std::fs::read_to_string(d.path().join(who)).unwrap();
            let pid = pid.trim();
            for _ in 0..100 {
                if !running(pid) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(!running(pid), "the {who} ({pid}) still runs");
        }
    }

    #[tokio::test]
    async fn the_password_is_blanked_in_what_the_agent_says() {
        let d = tempfile::tempdir().unwrap();
        let a = agent(d.path(), "fence_echo", "cat >&2; exit 1");
        let e = a.status().await.unwrap_err();
        let text = format!("{e} {}", serde_json::to_string(&e).unwrap());
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("password=\\\"[password]\\\""), "{text}");
    }

    #[tokio::test]
    async fn the_password_is_refused_unless_only_its_owner_may_read_it() {
        let d = tempfile::tempdir().unwrap();
        let a = agent(d.path(), "fence_never", "touch \"$(dirname \"$0\")/ran\"");
        let Some(SecretSource::File(pw)) = a.settings.password.clone() else {
            unreachable!()
        };
        for mode in [0o640, 0o604, 0o660, 0o644] {
            std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = a.status().await.unwrap_err();
            let PowerErrorKind::Password(why) = &e.kind else {
                panic!("{e}")
            };
            assert!(
                why.contains(&pw.display().to_string()),
                "names the file: {why}"
            );
            assert!(why.contains("chmod 600"), "{why}");
            assert!(e.calls.is_empty());
        }
        assert!(!d.path().join("ran").exists(), "the agent never ran");

        let read = |src: SecretSource| read_password("backup.fence", &src);
        let missing = read(SecretSource::File(d.path().join("nope"))).unwrap_err();
        assert!(
            missing.starts_with("backup.fence.password_file: "),
            "{missing}"
        );
        let unset = read(SecretSource::Env("VF_TEST_SURELY_UNSET_BMC".into())).unwrap_err();
        assert_eq!(
            unset,
            "backup.fence.password_env: $VF_TEST_SURELY_UNSET_BMC: $VF_TEST_SURELY_UNSET_BMC is not set"
        );
        for (content, says) in [
            ("", "empty"),
            ("\n", "empty"),
            ("two\nlines\n", "line break"),
        ] {
            let f = d.path().join("p");
            std::fs::write(&f, content).unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
            let e = read(SecretSource::File(f)).unwrap_err();
            assert!(e.contains(says), "{content:?}: {e}");
        }
        let f = d.path().join("p");
        std::fs::write(&f, " spaced pw \r\n").unwrap();
        assert_eq!(read(SecretSource::File(f)).unwrap(), " spaced pw ");
    }

    #[tokio::test]
    async fn an_agent_not_on_path_is_named() {
        let d = tempfile::tempdir().unwrap();
        let a = FenceAgent::new(
            Role::Backup,
            "validator-b",
            settings(d.path(), "fence_nowhere"),
        )
        .with_search_path(d.path().as_os_str());
        let e = a.power_off().await.unwrap_err();
        assert!(
            matches!(&e.kind, PowerErrorKind::AgentNotFound { path } if path == &d.path().display().to_string()),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(
            text.starts_with("validator-b (backup): fence agent fence_nowhere: not found on PATH"),
            "{text}"
        );
    }
}
