//! The audit records of a run and their hash chain (spec §6). Pure: the writer in
//! `audit/` puts them on disk.
//!
//! Each entry carries the sha256 of the one before it (`prev`) and its own `hash`,
//! computed over `prev` and the entry's JSON without the hash. Changing, inserting,
//! removing or reordering any entry breaks the chain from that entry on.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::checklist::{Evidence, ItemState};
pub use super::ids::{
    Alarm, GateId, ItemId, JOURNAL_FORMAT, Milestone, NoteField, RollbackStep, RunOutcome,
};
use crate::config::Role;

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum Record {
    RunStarted {
        run: String,
        primary: String,
        backup: String,
        reason: Option<String>,
        /// The configuration file.
        config: Option<String>,
        /// How it was found (absent in journals written before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        config_origin: Option<crate::config::ConfigOrigin>,
        program: String,
        /// The journal's format (`ids::JOURNAL_FORMAT`); absent in format 1.
        #[serde(default = "format_1", skip_serializing_if = "is_format_1")]
        format: u32,
    },
    /// An observation (read-only).
    Probe {
        host: Option<Role>,
        via: String,
        ok: bool,
        observed: String,
    },
    /// A command that changes something, with its exit status and a bounded excerpt.
    Command {
        host: Role,
        command: String,
        status: Option<i32>,
        excerpt: String,
    },
    /// The operator confirmed an irreversible action by typing.
    Confirmation {
        action: String,
        typed: String,
    },
    Gate {
        gate: GateId,
        open: bool,
        why: String,
        /// What a shut gate waits for, one thing each (the Start gate's list, shown
        /// by the interface as it is); `why` says the same in one line. Format 2.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        waits: Vec<String>,
    },
    Item {
        number: ItemId,
        state: ItemState,
        evidence: Vec<Evidence>,
    },
    /// The incident's notes: `field` is one of the runbook's (time-of-failure, cause,
    /// issues), `notes`, or the reason for the failover.
    Note {
        field: NoteField,
        text: String,
    },
    /// One of the rollback's own steps, as an item is: its state and evidence.
    /// Format 3.
    RollbackStep {
        step: RollbackStep,
        state: ItemState,
        evidence: Vec<Evidence>,
    },
    RunEnded {
        outcome: RunOutcome,
    },
    /// What a resume must know, journaled before it is done. Format 2.
    Milestone {
        milestone: Milestone,
    },
    /// An alarm, beside the red item or shut gate that says it. Format 4.
    Alarm {
        alarm: Alarm,
        why: String,
    },
    /// The liveness gate's verdict while it waits (recorded when it changes): the
    /// countdown and the cost in missed duties, as data.
    Liveness {
        verdict: super::gate::LivenessVerdict,
    },
}

fn format_1() -> u32 {
    1
}

fn is_format_1(f: &u32) -> bool {
    *f == 1
}

/// The most of a command's output an entry keeps.
pub const EXCERPT_LIMIT: usize = 2048;

/// Cut a command's output to a bounded excerpt (head and tail kept).
pub fn excerpt(text: &str) -> String {
    if text.len() <= EXCERPT_LIMIT {
        return text.to_string();
    }
    let half = EXCERPT_LIMIT / 2;
    let mut head = half;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - half;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{}\n[… {} bytes left out …]\n{}",
        &text[..head],
        tail - head,
        &text[tail..]
    )
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    /// RFC 3339, UTC.
    pub time: String,
    /// Unix seconds, for arithmetic.
    pub at: f64,
    pub operator: String,
    pub record: Record,
    pub prev: String,
    pub hash: String,
}

/// The part of an entry that is hashed: everything but the hash.
#[derive(Serialize)]
struct Body<'a> {
    seq: u64,
    time: &'a str,
    at: f64,
    operator: &'a str,
    record: &'a Record,
    prev: &'a str,
}

fn hash_of(seq: u64, time: &str, at: f64, operator: &str, record: &Record, prev: &str) -> String {
    let body = Body {
        seq,
        time,
        at,
        operator,
        record,
        prev,
    };
    let json = serde_json::to_vec(&body).expect("a journal entry serialises");
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(&json);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 3339 for unix seconds.
pub fn rfc3339(at: f64) -> String {
    let secs = at.floor() as i64;
    let nanos = ((at - at.floor()) * 1e9) as i32;
    jiff::Timestamp::new(secs, nanos.clamp(0, 999_999_999))
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|_| format!("{at}"))
}

impl Entry {
    /// The entry that follows `prev` (None for the first).
    pub fn next(prev: Option<&Entry>, at: f64, operator: &str, record: Record) -> Entry {
        let seq = prev.map(|p| p.seq + 1).unwrap_or(0);
        let prev_hash = prev
            .map(|p| p.hash.clone())
            .unwrap_or_else(|| GENESIS.to_string());
        let time = rfc3339(at);
        let hash = hash_of(seq, &time, at, operator, &record, &prev_hash);
        Entry {
            seq,
            time,
            at,
            operator: operator.to_string(),
            record,
            prev: prev_hash,
            hash,
        }
    }

    fn computed_hash(&self) -> String {
        hash_of(
            self.seq,
            &self.time,
            self.at,
            &self.operator,
            &self.record,
            &self.prev,
        )
    }
}

