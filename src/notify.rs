//! People are told (`[notify]`): the moments of a run that someone must know of (it
//! started, it is blocked, it waits for a person, the backup started, it failed, it
//! rolled back, both validators were stopped, slashing is suspected, it is done),
//! sent to webhooks (a generic JSON form, Slack's, Telegram's) and to commands.
//!
//! What is told comes from the run's journal, entry by entry ([`notice_for`], pure),
//! and from the questions the engine asks a person ([`Asking`]). Telling never holds
//! up or fails a run: each target has its own task and a bounded queue (when full,
//! the oldest notice is dropped and counted), every send its deadline
//! (`notify.timeout_secs`) and no retry; what a send did comes back as a
//! `Probe`-like record for the journal, never as an error. At the end of the
//! program, pending notices are waited for at most that deadline ([`Notifier::finish`]).
//!
//! Secrets (webhook URLs, the bot token) are read when a run starts, from a file or
//! the environment; they are never journaled or printed: a webhook is named by its
//! scheme and host, and whatever a receiver answers is cleaned of them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Serialize;

use crate::config::{NotifyKind, NotifySettings, NotifyTarget, SecretSource, WebhookFormat};
use crate::driver::{Answer, Clock, Operator};
use crate::engine::checklist::ItemState;
use crate::engine::journal::{Alarm, Entry, ItemId, Record, RunOutcome, rfc3339};
use crate::engine::machine::Confirm;

/// The Bot API's base when `api_url` is not given (the only host named here).
pub const TELEGRAM_API: &str = "https://api.telegram.org";

/// The most of a reason a notice carries (a chat message stays readable, and
/// Telegram's 4096 characters are never reached).
pub const DETAIL_LIMIT: usize = 1500;

/// The version of the JSON form (generic webhook, command's standard input).
pub const FORMAT: u32 = 1;

/// How much of a receiver's answer is kept to say why a send failed.
const ANSWER_EXCERPT: usize = 200;

/// The most read of a secret file.
const SECRET_FILE_LIMIT: u64 = 64 * 1024;

/// Delivery failures kept for the end of the program's summary.
const FAILURES_KEPT: usize = 50;

/// What happened that someone must know of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "notice", content = "detail")]
pub enum Notice {
    /// A run began (or an interrupted one was resumed).
    RunStarted {
        reason: Option<String>,
        resumed: bool,
    },
    /// Stopped by a safety gate (or a refused confirmation) before anything was
    /// touched: someone must act on the reason.
    Blocked {
        why: String,
    },
    /// The engine asks a person to type a confirmation.
    WaitingForPerson {
        question: Question,
        /// What the person is asked to type (a host's name as configured).
        expect: String,
    },
    /// The backup's validator was started and verified running (item 7).
    BackupStarted {
        evidence: String,
    },
    /// The failover completed: the backup signs.
    Done,
    Failed {
        why: String,
    },
    /// The primary signs again; the backup is stopped and locked.
    RolledBack,
    /// The emergency stop-all: both validators stopped and fenced.
    StoppedAll,
    /// Something of ours looks slashed or signed where it must not.
    SlashingSuspected {
        seen: Suspicion,
        why: String,
    },
    /// The run ended in a way this version does not know: said as journaled.
    Ended {
        outcome: String,
    },
}

/// The question a person is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Question {
    StopPrimary,
    StartBackup,
    /// Go on without the primary, through the newest archive and the liveness wait.
    UnverifiedPrimary,
    Rollback,
    StopAll,
}

impl Question {
    fn words(self) -> &'static str {
        match self {
            Question::StopPrimary => "stop the primary",
            Question::StartBackup => "start the backup",
            Question::UnverifiedPrimary => {
                "go on without the primary (it cannot be reached): the newest archive and the liveness wait"
            }
            Question::Rollback => "roll back to the primary",
            Question::StopAll => "stop and fence both validators",
        }
    }
}

/// What made slashing suspected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Suspicion {
    /// Item 9: the beacon state (slashed, not active, balance falling) or the pool.
    BeaconState,
    /// The liveness gate: the chain shows our keys live where nothing of ours signs.
    Liveness,
}

impl Notice {
    /// Its name in the JSON form and in `VF_NOTICE`.
    pub fn kind(&self) -> &'static str {
        match self {
            Notice::RunStarted { .. } => "run-started",
            Notice::Blocked { .. } => "blocked",
            Notice::WaitingForPerson { .. } => "waiting-for-person",
            Notice::BackupStarted { .. } => "backup-started",
            Notice::Done => "done",
            Notice::Failed { .. } => "failed",
            Notice::RolledBack => "rolled-back",
            Notice::StoppedAll => "stopped-all",
            Notice::SlashingSuspected { .. } => "slashing-suspected",
            Notice::Ended { .. } => "ended",
        }
    }

    /// What a person reads first: a headline in capitals and the reason.
    fn headline(&self) -> String {
        match self {
            Notice::RunStarted {
                reason,
                resumed: false,
            } => format!(
                "RUN STARTED{}",
                reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
            Notice::RunStarted { resumed: true, .. } => {
                "RUN RESUMED: an interrupted run goes on, the hosts looked at afresh".into()
            }
            Notice::Blocked { why } => format!("BLOCKED: {why}"),
            Notice::WaitingForPerson { question, expect } => format!(
                "WAITING FOR A PERSON: confirm to {}: type {expect:?} in the wizard",
                question.words()
            ),
            Notice::BackupStarted { evidence } => {
                format!("BACKUP STARTED: its validator runs ({evidence})")
            }
            Notice::Done => "DONE: the failover completed, the backup signs".into(),
            Notice::Failed { why } => format!("FAILED: {why}"),
            Notice::RolledBack => {
                "ROLLED BACK: the primary signs; the backup is stopped and locked".into()
            }
            Notice::StoppedAll => {
                "STOPPED ALL: both validators are stopped and fenced; lifting the fences is by hand"
                    .into()
            }
            Notice::SlashingSuspected { seen, why } => format!(
                "SLASHING SUSPECTED ({}): {why}",
                match seen {
                    Suspicion::BeaconState => "item 9, the beacon state",
                    Suspicion::Liveness => "the liveness gate, the chain",
                }
            ),
            Notice::Ended { outcome } => format!("RUN ENDED: {outcome}"),
        }
    }
}

