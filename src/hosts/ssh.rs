//! Real hosts over the system's OpenSSH, through the `openssh` crate: one multiplexed
//! master connection per host, host keys always verified, every argument quoted,
//! a deadline on every operation, and HTTP tunnelled to the host's own loopback.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use openssh::{ForwardType, Session, Socket};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{Mutex, mpsc};

use super::{
    Cmd, Failure, Host, HostError, HttpRequest, HttpResponse, HttpRoute, HttpWay, LineStream,
    MAX_HTTP_BODY, Method, Output, SudoRefusal,
};
use crate::config::{Endpoint, HostSpec, Privilege, Role, SshSettings};

/// Buffer of one streamed copy: 256 KiB moved about 400 MiB/s over loopback here.
const COPY_BUF: usize = 256 * 1024;

/// One real host, reached over SSH.
pub struct SshHost {
    spec: HostSpec,
    settings: SshSettings,
    /// Private (0700) directory for the control socket and the tunnels' sockets.
    dir: tempfile::TempDir,
    session: Mutex<Option<Arc<Session>>>,
    /// The last connection attempt that failed: when it gave up, and why. A caller
    /// that waited for the session while that attempt ran, or that asks within a
    /// connect timeout after it gave up, gets its answer at once instead of an
    /// attempt (and a whole connect timeout) of its own: a dead host costs one
    /// connect timeout per connect timeout, not one per look (a probe that makes
    /// several requests in a row, the next round of looks).
    failed_connect: std::sync::Mutex<Option<(std::time::Instant, HostError)>>,
    tunnels: Mutex<HashMap<(String, u16), (reqwest::Client, PathBuf)>>,
    /// Held while a tunnel is set up: concurrent probes of one endpoint (the engine's
    /// and the wizard's panes) must not each set up a forward on the same socket, the
    /// second unlinking the first's.
    tunnel_setup: Mutex<()>,
    /// Which way the endpoints are read: found once per host, on the first request.
    way: std::sync::Mutex<HttpWay>,
    /// Held by a request while the way is unknown, so that concurrent first requests
    /// (the preflight's) do not each try a forward the sshd refuses.
    way_probe: Mutex<()>,
}

impl SshHost {
    pub fn new(spec: HostSpec, settings: SshSettings) -> std::io::Result<SshHost> {
        let dir = tempfile::Builder::new().prefix("vf-ssh-").tempdir()?;
        Ok(SshHost {
            spec,
            settings,
            dir,
            session: Mutex::new(None),
            failed_connect: std::sync::Mutex::new(None),
            tunnels: Mutex::new(HashMap::new()),
            tunnel_setup: Mutex::new(()),
            way: std::sync::Mutex::new(HttpWay::Unknown),
            way_probe: Mutex::new(()),
        })
    }

    fn err(
        &self,
        failure: Failure,
        what: impl Into<String>,
        detail: impl Into<String>,
    ) -> HostError {
        HostError::new(self.spec.role, failure, what, detail)
    }

    /// The open session, connecting first if there is none. The connection attempt
    /// is bounded by `[ssh] connect_timeout_secs` (or the operation's own deadline
    /// when shorter); callers that queued behind an attempt that failed share its
    /// error rather than each trying again in series.
    async fn session(&self, timeout: Duration) -> Result<Arc<Session>, HostError> {
        let asked = std::time::Instant::now();
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        if let Some(e) = self.failed_since(asked) {
            return Err(e);
        }
        let what = self.describe();
        let connect = self.settings.connect_timeout.min(timeout);
        let session = match self.launch_master(&what, connect).await {
            Ok(s) => Arc::new(s),
            Err(e) => {
                self.note_failed_connect(&e);
                return Err(e);
            }
        };
        if let Err(e) = self.check_become(&session, timeout).await {
            // Not kept: the next operation connects and asks sudo again (the
            // sudoers may have been fixed meanwhile).
            if let Ok(s) = Arc::try_unwrap(session) {
                let _ = tokio::time::timeout(Duration::from_secs(2), s.close()).await;
            }
            self.note_failed_connect(&e);
            return Err(e);
        }
        *self
            .failed_connect
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
        *guard = Some(session.clone());
        Ok(session)
    }

    /// The error of a connection attempt that gave up after `asked` (while the
    /// caller waited for it) or less than a connect timeout ago, if one did. A host
    /// that is back is connected to again once that time has passed.
    fn failed_since(&self, asked: std::time::Instant) -> Option<HostError> {
        let last = self
            .failed_connect
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match last.as_ref() {
            Some((at, e)) if *at >= asked || at.elapsed() < self.settings.connect_timeout => {
                Some(e.clone())
            }
            _ => None,
        }
    }

    fn note_failed_connect(&self, e: &HostError) {
        *self
            .failed_connect
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((std::time::Instant::now(), e.clone()));
    }

    /// Every command as it runs on the host: through sudo when the host's
    /// privilege says so (the one place commands are wrapped).
    fn remote(&self, cmd: &Cmd) -> Cmd {
        cmd.under(&self.spec.privilege)
    }

