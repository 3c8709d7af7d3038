//! Item 10, "Incident documented" (spec §1: "notes written; times of failure, start
//! and completion recorded"), decided here and nowhere else, from the run's journal:
//! the notes hold the time of the primary's failure and the cause, and the run's
//! start and completion are recorded.
//!
//! The driver feeds every entry it writes to an [`Incident`] and journals item 10 as
//! an `Item` record when it becomes green (or stops being so: after its end the
//! engine may work on the run again, a rollback say, and its completion is then not
//! recorded until that ends too). The wizard shows that record; the audit export
//! judges the whole journal with [`judge`], so an older journal, written before item
//! 10 was journaled, reads the same.

use super::checklist::{Evidence, ItemState};
use super::ids::{ItemId, NoteField};
use super::journal::{Entry, Record};

/// What item 10 still waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    TimeOfFailure,
    Cause,
    Start,
    Completion,
}

impl Missing {
    /// Written in the notes (the wizard's `n`), not recorded by the run itself.
    pub fn is_a_note(self) -> bool {
        matches!(self, Missing::TimeOfFailure | Missing::Cause)
    }

    /// In a few words, for a checklist row.
    pub fn short(self) -> &'static str {
        match self {
            Missing::TimeOfFailure => "time of failure",
            Missing::Cause => "cause",
            Missing::Start => "run's start",
            Missing::Completion => "run's end",
        }
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Missing::TimeOfFailure => "the time of the primary's failure (notes)",
            Missing::Cause => "the cause (notes)",
            Missing::Start => "the run's start",
            Missing::Completion => "the run's completion (it has not ended)",
        })
    }
}

/// Item 10 as the journal so far makes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Green, or pending.
    pub state: ItemState,
    /// When it became what it is (green: the entry that completed it).
    pub at: Option<f64>,
    /// Green: the notes and the run's times it rests on, each with its journal entry.
    /// Pending: none (what is missing is in `missing`).
    pub evidence: Vec<Evidence>,
    pub missing: Vec<Missing>,
}

/// One entry that item 10 rests on.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    seq: u64,
    at: f64,
    via: String,
    observed: String,
}

impl Seen {
    fn of(e: &Entry, via: &str, observed: String) -> Seen {
        Seen {
            seq: e.seq,
            at: e.at,
            via: format!("{via} (journal entry {})", e.seq),
            observed,
        }
    }

    fn evidence(&self) -> Evidence {
        Evidence {
            host: None,
            at: self.at,
            via: self.via.clone(),
            observed: self.observed.clone(),
        }
    }
}

/// A note's text on one line (evidence is one line; the notes keep their lines).
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Item 10, folded over the journal's entries one by one.
#[derive(Debug, Clone, Default)]
pub struct Incident {
    time_of_failure: Option<Seen>,
    cause: Option<Seen>,
    started: Option<Seen>,
    /// The run's end; None again once the engine works on the run after it.
    ended: Option<Seen>,
    /// What the journal holds of item 10: its last `Item` record's state and evidence.
    journaled: Option<(ItemState, Vec<Evidence>)>,
}

impl Incident {
    /// Take in every entry of a journal (a resumed run's, before the driver writes).
    pub fn of(entries: &[Entry]) -> Incident {
        let mut i = Incident::default();
        for e in entries {
            i.see(e);
        }
        i
    }

    /// Take in one entry, nothing more (the wizard's model: what item 10 waits for).
    pub fn see(&mut self, e: &Entry) {
        match &e.record {
            Record::RunStarted { .. } => {
                self.started = Some(Seen::of(
                    e,
                    "run-started",
                    format!("failover started {}", e.time),
                ));
            }
            Record::Note { field, text } if !text.trim().is_empty() => {
                let (slot, words) = match field {
                    NoteField::TimeOfFailure => (&mut self.time_of_failure, "time of failure"),
                    NoteField::Cause => (&mut self.cause, "cause"),
                    _ => return,
                };
                *slot = Some(Seen::of(
                    e,
                    &format!("note {field}"),
                    format!("{words}: {}", one_line(text)),
                ));
            }
            Record::RunEnded { outcome } => {
                self.ended = Some(Seen::of(
                    e,
                    "run-ended",
                    format!("run ended {} ({outcome})", e.time),
                ));
            }
            Record::Item {
                number: ItemId::IncidentDocumented,
                state,
                evidence,
            } => self.journaled = Some((state.clone(), evidence.clone())),
            // The engine at work on the run: if it had ended, it goes on (a rollback or
            // a stop-all after the end), and its completion is to come.
            Record::Command { .. }
            | Record::Gate { .. }
            | Record::Confirmation { .. }
            | Record::Item { .. }
            | Record::Milestone { .. }
            | Record::Alarm { .. }
            | Record::Liveness { .. }
            | Record::RollbackStep { .. } => self.ended = None,
            Record::Probe { .. } | Record::Note { .. } => {}
        }
    }

