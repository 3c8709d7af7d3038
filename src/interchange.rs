//! The EIP-3076 slashing-protection interchange file (`slashing_protection.json`), as
//! `qrysm-validator slashing-protection-history export` writes it: checked before it
//! reaches the backup, and read for each key's last signed target epoch.

use std::collections::BTreeMap;
use std::io::Read;

use serde::Deserialize;

use crate::validator_db::PUBKEY_LEN;

/// What a valid interchange file holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InterchangeReport {
    pub genesis_validators_root: String,
    pub keys: usize,
    pub attestations: usize,
    pub blocks: usize,
    /// Each key's highest signed target epoch (None: it never attested).
    pub last_target: BTreeMap<String, Option<u64>>,
}

impl InterchangeReport {
    pub fn summary(&self) -> String {
        let targets: Vec<u64> = self.last_target.values().flatten().copied().collect();
        let range = match (targets.iter().min(), targets.iter().max()) {
            (Some(a), Some(b)) if a == b => format!("last signed target epoch {a}"),
            (Some(a), Some(b)) => format!("last signed target epochs {a}..={b}"),
            _ => "no attestation signed".into(),
        };
        format!(
            "EIP-3076 v5: {} key(s), {} attestation(s), {} block(s); {range}",
            self.keys, self.attestations, self.blocks
        )
    }
}

#[derive(Deserialize)]
struct Doc {
    metadata: Metadata,
    data: Vec<KeyHistory>,
}

#[derive(Deserialize)]
struct Metadata {
    interchange_format_version: String,
    genesis_validators_root: String,
}

#[derive(Deserialize)]
struct KeyHistory {
    pubkey: String,
    #[serde(default)]
    signed_blocks: Vec<Block>,
    #[serde(default)]
    signed_attestations: Vec<Att>,
}

#[derive(Deserialize)]
struct Block {
    slot: String,
}

#[derive(Deserialize)]
struct Att {
    source_epoch: String,
    target_epoch: String,
}

fn is_hex(s: &str, bytes: Option<usize>) -> bool {
    let Some(h) = s.strip_prefix("0x") else {
        return false;
    };
    !h.is_empty()
        && h.len() % 2 == 0
        && h.bytes().all(|b| b.is_ascii_hexdigit())
        && bytes.is_none_or(|n| h.len() == n * 2)
}

/// A decimal as qrysm reads it (Go's `strconv.ParseUint(s, 10, 64)`): digits only,
/// no sign or space (Rust's `parse` would take "+5").
fn epoch(s: &str, what: &str, key: usize) -> Result<u64, String> {
    s.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| s.parse::<u64>().ok())
        .flatten()
        .ok_or_else(|| format!("data[{key}]: {what} {s:?} is not a number"))
}

/// Check an interchange file: version "5", a 32-byte `genesis_validators_root` (equal
/// to `expect_root` when given), at least one key, hex public keys of exactly
/// [`PUBKEY_LEN`] bytes (qrysm's import refuses any other: "public key is not correct,
/// 2592-byte length"), numeric epochs and slots with source <= target; at most
/// `max_bytes` read.
pub fn validate(
    reader: impl Read,
    max_bytes: u64,
    expect_root: Option<&str>,
) -> Result<InterchangeReport, String> {
    let mut limited = reader.take(max_bytes + 1);
    let mut text = Vec::new();
    limited
        .read_to_end(&mut text)
        .map_err(|e| format!("unreadable: {e}"))?;
    if text.len() as u64 > max_bytes {
        return Err(format!("larger than {max_bytes} bytes"));
    }
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err("empty".into());
    }
    let doc: Doc = serde_json::from_slice(&text).map_err(|e| format!("not EIP-3076 JSON: {e}"))?;
    if doc.metadata.interchange_format_version != "5" {
        return Err(format!(
            "interchange_format_version {:?}, not \"5\"",
            doc.metadata.interchange_format_version
        ));
    }
    let root = doc.metadata.genesis_validators_root.to_lowercase();
    if !is_hex(&root, Some(32)) {
        return Err(format!(
            "genesis_validators_root {root:?} is not 32 bytes of hex"
        ));
    }
    if let Some(want) = expect_root
        && want.to_lowercase() != root
    {
        return Err(format!(
            "genesis_validators_root {root} is not the chain's {want}: a history of another chain"
        ));
    }
    if doc.data.is_empty() {
        return Err("no key in it (data is empty)".into());
    }
    let mut report = InterchangeReport {
        genesis_validators_root: root,
        keys: doc.data.len(),
        attestations: 0,
        blocks: 0,
        last_target: BTreeMap::new(),
    };
    for (i, k) in doc.data.iter().enumerate() {
        if !is_hex(&k.pubkey, None) {
            return Err(format!("data[{i}]: pubkey is not hex"));
        }
        let len = (k.pubkey.len() - 2) / 2;
        if len != PUBKEY_LEN {
            return Err(format!(
                "data[{i}]: pubkey is {len} bytes, not {PUBKEY_LEN} (qrysm's import refuses it: \"public key is not correct, {PUBKEY_LEN}-byte length\")"
            ));
        }
        let mut last = None;
        for a in &k.signed_attestations {
            let s = epoch(&a.source_epoch, "source_epoch", i)?;
            let t = epoch(&a.target_epoch, "target_epoch", i)?;
            if s > t {
                return Err(format!(
                    "data[{i}]: source_epoch {s} after target_epoch {t}"
                ));
            }
            last = last.max(Some(t));
        }
        for b in &k.signed_blocks {
            epoch(&b.slot, "slot", i)?;
        }
        report.attestations += k.signed_attestations.len();
        report.blocks += k.signed_blocks.len();
        let pk = k.pubkey.to_lowercase();
        let prev = report.last_target.insert(pk.clone(), last);
        if let Some(p) = prev {
            report.last_target.insert(pk, p.max(last));
        }
    }
    Ok(report)
}