/// A reason, bounded, without NUL (an environment variable cannot hold one).
fn clip(text: &str) -> String {
    let text = text.replace('\0', "");
    if text.len() <= DETAIL_LIMIT {
        return text;
    }
    let mut end = DETAIL_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// What a journal entry tells people, if anything. Pure: the one place that decides.
///
/// The records are read as they are: the run's end by its outcome, the backup's
/// start by item 7 green, slashing suspected by item 9's alarm and the liveness
/// gate's. A gate held while a node syncs, a wrong confirmation typed (the person is
/// there) are not told.
pub fn notice_for(entry: &Entry) -> Option<Notice> {
    match &entry.record {
        Record::RunStarted { reason, .. } => Some(Notice::RunStarted {
            reason: reason.as_deref().map(clip),
            resumed: false,
        }),
        Record::Item {
            number: ItemId::BackupValidatorStarted,
            state: ItemState::Green,
            evidence,
        } => Some(Notice::BackupStarted {
            evidence: clip(
                &evidence
                    .iter()
                    .map(|e| e.observed.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        }),
        // The engine's alarms are values (`Record::Alarm`), journaled beside the words.
        Record::Alarm {
            alarm: Alarm::Alerts,
            why,
        } => Some(Notice::SlashingSuspected {
            seen: Suspicion::BeaconState,
            why: clip(why),
        }),
        Record::Alarm {
            alarm: Alarm::Liveness,
            why,
        } => Some(Notice::SlashingSuspected {
            seen: Suspicion::Liveness,
            why: clip(why),
        }),
        Record::RunEnded { outcome } => Some(notice_for_outcome(outcome)),
        _ => None,
    }
}

/// The run's end, from its journaled outcome (`RunEnded`).
pub fn notice_for_outcome(outcome: &RunOutcome) -> Notice {
    match outcome {
        RunOutcome::Blocked(why) => Notice::Blocked { why: clip(why) },
        RunOutcome::Failed(why) => Notice::Failed { why: clip(why) },
        RunOutcome::Completed => Notice::Done,
        RunOutcome::RolledBack => Notice::RolledBack,
        RunOutcome::StoppedAll => Notice::StoppedAll,
        RunOutcome::Written(other) => Notice::Ended {
            outcome: clip(other),
        },
    }
}

/// The notice of a question the engine asks a person.
pub fn notice_for_question(question: &Confirm) -> Notice {
    let q = match question {
        Confirm::StopPrimary { .. } => Question::StopPrimary,
        Confirm::StartBackup { .. } => Question::StartBackup,
        Confirm::UnverifiedPrimary { .. } => Question::UnverifiedPrimary,
        Confirm::Rollback { .. } => Question::Rollback,
        Confirm::StopAll { .. } => Question::StopAll,
    };
    Notice::WaitingForPerson {
        question: q,
        expect: clip(question.expected()),
    }
}

/// Which run of which pair a notice is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunIdent {
    pub run: String,
    /// The hosts' names as configured.
    pub primary: String,
    pub backup: String,
}

/// A notice as sent: the run, the pair, the time, what happened, and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Envelope {
    pub format: u32,
    pub run: String,
    pub primary: String,
    pub backup: String,
    /// RFC 3339, UTC.
    pub time: String,
    #[serde(flatten)]
    pub notice: Notice,
    /// The notice in one line, for people (what Slack and Telegram show).
    pub text: String,
}

impl Envelope {
    pub fn new(ident: &RunIdent, at: f64, notice: Notice) -> Envelope {
        let time = rfc3339(at);
        let text = format!(
            "{} → {}: {} (run {}, {})",
            ident.primary,
            ident.backup,
            notice.headline(),
            ident.run,
            time
        )
        .replace('\0', "");
        Envelope {
            format: FORMAT,
            run: ident.run.clone(),
            primary: ident.primary.clone(),
            backup: ident.backup.clone(),
            time,
            notice,
            text,
        }
    }
}

/// The body a form sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    /// The envelope as data.
    Json,
    /// `{"text": …}`, with the three characters Slack reads as markup escaped.
    Slack,
    /// `{"chat_id": …, "text": …}` (plain text: no parse mode).
    Telegram { chat_id: String },
}

impl Form {
    pub fn body(&self, e: &Envelope) -> serde_json::Value {
        match self {
            Form::Json => serde_json::to_value(e).expect("a notice serialises"),
            Form::Slack => serde_json::json!({
                "text": e.text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;"),
            }),
            Form::Telegram { chat_id } => serde_json::json!({
                "chat_id": chat_id,
                "text": e.text,
            }),
        }
    }
}

/// A URL as it may be shown: its scheme and host, never its path (which holds the
/// token of a Slack or Telegram URL) or query.
pub fn redact(url: &reqwest::Url) -> String {
    format!(
        "{}://{}{}/…",
        url.scheme(),
        url.host_str().unwrap_or("?"),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    )
}

/// `text` with every secret (and each non-trivial part of a secret URL) cut out.
fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if s.len() >= 4 {
            out = out.replace(s.as_str(), "…");
        }
    }
    out
}

