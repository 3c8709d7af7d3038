//! How long this pair's switch takes: each step's time, measured from a run's
//! journal, and the prediction the planned switch reckons with (issue 10 items 1-2).
//! Pure: the journal's entries come in as values.
//!
//! A switch runs from the stop's confirmation (the journal's `PrimaryTouched`
//! milestone: the primary is about to be fenced and stopped, and signs no more) to
//! the backup's validator running (item 7 green). Its steps end at the journal's
//! marks, in the order they happened: the primary verified stopped and fenced (item
//! 1), its process gone (item 2), the history transferred (item 3), the Start gate
//! open, the lock file removed (item 6), the backup started (item 7). The operator's
//! typed confirmations in between are their own steps: a planned switch asks them
//! before the stop, so the prediction leaves them out.

use serde::{Deserialize, Serialize};

use super::checklist::ItemState;
use super::duty_window::{EstimateBasis, SwitchEstimate};
use super::gate::LivenessVerdict;
use super::ids::{GateId, ItemId, Milestone, RunOutcome};
use super::journal::{Entry, Record};

/// A step of the switch, named by the mark that ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwitchStep {
    /// Until the primary is verified stopped and fenced (item 1 green).
    PrimaryStopped,
    /// Until no validator process is left and its metrics port is closed (item 2).
    PrimaryKilled,
    /// Until the history is on the backup, checked (item 3).
    HistoryTransferred,
    /// Until the Start gate opens (items 1-5 fresh, the liveness gate).
    StartGate,
    /// The operator typing a confirmation.
    OperatorConfirmation,
    /// Until the backup's lock file is removed (item 6).
    LockRemoved,
    /// Until the backup's validator runs (item 7 green).
    BackupStarted,
}

impl SwitchStep {
    pub fn describe(self) -> &'static str {
        match self {
            SwitchStep::PrimaryStopped => "primary stopped and fenced",
            SwitchStep::PrimaryKilled => "primary process gone",
            SwitchStep::HistoryTransferred => "history transferred",
            SwitchStep::StartGate => "Start gate open",
            SwitchStep::OperatorConfirmation => "operator's confirmation",
            SwitchStep::LockRemoved => "backup lock file removed",
            SwitchStep::BackupStarted => "backup validator running",
        }
    }
}

/// One step and how long it took, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepTime {
    pub step: SwitchStep,
    pub secs: f64,
}

/// The measured switch of one run: each step's time, in the order they happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchTimes {
    /// The run (its journal's directory name).
    pub run: String,
    pub steps: Vec<StepTime>,
    /// From the stop's confirmation to the backup's validator running.
    pub total_secs: f64,
}

impl SwitchTimes {
    /// The switch of a completed run on the verified path, from its journal; None for
    /// any other run (not completed, never touched the primary, no start, or a
    /// liveness wait in it: that measured the wait, not the switch).
    pub fn from_journal(run: &str, entries: &[Entry]) -> Option<SwitchTimes> {
        let completed = entries.iter().any(
            |e| matches!(&e.record, Record::RunEnded { outcome } if *outcome == RunOutcome::Completed),
        );
        let waited = entries.iter().any(|e| {
            matches!(
                &e.record,
                Record::Liveness {
                    verdict: LivenessVerdict::Waiting { .. }
                }
            )
        });
        if !completed || waited {
            return None;
        }
        let from = entries.iter().position(|e| {
            matches!(&e.record, Record::Milestone { milestone } if *milestone == Milestone::PrimaryTouched)
        })?;
        let start = entries[from].at;
        let green = |n: ItemId| move |r: &Record| matches!(r, Record::Item { number, state: ItemState::Green, .. } if *number == n);
        let mut marks: Vec<(f64, SwitchStep)> = Vec::new();
        let mut seen = Vec::new();
        let mut end = None;
        for e in &entries[from + 1..] {
            let step = match &e.record {
                r if green(ItemId::PrimaryStopped)(r) => Some(SwitchStep::PrimaryStopped),
                r if green(ItemId::PrimaryKilled)(r) => Some(SwitchStep::PrimaryKilled),
                r if green(ItemId::SlashingProtectionTransferred)(r) => {
                    Some(SwitchStep::HistoryTransferred)
                }
                Record::Gate {
                    gate: GateId::Start,
                    open: true,
                    ..
                } => Some(SwitchStep::StartGate),
                Record::Confirmation { .. } => {
                    // The operator's time: from the entry before it.
                    marks.push((e.at, SwitchStep::OperatorConfirmation));
                    None
                }
                r if green(ItemId::LockFileRemoved)(r) => Some(SwitchStep::LockRemoved),
                r if green(ItemId::BackupValidatorStarted)(r) => Some(SwitchStep::BackupStarted),
                _ => None,
            };
            if let Some(step) = step
                && !seen.contains(&step)
            {
                seen.push(step);
                marks.push((e.at, step));
                if step == SwitchStep::BackupStarted {
                    end = Some(e.at);
                    break;
                }
            }
        }
        let end = end?;
        // Steps from mark to mark. A confirmation's step runs from the entry before
        // it (the question was asked then); the machine's work between the previous
        // mark and that entry belongs to the previous step.
        let mut steps: Vec<StepTime> = Vec::new();
        let mut last = start;
        let mut carry = 0.0;
        for &(at, step) in &marks {
            let mut secs = at - last;
            if step == SwitchStep::OperatorConfirmation {
                let asked = entries
                    .iter()
                    .take_while(|e| e.at < at)
                    .last()
                    .map_or(last, |e| e.at)
                    .clamp(last, at);
                match steps
                    .iter_mut()
                    .rev()
                    .find(|s| s.step != SwitchStep::OperatorConfirmation)
                {
                    Some(prev) => prev.secs += asked - last,
                    None => carry += asked - last,
                }
                secs = at - asked;
            } else {
                secs += carry;
                carry = 0.0;
            }
            steps.push(StepTime {
                step,
                secs: secs.max(0.0),
            });
            last = at;
        }
        Some(SwitchTimes {
            run: run.to_string(),
            steps,
            total_secs: (end - start).max(0.0),
        })
    }

