//! The names that cross every boundary as values: the runbook's checklist items, the
//! gates, the run's outcome and the milestones a resume rests on. The interface, the
//! runner, the audit and the tests match on these, never on their words.
//!
//! In the journal each is written as it was before these types existed (an item as
//! its number, a gate and an outcome as their words), so that the hash chain of an
//! older journal still verifies and exports; what an older journal holds that is no
//! longer one of ours is kept as it was written (`Named`, `Written`), shown and never
//! interpreted.

use serde::{Deserialize, Serialize};

/// The journal's format: 1 before these types (no `format` in `run-started`); 2 adds
/// the milestones and the gates' lists of what they wait for; 3 adds an item's
/// `undone` state (what a rollback undid) and the rollback's own steps
/// (`rollback-step`).
pub const JOURNAL_FORMAT: u32 = 4;

/// The runbook's ten checklist items, in its words and order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum ItemId {
    PrimaryStopped = 1,
    PrimaryKilled = 2,
    SlashingProtectionTransferred = 3,
    BackupBeaconSynced = 4,
    BackupGzondSynced = 5,
    LockFileRemoved = 6,
    BackupValidatorStarted = 7,
    AttestationsSubmitted = 8,
    AlertsCleared = 9,
    IncidentDocumented = 10,
}

impl ItemId {
    pub const ALL: [ItemId; 10] = [
        ItemId::PrimaryStopped,
        ItemId::PrimaryKilled,
        ItemId::SlashingProtectionTransferred,
        ItemId::BackupBeaconSynced,
        ItemId::BackupGzondSynced,
        ItemId::LockFileRemoved,
        ItemId::BackupValidatorStarted,
        ItemId::AttestationsSubmitted,
        ItemId::AlertsCleared,
        ItemId::IncidentDocumented,
    ];

    /// The runbook's number of the item (1-10).
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The item's place in a list of the ten (0-9).
    pub fn index(self) -> usize {
        self as usize - 1
    }

    pub fn from_number(n: u8) -> Option<ItemId> {
        ItemId::ALL.get((n as usize).wrapping_sub(1)).copied()
    }

    /// The runbook's own wording.
    pub fn title(self) -> &'static str {
        super::checklist::ITEMS[self.index()].title
    }
}

impl From<ItemId> for u8 {
    fn from(i: ItemId) -> u8 {
        i.number()
    }
}

impl TryFrom<u8> for ItemId {
    type Error = String;
    fn try_from(n: u8) -> Result<ItemId, String> {
        ItemId::from_number(n).ok_or_else(|| format!("no checklist item {n}: the runbook has 1-10"))
    }
}

impl std::fmt::Display for ItemId {
    /// The number, honouring width and alignment (`{n:>2}`) as a number does.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.number(), f)
    }
}

/// The rollback's own steps (spec §2: "stop and re-lock the backup if it ran, bring
/// its slashing-protection history back to the primary, unfence and start the
/// primary"), in their order. A rollback journals the ones its path takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RollbackStep {
    /// The backup's validator stopped and locked again, seen so twice.
    BackupRelocked,
    /// The backup's history (now the newest) brought back to the primary.
    HistoryBack,
    /// The rollback's Start gate: the backup still stopped and locked, the primary's
    /// nodes synced.
    ReverseGate,
    /// The primary unfenced, its validator started and seen running.
    PrimaryRestarted,
}

impl RollbackStep {
    pub const ALL: [RollbackStep; 4] = [
        RollbackStep::BackupRelocked,
        RollbackStep::HistoryBack,
        RollbackStep::ReverseGate,
        RollbackStep::PrimaryRestarted,
    ];

    /// The step's place in its list (0-3).
    pub fn index(self) -> usize {
        self as usize
    }

    /// How the screens and the audit number it: `R1`-`R4`.
    pub fn label(self) -> String {
        format!("R{}", self.index() + 1)
    }

    pub fn title(self) -> &'static str {
        super::checklist::ROLLBACK_STEPS[self.index()].title
    }
}