/// The parts of a secret to cut out of anything shown: the whole, and for a URL
/// its path and query.
fn secret_parts(secret: &str) -> Vec<String> {
    let mut v = vec![secret.to_string()];
    if let Ok(u) = reqwest::Url::parse(secret) {
        v.push(u.as_str().to_string());
        if u.path().len() > 1 {
            v.push(u.path().to_string());
            v.push(u.path().trim_start_matches('/').to_string());
        }
        if let Some(q) = u.query() {
            v.push(q.to_string());
        }
    }
    // The longest first, so that a part never leaves pieces of a longer one.
    v.sort_by_key(|s| std::cmp::Reverse(s.len()));
    v
}

/// How one target is reached.
enum Via {
    Http {
        client: reqwest::Client,
        url: reqwest::Url,
        form: Form,
        /// Cut out of whatever is said about a send.
        secrets: Vec<String>,
    },
    Command {
        argv: Vec<String>,
    },
}

fn secs(d: Duration) -> String {
    format!("{:.0} s", d.as_secs_f64().max(1.0))
}

/// What went wrong with an HTTP request, without its URL.
fn describe(e: reqwest::Error, timeout: Duration) -> String {
    let e = e.without_url();
    if e.is_timeout() {
        return format!("timed out after {}", secs(timeout));
    }
    let mut text = if e.is_connect() {
        "cannot connect".to_string()
    } else {
        e.to_string()
    };
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        text.push_str(": ");
        text.push_str(&s.to_string());
        src = s.source();
    }
    text
}

fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.trim();
    if text.len() <= ANSWER_EXCERPT {
        return text.to_string();
    }
    let mut end = ANSWER_EXCERPT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl Via {
    /// One send: what the receiver answered, or why it failed (secrets cut out).
    async fn send(&self, e: &Envelope, timeout: Duration) -> Result<String, String> {
        match self {
            Via::Http {
                client,
                url,
                form,
                secrets,
            } => {
                let r = async {
                    let mut resp = client
                        .post(url.clone())
                        .json(&form.body(e))
                        .send()
                        .await
                        .map_err(|err| describe(err, timeout))?;
                    let status = resp.status();
                    let mut answer = Vec::new();
                    while answer.len() < ANSWER_EXCERPT * 4 {
                        match resp.chunk().await {
                            Ok(Some(c)) => answer.extend_from_slice(&c),
                            Ok(None) => break,
                            Err(err) if status.is_success() => {
                                // Its status was said: what follows does not matter.
                                let _ = err;
                                break;
                            }
                            Err(err) => return Err(describe(err, timeout)),
                        }
                    }
                    if status.is_success() {
                        Ok(format!("HTTP {}", status.as_u16()))
                    } else {
                        let said = excerpt(&answer);
                        Err(format!(
                            "HTTP {}{}",
                            status.as_u16(),
                            if said.is_empty() {
                                String::new()
                            } else {
                                format!(": {said}")
                            }
                        ))
                    }
                }
                .await;
                r.map(|s| scrub(&s, secrets))
                    .map_err(|s| scrub(&s, secrets))
            }
            Via::Command { argv } => {
                use tokio::io::AsyncWriteExt;
                let mut json = serde_json::to_vec(e).expect("a notice serialises");
                json.push(b'\n');
                let mut cmd = tokio::process::Command::new(&argv[0]);
                cmd.args(&argv[1..])
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    // Out of the terminal's way (the wizard's keys are not its), and
                    // killed when its deadline passes.
                    .process_group(0)
                    .kill_on_drop(true)
                    .env("VF_NOTICE", e.notice.kind())
                    .env("VF_RUN", &e.run)
                    .env("VF_PRIMARY", &e.primary)
                    .env("VF_BACKUP", &e.backup)
                    .env("VF_TIME", &e.time)
                    .env("VF_TEXT", &e.text);
                let mut child = cmd
                    .spawn()
                    .map_err(|err| format!("cannot run {}: {err}", argv[0]))?;
                if let Some(mut stdin) = child.stdin.take() {
                    // A command that does not read its input is its own business.
                    let _ = stdin.write_all(&json).await;
                }
                let out = child
                    .wait_with_output()
                    .await
                    .map_err(|err| format!("waiting for {}: {err}", argv[0]))?;
                if out.status.success() {
                    return Ok("exit 0".into());
                }
                let said = excerpt(&out.stderr);
                Err(format!(
                    "{}{}",
                    match out.status.code() {
                        Some(c) => format!("exit {c}"),
                        None => "killed by a signal".into(),
                    },
                    if said.is_empty() {
                        String::new()
                    } else {
                        format!(": {said}")
                    }
                ))
            }
        }
    }
}

/// One target's queue: bounded, the oldest dropped (and counted) when full.
struct Lane {
    label: String,
    cap: usize,
    state: Mutex<LaneState>,
    wake: tokio::sync::Notify,
}

#[derive(Default)]
struct LaneState {
    queue: VecDeque<Arc<Envelope>>,
    closed: bool,
    /// Notices dropped since last said, by kind.
    dropped: Vec<&'static str>,
    /// The notice being sent.
    sending: Option<&'static str>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Lane {
    fn push(&self, e: Arc<Envelope>) {
        {
            let mut s = lock(&self.state);
            if s.closed {
                return;
            }
            if s.queue.len() >= self.cap
                && let Some(old) = s.queue.pop_front()
            {
                s.dropped.push(old.notice.kind());
            }
            s.queue.push_back(e);
        }
        self.wake.notify_one();
    }

