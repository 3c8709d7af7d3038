//! THE WORLD: one interface for everything the failover needs of a machine, and two
//! implementations of it: real hosts over SSH ([`ssh`]) and a simulated pair
//! ([`sim`]) that serves the demo and the fast tests.

pub mod sim;
pub mod ssh;

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::mpsc;

use crate::config::{Endpoint, Privilege, Role};
pub use crate::observed::{Cmd, Failure, HostError, HttpRoute, HttpWay};

impl Cmd {
    /// The command as it runs with `privilege`: through `sudo -n -H -u USER --`,
    /// which takes the whole argv, each word still one literal word (no shell
    /// string is built).
    pub fn under(&self, privilege: &Privilege) -> Cmd {
        match privilege {
            Privilege::Login => self.clone(),
            Privilege::Sudo { user } => Cmd::new("sudo")
                .args(["-n", "-H", "-u", user.as_str(), "--"])
                .arg(self.program.as_str())
                .args(self.args.iter().cloned()),
        }
    }
}

/// Why `sudo -n` refused to run a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SudoRefusal {
    /// It would ask for a password (`-n`: "a password is required").
    PasswordRequired,
    /// The sudoers policy does not allow this user, or this command.
    NotAllowed(String),
    /// No `sudo` on the host.
    NotInstalled,
}

impl SudoRefusal {
    /// sudo's own refusal in what a command run through it left, if it is one:
    /// exit status 1 with sudo's message (a command's own failure is not).
    pub fn of(status: Option<i32>, stderr: &str) -> Option<SudoRefusal> {
        let text = stderr.trim();
        match status {
            Some(127) if text.contains("sudo") && text.contains("not found") => {
                Some(SudoRefusal::NotInstalled)
            }
            // Any line of sudo's (it may warn first: "unable to resolve host").
            Some(1) => text.lines().map(str::trim).find_map(|line| {
                let lower = line.to_lowercase();
                let sudos = line.starts_with("sudo:")
                    || lower.contains("is not allowed to execute")
                    || lower.contains("is not in the sudoers file")
                    || lower.contains("is not allowed to run sudo");
                if !sudos {
                    None
                } else if lower.contains("a password is required")
                    || lower.contains("a terminal is required")
                    || lower.contains("no tty present")
                {
                    Some(SudoRefusal::PasswordRequired)
                } else if lower.contains("not allowed")
                    || lower.contains("not in the sudoers")
                    || lower.contains("account validation failure")
                {
                    Some(SudoRefusal::NotAllowed(line.to_string()))
                } else {
                    None
                }
            }),
            _ => None,
        }
    }

    /// What to tell a person: `host` and `login` name who was refused, `user` the
    /// user sudo was asked to become.
    pub fn explain(&self, host: &str, login: &str, user: &str) -> String {
        match self {
            SudoRefusal::PasswordRequired => format!(
                "sudo on {host} asks {login} for a password (sudo -n: \"a password is required\"); validator-failover never types one: give {login} passwordless sudo there (a sudoers drop-in such as `{login} ALL=({user}) NOPASSWD: ALL`), or log in as {user}"
            ),
            SudoRefusal::NotAllowed(said) => format!(
                "sudo on {host} does not let {login} run commands as {user} ({said}); validator-failover runs systemctl, journalctl, stat, cat, tar, sh and the validator's own commands as {user}: allow them all (`{login} ALL=({user}) NOPASSWD: ALL`), or log in as {user}"
            ),
            SudoRefusal::NotInstalled => format!(
                "sudo is not installed on {host}: install it and give {login} passwordless sudo, or log in as {user} (without `become`)"
            ),
        }
    }
}

/// What a finished command left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The exit code; None when it was killed by a signal.
    pub status: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim().to_string()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Method {
    Get,
    Post,
}

/// An HTTP request to a service on the host's own loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub endpoint: Endpoint,
    pub method: Method,
    pub path: String,
    /// A JSON body for POST.
    pub body: Option<Vec<u8>>,
}