/// The incident notes' fields (runbook "Post-Failover Actions"), and the reason for
/// the failover; written in the journal as their words. A word this version does not
/// know (a later one's) is kept as written and shown, never judged.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum NoteField {
    TimeOfFailure,
    Cause,
    Issues,
    Notes,
    /// Why this failover (the wizard's `w`).
    Reason,
    Named(String),
}

impl NoteField {
    /// The incident's fields, in the notes editor's order.
    pub const INCIDENT: [NoteField; 4] = [
        NoteField::TimeOfFailure,
        NoteField::Cause,
        NoteField::Issues,
        NoteField::Notes,
    ];

    /// The word the journal writes.
    pub fn as_str(&self) -> &str {
        match self {
            NoteField::TimeOfFailure => "time-of-failure",
            NoteField::Cause => "cause",
            NoteField::Issues => "issues",
            NoteField::Notes => "notes",
            NoteField::Reason => "reason",
            NoteField::Named(n) => n,
        }
    }

    /// How the notes editor and the audit title it.
    pub fn title(&self) -> &str {
        match self {
            NoteField::TimeOfFailure => "Time of primary failure",
            NoteField::Cause => "Cause",
            NoteField::Issues => "Issues encountered",
            NoteField::Notes => "Other notes",
            NoteField::Reason => "Reason for the failover",
            NoteField::Named(n) => n,
        }
    }
}

impl From<String> for NoteField {
    fn from(s: String) -> NoteField {
        match s.as_str() {
            "time-of-failure" => NoteField::TimeOfFailure,
            "cause" => NoteField::Cause,
            "issues" => NoteField::Issues,
            "notes" => NoteField::Notes,
            "reason" => NoteField::Reason,
            _ => NoteField::Named(s),
        }
    }
}

impl From<&str> for NoteField {
    fn from(s: &str) -> NoteField {
        NoteField::from(s.to_string())
    }
}

impl From<NoteField> for String {
    fn from(f: NoteField) -> String {
        f.as_str().to_string()
    }
}

impl std::fmt::Display for NoteField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The gates and checks that open or shut a way, by the runbook's name for them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GateId {
    /// Spec §2: everything that can be known before the primary is stopped.
    #[serde(rename = "nothing is touched that cannot be finished")]
    FirstGate,
    #[serde(rename = "stop confirmation")]
    StopConfirmation,
    /// Items 1-2 judged: the primary stopped, fenced, seen so twice.
    #[serde(rename = "stop")]
    Stop,
    /// Item 3's checks of the history before and after the transfer.
    #[serde(rename = "slashing protection")]
    SlashingProtection,
    /// Items 1-5 fresh and the liveness gate: what "Start backup" waits for.
    #[serde(rename = "start")]
    Start,
    #[serde(rename = "start confirmation")]
    StartConfirmation,
    /// The chain's liveness of the keys (the unverified path, and the stale-history check).
    #[serde(rename = "liveness")]
    Liveness,
    /// The primary fenced out of band (a typed statement).
    #[serde(rename = "fenced out of band")]
    FencedOutOfBand,
    #[serde(rename = "unverified path confirmation")]
    UnverifiedConfirmation,
    /// The whole failover: the backup signs.
    #[serde(rename = "failover")]
    Failover,
    #[serde(rename = "rollback")]
    Rollback,
    #[serde(rename = "rollback confirmation")]
    RollbackConfirmation,
    /// The rollback's Start gate, in reverse.
    #[serde(rename = "rollback start")]
    RollbackStart,
    #[serde(rename = "emergency stop-all")]
    StopAll,
    #[serde(rename = "stop-all confirmation")]
    StopAllConfirmation,
    /// A confirmation that came when none was asked.
    #[serde(rename = "confirmation")]
    Confirmation,
    /// An event the phase does not take.
    #[serde(rename = "event")]
    Event,
    /// A resumed run: what its journal says was done, and the hosts seen again.
    #[serde(rename = "resume")]
    Resume,
    /// The backup's readiness, watched while the operator decides (the wizard).
    #[serde(rename = "backup readiness")]
    BackupReadiness,
    /// A gate of an older journal that is no longer one of ours, as it was written.
    #[serde(untagged)]
    Named(String),
}

