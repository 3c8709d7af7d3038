//! What the wizard shows, built only from what the engine and the probes report:
//! journal entries (through the driver's listener), the engine's pending question,
//! and the background probes' and tails' messages. No failover logic lives here:
//! nothing in this file decides a gate.

use std::collections::BTreeMap;

use crate::chain::ChainClock;
use crate::config::Role;
use crate::engine::checklist::{Evidence, ITEMS, ItemState};
use crate::engine::gate::START_REQUIRES;
use crate::engine::ids::{ItemId, NoteField, RollbackStep};
use crate::engine::journal::{Entry, GateId, Record, RunOutcome};
use crate::engine::machine::Confirm;

use super::logbuf::LogBuf;

/// Lines kept per validator journal tail.
pub const TAIL_LINES: usize = 5_000;
/// Lines kept of the run's own step log.
pub const STEP_LINES: usize = 2_000;

#[derive(Debug, Clone)]
pub struct ItemRow {
    pub state: ItemState,
    /// hh:mm:ss of the last change.
    pub time: Option<String>,
    /// One line of evidence: what was observed, where.
    pub evidence: Option<String>,
    /// How that evidence was observed (command or request).
    pub via: Option<String>,
    /// All the evidence of its newest record, as the engine journaled it (the item's
    /// screen shows it whole).
    pub all_evidence: Vec<Evidence>,
    /// Each change of its state: hh:mm:ss and the state (a re-judged item that stays
    /// what it was adds nothing).
    pub history: Vec<(String, ItemState)>,
}

/// One of the rollback's own steps, as the engine last journaled it.
#[derive(Debug, Clone)]
pub struct StepRow {
    pub state: ItemState,
    /// hh:mm:ss of the record.
    pub time: String,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone)]
pub struct GateRow {
    pub name: GateId,
    pub open: bool,
    pub why: String,
    /// What it waits for, one line each (empty: `why` says it in one line).
    pub waits: Vec<String>,
    pub time: String,
}

#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    pub id: String,
    pub dir: Option<String>,
    pub primary: String,
    pub backup: String,
    pub started_at: f64,
    /// Why this failover (the command line's `--reason`, or the `w` dialog's).
    pub reason: Option<String>,
}

/// One probe's answer for a sync pane.
#[derive(Debug, Clone, PartialEq)]
pub enum Probed {
    Ok { ready: bool, text: String },
    Failed(String),
}

#[derive(Debug, Clone, Default)]
pub struct HostSync {
    pub beacon: Option<Probed>,
    pub execution: Option<Probed>,
    /// Unix seconds of the last answer (or failure).
    pub at: Option<f64>,
    /// Unix seconds since a probe has been waiting for an answer.
    pub asking_since: Option<f64>,
}

/// A message from the background probes and tails.
#[derive(Debug, Clone)]
pub enum WorldMsg {
    Tail(Role, Vec<String>),
    /// The tail is not running: why (it is retried).
    TailDown(Role, String),
    Asking(Role, f64),
    Sync {
        role: Role,
        at: f64,
        beacon: Probed,
        execution: Probed,
    },
    Chain {
        clock: ChainClock,
        head_slot: u64,
        at: f64,
    },
    /// The read-only preflight of both hosts, judged.
    Preflight(Box<crate::engine::preflight::Preflight>),
}

#[derive(Debug, Clone)]
pub struct Model {
    pub run: RunInfo,
    pub items: Vec<ItemRow>,
    /// The newest record of each gate, in the order they first appeared.
    pub gates: Vec<GateRow>,
    /// Commands, confirmations, gates and probes of the run, newest last.
    pub steps: LogBuf,
    /// The newest command sent to a host.
    pub last_command: Option<(Role, String, Option<i32>)>,
    /// The question the engine is waiting on.
    pub question: Option<Confirm>,
    /// The run's outcome (`RunEnded`), once it has one.
    pub ended: Option<RunOutcome>,
    /// Unix seconds of the run's end.
    pub ended_at: Option<f64>,
    /// The newest read-only preflight of both hosts, and whether one is under way.
    pub preflight: Option<Box<crate::engine::preflight::Preflight>>,
    pub preflight_running: bool,
    /// The liveness gate's verdict while it waits, as the engine last recorded it.
    pub liveness: Option<crate::engine::gate::LivenessVerdict>,
    pub notes: BTreeMap<NoteField, String>,
    /// The rollback's steps that a rollback of this run journaled, by step.
    pub rollback: [Option<StepRow>; 4],
    /// Item 10 as the engine judges the entries seen (what it waits for; its state
    /// is the journaled item's).
    pub incident: crate::engine::incident::Incident,
    pub tails: [LogBuf; 2],
    pub tail_down: [Option<String>; 2],
    pub sync: [HostSync; 2],
    pub chain: Option<(ChainClock, u64, f64)>,
    /// The time the screen is drawn for (unix seconds).
    pub now: f64,
    /// Entries seen (for tests and the header).
    pub entries: u64,
    /// The stream of the history under way, as it last reported.
    pub transfer: Option<crate::progress::Progress>,
}

