//! What "Start backup" waits for, as data (spec §2).
//!
//! Two gates stand before the backup's validator may start:
//!
//! - the checklist: items 1-5 green, each observed after the start step began (no
//!   gate trusts an observation older than the step);
//! - the liveness gate: the chain must not show the keys signing anywhere else.
//!
//! Both are pure functions of what was observed, so that "Start stays blocked until
//! every item is green" can be tested exhaustively, without I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::checklist::{Checklist, ItemState};
use super::ids::ItemId;
use crate::chain::ChainClock;

/// The checklist items that must be green before the backup may start.
pub const START_REQUIRES: [ItemId; 5] = [
    ItemId::PrimaryStopped,
    ItemId::PrimaryKilled,
    ItemId::SlashingProtectionTransferred,
    ItemId::BackupBeaconSynced,
    ItemId::BackupGzondSynced,
];

/// One thing the Start action waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Wait {
    /// A checklist item is not green.
    Item {
        number: ItemId,
        title: String,
        why: String,
    },
    /// A checklist item is green, but observed before this step began.
    Stale { number: ItemId, title: String },
    /// The liveness gate is shut.
    Liveness { why: String },
}

impl Wait {
    pub fn describe(&self) -> String {
        match self {
            Wait::Item { number, title, why } => format!("{number}. {title}: {why}"),
            Wait::Stale { number, title } => {
                format!("{number}. {title}: observed before this step, re-probe")
            }
            Wait::Liveness { why } => format!("liveness gate: {why}"),
        }
    }
}

/// The Start action's gate: open only when it waits for nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartGate {
    pub waits: Vec<Wait>,
}

impl StartGate {
    pub fn is_open(&self) -> bool {
        self.waits.is_empty()
    }

    /// What it waits for, one line each.
    pub fn described(&self) -> Vec<String> {
        self.waits.iter().map(Wait::describe).collect()
    }

    /// One line for a status bar or a `BLOCKED:` line.
    pub fn summary(&self) -> String {
        if self.is_open() {
            return "open".into();
        }
        self.described().join("; ")
    }
}

/// Judge the Start gate: items 1-5 green and observed at or after `fresh_since`
/// (when the current step began), and the liveness gate open.
pub fn start_gate(
    checklist: &Checklist,
    liveness: &LivenessVerdict,
    fresh_since: f64,
) -> StartGate {
    let mut waits = Vec::new();
    for n in START_REQUIRES {
        let item = checklist.item(n);
        let title = item.spec().title.to_string();
        match &item.state {
            ItemState::Green => {
                if item.at.is_none_or(|t| t < fresh_since) {
                    waits.push(Wait::Stale { number: n, title });
                }
            }
            // Items 1-5 can never be waived (Checklist::waive refuses); a waiver here
            // would be a bug, and it does not open the gate.
            ItemState::Waived(r) => waits.push(Wait::Item {
                number: n,
                title,
                why: format!("waived ({r}), but a gate item must be green"),
            }),
            ItemState::Red(r) => waits.push(Wait::Item {
                number: n,
                title,
                why: r.clone(),
            }),
            ItemState::Undone(r) => waits.push(Wait::Item {
                number: n,
                title,
                why: format!("undone ({r})"),
            }),
            ItemState::Pending => waits.push(Wait::Item {
                number: n,
                title,
                why: "not done yet".into(),
            }),
            ItemState::Running => waits.push(Wait::Item {
                number: n,
                title,
                why: "running".into(),
            }),
        }
    }
    match liveness {
        LivenessVerdict::Open { .. } => {}
        LivenessVerdict::Waiting { why, .. } | LivenessVerdict::Alarm { why } => {
            waits.push(Wait::Liveness { why: why.clone() })
        }
    }
    StartGate { waits }
}

// ---------------------------------------------------------------------------
// The liveness gate

/// How the primary is known not to sign any more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "path")]
pub enum LivenessPath {
    /// The primary was verified stopped over SSH in `stop_epoch`, at `verified_at`,
    /// and its fresh history was transferred. `last_signed` holds each key's highest
    /// signed target epoch when the history says (EIP-3076).
    VerifiedStop {
        stop_epoch: u64,
        verified_at: f64,
        last_signed: BTreeMap<u64, u64>,
    },
    /// Nothing could verify that the primary stopped: wait for chain evidence, the
    /// keys not live for `required` whole epochs in a row, from `since_epoch - 1` on.
    Unverified { since_epoch: u64, required: u64 },
    /// The operator's typed statement that the primary is fenced out of band.
    FencedOutOfBand {
        statement: String,
        at: f64,
        since_epoch: u64,
    },
}