    /// Item 10 now.
    pub fn verdict(&self) -> Verdict {
        let parts = [
            (&self.time_of_failure, Missing::TimeOfFailure),
            (&self.cause, Missing::Cause),
            (&self.started, Missing::Start),
            (&self.ended, Missing::Completion),
        ];
        let missing: Vec<Missing> = parts
            .iter()
            .filter(|(s, _)| s.is_none())
            .map(|(_, m)| *m)
            .collect();
        if !missing.is_empty() {
            return Verdict {
                state: ItemState::Pending,
                at: None,
                evidence: Vec::new(),
                missing,
            };
        }
        // Green from the latest of the four entries on.
        let last = parts
            .iter()
            .filter_map(|(s, _)| s.as_ref())
            .max_by_key(|s| s.seq);
        Verdict {
            state: ItemState::Green,
            at: last.map(|s| s.at),
            // The notes last: a checklist row shows the last piece, the cause.
            evidence: [
                &self.started,
                &self.ended,
                &self.time_of_failure,
                &self.cause,
            ]
            .iter()
            .filter_map(|s| s.as_ref().map(Seen::evidence))
            .collect(),
            missing,
        }
    }

    /// Take in the entry just written; returns the item 10 record to journal when the
    /// item becomes green, its evidence changes while green (a note rewritten, a later
    /// end), or it stops being green.
    pub fn take(&mut self, e: &Entry) -> Option<Record> {
        self.see(e);
        if matches!(
            &e.record,
            Record::Item {
                number: ItemId::IncidentDocumented,
                ..
            }
        ) {
            return None;
        }
        let v = self.verdict();
        let was_green = matches!(&self.journaled, Some((ItemState::Green, _)));
        let record = |state: ItemState, evidence: Vec<Evidence>| Record::Item {
            number: ItemId::IncidentDocumented,
            state,
            evidence,
        };
        if v.state == ItemState::Green {
            if self.journaled.as_ref() == Some(&(ItemState::Green, v.evidence.clone())) {
                return None;
            }
            return Some(record(ItemState::Green, v.evidence));
        }
        if was_green {
            let waits: Vec<String> = v.missing.iter().map(|m| m.to_string()).collect();
            let why = Evidence {
                host: None,
                at: e.at,
                via: format!("journal entry {}", e.seq),
                observed: format!("the run goes on; waits for {}", waits.join(", ")),
            };
            return Some(record(ItemState::Pending, vec![why]));
        }
        None
    }
}

