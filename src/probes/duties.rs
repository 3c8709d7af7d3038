//! The keys' duties from the beacon node, for this epoch and the next (the furthest
//! the beacon API answers attester duties), read through the same HTTP-on-the-host
//! route as every beacon probe:
//!
//! - `POST …/validator/duties/attester/{epoch}` with the indices as a JSON array of
//!   decimal strings → `{dependent_root, execution_optimistic, data[]{pubkey,
//!   validator_index, committee_index, committee_length, committees_at_slot,
//!   validator_committee_index, slot}}`;
//! - `GET …/validator/duties/proposer/{epoch}` → the same envelope, `data[]{pubkey,
//!   validator_index, slot}` for every proposer of the epoch (filtered here to ours);
//! - `POST …/validator/duties/sync/{epoch}` with the indices →
//!   `{execution_optimistic, data[]{pubkey, validator_index,
//!   validator_sync_committee_indices[]}}`, members only.
//!
//! The shapes are qrysm's (`beacon-chain/rpc/eth/validator/structs.go`, served under
//! `/zond/v1` by `beacon-chain/rpc/service.go`), which are the Ethereum beacon API's:
//! every number a decimal string, the roots `0x` and 32 bytes, the keys 2,592 bytes.
//! Anything else is an error naming the endpoint and the field.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Observed, Probe, excerpt, unexpected};
use crate::chain::ChainClock;
use crate::config::{BeaconFlavour, Endpoint};
use crate::hosts::{Failure, Host, HostError, HttpRequest};
use crate::observed::{AttesterDuty, DutySchedule, EpochDuties, KeyDuties};

/// Bytes of a Dilithium public key (qrysm `dilithium2.CryptoPublicKeyBytes`).
pub const PUBKEY_BYTES: usize = 2592;

/// A duty answer that is not what the beacon API promises: which field, and what is
/// wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct DutyAnswerError {
    /// The field, as a path in the answer (`data[2].slot`).
    pub field: String,
    pub problem: String,
}

fn bad(field: impl Into<String>, problem: impl Into<String>) -> DutyAnswerError {
    DutyAnswerError {
        field: field.into(),
        problem: problem.into(),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

fn get<'a>(v: &'a Value, field: &str, name: &str) -> Result<&'a Value, DutyAnswerError> {
    v.get(name)
        .ok_or_else(|| bad(format!("{field}.{name}").trim_start_matches('.'), "missing"))
}

/// A decimal string (the beacon API's `Uint64`): digits only, no sign, no number.
fn dec(v: &Value, field: &str) -> Result<u64, DutyAnswerError> {
    match v {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse()
            .map_err(|_| bad(field, format!("{s:?} is past 2^64"))),
        Value::String(s) => Err(bad(field, format!("{s:?} is not a decimal number"))),
        other => Err(bad(
            field,
            format!("{} is not a decimal string", short(other)),
        )),
    }
}

fn boolean(v: &Value, field: &str) -> Result<bool, DutyAnswerError> {
    v.as_bool()
        .ok_or_else(|| bad(field, format!("{} is not true or false", short(v))))
}

fn hex_bytes(v: &Value, field: &str, bytes: usize) -> Result<String, DutyAnswerError> {
    let s = v
        .as_str()
        .ok_or_else(|| bad(field, format!("{} is not a string", short(v))))?;
    let h = s
        .strip_prefix("0x")
        .ok_or_else(|| bad(field, format!("{} does not begin with 0x", short(v))))?;
    if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(field, "is not hexadecimal"));
    }
    if h.len() != bytes * 2 {
        return Err(bad(
            field,
            format!("{} bytes, not {bytes}", h.len() as f64 / 2.0),
        ));
    }
    Ok(s.to_ascii_lowercase())
}

fn data(v: &Value) -> Result<&Vec<Value>, DutyAnswerError> {
    match v.get("data") {
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(bad("data", format!("{} is not an array", short(other)))),
        None => Err(bad("data", "missing")),
    }
}

/// The slot must lie in the epoch asked.
fn slot_in(v: &Value, field: &str, epoch: u64, clock: &ChainClock) -> Result<u64, DutyAnswerError> {
    let slot = dec(v, field)?;
    if clock.epoch_of_slot(slot) != epoch {
        return Err(bad(
            field,
            format!(
                "slot {slot} is in epoch {}, not in epoch {epoch} asked for",
                clock.epoch_of_slot(slot)
            ),
        ));
    }
    Ok(slot)
}