    /// With `become`: sudo may run commands non-interactively (`sudo -n true`),
    /// asked once per connection, so that a sudo that wants a password is said
    /// clearly when the host is reached, not as a failure of the first command.
    async fn check_become(&self, session: &Session, timeout: Duration) -> Result<(), HostError> {
        if self.spec.privilege == Privilege::Login {
            return Ok(());
        }
        let cmd = self.remote(&Cmd::new("true"));
        let what = cmd.display();
        let mut c = session.command(cmd.program.as_str());
        c.args(cmd.args.iter().map(String::as_str));
        c.stdin(openssh::Stdio::null())
            .stdout(openssh::Stdio::null())
            .stderr(openssh::Stdio::piped());
        match tokio::time::timeout(timeout, c.output()).await {
            Err(_) => Err(self.err(
                Failure::TimedOut,
                what,
                format!("sudo did not answer within {}s", timeout.as_secs()),
            )),
            Ok(Err(openssh::Error::Remote(io))) if io.kind() == std::io::ErrorKind::NotFound => {
                Err(self.refusal(&SudoRefusal::NotInstalled, what))
            }
            Ok(Err(e)) => Err(self.err(
                Failure::Unexpected,
                what,
                format!("sudo could not be run: {e}"),
            )),
            Ok(Ok(o)) if o.status.success() => Ok(()),
            Ok(Ok(o)) => Err(self
                .sudo_refused(o.status.code(), &o.stderr, &what)
                .unwrap_or_else(|| {
                    self.err(
                        Failure::Refused,
                        what.clone(),
                        format!(
                            "sudo -n true failed ({}): {}",
                            o.status,
                            String::from_utf8_lossy(&o.stderr).trim()
                        ),
                    )
                })),
        }
    }

    /// sudo's refusal, said as a person needs it.
    fn refusal(&self, r: &SudoRefusal, what: String) -> HostError {
        let user = match &self.spec.privilege {
            Privilege::Sudo { user } => user.as_str(),
            Privilege::Login => "root",
        };
        let host = format!(
            "the {} ({})",
            self.spec.role,
            self.spec.display_destination()
        );
        let login = self.spec.user.as_deref().unwrap_or("the login user");
        self.err(Failure::Refused, what, r.explain(&host, login, user))
    }

    /// A command that ended with sudo's own refusal: the error that says so.
    fn sudo_refused(&self, status: Option<i32>, stderr: &[u8], what: &str) -> Option<HostError> {
        if self.spec.privilege == Privilege::Login {
            return None;
        }
        let r = SudoRefusal::of(status, &String::from_utf8_lossy(stderr))?;
        Some(self.refusal(&r, what.to_string()))
    }

    /// A command that could not be run at all: without sudo on the host, said so.
    async fn failed(&self, session: &Session, what: &str, e: &openssh::Error) -> HostError {
        if self.spec.privilege != Privilege::Login
            && let openssh::Error::Remote(io) = e
            && io.kind() == std::io::ErrorKind::NotFound
        {
            return self.refusal(&SudoRefusal::NotInstalled, what.to_string());
        }
        self.lost(session, what, e).await
    }

    /// The ssh command line of the master connection: this program's options first
    /// (ssh keeps the first value it is given for an option, so they win: host keys
    /// are always verified, never a question), then the host's own options (the
    /// inventory's `ansible_ssh_common_args`), then `--` and the destination. What
    /// openssh's `SessionBuilder::launch_master` runs, with the host's options.
    pub(crate) fn master_args(
        &self,
        dir: &std::path::Path,
        timeout: Duration,
    ) -> Vec<std::ffi::OsString> {
        let connect = self
            .settings
            .connect_timeout
            .min(timeout)
            .max(Duration::from_secs(1));
        let mut a: Vec<std::ffi::OsString> = Vec::new();
        let mut push = |s: &dyn AsRef<std::ffi::OsStr>| a.push(s.as_ref().to_os_string());
        push(&"-E");
        push(&dir.join("log"));
        push(&"-S");
        push(&dir.join("master"));
        for w in ["-M", "-f", "-N"] {
            push(&w);
        }
        for o in [
            // The master exits when idle, also after a crash of this program.
            "ControlPersist=120s".to_string(),
            "BatchMode=yes".to_string(),
            // Never KnownHosts::Add (accept-new): an unknown key is refused.
            "StrictHostKeyChecking=yes".to_string(),
            format!("ConnectTimeout={}", connect.as_secs()),
            // A frozen host would otherwise hang a stream for ever.
            format!(
                "ServerAliveInterval={}",
                self.settings.server_alive_interval.as_secs()
            ),
        ] {
            push(&"-o");
            push(&o);
        }
        if let Some(p) = self.spec.port {
            push(&"-p");
            push(&p.to_string());
        }
        if let Some(u) = &self.spec.user {
            push(&"-l");
            push(u);
        }
        if let Some(k) = &self.spec.identity_file {
            // One key, one try (MaxAuthTries).
            push(&"-o");
            push(&"IdentitiesOnly=yes");
            push(&"-i");
            push(k);
        }
        if let Some(f) = &self.settings.config_file {
            push(&"-F");
            push(f);
        }
        for w in &self.spec.ssh_args {
            push(w);
        }
        push(&"--");
        push(&self.spec.destination);
        a
    }

    /// Start the master connection and open a session over it.
    async fn launch_master(&self, what: &str, timeout: Duration) -> Result<Session, HostError> {
        let dir = tempfile::Builder::new()
            .prefix(".ssh-connection")
            .tempdir_in(self.dir.path())
            .map_err(|e| {
                self.err(
                    Failure::Local,
                    what,
                    format!("cannot create a socket directory: {e}"),
                )
            })?;
        let mut c = tokio::process::Command::new("ssh");
        c.args(self.master_args(dir.path(), timeout))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // A connect cut short by the deadline leaves no ssh behind.
            .kill_on_drop(true);
        // ssh forks into the background (-f) once connected and authenticated.
        let status = match tokio::time::timeout(timeout, c.status()).await {
            Err(_) => {
                return Err(self.err(
                    Failure::TimedOut,
                    what,
                    format!(
                        "no SSH handshake within {}s (host down, or its sshd hangs)",
                        timeout.as_secs()
                    ),
                ));
            }
            Ok(Err(e)) => {
                return Err(self.err(
                    Failure::Local,
                    what,
                    format!("the local ssh command could not be run: {e}"),
                ));
            }
            Ok(Ok(s)) => s,
        };
        if !status.success() {
            let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
            return Err(classify_connect_text(
                self.spec.role,
                what,
                &ssh_log_text(&log),
            ));
        }
        Ok(Session::new_native_mux(dir))
    }

