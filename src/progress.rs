//! How far a stream of the history has come: bytes, rate and time left, reported
//! while it moves (at most every 200 ms) and once at its end. The runner draws it as
//! a bar on a terminal and as plain lines otherwise; the wizard shows it in its step.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::config::Role;
use crate::observed::human_bytes;

/// One report of a stream's progress.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// What moves, in the operator's words ("archive", "export").
    pub what: String,
    /// The host it comes from (a download) or goes to (an upload).
    pub host: Role,
    pub upload: bool,
    pub done: u64,
    /// The whole size, when known before the stream began.
    pub total: Option<u64>,
    /// Seconds since the stream began.
    pub seconds: f64,
    /// The last report of this stream (ended, whether it succeeded or not).
    pub finished: bool,
}

impl Progress {
    /// Bytes per second so far.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.done as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Seconds left at the rate so far, when the size is known.
    pub fn left(&self) -> Option<f64> {
        let total = self.total?;
        let rate = self.rate();
        (rate > 0.0).then(|| total.saturating_sub(self.done) as f64 / rate)
    }

    /// One line: `archive from the primary: 128.0 MiB of 256.0 MiB, 95.3 MiB/s, 1 s left`.
    pub fn line(&self) -> String {
        let dir = if self.upload { "to" } else { "from" };
        let of = self
            .total
            .map(|t| format!(" of {}", human_bytes(t)))
            .unwrap_or_default();
        let left = match (self.finished, self.left()) {
            (true, _) => format!(", {:.1} s in all", self.seconds),
            (false, Some(l)) => format!(", {l:.0} s left"),
            (false, None) => String::new(),
        };
        format!(
            "{} {dir} the {}: {}{of}, {}/s{left}",
            self.what,
            self.host,
            human_bytes(self.done),
            human_bytes(self.rate() as u64)
        )
    }
}

/// Where the reports go.
pub type Report = Arc<dyn Fn(&Progress) + Send + Sync>;

/// How often a stream reports at most.
pub const EVERY: Duration = Duration::from_millis(200);

/// A reader or writer that counts what passes through it and reports.
pub struct Counted<T> {
    inner: T,
    report: Option<Report>,
    progress: Progress,
    began: Instant,
    last: Instant,
}

impl<T> Counted<T> {
    pub fn new(inner: T, report: Option<Report>, progress: Progress) -> Counted<T> {
        let now = Instant::now();
        Counted {
            inner,
            report,
            progress,
            began: now,
            last: now,
        }
    }

    fn count(&mut self, n: usize) {
        self.progress.done += n as u64;
        if self.last.elapsed() >= EVERY {
            self.last = Instant::now();
            self.send(false);
        }
    }

    fn send(&mut self, finished: bool) {
        if let Some(r) = &self.report {
            self.progress.seconds = self.began.elapsed().as_secs_f64();
            self.progress.finished = finished;
            r(&self.progress);
        }
    }

    /// The last report (the stream ended); returns the inner reader or writer.
    pub fn finish(mut self) -> T {
        self.send(true);
        self.inner
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let n = buf.filled().len() - before;
            self.count(n);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.count(*n);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The runner's reports: a bar on a terminal (indicatif), else a plain line every
/// five seconds and one at the end of each stream.
pub fn for_the_runner(terminal: bool) -> Report {
    use std::sync::Mutex;
    if terminal {
        let bar: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);
        return Arc::new(move |p: &Progress| {
            let mut bar = bar.lock().unwrap_or_else(|e| e.into_inner());
            let b = bar.get_or_insert_with(|| {
                let b = match p.total {
                    Some(t) => indicatif::ProgressBar::new(t),
                    None => indicatif::ProgressBar::new_spinner(),
                };
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta} left",
                ) {
                    b.set_style(style.progress_chars("=> "));
                }
                b.set_message(format!(
                    "{} {} the {}",
                    p.what,
                    if p.upload { "to" } else { "from" },
                    p.host
                ));
                b
            });
            b.set_position(p.done);
            if p.finished {
                b.finish_and_clear();
                *bar = None;
                say!("           {}", p.line());
            }
        });
    }
    let last: Mutex<Option<Instant>> = Mutex::new(None);
    Arc::new(move |p: &Progress| {
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(5));
        if p.finished || due {
            *last = if p.finished {
                None
            } else {
                Some(Instant::now())
            };
            say!("           {}", p.line());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn p(done: u64, total: Option<u64>, seconds: f64, finished: bool) -> Progress {
        Progress {
            what: "archive".into(),
            host: Role::Primary,
            upload: false,
            done,
            total,
            seconds,
            finished,
        }
    }

    #[test]
    fn a_line_says_bytes_rate_and_time_left() {
        let mib = 1 << 20;
        assert_eq!(
            p(128 * mib, Some(256 * mib), 2.0, false).line(),
            "archive from the primary: 128.0 MiB of 256.0 MiB, 64.0 MiB/s, 2 s left"
        );
        assert_eq!(p(0, None, 0.0, false).left(), None);
        assert!(p(mib, None, 1.0, true).line().ends_with("1.0 s in all"));
    }

    #[tokio::test]
    async fn a_copy_through_it_is_counted_and_ends_with_the_whole() {
        let seen: Arc<Mutex<Vec<Progress>>> = Default::default();
        let s = seen.clone();
        let report: Report = Arc::new(move |p: &Progress| s.lock().unwrap().push(p.clone()));
        let data = vec![7u8; 300_000];
        let mut src = Counted::new(&data[..], Some(report), p(0, Some(300_000), 0.0, false));
        let mut out = Vec::new();
        tokio::io::copy(&mut src, &mut out).await.unwrap();
        src.finish();
        assert_eq!(out.len(), 300_000);
        let seen = seen.lock().unwrap();
        let last = seen.last().unwrap();
        assert!(last.finished);
        assert_eq!(last.done, 300_000);
    }
}
