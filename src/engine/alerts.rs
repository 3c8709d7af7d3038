//! Checklist item 9, "Alerts cleared", judged on the beacon state's own record of our
//! validators (`validator.slashed`, `status`, `balance`), with the attester-slashing
//! pool as supporting evidence (a slasher's find, dropped once included: an empty
//! pool is weak evidence). Pure: the engine and the tests call it on observed values.

use std::collections::BTreeMap;

use crate::observed::ValidatorState;

/// The only status in which a validator does its duties and nothing is wrong.
pub const ACTIVE: &str = "active_ongoing";

/// How the engine's reasons begin when something of ours is wrong rather than
/// unknown (item 9's alarms, the liveness gate's): what `notify` tells apart.
pub const ALARM: &str = "ALARM: ";

/// What item 9 rests on: the configured indices and what the backup's beacon node
/// answered. An `Err` is why the node gave no usable answer.
#[derive(Debug, Clone, Copy)]
pub struct AlertsInput<'a> {
    pub indices: &'a [u64],
    /// The head state's validators, asked by index after the start.
    pub validators: Result<&'a [ValidatorState], &'a str>,
    /// Our indices found in the attester-slashing pool.
    pub pool: Result<&'a [u64], &'a str>,
    /// Each index's balance before the start (the Start gate's last look); None: not
    /// observed.
    pub balances_before: Option<&'a BTreeMap<u64, u64>>,
}

/// The verdict: green only with no alarm and nothing left unverified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alerts {
    /// Every index known, not slashed, `active_ongoing`, none in the pool, no balance
    /// fallen: what was seen, in one line.
    Clear(String),
    /// Something of ours is wrong, and whatever else could not be verified.
    Alarm {
        alarms: Vec<String>,
        unverified: Vec<String>,
    },
    /// Nothing is known to be wrong, but the item cannot be verified: why.
    Unverified(Vec<String>),
}

impl Alerts {
    pub fn is_clear(&self) -> bool {
        matches!(self, Alerts::Clear(_))
    }

    /// Why the item is not green, in one line (None when clear).
    pub fn reason(&self) -> Option<String> {
        match self {
            Alerts::Clear(_) => None,
            Alerts::Alarm { alarms, unverified } if unverified.is_empty() => {
                Some(format!("{ALARM}{}", alarms.join("; ")))
            }
            Alerts::Alarm { alarms, unverified } => Some(format!(
                "{ALARM}{}; besides, item 9 could not be verified: {}",
                alarms.join("; "),
                unverified.join("; ")
            )),
            Alerts::Unverified(why) => {
                Some(format!("item 9 could not be verified: {}", why.join("; ")))
            }
        }
    }
}

/// Why item 9 cannot be verified without indices (the verdict of [`judge`] then).
/// A balance may fall by up to 1/1000 across a switch (the missed duties'
/// penalties); more is an alarm (a slashing's first penalty alone is 1/128 or more).
pub const FALL_TOLERATED: u64 = 1000;

pub const NO_INDICES: &str = "no validator.indices configured: the beacon node cannot be asked whether our validators are slashed, nor their balances";