    /// Forget a session that failed, so that the next operation reconnects.
    async fn drop_session(&self) {
        let old = self.session.lock().await.take();
        self.tunnels.lock().await.clear();
        if let Some(s) = old
            && let Ok(s) = Arc::try_unwrap(s)
        {
            let _ = tokio::time::timeout(Duration::from_secs(2), s.close()).await;
        }
    }

    /// After an operation failed: is the connection itself gone?
    async fn lost(&self, session: &Session, what: &str, e: &openssh::Error) -> HostError {
        let alive = tokio::time::timeout(Duration::from_secs(3), session.check()).await;
        if matches!(alive, Ok(Ok(()))) {
            return self.err(
                Failure::Unexpected,
                what,
                format!("remote command failed: {e}"),
            );
        }
        self.drop_session().await;
        self.err(
            Failure::Unreachable,
            what,
            format!("the SSH connection was lost: {e}"),
        )
    }

    /// Close the master connection (best effort).
    pub async fn close(&self) {
        self.drop_session().await;
    }

    /// The HTTP client that reaches `endpoint` on the host through a tunnel.
    async fn tunnel(
        &self,
        endpoint: &Endpoint,
        timeout: Duration,
    ) -> Result<reqwest::Client, HostError> {
        let key = (endpoint.host.clone(), endpoint.port);
        if let Some((c, _)) = self.tunnels.lock().await.get(&key) {
            return Ok(c.clone());
        }
        let _setup = self.tunnel_setup.lock().await;
        // Set up meanwhile by another caller?
        if let Some((c, _)) = self.tunnels.lock().await.get(&key) {
            return Ok(c.clone());
        }
        let session = self.session(timeout).await?;
        let sock: PathBuf = self.dir.path().join(format!(
            "fwd-{}-{}.sock",
            sanitize(&endpoint.host),
            endpoint.port
        ));
        let _ = std::fs::remove_file(&sock);
        let what = format!("forward {} to {}", sock.display(), endpoint);
        let req = session.request_port_forward(
            ForwardType::Local,
            Socket::UnixSocket {
                path: sock.clone().into(),
            },
            Socket::TcpSocket {
                host: endpoint.host.clone().into(),
                port: endpoint.port,
            },
        );
        match tokio::time::timeout(timeout, req).await {
            Err(_) => {
                return Err(self.err(Failure::TimedOut, what, "the tunnel was not set up in time"));
            }
            Ok(Err(e)) => return Err(self.lost(&session, &what, &e).await),
            Ok(Ok(())) => {}
        }
        let client = reqwest::Client::builder()
            .unix_socket(sock.clone())
            .no_proxy()
            .build()
            .map_err(|e| self.err(Failure::Local, what, e.to_string()))?;
        self.tunnels
            .lock()
            .await
            .insert(key, (client.clone(), sock));
        Ok(client)
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// What a failed master's log says, as one line.
fn ssh_log_text(log: &str) -> String {
    let lines: Vec<&str> = log
        .lines()
        .map(|l| l.trim())
        .map(|l| l.strip_prefix("ssh: ").unwrap_or(l))
        .filter(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added "))
        .collect();
    if lines.is_empty() {
        return "failed to connect to the remote host (ssh said nothing)".into();
    }
    format!("failed to connect to the remote host: {}", lines.join("\n"))
}

/// Turn what ssh said into the reason a person needs.
pub(crate) fn classify_connect_text(role: Role, what: &str, text: &str) -> HostError {
    let text = text.to_string();
    let lower = text.to_lowercase();
    let failure = if lower.contains("host key verification failed")
        || lower.contains("remote host identification has changed")
        || lower.contains("host key is known")
        || lower.contains("no matching host key")
    {
        Failure::HostKeyMismatch
    } else if lower.contains("timed out") || lower.contains("timeout") {
        Failure::TimedOut
    } else if lower.contains("permission denied")
        || lower.contains("too many authentication failures")
    {
        Failure::Refused
    } else {
        Failure::Unreachable
    };
    let detail = match failure {
        Failure::HostKeyMismatch => {
            format!("the host key does not match known_hosts, connection refused: {text}")
        }
        Failure::Refused if lower.contains("too many authentication failures") => format!(
            "{text}: the sshd allows few tries (MaxAuthTries) and every key offered counts; set [ssh] identity_file, or IdentitiesOnly yes with an IdentityFile in ssh_config"
        ),
        _ => text,
    };
    HostError::new(role, failure, what, detail)
}

#[async_trait]
impl Host for SshHost {
    fn role(&self) -> Role {
        self.spec.role
    }

    fn describe(&self) -> String {
        // With the host's own ssh options (an inventory's bastion), as typed.
        let mut words = vec!["ssh".to_string()];
        words.extend(self.spec.ssh_args.iter().map(|a| {
            shlex::try_quote(a)
                .map(|q| q.into_owned())
                .unwrap_or_else(|_| format!("{a:?}"))
        }));
        words.push(self.spec.display_destination());
        if let Some(note) = self.spec.privilege_note() {
            words.push(format!("({note})"));
        }
        words.join(" ")
    }

    async fn connect(&self, timeout: Duration) -> Result<(), HostError> {
        self.session(timeout).await.map(|_| ())
    }

    async fn run(&self, cmd: &Cmd, timeout: Duration) -> Result<Output, HostError> {
        let cmd = &self.remote(cmd);
        let what = cmd.display();
        let session = self.session(timeout).await?;
        let mut c = session.command(cmd.program.as_str());
        c.args(cmd.args.iter().map(String::as_str));
        c.stdin(openssh::Stdio::null())
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::piped());
        match tokio::time::timeout(timeout, c.output()).await {
            Err(_) => Err(self.err(
                Failure::TimedOut,
                what,
                format!("no answer within {}s", timeout.as_secs_f32()),
            )),
            Ok(Err(e)) => Err(self.failed(&session, &what, &e).await),
            Ok(Ok(o)) => {
                if let Some(e) = self.sudo_refused(o.status.code(), &o.stderr, &what) {
                    return Err(e);
                }
                Ok(Output {
                    status: o.status.code(),
                    stdout: o.stdout,
                    stderr: o.stderr,
                })
            }
        }
    }

    async fn stream_lines(&self, cmd: &Cmd) -> Result<LineStream, HostError> {
        let cmd = &self.remote(cmd);
        let what = cmd.display();
        let session = self.session(self.settings.connect_timeout).await?;
        let mut c = session.clone().arc_command(cmd.program.clone());
        c.args(cmd.args.iter().map(String::as_str));
        c.stdin(openssh::Stdio::null())
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::null());
        let mut child = match c.spawn().await {
            Ok(ch) => ch,
            Err(e) => return Err(self.failed(&session, &what, &e).await),
        };
        let stdout = child
            .stdout()
            .take()
            .ok_or_else(|| self.err(Failure::Local, what.clone(), "no stdout pipe"))?;
        let (tx, rx) = mpsc::channel(1024);
        let task = tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).await.is_err() {
                    break;
                }
            }
            drop(child);
        });
        Ok(LineStream::new(rx, Some(task)))
    }

    async fn download(
        &self,
        path: &str,
        sink: &mut (dyn AsyncWrite + Unpin + Send),
        timeout: Duration,
    ) -> Result<u64, HostError> {
        let cmd = self.remote(&Cmd::new("cat").arg("--").arg(path));
        let what = cmd.display();
        let session = self.session(timeout).await?;
        let work = async {
            let mut c = session.command(cmd.program.as_str());
            c.args(cmd.args.iter().map(String::as_str));
            c.stdin(openssh::Stdio::null())
                .stdout(openssh::Stdio::piped())
                .stderr(openssh::Stdio::piped());
            let mut child = c.spawn().await.map_err(|e| (None, e.to_string()))?;
            let mut out = child
                .stdout()
                .take()
                .ok_or((None, "no stdout pipe".to_string()))?;
            let mut err = child
                .stderr()
                .take()
                .ok_or((None, "no stderr pipe".to_string()))?;
            let stderr = tokio::spawn(async move {
                let mut s = Vec::new();
                let _ = (&mut err).take(64 * 1024).read_to_end(&mut s).await;
                s
            });
            let mut buf = vec![0u8; COPY_BUF];
            let mut total = 0u64;
            loop {
                let n = out
                    .read(&mut buf)
                    .await
                    .map_err(|e| (None, format!("reading: {e}")))?;
                if n == 0 {
                    break;
                }
                sink.write_all(&buf[..n])
                    .await
                    .map_err(|e| (Some(Failure::Local), format!("writing locally: {e}")))?;
                total += n as u64;
            }
            sink.flush()
                .await
                .map_err(|e| (Some(Failure::Local), format!("writing locally: {e}")))?;
            drop(out);
            let status = child.wait().await.map_err(|e| (None, format!("{e}")))?;
            let stderr = String::from_utf8_lossy(&stderr.await.unwrap_or_default())
                .trim()
                .to_string();
            if let Some(e) = self.sudo_refused(status.code(), stderr.as_bytes(), &what) {
                return Err((Some(e.failure), e.detail));
            }
            if !status.success() {
                // A cut-off transfer ends like a complete one: only the status tells.
                return Err((
                    Some(Failure::Unexpected),
                    format!("cat exited with {status}: {stderr}"),
                ));
            }
            Ok(total)
        };
        match tokio::time::timeout(timeout, work).await {
            Err(_) => Err(self.err(
                Failure::TimedOut,
                what,
                format!("not finished within {}s", timeout.as_secs()),
            )),
            Ok(Ok(n)) => Ok(n),
            Ok(Err((Some(f), detail))) => Err(self.err(f, what, detail)),
            Ok(Err((None, detail))) => {
                let alive = tokio::time::timeout(Duration::from_secs(3), session.check()).await;
                if matches!(alive, Ok(Ok(()))) {
                    Err(self.err(Failure::Unexpected, what, detail))
                } else {
                    self.drop_session().await;
                    Err(self.err(
                        Failure::Unreachable,
                        what,
                        format!("the SSH connection was lost: {detail}"),
                    ))
                }
            }
        }
    }

    async fn upload(
        &self,
        path: &str,
        source: &mut (dyn AsyncRead + Unpin + Send),
        mode: u32,
        timeout: Duration,
    ) -> Result<u64, HostError> {
        // A constant script; the path and the mode arrive as quoted positional words.
        const SCRIPT: &str = "umask 077 && cat > \"$1\" && chmod \"$2\" \"$1\"";
        let cmd = self.remote(
            &Cmd::new("sh")
                .arg("-c")
                .arg(SCRIPT)
                .arg("sh")
                .arg(path)
                .arg(format!("{mode:o}")),
        );
        let what = cmd.display();
        let session = self.session(timeout).await?;
        let work = async {
            let mut c = session.command(cmd.program.as_str());
            c.args(cmd.args.iter().map(String::as_str));
            c.stdin(openssh::Stdio::piped())
                .stdout(openssh::Stdio::null())
                .stderr(openssh::Stdio::piped());
            let mut child = c.spawn().await.map_err(|e| (None, e.to_string()))?;
            let mut input = child
                .stdin()
                .take()
                .ok_or((None, "no stdin pipe".to_string()))?;
            let mut err = child
                .stderr()
                .take()
                .ok_or((None, "no stderr pipe".to_string()))?;
            let stderr = tokio::spawn(async move {
                let mut s = Vec::new();
                let _ = (&mut err).take(64 * 1024).read_to_end(&mut s).await;
                s
            });
            let mut buf = vec![0u8; COPY_BUF];
            let mut total = 0u64;
            loop {
                let n = source
                    .read(&mut buf)
                    .await
                    .map_err(|e| (Some(Failure::Local), format!("reading locally: {e}")))?;
                if n == 0 {
                    break;
                }
                input
                    .write_all(&buf[..n])
                    .await
                    .map_err(|e| (None, format!("sending: {e}")))?;
                total += n as u64;
            }
            input
                .shutdown()
                .await
                .map_err(|e| (None, format!("sending: {e}")))?;
            drop(input);
            let status = child.wait().await.map_err(|e| (None, format!("{e}")))?;
            let stderr = String::from_utf8_lossy(&stderr.await.unwrap_or_default())
                .trim()
                .to_string();
            if let Some(e) = self.sudo_refused(status.code(), stderr.as_bytes(), &what) {
                return Err((Some(e.failure), e.detail));
            }
            if !status.success() {
                return Err((
                    Some(Failure::Unexpected),
                    format!("writing {path} failed ({status}): {stderr}"),
                ));
            }
            Ok(total)
        };
        match tokio::time::timeout(timeout, work).await {
            Err(_) => Err(self.err(
                Failure::TimedOut,
                what,
                format!("not finished within {}s", timeout.as_secs()),
            )),
            Ok(Ok(n)) => Ok(n),
            Ok(Err((Some(f), detail))) => Err(self.err(f, what, detail)),
            Ok(Err((None, detail))) => {
                self.drop_session().await;
                Err(self.err(Failure::Unreachable, what, detail))
            }
        }
    }

    async fn http(&self, req: &HttpRequest, timeout: Duration) -> Result<HttpResponse, HostError> {
        // While the way is unknown, one request at a time finds it (waiting at most
        // its own deadline for the others).
        let _probe = if self.http_way() == HttpWay::Unknown {
            tokio::time::timeout(timeout, self.way_probe.lock())
                .await
                .ok()
        } else {
            None
        };
        if matches!(self.http_way(), HttpWay::Curl { .. }) {
            return self.http_curl(req, timeout).await;
        }
        // Every request sent is read-only: one that gets no answer through the forward
        // is sent once more, then asked of curl on the host, before it counts.
        let cause = match self.http_once(req, timeout).await? {
            Ok(r) => {
                self.set_way_if_unknown(HttpWay::Forward);
                return Ok(r);
            }
            Err(cause) => cause,
        };
        let prohibited = self.forward_prohibited().await;
        let cause = if prohibited.is_none() {
            // A tunnel whose local socket is gone is set up again (never one that is
            // there: a service that is down must not pile up forwards).
            let key = (req.endpoint.host.clone(), req.endpoint.port);
            let mut tunnels = self.tunnels.lock().await;
            if tunnels.get(&key).is_some_and(|(_, sock)| !sock.exists()) {
                tunnels.remove(&key);
            }
            drop(tunnels);
            tokio::time::sleep(Duration::from_millis(250)).await;
            match self.http_once(req, timeout).await? {
                Ok(r) => {
                    self.set_way_if_unknown(HttpWay::Forward);
                    return Ok(r);
                }
                Err(cause) => cause,
            }
        } else {
            cause
        };
        // No answer through the forward is no evidence that nothing listens: the sshd
        // may forbid forwarding (the reference hardening: `AllowTcpForwarding no`).
        // Ask the host itself, as the runbook does, with curl.
        if let Some(line) = &prohibited {
            self.set_way(HttpWay::Curl {
                why: format!("its ssh said {line:?}"),
            });
        }
        match self.http_curl(req, timeout).await {
            Ok(r) => {
                if prohibited.is_none() {
                    self.set_way(HttpWay::Curl {
                        why: format!(
                            "no answer through the forward ({cause}) while curl on the host is answered"
                        ),
                    });
                }
                Ok(r)
            }
            Err(e) if e.failure == Failure::NothingListens => Err(e),
            Err(mut e) => {
                e.detail = match &prohibited {
                    Some(line) => format!(
                        "the sshd on the host forbids forwarding ({line:?}), and {}",
                        e.detail
                    ),
                    None => format!("{} (through the SSH forward: {cause})", e.detail),
                };
                Err(e)
            }
        }
    }

    fn http_way(&self) -> HttpWay {
        self.way.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The curl command that reads `req` on the host: every word literal, the body on
/// stdin, the status after the body behind `marker`.
pub(crate) fn curl_cmd(req: &HttpRequest, timeout: Duration, marker: &str) -> Cmd {
    let secs = format!("{:.1}", timeout.as_secs_f64().max(1.0));
    // -q first: no ~/.curlrc of the login user; -g: brackets in a path are literal.
    let mut c = Cmd::new("curl")
        .args(["-q", "-sS", "-g", "--proto", "=http", "--noproxy", "*"])
        .arg("--connect-timeout")
        .arg(&secs)
        .arg("--max-time")
        .arg(&secs)
        .arg("--max-filesize")
        .arg(MAX_HTTP_BODY.to_string());
    if req.method == Method::Post {
        c = c
            .args(["-H", "content-type: application/json"])
            .args(["--data-binary", "@-"]);
    }
    c.args(["-o", "-", "-w"])
        .arg(format!("{marker}%{{http_code}}"))
        .arg("--url")
        .arg(format!("http://{}{}", req.endpoint, req.path))
}

/// A marker no answer can know in advance.
fn curl_marker() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("vf-http-status-{:016x}:", h.finish())
}

