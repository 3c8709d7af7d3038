//! `audit export RUN --format md|json`: the incident document of the runbook's
//! "Post-Failover Actions", with the checklist ticked and the times filled in, or the
//! same as data. A journal whose chain does not hold is refused, naming the line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::JOURNAL_FILE;
use crate::engine::checklist::{Checklist, Evidence, ItemState};
use crate::engine::ids::{ItemId, NoteField, RollbackStep};
use crate::engine::journal::{Broken, Entry, Record, verify};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditError {
    Io(PathBuf, String),
    /// A line that is not a journal entry.
    Malformed {
        file: PathBuf,
        line: usize,
        why: String,
    },
    /// The chain does not hold: the journal was changed after it was written.
    Tampered {
        file: PathBuf,
        broken: Broken,
    },
    Empty(PathBuf),
}

impl std::fmt::Display for AuditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            AuditError::Malformed { file, line, why } => {
                write!(f, "{}:{line}: not a journal entry: {why}", file.display())
            }
            AuditError::Tampered { file, broken } => write!(
                f,
                "{}:{}: TAMPERED: {} (the journal was changed after it was written)",
                file.display(),
                broken.line,
                broken.why
            ),
            AuditError::Empty(p) => write!(f, "{}: the journal is empty", p.display()),
        }
    }
}

impl std::error::Error for AuditError {}

/// Read and verify a run's journal (`dir/journal.jsonl`, or the file itself).
pub fn read_journal(run: &Path) -> Result<Vec<Entry>, AuditError> {
    let file = if run.is_dir() {
        run.join(JOURNAL_FILE)
    } else {
        run.to_path_buf()
    };
    let text =
        std::fs::read_to_string(&file).map_err(|e| AuditError::Io(file.clone(), e.to_string()))?;
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            return Err(AuditError::Malformed {
                file: file.clone(),
                line: i + 1,
                why: "an empty line".into(),
            });
        }
        let e: Entry = serde_json::from_str(line).map_err(|e| AuditError::Malformed {
            file: file.clone(),
            line: i + 1,
            why: e.to_string(),
        })?;
        entries.push(e);
    }
    if entries.is_empty() {
        return Err(AuditError::Empty(file));
    }
    verify(&entries).map_err(|broken| AuditError::Tampered { file, broken })?;
    Ok(entries)
}

/// The predicted switch of this pair (`duty_window`'s estimate), from the newest
/// completed run in `runs_dir` whose journal verifies (`switch_time::predict`; the
/// documented default when there is none). Journals that do not read or verify are
/// passed over: they are `audit export`'s to report.
pub fn predicted_switch(
    runs_dir: &Path,
    primary: &str,
    backup: &str,
) -> crate::engine::duty_window::SwitchEstimate {
    let mut runs = Vec::new();
    if let Ok(dir) = std::fs::read_dir(runs_dir) {
        for d in dir.flatten() {
            if let Ok(entries) = read_journal(&d.path()) {
                runs.push((d.file_name().to_string_lossy().into_owned(), entries));
            }
        }
    }
    let newest = crate::engine::switch_time::newest_switch(&runs, primary, backup);
    crate::engine::switch_time::predict(newest.as_ref())
}

/// What a journal says about its run, folded.
struct Run<'a> {
    entries: &'a [Entry],
    started: Option<&'a Entry>,
    ended: Option<&'a Entry>,
    checklist: Checklist,
    /// Item 10 as `engine::incident` judges the whole journal.
    incident: crate::engine::incident::Verdict,
    /// The rollback's own steps, each as its last record left it: (state, time,
    /// evidence).
    rollback: BTreeMap<RollbackStep, (ItemState, f64, Vec<Evidence>)>,
    notes: BTreeMap<NoteField, String>,
    problems: Vec<&'a Entry>,
}