    /// The next notice to send; None once closed and empty.
    async fn next(&self) -> Option<Arc<Envelope>> {
        loop {
            {
                let mut s = lock(&self.state);
                s.sending = None;
                if let Some(e) = s.queue.pop_front() {
                    s.sending = Some(e.notice.kind());
                    return Some(e);
                }
                if s.closed {
                    return None;
                }
            }
            // A push in between left a permit: this returns at once then.
            self.wake.notified().await;
        }
    }

    fn close(&self) {
        lock(&self.state).closed = true;
        self.wake.notify_one();
    }

    fn take_dropped(&self) -> Vec<&'static str> {
        std::mem::take(&mut lock(&self.state).dropped)
    }

    /// What was never sent: the one being sent and those queued.
    fn left(&self) -> Vec<&'static str> {
        let s = lock(&self.state);
        s.sending
            .into_iter()
            .chain(s.queue.iter().map(|e| e.notice.kind()))
            .collect()
    }
}

/// What the sends said, for the journal, and the failures for a summary.
#[derive(Default)]
struct Reports {
    records: Mutex<Vec<Record>>,
    failures: Mutex<Vec<String>>,
}

impl Reports {
    fn say(&self, label: &str, ok: bool, observed: String) {
        if !ok {
            let mut f = lock(&self.failures);
            if f.len() < FAILURES_KEPT {
                f.push(format!("notify {label}: {observed}"));
            }
        }
        lock(&self.records).push(Record::Probe {
            host: None,
            via: format!("notify {label}"),
            ok,
            observed,
        });
    }

    fn dropped(&self, label: &str, kinds: &[&str], cap: usize) {
        if kinds.is_empty() {
            return;
        }
        self.say(
            label,
            false,
            format!(
                "{} notice(s) not sent, the oldest dropped while its queue of {cap} was full (sends lagging): {}",
                kinds.len(),
                kinds.join(", ")
            ),
        );
    }
}

/// The end of the program: what the sends said since last taken, and every
/// failure of the run (bounded), for a summary.
#[derive(Debug, Default)]
pub struct Flushed {
    pub reports: Vec<Record>,
    pub failures: Vec<String>,
}

/// Tells the run's notices to the configured targets. Cheap to clone; does nothing
/// without targets.
#[derive(Clone, Default)]
pub struct Notifier {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    ident: RunIdent,
    timeout: Duration,
    lanes: Vec<Arc<Lane>>,
    reports: Arc<Reports>,
    /// Why a configured target cannot be used, or what is wrong with it.
    problems: Vec<String>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            None => f.write_str("Notifier(no targets)"),
            Some(i) => f
                .debug_struct("Notifier")
                .field("run", &i.ident.run)
                .field(
                    "targets",
                    &i.lanes.iter().map(|l| l.label.as_str()).collect::<Vec<_>>(),
                )
                .finish(),
        }
    }
}

/// A secret, read; (its value, warnings). Errors name the key and where, never the
/// value.
fn read_secret(src: &SecretSource, key: &str, what: &str) -> Result<(String, Vec<String>), String> {
    let mut warnings = Vec::new();
    let (value, from) = match src {
        SecretSource::File(p) => {
            use std::io::Read;
            use std::os::unix::fs::PermissionsExt;
            let k = format!("{key}.{what}_file");
            let f = std::fs::File::open(p)
                .map_err(|e| format!("{k}: cannot read {}: {e}", p.display()))?;
            if let Ok(m) = f.metadata()
                && m.permissions().mode() & 0o077 != 0
            {
                warnings.push(format!(
                    "{k}: {} can be read by other users (mode {:o}): `chmod 600` it",
                    p.display(),
                    m.permissions().mode() & 0o777
                ));
            }
            let mut text = String::new();
            f.take(SECRET_FILE_LIMIT)
                .read_to_string(&mut text)
                .map_err(|e| format!("{k}: cannot read {}: {e}", p.display()))?;
            (text, format!("{k}: {}", p.display()))
        }
        SecretSource::Env(name) => {
            let k = format!("{key}.{what}_env");
            let text = std::env::var(name).map_err(|e| match e {
                std::env::VarError::NotPresent => format!("{k}: ${name} is not set"),
                std::env::VarError::NotUnicode(_) => format!("{k}: ${name} is not UTF-8"),
            })?;
            (text, format!("{k}: ${name}"))
        }
    };
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(format!("{from} is empty"));
    }
    Ok((value, warnings))
}

/// A target made ready: its label, how it is reached, warnings.
fn prepare(
    t: &NotifyTarget,
    client: &Result<reqwest::Client, String>,
) -> Result<(String, Via, Vec<String>), String> {
    let http = || {
        client
            .clone()
            .map_err(|e| format!("{}: cannot set up HTTP: {e}", t.key))
    };
    match &t.kind {
        NotifyKind::Webhook { format, url } => {
            let (secret, warnings) = read_secret(url, &t.key, "url")?;
            let from = match url {
                SecretSource::File(p) => format!("{}.url_file: {}", t.key, p.display()),
                SecretSource::Env(n) => format!("{}.url_env: ${n}", t.key),
            };
            let parsed = reqwest::Url::parse(&secret)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .ok_or_else(|| format!("{from} does not hold an http(s) URL"))?;
            let label = format!("{} ({})", t.name, redact(&parsed));
            let form = match format {
                WebhookFormat::Json => Form::Json,
                WebhookFormat::Slack => Form::Slack,
            };
            Ok((
                label,
                Via::Http {
                    client: http()?,
                    url: parsed,
                    form,
                    secrets: secret_parts(&secret),
                },
                warnings,
            ))
        }
        NotifyKind::Telegram {
            api_url,
            token,
            chat_id,
        } => {
            let (secret, warnings) = read_secret(token, &t.key, "token")?;
            if !secret
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-'))
            {
                let from = match token {
                    SecretSource::File(p) => format!("{}.token_file: {}", t.key, p.display()),
                    SecretSource::Env(n) => format!("{}.token_env: ${n}", t.key),
                };
                return Err(format!(
                    "{from} does not hold a bot token (digits, a colon, letters, `_`, `-`)"
                ));
            }
            let url = reqwest::Url::parse(&format!("{api_url}/bot{secret}/sendMessage"))
                .map_err(|e| format!("{}.api_url: {e}", t.key))?;
            let label = format!("{} ({api_url}/bot…)", t.name);
            Ok((
                label,
                Via::Http {
                    client: http()?,
                    url,
                    form: Form::Telegram {
                        chat_id: chat_id.clone(),
                    },
                    secrets: vec![format!("bot{secret}"), secret],
                },
                warnings,
            ))
        }
        NotifyKind::Command { argv } => Ok((
            format!("{} ({})", t.name, argv[0]),
            Via::Command { argv: argv.clone() },
            Vec::new(),
        )),
    }
}