/// Item 10 of a whole journal (the audit export).
pub fn judge(entries: &[Entry]) -> Verdict {
    Incident::of(entries).verdict()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;
    use crate::engine::ids::{GateId, JOURNAL_FORMAT, RunOutcome};

    /// A journal written entry by entry, with the driver's rule: what `take` returns
    /// is journaled next.
    struct J {
        entries: Vec<Entry>,
        incident: Incident,
    }

    impl J {
        fn new() -> J {
            J {
                entries: Vec::new(),
                incident: Incident::default(),
            }
        }
        fn add(&mut self, r: Record) {
            let at = 1_800_000_000.0 + self.entries.len() as f64;
            let e = Entry::next(self.entries.last(), at, "t", r);
            self.entries.push(e.clone());
            if let Some(item) = self.incident.take(&e) {
                self.add(item);
            }
        }
        fn item10(&self) -> Vec<&Record> {
            self.entries
                .iter()
                .map(|e| &e.record)
                .filter(|r| {
                    matches!(
                        r,
                        Record::Item {
                            number: ItemId::IncidentDocumented,
                            ..
                        }
                    )
                })
                .collect()
        }
    }

    fn started() -> Record {
        Record::RunStarted {
            run: "r".into(),
            primary: "p".into(),
            backup: "b".into(),
            reason: None,
            config: None,
            config_origin: None,
            program: "t".into(),
            format: JOURNAL_FORMAT,
        }
    }

    fn note(field: NoteField, text: &str) -> Record {
        Record::Note {
            field,
            text: text.into(),
        }
    }

    fn ended() -> Record {
        Record::RunEnded {
            outcome: RunOutcome::Completed,
        }
    }

    #[test]
    fn green_only_with_the_failure_time_the_cause_the_start_and_the_end() {
        let mut j = J::new();
        j.add(started());
        assert_eq!(
            j.incident.verdict().missing,
            vec![Missing::TimeOfFailure, Missing::Cause, Missing::Completion]
        );
        j.add(note(NoteField::TimeOfFailure, "08:00 UTC"));
        // Other notes, and an empty one, are not the cause.
        j.add(note(NoteField::Issues, "the PSU"));
        j.add(note(NoteField::Cause, "   "));
        j.add(ended());
        assert!(j.item10().is_empty(), "no cause yet: nothing journaled");
        assert_eq!(j.incident.verdict().missing, vec![Missing::Cause]);
        j.add(note(NoteField::Cause, "PSU failure\nrack 4"));
        let items = j.item10();
        assert_eq!(items.len(), 1, "journaled once, as it became green");
        let Record::Item {
            state, evidence, ..
        } = items[0]
        else {
            unreachable!()
        };
        assert_eq!(state, &ItemState::Green);
        let seen: Vec<&str> = evidence.iter().map(|e| e.observed.as_str()).collect();
        assert!(
            seen[0].starts_with("failover started 2027-01-15T08:00:00"),
            "{seen:?}"
        );
        assert!(seen[1].starts_with("run ended ") && seen[1].ends_with("(completed)"));
        assert_eq!(seen[2], "time of failure: 08:00 UTC");
        assert_eq!(seen[3], "cause: PSU failure / rack 4");
        assert!(evidence.iter().all(|e| e.host.is_none()));
        assert!(evidence[3].via.starts_with("note cause (journal entry "));
        // The audit's judgement of the whole journal is the same.
        let v = judge(&j.entries);
        assert_eq!((&v.state, &v.evidence), (state, evidence));
        // A later unrelated note changes nothing; the cause rewritten is journaled.
        j.add(note(NoteField::Notes, "more"));
        assert_eq!(j.item10().len(), 1);
        j.add(note(NoteField::Cause, "PSU failure, confirmed"));
        assert_eq!(j.item10().len(), 2);
    }

    #[test]
    fn notes_written_before_the_end_tick_it_at_the_end() {
        let mut j = J::new();
        j.add(started());
        j.add(note(NoteField::TimeOfFailure, "07:55"));
        j.add(note(NoteField::Cause, "kernel panic"));
        j.add(Record::Gate {
            gate: GateId::Start,
            open: true,
            why: "x".into(),
            waits: Vec::new(),
        });
        assert!(j.item10().is_empty(), "the run has not ended");
        assert_eq!(j.incident.verdict().missing, vec![Missing::Completion]);
        j.add(ended());
        assert_eq!(j.item10().len(), 1);
        assert_eq!(judge(&j.entries).state, ItemState::Green);
        assert_eq!(
            judge(&j.entries).at,
            Some(j.entries[4].at),
            "green from the end on"
        );
    }

    #[test]
    fn the_engine_at_work_after_the_end_takes_it_back_until_the_next_end() {
        let mut j = J::new();
        j.add(started());
        j.add(note(NoteField::TimeOfFailure, "07:55"));
        j.add(note(NoteField::Cause, "kernel panic"));
        j.add(ended());
        // What the notifier's sends said, after the end: the run is still over.
        j.add(Record::Probe {
            host: None,
            via: "notify ops".into(),
            ok: true,
            observed: "delivered".into(),
        });
        assert_eq!(j.item10().len(), 1);
        // A rollback after the end: its run lock, then its gate.
        j.add(Record::Command {
            host: Role::Primary,
            command: "create /run/validator-failover.lock exclusively".into(),
            status: Some(0),
            excerpt: String::new(),
        });
        let items = j.item10();
        assert_eq!(items.len(), 2);
        match items[1] {
            Record::Item {
                state: ItemState::Pending,
                evidence,
                ..
            } => assert!(
                evidence[0].observed.contains("the run's completion"),
                "{evidence:?}"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(judge(&j.entries).state, ItemState::Pending);
        j.add(Record::RunEnded {
            outcome: RunOutcome::RolledBack,
        });
        let items = j.item10();
        assert_eq!(items.len(), 3, "green again, with the new end");
        let Record::Item { evidence, .. } = items[2] else {
            unreachable!()
        };
        assert!(
            evidence[1].observed.ends_with("(rolled back)"),
            "{evidence:?}"
        );
    }

    #[test]
    fn a_resumed_journal_is_taken_in_without_journaling_again() {
        let mut j = J::new();
        j.add(started());
        j.add(note(NoteField::TimeOfFailure, "07:55"));
        j.add(note(NoteField::Cause, "kernel panic"));
        j.add(ended());
        assert_eq!(j.item10().len(), 1);
        let mut again = Incident::of(&j.entries);
        let e = Entry::next(
            j.entries.last(),
            1_800_000_100.0,
            "t",
            note(NoteField::Issues, "none"),
        );
        assert_eq!(again.take(&e), None, "already journaled green");
        // An older journal (no item 10 record) is judged green all the same.
        let older: Vec<Entry> = {
            let mut v: Vec<Entry> = Vec::new();
            for r in [
                started(),
                note(NoteField::TimeOfFailure, "07:55"),
                note(NoteField::Cause, "kernel panic"),
                ended(),
            ] {
                let e = Entry::next(v.last(), 1_800_000_000.0, "t", r);
                v.push(e);
            }
            v
        };
        assert_eq!(judge(&older).state, ItemState::Green);
    }
}