fn fold(entries: &[Entry]) -> Run<'_> {
    let mut run = Run {
        entries,
        started: None,
        ended: None,
        checklist: Checklist::new(),
        incident: crate::engine::incident::judge(entries),
        rollback: BTreeMap::new(),
        notes: BTreeMap::new(),
        problems: Vec::new(),
    };
    for e in entries {
        match &e.record {
            Record::RunStarted { .. } => run.started = Some(e),
            Record::RunEnded { .. } => run.ended = Some(e),
            // Item 10 is judged below from the whole journal (its records are the
            // driver's journaling of that same judgement).
            Record::Item {
                number: ItemId::IncidentDocumented,
                ..
            } => {}
            Record::Item {
                number,
                state,
                evidence,
            } => {
                let r = match state {
                    ItemState::Waived(reason) => run.checklist.waive(*number, reason, e.at),
                    s => run
                        .checklist
                        .set(*number, s.clone(), e.at, evidence.clone()),
                };
                if r.is_err() {
                    run.problems.push(e);
                }
                if matches!(state, ItemState::Red(_)) {
                    run.problems.push(e);
                }
            }
            Record::Note { field, text } => {
                run.notes.insert(field.clone(), text.clone());
            }
            Record::RollbackStep {
                step,
                state,
                evidence,
            } => {
                run.rollback
                    .insert(*step, (state.clone(), e.at, evidence.clone()));
                if matches!(state, ItemState::Red(_)) {
                    run.problems.push(e);
                }
            }
            Record::Gate { open: false, .. } => run.problems.push(e),
            Record::Command { status, .. } if *status != Some(0) => run.problems.push(e),
            _ => {}
        }
    }
    // Item 10 is the judgement of the whole journal (an older journal has no record
    // of it), the same one the driver journals.
    let v = &run.incident;
    if let (ItemState::Green, Some(at)) = (&v.state, v.at) {
        run.checklist
            .set(
                ItemId::IncidentDocumented,
                ItemState::Green,
                at,
                v.evidence.clone(),
            )
            .expect("green is set, never waived");
    }
    run
}

fn evidence_line(ev: &Evidence) -> String {
    let host = ev.host.map(|h| h.to_string()).unwrap_or_else(|| "-".into());
    format!(
        "{} on {host}: `{}` → {}",
        crate::engine::journal::rfc3339(ev.at),
        ev.via.replace('`', "'"),
        ev.observed
    )
}

fn describe(r: &Record) -> String {
    match r {
        Record::RunStarted {
            run,
            primary,
            backup,
            ..
        } => format!("run {run} started: {primary} → {backup}"),
        Record::Probe {
            host,
            via,
            ok,
            observed,
        } => format!(
            "probe on {}: `{via}` {} {observed}",
            host.map(|h| h.to_string()).unwrap_or_else(|| "-".into()),
            if *ok { "→" } else { "✗" }
        ),
        Record::Command {
            host,
            command,
            status,
            excerpt,
        } => {
            let status = status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "killed".into());
            let first = excerpt.lines().next().unwrap_or("");
            format!("command on {host}: `{command}` exit {status} {first}")
        }
        Record::Confirmation { action, typed } => format!("confirmed {action} (typed {typed:?})"),
        Record::Gate {
            gate, open, why, ..
        } => format!(
            "gate {gate}: {} ({why})",
            if *open { "open" } else { "SHUT" }
        ),
        Record::Item { number, state, .. } => {
            format!("item {number}: {} {}", state.symbol(), state_text(state))
        }
        Record::Note { field, text } => {
            format!("note {field}: {}", text.lines().next().unwrap_or(""))
        }
        Record::RollbackStep { step, state, .. } => format!(
            "rollback {} {}: {} {}",
            step.label(),
            step.title(),
            state.symbol(),
            state_text(state)
        ),
        Record::RunEnded { outcome } => format!("run ended: {outcome}"),
        Record::Milestone { milestone } => format!("milestone: {milestone}"),
        Record::Alarm { alarm, why } => format!("ALARM at {alarm}: {why}"),
        Record::Liveness { verdict } => match verdict {
            crate::engine::gate::LivenessVerdict::Waiting {
                why,
                quiet_epochs,
                required,
                missed_duties,
                ..
            } => format!(
                "liveness wait: {why} ({quiet_epochs} of {required} quiet epochs; missed duties so far {missed_duties})"
            ),
            crate::engine::gate::LivenessVerdict::Open { why } => format!("liveness: open ({why})"),
            crate::engine::gate::LivenessVerdict::Alarm { why } => {
                format!("liveness: ALARM ({why})")
            }
        },
    }
}

