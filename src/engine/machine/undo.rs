//! Sequences of steps run one after the other (the primary's unfence, the backup's
//! relock, the stop-all's fence and stop): a failed one is journaled and the next
//! still runs; the check after the sequence judges the whole.

use super::*;

/// A sequence of actions run one after the other; a failed one is journaled and the
/// next still runs (each is independent, and a check after the sequence judges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Undo {
    /// The fence and the stop of the primary (`UNFENCE`): it signs again.
    Primary,
    /// The backup's unlock and start (`RELOCK`): it is stopped and locked again.
    Backup,
    /// The emergency stop-all: both fenced, then both stopped.
    StopAll,
}

impl Undo {
    pub(super) fn actions(self) -> Vec<Action> {
        match self {
            Undo::Primary => UNFENCE.iter().map(|a| a(Role::Primary)).collect(),
            Undo::Backup => RELOCK.iter().map(|a| a(Role::Backup)).collect(),
            Undo::StopAll => {
                let mut v: Vec<Action> = Vec::new();
                for role in Role::BOTH {
                    v.extend(FENCE.iter().map(|a| a(role)));
                }
                v.extend(Role::BOTH.iter().map(|r| Action::Stop(*r)));
                v
            }
        }
    }
}

/// The fence, in order: lock file, not at boot, not at all.
pub(super) const FENCE: [fn(Role) -> Action; 7] = [
    Action::EnsureLockDir,
    Action::WriteLock,
    Action::Disable,
    Action::MaskRuntime,
    Action::EnsureDropInDir,
    Action::WriteFenceDropIn,
    Action::DaemonReload,
];
/// The rollback of the fence and the stop, in order.
pub(super) const UNFENCE: [fn(Role) -> Action; 6] = [
    Action::RemoveFenceDropIn,
    Action::UnmaskRuntime,
    Action::DaemonReload,
    Action::Enable,
    Action::RemoveLock,
    Action::Start,
];

/// The backup, stopped and locked again (a rollback after it was unlocked).
pub(super) const RELOCK: [fn(Role) -> Action; 5] = [
    Action::Stop,
    Action::Kill,
    Action::EnsureLockDir,
    Action::WriteLock,
    Action::Disable,
];

impl Failover {
    /// One step of a sequence done: a failed one is journaled and the next still runs; after the last, the check that judges the whole.
    pub(super) fn undone(
        &mut self,
        undo: Undo,
        i: usize,
        action: Action,
        result: Result<(), HostError>,
        via: String,
        out: &mut Vec<Effect>,
    ) {
        if let Err(e) = &result {
            // Go on: each undo step is independent, and the check after judges.
            out.push(self.gate(
                GateId::Rollback,
                false,
                format!(
                    "{action:?} failed: {}: {} ({via})",
                    e.failure.as_str(),
                    e.detail
                ),
            ));
        }
        if i + 1 < undo.actions().len() {
            self.undo_step(undo, i + 1, out);
        } else {
            match undo {
                Undo::Primary => {
                    self.phase = Phase::VerifyingRollback(Verifying::default());
                    out.push(Effect::Observe(vec![
                        (Role::Primary, Observe::Unit),
                        (Role::Primary, Observe::Processes),
                    ]));
                }
                Undo::Backup => {
                    self.phase = Phase::VerifyingBackupStopped(Verifying::default());
                    out.push(Effect::Observe(self.backup_idle_checks()));
                }
                Undo::StopAll => {
                    self.phase = Phase::VerifyingStopAll(Verifying::default());
                    out.push(Effect::Observe(self.stop_all_checks()));
                }
            }
        }
    }

    /// Step `i` of an undo sequence.
    pub(super) fn undo_step(&mut self, undo: Undo, i: usize, out: &mut Vec<Effect>) {
        let action = undo.actions()[i];
        self.phase = Phase::Undoing { undo, i };
        out.push(Effect::Act {
            action,
            timeout: if matches!(action, Action::Stop(_)) {
                self.plan.stop_timeout
            } else {
                OBSERVE_TIMEOUT
            },
        });
    }
}