impl HttpRequest {
    pub fn get(endpoint: &Endpoint, path: impl Into<String>) -> HttpRequest {
        HttpRequest {
            endpoint: endpoint.clone(),
            method: Method::Get,
            path: path.into(),
            body: None,
        }
    }

    pub fn post_json(
        endpoint: &Endpoint,
        path: impl Into<String>,
        body: &serde_json::Value,
    ) -> HttpRequest {
        HttpRequest {
            endpoint: endpoint.clone(),
            method: Method::Post,
            path: path.into(),
            body: Some(serde_json::to_vec(body).expect("a JSON value serialises")),
        }
    }

    /// How the evidence names this request.
    pub fn display(&self) -> String {
        let m = match self.method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        format!("{m} http://{}{}", self.endpoint, self.path)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
    /// The way the answer was read.
    pub route: HttpRoute,
}

/// The most an HTTP answer may be before it is refused as unexpected.
pub const MAX_HTTP_BODY: usize = 16 * 1024 * 1024;

/// Lines of a running command's output, as they come. Dropping it ends the command.
pub struct LineStream {
    pub lines: mpsc::Receiver<String>,
    /// Ends the remote command when dropped.
    _guard: Option<tokio::task::JoinHandle<()>>,
}

impl LineStream {
    pub fn new(
        lines: mpsc::Receiver<String>,
        task: Option<tokio::task::JoinHandle<()>>,
    ) -> LineStream {
        LineStream {
            lines,
            _guard: task,
        }
    }

    pub async fn next(&mut self) -> Option<String> {
        self.lines.recv().await
    }
}

impl Drop for LineStream {
    fn drop(&mut self) {
        if let Some(t) = &self._guard {
            t.abort();
        }
    }
}

/// Everything the failover needs of one machine.
///
/// Every operation has a deadline and reports why it failed as a [`HostError`];
/// every command argument reaches the host as a literal word.
#[async_trait]
pub trait Host: Send + Sync {
    fn role(&self) -> Role;

    /// How the host is reached, for evidence (`ssh root@10.0.0.1`, `simulated`).
    fn describe(&self) -> String;

    /// Make sure the host can be reached (opens the connection if needed).
    async fn connect(&self, timeout: Duration) -> Result<(), HostError>;

    /// Run a command to completion.
    async fn run(&self, cmd: &Cmd, timeout: Duration) -> Result<Output, HostError>;

    /// Start a command and stream its standard output line by line.
    async fn stream_lines(&self, cmd: &Cmd) -> Result<LineStream, HostError>;

    /// Stream a remote file's bytes into `sink`; returns the byte count. Fails (rather
    /// than returning a short count) when the transfer is cut off.
    async fn download(
        &self,
        path: &str,
        sink: &mut (dyn AsyncWrite + Unpin + Send),
        timeout: Duration,
    ) -> Result<u64, HostError>;

    /// Stream `source` into a remote file, created with `mode` (and replaced if it
    /// exists); returns the byte count.
    async fn upload(
        &self,
        path: &str,
        source: &mut (dyn AsyncRead + Unpin + Send),
        mode: u32,
        timeout: Duration,
    ) -> Result<u64, HostError>;

    /// An HTTP request to a service on the host's own loopback, as the host sees it.
    /// Only [`Failure::NothingListens`] means that nothing listens there.
    async fn http(&self, req: &HttpRequest, timeout: Duration) -> Result<HttpResponse, HostError>;

    /// Which way this host's endpoints are read, as far as known.
    fn http_way(&self) -> HttpWay;

