//! People are told (`[notify]`): whole failovers on the simulated pair, their notices
//! received on loopback by a tiny HTTP server in the test (the generic JSON form,
//! Slack's, Telegram's) and by a command; a receiver that hangs, one that fails and
//! a port where nothing listens cost the run nothing but their deadline.

mod common;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use validator_failover::audit::{JournalWriter, read_journal};
use validator_failover::config::{Config, NotifySettings};
use validator_failover::driver::{Answer, Driver, Ended};
use validator_failover::engine::checklist::ItemState;
use validator_failover::engine::journal::{Entry, ItemId, JOURNAL_FORMAT, Record};
use validator_failover::engine::machine::{
    Event, Failover, Outcome, Plan, Request, StopAllConsent,
};
use validator_failover::notify::{Asking, Notifier, RunIdent};

use common::engine::Scripted;
use common::{Fault, Pair, SimPair};

/// What a receiver does with a request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Answers 200.
    Ok,
    /// Accepts the connection and never answers.
    Hang,
    /// Answers 500, echoing the path it was sent to (which holds the secret).
    Fail,
}

/// A request received: its path and its JSON body.
type Got = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// A tiny HTTP/1.1 server on loopback.
async fn receiver(mode: Mode) -> (SocketAddr, Got) {
    receiver_held(mode, None).await
}