/// Item 9 from the evidence. Never green by default: a node that did not answer, an
/// index it does not know, a balance not observed before or after the start all leave
/// it unverified.
pub fn judge(input: AlertsInput<'_>) -> Alerts {
    if input.indices.is_empty() {
        return Alerts::Unverified(vec![NO_INDICES.to_string()]);
    }
    let mut alarms = Vec::new();
    let mut unverified = Vec::new();
    let mut seen = Vec::new();
    match input.validators {
        Err(e) => unverified.push(format!(
            "the beacon node did not answer for our validators ({e})"
        )),
        Ok(vals) => {
            let by_index: BTreeMap<u64, &ValidatorState> =
                vals.iter().map(|v| (v.index, v)).collect();
            let mut unknown = Vec::new();
            let mut fallen = Vec::new();
            let mut small = Vec::new();
            for &i in input.indices {
                let Some(v) = by_index.get(&i) else {
                    unknown.push(i);
                    continue;
                };
                if v.slashed || v.status.ends_with("_slashed") {
                    alarms.push(format!(
                        "validator {i} is slashed (status {}, validator.slashed {})",
                        shown(&v.status),
                        v.slashed
                    ));
                } else if v.status != ACTIVE {
                    alarms.push(format!(
                        "validator {i} is {}, not {ACTIVE}",
                        shown(&v.status)
                    ));
                }
                match (input.balances_before.and_then(|b| b.get(&i)), v.balance) {
                    // The missed duties of a switch cost a little (penalties land at
                    // the epoch's end, after the baseline): only a fall beyond that
                    // is an alarm; a slashing takes at least 1/128 of the balance.
                    (Some(&before), Some(after))
                        if before - after.min(before) > before / FALL_TOLERATED =>
                    {
                        fallen.push(format!("{i}: {before} -> {after} (-{})", before - after));
                    }
                    (Some(&before), Some(after)) if after < before => {
                        small.push(format!("{i}: -{}", before - after));
                    }
                    (Some(_), Some(_)) => {}
                    (None, _) if input.balances_before.is_none() => {}
                    (None, _) => unverified.push(format!(
                        "the balance of validator {i} before the start was not observed"
                    )),
                    (Some(_), None) => unverified
                        .push(format!("the beacon node gave no balance for validator {i}")),
                }
            }
            if input.balances_before.is_none() {
                unverified.push(
                    "the balances before the start were not observed: their fall cannot be judged"
                        .into(),
                );
            }
            if !unknown.is_empty() {
                unverified.push(format!(
                    "the beacon node does not know the configured index(es) {unknown:?}"
                ));
            }
            if !fallen.is_empty() {
                alarms.push(format!(
                    "balances fell since the start: {}",
                    fallen.join(", ")
                ));
            }
            seen.push(if small.is_empty() {
                format!(
                    "validators {:?} {ACTIVE}, not slashed, balances not falling",
                    input.indices
                )
            } else {
                format!(
                    "validators {:?} {ACTIVE}, not slashed, balances not falling beyond what the missed duties cost ({})",
                    input.indices,
                    small.join(", ")
                )
            });
        }
    }
    match input.pool {
        Err(e) => unverified.push(format!(
            "the beacon node did not answer for its attester-slashing pool ({e})"
        )),
        Ok([]) => {
            seen.push("no attester slashing of ours in the pool".into());
        }
        Ok(ours) => alarms.push(format!(
            "attester slashings of our indices {ours:?} are in the pool"
        )),
    }
    if !alarms.is_empty() {
        Alerts::Alarm { alarms, unverified }
    } else if !unverified.is_empty() {
        Alerts::Unverified(unverified)
    } else {
        Alerts::Clear(seen.join("; "))
    }
}

fn shown(status: &str) -> &str {
    if status.is_empty() {
        "(none given)"
    } else {
        status
    }
}