pub fn idx(r: Role) -> usize {
    match r {
        Role::Primary => 0,
        Role::Backup => 1,
    }
}

fn hms(time: &str) -> String {
    time.get(11..19).unwrap_or(time).to_string()
}

impl Model {
    pub fn new(primary: &str, backup: &str) -> Model {
        Model {
            run: RunInfo {
                primary: primary.into(),
                backup: backup.into(),
                ..RunInfo::default()
            },
            items: ITEMS
                .iter()
                .map(|_| ItemRow {
                    state: ItemState::Pending,
                    time: None,
                    evidence: None,
                    via: None,
                    all_evidence: Vec::new(),
                    history: Vec::new(),
                })
                .collect(),
            gates: Vec::new(),
            steps: LogBuf::new(STEP_LINES),
            last_command: None,
            question: None,
            ended: None,
            ended_at: None,
            liveness: None,
            preflight: None,
            preflight_running: true,
            notes: BTreeMap::new(),
            rollback: [None, None, None, None],
            incident: Default::default(),
            tails: [LogBuf::new(TAIL_LINES), LogBuf::new(TAIL_LINES)],
            tail_down: [None, None],
            sync: [HostSync::default(), HostSync::default()],
            chain: None,
            now: 0.0,
            entries: 0,
            transfer: None,
        }
    }

    pub fn host_name(&self, r: Role) -> &str {
        match r {
            Role::Primary => &self.run.primary,
            Role::Backup => &self.run.backup,
        }
    }

    /// Take in one journal entry.
    pub fn apply(&mut self, e: &Entry) {
        self.entries += 1;
        self.incident.see(e);
        let t = hms(&e.time);
        match &e.record {
            Record::RunStarted {
                run,
                primary,
                backup,
                reason,
                ..
            } => {
                self.run.id = run.clone();
                if let Some(r) = reason {
                    self.run.reason = Some(r.clone());
                }
                // The configuration's names (the ones typed to confirm) stay.
                if self.run.primary.is_empty() {
                    self.run.primary = short_host(primary);
                }
                if self.run.backup.is_empty() {
                    self.run.backup = short_host(backup);
                }
                self.run.started_at = e.at;
                self.steps.push(format!("{t} run {run} started"));
            }
            Record::Item {
                number,
                state,
                evidence,
            } => {
                let line = evidence.last().map(|ev| {
                    let on = ev
                        .host
                        .map(|h| format!("{}: ", self.host_name_of(h)))
                        .unwrap_or_default();
                    format!("{on}{}", ev.observed)
                });
                let row = &mut self.items[number.index()];
                if row.history.last().is_none_or(|(_, s)| s != state) {
                    row.history.push((t.clone(), state.clone()));
                }
                row.state = state.clone();
                row.time = Some(t.clone());
                row.evidence = line;
                row.via = evidence.last().map(|e| e.via.clone());
                row.all_evidence = evidence.clone();
                self.steps
                    .push(format!("{t} {} item {number}", state.symbol()));
            }
            Record::Gate {
                gate,
                open,
                why,
                waits,
            } => {
                let row = GateRow {
                    name: gate.clone(),
                    open: *open,
                    why: why.clone(),
                    waits: waits.clone(),
                    time: t.clone(),
                };
                match self.gates.iter_mut().find(|g| &g.name == gate) {
                    Some(g) => *g = row,
                    None => self.gates.push(row),
                }
                self.steps.push(format!(
                    "{t} gate {gate}: {} — {why}",
                    if *open { "open" } else { "shut" }
                ));
            }
            Record::Confirmation { action, typed } => {
                self.steps
                    .push(format!("{t} confirmed {action}: typed {typed:?}"));
            }
            Record::Command {
                host,
                command,
                status,
                ..
            } => {
                self.last_command = Some((*host, command.clone(), *status));
                let st = match status {
                    Some(0) => String::new(),
                    Some(s) => format!("  (exit {s})"),
                    None => "  (no answer)".into(),
                };
                self.steps
                    .push(format!("{t} {}$ {command}{st}", self.host_name_of(*host)));
            }
            Record::Probe {
                host,
                via,
                ok,
                observed,
            } => {
                let on = host
                    .map(|h| self.host_name_of(h).to_string())
                    .unwrap_or_else(|| "here".into());
                self.steps.push(format!(
                    "{t} {} {on}: {via} → {observed}",
                    if *ok { "·" } else { "✗" }
                ));
            }
            Record::RollbackStep {
                step,
                state,
                evidence,
            } => {
                self.rollback[step.index()] = Some(StepRow {
                    state: state.clone(),
                    time: t.clone(),
                    evidence: evidence.clone(),
                });
                self.steps.push(format!(
                    "{t} {} rollback {} {}",
                    state.symbol(),
                    step.label(),
                    step.title()
                ));
            }
            Record::Note {
                field: NoteField::Reason,
                text,
            } => {
                self.run.reason = Some(text.clone());
                self.steps
                    .push(format!("{t} reason for the failover: {text}"));
            }
            Record::Note { field, text } => {
                self.notes.insert(field.clone(), text.clone());
                self.steps.push(format!("{t} note {field} saved"));
            }
            Record::Liveness { verdict } => {
                self.liveness = Some(verdict.clone());
            }
            Record::Milestone { milestone } => {
                self.steps.push(format!("{t} {milestone}"));
            }
            Record::Alarm { alarm, .. } => {
                self.steps.push(format!("{t} ALARM at {alarm}"));
            }
            Record::RunEnded { outcome } => {
                self.ended = Some(outcome.clone());
                self.ended_at = Some(e.at);
                self.question = None;
                self.steps.push(format!("{t} run ended: {outcome}"));
            }
        }
    }