/// A receiver whose answers wait until `hold` says released.
async fn receiver_held(
    mode: Mode,
    hold: Option<tokio::sync::watch::Receiver<bool>>,
) -> (SocketAddr, Got) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got: Got = Arc::default();
    let g = got.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            if mode == Mode::Hang {
                held.push(s);
                continue;
            }
            let g = g.clone();
            let hold = hold.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let head_end = loop {
                    let mut chunk = [0u8; 4096];
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let path = head
                    .lines()
                    .next()
                    .and_then(|l| l.split(' ').nth(1))
                    .unwrap_or("")
                    .to_string();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    let mut chunk = [0u8; 4096];
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body: serde_json::Value =
                    serde_json::from_slice(&buf[head_end..head_end + len]).unwrap();
                g.lock().unwrap().push((path.clone(), body));
                if let Some(mut hold) = hold {
                    // Held: the sender's next notices queue up behind this one.
                    let _ = hold.wait_for(|released| *released).await;
                }
                let (status, answer) = match mode {
                    Mode::Fail => ("500 Internal Server Error", format!("no route for {path}")),
                    _ => ("200 OK", "ok".to_string()),
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (addr, got)
}

/// A secret file, readable by its owner only.
fn secret_file(dir: &Path, name: &str, content: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p.display().to_string()
}

/// `[notify]` as a file holds it, read as the configuration reads it.
fn notify_settings(dir: &Path, toml: &str) -> NotifySettings {
    let text = format!("[primary]\nssh = \"primary\"\n[backup]\nssh = \"backup\"\n{toml}");
    Config::parse(&text, &dir.join("vf.toml"))
        .unwrap_or_else(|e| panic!("{e}"))
        .notify
}

/// The one run's journal under a runs directory.
fn only_journal(runs: &Path) -> Vec<Entry> {
    let dirs: Vec<_> = std::fs::read_dir(runs).unwrap().flatten().collect();
    assert_eq!(dirs.len(), 1, "one run");
    read_journal(&dirs[0].path()).expect("the journal verifies")
}

fn kinds(got: &Got, prefix: &str) -> Vec<String> {
    got.lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.starts_with(prefix))
        .map(|(_, b)| b["notice"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// What the journal says the notifier did: (target, ok, observed).
fn notify_reports(journal: &[Entry]) -> Vec<(String, bool, String)> {
    journal
        .iter()
        .filter_map(|e| match &e.record {
            Record::Probe {
                host: None,
                via,
                ok,
                observed,
            } if via.starts_with("notify ") => Some((via.clone(), *ok, observed.clone())),
            _ => None,
        })
        .collect()
}

/// A whole failover as `failover --non-interactive` runs it (the runner, its
/// notifier from the configuration): every target gets the run's notices in order,
/// each in its form; the command gets the JSON on its standard input, never through
/// a shell; the journal says what was delivered and holds no secret.
#[test]
fn a_failovers_notices_arrive_in_order_in_each_form() {
    let pair = SimPair::new();
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, got) = rt.block_on(receiver(Mode::Ok));
    let generic = secret_file(
        dir.path(),
        "generic.url",
        &format!("http://{addr}/generic/SECRETPATH-generic\n"),
    );
    let slack = secret_file(
        dir.path(),
        "slack.url",
        &format!("http://{addr}/services/T000/B000/SECRETPATH-slack"),
    );
    let token = "123456:SECRETTOKEN_abc-def";
    let token_file = secret_file(dir.path(), "bot.token", &format!("{token}\n"));
    let stdin_log = dir.path().join("stdin.jsonl");
    let env_log = dir.path().join("env.log");
    let pwned = dir.path().join("pwned");
    let hostile = format!("$(touch {}) `touch {}`", pwned.display(), pwned.display());
    let script = r#"printf '%s|%s|%s|%s|%s\n' "$VF_NOTICE" "$VF_RUN" "$VF_PRIMARY" "$VF_BACKUP" "$1" >> "$2" && cat >> "$3""#;
    let argv = serde_json::json!([
        "sh",
        "-c",
        script,
        "sh",
        hostile,
        env_log.display().to_string(),
        stdin_log.display().to_string()
    ]);
    let mut cfg = pair.config();
    cfg.failover.runs_dir = dir.path().join("runs");
    cfg.notify = notify_settings(
        dir.path(),
        &format!(
            "[[notify.webhook]]\nname = \"ops\"\nurl_file = {generic:?}\n\
             [[notify.webhook]]\nname = \"chat\"\nformat = \"slack\"\nurl_file = {slack:?}\n\
             [[notify.telegram]]\nname = \"oncall\"\ntoken_file = {token_file:?}\nchat_id = -100777\napi_url = \"http://{addr}\"\n\
             [[notify.command]]\nname = \"pager\"\nargv = {argv}\n"
        ),
    );
    let (p, b) = pair.hosts();
    let code = rt.block_on(validator_failover::runner::run(
        cfg,
        p,
        b,
        pair.clock(),
        Some("Planned maintenance".into()),
        Some("tester".into()),
        false,
    ));
    assert_eq!(code, 0, "the failover is done");
    let journal = only_journal(&dir.path().join("runs"));
    let Some(Record::RunStarted { run, .. }) = journal.first().map(|e| e.record.clone()) else {
        panic!("{:?}", journal.first());
    };
    let order = ["run-started", "backup-started", "done"];

    // The generic JSON form: the notice as data.
    assert_eq!(kinds(&got, "/generic/"), order);
    let all = got.lock().unwrap().clone();
    let generic_bodies: Vec<&serde_json::Value> = all
        .iter()
        .filter(|(p, _)| p == "/generic/SECRETPATH-generic")
        .map(|(_, b)| b)
        .collect();
    assert_eq!(generic_bodies.len(), 3, "{all:#?}");
    for b in &generic_bodies {
        assert_eq!(b["format"], 1);
        assert_eq!(b["run"], run.as_str());
        assert_eq!(
            (b["primary"].as_str(), b["backup"].as_str()),
            (Some("primary"), Some("backup"))
        );
        assert!(b["time"].as_str().unwrap().ends_with('Z'), "{b}");
        assert!(
            b["text"]
                .as_str()
                .unwrap()
                .starts_with("primary → backup: "),
            "{b}"
        );
    }
    assert_eq!(
        generic_bodies[0]["detail"],
        serde_json::json!({"reason": "Planned maintenance", "resumed": false})
    );
    assert!(
        generic_bodies[1]["detail"]["evidence"]
            .as_str()
            .unwrap()
            .contains("active/running"),
        "{}",
        generic_bodies[1]
    );

    // Slack's form: only a text.
    let slack_bodies: Vec<&serde_json::Value> = all
        .iter()
        .filter(|(p, _)| p == "/services/T000/B000/SECRETPATH-slack")
        .map(|(_, b)| b)
        .collect();
    let heads: Vec<&str> = slack_bodies
        .iter()
        .map(|b| {
            assert_eq!(b.as_object().unwrap().len(), 1, "only text: {b}");
            let t = b["text"].as_str().unwrap();
            t.split(": ").nth(1).unwrap()
        })
        .collect();
    assert_eq!(
        heads,
        ["RUN STARTED", "BACKUP STARTED", "DONE"],
        "{slack_bodies:#?}"
    );

    // Telegram's: sendMessage under the bot's token, the chat and the text.
    let tg: Vec<&(String, serde_json::Value)> =
        all.iter().filter(|(p, _)| p.starts_with("/bot")).collect();
    assert_eq!(tg.len(), 3, "{all:#?}");
    for (path, body) in &tg {
        assert_eq!(path, &format!("/bot{token}/sendMessage"));
        assert_eq!(body["chat_id"], "-100777");
        assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    }
    let tg_texts: Vec<&str> = tg
        .iter()
        .map(|(_, b)| b["text"].as_str().unwrap())
        .collect();
    assert!(
        tg_texts[0].contains("RUN STARTED: Planned maintenance")
            && tg_texts[1].contains("BACKUP STARTED")
            && tg_texts[2].contains("DONE"),
        "{tg_texts:#?}"
    );

    // The command: the JSON on its standard input, the VF_* variables, its
    // arguments as given (no shell ever read them).
    let stdin = std::fs::read_to_string(&stdin_log).unwrap();
    let lines: Vec<serde_json::Value> = stdin
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let cmd_kinds: Vec<&str> = lines
        .iter()
        .map(|v| v["notice"].as_str().unwrap())
        .collect();
    assert_eq!(cmd_kinds, order);
    assert_eq!(lines[0], *generic_bodies[0], "the same JSON form");
    let env = std::fs::read_to_string(&env_log).unwrap();
    let env_lines: Vec<&str> = env.lines().collect();
    assert_eq!(
        env_lines,
        order
            .iter()
            .map(|k| format!("{k}|{run}|primary|backup|{hostile}"))
            .collect::<Vec<_>>()
    );
    assert!(!pwned.exists(), "an argument was run by a shell");

    // The journal: each target's deliveries, in order, and never a secret.
    let reports = notify_reports(&journal);
    for target in ["ops", "chat", "oncall", "pager"] {
        let mine: Vec<&(String, bool, String)> = reports
            .iter()
            .filter(|(via, _, _)| via.starts_with(&format!("notify {target} (")))
            .collect();
        let delivered: Vec<&str> = mine
            .iter()
            .filter(|(_, ok, o)| *ok && o.contains(" delivered: "))
            .map(|(_, _, o)| o.split(' ').next().unwrap())
            .collect();
        assert_eq!(delivered, order, "{target}: {mine:#?}");
    }
    assert!(
        reports
            .iter()
            .any(|(via, _, _)| via == &format!("notify ops (http://{addr}/…)")),
        "a webhook is named by its scheme and host: {reports:#?}"
    );
    let text = std::fs::read_to_string(
        std::fs::read_dir(dir.path().join("runs"))
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .path()
            .join("journal.jsonl"),
    )
    .unwrap();
    for secret in ["SECRETPATH", "SECRETTOKEN", token] {
        assert!(!text.contains(secret), "the journal holds {secret}");
    }
    assert!(pair.slashable().is_empty());
}

/// A receiver that accepts and never answers, one that answers 500 (echoing the
/// secret path), and a port where nothing listens: the others get every notice in
/// order, the run completes, each failure is journaled without the secret, and what
/// the hanging one never got is said. The delay it adds is printed, not asserted.
#[test]
fn a_hanging_receiver_costs_the_run_no_more_than_its_deadline() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (good, got) = rt.block_on(receiver(Mode::Ok));
    let (hang, _) = rt.block_on(receiver(Mode::Hang));
    let (fail, failed) = rt.block_on(receiver(Mode::Fail));
    let closed = rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    });
    let run = |with_bad: bool| {
        let pair = SimPair::new();
        let dir = tempfile::tempdir().unwrap();
        let mut toml = format!(
            "[notify]\ntimeout_secs = 1\n[[notify.webhook]]\nname = \"good\"\nurl_file = {:?}\n",
            secret_file(
                dir.path(),
                "good.url",
                &format!("http://{good}/good/SECRET-good")
            )
        );
        if with_bad {
            for (name, addr) in [("hangs", hang), ("fails", fail), ("nobody", closed)] {
                toml.push_str(&format!(
                    "[[notify.webhook]]\nname = \"{name}\"\nurl_file = {:?}\n",
                    secret_file(
                        dir.path(),
                        &format!("{name}.url"),
                        &format!("http://{addr}/{name}/SECRET-{name}")
                    )
                ));
            }
        }
        let mut cfg = pair.config();
        cfg.failover.runs_dir = dir.path().join("runs");
        cfg.notify = notify_settings(dir.path(), &toml);
        let (p, b) = pair.hosts();
        let t = Instant::now();
        let code = rt.block_on(validator_failover::runner::run(
            cfg,
            p,
            b,
            pair.clock(),
            None,
            Some("tester".into()),
            false,
        ));
        let took = t.elapsed().as_secs_f64();
        assert_eq!(code, 0, "the failover is done whatever the receivers do");
        assert!(pair.slashable().is_empty());
        (took, only_journal(&dir.path().join("runs")), dir)
    };
    let (plain, _, _) = run(false);
    got.lock().unwrap().clear();
    let (slowed, journal, _dir) = run(true);
    println!(
        "a whole simulated failover: {plain:.2} s with a good receiver, {slowed:.2} s with a hanging one beside it (deadline 1 s): {:+.2} s",
        slowed - plain
    );
    assert_eq!(
        kinds(&got, "/good/"),
        ["run-started", "backup-started", "done"]
    );
    let reports = notify_reports(&journal);
    let of = |name: &str| -> Vec<(bool, String)> {
        reports
            .iter()
            .filter(|(via, _, _)| via.starts_with(&format!("notify {name} (")))
            .map(|(_, ok, o)| (*ok, o.clone()))
            .collect()
    };
    // The hanging one: every notice is accounted for as not delivered, timed out
    // or left when the program ended.
    let hangs = of("hangs");
    assert!(hangs.iter().all(|(ok, _)| !ok), "{hangs:#?}");
    let mut unsent: Vec<String> = Vec::new();
    for (_, o) in &hangs {
        if o.contains(" not delivered: timed out after 1 s") {
            unsent.push(o.split(' ').next().unwrap().to_string());
        } else if let Some((_, kinds)) = o.split_once("when the program ended") {
            let kinds = kinds.rsplit_once(": ").unwrap().1;
            unsent.extend(kinds.split(", ").map(str::to_string));
        } else {
            panic!("unexpected: {o}");
        }
    }
    assert_eq!(
        unsent,
        ["run-started", "backup-started", "done"],
        "{hangs:#?}"
    );
    // The failing one: its status and its answer, the secret cut out.
    let fails = of("fails");
    assert_eq!(fails.len(), 3, "{fails:#?}");
    for (ok, o) in &fails {
        assert!(
            !ok && o.contains("not delivered: HTTP 500: no route for"),
            "{o}"
        );
    }
    assert_eq!(failed.lock().unwrap().len(), 3, "each sent once: no retry");
    let nobody = of("nobody");
    assert_eq!(nobody.len(), 3, "{nobody:#?}");
    assert!(
        nobody
            .iter()
            .all(|(ok, o)| !ok && o.contains("not delivered: cannot connect")),
        "{nobody:#?}"
    );
    for (via, _, o) in &reports {
        assert!(
            !via.contains("SECRET") && !o.contains("SECRET"),
            "{via}: {o}"
        );
    }
}