/// One target's task: its notices in order, one send at a time, each within the
/// deadline; what each did is reported.
async fn run_lane(lane: Arc<Lane>, via: Via, timeout: Duration, reports: Arc<Reports>) {
    while let Some(e) = lane.next().await {
        let started = Instant::now();
        let r = match tokio::time::timeout(timeout, via.send(&e, timeout)).await {
            Ok(r) => r,
            Err(_) => Err(format!("timed out after {}", secs(timeout))),
        };
        let took = started.elapsed().as_secs_f64();
        match r {
            Ok(answer) => reports.say(
                &lane.label,
                true,
                format!(
                    "{} of {} delivered: {answer} in {took:.2} s",
                    e.notice.kind(),
                    e.time
                ),
            ),
            Err(why) => reports.say(
                &lane.label,
                false,
                format!(
                    "{} of {} not delivered: {why} (after {took:.2} s; not retried)",
                    e.notice.kind(),
                    e.time
                ),
            ),
        }
        reports.dropped(&lane.label, &lane.take_dropped(), lane.cap);
    }
}

impl Notifier {
    /// The run's notifier: secrets read, one task per usable target (needs a tokio
    /// runtime). A target that cannot be used is said in [`Notifier::problems`] and
    /// in the journal's next entries, and left out; the run goes on.
    pub fn start(settings: &NotifySettings, ident: RunIdent) -> Notifier {
        if settings.targets.is_empty() {
            return Notifier::default();
        }
        let reports = Arc::new(Reports::default());
        let mut problems = Vec::new();
        let mut lanes = Vec::new();
        let mut tasks = Vec::new();
        let runtime = tokio::runtime::Handle::try_current();
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // A redirect could carry the token elsewhere: the URL is taken as given.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("validator-failover/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| describe(e, settings.timeout));
        for t in &settings.targets {
            let prepared = match &runtime {
                Ok(_) => prepare(t, &client),
                Err(e) => Err(format!("{}: no runtime to send from: {e}", t.key)),
            };
            match prepared {
                Ok((label, via, warnings)) => {
                    for w in warnings {
                        reports.say(&label, true, format!("warning: {w}"));
                        problems.push(format!("notify {label}: {w}"));
                    }
                    let lane = Arc::new(Lane {
                        label,
                        cap: settings.queue.max(1),
                        state: Mutex::new(LaneState::default()),
                        wake: tokio::sync::Notify::new(),
                    });
                    if let Ok(rt) = &runtime {
                        tasks.push(rt.spawn(run_lane(
                            lane.clone(),
                            via,
                            settings.timeout,
                            reports.clone(),
                        )));
                    }
                    lanes.push(lane);
                }
                Err(why) => {
                    let label = t.name.clone();
                    let observed = format!("not used: {why}; the run goes on without it");
                    problems.push(format!("notify {label}: {observed}"));
                    reports.say(&label, false, observed);
                }
            }
        }
        Notifier {
            inner: Some(Arc::new(Inner {
                ident,
                timeout: settings.timeout,
                lanes,
                reports,
                problems,
                tasks: Mutex::new(tasks),
            })),
        }
    }

    /// Configured targets that cannot be used, and warnings (say them at once).
    pub fn problems(&self) -> Vec<String> {
        self.inner
            .as_ref()
            .map(|i| i.problems.clone())
            .unwrap_or_default()
    }

    /// The targets in use, as they are named (their secrets left out).
    pub fn targets(&self) -> Vec<String> {
        self.inner
            .as_ref()
            .map(|i| i.lanes.iter().map(|l| l.label.clone()).collect())
            .unwrap_or_default()
    }

    /// Queue a notice for every target; never waits.
    pub fn notice(&self, at: f64, notice: Notice) {
        if let Some(i) = &self.inner {
            let e = Arc::new(Envelope::new(&i.ident, at, notice));
            for l in &i.lanes {
                l.push(e.clone());
            }
        }
    }

    /// Queue what a journal entry tells people, if anything.
    pub fn entry(&self, entry: &Entry) {
        if let Some(n) = notice_for(entry) {
            self.notice(entry.at, n);
        }
    }

    /// For the driver, at every journal entry: the entry told, and what the sends
    /// said since the last entry, to be journaled.
    pub fn told(&self, entry: &Entry) -> Vec<Record> {
        self.entry(entry);
        self.take_reports()
    }

    /// What the sends said since last taken.
    pub fn take_reports(&self) -> Vec<Record> {
        match &self.inner {
            Some(i) => std::mem::take(&mut *lock(&i.reports.records)),
            None => Vec::new(),
        }
    }