    /// Create a small file only if nothing is at `path` (atomically, `O_EXCL`):
    /// Ok(true) created, Ok(false) something was already there.
    async fn create_exclusive(
        &self,
        path: &str,
        content: &str,
        timeout: Duration,
    ) -> Result<bool, HostError> {
        // A constant script; the path and the content arrive as quoted words. A
        // create that fails where nothing is (no permission, no directory) is an
        // error, not "something was already there".
        let cmd = Cmd::new("sh")
            .arg("-c")
            .arg("umask 077; set -C; if printf '%s' \"$2\" > \"$1\"; then exit 0; elif [ -e \"$1\" ] || [ -L \"$1\" ]; then exit 3; else exit 1; fi")
            .arg("sh")
            .arg(path)
            .arg(content);
        let out = self.run(&cmd, timeout).await?;
        match out.status {
            Some(0) => Ok(true),
            Some(3) => Ok(false),
            _ => Err(HostError::new(
                self.role(),
                Failure::Unexpected,
                cmd.display(),
                out.stderr_text(),
            )),
        }
    }
}

/// Conveniences built on the [`Host`] primitives.
#[async_trait]
pub trait HostExt: Host {
    /// Read at most `limit` bytes from the start of a file.
    async fn read_file(
        &self,
        path: &str,
        limit: usize,
        timeout: Duration,
    ) -> Result<Vec<u8>, HostError> {
        let cmd = Cmd::new("head")
            .arg("-c")
            .arg(limit.to_string())
            .arg("--")
            .arg(path);
        let out = self.run(&cmd, timeout).await?;
        if !out.success() {
            return Err(HostError::new(
                self.role(),
                Failure::Unexpected,
                cmd.display(),
                out.stderr_text(),
            ));
        }
        Ok(out.stdout)
    }

    /// Write a whole file from memory.
    async fn write_file(
        &self,
        path: &str,
        data: &[u8],
        mode: u32,
        timeout: Duration,
    ) -> Result<(), HostError> {
        let mut src = data;
        let n = self.upload(path, &mut src, mode, timeout).await?;
        if n != data.len() as u64 {
            return Err(HostError::new(
                self.role(),
                Failure::Unexpected,
                format!("write {path}"),
                format!("wrote {n} of {} bytes", data.len()),
            ));
        }
        Ok(())
    }
}

impl<T: Host + ?Sized> HostExt for T {}

/// Read a byte stream to its end into memory, refusing more than `limit` bytes.
pub async fn read_limited(
    src: &mut (dyn AsyncRead + Unpin + Send),
    limit: usize,
) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut take = src.take(limit as u64 + 1);
    take.read_to_end(&mut buf).await?;
    if buf.len() > limit {
        return Err(std::io::Error::other(format!("more than {limit} bytes")));
    }
    Ok(buf)
}

/// An [`AsyncWrite`] that hashes (sha256) every byte it passes on.
pub struct HashingWriter<W> {
    inner: W,
    hasher: sha2::Sha256,
    count: u64,
}

impl<W> HashingWriter<W> {
    pub fn new(inner: W) -> HashingWriter<W> {
        HashingWriter {
            inner,
            hasher: <sha2::Sha256 as sha2::Digest>::new(),
            count: 0,
        }
    }

