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

use crate::config::{Endpoint, Role};
pub use crate::observed::{Cmd, Failure, HostError, HttpRoute, HttpWay};

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
        // A constant script; the path and the content arrive as quoted words.
        let cmd = Cmd::new("sh")
            .arg("-c")
            .arg("umask 077; set -C; printf '%s' \"$2\" > \"$1\" 2>/dev/null || exit 3")
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