/// The index of a duty: one of the asked, and at most once.
fn asked_index(
    d: &Value,
    at: &str,
    asked: &[u64],
    seen: &mut Vec<u64>,
) -> Result<u64, DutyAnswerError> {
    let field = format!("{at}.validator_index");
    let index = dec(get(d, at, "validator_index")?, &field)?;
    if !asked.contains(&index) {
        return Err(bad(field, format!("{index} was not asked for")));
    }
    if seen.contains(&index) {
        return Err(bad(field, format!("{index} is answered twice")));
    }
    seen.push(index);
    Ok(index)
}

/// `duties/attester/{epoch}`, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttesterAnswer {
    pub dependent_root: String,
    pub execution_optimistic: bool,
    /// (index, pubkey, duty) of every asked key with a committee seat.
    pub duties: Vec<(u64, String, AttesterDuty)>,
}

/// Read an attester duties answer for `epoch` to the indices `asked`.
pub fn parse_attester(
    v: &Value,
    epoch: u64,
    clock: &ChainClock,
    asked: &[u64],
) -> Result<AttesterAnswer, DutyAnswerError> {
    let dependent_root = hex_bytes(get(v, "", "dependent_root")?, "dependent_root", 32)?;
    let execution_optimistic =
        boolean(get(v, "", "execution_optimistic")?, "execution_optimistic")?;
    let mut seen = Vec::new();
    let mut duties = Vec::new();
    for (n, d) in data(v)?.iter().enumerate() {
        let at = format!("data[{n}]");
        let index = asked_index(d, &at, asked, &mut seen)?;
        let num = |name: &str| dec(get(d, &at, name)?, &format!("{at}.{name}"));
        let pubkey = hex_bytes(
            get(d, &at, "pubkey")?,
            &format!("{at}.pubkey"),
            PUBKEY_BYTES,
        )?;
        let slot = slot_in(get(d, &at, "slot")?, &format!("{at}.slot"), epoch, clock)?;
        let duty = AttesterDuty {
            slot,
            committee_index: num("committee_index")?,
            committee_length: num("committee_length")?,
            committees_at_slot: num("committees_at_slot")?,
            validator_committee_index: num("validator_committee_index")?,
        };
        if duty.committee_length == 0 {
            return Err(bad(
                format!("{at}.committee_length"),
                "0: an empty committee",
            ));
        }
        if duty.validator_committee_index >= duty.committee_length {
            return Err(bad(
                format!("{at}.validator_committee_index"),
                format!(
                    "{} is outside a committee of {}",
                    duty.validator_committee_index, duty.committee_length
                ),
            ));
        }
        if duty.committee_index >= duty.committees_at_slot {
            return Err(bad(
                format!("{at}.committee_index"),
                format!(
                    "{} is not below committees_at_slot {}",
                    duty.committee_index, duty.committees_at_slot
                ),
            ));
        }
        duties.push((index, pubkey, duty));
    }
    Ok(AttesterAnswer {
        dependent_root,
        execution_optimistic,
        duties,
    })
}

/// `duties/proposer/{epoch}`, read and kept to our keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposerAnswer {
    pub dependent_root: String,
    pub execution_optimistic: bool,
    /// (index, pubkey, slot) of our keys' proposals.
    pub duties: Vec<(u64, String, u64)>,
}

/// Read a proposer duties answer for `epoch` (every proposer of the epoch, each
/// checked), keeping the proposals of `ours`.
pub fn parse_proposer(
    v: &Value,
    epoch: u64,
    clock: &ChainClock,
    ours: &[u64],
) -> Result<ProposerAnswer, DutyAnswerError> {
    let dependent_root = hex_bytes(get(v, "", "dependent_root")?, "dependent_root", 32)?;
    let execution_optimistic =
        boolean(get(v, "", "execution_optimistic")?, "execution_optimistic")?;
    let mut slots = Vec::new();
    let mut duties = Vec::new();
    for (n, d) in data(v)?.iter().enumerate() {
        let at = format!("data[{n}]");
        let index = dec(
            get(d, &at, "validator_index")?,
            &format!("{at}.validator_index"),
        )?;
        let pubkey = hex_bytes(
            get(d, &at, "pubkey")?,
            &format!("{at}.pubkey"),
            PUBKEY_BYTES,
        )?;
        let slot = slot_in(get(d, &at, "slot")?, &format!("{at}.slot"), epoch, clock)?;
        if slots.contains(&slot) {
            return Err(bad(
                format!("{at}.slot"),
                format!("slot {slot} has two proposers"),
            ));
        }
        slots.push(slot);
        if ours.contains(&index) {
            duties.push((index, pubkey, slot));
        }
    }
    Ok(ProposerAnswer {
        dependent_root,
        execution_optimistic,
        duties,
    })
}