    fn host_name_of(&self, r: Role) -> String {
        self.host_name(r).to_string()
    }

    /// Take in one message from the probes and tails.
    pub fn apply_world(&mut self, m: WorldMsg) {
        match m {
            WorldMsg::Tail(r, lines) => {
                self.tail_down[idx(r)] = None;
                self.tails[idx(r)].extend(lines);
            }
            WorldMsg::TailDown(r, why) => self.tail_down[idx(r)] = Some(why),
            WorldMsg::Preflight(p) => {
                self.preflight = Some(p);
                self.preflight_running = false;
            }
            WorldMsg::Asking(r, at) => {
                let s = &mut self.sync[idx(r)];
                if s.asking_since.is_none() {
                    s.asking_since = Some(at);
                }
            }
            WorldMsg::Sync {
                role,
                at,
                beacon,
                execution,
            } => {
                let s = &mut self.sync[idx(role)];
                s.beacon = Some(beacon);
                s.execution = Some(execution);
                s.at = Some(at);
                s.asking_since = None;
            }
            WorldMsg::Chain {
                clock,
                head_slot,
                at,
            } => self.chain = Some((clock, head_slot, at)),
        }
    }

    /// The Start backup action can be taken: the engine asks for it, and only then.
    pub fn start_enabled(&self) -> bool {
        matches!(self.question, Some(Confirm::StartBackup { .. }))
    }

    /// What the Start action waits for, in the engine's words: the Start gate's
    /// newest shut reason, else the items 1-5 the engine has not reported green.
    pub fn start_waits_for(&self) -> Vec<String> {
        if self.start_enabled() {
            return Vec::new();
        }
        if let Some(end) = &self.ended {
            return vec![format!("the run has ended ({end})")];
        }
        if let Some(g) = self.gates.iter().find(|g| g.name == GateId::Start)
            && !g.open
        {
            return if g.waits.is_empty() {
                vec![g.why.clone()]
            } else {
                g.waits.clone()
            };
        }
        let mut w: Vec<String> = START_REQUIRES
            .iter()
            .filter(|n| self.items[n.index()].state != ItemState::Green)
            .map(|n| format!("{n}. {}", n.title()))
            .collect();
        w.push("the liveness gate".into());
        if let Some(g) = self.gates.iter().find(|g| g.name == GateId::Start)
            && g.open
        {
            // Open, but the engine has not asked (yet, or any more).
            w = vec!["the engine's question (it looks once more before asking)".into()];
        }
        w
    }

    /// A step is running: the run has started and not ended.
    pub fn running(&self) -> bool {
        !self.run.id.is_empty() && self.ended.is_none()
    }

    pub fn elapsed(&self) -> Option<f64> {
        if self.run.id.is_empty() {
            return None;
        }
        let until = self.ended_at.unwrap_or(self.now);
        Some((until - self.run.started_at).max(0.0))
    }