    /// The seconds the operator spent confirming inside the switch.
    pub fn operator_secs(&self) -> f64 {
        self.steps
            .iter()
            .filter(|s| s.step == SwitchStep::OperatorConfirmation)
            .map(|s| s.secs)
            .sum()
    }

    /// The switch without the operator's time: what a planned switch, whose
    /// confirmations are typed before the stop, takes.
    pub fn unattended_secs(&self) -> f64 {
        (self.total_secs - self.operator_secs()).max(0.0)
    }
}

/// The switch assumed when the pair has no completed run yet: a minute. The lab's
/// switches take 10-20 s on 2 s slots; a real pair's transfer and sync checks take
/// longer, and a prediction too short costs duties.
pub const DEFAULT_SWITCH_SECS: f64 = 60.0;

/// The margin on a default prediction: as long again as the default.
pub const DEFAULT_MARGIN_SECS: f64 = 60.0;

/// The least margin on a measured switch, in seconds: the validator's own start
/// (wallet, database, the first slot tick) comes after item 7 is green.
pub const MIN_MARGIN_SECS: f64 = 10.0;

/// The prediction from the pair's newest completed switch (`times`), or the default:
/// the measured switch without the operator's time, and a margin of half of it, at
/// least [`MIN_MARGIN_SECS`].
pub fn predict(times: Option<&SwitchTimes>) -> SwitchEstimate {
    match times {
        Some(t) => {
            let secs = t.unattended_secs();
            SwitchEstimate {
                switch_secs: secs,
                margin_secs: (secs / 2.0).max(MIN_MARGIN_SECS),
                basis: EstimateBasis::Measured { run: t.run.clone() },
            }
        }
        None => SwitchEstimate {
            switch_secs: DEFAULT_SWITCH_SECS,
            margin_secs: DEFAULT_MARGIN_SECS,
            basis: EstimateBasis::Default,
        },
    }
}