/// The chain's answer for one epoch: which of our keys it saw live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessObservation {
    pub epoch: u64,
    /// Unix seconds when the chain was asked.
    pub at: f64,
    pub live: Vec<u64>,
    /// The indices that were asked about.
    pub asked: Vec<u64>,
}

/// What the liveness gate says now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "verdict")]
pub enum LivenessVerdict {
    Open {
        why: String,
    },
    /// Shut for now; may open later.
    Waiting {
        why: String,
        quiet_epochs: u64,
        required: u64,
        /// Unix seconds at which it could open at the earliest, if known.
        earliest: Option<f64>,
        /// Attester duties missed so far while the keys sign nowhere (keys x epochs).
        missed_duties: u64,
    },
    /// A key signs somewhere else: the gate stays shut for this run.
    Alarm {
        why: String,
    },
}

impl LivenessVerdict {
    pub fn is_open(&self) -> bool {
        matches!(self, LivenessVerdict::Open { .. })
    }
}

/// The liveness gate: the path, the chain's answers, and the chain's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessGate {
    pub path: Option<LivenessPath>,
    pub clock: ChainClock,
    pub indices: Vec<u64>,
    /// Slots into epoch E+1 before an answer for epoch E counts as final: an
    /// attestation can take a slot or more to be included (domain.md).
    pub inclusion_slots: u64,
    pub observations: BTreeMap<u64, LivenessObservation>,
}

impl LivenessGate {
    pub fn new(clock: ChainClock, indices: Vec<u64>) -> LivenessGate {
        LivenessGate {
            path: None,
            clock,
            indices,
            inclusion_slots: 2.min(clock.slots_per_epoch.saturating_sub(1)).max(1),
            observations: BTreeMap::new(),
        }
    }

    /// Record the chain's answer. A later answer for the same epoch replaces an
    /// earlier one, except that "live" is never forgotten.
    pub fn record(&mut self, obs: LivenessObservation) {
        match self.observations.get_mut(&obs.epoch) {
            Some(old) => {
                let mut live = old.live.clone();
                for k in &obs.live {
                    if !live.contains(k) {
                        live.push(*k);
                    }
                }
                live.sort_unstable();
                *old = LivenessObservation { live, ..obs };
            }
            None => {
                let mut obs = obs;
                obs.live.sort_unstable();
                self.observations.insert(obs.epoch, obs);
            }
        }
    }

    /// Which epochs to ask the chain about now: every epoch the verdict needs that has
    /// no final, complete answer yet (the beacon node answers older epochs from the
    /// state at their end), so that a slow round never leaves a gap in the streak.
    /// The verified-stop path asks from just after the oldest key's last signed epoch
    /// (a stale history shows there), at most `MAX_EPOCHS_ASKED` back.
    pub fn epochs_to_ask(&self, now: f64) -> Vec<u64> {
        const MAX_EPOCHS_ASKED: u64 = 8;
        let c = self.clock.epoch_at(now);
        let from = match &self.path {
            Some(LivenessPath::Unverified {
                since_epoch,
                required,
            }) => since_epoch
                .saturating_sub(1)
                .max(c.saturating_sub(required + MAX_EPOCHS_ASKED)),
            Some(LivenessPath::VerifiedStop {
                stop_epoch,
                last_signed,
                ..
            }) => {
                let oldest = last_signed.values().min().copied().unwrap_or(*stop_epoch);
                (oldest + 1)
                    .min(stop_epoch.saturating_sub(1))
                    .max(c.saturating_sub(MAX_EPOCHS_ASKED))
            }
            _ => c.saturating_sub(1),
        };
        (from..=c)
            .filter(|e| {
                self.observations
                    .get(e)
                    .is_none_or(|o| !(self.is_final(o) && self.asked_all(o)))
            })
            .collect()
    }

    /// Is the observation of `epoch` final: made late enough in the next epoch?
    fn is_final(&self, o: &LivenessObservation) -> bool {
        let final_at = self.clock.epoch_start(o.epoch + 1)
            + self.inclusion_slots * self.clock.seconds_per_slot;
        o.at >= final_at as f64
    }

    fn asked_all(&self, o: &LivenessObservation) -> bool {
        self.indices.iter().all(|k| o.asked.contains(k))
    }