    /// The end of the program: no more notices; those pending are waited for at
    /// most `notify.timeout_secs` in all, then given up (and said).
    pub async fn finish(&self) -> Flushed {
        let Some(i) = &self.inner else {
            return Flushed::default();
        };
        for l in &i.lanes {
            l.close();
        }
        let tasks = std::mem::take(&mut *lock(&i.tasks));
        let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
        if tokio::time::timeout(i.timeout, futures::future::join_all(tasks))
            .await
            .is_err()
        {
            for a in aborts {
                a.abort();
            }
        }
        for l in &i.lanes {
            i.reports.dropped(&l.label, &l.take_dropped(), l.cap);
            let left = l.left();
            if !left.is_empty() {
                i.reports.say(
                    &l.label,
                    false,
                    format!(
                        "{} notice(s) not delivered when the program ended (it waits at most notify.timeout_secs, {}): {}",
                        left.len(),
                        secs(i.timeout),
                        left.join(", ")
                    ),
                );
            }
        }
        Flushed {
            reports: self.take_reports(),
            failures: std::mem::take(&mut *lock(&i.reports.failures)),
        }
    }
}

/// An operator who is a person: each new question the engine asks is told
/// (waiting for a person) before it is put to them. The same question asked again
/// (a wrong answer typed, a note saved meanwhile) is not told twice.
pub struct Asking<O> {
    pub inner: O,
    notifier: Notifier,
    clock: Arc<dyn Clock>,
    last: Option<Confirm>,
}

impl<O> Asking<O> {
    pub fn new(inner: O, notifier: Notifier, clock: Arc<dyn Clock>) -> Asking<O> {
        Asking {
            inner,
            notifier,
            clock,
            last: None,
        }
    }
}