/// Split curl's output into the body and the HTTP status behind the marker.
pub(crate) fn parse_curl_output(out: &[u8], marker: &str) -> Result<(u16, Vec<u8>), String> {
    let m = marker.as_bytes();
    let at = out
        .windows(m.len())
        .rposition(|w| w == m)
        .ok_or_else(|| "curl's output has no status trailer".to_string())?;
    let code = std::str::from_utf8(&out[at + m.len()..])
        .map_err(|_| "curl's status trailer is not text".to_string())?
        .trim();
    match code.parse::<u16>() {
        Ok(c) if (100..600).contains(&c) => Ok((c, out[..at].to_vec())),
        _ => Err(format!("curl reported HTTP status {code:?}: no answer")),
    }
}

/// What curl's exit status means, for a request that gave no answer.
pub(crate) fn curl_failure(
    code: Option<i32>,
    stderr: &str,
    req: &HttpRequest,
) -> (Failure, String) {
    let ep = &req.endpoint;
    match code {
        // Connection refused on the host's own loopback: the one proof nothing listens.
        Some(7) => (
            Failure::NothingListens,
            format!("nothing listens on {ep} on the host ({stderr})"),
        ),
        Some(28) => (
            Failure::TimedOut,
            format!("no answer from {ep} in time (on the host: {stderr})"),
        ),
        Some(63) => (
            Failure::Unexpected,
            format!("answer from {ep} larger than {MAX_HTTP_BODY} bytes"),
        ),
        Some(126) | Some(127) => (
            Failure::Unexpected,
            format!(
                "curl is not installed on the host (exit {}): {ep} could not be read; install curl there or allow TCP forwarding ({stderr})",
                code.unwrap_or_default()
            ),
        ),
        Some(n) => (
            Failure::Unexpected,
            format!("{ep} could not be read: curl on the host exited with {n} ({stderr})"),
        ),
        None => (
            Failure::Unexpected,
            format!("{ep} could not be read: curl on the host was killed ({stderr})"),
        ),
    }
}