/// Each index's balance, where the node gave one.
pub fn balances(vals: &[ValidatorState]) -> BTreeMap<u64, u64> {
    vals.iter()
        .filter_map(|v| v.balance.map(|b| (v.index, b)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(index: u64, status: &str, slashed: bool, balance: u64) -> ValidatorState {
        ValidatorState {
            index,
            pubkey: format!("0x{index:04x}"),
            status: status.into(),
            slashed,
            balance: Some(balance),
        }
    }

    fn fine() -> Vec<ValidatorState> {
        (0..4).map(|i| val(i, ACTIVE, false, 40_000)).collect()
    }

    fn before() -> BTreeMap<u64, u64> {
        (0..4).map(|i| (i, 40_000)).collect()
    }

    const IDX: [u64; 4] = [0, 1, 2, 3];

    fn judge_with(
        indices: &[u64],
        vals: Result<&[ValidatorState], &str>,
        pool: Result<&[u64], &str>,
        b: Option<&BTreeMap<u64, u64>>,
    ) -> Alerts {
        judge(AlertsInput {
            indices,
            validators: vals,
            pool,
            balances_before: b,
        })
    }

    #[test]
    fn all_well_is_clear_and_says_what_was_seen() {
        let (v, b) = (fine(), before());
        let a = judge_with(&IDX, Ok(&v), Ok(&[]), Some(&b));
        let Alerts::Clear(seen) = &a else {
            panic!("{a:?}")
        };
        assert!(seen.contains("not slashed") && seen.contains("no attester slashing"));
        assert_eq!(a.reason(), None);
    }

    #[test]
    fn a_balance_that_grew_is_clear() {
        let mut v = fine();
        v[2].balance = Some(40_010);
        let b = before();
        assert!(judge_with(&IDX, Ok(&v), Ok(&[]), Some(&b)).is_clear());
    }

    #[test]
    fn a_slashed_flag_is_an_alarm_naming_the_index() {
        let mut v = fine();
        v[1].slashed = true;
        let b = before();
        let a = judge_with(&IDX, Ok(&v), Ok(&[]), Some(&b));
        let r = a.reason().unwrap();
        assert!(matches!(a, Alerts::Alarm { .. }), "{a:?}");
        assert!(r.starts_with("ALARM: validator 1 is slashed"), "{r}");
    }

    #[test]
    fn a_slashed_status_without_the_flag_is_an_alarm() {
        for status in ["active_slashed", "exited_slashed"] {
            let mut v = fine();
            v[3].status = status.into();
            let b = before();
            let r = judge_with(&IDX, Ok(&v), Ok(&[]), Some(&b))
                .reason()
                .unwrap();
            assert!(
                r.contains("validator 3 is slashed") && r.contains(status),
                "{r}"
            );
        }
    }

    #[test]
    fn every_status_but_active_ongoing_is_red_naming_it() {
        for status in [
            "active_exiting",
            "exited_unslashed",
            "pending_initialized",
            "pending_queued",
            "withdrawal_possible",
            "withdrawal_done",
            "",
        ] {
            let mut v = fine();
            v[0].status = status.into();
            let b = before();
            let a = judge_with(&IDX, Ok(&v), Ok(&[]), Some(&b));
            let r = a
                .reason()
                .unwrap_or_else(|| panic!("{status:?} is not green"));
            assert!(
                r.contains(&format!("validator 0 is {}", shown(status))),
                "{r}"
            );
            assert!(r.contains("not active_ongoing"), "{r}");
        }
    }

    #[test]
    fn an_index_the_node_does_not_know_is_unverified() {
        let v: Vec<_> = fine().into_iter().filter(|v| v.index != 2).collect();
        let b = before();
        let a = judge_with(&IDX, Ok(&v), Ok(&[]), Some(&b));
        assert_eq!(
            a.reason().unwrap(),
            "item 9 could not be verified: the beacon node does not know the configured index(es) [2]"
        );
    }

    #[test]
    fn our_index_in_the_pool_is_an_alarm_even_when_the_state_is_clean() {
        let (v, b) = (fine(), before());
        let a = judge_with(&IDX, Ok(&v), Ok(&[1, 3]), Some(&b));
        assert_eq!(
            a.reason().unwrap(),
            "ALARM: attester slashings of our indices [1, 3] are in the pool"
        );
    }

    #[test]
    fn a_fallen_balance_is_red_with_the_figures() {
        let mut v = fine();
        v[2].balance = Some(39_950);
        let b = before();
        let a = judge_with(&IDX, Ok(&v), Ok(&[]), Some(&b));
        assert_eq!(
            a.reason().unwrap(),
            "ALARM: balances fell since the start: 2: 40000 -> 39950 (-50)"
        );
    }

    #[test]
    fn the_missed_duties_penalty_is_not_an_alarm_but_is_said() {
        // 1/1000 of 40,000 is 40: a fall of 40 is what a switch may cost, 41 is not.
        let mut v = fine();
        v[2].balance = Some(39_960);
        let b = before();
        let a = judge_with(&IDX, Ok(&v), Ok(&[]), Some(&b));
        assert!(a.reason().is_none(), "{:?}", a.reason());
        assert!(
            matches!(&a, Alerts::Clear(seen) if seen.contains("beyond what the missed duties cost (2: -40)")),
            "{a:?}"
        );
        v[2].balance = Some(39_959);
        assert!(
            judge_with(&IDX, Ok(&v), Ok(&[]), Some(&b))
                .reason()
                .is_some()
        );
    }

    #[test]
    fn balances_not_observed_before_the_start_are_unverified() {
        let v = fine();
        let a = judge_with(&IDX, Ok(&v), Ok(&[]), None);
        let r = a.reason().unwrap();
        assert!(matches!(a, Alerts::Unverified(_)), "{a:?}");
        assert!(
            r.contains("balances before the start were not observed"),
            "{r}"
        );
        // One index missing from the earlier look.
        let mut b = before();
        b.remove(&1);
        let r = judge_with(&IDX, Ok(&v), Ok(&[]), Some(&b))
            .reason()
            .unwrap();
        assert!(
            r.contains("balance of validator 1 before the start was not observed"),
            "{r}"
        );
        // No balance in the node's answer after the start.
        let mut v = fine();
        v[0].balance = None;
        let r = judge_with(&IDX, Ok(&v), Ok(&[]), Some(&before()))
            .reason()
            .unwrap();
        assert!(r.contains("gave no balance for validator 0"), "{r}");
    }

    #[test]
    fn a_node_that_cannot_answer_is_never_green() {
        let (v, b) = (fine(), before());
        for (vals, pool, words) in [
            (
                Err("timed-out: no answer in 30s"),
                Ok(&[][..]),
                "did not answer for our validators (timed-out: no answer in 30s)",
            ),
            (
                Ok(&v[..]),
                Err("unexpected: not JSON"),
                "did not answer for its attester-slashing pool (unexpected: not JSON)",
            ),
        ] {
            let a = judge_with(&IDX, vals, pool, Some(&b));
            assert!(matches!(a, Alerts::Unverified(_)), "{a:?}");
            let r = a.reason().unwrap();
            assert!(r.starts_with("item 9 could not be verified: "), "{r}");
            assert!(r.contains(words), "{r}");
        }
        let a = judge_with(
            &IDX,
            Err("refused: connection refused"),
            Err("refused"),
            None,
        );
        assert_eq!(
            a,
            Alerts::Unverified(vec![
                "the beacon node did not answer for our validators (refused: connection refused)"
                    .into(),
                "the beacon node did not answer for its attester-slashing pool (refused)".into(),
            ])
        );
    }

    #[test]
    fn an_alarm_also_says_what_could_not_be_verified() {
        let v = fine();
        let a = judge_with(&IDX, Ok(&v), Ok(&[0]), None);
        let r = a.reason().unwrap();
        assert!(
            r.starts_with("ALARM: attester slashings of our indices [0]")
                && r.contains("besides, item 9 could not be verified: the balances before"),
            "{r}"
        );
    }

    #[test]
    fn without_indices_it_says_so_and_is_not_green() {
        let (v, b) = (fine(), before());
        let a = judge_with(&[], Ok(&v), Ok(&[]), Some(&b));
        assert_eq!(a, Alerts::Unverified(vec![NO_INDICES.into()]));
        assert!(
            a.reason()
                .unwrap()
                .contains("no validator.indices configured")
        );
    }

    #[test]
    fn balances_are_read_by_index() {
        let mut v = fine();
        v[1].balance = None;
        let b = balances(&v);
        assert_eq!(b.len(), 3);
        assert_eq!(b.get(&0), Some(&40_000));
        assert_eq!(b.get(&1), None);
    }
}
