//! When to stop the primary in a planned switch, so that no key misses a duty
//! (spec §8, issue 10 item 1): the pure decision. The chain clock, the keys' duty
//! schedule, what the chain shows included and the switch's predicted length come
//! in as values; nothing here reads a clock or a host.
//!
//! The runbook's planned switch, timed:
//!
//! 1. **Let the primary finish this epoch's attestations.** Each key attests once per
//!    epoch, at its duty slot; the attestation is made at that slot and may be
//!    included until one epoch later. The primary is stopped only once the chain
//!    shows every key's attestation of the current epoch included (the liveness
//!    endpoint's `is_live`), so nothing it owes this epoch is left undone.
//! 2. **Stop only when the switch fits before the next duty of any key.** A validator
//!    client acts on the slots still ahead of it: qrysm's slot ticker first fires at
//!    the slot after the one in which it starts (`time/slots/slotticker.go`), so a duty
//!    whose slot began before the backup's validator runs is not performed: it is
//!    missed. From the stop at `t`, the switch takes `switch + margin`; every slot from
//!    `t`'s to the one in which the backup starts is a slot nobody signs in. The moment
//!    is right when none of those slots holds a duty of any key (attestation,
//!    proposal, or sync-committee message), and the backup runs before the next
//!    duty's slot begins.
//! 3. **Otherwise wait for the next window**, which opens at the start of a slot
//!    (the only moments at which the answer can change): `WaitUntil` says when, and
//!    why not now.
//! 4. **When no window within the horizon fits** (the schedule read so far, and the
//!    longest the operator will wait), say before the stop what it will cost: the
//!    best moment in the horizon, and each duty it misses with the reason (a
//!    sync-committee member signs every slot; a proposal falls in the window; more
//!    keys than free slots; windows shorter than the switch).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::chain::ChainClock;
use crate::observed::{Duty, DutyKind, DutySchedule};

/// How long the switch is expected to take, from the primary's stop to the backup's
/// validator running, and the margin added on top (the client's own start-up, a
/// slower host than last time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchEstimate {
    pub switch_secs: f64,
    pub margin_secs: f64,
    pub basis: EstimateBasis,
}

impl SwitchEstimate {
    /// What the decision reckons with: the switch and its margin.
    pub fn total_secs(&self) -> f64 {
        (self.switch_secs + self.margin_secs).max(0.0)
    }
}

/// Where a switch estimate comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum EstimateBasis {
    /// Measured from this pair's newest completed run (its journal's directory name).
    Measured { run: String },
    /// No completed run of this pair yet: the documented default.
    Default,
}

/// What the decision is given.
#[derive(Debug, Clone)]
pub struct Moment<'a> {
    pub clock: ChainClock,
    /// Unix seconds.
    pub now: f64,
    /// The keys' duties, read for the current epoch and the next.
    pub schedule: &'a DutySchedule,
    /// The keys whose attestation of the current epoch the chain shows included
    /// (`validator/liveness/{current epoch}` answering `is_live`).
    pub included: &'a BTreeSet<u64>,
    pub estimate: &'a SwitchEstimate,
    /// The latest moment the operator waits for a window until (unix seconds), fixed
    /// when the planned switch began, so that a wait across epochs comes to an end.
    /// The wait for this epoch's attestations to be on chain is never cut short by
    /// it (it ends within the epoch and a slot).
    pub wait_until: f64,
}

/// A stretch of time in which the primary may be stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// When it opens (unix seconds): the end of the duty slot before it, or the
    /// (expected) inclusion of the epoch's last attestation, whichever is later.
    pub start: f64,
    /// When it closes: the start of the slot of the next duty of any key.
    pub end: f64,
    /// The duty that closes it; None when it is closed by the end of what the
    /// schedule knows (the duties after that are not read yet).
    pub closed_by: Option<Duty>,
}

impl Window {
    pub fn secs(&self) -> f64 {
        self.end - self.start
    }
}

/// Why a duty would be missed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum MissReason {
    /// A sync-committee member signs every slot: no switch falls between its duties
    /// (also said of another key's duty that a window would have spared but for the
    /// committee member's).
    SyncCommitteeMember,
    /// The key proposes a block in a slot the switch covers.
    ProposalInWindow,
    /// Every slot holds some key's duty: there is no gap to switch in.
    MoreKeysThanGaps,
    /// There are gaps between the keys' duties, but none as long as the switch.
    WindowShorterThanSwitch { longest_secs: f64 },
}

impl MissReason {
    pub fn describe(&self) -> String {
        match self {
            MissReason::SyncCommitteeMember => "a sync-committee member signs every slot".into(),
            MissReason::ProposalInWindow => "a proposal in the window".into(),
            MissReason::MoreKeysThanGaps => "more keys than gaps: every slot holds a duty".into(),
            MissReason::WindowShorterThanSwitch { longest_secs } => {
                format!("the longest window ({longest_secs:.0} s) is shorter than the switch")
            }
        }
    }
}