/// `duties/sync/{epoch}`, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncAnswer {
    pub execution_optimistic: bool,
    /// (index, pubkey, positions in the committee) of the asked keys that are members.
    pub duties: Vec<(u64, String, Vec<u64>)>,
}

/// Read a sync-committee duties answer to the indices `asked`.
pub fn parse_sync(v: &Value, asked: &[u64]) -> Result<SyncAnswer, DutyAnswerError> {
    let execution_optimistic =
        boolean(get(v, "", "execution_optimistic")?, "execution_optimistic")?;
    let mut seen = Vec::new();
    let mut duties = Vec::new();
    for (n, d) in data(v)?.iter().enumerate() {
        let at = format!("data[{n}]");
        let index = asked_index(d, &at, asked, &mut seen)?;
        let pubkey = hex_bytes(
            get(d, &at, "pubkey")?,
            &format!("{at}.pubkey"),
            PUBKEY_BYTES,
        )?;
        let field = format!("{at}.validator_sync_committee_indices");
        let positions = match get(d, &at, "validator_sync_committee_indices")? {
            Value::Array(a) if !a.is_empty() => a
                .iter()
                .enumerate()
                .map(|(j, p)| dec(p, &format!("{field}[{j}]")))
                .collect::<Result<Vec<u64>, _>>()?,
            Value::Array(_) => return Err(bad(field, "empty: a member has a position")),
            other => return Err(bad(field, format!("{} is not an array", short(other)))),
        };
        duties.push((index, pubkey, positions));
    }
    Ok(SyncAnswer {
        execution_optimistic,
        duties,
    })
}

/// A parse error as the host's error, naming the endpoint and the field.
fn read<T>(host: &dyn Host, via: &str, r: Result<T, DutyAnswerError>) -> Result<T, HostError> {
    r.map_err(|err| unexpected(host, via, format!("not the duties the API promises: {err}")))
}

/// One duty request's answer: HTTP 200 and JSON, or an error naming the endpoint.
async fn ask(
    host: &dyn Host,
    req: &HttpRequest,
    timeout: Duration,
) -> Result<(String, Value), HostError> {
    let r = host.http(req, timeout).await?;
    let via = format!("{}{}", req.display(), r.route.via_suffix());
    let v: Value = serde_json::from_slice(&r.body).map_err(|e| {
        unexpected(
            host,
            &via,
            format!("HTTP {}: not JSON ({e}): {:?}", r.status, excerpt(&r.body)),
        )
    })?;
    if r.status != 200 {
        let message = v
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| short(&v));
        return Err(unexpected(
            host,
            &via,
            format!("HTTP {}: {message}", r.status),
        ));
    }
    Ok((via, v))
}