/// Where and why a journal does not hold together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// 1-based line of the journal file.
    pub line: usize,
    pub why: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.why)
    }
}

/// Check the chain: sequence numbers, links and hashes.
pub fn verify(entries: &[Entry]) -> Result<(), Broken> {
    let mut prev = GENESIS.to_string();
    for (i, e) in entries.iter().enumerate() {
        let line = i + 1;
        if e.seq != i as u64 {
            return Err(Broken {
                line,
                why: format!(
                    "entry number {} where {} belongs: an entry was removed or moved",
                    e.seq, i
                ),
            });
        }
        if e.prev != prev {
            return Err(Broken {
                line,
                why: "does not link to the entry before it: an entry was removed, inserted or changed".into(),
            });
        }
        if e.computed_hash() != e.hash {
            return Err(Broken {
                line,
                why: "its content does not match its hash: the entry was changed".into(),
            });
        }
        prev = e.hash.clone();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> Vec<Entry> {
        let mut v: Vec<Entry> = Vec::new();
        let records = [
            Record::RunStarted {
                run: "r1".into(),
                primary: "p".into(),
                backup: "b".into(),
                reason: Some("Primary node has hardware failure".into()),
                config: None,
                config_origin: None,
                program: "validator-failover 0.1.0".into(),
                format: JOURNAL_FORMAT,
            },
            Record::Confirmation {
                action: "stop primary".into(),
                typed: "p".into(),
            },
            Record::Command {
                host: Role::Primary,
                command: "systemctl stop -- qrysm-validator".into(),
                status: Some(0),
                excerpt: String::new(),
            },
            Record::Item {
                number: ItemId::PrimaryStopped,
                state: ItemState::Green,
                evidence: vec![Evidence {
                    host: Some(Role::Primary),
                    at: 1234.5678,
                    via: "systemctl show".into(),
                    observed: "inactive/dead MainPID=0".into(),
                }],
            },
            Record::RunEnded {
                outcome: RunOutcome::Completed,
            },
        ];
        for (i, r) in records.into_iter().enumerate() {
            let e = Entry::next(v.last(), 1_700_000_000.25 + i as f64, "alice", r);
            v.push(e);
        }
        v
    }

    #[test]
    fn an_untouched_chain_verifies_and_survives_a_round_trip() {
        let v = chain();
        verify(&v).unwrap();
        let text: Vec<String> = v
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        let back: Vec<Entry> = text
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(back, v);
        verify(&back).unwrap();
        assert_eq!(v[0].prev, GENESIS);
        assert_eq!(v[0].time, "2023-11-14T22:13:20.250Z");
    }

    #[test]
    fn a_format_1_journal_still_reads_and_verifies() {
        // Written by the program before gates, items and outcomes were types.
        let text = include_str!("../../tests/fixtures/journals/format1-demo-failover.jsonl");
        let entries: Vec<Entry> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        verify(&entries).unwrap();
        assert!(matches!(
            &entries[0].record,
            Record::RunStarted { format: 1, .. }
        ));
        assert!(entries.iter().any(|e| matches!(
            &e.record,
            Record::Gate { gate: GateId::Start, open: true, waits, .. } if waits.is_empty()
        )));
        assert!(entries.iter().any(|e| matches!(
            &e.record,
            Record::Item {
                number: ItemId::LockFileRemoved,
                state: ItemState::Green,
                ..
            }
        )));
        // Its outcome was a sentence: kept as written, never taken for the new kind.
        let Record::RunEnded { outcome } = &entries.last().unwrap().record else {
            panic!("the fixture ends with run-ended")
        };
        assert_eq!(outcome, &RunOutcome::Written("completed".into()));
        // Each line written again is the same line.
        for (line, e) in text.lines().zip(&entries) {
            assert_eq!(serde_json::to_string(e).unwrap(), line);
        }
    }

    #[test]
    fn every_kind_of_tampering_is_found_at_its_line() {
        let v = chain();
        let mut changed = v.clone();
        if let Record::Command { status, .. } = &mut changed[2].record {
            *status = Some(1);
        }
        assert_eq!(verify(&changed).unwrap_err().line, 3);

        let mut removed = v.clone();
        removed.remove(1);
        assert_eq!(verify(&removed).unwrap_err().line, 2);

        let mut swapped = v.clone();
        swapped.swap(1, 2);
        assert_eq!(verify(&swapped).unwrap_err().line, 2);

        let mut rehashed = v.clone();
        rehashed[3].operator = "mallory".into();
        rehashed[3].hash = rehashed[3].computed_hash();
        assert_eq!(
            verify(&rehashed).unwrap_err().line,
            5,
            "rehashing one entry breaks the next link"
        );

        let mut time = v.clone();
        time[4].at += 1.0;
        assert_eq!(verify(&time).unwrap_err().line, 5);
    }

    #[test]
    fn excerpts_are_bounded_and_keep_both_ends() {
        let long = format!("START{}END", "é".repeat(5000));
        let e = excerpt(&long);
        assert!(e.len() < EXCERPT_LIMIT + 100);
        assert!(e.starts_with("START") && e.ends_with("END"));
        assert_eq!(excerpt("short"), "short");
    }
}