fn state_text(s: &ItemState) -> String {
    match s {
        ItemState::Pending => "pending".into(),
        ItemState::Running => "running".into(),
        ItemState::Green => "green".into(),
        ItemState::Red(r) => format!("red: {r}"),
        ItemState::Waived(r) => format!("waived: {r}"),
        ItemState::Undone(r) => format!("undone: {r}"),
    }
}

/// The switch's measured steps (`engine::switch_time`) of a completed run, for the
/// audit; `Err` says why a completed run has none; `None` for a run not completed.
pub fn switch_timings(
    entries: &[Entry],
) -> Option<Result<crate::engine::switch_time::SwitchTimes, &'static str>> {
    let completed = entries.iter().any(|e| {
        matches!(&e.record, Record::RunEnded { outcome } if *outcome == crate::engine::journal::RunOutcome::Completed)
    });
    if !completed {
        return None;
    }
    let run = entries
        .iter()
        .find_map(|e| match &e.record {
            Record::RunStarted { run, .. } => Some(run.as_str()),
            _ => None,
        })
        .unwrap_or("?");
    Some(
        crate::engine::switch_time::SwitchTimes::from_journal(run, entries).ok_or_else(|| {
            if entries.iter().any(|e| matches!(&e.record, Record::Liveness { .. })) {
                "not measured: the run went through the liveness wait (an unreachable primary), which it would measure instead of the switch"
            } else {
                "not measured: the journal holds no stop confirmation followed by the backup's start"
            }
        }),
    )
}

/// The switch timings as the runner prints them and the audit lists them: one line
/// per step, then the total (the operator's confirmations apart).
pub fn switch_timing_lines(t: &crate::engine::switch_time::SwitchTimes) -> Vec<String> {
    let mut lines: Vec<String> = t
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{}. {}: {:.2} s", i + 1, s.step.describe(), s.secs))
        .collect();
    lines.push(format!(
        "total to the backup's start: {:.2} s, of which {:.2} s the operator's confirmation(s) and {:.2} s the program's own",
        t.total_secs,
        t.operator_secs(),
        t.unattended_secs()
    ));
    lines
}