/// The duties of `indices` for `epoch` and the one after, from this host's beacon
/// node. `clock` is the chain's timing (`chain_info`), used to check that every slot
/// answered lies in the epoch asked.
pub async fn duty_schedule(
    host: &dyn Host,
    endpoint: &Endpoint,
    flavour: BeaconFlavour,
    clock: &ChainClock,
    epoch: u64,
    indices: &[u64],
    timeout: Duration,
) -> Probe<DutySchedule> {
    let p = flavour.prefix();
    if indices.is_empty() {
        return Err(HostError::new(
            host.role(),
            Failure::Local,
            format!("{p}/validator/duties/…"),
            "no validator indices to ask duties for (validator.indices in the configuration)",
        ));
    }
    let body = json!(indices.iter().map(u64::to_string).collect::<Vec<_>>());
    let mut schedule = DutySchedule {
        epochs: Vec::new(),
        keys: indices
            .iter()
            .map(|&i| (i, KeyDuties::default()))
            .collect::<BTreeMap<_, _>>(),
    };
    let mut vias = Vec::new();
    for e in [epoch, epoch.saturating_add(1)] {
        let req = HttpRequest::post_json(
            endpoint,
            format!("{p}/validator/duties/attester/{e}"),
            &body,
        );
        let (via, v) = ask(host, &req, timeout).await?;
        let att = read(host, &via, parse_attester(&v, e, clock, indices))?;
        vias.push(via);
        let req = HttpRequest::get(endpoint, format!("{p}/validator/duties/proposer/{e}"));
        let (via, v) = ask(host, &req, timeout).await?;
        let prop = read(host, &via, parse_proposer(&v, e, clock, indices))?;
        vias.push(via);
        let req = HttpRequest::post_json(endpoint, format!("{p}/validator/duties/sync/{e}"), &body);
        let (via, v) = ask(host, &req, timeout).await?;
        let sync = read(host, &via, parse_sync(&v, indices))?;
        vias.push(via);
        for (i, pk, d) in att.duties {
            let k = schedule.keys.entry(i).or_default();
            k.pubkey.get_or_insert(pk);
            k.attester.insert(e, d);
        }
        for (i, pk, slot) in prop.duties {
            let k = schedule.keys.entry(i).or_default();
            k.pubkey.get_or_insert(pk);
            k.proposals.push(slot);
        }
        for (i, pk, positions) in sync.duties {
            let k = schedule.keys.entry(i).or_default();
            k.pubkey.get_or_insert(pk);
            k.sync_committee.insert(e, positions);
        }
        schedule.epochs.push(EpochDuties {
            epoch: e,
            attester_dependent_root: att.dependent_root,
            proposer_dependent_root: prop.dependent_root,
            execution_optimistic: att.execution_optimistic
                || prop.execution_optimistic
                || sync.execution_optimistic,
        });
    }
    for k in schedule.keys.values_mut() {
        k.proposals.sort_unstable();
    }
    Ok(Observed::new(host, vias.join("; "), schedule))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock() -> ChainClock {
        ChainClock::new(1_000, 2, 8).unwrap()
    }

    fn pk(i: u64) -> String {
        format!("0x{}", format!("{i:02x}").repeat(PUBKEY_BYTES))
    }

    fn root() -> String {
        format!("0x{}", "ab".repeat(32))
    }

    fn attester(epoch: u64) -> Value {
        json!({"dependent_root": root(), "execution_optimistic": false, "data": [
            {"pubkey": pk(0), "validator_index": "0", "committee_index": "0", "committee_length": "2",
             "committees_at_slot": "1", "validator_committee_index": "0", "slot": (epoch * 8 + 3).to_string()},
            {"pubkey": pk(1), "validator_index": "1", "committee_index": "0", "committee_length": "2",
             "committees_at_slot": "1", "validator_committee_index": "1", "slot": (epoch * 8 + 3).to_string()},
        ]})
    }

    #[test]
    fn the_real_shapes_are_read() {
        let a = parse_attester(&attester(5), 5, &clock(), &[0, 1, 2]).unwrap();
        assert_eq!(a.dependent_root, root());
        assert!(!a.execution_optimistic);
        assert_eq!(
            a.duties.len(),
            2,
            "a key without a seat is left out, as qrysm does"
        );
        assert_eq!(a.duties[1].0, 1);
        assert_eq!(a.duties[1].2.slot, 43);
        assert_eq!(a.duties[1].2.validator_committee_index, 1);

        let p = json!({"dependent_root": root(), "execution_optimistic": true, "data": [
            {"pubkey": pk(7), "validator_index": "7", "slot": "40"},
            {"pubkey": pk(1), "validator_index": "1", "slot": "41"},
        ]});
        let p = parse_proposer(&p, 5, &clock(), &[0, 1]).unwrap();
        assert!(p.execution_optimistic);
        assert_eq!(p.duties, vec![(1, pk(1), 41)], "only ours");

        let s = json!({"execution_optimistic": false, "data": [
            {"pubkey": pk(2), "validator_index": "2", "validator_sync_committee_indices": ["3", "17"]},
        ]});
        let s = parse_sync(&s, &[0, 2]).unwrap();
        assert_eq!(s.duties, vec![(2, pk(2), vec![3, 17])]);
    }

    fn attester_error(edit: impl FnOnce(&mut Value)) -> DutyAnswerError {
        let mut v = attester(5);
        edit(&mut v);
        parse_attester(&v, 5, &clock(), &[0, 1]).unwrap_err()
    }

    #[test]
    fn bad_attester_answers_name_the_field() {
        type Edit = Box<dyn FnOnce(&mut Value)>;
        let cases: Vec<(Edit, &str, &str)> = vec![
            (
                Box::new(|v| v["data"][1]["slot"] = json!(43)),
                "data[1].slot",
                "not a decimal string",
            ),
            (
                Box::new(|v| v["data"][0]["slot"] = json!("+43")),
                "data[0].slot",
                "not a decimal number",
            ),
            (
                Box::new(|v| v["data"][0]["slot"] = json!("99")),
                "data[0].slot",
                "not in epoch 5",
            ),
            (
                Box::new(|v| v["data"][0]["slot"] = json!("99999999999999999999")),
                "data[0].slot",
                "past 2^64",
            ),
            (
                Box::new(|v| v["data"][1]["validator_index"] = json!("9")),
                "data[1].validator_index",
                "not asked",
            ),
            (
                Box::new(|v| v["data"][1]["validator_index"] = json!("0")),
                "data[1].validator_index",
                "twice",
            ),
            (
                Box::new(|v| {
                    v["data"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("committee_length");
                }),
                "data[0].committee_length",
                "missing",
            ),
            (
                Box::new(|v| v["data"][0]["committee_length"] = json!("0")),
                "data[0].committee_length",
                "empty committee",
            ),
            (
                Box::new(|v| v["data"][0]["validator_committee_index"] = json!("2")),
                "data[0].validator_committee_index",
                "outside",
            ),
            (
                Box::new(|v| v["data"][0]["committee_index"] = json!("1")),
                "data[0].committee_index",
                "committees_at_slot",
            ),
            (
                Box::new(|v| v["data"][0]["pubkey"] = json!("0x1234")),
                "data[0].pubkey",
                "not 2592",
            ),
            (
                Box::new(|v| v["dependent_root"] = json!("ab")),
                "dependent_root",
                "0x",
            ),
            (
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("dependent_root");
                }),
                "dependent_root",
                "missing",
            ),
            (
                Box::new(|v| v["execution_optimistic"] = json!("false")),
                "execution_optimistic",
                "true or false",
            ),
            (Box::new(|v| v["data"] = json!({})), "data", "not an array"),
        ];
        for (edit, field, words) in cases {
            let e = attester_error(edit);
            assert_eq!(e.field, field, "{e}");
            assert!(e.problem.contains(words), "{field}: {e}");
        }
    }

    #[test]
    fn bad_proposer_and_sync_answers_name_the_field() {
        let p = json!({"dependent_root": root(), "execution_optimistic": false, "data": [
            {"pubkey": pk(7), "validator_index": "7", "slot": "40"},
            {"pubkey": pk(8), "validator_index": "8", "slot": "40"},
        ]});
        let e = parse_proposer(&p, 5, &clock(), &[0]).unwrap_err();
        assert_eq!(e.field, "data[1].slot");
        assert!(e.problem.contains("two proposers"), "{e}");
        let p = json!({"dependent_root": root(), "execution_optimistic": false, "data": [
            {"pubkey": pk(7), "validator_index": 7, "slot": "40"},
        ]});
        let e = parse_proposer(&p, 5, &clock(), &[0]).unwrap_err();
        assert_eq!(
            e.field, "data[0].validator_index",
            "a stranger's entry is checked too"
        );

        let s = json!({"execution_optimistic": false, "data": [
            {"pubkey": pk(2), "validator_index": "2", "validator_sync_committee_indices": []},
        ]});
        let e = parse_sync(&s, &[2]).unwrap_err();
        assert_eq!(e.field, "data[0].validator_sync_committee_indices");
        let s = json!({"execution_optimistic": false, "data": [
            {"pubkey": pk(2), "validator_index": "2", "validator_sync_committee_indices": [3]},
        ]});
        let e = parse_sync(&s, &[2]).unwrap_err();
        assert_eq!(e.field, "data[0].validator_sync_committee_indices[0]");
        let s = json!({"data": []});
        assert_eq!(
            parse_sync(&s, &[2]).unwrap_err().field,
            "execution_optimistic"
        );
    }
}
