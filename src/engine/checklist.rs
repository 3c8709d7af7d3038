//! The runbook's checklist: the spine of the program (spec §1).

use serde::Serialize;

/// The state of a checklist item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "reason")]
pub enum ItemState {
    Pending,
    Running,
    Green,
    Red(String),
    Waived(String),
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

/// The runbook's four reasons to fail over.
pub const REASONS: [&str; 4] = [
    "Primary node is unresponsive for >15 minutes",
    "Primary node has hardware failure",
    "Planned maintenance requiring >1 hour downtime",
    "Primary node software is critically corrupted",
];

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
}