/// The incident document, in Markdown.
pub fn markdown(entries: &[Entry]) -> String {
    let run = fold(entries);
    let mut s = String::new();
    let (id, primary, backup, reason) = match run.started.map(|e| &e.record) {
        Some(Record::RunStarted {
            run,
            primary,
            backup,
            reason,
            ..
        }) => (
            run.as_str(),
            primary.as_str(),
            backup.as_str(),
            reason.clone(),
        ),
        _ => ("?", "?", "?", None),
    };
    s.push_str(&format!("# Failover incident: run {id}\n\n"));
    s.push_str(&format!(
        "- **Primary:** {primary}\n- **Backup:** {backup}\n"
    ));
    s.push_str(&format!(
        "- **Operator:** {}\n",
        run.started.map(|e| e.operator.as_str()).unwrap_or("?")
    ));
    s.push_str(&format!(
        "- **Reason for the failover:** {}\n",
        reason.as_deref().unwrap_or("not given")
    ));
    s.push_str(&format!(
        "- **Time of primary failure:** {}\n",
        run.notes
            .get(&NoteField::TimeOfFailure)
            .map(String::as_str)
            .unwrap_or("not recorded")
    ));
    s.push_str(&format!(
        "- **Failover started:** {}\n",
        run.started.map(|e| e.time.as_str()).unwrap_or("?")
    ));
    let backup_started = run.checklist.item(ItemId::BackupValidatorStarted);
    s.push_str(&format!(
        "- **Backup validator started:** {}\n",
        match (&backup_started.state, backup_started.at) {
            (ItemState::Green, Some(t)) => crate::engine::journal::rfc3339(t),
            _ => "not started".into(),
        }
    ));
    s.push_str(&format!(
        "- **Failover completed:** {}\n",
        match run.ended.map(|e| (&e.record, e.time.as_str())) {
            Some((Record::RunEnded { outcome }, t)) => format!("{t} ({outcome})"),
            _ => "not ended (the run was interrupted, or is still going on)".into(),
        }
    ));
    s.push_str(&format!(
        "- **Cause:** {}\n",
        run.notes
            .get(&NoteField::Cause)
            .map(String::as_str)
            .unwrap_or("not recorded")
    ));

    s.push_str("\n## Checklist\n\n");
    for item in run.checklist.items() {
        let tick = match item.state {
            ItemState::Green => "[x]",
            ItemState::Waived(_) => "[~]",
            _ => "[ ]",
        };
        let when = item
            .at
            .map(crate::engine::journal::rfc3339)
            .unwrap_or_default();
        let waits = match item.number {
            ItemId::IncidentDocumented if !run.incident.missing.is_empty() => format!(
                " (waits for {})",
                run.incident
                    .missing
                    .iter()
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => String::new(),
        };
        s.push_str(
            format!(
                "- {tick} {}. {} — {}{waits} {}",
                item.number,
                item.number.title(),
                state_text(&item.state),
                when
            )
            .trim_end(),
        );
        s.push('\n');
        for ev in &item.evidence {
            s.push_str(&format!("  - {}\n", evidence_line(ev)));
        }
    }
    if !run.rollback.is_empty() {
        s.push_str("\n## Rollback\n\n");
        for (step, (state, at, evidence)) in &run.rollback {
            let tick = if *state == ItemState::Green {
                "[x]"
            } else {
                "[ ]"
            };
            s.push_str(&format!(
                "- {tick} {}. {} — {} {}\n",
                step.label(),
                step.title(),
                state_text(state),
                crate::engine::journal::rfc3339(*at)
            ));
            for ev in evidence {
                s.push_str(&format!("  - {}\n", evidence_line(ev)));
            }
        }
    }

    if let Some(timings) = switch_timings(entries) {
        s.push_str("\n## Switch timings\n\n");
        match timings {
            Ok(t) => {
                s.push_str("From the stop's confirmation to the backup's validator running:\n\n");
                for l in switch_timing_lines(&t) {
                    s.push_str(&format!("- {l}\n"));
                }
            }
            Err(why) => s.push_str(&format!("{why}.\n")),
        }
    }

    s.push_str("\n## Issues encountered\n\n");
    if let Some(text) = run.notes.get(&NoteField::Issues) {
        s.push_str(text.trim_end());
        s.push_str("\n\n");
    }
    if run.problems.is_empty() && !run.notes.contains_key(&NoteField::Issues) {
        s.push_str("None recorded.\n");
    }
    for e in &run.problems {
        s.push_str(&format!("- {} {}\n", e.time, describe(&e.record)));
    }
    if let Some(text) = run.notes.get(&NoteField::Notes) {
        s.push_str("\n## Notes\n\n");
        s.push_str(text.trim_end());
        s.push('\n');
    }

    s.push_str("\n## Timeline\n\n");
    for e in run.entries {
        s.push_str(&format!(
            "- {} {}\n",
            e.time,
            describe(&e.record).replace('\n', " ")
        ));
    }
    let last = &run.entries[run.entries.len() - 1];
    s.push_str(&format!(
        "\n## Journal\n\nHash chain verified: {} entries, last hash `{}`.\n",
        run.entries.len(),
        last.hash
    ));
    s
}

/// The same, as data.
pub fn json(entries: &[Entry]) -> serde_json::Value {
    let run = fold(entries);
    json!({
        "verified": true,
        "entries": entries,
        "checklist": run.checklist,
        "rollback": run
            .rollback
            .iter()
            .map(|(step, (state, at, evidence))| json!({
                "step": step,
                "title": step.title(),
                "state": state,
                "at": at,
                "evidence": evidence,
            }))
            .collect::<Vec<_>>(),
        "notes": run.notes,
        "switch_timings": match switch_timings(entries) {
            Some(Ok(t)) => json!({
                "steps": t.steps,
                "total_secs": t.total_secs,
                "operator_secs": t.operator_secs(),
                "unattended_secs": t.unattended_secs(),
            }),
            Some(Err(why)) => json!({ "not_measured": why }),
            None => serde_json::Value::Null,
        },
        "started": run.started.map(|e| &e.time),
        "ended": run.ended.map(|e| &e.time),
        "complete": run.checklist.complete(),
        "last_hash": entries.last().map(|e| &e.hash),
    })
}

pub fn render(entries: &[Entry], format: Format) -> String {
    match format {
        Format::Markdown => markdown(entries),
        Format::Json => serde_json::to_string_pretty(&json(entries)).expect("JSON renders") + "\n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::JournalWriter;
    use crate::config::Role;
    use std::os::unix::fs::PermissionsExt;

    fn sample(dir: &Path) -> PathBuf {
        let mut w =
            JournalWriter::create(&dir.join("runs"), "20261128T010203Z-abcdef", "alice").unwrap();
        let t = 1_795_000_000.0;
        w.append(
            t,
            Record::RunStarted {
                run: "20261128T010203Z-abcdef".into(),
                primary: "val-a".into(),
                backup: "val-b".into(),
                reason: Some("Primary node has hardware failure".into()),
                config: Some("/etc/vf.toml".into()),
                config_origin: Some(crate::config::ConfigOrigin::System),
                program: "validator-failover test".into(),
                format: crate::engine::journal::JOURNAL_FORMAT,
            },
        )
        .unwrap();
        w.append(
            t + 1.0,
            Record::Item {
                number: ItemId::PrimaryStopped,
                state: ItemState::Green,
                evidence: vec![Evidence {
                    host: Some(Role::Primary),
                    at: t + 1.0,
                    via: "systemctl show --property=ActiveState -- qrysm-validator".into(),
                    observed: "inactive/dead MainPID=0".into(),
                }],
            },
        )
        .unwrap();
        w.append(
            t + 2.0,
            Record::Command {
                host: Role::Backup,
                command: "systemctl start -- qrysm-validator".into(),
                status: Some(1),
                excerpt: "Job failed".into(),
            },
        )
        .unwrap();
        w.append(
            t + 3.0,
            Record::Note {
                field: "time-of-failure".into(),
                text: "2026-11-28 00:40 UTC".into(),
            },
        )
        .unwrap();
        w.append(
            t + 4.0,
            Record::RunEnded {
                outcome: crate::engine::journal::RunOutcome::RolledBack,
            },
        )
        .unwrap();
        w.dir().to_path_buf()
    }

    #[test]
    fn the_pairs_switch_is_predicted_from_its_newest_completed_run() {
        use crate::engine::duty_window::EstimateBasis;
        use crate::engine::journal::{Milestone, RunOutcome};
        let tmp = tempfile::tempdir().unwrap();
        let runs = tmp.path().join("runs");
        // No run yet, and a rolled-back one: the default.
        assert_eq!(
            predicted_switch(&runs, "val-a", "val-b").basis,
            EstimateBasis::Default
        );
        sample(tmp.path());
        assert_eq!(
            predicted_switch(&runs, "val-a", "val-b").basis,
            EstimateBasis::Default
        );
        let mut w = JournalWriter::create(&runs, "20261129T000000Z-000001", "bob").unwrap();
        let t = 1_795_100_000.0;
        let item = |n, s| Record::Item {
            number: n,
            state: s,
            evidence: Vec::new(),
        };
        for (at, r) in [
            (
                t,
                Record::RunStarted {
                    run: "20261129T000000Z-000001".into(),
                    primary: "val-a".into(),
                    backup: "val-b".into(),
                    reason: None,
                    config: None,
                    config_origin: None,
                    program: "test".into(),
                    format: crate::engine::journal::JOURNAL_FORMAT,
                },
            ),
            (
                t + 1.0,
                Record::Milestone {
                    milestone: Milestone::PrimaryTouched,
                },
            ),
            (t + 4.0, item(ItemId::PrimaryStopped, ItemState::Green)),
            (
                t + 25.0,
                item(ItemId::BackupValidatorStarted, ItemState::Green),
            ),
            (
                t + 30.0,
                Record::RunEnded {
                    outcome: RunOutcome::Completed,
                },
            ),
        ] {
            w.append(at, r).unwrap();
        }
        // A journal that does not verify is passed over.
        std::fs::create_dir_all(runs.join("broken")).unwrap();
        std::fs::write(runs.join("broken").join(JOURNAL_FILE), "{not json}\n").unwrap();
        let p = predicted_switch(&runs, "val-a", "val-b");
        assert_eq!(
            p.basis,
            EstimateBasis::Measured {
                run: "20261129T000000Z-000001".into()
            }
        );
        assert_eq!((p.switch_secs, p.margin_secs), (24.0, 12.0));
        assert_eq!(
            predicted_switch(&runs, "val-a", "other").basis,
            EstimateBasis::Default
        );
    }

    #[test]
    fn journal_is_private_and_exports_as_the_incident_document() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = sample(tmp.path());
        let mode = std::fs::metadata(dir.join(JOURNAL_FILE))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dmode, 0o700);
        let entries = read_journal(&dir).unwrap();
        let md = markdown(&entries);
        assert!(
            md.contains("- [x] 1. Primary validator confirmed stopped — green"),
            "{md}"
        );
        assert!(
            md.contains("- [ ] 7. Backup validator started — pending"),
            "{md}"
        );
        assert!(
            md.contains("**Time of primary failure:** 2026-11-28 00:40 UTC"),
            "{md}"
        );
        assert!(md.contains("**Reason for the failover:** Primary node has hardware failure"));
        assert!(
            md.contains("command on backup: `systemctl start -- qrysm-validator` exit 1"),
            "{md}"
        );
        assert!(md.contains("(rolled back)"));
        assert!(md.contains("Hash chain verified: 5 entries"));
        let j = json(&entries);
        assert_eq!(j["verified"], true);
        assert_eq!(j["entries"].as_array().unwrap().len(), 5);
        assert_eq!(j["checklist"]["items"][0]["state"]["state"], "green");
    }

    #[test]
    fn item_10_is_judged_from_the_whole_journal_an_older_one_too() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = sample(tmp.path());
        // A time of failure and an end, no cause: pending, saying what it waits for.
        let md = markdown(&read_journal(&dir).unwrap());
        assert!(
            md.contains("- [ ] 10. Incident documented — pending (waits for the cause (notes))"),
            "{md}"
        );
        // The cause written afterwards, as an older release wrote notes (no item 10
        // record in the journal): ticked all the same.
        let mut w = JournalWriter::resume(&dir, "alice").unwrap();
        w.append(
            1_795_000_010.0,
            Record::Note {
                field: NoteField::Cause,
                text: "PSU failure".into(),
            },
        )
        .unwrap();
        let entries = read_journal(&dir).unwrap();
        assert!(!entries.iter().any(|e| matches!(
            e.record,
            Record::Item {
                number: ItemId::IncidentDocumented,
                ..
            }
        )));
        let md = markdown(&entries);
        assert!(
            md.contains("- [x] 10. Incident documented — green 2026-11-18T11:06:50.000Z"),
            "{md}"
        );
        assert!(md.contains("cause: PSU failure"), "{md}");
        let j = json(&entries);
        assert_eq!(j["checklist"]["items"][9]["state"]["state"], "green");
        assert_eq!(j["notes"]["cause"], "PSU failure");
    }

    #[test]
    fn a_changed_journal_is_refused_naming_the_line() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = sample(tmp.path());
        let file = dir.join(JOURNAL_FILE);
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replace("\"status\":1", "\"status\":0")).unwrap();
        match read_journal(&dir) {
            Err(AuditError::Tampered { broken, .. }) => assert_eq!(broken.line, 3),
            other => panic!("{other:?}"),
        }
        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(&file, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
        let e = read_journal(&dir).unwrap_err();
        assert!(e.to_string().contains(":2: TAMPERED"), "{e}");
        std::fs::write(&file, "{not json\n").unwrap();
        assert!(matches!(
            read_journal(&dir),
            Err(AuditError::Malformed { line: 1, .. })
        ));
        std::fs::write(&file, "").unwrap();
        assert!(matches!(read_journal(&dir), Err(AuditError::Empty(_))));
    }

    #[test]
    fn resume_goes_on_with_the_same_chain() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = sample(tmp.path());
        let mut w = JournalWriter::resume(&dir, "bob").unwrap();
        w.append(
            1_795_000_100.0,
            Record::Note {
                field: "notes".into(),
                text: "resumed".into(),
            },
        )
        .unwrap();
        let entries = read_journal(&dir).unwrap();
        assert_eq!(entries.len(), 6);
        assert_eq!(entries[5].operator, "bob");
    }
}