#[async_trait]
impl<O: Operator> Operator for Asking<O> {
    async fn confirm(&mut self, question: &Confirm) -> Answer {
        if self.last.as_ref() != Some(question) {
            self.notifier
                .notice(self.clock.now(), notice_for_question(question));
            self.last = Some(question.clone());
        }
        self.inner.confirm(question).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;
    use crate::engine::checklist::Evidence;
    use crate::engine::journal::GateId;

    fn entry(record: Record) -> Entry {
        Entry::next(None, 1_700_000_000.0, "alice", record)
    }

    fn gate(gate: GateId, open: bool, why: &str) -> Record {
        Record::Gate {
            gate,
            open,
            why: why.into(),
            waits: Vec::new(),
        }
    }

    fn ident() -> RunIdent {
        RunIdent {
            run: "20231114T221320Z-abcdef".into(),
            primary: "val-a".into(),
            backup: "val-b".into(),
        }
    }

    #[test]
    fn each_moment_of_a_run_is_told_and_nothing_else() {
        let ev = |observed: &str| Evidence {
            host: Some(Role::Backup),
            at: 1.0,
            via: "systemctl show".into(),
            observed: observed.into(),
        };
        let cases: Vec<(Record, Option<Notice>)> = vec![
            (
                Record::RunStarted {
                    run: "r".into(),
                    primary: "root@a".into(),
                    backup: "root@b".into(),
                    reason: Some("Primary node has hardware failure".into()),
                    config: None,
                    program: "validator-failover".into(),
                    config_origin: None,
                    format: crate::engine::journal::JOURNAL_FORMAT,
                },
                Some(Notice::RunStarted {
                    reason: Some("Primary node has hardware failure".into()),
                    resumed: false,
                }),
            ),
            (
                Record::Item {
                    number: ItemId::BackupValidatorStarted,
                    state: ItemState::Green,
                    evidence: vec![ev("active/running MainPID=42"), ev("PID [42]")],
                },
                Some(Notice::BackupStarted {
                    evidence: "active/running MainPID=42; PID [42]".into(),
                }),
            ),
            (
                Record::Item {
                    number: ItemId::BackupValidatorStarted,
                    state: ItemState::Running,
                    evidence: vec![],
                },
                None,
            ),
            // The words alone tell nothing: the engine's alarm is a value beside them.
            (
                Record::Item {
                    number: ItemId::AlertsCleared,
                    state: ItemState::Red(
                        "ALARM: validator 2 is slashed (status active_slashed, validator.slashed true)"
                            .into(),
                    ),
                    evidence: vec![],
                },
                None,
            ),
            (
                Record::Alarm {
                    alarm: Alarm::Alerts,
                    why: "ALARM: validator 2 is slashed (status active_slashed, validator.slashed true)"
                        .into(),
                },
                Some(Notice::SlashingSuspected {
                    seen: Suspicion::BeaconState,
                    why: "ALARM: validator 2 is slashed (status active_slashed, validator.slashed true)"
                        .into(),
                }),
            ),
            // Not knowing is not suspecting: the run's failure says it.
            (
                Record::Item {
                    number: ItemId::AlertsCleared,
                    state: ItemState::Red(
                        "item 9 could not be verified: the beacon node did not answer".into(),
                    ),
                    evidence: vec![],
                },
                None,
            ),
            (
                Record::Item {
                    number: ItemId::PrimaryKilled,
                    state: ItemState::Red("ALARM: the primary runs".into()),
                    evidence: vec![],
                },
                None,
            ),
            (
                gate(
                    GateId::Liveness,
                    false,
                    "ALARM: key 1 was live in epoch 12, after its last signed target epoch 10",
                ),
                None,
            ),
            (
                Record::Alarm {
                    alarm: Alarm::Liveness,
                    why: "ALARM: key 1 was live in epoch 12, after its last signed target epoch 10"
                        .into(),
                },
                Some(Notice::SlashingSuspected {
                    seen: Suspicion::Liveness,
                    why: "ALARM: key 1 was live in epoch 12, after its last signed target epoch 10"
                        .into(),
                }),
            ),
            (gate(GateId::Liveness, true, "judged per key"), None),
            // An alarm that does not suspect slashing ends the run: its end is told.
            (
                Record::Alarm {
                    alarm: Alarm::Rollback,
                    why: "ALARM: the backup is not verified stopped and locked".into(),
                },
                None,
            ),
            // A gate held while a node syncs, a wrong answer typed: not told.
            (gate(GateId::Start, false, "item 4: backup beacon syncing"), None),
            (gate(GateId::StopConfirmation, false, "typed \"x\""), None),
            (
                Record::RunEnded {
                    outcome: RunOutcome::Blocked(
                        "the backup's beacon node is syncing; nothing was touched".into(),
                    ),
                },
                Some(Notice::Blocked {
                    why: "the backup's beacon node is syncing; nothing was touched".into(),
                }),
            ),
            (
                Record::RunEnded {
                    outcome: RunOutcome::Failed("item 8: no attestation".into()),
                },
                Some(Notice::Failed {
                    why: "item 8: no attestation".into(),
                }),
            ),
            (
                Record::RunEnded {
                    outcome: RunOutcome::Completed,
                },
                Some(Notice::Done),
            ),
            (
                Record::RunEnded {
                    outcome: RunOutcome::RolledBack,
                },
                Some(Notice::RolledBack),
            ),
            (
                Record::RunEnded {
                    outcome: RunOutcome::StoppedAll,
                },
                Some(Notice::StoppedAll),
            ),
            (
                Record::RunEnded {
                    outcome: RunOutcome::Written("something new".into()),
                },
                Some(Notice::Ended {
                    outcome: "something new".into(),
                }),
            ),
            (
                Record::Probe {
                    host: None,
                    via: "notify ops".into(),
                    ok: false,
                    observed: "timed out".into(),
                },
                None,
            ),
            (
                Record::Note {
                    field: "cause".into(),
                    text: "disk".into(),
                },
                None,
            ),
        ];
        for (record, want) in cases {
            assert_eq!(notice_for(&entry(record.clone())), want, "{record:?}");
        }
    }

    #[test]
    fn the_wizards_outcomes_are_each_told_as_what_they_are() {
        use crate::driver::Ended;
        use crate::engine::machine::{Failover, Outcome, Plan};
        let cfg = crate::config::Config::with_hosts("a", "b");
        let machine = Failover::new(Plan::from_config(&cfg));
        let cases = [
            (Ended::Blocked("no".into()), "blocked"),
            (Ended::Finished(Outcome::Completed), "done"),
            (Ended::Finished(Outcome::RolledBack), "rolled-back"),
            (Ended::Finished(Outcome::StoppedAll), "stopped-all"),
            (Ended::Finished(Outcome::Failed("x".into())), "failed"),
        ];
        for (ended, kind) in cases {
            let (_, outcome, _) = crate::wizard::summarize(&Ok(ended.clone()), &machine);
            let n = notice_for(&entry(Record::RunEnded { outcome })).unwrap();
            assert_eq!(n.kind(), kind, "{ended:?}");
        }
    }

    #[test]
    fn questions_are_told_with_what_to_type() {
        let n = notice_for_question(&Confirm::StartBackup {
            expect: "val-b".into(),
        });
        assert_eq!(
            n,
            Notice::WaitingForPerson {
                question: Question::StartBackup,
                expect: "val-b".into()
            }
        );
        let e = Envelope::new(&ident(), 1_700_000_000.0, n);
        assert_eq!(
            e.text,
            "val-a → val-b: WAITING FOR A PERSON: confirm to start the backup: type \"val-b\" in the wizard (run 20231114T221320Z-abcdef, 2023-11-14T22:13:20.000Z)"
        );
    }

    #[test]
    fn each_form_has_its_shape() {
        let e = Envelope::new(
            &ident(),
            1_700_000_000.0,
            Notice::Blocked {
                why: "a <b> & c".into(),
            },
        );
        let json = Form::Json.body(&e);
        assert_eq!(
            json,
            serde_json::json!({
                "format": 1,
                "run": "20231114T221320Z-abcdef",
                "primary": "val-a",
                "backup": "val-b",
                "time": "2023-11-14T22:13:20.000Z",
                "notice": "blocked",
                "detail": {"why": "a <b> & c"},
                "text": "val-a → val-b: BLOCKED: a <b> & c (run 20231114T221320Z-abcdef, 2023-11-14T22:13:20.000Z)",
            })
        );
        let done = Form::Json.body(&Envelope::new(&ident(), 0.0, Notice::Done));
        assert_eq!(done["notice"], "done");
        assert!(done.get("detail").is_none(), "{done}");
        assert_eq!(
            Form::Slack.body(&e),
            serde_json::json!({"text": "val-a → val-b: BLOCKED: a &lt;b&gt; &amp; c (run 20231114T221320Z-abcdef, 2023-11-14T22:13:20.000Z)"})
        );
        let t = Form::Telegram {
            chat_id: "-100123".into(),
        }
        .body(&e);
        assert_eq!(t["chat_id"], "-100123");
        assert_eq!(t["text"], e.text);
        assert_eq!(t.as_object().unwrap().len(), 2);
        // Every kind's name is its JSON tag.
        for n in [
            Notice::RunStarted {
                reason: None,
                resumed: true,
            },
            Notice::WaitingForPerson {
                question: Question::Rollback,
                expect: "a".into(),
            },
            Notice::BackupStarted {
                evidence: "x".into(),
            },
            Notice::Done,
            Notice::Failed { why: "x".into() },
            Notice::RolledBack,
            Notice::StoppedAll,
            Notice::SlashingSuspected {
                seen: Suspicion::Liveness,
                why: "x".into(),
            },
            Notice::Ended {
                outcome: "x".into(),
            },
        ] {
            let v = Form::Json.body(&Envelope::new(&ident(), 0.0, n.clone()));
            assert_eq!(v["notice"], n.kind());
        }
    }

    #[test]
    fn long_reasons_are_cut_and_nul_left_out() {
        let long = format!("ALARM: {}\0end", "é".repeat(3000));
        let n = notice_for(&entry(Record::RunEnded {
            outcome: RunOutcome::Failed(long.clone()),
        }))
        .unwrap();
        let Notice::Failed { why } = &n else {
            panic!("{n:?}")
        };
        assert!(why.len() <= DETAIL_LIMIT + "…".len(), "{}", why.len());
        assert!(why.ends_with('…') && !why.contains('\0'));
        let e = Envelope::new(&ident(), 0.0, n);
        assert!(e.text.chars().count() < 4096, "Telegram's limit");
    }

    #[test]
    fn urls_are_shown_without_their_secrets() {
        let secret = "https://hooks.example.com:8443/services/T000/B000/XXXXSECRET?token=abc123";
        let u = reqwest::Url::parse(secret).unwrap();
        assert_eq!(redact(&u), "https://hooks.example.com:8443/…");
        let parts = secret_parts(secret);
        let said = scrub(
            &format!(
                "HTTP 404: no route for /services/T000/B000/XXXXSECRET (token=abc123) at {secret}"
            ),
            &parts,
        );
        assert!(
            !said.contains("XXXXSECRET") && !said.contains("abc123"),
            "{said}"
        );
        assert!(said.starts_with("HTTP 404: no route for "), "{said}");
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts() {
        let lane = Lane {
            label: "t".into(),
            cap: 2,
            state: Mutex::new(LaneState::default()),
            wake: tokio::sync::Notify::new(),
        };
        let mk = |n: Notice| Arc::new(Envelope::new(&ident(), 0.0, n));
        lane.push(mk(Notice::RunStarted {
            reason: None,
            resumed: false,
        }));
        lane.push(mk(Notice::BackupStarted {
            evidence: String::new(),
        }));
        lane.push(mk(Notice::Done));
        assert_eq!(lane.take_dropped(), vec!["run-started"]);
        assert_eq!(lane.left(), vec!["backup-started", "done"]);
        lane.close();
        lane.push(mk(Notice::RolledBack));
        assert_eq!(lane.left().len(), 2, "nothing queued once closed");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let kinds: Vec<&str> = rt.block_on(async {
            let mut v = Vec::new();
            while let Some(e) = lane.next().await {
                v.push(e.notice.kind());
            }
            v
        });
        assert_eq!(
            kinds,
            vec!["backup-started", "done"],
            "in order, then closed"
        );
    }

    #[test]
    fn without_targets_nothing_is_done() {
        let n = Notifier::start(&NotifySettings::default(), ident());
        n.notice(0.0, Notice::Done);
        assert!(n.take_reports().is_empty() && n.problems().is_empty());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let f = rt.block_on(n.finish());
        assert!(f.reports.is_empty() && f.failures.is_empty());
    }

    #[test]
    fn a_target_whose_secret_cannot_be_read_is_left_out_and_said() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.url");
        std::fs::write(&empty, "  \n").unwrap();
        let notaurl = dir.path().join("bad.url");
        std::fs::write(&notaurl, "hooks.example.com/services/SECRETPART\n").unwrap();
        let settings = NotifySettings {
            targets: vec![
                NotifyTarget {
                    name: "missing".into(),
                    key: "notify.webhook[1]".into(),
                    kind: NotifyKind::Webhook {
                        format: WebhookFormat::Json,
                        url: SecretSource::File(dir.path().join("nope")),
                    },
                },
                NotifyTarget {
                    name: "empty".into(),
                    key: "notify.webhook[2]".into(),
                    kind: NotifyKind::Webhook {
                        format: WebhookFormat::Slack,
                        url: SecretSource::File(empty),
                    },
                },
                NotifyTarget {
                    name: "not a url".into(),
                    key: "notify.webhook[3]".into(),
                    kind: NotifyKind::Webhook {
                        format: WebhookFormat::Json,
                        url: SecretSource::File(notaurl),
                    },
                },
                NotifyTarget {
                    name: "unset".into(),
                    key: "notify.telegram[1]".into(),
                    kind: NotifyKind::Telegram {
                        api_url: TELEGRAM_API.into(),
                        token: SecretSource::Env("VF_TEST_SURELY_UNSET_TOKEN".into()),
                        chat_id: "1".into(),
                    },
                },
            ],
            timeout: Duration::from_secs(1),
            queue: 4,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let n = rt.block_on(async { Notifier::start(&settings, ident()) });
        let p = n.problems();
        assert_eq!(p.len(), 4, "{p:#?}");
        assert!(
            p[0].contains("notify.webhook[1].url_file: cannot read"),
            "{}",
            p[0]
        );
        assert!(
            p[1].contains("notify.webhook[2].url_file:")
                && p[1].ends_with("is empty; the run goes on without it"),
            "{}",
            p[1]
        );
        assert!(
            p[2].contains("does not hold an http(s) URL") && !p[2].contains("SECRETPART"),
            "{}",
            p[2]
        );
        assert!(
            p[3].contains("notify.telegram[1].token_env: $VF_TEST_SURELY_UNSET_TOKEN is not set"),
            "{}",
            p[3]
        );
        assert!(n.targets().is_empty());
        let journaled = n.take_reports();
        assert_eq!(journaled.len(), 4);
        assert!(journaled.iter().all(|r| matches!(
            r,
            Record::Probe {
                ok: false,
                host: None,
                ..
            }
        )));
    }
}
