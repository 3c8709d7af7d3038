//! The runbook's checklist: the spine of the program (spec §1).

use serde::{Deserialize, Serialize};

use super::ids::ItemId;
use crate::config::Role;

/// The state of a checklist item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "reason")]
pub enum ItemState {
    Pending,
    Running,
    Green,
    Red(String),
    Waived(String),
    /// Was done, and a rollback undid it: why, in the rollback's words (its evidence
    /// beside it). Journal format 3.
    Undone(String),
}

impl ItemState {
    /// The symbol shown beside the item, so that states read without colour.
    pub fn symbol(&self) -> &'static str {
        match self {
            ItemState::Pending => "[ ]",
            ItemState::Running => "[~]",
            ItemState::Green => "[✓]",
            ItemState::Red(_) => "[✗]",
            ItemState::Waived(_) => "[!]",
            ItemState::Undone(_) => "[↶]",
        }
    }
}

/// One item of the runbook's checklist: its words and what makes it green.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ItemSpec {
    pub number: u8,
    /// The runbook's own wording.
    pub title: &'static str,
    /// When it may be ticked (spec §1).
    pub green_when: &'static str,
}

/// The ten items, in the runbook's words and order.
pub const ITEMS: [ItemSpec; 10] = [
    ItemSpec {
        number: 1,
        title: "Primary validator confirmed stopped",
        green_when: "systemd says inactive/failed with MainPID 0, twice, seconds apart; lock file created, unit disabled and masked for the runtime",
    },
    ItemSpec {
        number: 2,
        title: "Primary process confirmed killed",
        green_when: "no process with the exact validator name; the metrics port no longer answers",
    },
    ItemSpec {
        number: 3,
        title: "Slashing protection transferred",
        green_when: "taken after the stop, streamed, sha256 equal on both ends, content validated, swapped in atomically with the previous copy kept, owner set",
    },
    ItemSpec {
        number: 4,
        title: "Backup beacon synced",
        green_when: "is_syncing false, small sync_distance, el_offline false, peers > 0",
    },
    ItemSpec {
        number: 5,
        title: "Backup gzond synced",
        green_when: "the syncing RPC answers false, peers > 0",
    },
    ItemSpec {
        number: 6,
        title: "Lock file removed on backup",
        green_when: "removed only after items 1-5 and the liveness gate are green",
    },
    ItemSpec {
        number: 7,
        title: "Backup validator started",
        green_when: "ActiveState exactly active, SubState running, process present",
    },
    ItemSpec {
        number: 8,
        title: "Attestations being submitted",
        green_when: "a `Submitted new attestation…` line from the backup after the start; the chain reports the keys live again",
    },
    ItemSpec {
        number: 9,
        title: "Alerts cleared",
        green_when: "no slashing of our indices in the beacon pool; balances not falling",
    },
    ItemSpec {
        number: 10,
        title: "Incident documented",
        green_when: "notes written; times of failure, start and completion recorded",
    },
];

/// One of the rollback's own steps: its words and what makes it green.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StepSpec {
    pub title: &'static str,
    pub green_when: &'static str,
}

/// The rollback's steps (`ids::RollbackStep`), in its order (spec §2).
pub const ROLLBACK_STEPS: [StepSpec; 4] = [
    StepSpec {
        title: "Backup stopped and locked again",
        green_when: "its validator stopped with no process and no metrics port, the lock file back, seen so twice, seconds apart",
    },
    StepSpec {
        title: "Backup's history back on the primary",
        green_when: "the backup's slashing-protection history (now the newest) on the primary, sha256 equal on both ends, the primary's own set aside",
    },
    StepSpec {
        title: "Rollback's start gate",
        green_when: "the backup still stopped and locked; the primary's beacon and execution nodes synced",
    },
    StepSpec {
        title: "Primary unfenced and running",
        green_when: "fence drop-in removed, unmasked, enabled, lock file removed, started; ActiveState active/running with a process",
    },
];

/// The runbook's four reasons to fail over.
pub const REASONS: [&str; 4] = [
    "Primary node is unresponsive for >15 minutes",
    "Primary node has hardware failure",
    "Planned maintenance requiring >1 hour downtime",
    "Primary node software is critically corrupted",
];

/// What an item's state rests on: what was observed, when, where, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The host it was observed on (None: the chain, the operator, this program).
    pub host: Option<Role>,
    /// Unix seconds.
    pub at: f64,
    /// The command or request, exactly as sent.
    pub via: String,
    /// What was seen, in one line.
    pub observed: String,
}

/// One checklist item as it stands in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub number: ItemId,
    pub state: ItemState,
    /// When the state was last set (unix seconds).
    pub at: Option<f64>,
    pub evidence: Vec<Evidence>,
}

impl Item {
    pub fn spec(&self) -> &'static ItemSpec {
        &ITEMS[self.number.index()]
    }
}

/// Items that may be waived with a reason: never one that gates the start (1-5), nor
/// the start and its lock (6-7).
pub const WAIVABLE: [ItemId; 3] = [
    ItemId::AttestationsSubmitted,
    ItemId::AlertsCleared,
    ItemId::IncidentDocumented,
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChecklistError {
    NotWaivable(ItemId),
    EmptyReason,
    /// Waived is set only through `waive`.
    UseWaive,
}

impl std::fmt::Display for ChecklistError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChecklistError::NotWaivable(n) => write!(
                f,
                "item {n} gates the start of the backup and cannot be waived"
            ),
            ChecklistError::EmptyReason => write!(f, "a waiver needs a reason"),
            ChecklistError::UseWaive => {
                write!(f, "an item is waived only with a reason, through waive")
            }
        }
    }
}