    /// Every key seen live in an epoch at or after `from`.
    fn live_since(&self, from: u64) -> Option<(u64, Vec<u64>)> {
        self.observations
            .range(from..)
            .find(|(_, o)| !o.live.is_empty())
            .map(|(e, o)| (*e, o.live.clone()))
    }

    pub fn verdict(&self, now: f64) -> LivenessVerdict {
        let Some(path) = &self.path else {
            return LivenessVerdict::Waiting {
                why: "the primary has not been verified stopped".into(),
                quiet_epochs: 0,
                required: 0,
                earliest: None,
                missed_duties: 0,
            };
        };
        match path {
            LivenessPath::VerifiedStop {
                stop_epoch,
                verified_at,
                last_signed,
            } => {
                for (e, o) in &self.observations {
                    for k in &o.live {
                        let threshold = last_signed.get(k).copied().unwrap_or(*stop_epoch);
                        if e > &threshold {
                            return LivenessVerdict::Alarm {
                                why: format!(
                                    "key {k} was live in epoch {e}, after {}",
                                    if last_signed.contains_key(k) {
                                        format!(
                                            "its history's last signed target epoch {threshold}: the history is older than what the chain shows the key signed (stale), or something else signs with it"
                                        )
                                    } else {
                                        format!(
                                            "epoch {threshold} in which the primary was verified stopped: something else signs with it"
                                        )
                                    }
                                ),
                            };
                        }
                    }
                }
                if self.indices.is_empty() {
                    return LivenessVerdict::Open {
                        why: "primary verified stopped; no validator indices configured, so the chain was not asked".into(),
                    };
                }
                let checked = self
                    .observations
                    .values()
                    .any(|o| o.at >= *verified_at && self.asked_all(o));
                if checked {
                    LivenessVerdict::Open {
                        why: format!(
                            "primary verified stopped in epoch {stop_epoch}; the chain shows no key signing after its history"
                        ),
                    }
                } else {
                    LivenessVerdict::Waiting {
                        why: "asking the chain whether any key signs elsewhere".into(),
                        quiet_epochs: 0,
                        required: 0,
                        earliest: None,
                        missed_duties: 0,
                    }
                }
            }
            LivenessPath::FencedOutOfBand {
                statement,
                since_epoch,
                at,
            } => {
                if let Some((e, keys)) = self.live_since(since_epoch + 1) {
                    return LivenessVerdict::Alarm {
                        why: format!(
                            "keys {keys:?} were live in epoch {e}, after the statement that the primary is fenced: something still signs"
                        ),
                    };
                }
                // Up to the statement the primary may have signed, in the epoch of the
                // statement too, and the archive does not know it: the backup may only
                // sign from the next epoch on.
                let fenced_epoch = self.clock.epoch_at(*at).max(*since_epoch);
                if self.clock.epoch_at(now) <= fenced_epoch {
                    let next = self.clock.epoch_start(fenced_epoch + 1) as f64;
                    return LivenessVerdict::Waiting {
                        why: format!(
                            "the primary may have signed in epoch {fenced_epoch} before it was fenced: waiting for epoch {}",
                            fenced_epoch + 1
                        ),
                        quiet_epochs: 0,
                        required: 0,
                        earliest: Some(next),
                        missed_duties: 0,
                    };
                }
                LivenessVerdict::Open {
                    why: format!(
                        "the operator stated the primary is fenced out of band: {statement:?}"
                    ),
                }
            }
            LivenessPath::Unverified {
                since_epoch,
                required,
            } => self.unverified(now, *since_epoch, *required),
        }
    }