/// A duty the switch would cost, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissedDuty {
    pub duty: Duty,
    pub why: MissReason,
}

/// Why the primary is not to be stopped now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum WaitReason {
    /// These keys' attestations of the current epoch are not on chain yet
    /// (index, duty slot): their slot is still ahead, or the block that includes
    /// them has not come.
    AttestationsPending { keys: Vec<(u64, u64)> },
    /// A duty falls inside the switch if it began now (`seconds_left` until its slot
    /// begins: zero or less while the slot runs).
    DutyTooSoon {
        duty: Duty,
        seconds_left: f64,
        switch_secs: f64,
    },
    /// The switch would end after the last epoch the schedule knows (unix seconds).
    BeyondSchedule { schedule_end: f64 },
}

/// What to do about the primary, now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "decision")]
pub enum DutyDecision {
    /// Stop now: the switch fits in this window, and every attestation of the
    /// current epoch is on chain.
    StopNow {
        window: Window,
        /// The switch and its margin, in seconds.
        predicted_switch: f64,
        /// Always empty: a stop that would miss a duty is never `StopNow`.
        predicted_missed: Vec<MissedDuty>,
    },
    /// Not now: the next window that fits opens at `next_window_start`. Without a
    /// `window`, none fits in what the schedule knows: at `next_window_start` the next
    /// epoch begins, and its successor's duties can be read (read the schedule
    /// again, then decide again).
    WaitUntil {
        next_window_start: f64,
        window: Option<Window>,
        /// Why not now.
        why: WaitReason,
    },
    /// No window within the horizon fits the switch: the least it costs, stopping at
    /// `stop_at` (the best moment in the horizon), and which duties.
    Costs {
        stop_at: f64,
        predicted_switch: f64,
        missed: Vec<MissedDuty>,
        /// The switch ends after what the schedule knows: more may be missed.
        at_least: bool,
    },
    /// The schedule does not cover the current epoch and the next: read it again.
    ScheduleOutdated {
        epoch: u64,
        schedule_epochs: Option<(u64, u64)>,
    },
}

/// The start of a slot, in unix seconds.
fn slot_start(clock: &ChainClock, slot: u64) -> f64 {
    clock.genesis_time as f64 + slot as f64 * clock.seconds_per_slot as f64
}

struct View<'a> {
    m: &'a Moment<'a>,
    /// Sorted duties from the current slot on.
    duties: Vec<Duty>,
    /// Unix seconds at which the schedule's knowledge ends.
    horizon_end: f64,
    now_slot: u64,
}

impl View<'_> {
    fn clock(&self) -> &ChainClock {
        &self.m.clock
    }

    /// When each attestation of `epoch` is (expected to be) on chain, for the keys
    /// not yet seen included: (index, duty slot, expected inclusion).
    fn pending(&self, epoch: u64, t: f64) -> Vec<(u64, u64, f64)> {
        let now_epoch = self.clock().epoch_of_slot(self.now_slot);
        let next = slot_start(self.clock(), self.now_slot + 1);
        let mut out = Vec::new();
        for (&index, k) in &self.m.schedule.keys {
            let Some(d) = k.attester.get(&epoch) else {
                continue;
            };
            if epoch == now_epoch && self.m.included.contains(&index) {
                continue;
            }
            // Included at the earliest in the block of the slot after it; one not seen
            // yet although its slot passed is expected in the next block.
            let expected = slot_start(self.clock(), d.slot + 1).max(next);
            if t < expected || (t <= self.m.now && epoch == now_epoch) {
                out.push((index, d.slot, expected));
            }
        }
        out
    }

    /// The duties in the slots a switch begun at `t` leaves unsigned.
    fn covered(&self, t: f64, secs: f64) -> Vec<Duty> {
        let from = self.clock().slot_at(t);
        let to = self.clock().slot_at(t + secs);
        self.duties
            .iter()
            .filter(|d| d.slot >= from && d.slot <= to)
            .copied()
            .collect()
    }

    /// The first duty at or after `t`'s slot, ignoring sync-committee duties when asked.
    fn next_duty(&self, t: f64, with_sync: bool) -> Option<Duty> {
        let from = self.clock().slot_at(t);
        self.duties
            .iter()
            .find(|d| d.slot >= from && (with_sync || d.kind != DutyKind::SyncCommittee))
            .copied()
    }

    /// Seconds from `t` until the next duty's slot begins (or the schedule ends).
    fn room(&self, t: f64, with_sync: bool) -> f64 {
        let end = self
            .next_duty(t, with_sync)
            .map(|d| slot_start(self.clock(), d.slot))
            .unwrap_or(self.horizon_end)
            .min(self.horizon_end);
        end - t
    }

    /// The window around a stop at `t`.
    fn window(&self, t: f64) -> Window {
        let c = self.clock();
        let slot = c.slot_at(t);
        let closed_by = self
            .next_duty(t, true)
            .filter(|d| slot_start(c, d.slot) < self.horizon_end);
        let end = closed_by
            .map(|d| slot_start(c, d.slot))
            .unwrap_or(self.horizon_end);
        // It opened at the end of the last duty slot before it (duties already past
        // are not in `duties`: then at the start of the current slot at the latest)…
        let prior = self
            .m
            .schedule
            .duties(c.slots_per_epoch)
            .into_iter()
            .filter(|d| d.slot < slot)
            .map(|d| slot_start(c, d.slot + 1))
            .fold(f64::MIN, f64::max);
        // …and not before this epoch's attestations are on chain.
        let epoch = c.epoch_of_slot(slot);
        let inclusion = self
            .m
            .schedule
            .keys
            .values()
            .filter_map(|k| k.attester.get(&epoch))
            .map(|d| slot_start(c, d.slot + 1))
            .fold(f64::MIN, f64::max);
        let start = prior.max(inclusion).min(t);
        Window {
            start: if start == f64::MIN { t } else { start },
            end,
            closed_by,
        }
    }
}