/// The run as the wizard drives it: its operator a person, whose questions are told
/// (waiting for a person), then the run's end recorded as the wizard records it.
/// The receiver holds its first answer until the run has ended, so that every later
/// notice waits in the queue, and is then sent in order. Returns how it ended, the
/// notices (the generic form) and the journal.
fn wizard_run(
    pair: &SimPair,
    answers: Vec<Answer>,
    listener: Option<validator_failover::driver::Listener>,
) -> (Ended, Vec<serde_json::Value>, Vec<Entry>) {
    wizard_run_with(pair, answers, listener, "queue = 64")
}

/// [`wizard_run`] with more of `[notify]` (`queue = …`).
fn wizard_run_with(
    pair: &SimPair,
    answers: Vec<Answer>,
    listener: Option<validator_failover::driver::Listener>,
    more: &str,
) -> (Ended, Vec<serde_json::Value>, Vec<Entry>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (release, held) = tokio::sync::watch::channel(false);
    let (addr, got) = rt.block_on(receiver_held(Mode::Ok, Some(held)));
    let dir = tempfile::tempdir().unwrap();
    let url = secret_file(
        dir.path(),
        "hook.url",
        &format!("http://{addr}/hook/SECRET"),
    );
    let mut cfg = pair.config();
    cfg.notify = notify_settings(
        dir.path(),
        &format!(
            "[notify]\ntimeout_secs = 60\n{more}\n[[notify.webhook]]\nname = \"ops\"\nurl_file = {url:?}\n"
        ),
    );
    let (p, b) = pair.hosts();
    let journal = JournalWriter::create(dir.path(), "test-run", "tester").unwrap();
    let ended = rt.block_on(async {
        let notifier = Notifier::start(
            &cfg.notify,
            RunIdent {
                run: "test-run".into(),
                primary: cfg.primary.name.clone(),
                backup: cfg.backup.name.clone(),
            },
        );
        let mut driver = Driver::new(cfg.clone(), "test-run".into(), p, b, pair.clock(), journal);
        driver.notifier = notifier.clone();
        driver.listener = listener;
        driver
            .record(Record::RunStarted {
                run: "test-run".into(),
                primary: cfg.primary.display_destination(),
                backup: cfg.backup.display_destination(),
                reason: None,
                config: None,
                program: "test".into(),
                config_origin: None,
                format: JOURNAL_FORMAT,
            })
            .unwrap();
        let mut op = Asking::new(
            Scripted {
                answers: VecDeque::from(answers),
                asked: Vec::new(),
            },
            notifier.clone(),
            pair.clock(),
        );
        let mut machine = Failover::new(Plan::from_config(&cfg));
        let now = pair.clock().now();
        let ended = driver
            .run(&mut machine, "tester", &mut op, Event::Begin { now })
            .await
            .unwrap();
        let (_, outcome, _) = validator_failover::wizard::summarize(&Ok(ended.clone()), &machine);
        driver.record(Record::RunEnded { outcome }).unwrap();
        let _ = release.send(true);
        validator_failover::runner::finish_notices(&notifier, Some(&mut driver)).await;
        ended
    });
    let bodies = got.lock().unwrap().iter().map(|(_, b)| b.clone()).collect();
    let journal = read_journal(&dir.path().join("test-run")).expect("the journal verifies");
    (ended, bodies, journal)
}