/// A minimal interchange file (EIP-3076's minimal form): per key one attestation
/// (`source`, `target`) and one block (`slot`), the highest each key may be taken to
/// have signed. A client that imports it refuses any attestation whose target is at
/// or below `target` or whose source is below `source`, and any block at or below
/// `slot`. Tab-indented as qrysm writes its own.
pub fn minimal<'a>(
    genesis_validators_root: &str,
    pubkeys: impl IntoIterator<Item = &'a str>,
    source: u64,
    target: u64,
    slot: u64,
) -> Vec<u8> {
    let data: Vec<serde_json::Value> = pubkeys
        .into_iter()
        .map(|pk| {
            serde_json::json!({
                "pubkey": pk,
                "signed_blocks": [{"slot": slot.to_string()}],
                "signed_attestations": [{
                    "source_epoch": source.to_string(),
                    "target_epoch": target.to_string(),
                }],
            })
        })
        .collect();
    let doc = serde_json::json!({
        "metadata": {
            "interchange_format_version": "5",
            "genesis_validators_root": genesis_validators_root,
        },
        "data": data,
    });
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(&doc, &mut ser).expect("in memory");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(version: &str, root: &str, data: &str) -> String {
        format!(
            r#"{{"metadata":{{"interchange_format_version":"{version}","genesis_validators_root":"{root}"}},"data":{data}}}"#
        )
    }

    const ROOT: &str = "0xabababababababababababababababababababababababababababababababab";

    /// A hex public key of `bytes` bytes, each `b`.
    fn key(b: u8, bytes: usize) -> String {
        format!("0x{}", format!("{b:02x}").repeat(bytes))
    }

    #[test]
    fn a_watermark_is_a_valid_minimal_file_at_the_given_epochs() {
        let (a, b) = (key(0xaa, PUBKEY_LEN), key(0xbb, PUBKEY_LEN));
        let w = minimal(ROOT, [a.as_str(), b.as_str()], 40, 41, 5_250);
        assert!(w.starts_with(b"{\n\t\""), "tab-indented as qrysm writes it");
        let r = validate(&w[..], 1 << 20, Some(ROOT)).unwrap();
        assert_eq!((r.keys, r.attestations, r.blocks), (2, 2, 2));
        assert_eq!(r.last_target[&a], Some(41));
        assert_eq!(r.last_target[&b], Some(41));
        let v: serde_json::Value = serde_json::from_slice(&w).unwrap();
        assert_eq!(v["data"][0]["signed_attestations"][0]["source_epoch"], "40");
        assert_eq!(v["data"][1]["signed_blocks"][0]["slot"], "5250");
        // Another chain's file is refused before it can reach a backup.
        assert!(validate(&w[..], 1 << 20, Some(&ROOT.replace("ab", "cd"))).is_err());
    }

    #[test]
    fn a_valid_file_gives_each_keys_last_target() {
        let (a, b) = (key(0xaa, PUBKEY_LEN), key(0xbb, PUBKEY_LEN));
        let d = doc(
            "5",
            ROOT,
            &format!(
                r#"[{{"pubkey":"{a}","signed_blocks":[{{"slot":"7"}}],"signed_attestations":[{{"source_epoch":"1","target_epoch":"2"}},{{"source_epoch":"2","target_epoch":"5"}}]}},{{"pubkey":"{b}","signed_blocks":[],"signed_attestations":[]}}]"#
            ),
        );
        let r = validate(d.as_bytes(), 1 << 20, Some(ROOT)).unwrap();
        assert_eq!(r.keys, 2);
        assert_eq!(r.attestations, 2);
        assert_eq!(r.blocks, 1);
        assert_eq!(r.last_target[&a], Some(5));
        assert_eq!(r.last_target[&b], None);
        assert!(
            r.summary().contains("last signed target epoch 5"),
            "{}",
            r.summary()
        );
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let k = key(0xaa, PUBKEY_LEN);
        let ok_data = &format!(
            r#"[{{"pubkey":"{k}","signed_attestations":[{{"source_epoch":"1","target_epoch":"2"}}]}}]"#
        );
        let cases = [
            ("".to_string(), "empty"),
            ("{".to_string(), "not EIP-3076 JSON"),
            (doc("4", ROOT, ok_data), "not \"5\""),
            (doc("5", "0x12", ok_data), "not 32 bytes"),
            (doc("5", ROOT, "[]"), "data is empty"),
            (
                doc("5", ROOT, r#"[{"pubkey":"zz","signed_attestations":[]}]"#),
                "pubkey is not hex",
            ),
            (
                doc(
                    "5",
                    ROOT,
                    &format!(
                        r#"[{{"pubkey":"{k}","signed_attestations":[{{"source_epoch":"3","target_epoch":"2"}}]}}]"#
                    ),
                ),
                "after target_epoch",
            ),
            (
                doc(
                    "5",
                    ROOT,
                    &format!(
                        r#"[{{"pubkey":"{k}","signed_attestations":[{{"source_epoch":"x","target_epoch":"2"}}]}}]"#
                    ),
                ),
                "is not a number",
            ),
            (
                doc(
                    "5",
                    ROOT,
                    &format!(
                        r#"[{{"pubkey":"{k}","signed_attestations":[{{"source_epoch":"1","target_epoch":"+2"}}]}}]"#
                    ),
                ),
                "target_epoch \"+2\" is not a number",
            ),
        ];
        for (text, words) in cases {
            let e = validate(text.as_bytes(), 1 << 20, None).unwrap_err();
            assert!(e.contains(words), "{text:?}: {e}");
        }
        let other = "0x".to_string() + &"cd".repeat(32);
        let e = validate(doc("5", ROOT, ok_data).as_bytes(), 1 << 20, Some(&other)).unwrap_err();
        assert!(e.contains("another chain"), "{e}");
        let e = validate(doc("5", ROOT, ok_data).as_bytes(), 10, None).unwrap_err();
        assert!(e.contains("larger than"), "{e}");
    }

    #[test]
    fn keys_qrysm_would_refuse_are_refused_naming_position_and_length() {
        // qrysm's `PubKeyFromHex` (validator/slashing-protection-history/helpers.go)
        // refuses any key that is not 2,592 bytes: such a file must never reach a backup.
        for bytes in [1, 48, PUBKEY_LEN - 1, PUBKEY_LEN + 1] {
            let data = format!(
                r#"[{{"pubkey":"{}","signed_attestations":[]}},{{"pubkey":"{}","signed_attestations":[]}}]"#,
                key(0xaa, PUBKEY_LEN),
                key(0xbb, bytes)
            );
            let e = validate(doc("5", ROOT, &data).as_bytes(), 1 << 20, None).unwrap_err();
            assert!(
                e.contains(&format!("data[1]: pubkey is {bytes} bytes, not 2592")),
                "{bytes}: {e}"
            );
        }
        let data = format!(r#"[{{"pubkey":"{}"}}]"#, key(0xcc, PUBKEY_LEN));
        assert!(validate(doc("5", ROOT, &data).as_bytes(), 1 << 20, None).is_ok());
    }
}