impl SshHost {
    fn set_way(&self, way: HttpWay) {
        *self.way.lock().unwrap_or_else(|p| p.into_inner()) = way;
    }

    fn set_way_if_unknown(&self, way: HttpWay) {
        let mut w = self.way.lock().unwrap_or_else(|p| p.into_inner());
        if *w == HttpWay::Unknown {
            *w = way;
        }
    }

    /// The master's own word that the server refused a forward, when its log level
    /// lets it say so (`channel 1: open failed: administratively prohibited: open
    /// failed`; at `LogLevel ERROR` or quieter it is silent, and the behaviour tells).
    async fn forward_prohibited(&self) -> Option<String> {
        let session = self.session.lock().await.clone()?;
        let log = session.control_socket().parent()?.join("log");
        let text = tokio::fs::read(&log).await.ok()?;
        let text = String::from_utf8_lossy(&text[text.len().saturating_sub(64 * 1024)..]);
        text.lines()
            .rev()
            .find(|l| l.contains("open failed: administratively prohibited"))
            .map(|l| l.trim().to_string())
    }

    /// The request read by curl on the host, over the SSH session.
    async fn http_curl(
        &self,
        req: &HttpRequest,
        timeout: Duration,
    ) -> Result<HttpResponse, HostError> {
        let marker = curl_marker();
        let cmd = curl_cmd(req, timeout, &marker);
        let what = format!("{} with curl on the host", req.display());
        let session = self.session(timeout).await?;
        let body = req.body.clone().unwrap_or_default();
        let work = async {
            let mut c = session.command(cmd.program.as_str());
            c.args(cmd.args.iter().map(String::as_str));
            c.stdin(if req.method == Method::Post {
                openssh::Stdio::piped()
            } else {
                openssh::Stdio::null()
            })
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::piped());
            let mut child = c.spawn().await?;
            if let Some(mut input) = child.stdin().take() {
                // A failed write shows as curl's own failure below.
                let _ = input.write_all(&body).await;
                let _ = input.shutdown().await;
            }
            child.wait_with_output().await
        };
        // curl keeps its own deadline; this one is for a stuck session.
        let out = match tokio::time::timeout(timeout + Duration::from_secs(2), work).await {
            Err(_) => {
                return Err(self.err(
                    Failure::TimedOut,
                    what,
                    format!("no answer within {}s", timeout.as_secs()),
                ));
            }
            // openssh turns the remote shell's 127 (command not found) into an error.
            Ok(Err(openssh::Error::Remote(io))) if io.kind() == std::io::ErrorKind::NotFound => {
                let (f, detail) = curl_failure(Some(127), &io.to_string(), req);
                return Err(self.err(f, what, detail));
            }
            Ok(Err(e)) => return Err(self.lost(&session, &what, &e).await),
            Ok(Ok(o)) => o,
        };
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if out.status.code() != Some(0) {
            let (f, detail) = curl_failure(out.status.code(), &stderr, req);
            return Err(self.err(f, what, detail));
        }
        if out.stdout.len() > MAX_HTTP_BODY + marker.len() + 3 {
            return Err(self.err(
                Failure::Unexpected,
                what,
                format!("answer larger than {MAX_HTTP_BODY} bytes"),
            ));
        }
        match parse_curl_output(&out.stdout, &marker) {
            Ok((status, body)) => Ok(HttpResponse {
                status,
                body,
                route: HttpRoute::CurlOnHost,
            }),
            Err(d) => Err(self.err(Failure::Unexpected, what, d)),
        }
    }

    /// One request through the forward. Ok(Err(cause)): the forward gave no answer
    /// (the session is alive): that alone says nothing about the service.
    async fn http_once(
        &self,
        req: &HttpRequest,
        timeout: Duration,
    ) -> Result<Result<HttpResponse, String>, HostError> {
        let what = req.display();
        let client = self.tunnel(&req.endpoint, timeout).await?;
        let url = format!("http://{}{}", req.endpoint, req.path);
        let builder = match req.method {
            Method::Get => client.get(&url),
            Method::Post => client
                .post(&url)
                .header("content-type", "application/json")
                .body(req.body.clone().unwrap_or_default()),
        };
        let work = async {
            let mut resp = builder.send().await?;
            let status = resp.status().as_u16();
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await? {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_HTTP_BODY {
                    return Ok(Err(body.len()));
                }
            }
            Ok::<_, reqwest::Error>(Ok(HttpResponse {
                status,
                body,
                route: HttpRoute::SshForward,
            }))
        };
        match tokio::time::timeout(timeout, work).await {
            Err(_) => Err(self.err(
                Failure::TimedOut,
                what,
                format!("no answer within {}s", timeout.as_secs()),
            )),
            Ok(Ok(Ok(r))) => Ok(Ok(r)),
            Ok(Ok(Err(n))) => Err(self.err(
                Failure::Unexpected,
                what,
                format!("answer larger than {n} bytes"),
            )),
            Ok(Err(e)) => {
                // Through a tunnel, "nothing listens there" and "the sshd refused the
                // forward" both show as a closed or reset connection.
                let session = self.session.lock().await.clone();
                let alive = match session {
                    Some(s) => matches!(
                        tokio::time::timeout(Duration::from_secs(3), s.check()).await,
                        Ok(Ok(()))
                    ),
                    None => false,
                };
                if alive {
                    Ok(Err(root_cause(&e)))
                } else {
                    self.drop_session().await;
                    Err(self.err(
                        Failure::Unreachable,
                        what,
                        format!("the SSH connection was lost: {}", root_cause(&e)),
                    ))
                }
            }
        }
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut last = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        last = s.to_string();
        src = s.source();
    }
    last
}