    fn unverified(&self, now: f64, since_epoch: u64, required: u64) -> LivenessVerdict {
        let keys = self.indices.len() as u64;
        let current = self.clock.epoch_at(now);
        let missed = current.saturating_sub(since_epoch) * keys;
        if self.indices.is_empty() {
            return LivenessVerdict::Waiting {
                why: "no validator indices configured: the chain cannot be asked; only a typed statement that the primary is fenced out of band can open this gate".into(),
                quiet_epochs: 0,
                required,
                earliest: None,
                missed_duties: missed,
            };
        }
        // A key live in any epoch we asked about, from the one before the wait began:
        // the primary (or something) still signs. The streak restarts after it.
        let first = since_epoch.saturating_sub(1);
        let last_live = self
            .observations
            .range(first..)
            .filter(|(_, o)| !o.live.is_empty())
            .map(|(e, _)| *e)
            .next_back();
        // Count final, complete, quiet epochs backwards from the newest one, without gaps.
        let newest_final = self
            .observations
            .range(first..)
            .rev()
            .find(|(_, o)| self.is_final(o) && o.live.is_empty() && self.asked_all(o))
            .map(|(e, _)| *e);
        let mut streak = 0u64;
        let mut newest_quiet = None;
        if let Some(top) = newest_final
            && last_live.is_none_or(|l| l < top)
        {
            newest_quiet = Some(top);
            let mut e = top;
            loop {
                match self.observations.get(&e) {
                    Some(o)
                        if self.is_final(o)
                            && o.live.is_empty()
                            && self.asked_all(o)
                            && Some(e) > last_live =>
                    {
                        streak += 1
                    }
                    _ => break,
                }
                if e == first {
                    break;
                }
                e -= 1;
            }
        }
        if streak >= required {
            return LivenessVerdict::Open {
                why: format!(
                    "no key live for {streak} whole epochs in a row (epochs {}..={}): nothing signs with them",
                    newest_quiet.unwrap_or(0) + 1 - streak,
                    newest_quiet.unwrap_or(0)
                ),
            };
        }
        // When could it open? The last epoch still needed must be final.
        let next_needed = match newest_quiet {
            Some(q) => q + (required - streak),
            None => last_live.map(|l| l + 1).unwrap_or(first).max(first) + required - 1,
        };
        let earliest = (self.clock.epoch_start(next_needed + 1)
            + self.inclusion_slots * self.clock.seconds_per_slot) as f64;
        let why = match last_live {
            Some(l) if l + 1 >= current => format!(
                "keys were live in epoch {l}: the primary (or something) is still signing; waiting for {required} quiet epochs"
            ),
            _ => format!("waiting for {required} whole epochs with no key live ({streak} so far)"),
        };
        LivenessVerdict::Waiting {
            why,
            quiet_epochs: streak,
            required,
            earliest: Some(earliest.max(now)),
            missed_duties: missed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::checklist::Checklist;

    /// 2 s slots, 4 slots per epoch, genesis at 1000: epoch E starts at 1000 + 8E.
    fn clock() -> ChainClock {
        ChainClock::new(1000, 2, 4).unwrap()
    }

    fn at(epoch: u64, slot: u64) -> f64 {
        (1000 + epoch * 8 + slot * 2) as f64 + 0.5
    }

    fn obs(epoch: u64, when: f64, live: &[u64]) -> LivenessObservation {
        LivenessObservation {
            epoch,
            at: when,
            live: live.to_vec(),
            asked: vec![0, 1, 2, 3],
        }
    }

    fn gate() -> LivenessGate {
        LivenessGate::new(clock(), vec![0, 1, 2, 3])
    }

    fn open_liveness() -> LivenessVerdict {
        LivenessVerdict::Open { why: "test".into() }
    }

    /// Every combination of states of items 1-5, fresh or stale, with the liveness
    /// gate open or shut: Start opens in exactly one case.
    #[test]
    fn start_opens_only_when_items_1_to_5_are_green_fresh_and_liveness_open() {
        let states = [
            ItemState::Pending,
            ItemState::Running,
            ItemState::Green,
            ItemState::Red("x".into()),
            ItemState::Waived("y".into()),
        ];
        let fresh_since = 100.0;
        let mut opened = 0;
        // 5 states x 2 freshness, for 5 items: 10^5 combinations, x 3 liveness verdicts.
        for code in 0..100_000u32 {
            let mut c = Checklist::new();
            let mut all_good = true;
            let mut n = code;
            for item in START_REQUIRES {
                let d = n % 10;
                n /= 10;
                let state = states[(d % 5) as usize].clone();
                let fresh = d >= 5;
                all_good &= state == ItemState::Green && fresh;
                c.force(item, state, if fresh { 150.0 } else { 50.0 });
            }
            for (lv, lv_open) in [
                (open_liveness(), true),
                (LivenessVerdict::Alarm { why: "a".into() }, false),
                (
                    LivenessVerdict::Waiting {
                        why: "w".into(),
                        quiet_epochs: 1,
                        required: 2,
                        earliest: None,
                        missed_duties: 4,
                    },
                    false,
                ),
            ] {
                let g = start_gate(&c, &lv, fresh_since);
                assert_eq!(
                    g.is_open(),
                    all_good && lv_open,
                    "code {code}: {}",
                    g.summary()
                );
                if g.is_open() {
                    opened += 1;
                } else {
                    assert!(!g.summary().is_empty());
                }
            }
        }
        assert_eq!(
            opened, 1,
            "exactly one combination of the 300,000 opens Start"
        );
    }

    #[test]
    fn the_gate_names_what_it_waits_for() {
        let mut c = Checklist::new();
        c.force(ItemId::PrimaryStopped, ItemState::Green, 10.0);
        c.force(ItemId::PrimaryKilled, ItemState::Green, 10.0);
        c.force(
            ItemId::SlashingProtectionTransferred,
            ItemState::Red("sha256 differs".into()),
            10.0,
        );
        c.force(ItemId::BackupBeaconSynced, ItemState::Green, 1.0);
        let g = start_gate(&c, &open_liveness(), 5.0);
        let s = g.summary();
        assert!(
            s.contains("3. Slashing protection transferred: sha256 differs"),
            "{s}"
        );
        assert!(
            s.contains("4. Backup beacon synced: observed before this step"),
            "{s}"
        );
        assert!(s.contains("5. Backup gzond synced: not done yet"), "{s}");
        assert!(!s.contains("1. "), "{s}");
    }

    #[test]
    fn no_path_means_shut() {
        assert!(!gate().verdict(at(5, 0)).is_open());
    }

    #[test]
    fn verified_stop_opens_after_a_fresh_look_and_alarms_on_a_key_signing_later() {
        let mut g = gate();
        g.path = Some(LivenessPath::VerifiedStop {
            stop_epoch: 10,
            verified_at: at(10, 1),
            last_signed: BTreeMap::new(),
        });
        assert!(
            !g.verdict(at(10, 2)).is_open(),
            "not before the chain was asked"
        );
        // The primary's own attestation in the stop epoch is expected.
        g.record(obs(10, at(10, 2), &[0, 1, 2, 3]));
        g.record(obs(9, at(10, 2), &[0, 1, 2, 3]));
        assert!(g.verdict(at(10, 2)).is_open());
        // A key live in the next epoch: something else signs.
        g.record(obs(11, at(11, 3), &[2]));
        match g.verdict(at(11, 3)) {
            LivenessVerdict::Alarm { why } => {
                assert!(why.contains("key 2") && why.contains("epoch 11"), "{why}")
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn verified_stop_uses_each_keys_last_signed_epoch_when_known() {
        let mut g = gate();
        let last: BTreeMap<u64, u64> = [(0, 9), (1, 10), (2, 10), (3, 10)].into();
        g.path = Some(LivenessPath::VerifiedStop {
            stop_epoch: 10,
            verified_at: at(10, 1),
            last_signed: last,
        });
        // Key 0's history ends at 9: live in 10 means someone else signed epoch 10.
        g.record(obs(10, at(10, 2), &[0, 1]));
        assert!(matches!(
            g.verdict(at(10, 2)),
            LivenessVerdict::Alarm { .. }
        ));
    }

    #[test]
    fn stale_observations_do_not_open_a_verified_stop() {
        let mut g = gate();
        g.path = Some(LivenessPath::VerifiedStop {
            stop_epoch: 10,
            verified_at: at(10, 3),
            last_signed: BTreeMap::new(),
        });
        g.record(obs(10, at(10, 1), &[]));
        assert!(
            !g.verdict(at(10, 3)).is_open(),
            "asked before the stop was verified"
        );
    }

    #[test]
    fn unreachable_primary_waits_for_two_whole_quiet_epochs() {
        let mut g = gate();
        g.path = Some(LivenessPath::Unverified {
            since_epoch: 20,
            required: 2,
        });
        // Epoch 19 asked early in 20: not final yet (inclusion can lag).
        g.record(obs(19, at(20, 0), &[]));
        let v = g.verdict(at(20, 0));
        assert!(!v.is_open());
        // Asked again late enough: final and quiet. One epoch so far.
        g.record(obs(19, at(20, 2), &[]));
        g.record(obs(20, at(20, 2), &[]));
        match g.verdict(at(20, 2)) {
            LivenessVerdict::Waiting {
                quiet_epochs,
                required,
                earliest,
                missed_duties,
                ..
            } => {
                assert_eq!((quiet_epochs, required), (1, 2));
                assert_eq!(
                    earliest,
                    Some(at(21, 2) - 0.5),
                    "epoch 20 is final 2 slots into 21"
                );
                assert_eq!(missed_duties, 0);
            }
            v => panic!("{v:?}"),
        }
        g.record(obs(20, at(21, 2), &[]));
        let v = g.verdict(at(21, 2));
        assert!(v.is_open(), "{v:?}");
    }

    #[test]
    fn a_primary_alive_behind_a_cut_never_opens_the_gate() {
        let mut g = gate();
        g.path = Some(LivenessPath::Unverified {
            since_epoch: 20,
            required: 2,
        });
        for e in 19..40 {
            // The primary keeps signing every epoch; the chain says so each time.
            g.record(obs(e, at(e + 1, 3), &[0, 1, 2, 3]));
            g.record(obs(e + 1, at(e + 1, 3), &[0, 1, 2, 3]));
            let v = g.verdict(at(e + 1, 3));
            assert!(!v.is_open(), "epoch {e}: {v:?}");
        }
    }

    #[test]
    fn a_live_epoch_restarts_the_count_and_a_gap_breaks_it() {
        let mut g = gate();
        g.path = Some(LivenessPath::Unverified {
            since_epoch: 20,
            required: 2,
        });
        g.record(obs(19, at(20, 3), &[]));
        g.record(obs(20, at(21, 3), &[1]));
        g.record(obs(21, at(22, 3), &[]));
        assert!(
            !g.verdict(at(22, 3)).is_open(),
            "only one quiet epoch after the live one"
        );
        g.record(obs(22, at(23, 3), &[]));
        assert!(g.verdict(at(23, 3)).is_open());

        let mut g = gate();
        g.path = Some(LivenessPath::Unverified {
            since_epoch: 20,
            required: 2,
        });
        g.record(obs(19, at(20, 3), &[]));
        // Epoch 20 never asked (the program was down): 21 alone is one epoch.
        g.record(obs(21, at(22, 3), &[]));
        assert!(!g.verdict(at(22, 3)).is_open());
    }

    #[test]
    fn a_partial_answer_does_not_count_as_quiet() {
        let mut g = gate();
        g.path = Some(LivenessPath::Unverified {
            since_epoch: 20,
            required: 1,
        });
        g.record(LivenessObservation {
            epoch: 19,
            at: at(20, 3),
            live: vec![],
            asked: vec![0, 1],
        });
        assert!(!g.verdict(at(20, 3)).is_open());
    }

    #[test]
    fn live_is_never_forgotten_by_a_later_answer() {
        let mut g = gate();
        g.path = Some(LivenessPath::Unverified {
            since_epoch: 20,
            required: 1,
        });
        g.record(obs(20, at(21, 1), &[3]));
        g.record(obs(20, at(21, 3), &[]));
        assert!(!g.verdict(at(21, 3)).is_open());
    }

    #[test]
    fn without_indices_only_a_statement_opens_an_unverified_failover() {
        let mut g = LivenessGate::new(clock(), vec![]);
        g.path = Some(LivenessPath::Unverified {
            since_epoch: 20,
            required: 2,
        });
        assert!(!g.verdict(at(40, 0)).is_open());
        g.path = Some(LivenessPath::FencedOutOfBand {
            statement: "primary-1 powered off at the provider".into(),
            at: at(20, 1),
            since_epoch: 20,
        });
        // Not in the epoch of the statement: the primary may have signed in it, and
        // the archive does not know; from the next epoch on.
        match g.verdict(at(20, 3)) {
            LivenessVerdict::Waiting { why, earliest, .. } => {
                assert!(why.contains("waiting for epoch 21"), "{why}");
                assert_eq!(earliest, Some(at(21, 0) - 0.5));
            }
            v => panic!("{v:?}"),
        }
        assert!(g.verdict(at(21, 0)).is_open());
    }

    #[test]
    fn a_statement_contradicted_by_the_chain_is_an_alarm() {
        let mut g = gate();
        g.path = Some(LivenessPath::FencedOutOfBand {
            statement: "primary-1 powered off at the provider".into(),
            at: at(20, 1),
            since_epoch: 20,
        });
        g.record(obs(21, at(21, 3), &[0]));
        assert!(matches!(
            g.verdict(at(21, 3)),
            LivenessVerdict::Alarm { .. }
        ));
    }

    #[test]
    fn missed_duties_are_counted_while_waiting() {
        let mut g = gate();
        g.path = Some(LivenessPath::Unverified {
            since_epoch: 20,
            required: 3,
        });
        match g.verdict(at(22, 0)) {
            LivenessVerdict::Waiting { missed_duties, .. } => assert_eq!(missed_duties, 2 * 4),
            v => panic!("{v:?}"),
        }
    }
}