/// The decision (see the module's documentation for the runbook's reasoning).
pub fn decide(m: &Moment<'_>) -> DutyDecision {
    let c = &m.clock;
    let now_slot = c.slot_at(m.now);
    let now_epoch = c.epoch_of_slot(now_slot);
    let d = m.estimate.total_secs();
    let (Some(first), Some(last)) = (m.schedule.first_epoch(), m.schedule.last_epoch()) else {
        return DutyDecision::ScheduleOutdated {
            epoch: now_epoch,
            schedule_epochs: None,
        };
    };
    if !m.schedule.covers(now_epoch) || !m.schedule.covers(now_epoch + 1) {
        return DutyDecision::ScheduleOutdated {
            epoch: now_epoch,
            schedule_epochs: Some((first, last)),
        };
    }
    let horizon_end = c.epoch_start(last.saturating_add(1)) as f64;
    let duties: Vec<Duty> = m
        .schedule
        .duties(c.slots_per_epoch)
        .into_iter()
        .filter(|x| x.slot >= now_slot)
        .collect();
    let v = View {
        m,
        duties,
        horizon_end,
        now_slot,
    };
    // This epoch's attestations are waited for whatever the operator's limit: at
    // most the epoch and a slot.
    let attested_at = v
        .pending(now_epoch, m.now)
        .iter()
        .map(|p| p.2)
        .fold(m.now, f64::max);
    let wait_limit = attested_at.max(m.wait_until);

    // The moments at which the answer can change: now, then each slot's start.
    let mut candidates = vec![m.now];
    let mut s = now_slot + 1;
    loop {
        let t = slot_start(c, s);
        if t >= horizon_end || t > wait_limit {
            break;
        }
        candidates.push(t);
        s += 1;
    }

    let included_at = |t: f64| v.pending(c.epoch_at(t), t).is_empty();
    let fits = |t: f64| t + d < horizon_end && v.covered(t, d).is_empty();
    let why_not_now = || {
        let pending = v.pending(now_epoch, m.now);
        if !pending.is_empty() {
            WaitReason::AttestationsPending {
                keys: pending.iter().map(|&(i, s, _)| (i, s)).collect(),
            }
        } else if let Some(duty) = v.covered(m.now, d).first().copied() {
            WaitReason::DutyTooSoon {
                duty,
                seconds_left: slot_start(c, duty.slot) - m.now,
                switch_secs: d,
            }
        } else {
            WaitReason::BeyondSchedule {
                schedule_end: horizon_end,
            }
        }
    };

    if let Some(&t) = candidates.iter().find(|&&t| included_at(t) && fits(t)) {
        let window = v.window(t);
        if t == m.now {
            return DutyDecision::StopNow {
                window,
                predicted_switch: d,
                predicted_missed: Vec::new(),
            };
        }
        return DutyDecision::WaitUntil {
            next_window_start: t,
            window: Some(window),
            why: why_not_now(),
        };
    }

    // Nothing fits in what the schedule knows. The next epoch's duties after the
    // known ones can be read once the next epoch begins: wait for that, if the
    // operator waits that long.
    let next_epoch = c.epoch_start(now_epoch + 1) as f64;
    if next_epoch < horizon_end && next_epoch <= m.wait_until {
        return DutyDecision::WaitUntil {
            next_window_start: next_epoch,
            window: None,
            why: why_not_now(),
        };
    }

    // No window within the horizon: the best moment, and what it costs. Moments whose
    // switch ends within the known schedule first (their cost is known in full).
    let allowed: Vec<f64> = candidates
        .iter()
        .copied()
        .filter(|&t| included_at(t))
        .collect();
    // None within the wait (the epoch's last attestation comes at its end, and the
    // next epoch's then are pending): the first moment they are all on chain, in the
    // horizon; only failing that, any moment.
    let allowed = if allowed.is_empty() {
        let later = (now_slot + 1..)
            .map(|s| slot_start(c, s))
            .take_while(|&t| t < horizon_end)
            .find(|&t| included_at(t));
        later.map_or_else(|| candidates.clone(), |t| vec![t])
    } else {
        allowed
    };
    let known: Vec<f64> = allowed
        .iter()
        .copied()
        .filter(|&t| t + d < horizon_end)
        .collect();
    let pool = if known.is_empty() { &allowed } else { &known };
    let stop_at = pool
        .iter()
        .copied()
        .min_by(|a, b| {
            v.covered(*a, d)
                .len()
                .cmp(&v.covered(*b, d).len())
                .then(a.total_cmp(b))
        })
        .unwrap_or(m.now);
    let longest = |with_sync: bool| {
        allowed
            .iter()
            .map(|&t| v.room(t, with_sync))
            .fold(0.0_f64, f64::max)
    };
    let (longest_all, longest_without_sync) = (longest(true), longest(false));
    let missed = v
        .covered(stop_at, d)
        .into_iter()
        .map(|duty| MissedDuty {
            duty,
            why: match duty.kind {
                DutyKind::SyncCommittee => MissReason::SyncCommitteeMember,
                DutyKind::Proposal => MissReason::ProposalInWindow,
                DutyKind::Attestation if longest_without_sync > d => {
                    MissReason::SyncCommitteeMember
                }
                DutyKind::Attestation if longest_without_sync <= 0.0 => {
                    MissReason::MoreKeysThanGaps
                }
                DutyKind::Attestation => MissReason::WindowShorterThanSwitch {
                    longest_secs: longest_all.max(0.0),
                },
            },
        })
        .collect();
    DutyDecision::Costs {
        stop_at,
        predicted_switch: d,
        missed,
        at_least: stop_at + d >= horizon_end,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::observed::{AttesterDuty, EpochDuties, KeyDuties};
    use proptest::prelude::*;

    const GENESIS: u64 = 1_000_000;

    fn clock(sps: u64, spe: u64) -> ChainClock {
        ChainClock::new(GENESIS, sps, spe).unwrap()
    }

    fn att(slot: u64) -> AttesterDuty {
        AttesterDuty {
            slot,
            committee_index: 0,
            committee_length: 1,
            committees_at_slot: 1,
            validator_committee_index: 0,
        }
    }

    /// A schedule for `epochs` where key i attests at `slots[e][i]` (absolute slots).
    fn schedule(epochs: &[u64], slots: &[Vec<u64>]) -> DutySchedule {
        let mut keys: BTreeMap<u64, KeyDuties> = BTreeMap::new();
        for (e, per_key) in epochs.iter().zip(slots) {
            for (i, &s) in per_key.iter().enumerate() {
                keys.entry(i as u64)
                    .or_default()
                    .attester
                    .insert(*e, att(s));
            }
        }
        DutySchedule {
            epochs: epochs
                .iter()
                .map(|&epoch| EpochDuties {
                    epoch,
                    attester_dependent_root: String::new(),
                    proposer_dependent_root: String::new(),
                    execution_optimistic: false,
                })
                .collect(),
            keys,
        }
    }

    fn estimate(secs: f64) -> SwitchEstimate {
        SwitchEstimate {
            switch_secs: secs,
            margin_secs: 0.0,
            basis: EstimateBasis::Default,
        }
    }

    fn at(c: &ChainClock, slot: u64, into: f64) -> f64 {
        slot_start(c, slot) + into
    }

    fn decide_at(
        c: ChainClock,
        now: f64,
        s: &DutySchedule,
        included: &[u64],
        secs: f64,
        wait: f64,
    ) -> DutyDecision {
        let included: BTreeSet<u64> = included.iter().copied().collect();
        let e = estimate(secs);
        decide(&Moment {
            clock: c,
            now,
            schedule: s,
            included: &included,
            estimate: &e,
            wait_until: now + wait,
        })
    }

    const FOREVER: f64 = 1e9;

    #[test]
    fn on_mainnet_a_few_seconds_fit_once_the_epoch_is_attested() {
        // 60 s slots, 128 per epoch; four keys attest at slots 3, 10, 40, 90 of epoch 5
        // and 2, 20, 30, 100 of epoch 6.
        let c = clock(60, 128);
        let s = schedule(
            &[5, 6],
            &[
                vec![640 + 3, 640 + 10, 640 + 40, 640 + 90],
                vec![768 + 2, 768 + 20, 768 + 30, 768 + 100],
            ],
        );
        // Slot 95 of epoch 5, every attestation included: stop now; the window runs
        // from the block after the last attestation until key 0's attestation at
        // slot 2 of epoch 6.
        let now = at(&c, 640 + 95, 5.0);
        match decide_at(c, now, &s, &[0, 1, 2, 3], 30.0, 0.0) {
            DutyDecision::StopNow {
                window,
                predicted_switch,
                predicted_missed,
            } => {
                assert_eq!(predicted_switch, 30.0);
                assert!(predicted_missed.is_empty());
                assert_eq!(window.start, slot_start(&c, 640 + 91));
                assert_eq!(window.end, slot_start(&c, 768 + 2));
                assert_eq!(
                    window.closed_by,
                    Some(Duty {
                        slot: 770,
                        index: 0,
                        kind: DutyKind::Attestation
                    })
                );
            }
            other => panic!("{other:?}"),
        }
        // The margin counts: 30 s and a 20 s margin still fit.
        let included: BTreeSet<u64> = [0, 1, 2, 3].into();
        let e = SwitchEstimate {
            switch_secs: 30.0,
            margin_secs: 20.0,
            basis: EstimateBasis::Default,
        };
        let m = Moment {
            clock: c,
            now,
            schedule: &s,
            included: &included,
            estimate: &e,
            wait_until: now,
        };
        assert!(
            matches!(decide(&m), DutyDecision::StopNow { predicted_switch, .. } if predicted_switch == 50.0)
        );
    }

    #[test]
    fn it_waits_for_the_last_attestation_to_be_included() {
        let c = clock(60, 128);
        let s = schedule(
            &[5, 6],
            &[vec![643, 650, 680, 730], vec![770, 788, 798, 868]],
        );
        // At slot 50 of epoch 5 key 3 has not attested (slot 90): wait until the
        // block after its slot, however short the operator's wait for a window.
        let now = at(&c, 640 + 50, 1.0);
        match decide_at(c, now, &s, &[0, 1, 2], 30.0, 0.0) {
            DutyDecision::WaitUntil {
                next_window_start,
                why,
                window: Some(w),
            } => {
                assert_eq!(next_window_start, slot_start(&c, 731));
                assert_eq!(w.start, slot_start(&c, 731));
                assert_eq!(
                    why,
                    WaitReason::AttestationsPending {
                        keys: vec![(3, 730)]
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        // Its slot passed, the chain does not show it yet: the next block may.
        let now = at(&c, 733, 1.0);
        match decide_at(c, now, &s, &[0, 1, 2], 30.0, 0.0) {
            DutyDecision::WaitUntil {
                next_window_start,
                why: WaitReason::AttestationsPending { keys },
                ..
            } => {
                assert_eq!(next_window_start, slot_start(&c, 734));
                assert_eq!(keys, vec![(3, 730)]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_window_shorter_than_the_switch_waits_for_the_next_or_costs() {
        // The lab: 2 s slots, 8 per epoch. Epoch 5 is slots 40-47, epoch 6 48-55.
        let c = clock(2, 8);
        let s = schedule(&[5, 6], &[vec![40, 41, 42, 43], vec![48, 49, 53, 54]]);
        let all = [0, 1, 2, 3];
        let now = at(&c, 46, 1.0);
        // 3 s of room before slot 48: a 2.5 s switch fits.
        assert!(matches!(
            decide_at(c, now, &s, &all, 2.5, 0.0),
            DutyDecision::StopNow { .. }
        ));
        // Ending exactly as slot 48 begins is too late: the client acts on the slots
        // after the one it starts in, so slot 48's attestation would be missed.
        assert!(!matches!(
            decide_at(c, now, &s, &all, 3.0, FOREVER),
            DutyDecision::StopNow { .. }
        ));
        // A 5 s switch fits nowhere this schedule knows (in epoch 6 the stop waits
        // for its attestations, the last at slot 54, and the schedule ends at 56):
        // wait for epoch 6, when epoch 7's duties can be read.
        match decide_at(c, now, &s, &all, 5.0, FOREVER) {
            DutyDecision::WaitUntil {
                next_window_start,
                window: None,
                why:
                    WaitReason::DutyTooSoon {
                        duty,
                        seconds_left,
                        switch_secs,
                    },
            } => {
                assert_eq!(next_window_start, slot_start(&c, 48));
                assert_eq!(
                    (duty.slot, duty.index, duty.kind),
                    (48, 0, DutyKind::Attestation)
                );
                assert_eq!((seconds_left, switch_secs), (3.0, 5.0));
            }
            other => panic!("{other:?}"),
        }
        // An operator who will not wait: the cost, said before the stop.
        match decide_at(c, now, &s, &all, 5.0, 0.0) {
            DutyDecision::Costs {
                stop_at,
                missed,
                at_least,
                predicted_switch,
            } => {
                assert_eq!((stop_at, predicted_switch, at_least), (now, 5.0, false));
                // From 1 s into slot 46, 5 s reach into slot 49.
                let why = MissReason::WindowShorterThanSwitch { longest_secs: 3.0 };
                let att = |slot, index| MissedDuty {
                    duty: Duty {
                        slot,
                        index,
                        kind: DutyKind::Attestation,
                    },
                    why: why.clone(),
                };
                assert_eq!(missed, vec![att(48, 0), att(49, 1)]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_sync_committee_member_costs_every_slot_of_the_switch() {
        let c = clock(2, 8);
        let mut s = schedule(&[5, 6], &[vec![40, 41, 42, 43], vec![52, 53, 54, 55]]);
        for e in [5, 6] {
            s.keys
                .get_mut(&2)
                .unwrap()
                .sync_committee
                .insert(e, vec![7]);
        }
        let now = at(&c, 45, 0.5);
        match decide_at(c, now, &s, &[0, 1, 2, 3], 3.0, 0.0) {
            DutyDecision::Costs {
                missed, stop_at, ..
            } => {
                assert_eq!(stop_at, now);
                assert_eq!(missed.len(), 2, "slots 45 and 46: {missed:?}");
                assert!(
                    missed
                        .iter()
                        .all(|m| m.why == MissReason::SyncCommitteeMember
                            && m.duty.kind == DutyKind::SyncCommittee
                            && m.duty.index == 2)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_proposal_closes_the_window() {
        let c = clock(2, 8);
        let mut s = schedule(&[5, 6], &[vec![40, 41, 42, 43], vec![53, 53, 54, 55]]);
        // Key 1 proposes at slot 47: from 1/4 into slot 45 there are 3.5 s.
        s.keys.get_mut(&1).unwrap().proposals.push(47);
        let now = at(&c, 45, 0.5);
        match decide_at(c, now, &s, &[0, 1, 2, 3], 3.0, 0.0) {
            DutyDecision::StopNow { window, .. } => assert_eq!(
                window.closed_by.map(|d| (d.slot, d.index, d.kind)),
                Some((47, 1, DutyKind::Proposal))
            ),
            other => panic!("{other:?}"),
        }
        match decide_at(c, now, &s, &[0, 1, 2, 3], 4.0, 0.0) {
            DutyDecision::Costs { missed, .. } => {
                assert_eq!(missed.len(), 1, "{missed:?}");
                assert_eq!(missed[0].duty.kind, DutyKind::Proposal);
                assert_eq!(missed[0].why, MissReason::ProposalInWindow);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn more_keys_than_slots_leave_no_gap() {
        // 4 slots per epoch, 8 keys, two per slot: every slot holds an attestation.
        let c = clock(2, 4);
        let e5: Vec<u64> = (0..8).map(|i| 20 + i / 2).collect();
        let e6: Vec<u64> = (0..8).map(|i| 24 + i / 2).collect();
        let s = schedule(&[5, 6], &[e5, e6]);
        let now = at(&c, 23, 0.5);
        // Waiting on for epochs does not help: the operator's limit ends it.
        assert!(matches!(
            decide_at(c, now, &s, &[0, 1, 2, 3, 4, 5], 1.0, FOREVER),
            DutyDecision::WaitUntil { window: None, .. }
        ));
        match decide_at(c, now, &s, &[0, 1, 2, 3, 4, 5], 1.0, 0.0) {
            DutyDecision::Costs {
                missed, stop_at, ..
            } => {
                assert_eq!(stop_at, now, "as cheap as later, and sooner");
                assert_eq!(missed.len(), 2, "{missed:?}");
                assert!(
                    missed.iter().all(|m| m.why == MissReason::MoreKeysThanGaps),
                    "{missed:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_key_without_a_seat_is_not_waited_for() {
        let c = clock(2, 8);
        let mut s = schedule(&[5, 6], &[vec![40, 41], vec![54, 55]]);
        s.keys.insert(9, KeyDuties::default());
        assert!(matches!(
            decide_at(c, at(&c, 44, 0.0), &s, &[0, 1], 3.0, 0.0),
            DutyDecision::StopNow { .. }
        ));
    }

    #[test]
    fn a_schedule_that_does_not_cover_this_epoch_and_the_next_is_outdated() {
        let c = clock(2, 8);
        let s = schedule(&[5, 6], &[vec![40], vec![50]]);
        for (slot, epoch) in [(60, 7), (50, 6)] {
            assert_eq!(
                decide_at(c, at(&c, slot, 0.0), &s, &[0], 1.0, FOREVER),
                DutyDecision::ScheduleOutdated {
                    epoch,
                    schedule_epochs: Some((5, 6))
                }
            );
        }
        assert!(matches!(
            decide_at(
                c,
                at(&c, 44, 0.0),
                &DutySchedule::default(),
                &[0],
                1.0,
                FOREVER
            ),
            DutyDecision::ScheduleOutdated {
                schedule_epochs: None,
                ..
            }
        ));
    }

    #[test]
    fn decisions_are_data() {
        let c = clock(2, 8);
        let s = schedule(&[5, 6], &[vec![40, 41, 42, 43], vec![48, 49, 53, 54]]);
        for (secs, wait) in [(2.5, 0.0), (5.0, FOREVER), (5.0, 0.0)] {
            let d = decide_at(c, at(&c, 46, 1.0), &s, &[0, 1, 2, 3], secs, wait);
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(
                serde_json::from_str::<DutyDecision>(&json).unwrap(),
                d,
                "{json}"
            );
        }
    }

    // ------------------------------------------------------------------ properties

    type Case = (ChainClock, DutySchedule, Vec<u64>, f64, f64, f64);

    /// A random schedule for epochs 5 and 6, and a moment in epoch 5.
    fn arb_case() -> impl Strategy<Value = Case> {
        (
            1u64..=12,
            prop_oneof![Just(4u64), Just(8), Just(16)],
            1usize..=6,
        )
            .prop_flat_map(|(sps, spe, keys)| {
                let att = proptest::collection::vec((0..spe, 0..spe), keys);
                let props = proptest::collection::vec((0..keys as u64, 0..2 * spe), 0..3);
                let sync = proptest::collection::vec((0..keys as u64, 0u64..2), 0..2);
                // Mostly every passed attestation on chain, as on a healthy chain.
                let included = proptest::collection::vec(proptest::bool::weighted(0.9), keys);
                let into = prop_oneof![
                    0.0..(spe * sps) as f64,
                    ((spe * sps) as f64 * 0.6)..(spe * sps) as f64
                ];
                let switch = prop_oneof![
                    3 => 0.0..(2 * sps) as f64,
                    1 => 0.0..(spe * sps) as f64 * 1.5
                ];
                let wait = prop_oneof![Just(0.0), Just(FOREVER), 0.0..(2 * spe * sps) as f64];
                (
                    Just(sps),
                    Just(spe),
                    att,
                    props,
                    sync,
                    included,
                    into,
                    switch,
                    wait,
                )
            })
            .prop_map(
                |(sps, spe, att, props, sync, included, into, switch, wait)| {
                    let c = clock(sps, spe);
                    let e5: Vec<u64> = att.iter().map(|(a, _)| 5 * spe + a).collect();
                    let e6: Vec<u64> = att.iter().map(|(_, b)| 6 * spe + b).collect();
                    let mut s = schedule(&[5, 6], &[e5, e6]);
                    for (k, off) in props {
                        s.keys.get_mut(&k).unwrap().proposals.push(5 * spe + off);
                    }
                    for (k, e) in sync {
                        s.keys
                            .get_mut(&k)
                            .unwrap()
                            .sync_committee
                            .insert(5 + e, vec![0]);
                    }
                    let now = slot_start(&c, 5 * spe) + into;
                    // Only an attestation whose slot has passed can be on chain.
                    let inc: Vec<u64> = included
                        .iter()
                        .enumerate()
                        .filter(|(i, yes)| {
                            **yes
                                && s.attestation_slot(*i as u64, 5)
                                    .is_some_and(|slot| slot < c.slot_at(now))
                        })
                        .map(|(i, _)| i as u64)
                        .collect();
                    (c, s, inc, now, switch, wait)
                },
            )
    }

    /// A duty whose slot overlaps [from, to].
    fn duty_inside(c: &ChainClock, s: &DutySchedule, from: f64, to: f64) -> Option<Duty> {
        s.duties(c.slots_per_epoch).into_iter().find(|d| {
            let (a, b) = (slot_start(c, d.slot), slot_start(c, d.slot + 1));
            a <= to && b > from
        })
    }

    /// At `t`, every attestation of `t`'s epoch is on chain, if the chain includes
    /// each in the block after its slot (and none sooner than the next block).
    fn attested(c: &ChainClock, s: &DutySchedule, inc: &[u64], now: f64, t: f64) -> bool {
        let e = c.epoch_at(t);
        s.keys.iter().all(|(i, k)| match k.attester.get(&e) {
            None => true,
            Some(_) if e == c.epoch_at(now) && inc.contains(i) => true,
            Some(d) => t > now && c.slot_at(t) > d.slot,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn never_stop_now_with_a_duty_inside_the_switch((c, s, inc, now, switch, wait) in arb_case()) {
            if let DutyDecision::StopNow { window, predicted_switch, predicted_missed } =
                decide_at(c, now, &s, &inc, switch, wait)
            {
                prop_assert!(predicted_missed.is_empty());
                prop_assert_eq!(predicted_switch, switch);
                let inside = duty_inside(&c, &s, now, now + switch);
                prop_assert!(inside.is_none(), "{:?} inside [{}, {}]", inside, now, now + switch);
                prop_assert!(window.start <= now && now + switch < window.end, "{:?}", window);
            }
        }

        #[test]
        fn never_stop_now_before_the_epochs_attestations_are_included(
            (c, s, inc, now, switch, wait) in arb_case()
        ) {
            if let DutyDecision::StopNow { .. } = decide_at(c, now, &s, &inc, switch, wait) {
                for (i, k) in &s.keys {
                    if k.attester.contains_key(&5) {
                        prop_assert!(inc.contains(i), "key {} not included in epoch 5", i);
                    }
                }
            }
        }

        #[test]
        fn a_wait_ends_in_a_stop_when_the_chain_does_what_is_expected(
            (c, s, inc, now, switch, wait) in arb_case()
        ) {
            match decide_at(c, now, &s, &inc, switch, wait) {
                DutyDecision::WaitUntil { next_window_start: t, window: Some(window), .. } => {
                    prop_assert!(t > now);
                    prop_assert!(window.start <= t && t + switch < window.end, "{:?} at {}", window, t);
                    prop_assert!(duty_inside(&c, &s, t, t + switch).is_none());
                    // By then the chain holds every attestation of t's epoch whose slot passed.
                    let e = c.epoch_at(t);
                    let by_then: Vec<u64> = s
                        .keys
                        .iter()
                        .filter(|(_, k)| k.attester.get(&e).is_some_and(|d| d.slot < c.slot_at(t)))
                        .map(|(i, _)| *i)
                        .collect();
                    if e == 5 {
                        let again = decide_at(c, t, &s, &by_then, switch, wait);
                        prop_assert!(matches!(again, DutyDecision::StopNow { .. }), "{:?}", again);
                    }
                }
                DutyDecision::WaitUntil { next_window_start: t, window: None, .. } => {
                    // Nothing fits in the schedule: read it again when epoch 6 begins.
                    prop_assert_eq!(t, slot_start(&c, 6 * c.slots_per_epoch));
                    prop_assert!(t <= now + wait);
                }
                _ => {}
            }
        }

        #[test]
        fn it_costs_only_when_no_moment_within_the_wait_is_free(
            (c, s, inc, now, switch, wait) in arb_case()
        ) {
            if let DutyDecision::Costs { stop_at, missed, at_least, .. } =
                decide_at(c, now, &s, &inc, switch, wait)
            {
                let end = slot_start(&c, 7 * c.slots_per_epoch);
                let mut moments = vec![now];
                let mut slot = c.slot_at(now) + 1;
                while slot_start(&c, slot) < end && slot_start(&c, slot) <= now + wait {
                    moments.push(slot_start(&c, slot));
                    slot += 1;
                }
                for t in moments {
                    let free = duty_inside(&c, &s, t, t + switch).is_none() && t + switch < end;
                    prop_assert!(!(attested(&c, &s, &inc, now, t) && free), "free at {} (now {})", t, now);
                }
                prop_assert!(stop_at >= now);
                // At a moment the epoch's attestations are on chain, when the horizon
                // has one.
                let attested_somewhen = std::iter::once(now)
                    .chain((c.slot_at(now) + 1..7 * c.slots_per_epoch).map(|s| slot_start(&c, s)))
                    .any(|t| attested(&c, &s, &inc, now, t));
                prop_assert!(!attested_somewhen || attested(&c, &s, &inc, now, stop_at),
                    "stop at {} before the attestations are in", stop_at);
                // What it costs is what the switch from stop_at covers.
                let covered: Vec<Duty> = s
                    .duties(c.slots_per_epoch)
                    .into_iter()
                    .filter(|d| d.slot >= c.slot_at(stop_at) && d.slot <= c.slot_at(stop_at + switch))
                    .collect();
                prop_assert_eq!(missed.iter().map(|m| m.duty).collect::<Vec<_>>(), covered);
                prop_assert_eq!(at_least, stop_at + switch >= end);
            }
        }
    }
}
