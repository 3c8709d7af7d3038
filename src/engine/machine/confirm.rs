//! The confirmations a person types (gitui's model: the dangerous action is a value
//! that is confirmed, journaled and tested): the host's name, exactly.

use super::*;

/// The confirmations typed by the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "confirm")]
pub enum Confirm {
    /// Stop the primary: type its name.
    StopPrimary { expect: String },
    /// Start the backup's validator: type the backup's name.
    StartBackup { expect: String },
    /// The primary cannot be reached: go on without verifying its stop, with this
    /// archive, through the liveness wait. Type the primary's name.
    UnverifiedPrimary {
        expect: String,
        archive: String,
        age_epochs: u64,
        wait_epochs: u64,
    },
    /// Roll back: type the primary's name.
    Rollback { expect: String },
    /// Emergency stop-all: stop and fence both validators. Type `STOP`.
    StopAll { expect: String },
}

impl Confirm {
    pub fn expected(&self) -> &str {
        match self {
            Confirm::StopPrimary { expect }
            | Confirm::StartBackup { expect }
            | Confirm::UnverifiedPrimary { expect, .. }
            | Confirm::Rollback { expect }
            | Confirm::StopAll { expect } => expect,
        }
    }
    pub fn action(&self) -> &'static str {
        match self {
            Confirm::StopPrimary { .. } => "stop the primary",
            Confirm::StartBackup { .. } => "start the backup",
            Confirm::UnverifiedPrimary { .. } => {
                "go on without the primary: use the newest archive and wait for the chain"
            }
            Confirm::Rollback { .. } => "roll back to the primary",
            Confirm::StopAll { .. } => "stop and fence both validators",
        }
    }
}

impl Failover {
    /// Record a typed confirmation; unless it is exactly the expected host name, say
    /// so and ask again.
    pub(super) fn confirmed(&self, question: Confirm, typed: &str, out: &mut Vec<Effect>) -> bool {
        out.push(Effect::Record(Record::Confirmation {
            action: question.action().into(),
            typed: typed.to_string(),
        }));
        if typed.trim() == question.expected() {
            return true;
        }
        let (gate, whose) = match question {
            Confirm::StopPrimary { .. } => (GateId::StopConfirmation, "primary"),
            Confirm::StartBackup { .. } => (GateId::StartConfirmation, "backup"),
            Confirm::UnverifiedPrimary { .. } => (GateId::UnverifiedConfirmation, "primary"),
            Confirm::Rollback { .. } => (GateId::RollbackConfirmation, "primary"),
            Confirm::StopAll { .. } => (GateId::StopAllConfirmation, "pair"),
        };
        out.push(self.gate(
            gate,
            false,
            format!(
                "typed {typed:?}, not the {whose}'s name {:?}",
                question.expected()
            ),
        ));
        out.push(Effect::Ask(question));
        false
    }
}