impl GateId {
    /// The gate's name as the journal and the screens write it.
    pub fn name(&self) -> &str {
        match self {
            GateId::FirstGate => "nothing is touched that cannot be finished",
            GateId::StopConfirmation => "stop confirmation",
            GateId::Stop => "stop",
            GateId::SlashingProtection => "slashing protection",
            GateId::Start => "start",
            GateId::StartConfirmation => "start confirmation",
            GateId::Liveness => "liveness",
            GateId::FencedOutOfBand => "fenced out of band",
            GateId::UnverifiedConfirmation => "unverified path confirmation",
            GateId::Failover => "failover",
            GateId::Rollback => "rollback",
            GateId::RollbackConfirmation => "rollback confirmation",
            GateId::RollbackStart => "rollback start",
            GateId::StopAll => "emergency stop-all",
            GateId::StopAllConfirmation => "stop-all confirmation",
            GateId::Confirmation => "confirmation",
            GateId::Event => "event",
            GateId::Resume => "resume",
            GateId::BackupReadiness => "backup readiness",
            GateId::Named(n) => n,
        }
    }
}

impl std::fmt::Display for GateId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a run ended, as its `run-ended` record says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "why")]
pub enum RunOutcome {
    /// The backup signs (items 1-9; 10 is the operator's notes).
    Completed,
    /// The primary signs again; the backup is stopped and locked.
    RolledBack,
    /// The emergency stop-all: both validators stopped and fenced.
    StoppedAll,
    /// Stopped by a safety gate before anything was touched.
    Blocked(String),
    /// A step failed; the words say where both validators stand.
    Failed(String),
    /// An older journal's outcome, as it was written (format 1): shown, never read.
    #[serde(untagged)]
    Written(String),
}

impl RunOutcome {
    pub fn is_completed(&self) -> bool {
        matches!(self, RunOutcome::Completed)
    }
}

impl std::fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunOutcome::Completed => f.write_str("completed"),
            RunOutcome::RolledBack => f.write_str("rolled back"),
            RunOutcome::StoppedAll => f.write_str("emergency stop-all"),
            RunOutcome::Blocked(why) => write!(f, "blocked: {why}"),
            RunOutcome::Failed(why) => write!(f, "failed: {why}"),
            RunOutcome::Written(w) => f.write_str(w),
        }
    }
}

/// What a run has done that a resume must know, journaled before it is done: the
/// record that the primary is about to be touched is on disk before the command
/// leaves, so a kill between the two still resumes as "touched".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Milestone {
    /// The first change to the primary (its fence) is about to be made.
    PrimaryTouched,
    /// The backup's lock file is about to be removed.
    BackupUnlocked,
}

/// What an alarm is about: something of ours is wrong, not merely unknown. The
/// engine journals an `alarm` record beside the red item or shut gate that says it,
/// so that who must be told (`notify`) reads a value, not a sentence. Format 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Alarm {
    /// Item 9: the beacon state shows one of our keys slashed, in the slashing pool,
    /// or a balance fallen by more than a switch costs.
    Alerts,
    /// The liveness gate: a key live on chain after its history's last signed epoch
    /// (something else signs with it).
    Liveness,
    /// The Start gate's last look: the primary (or the backup) is no longer as the
    /// gate needs it, e.g. the primary answers again and its validator runs.
    StartGate,
    /// The rollback: the backup is not (or no longer) stopped and locked.
    Rollback,
    /// The emergency stop-all could not be verified.
    StopAll,
}

impl std::fmt::Display for Alarm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Alarm::Alerts => "item 9 (the beacon state)",
            Alarm::Liveness => "the liveness gate (the chain)",
            Alarm::StartGate => "the Start gate",
            Alarm::Rollback => "the rollback",
            Alarm::StopAll => "the stop-all",
        })
    }
}