    /// The hex sha256 and the byte count of what was written.
    pub fn finish(self) -> (String, u64) {
        let digest = sha2::Digest::finalize(self.hasher);
        (
            digest.iter().map(|b| format!("{b:02x}")).collect(),
            self.count,
        )
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for HashingWriter<W> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let r = std::pin::Pin::new(&mut this.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = r {
            sha2::Digest::update(&mut this.hasher, &buf[..n]);
            this.count += n as u64;
        }
        r
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Stream a file from one host to another through this program, never whole in
/// memory, hashing it on the way. Returns (sha256 hex, bytes). Both ends must finish
/// cleanly and agree on the count, or it is an error.
pub async fn relay(
    from: &dyn Host,
    from_path: &str,
    to: &dyn Host,
    to_path: &str,
    mode: u32,
    timeout: Duration,
) -> Result<(String, u64), HostError> {
    let (writer, mut reader) = tokio::io::duplex(1024 * 1024);
    let mut hashing = HashingWriter::new(writer);
    let down = async {
        let r = from.download(from_path, &mut hashing, timeout).await;
        // Close the pipe so that the upload sees the end.
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut hashing).await;
        r
    };
    let up = async move {
        let r = to.upload(to_path, &mut reader, mode, timeout).await;
        // A failed upload must not leave the download blocked on a full pipe.
        drop(reader);
        r
    };
    let (down, up) = tokio::join!(down, up);
    let sent = down?;
    let received = up?;
    let (sha, counted) = hashing.finish();
    if sent != received || counted != sent {
        return Err(HostError::new(
            to.role(),
            Failure::Unexpected,
            format!("relay {from_path} -> {to_path}"),
            format!("read {sent} bytes, hashed {counted}, wrote {received}"),
        ));
    }
    Ok((sha, sent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudo_takes_the_whole_argv_and_every_word_stays_literal() {
        let cmd = Cmd::new("systemctl")
            .arg("stop")
            .arg("--")
            .arg("x; reboot $(id) 'q'");
        assert_eq!(cmd.under(&Privilege::Login), cmd);
        let wrapped = cmd.under(&Privilege::Sudo {
            user: "root".into(),
        });
        assert_eq!(
            std::iter::once(wrapped.program.as_str())
                .chain(wrapped.args.iter().map(String::as_str))
                .collect::<Vec<_>>(),
            [
                "sudo",
                "-n",
                "-H",
                "-u",
                "root",
                "--",
                "systemctl",
                "stop",
                "--",
                "x; reboot $(id) 'q'"
            ]
        );
        // What reaches the remote shell splits back into exactly those words.
        let words = shlex::split(&wrapped.display()).expect("quoted");
        assert_eq!(words.len(), wrapped.args.len() + 1);
        assert_eq!(
            words.last().map(String::as_str),
            Some("x; reboot $(id) 'q'")
        );
    }

    #[test]
    fn sudos_refusals_are_told_from_a_commands_own_failure() {
        // As sudo 1.9 (Debian 12) says them.
        assert_eq!(
            SudoRefusal::of(Some(1), "sudo: a password is required\n"),
            Some(SudoRefusal::PasswordRequired)
        );
        assert_eq!(
            SudoRefusal::of(
                Some(1),
                "sudo: a terminal is required to read the password; either use the -S option to read from standard input or configure an askpass helper\n"
            ),
            Some(SudoRefusal::PasswordRequired)
        );
        let not = "Sorry, user ops is not allowed to execute '/usr/bin/systemctl stop -- qrysm-validator' as root on primary.";
        assert_eq!(
            SudoRefusal::of(Some(1), not),
            Some(SudoRefusal::NotAllowed(not.into()))
        );
        assert!(matches!(
            SudoRefusal::of(
                Some(1),
                "ops is not in the sudoers file.  This incident will be reported.\n"
            ),
            Some(SudoRefusal::NotAllowed(_))
        ));
        assert_eq!(
            SudoRefusal::of(
                Some(1),
                "sudo: unable to resolve host primary: Name or service not known\nsudo: a password is required\n"
            ),
            Some(SudoRefusal::PasswordRequired),
            "after sudo's own warning"
        );
        assert_eq!(
            SudoRefusal::of(
                Some(1),
                "sudo: unable to resolve host primary: Name or service not known\n"
            ),
            None,
            "a warning, then the command's own exit status 1 (pgrep found nothing)"
        );
        // The command's own failures, and sudo's word for a missing program, are not refusals.
        for (status, stderr) in [
            (
                Some(1),
                "stat: cannot statx '/x': No such file or directory",
            ),
            (
                Some(4),
                "Failed to stop qrysm-validator.service: Access denied",
            ),
            (Some(1), "sudo: qrysm-validator: command not found"),
            (Some(0), "sudo: a password is required"),
            (None, "sudo: a password is required"),
        ] {
            assert_eq!(SudoRefusal::of(status, stderr), None, "{status:?} {stderr}");
        }
        let text =
            SudoRefusal::PasswordRequired.explain("the primary (ops2@10.0.0.1)", "ops2", "root");
        for want in [
            "the primary (ops2@10.0.0.1)",
            "a password is required",
            "ops2 ALL=(root) NOPASSWD: ALL",
            "log in as root",
        ] {
            assert!(text.contains(want), "{want:?} in {text}");
        }
    }
}