impl Drop for SshHost {
    fn drop(&mut self) {
        // Ask the master to exit now rather than after ControlPersist; the control
        // socket lives in our private directory, which is removed with us.
        if let Ok(mut guard) = self.session.try_lock()
            && let Some(s) = guard.take()
        {
            {
                let ctl = s.control_socket().to_path_buf();
                let _ = std::process::Command::new("ssh")
                    .arg("-S")
                    .arg(&ctl)
                    .arg("-O")
                    .arg("exit")
                    .arg("x")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Endpoint, HostSpec, SshSettings};

    fn ep(port: u16) -> Endpoint {
        Endpoint {
            host: "127.0.0.1".into(),
            port,
        }
    }

    /// The master's command line, as `ssh -G` evaluates it: this program's options
    /// win over the host's own (an inventory saying `StrictHostKeyChecking=no`
    /// changes nothing), the host's are in effect, and the destination comes after
    /// `--`.
    #[test]
    fn the_masters_own_options_win_and_the_hosts_options_apply() {
        let dir = tempfile::tempdir().unwrap();
        // ssh leaves out a key file that is not there.
        let key = dir.path().join("id_vf");
        std::fs::write(&key, "").unwrap();
        let spec = HostSpec {
            role: Role::Backup,
            name: "val-b".into(),
            destination: "10.0.0.11".into(),
            user: Some("ops".into()),
            port: Some(2202),
            identity_file: Some(key.clone()),
            ssh_args: [
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "BatchMode=no",
                "-o",
                "ProxyJump=ops@bastion.example:2222",
                "-oServerAliveCountMax=3",
            ]
            .map(String::from)
            .to_vec(),
            privilege: Privilege::Sudo {
                user: "root".into(),
            },
            given_in: crate::config::HostSource::Config,
        };
        let settings = SshSettings {
            config_file: None,
            connect_timeout: Duration::from_secs(7),
            command_timeout: Duration::from_secs(30),
            server_alive_interval: Duration::from_secs(5),
        };
        let h = SshHost::new(spec, settings).unwrap();
        let args = h.master_args(dir.path(), Duration::from_secs(30));
        let words: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(&words[words.len() - 2..], ["--", "10.0.0.11"], "{words:?}");
        let pos = |w: &str| words.iter().position(|x| x == w).unwrap();
        assert!(pos("StrictHostKeyChecking=yes") < pos("StrictHostKeyChecking=no"));
        // `ssh -G` prints what ssh would use, without connecting: the same words,
        // with the master-only flags (-E -S -M -f -N) left out.
        let mut g = std::process::Command::new("ssh");
        g.arg("-G").arg("-F").arg("/dev/null");
        let mut it = words.iter().peekable();
        while let Some(w) = it.next() {
            match w.as_str() {
                "-E" | "-S" => {
                    it.next();
                }
                "-M" | "-f" | "-N" => {}
                _ => {
                    g.arg(w);
                }
            }
        }
        let out = g.output().expect("ssh -G runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let eff = String::from_utf8_lossy(&out.stdout).to_lowercase();
        for want in [
            "stricthostkeychecking true",
            "batchmode yes",
            "proxyjump ops@bastion.example:2222",
            "serveralivecountmax 3",
            "serveraliveinterval 5",
            "connecttimeout 7",
            "identitiesonly yes",
            &format!("identityfile {}", key.display()).to_lowercase(),
            "user ops",
            "port 2202",
            "hostname 10.0.0.11",
            "controlpersist 120",
        ] {
            let want: &str = want;
            assert!(eff.lines().any(|l| l == want), "{want:?} in:\n{eff}");
        }
    }

    #[test]
    fn curl_reads_the_request_with_every_word_literal_and_the_body_on_stdin() {
        let req = HttpRequest::post_json(
            &ep(3500),
            "/zond/v1/validator/liveness/7",
            &serde_json::json!(["0", "1"]),
        );
        let c = curl_cmd(&req, Duration::from_secs(10), "vf-http-status-00ff:");
        assert_eq!(c.program, "curl");
        assert_eq!(c.args[0], "-q", "no ~/.curlrc: -q must come first");
        let words = c.args.join(" ");
        for w in [
            "-sS -g --proto =http --noproxy *",
            "--connect-timeout 10.0 --max-time 10.0",
            "-H content-type: application/json --data-binary @-",
            "-o - -w vf-http-status-00ff:%{http_code}",
            "--url http://127.0.0.1:3500/zond/v1/validator/liveness/7",
        ] {
            assert!(words.contains(w), "{w:?} in {words}");
        }
        // The body is not on the command line; a GET sends none.
        assert!(!words.contains("[\"0\""), "{words}");
        let get = curl_cmd(
            &HttpRequest::get(&ep(8081), "/metrics"),
            Duration::from_millis(300),
            "m:",
        );
        assert!(!get.args.iter().any(|a| a == "--data-binary"), "{get:?}");
        assert!(
            get.args.contains(&"1.0".to_string()),
            "at least a second: {get:?}"
        );
        // A hostile path stays one quoted word on the remote shell.
        let hostile = curl_cmd(
            &HttpRequest::get(&ep(3500), "/x'; touch /tmp/pwned; echo '"),
            Duration::from_secs(1),
            "m:",
        );
        let words = shlex::split(&hostile.display()).expect("quoted");
        assert_eq!(
            words.last().map(String::as_str),
            Some("http://127.0.0.1:3500/x'; touch /tmp/pwned; echo '"),
            "{}",
            hostile.display()
        );
        assert_eq!(words.len(), hostile.args.len() + 1);
    }

    #[test]
    fn curl_output_splits_at_the_last_marker_whatever_the_body_holds() {
        let m = "vf-http-status-1234:";
        let mut out = b"\x00\xffbody with vf-http-status-1234:200 inside\n".to_vec();
        out.extend_from_slice(b"vf-http-status-1234:503");
        let (status, body) = parse_curl_output(&out, m).unwrap();
        assert_eq!(status, 503);
        assert_eq!(body, b"\x00\xffbody with vf-http-status-1234:200 inside\n");
        assert_eq!(
            parse_curl_output(b"vf-http-status-1234:204", m).unwrap(),
            (204, Vec::new())
        );
        assert!(parse_curl_output(b"no trailer", m).is_err());
        assert!(
            parse_curl_output(b"vf-http-status-1234:000", m)
                .unwrap_err()
                .contains("no answer")
        );
        assert_ne!(curl_marker(), curl_marker(), "a new marker per request");
    }

    #[test]
    fn only_curls_connection_refused_means_nothing_listens() {
        let req = HttpRequest::get(&ep(8081), "/metrics");
        assert_eq!(
            curl_failure(Some(7), "curl: (7) Failed to connect", &req).0,
            Failure::NothingListens
        );
        for (code, f, words) in [
            (Some(28), Failure::TimedOut, "in time"),
            (
                Some(127),
                Failure::Unexpected,
                "curl is not installed on the host",
            ),
            (
                Some(126),
                Failure::Unexpected,
                "curl is not installed on the host",
            ),
            (Some(52), Failure::Unexpected, "could not be read"),
            (Some(56), Failure::Unexpected, "could not be read"),
            (Some(63), Failure::Unexpected, "larger than"),
            (None, Failure::Unexpected, "killed"),
        ] {
            let (got, detail) = curl_failure(code, "x", &req);
            assert_eq!(got, f, "{code:?}: {detail}");
            assert!(detail.contains(words), "{code:?}: {detail}");
        }
    }

    /// A host that never answers (a powered-off machine on a network: nothing comes
    /// back) costs one connection attempt, bounded by the connect timeout, for every
    /// look made at once: the looks that waited behind it share its error, typed,
    /// instead of trying again one after the other. The attempts are counted by the
    /// ProxyCommand itself.
    #[tokio::test]
    async fn looks_at_a_dead_host_made_at_once_share_one_connection_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("attempts");
        let config = dir.path().join("ssh_config");
        std::fs::write(
            &config,
            format!(
                "Host dead\n  ProxyCommand sh -c 'echo attempt >> {}; exec sleep 20'\n  UserKnownHostsFile /dev/null\n",
                count.display()
            ),
        )
        .unwrap();
        let spec = HostSpec {
            role: Role::Primary,
            name: "dead".into(),
            destination: "dead".into(),
            user: None,
            port: None,
            identity_file: None,
            ssh_args: Vec::new(),
            privilege: Privilege::Login,
            given_in: crate::config::HostSource::Config,
        };
        let settings = SshSettings {
            config_file: Some(config),
            connect_timeout: Duration::from_secs(1),
            command_timeout: Duration::from_secs(30),
            server_alive_interval: Duration::from_secs(5),
        };
        let h = SshHost::new(spec, settings).unwrap();
        let cmd = Cmd::new("true");
        let looks = (0..5).map(|_| h.run(&cmd, Duration::from_secs(30)));
        let results = futures::future::join_all(looks).await;
        for r in &results {
            let e = r.as_ref().expect_err("a dead host answers nothing");
            assert!(
                matches!(e.failure, Failure::TimedOut | Failure::Unreachable),
                "{e}"
            );
        }
        let attempts = std::fs::read_to_string(&count).unwrap_or_default();
        assert_eq!(attempts.lines().count(), 1, "one attempt for five looks");
        // A look right after (a probe's next request, the next round) shares it too.
        assert!(h.run(&cmd, Duration::from_secs(30)).await.is_err());
        let attempts = std::fs::read_to_string(&count).unwrap_or_default();
        assert_eq!(
            attempts.lines().count(),
            1,
            "a look just after shares the failure"
        );
        // A connect timeout later, a look tries again (the host may be back).
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(h.run(&cmd, Duration::from_secs(30)).await.is_err());
        let attempts = std::fs::read_to_string(&count).unwrap_or_default();
        assert_eq!(attempts.lines().count(), 2, "a later look connects afresh");
    }
}