/// The pair's newest completed switch among runs' journals (`(run, entries)`): the
/// runs of this primary and backup (their names as `run-started` records them),
/// the newest by their start.
pub fn newest_switch(
    runs: &[(String, Vec<Entry>)],
    primary: &str,
    backup: &str,
) -> Option<SwitchTimes> {
    runs.iter()
        .filter_map(|(run, entries)| {
            let started = entries.first()?;
            match &started.record {
                Record::RunStarted {
                    primary: p,
                    backup: b,
                    ..
                } if p == primary && b == backup => {
                    Some((started.at, SwitchTimes::from_journal(run, entries)?))
                }
                _ => None,
            }
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::journal::JOURNAL_FORMAT;

    fn journal(primary: &str, t0: f64, records: Vec<(f64, Record)>) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        let first = Record::RunStarted {
            run: "r".into(),
            primary: primary.into(),
            backup: "backup".into(),
            reason: None,
            config: None,
            config_origin: None,
            program: "test".into(),
            format: JOURNAL_FORMAT,
        };
        out.push(Entry::next(None, t0, "op", first));
        for (at, r) in records {
            let e = Entry::next(out.last(), at, "op", r);
            out.push(e);
        }
        out
    }

    fn item(n: ItemId, state: ItemState) -> Record {
        Record::Item {
            number: n,
            state,
            evidence: Vec::new(),
        }
    }

    fn switch(t0: f64, outcome: RunOutcome) -> Vec<(f64, Record)> {
        vec![
            (t0 + 1.0, item(ItemId::BackupBeaconSynced, ItemState::Green)),
            (
                t0 + 2.0,
                Record::Confirmation {
                    action: "stop the primary".into(),
                    typed: "primary".into(),
                },
            ),
            (
                t0 + 2.0,
                Record::Milestone {
                    milestone: Milestone::PrimaryTouched,
                },
            ),
            (t0 + 2.0, item(ItemId::PrimaryStopped, ItemState::Running)),
            (t0 + 5.5, item(ItemId::PrimaryStopped, ItemState::Green)),
            (t0 + 6.0, item(ItemId::PrimaryKilled, ItemState::Green)),
            (
                t0 + 9.0,
                item(ItemId::SlashingProtectionTransferred, ItemState::Green),
            ),
            (
                t0 + 10.0,
                Record::Gate {
                    gate: GateId::Start,
                    open: true,
                    why: String::new(),
                    waits: Vec::new(),
                },
            ),
            (
                t0 + 17.0,
                Record::Confirmation {
                    action: "start the backup".into(),
                    typed: "backup".into(),
                },
            ),
            (t0 + 17.5, item(ItemId::LockFileRemoved, ItemState::Green)),
            (
                t0 + 19.0,
                item(ItemId::BackupValidatorStarted, ItemState::Green),
            ),
            (
                t0 + 30.0,
                item(ItemId::AttestationsSubmitted, ItemState::Green),
            ),
            (t0 + 31.0, Record::RunEnded { outcome }),
        ]
    }

    #[test]
    fn each_step_is_measured_from_the_journal() {
        let j = journal("primary", 100.0, switch(100.0, RunOutcome::Completed));
        let t = SwitchTimes::from_journal("run-1", &j).unwrap();
        let steps: Vec<(SwitchStep, f64)> = t.steps.iter().map(|s| (s.step, s.secs)).collect();
        assert_eq!(
            steps,
            vec![
                (SwitchStep::PrimaryStopped, 3.5),
                (SwitchStep::PrimaryKilled, 0.5),
                (SwitchStep::HistoryTransferred, 3.0),
                (SwitchStep::StartGate, 1.0),
                (SwitchStep::OperatorConfirmation, 7.0),
                (SwitchStep::LockRemoved, 0.5),
                (SwitchStep::BackupStarted, 1.5),
            ]
        );
        assert_eq!(t.total_secs, 17.0);
        assert_eq!(t.operator_secs(), 7.0);
        assert_eq!(t.unattended_secs(), 10.0);
        let sum: f64 = t.steps.iter().map(|s| s.secs).sum();
        assert_eq!(sum, t.total_secs, "the steps add up to the switch");
        let p = predict(Some(&t));
        assert_eq!(
            (p.switch_secs, p.margin_secs, p.basis),
            (
                10.0,
                MIN_MARGIN_SECS,
                EstimateBasis::Measured {
                    run: "run-1".into()
                }
            )
        );
    }

    #[test]
    fn only_a_completed_switch_on_the_verified_path_counts() {
        let failed = journal(
            "primary",
            100.0,
            switch(100.0, RunOutcome::Failed("x".into())),
        );
        assert_eq!(SwitchTimes::from_journal("f", &failed), None);
        let mut waited = switch(100.0, RunOutcome::Completed);
        waited.insert(
            5,
            (
                104.0,
                Record::Liveness {
                    verdict: LivenessVerdict::Waiting {
                        why: "quiet".into(),
                        quiet_epochs: 0,
                        required: 2,
                        earliest: None,
                        missed_duties: 0,
                    },
                },
            ),
        );
        assert_eq!(
            SwitchTimes::from_journal("w", &journal("primary", 100.0, waited)),
            None
        );
        let mut never_started = switch(100.0, RunOutcome::Completed);
        never_started.retain(|(_, r)| {
            !matches!(
                r,
                Record::Item {
                    number: ItemId::BackupValidatorStarted,
                    ..
                }
            )
        });
        assert_eq!(
            SwitchTimes::from_journal("n", &journal("primary", 100.0, never_started)),
            None
        );
        assert_eq!(
            predict(None),
            SwitchEstimate {
                switch_secs: DEFAULT_SWITCH_SECS,
                margin_secs: DEFAULT_MARGIN_SECS,
                basis: EstimateBasis::Default
            }
        );
    }

    #[test]
    fn the_pairs_newest_completed_run_is_taken() {
        let mut slow = switch(100.0, RunOutcome::Completed);
        slow[5].0 += 40.0; // a slower stop
        for r in slow.iter_mut().skip(6) {
            r.0 += 40.0;
        }
        let runs = vec![
            ("old".to_string(), journal("primary", 100.0, slow)),
            (
                "newest".to_string(),
                journal("primary", 5000.0, switch(5000.0, RunOutcome::Completed)),
            ),
            (
                "failed-later".to_string(),
                journal(
                    "primary",
                    9000.0,
                    switch(9000.0, RunOutcome::Failed("x".into())),
                ),
            ),
            (
                "other-pair".to_string(),
                journal("elsewhere", 9500.0, switch(9500.0, RunOutcome::Completed)),
            ),
        ];
        let t = newest_switch(&runs, "primary", "backup").unwrap();
        assert_eq!((t.run.as_str(), t.total_secs), ("newest", 17.0));
        let only_old = newest_switch(&runs[..1], "primary", "backup").unwrap();
        assert_eq!(only_old.total_secs, 57.0);
        assert_eq!(newest_switch(&runs, "primary", "nobody"), None);
    }
}