fn summary(bodies: &[serde_json::Value]) -> Vec<String> {
    bodies
        .iter()
        .map(|b| match b["notice"].as_str().unwrap() {
            "waiting-for-person" => format!(
                "waiting-for-person {}",
                b["detail"]["question"].as_str().unwrap()
            ),
            "slashing-suspected" => format!(
                "slashing-suspected {}",
                b["detail"]["seen"].as_str().unwrap()
            ),
            k => k.to_string(),
        })
        .collect()
}

fn names(pair: &SimPair) -> Vec<Answer> {
    let cfg = pair.config();
    vec![
        Answer::Typed(cfg.primary.name),
        Answer::Typed(cfg.backup.name),
    ]
}

#[test]
fn in_the_wizard_each_question_is_told_once_as_waiting_for_a_person() {
    let pair = SimPair::new();
    // A wrong name typed first: asked again, not told again.
    let mut answers = vec![Answer::Typed("not-the-primary".into())];
    answers.extend(names(&pair));
    let (ended, bodies, journal) = wizard_run(&pair, answers, None);
    assert_eq!(ended, Ended::Finished(Outcome::Completed));
    assert_eq!(
        summary(&bodies),
        [
            "run-started",
            "waiting-for-person stop-primary",
            "waiting-for-person start-backup",
            "backup-started",
            "done"
        ]
    );
    assert_eq!(bodies[1]["detail"]["expect"], "primary");
    assert!(
        bodies[1]["text"]
            .as_str()
            .unwrap()
            .contains("WAITING FOR A PERSON: confirm to stop the primary: type \"primary\""),
        "{}",
        bodies[1]
    );
    let delivered = notify_reports(&journal)
        .into_iter()
        .filter(|(_, ok, o)| *ok && o.contains(" delivered: HTTP 200"))
        .count();
    assert_eq!(delivered, 5, "each delivery journaled");
}