    /// The liveness wait, as the engine last judged it: while the primary cannot be
    /// reached, items 1-2 run on the chain's evidence, and their evidence says how
    /// many quiet epochs, how long at the earliest, and the missed duties so far.
    /// With the engine's verdict recorded, the countdown is counted here, second by
    /// second, from the earliest time the gate could open.
    pub fn liveness_wait(&self) -> Option<String> {
        let row = &self.items[0];
        let waiting = row.state == ItemState::Running
            && row
                .via
                .as_deref()
                .is_some_and(|v| v.contains("/validator/liveness"));
        if !waiting {
            return None;
        }
        if let Some(crate::engine::gate::LivenessVerdict::Waiting {
            why,
            quiet_epochs,
            required,
            earliest,
            missed_duties,
        }) = &self.liveness
        {
            let countdown = match earliest {
                Some(t) if *t > self.now => {
                    let s = (*t - self.now).ceil() as u64;
                    format!("; opens at the earliest in {}:{:02}", s / 60, s % 60)
                }
                Some(_) => "; could open at the next look".into(),
                None => String::new(),
            };
            let _ = (quiet_epochs, required);
            return Some(format!(
                "{why}{countdown}; missed duties so far: {missed_duties}"
            ));
        }
        row.evidence
            .as_deref()
            .map(|w| w.split_once(": ").map(|(_, r)| r).unwrap_or(w).to_string())
    }

    /// The host whose validator signs, or is about to: the primary until the backup's
    /// validator is started (item 7 begun), then the backup; the primary again once a
    /// rollback has undone item 7. The log pane follows it.
    pub fn signing_host(&self) -> Role {
        match self.items[ItemId::BackupValidatorStarted.index()].state {
            ItemState::Pending | ItemState::Undone(_) => Role::Primary,
            _ => Role::Backup,
        }
    }

    /// A rollback of this run has begun (the engine journaled its steps).
    pub fn rolling_back(&self) -> bool {
        self.rollback.iter().any(Option::is_some)
    }

    /// The rollback's steps journaled so far, in order.
    pub fn rollback_steps(&self) -> impl Iterator<Item = (RollbackStep, &StepRow)> {
        RollbackStep::ALL
            .into_iter()
            .filter_map(|s| self.rollback[s.index()].as_ref().map(|r| (s, r)))
    }

    /// The first item that is red, if any.
    pub fn first_red(&self) -> Option<(usize, &str)> {
        self.items
            .iter()
            .enumerate()
            .find_map(|(i, r)| match &r.state {
                ItemState::Red(why) => Some((i + 1, why.as_str())),
                _ => None,
            })
    }
}

/// `root@primary.example:22` → `primary.example`, for titles.
fn short_host(dest: &str) -> String {
    let h = dest.rsplit('@').next().unwrap_or(dest);
    match h.rsplit_once(':') {
        Some((a, p)) if p.chars().all(|c| c.is_ascii_digit()) => a.to_string(),
        _ => h.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(prev: Option<&Entry>, r: Record) -> Entry {
        Entry::next(prev, 1_800_000_000.0, "t", r)
    }

    #[test]
    fn items_gates_and_start_waits_come_from_entries() {
        let mut m = Model::new("", "");
        let e0 = entry(
            None,
            Record::RunStarted {
                run: "r1".into(),
                primary: "root@p.example:22".into(),
                backup: "b.example".into(),
                reason: None,
                config: None,
                config_origin: None,
                program: "x".into(),
                format: crate::engine::journal::JOURNAL_FORMAT,
            },
        );
        m.apply(&e0);
        assert_eq!(m.run.primary, "p.example");
        assert!(m.running());
        assert!(!m.start_enabled());
        assert_eq!(m.start_waits_for().len(), 6);
        let e1 = entry(
            Some(&e0),
            Record::Item {
                number: ItemId::PrimaryStopped,
                state: ItemState::Green,
                evidence: vec![],
            },
        );
        m.apply(&e1);
        assert_eq!(m.items[0].state, ItemState::Green);
        assert_eq!(m.start_waits_for().len(), 5);
        let e2 = entry(
            Some(&e1),
            Record::Gate {
                gate: GateId::Start,
                open: false,
                why: "4. Backup beacon synced: syncing; liveness gate: waiting".into(),
                waits: vec![
                    "4. Backup beacon synced: syncing".into(),
                    "liveness gate: waiting".into(),
                ],
            },
        );
        m.apply(&e2);
        assert_eq!(
            m.start_waits_for(),
            vec!["4. Backup beacon synced: syncing", "liveness gate: waiting"]
        );
        // Even an open Start gate does not enable the action: only the question does.
        let e3 = entry(
            Some(&e2),
            Record::Gate {
                gate: GateId::Start,
                open: true,
                why: "items 1-5 green".into(),
                waits: Vec::new(),
            },
        );
        m.apply(&e3);
        assert!(!m.start_enabled());
        m.question = Some(Confirm::StartBackup { expect: "b".into() });
        assert!(m.start_enabled());
        assert!(m.start_waits_for().is_empty());
    }
}