impl std::error::Error for ChecklistError {}

/// The ten items of a run, with their states, times and evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checklist {
    items: Vec<Item>,
}

impl Default for Checklist {
    fn default() -> Self {
        Checklist::new()
    }
}

impl Checklist {
    pub fn new() -> Checklist {
        Checklist {
            items: ItemId::ALL
                .iter()
                .map(|id| Item {
                    number: *id,
                    state: ItemState::Pending,
                    at: None,
                    evidence: Vec::new(),
                })
                .collect(),
        }
    }

    pub fn item(&self, id: ItemId) -> &Item {
        &self.items[id.index()]
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// Set an item's state with the evidence it rests on.
    pub fn set(
        &mut self,
        id: ItemId,
        state: ItemState,
        at: f64,
        evidence: Vec<Evidence>,
    ) -> Result<(), ChecklistError> {
        if matches!(state, ItemState::Waived(_)) {
            return Err(ChecklistError::UseWaive);
        }
        let item = &mut self.items[id.index()];
        item.state = state;
        item.at = Some(at);
        item.evidence = evidence;
        Ok(())
    }

    /// Waive an item that does not gate the start, with a reason.
    pub fn waive(&mut self, id: ItemId, reason: &str, at: f64) -> Result<(), ChecklistError> {
        if !WAIVABLE.contains(&id) {
            return Err(ChecklistError::NotWaivable(id));
        }
        if reason.trim().is_empty() {
            return Err(ChecklistError::EmptyReason);
        }
        let item = &mut self.items[id.index()];
        item.state = ItemState::Waived(reason.trim().to_string());
        item.at = Some(at);
        Ok(())
    }

    /// Mark an item that was done (or begun) as undone by a rollback, with the
    /// rollback's evidence. An item never begun stays pending: nothing was undone.
    /// True when the item changed.
    pub fn undo(&mut self, id: ItemId, why: &str, at: f64, evidence: Vec<Evidence>) -> bool {
        let item = &mut self.items[id.index()];
        if matches!(item.state, ItemState::Pending | ItemState::Undone(_)) {
            return false;
        }
        item.state = ItemState::Undone(why.to_string());
        item.at = Some(at);
        item.evidence = evidence;
        true
    }

    /// Every item green or waived: the failover is complete.
    pub fn complete(&self) -> bool {
        self.items
            .iter()
            .all(|i| matches!(i.state, ItemState::Green | ItemState::Waived(_)))
    }

    /// Set a state without the rules (tests of the gates only).
    #[cfg(test)]
    pub(crate) fn force(&mut self, id: ItemId, state: ItemState, at: f64) {
        let item = &mut self.items[id.index()];
        item.state = state;
        item.at = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checklist_is_the_runbooks() {
        let runbook = include_str!("../../assets/runbook-checklist.txt");
        let titles: Vec<&str> = runbook
            .lines()
            .filter_map(|l| l.strip_prefix("- [ ] "))
            .collect();
        let ours: Vec<&str> = ITEMS.iter().map(|i| i.title).collect();
        assert_eq!(titles, ours);
        for (n, i) in ITEMS.iter().enumerate() {
            assert_eq!(i.number as usize, n + 1);
        }
    }

    #[test]
    fn only_what_was_done_or_begun_is_undone() {
        let mut c = Checklist::new();
        let ev = || {
            vec![Evidence {
                host: Some(Role::Backup),
                at: 5.0,
                via: "systemctl show".into(),
                observed: "inactive/dead MainPID=0".into(),
            }]
        };
        c.set(
            ItemId::BackupValidatorStarted,
            ItemState::Green,
            1.0,
            vec![],
        )
        .unwrap();
        c.set(
            ItemId::AttestationsSubmitted,
            ItemState::Running,
            1.0,
            vec![],
        )
        .unwrap();
        assert!(c.undo(ItemId::BackupValidatorStarted, "stopped again", 5.0, ev()));
        assert!(c.undo(ItemId::AttestationsSubmitted, "stopped again", 5.0, ev()));
        // Never begun: nothing to undo; undone already: unchanged.
        assert!(!c.undo(ItemId::AlertsCleared, "stopped again", 5.0, ev()));
        assert!(!c.undo(ItemId::BackupValidatorStarted, "again", 6.0, vec![]));
        let seven = c.item(ItemId::BackupValidatorStarted);
        assert_eq!(seven.state, ItemState::Undone("stopped again".into()));
        assert_eq!((seven.at, seven.evidence.len()), (Some(5.0), 1));
        assert_eq!(seven.state.symbol(), "[↶]");
        assert_eq!(c.item(ItemId::AlertsCleared).state, ItemState::Pending);
        assert!(!c.complete());
    }

    #[test]
    fn gate_items_cannot_be_waived() {
        let mut c = Checklist::new();
        for n in ItemId::ALL.into_iter().take(7) {
            assert_eq!(
                c.waive(n, "because", 1.0),
                Err(ChecklistError::NotWaivable(n))
            );
            assert_eq!(
                c.set(n, ItemState::Waived("x".into()), 1.0, vec![]),
                Err(ChecklistError::UseWaive)
            );
            assert_eq!(c.item(n).state, ItemState::Pending);
        }
        let nine = ItemId::AlertsCleared;
        assert_eq!(c.waive(nine, "  ", 1.0), Err(ChecklistError::EmptyReason));
        c.waive(
            nine,
            "no indices configured: the pool cannot be searched",
            2.0,
        )
        .unwrap();
        assert!(matches!(c.item(nine).state, ItemState::Waived(_)));
        assert!(!c.complete());
    }
}