/// A queue of 2 behind a receiver that holds its first answer: the newest two
/// notices are kept, the older ones dropped, and the drop journaled with their kinds.
#[test]
fn a_full_queue_drops_the_oldest_notices_and_says_so() {
    let pair = SimPair::new();
    let answers = names(&pair);
    let (ended, bodies, journal) = wizard_run_with(&pair, answers, None, "queue = 2");
    assert_eq!(ended, Ended::Finished(Outcome::Completed));
    let got = summary(&bodies);
    assert_eq!(got.len(), 3, "the one held, then the two newest: {got:?}");
    assert_eq!(got[1..], ["backup-started", "done"], "{got:?}");
    let dropped: Vec<String> = notify_reports(&journal)
        .into_iter()
        .filter(|(_, ok, o)| !ok && o.contains("the oldest dropped while its queue of 2 was full"))
        .map(|(_, _, o)| o)
        .collect();
    let count: usize = dropped
        .iter()
        .map(|o| o.split(' ').next().unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(count, 2, "5 notices, 3 sent: {dropped:#?}");
}

#[test]
fn a_rollback_and_a_stop_all_are_told() {
    let pair = SimPair::new();
    let answers = vec![
        Answer::Typed(pair.config().primary.name.clone()),
        Answer::Request(Request::Rollback {
            typed: pair.config().primary.name,
        }),
    ];
    let (ended, bodies, _) = wizard_run(&pair, answers, None);
    assert_eq!(ended, Ended::Finished(Outcome::RolledBack));
    assert_eq!(
        summary(&bodies),
        [
            "run-started",
            "waiting-for-person stop-primary",
            "waiting-for-person start-backup",
            "rolled-back"
        ]
    );

    let pair = SimPair::new();
    let (ended, bodies, _) = wizard_run(
        &pair,
        vec![Answer::Request(Request::StopAll {
            consent: StopAllConsent::Key('y'),
        })],
        None,
    );
    assert_eq!(ended, Ended::Finished(Outcome::StoppedAll));
    assert_eq!(
        summary(&bodies),
        [
            "run-started",
            "waiting-for-person stop-primary",
            "stopped-all"
        ]
    );
}

#[test]
fn a_blocked_run_is_told_with_its_reason() {
    let pair = SimPair::new();
    pair.apply(Fault::BackupBeaconSyncing);
    let (ended, bodies, _) = wizard_run(&pair, vec![], None);
    let Ended::Blocked(why) = &ended else {
        panic!("{ended:?}")
    };
    assert_eq!(summary(&bodies), ["run-started", "blocked"]);
    assert_eq!(bodies[1]["detail"]["why"], why.as_str());
}

/// A conflicting vote of index 2 lands on the chain once the backup attests: item 9
/// is red with an alarm, told as slashing suspected before the run's failure.
#[test]
fn a_slashed_index_is_told_as_slashing_suspected_then_failed() {
    let pair = SimPair::new();
    let vote = pair.conflicting_vote();
    let listener: validator_failover::driver::Listener = Box::new(move |e: &Entry| {
        if let Record::Item {
            number: ItemId::AttestationsSubmitted,
            state: ItemState::Green,
            ..
        } = &e.record
        {
            vote(2)
        }
    });
    let answers = names(&pair);
    let (ended, bodies, _) = wizard_run(&pair, answers, Some(listener));
    assert!(
        matches!(&ended, Ended::Finished(Outcome::Failed(why)) if why.starts_with("ALARM: validator 2 is slashed")),
        "{ended:?}"
    );
    assert_eq!(
        summary(&bodies),
        [
            "run-started",
            "waiting-for-person stop-primary",
            "waiting-for-person start-backup",
            "backup-started",
            "slashing-suspected beacon-state",
            "failed"
        ]
    );
    assert!(
        bodies[4]["text"].as_str().unwrap().contains(
            "SLASHING SUSPECTED (item 9, the beacon state): ALARM: validator 2 is slashed"
        ),
        "{}",
        bodies[4]
    );
}

/// An interrupted run opened again: told as resumed, with the reason it began with.
#[test]
fn a_resumed_run_is_told_as_resumed_with_its_first_reason() {
    use validator_failover::runner::{self, open_run};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, got) = rt.block_on(receiver(Mode::Ok));
    let dir = tempfile::tempdir().unwrap();
    let url = secret_file(
        dir.path(),
        "hook.url",
        &format!("http://{addr}/hook/SECRET"),
    );
    let mut cfg = Config::with_hosts("primary", "backup");
    cfg.failover.runs_dir = dir.path().join("runs");
    cfg.notify = notify_settings(
        dir.path(),
        &format!("[[notify.webhook]]\nurl_file = {url:?}\n"),
    );
    let now = validator_failover::chain::unix_now();
    let reason = Some("Primary node has hardware failure".to_string());
    // Begun, then interrupted before its end: nothing but its start in the journal.
    drop(
        open_run(
            &cfg,
            "tester",
            runner::Mode::Failover,
            false,
            reason,
            now,
            "",
        )
        .unwrap(),
    );
    let again = open_run(
        &cfg,
        "tester",
        runner::Mode::Failover,
        true,
        None,
        now + 1.0,
        "",
    )
    .unwrap();
    assert!(again.resumed.is_some(), "the interrupted run is resumed");
    rt.block_on(async {
        let n = again.notifier(&cfg);
        n.finish().await
    });
    let bodies: Vec<serde_json::Value> =
        got.lock().unwrap().iter().map(|(_, b)| b.clone()).collect();
    assert_eq!(bodies.len(), 1, "{bodies:#?}");
    assert_eq!(bodies[0]["notice"], "run-started");
    assert_eq!(
        bodies[0]["detail"],
        serde_json::json!({"reason": "Primary node has hardware failure", "resumed": true})
    );
    assert_eq!(bodies[0]["run"], again.id.as_str());
    assert!(
        bodies[0]["text"].as_str().unwrap().contains("RUN RESUMED"),
        "{}",
        bodies[0]
    );
}