impl std::fmt::Display for Milestone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Milestone::PrimaryTouched => "the primary is about to be fenced and stopped",
            Milestone::BackupUnlocked => "the backup's lock file is about to be removed",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_the_runbooks_numbers_both_ways() {
        for (i, id) in ItemId::ALL.iter().enumerate() {
            assert_eq!(id.number() as usize, i + 1);
            assert_eq!(ItemId::from_number(id.number()), Some(*id));
            assert_eq!(serde_json::to_string(id).unwrap(), format!("{}", i + 1));
        }
        assert_eq!(ItemId::from_number(0), None);
        assert_eq!(ItemId::from_number(11), None);
        assert!(serde_json::from_str::<ItemId>("11").is_err());
        assert_eq!(
            ItemId::LockFileRemoved.title(),
            "Lock file removed on backup"
        );
    }

    #[test]
    fn gates_are_written_in_their_words_and_read_back() {
        let all = [
            GateId::FirstGate,
            GateId::StopConfirmation,
            GateId::Stop,
            GateId::SlashingProtection,
            GateId::Start,
            GateId::StartConfirmation,
            GateId::Liveness,
            GateId::FencedOutOfBand,
            GateId::UnverifiedConfirmation,
            GateId::Failover,
            GateId::Rollback,
            GateId::RollbackConfirmation,
            GateId::RollbackStart,
            GateId::StopAll,
            GateId::StopAllConfirmation,
            GateId::Confirmation,
            GateId::Event,
            GateId::Resume,
            GateId::BackupReadiness,
        ];
        for g in all {
            let json = serde_json::to_string(&g).unwrap();
            assert_eq!(json, format!("{:?}", g.name()), "{g:?}");
            assert_eq!(serde_json::from_str::<GateId>(&json).unwrap(), g);
        }
        let old: GateId = serde_json::from_str("\"a gate of long ago\"").unwrap();
        assert_eq!(old, GateId::Named("a gate of long ago".into()));
        assert_eq!(
            serde_json::to_string(&old).unwrap(),
            "\"a gate of long ago\""
        );
    }

    #[test]
    fn note_fields_are_written_in_their_words_and_unknown_ones_kept() {
        for f in NoteField::INCIDENT.into_iter().chain([NoteField::Reason]) {
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(json, format!("{:?}", f.as_str()));
            assert_eq!(serde_json::from_str::<NoteField>(&json).unwrap(), f);
        }
        let later: NoteField = serde_json::from_str("\"root-cause-ticket\"").unwrap();
        assert_eq!(later, NoteField::Named("root-cause-ticket".into()));
        assert_eq!(
            serde_json::to_string(&later).unwrap(),
            "\"root-cause-ticket\""
        );
        assert_eq!(NoteField::from("cause"), NoteField::Cause);
    }

    #[test]
    fn rollback_steps_are_numbered_in_order_and_written_as_words() {
        for (i, s) in RollbackStep::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
            assert_eq!(s.label(), format!("R{}", i + 1));
            assert!(!s.title().is_empty());
        }
        assert_eq!(
            serde_json::to_string(&RollbackStep::BackupRelocked).unwrap(),
            "\"backup-relocked\""
        );
    }

    #[test]
    fn outcomes_are_data_and_old_words_are_kept_as_written() {
        for o in [
            RunOutcome::Completed,
            RunOutcome::RolledBack,
            RunOutcome::StoppedAll,
            RunOutcome::Blocked("no beacon".into()),
            RunOutcome::Failed("the archive changed".into()),
        ] {
            let json = serde_json::to_string(&o).unwrap();
            assert!(json.starts_with('{'), "{json}");
            assert_eq!(serde_json::from_str::<RunOutcome>(&json).unwrap(), o);
        }
        // Format 1 wrote a sentence: read back as it was, written back the same.
        let old: RunOutcome = serde_json::from_str("\"failed: x\"").unwrap();
        assert_eq!(old, RunOutcome::Written("failed: x".into()));
        assert!(!old.is_completed());
        assert_eq!(serde_json::to_string(&old).unwrap(), "\"failed: x\"");
        assert_eq!(RunOutcome::Failed("x".into()).to_string(), "failed: x");
    }
}
