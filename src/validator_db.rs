//! qrysm's slashing-protection history (`<datadir>/validator.db`), read with
//! [`crate::bolt`] and checked against qrysm's schema (`validator/db/kv`):
//!
//! - `pubkeys-bucket`: one bucket per raw 2,592-byte Dilithium public key, holding
//!   `att-target-epochs-bucket` (big-endian u64 target → its sources, concatenated
//!   big-endian u64s), `att-source-epochs-bucket` (source → targets) and
//!   `att-signing-roots-bucket` (target → 32-byte signing root);
//! - `lowest-signed-source-bucket`, `lowest-signed-target-bucket`: pubkey → u64;
//! - `proposal-history-bucket-interchange`: one bucket per pubkey, slot → root;
//!   `lowest-signed-proposals-bucket`, `highest-signed-proposals-bucket`: pubkey →
//!   slot;
//! - `genesis-info-bucket`: `genesis-val-root` → the genesis validators root.
//!
//! [`summarise`] streams (bounded memory on a 1 GiB file); [`read_history`] and
//! [`write_history`] are the simulator's full model, written as a genuine bbolt
//! file that the real library opens, checks and reads.

use std::collections::BTreeMap;
use std::path::Path;

use crate::bolt::{self, BoltError, Bucket, Db, ReadAt, Value, WriteBucket};

/// A Dilithium (ML-DSA-44) public key's length in bytes.
pub const PUBKEY_LEN: usize = 2592;
pub const ROOT_LEN: usize = 32;

pub const GENESIS_INFO_BUCKET: &[u8] = b"genesis-info-bucket";
pub const GENESIS_VALIDATORS_ROOT_KEY: &[u8] = b"genesis-val-root";
pub const HISTORIC_PROPOSALS_BUCKET: &[u8] = b"proposal-history-bucket-interchange";
pub const DEPRECATED_ATTESTATION_HISTORY_BUCKET: &[u8] = b"attestation-history-bucket-interchange";
pub const LOWEST_SIGNED_SOURCE_BUCKET: &[u8] = b"lowest-signed-source-bucket";
pub const LOWEST_SIGNED_TARGET_BUCKET: &[u8] = b"lowest-signed-target-bucket";
pub const LOWEST_SIGNED_PROPOSALS_BUCKET: &[u8] = b"lowest-signed-proposals-bucket";
pub const HIGHEST_SIGNED_PROPOSALS_BUCKET: &[u8] = b"highest-signed-proposals-bucket";
pub const SLASHABLE_PUBLIC_KEYS_BUCKET: &[u8] = b"slashable-public-keys";
pub const PUBKEYS_BUCKET: &[u8] = b"pubkeys-bucket";
pub const ATTESTATION_SIGNING_ROOTS_BUCKET: &[u8] = b"att-signing-roots-bucket";
pub const ATTESTATION_SOURCE_EPOCHS_BUCKET: &[u8] = b"att-source-epochs-bucket";
pub const ATTESTATION_TARGET_EPOCHS_BUCKET: &[u8] = b"att-target-epochs-bucket";
pub const MIGRATIONS_BUCKET: &[u8] = b"migrations";
pub const GRAFFITI_BUCKET: &[u8] = b"graffiti";
pub const PROPOSER_SETTINGS_BUCKET: &[u8] = b"proposer-settings-bucket";

/// The buckets qrysm's `NewKVStore` creates at every open.
pub const KV_STORE_BUCKETS: [&[u8]; 12] = [
    GENESIS_INFO_BUCKET,
    DEPRECATED_ATTESTATION_HISTORY_BUCKET,
    HISTORIC_PROPOSALS_BUCKET,
    LOWEST_SIGNED_SOURCE_BUCKET,
    LOWEST_SIGNED_TARGET_BUCKET,
    LOWEST_SIGNED_PROPOSALS_BUCKET,
    HIGHEST_SIGNED_PROPOSALS_BUCKET,
    SLASHABLE_PUBLIC_KEYS_BUCKET,
    PUBKEYS_BUCKET,
    MIGRATIONS_BUCKET,
    GRAFFITI_BUCKET,
    PROPOSER_SETTINGS_BUCKET,
];

/// What is wrong with a history: its bbolt structure, or qrysm's schema in it.
#[derive(Debug, thiserror::Error)]
pub enum ValidatorDbError {
    #[error(transparent)]
    Bolt(#[from] BoltError),
    #[error(
        "{file}: not a qrysm slashing-protection DB: it has no bucket `pubkeys-bucket` (top-level buckets: {found})"
    )]
    NotQrysm { file: String, found: String },
    #[error("{file}: bucket {bucket}: key {key}: {problem}")]
    Schema {
        file: String,
        bucket: String,
        key: String,
        problem: String,
    },
}

/// One key's history, in short.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeySummary {
    /// `0x` and the raw key's hex.
    pub pubkey: String,
    /// (source, target) records in `att-target-epochs-bucket`.
    pub attestations: u64,
    /// The highest source signed.
    pub last_source: Option<u64>,
    /// The highest target signed: the last key of `att-target-epochs-bucket`.
    pub last_target: Option<u64>,
    /// The highest slot proposed (`highest-signed-proposals-bucket`, or the
    /// proposal history's last slot when higher).
    pub highest_proposal: Option<u64>,
}

/// A history, in short.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DbSummary {
    /// `0x` and hex, when stored.
    pub genesis_validators_root: Option<String>,
    /// Every key named anywhere in the schema, in key order.
    pub keys: Vec<KeySummary>,
    pub page_size: u32,
    pub txid: u64,
    pub file_size: u64,
    /// What was tolerated (one bad meta page, a target without a signing root, …).
    pub warnings: Vec<String>,
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * b.len());
    s.push_str("0x");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

fn short(hex: &str) -> String {
    if hex.len() > 10 {
        format!("{}…", &hex[..10])
    } else {
        hex.to_string()
    }
}

impl DbSummary {
    /// In operator words: "2 keys, last target epochs 0x1a2b3c4d…: 41, 0x5e6f…: none;
    /// genesis root 0x4b4b4b4b…".
    pub fn summary(&self) -> String {
        let mut s = match self.keys.len() {
            0 => "no keys (the DB holds no signing history)".to_string(),
            n => {
                let each: Vec<String> = self
                    .keys
                    .iter()
                    .map(|k| {
                        let t = k.last_target.map_or("none".to_string(), |t| t.to_string());
                        format!("{}: {t}", short(&k.pubkey))
                    })
                    .collect();
                format!(
                    "{n} key{}, last target epochs {}",
                    if n == 1 { "" } else { "s" },
                    each.join(", ")
                )
            }
        };
        match &self.genesis_validators_root {
            Some(g) => s.push_str(&format!("; genesis root {}", short(g))),
            None => s.push_str("; no genesis root"),
        }
        if !self.warnings.is_empty() {
            s.push_str(&format!(
                "; {} warning{}",
                self.warnings.len(),
                if self.warnings.len() == 1 { "" } else { "s" }
            ));
        }
        s
    }
}

/// One key's full history, as qrysm stores it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyHistory {
    /// target → (its sources in stored order, its signing root).
    pub attestations: BTreeMap<u64, (Vec<u64>, [u8; 32])>,
    /// slot → signing root.
    pub proposals: BTreeMap<u64, [u8; 32]>,
    pub lowest_signed_source: Option<u64>,
    pub lowest_signed_target: Option<u64>,
    pub lowest_signed_proposal: Option<u64>,
    pub highest_signed_proposal: Option<u64>,
}

impl KeyHistory {
    /// Records an attestation as qrysm's `saveAttestationRecords` does.
    pub fn attest(&mut self, source: u64, target: u64, root: [u8; 32]) {
        let e = self.attestations.entry(target).or_default();
        e.0.push(source);
        e.1 = root;
        if self.lowest_signed_source.is_none_or(|l| source < l) {
            self.lowest_signed_source = Some(source);
        }
        if self.lowest_signed_target.is_none_or(|l| target < l) {
            self.lowest_signed_target = Some(target);
        }
    }

    /// Records a proposal as qrysm's `SaveProposalHistoryForSlot` does (without its
    /// pruning of slots older than the weak-subjectivity period).
    pub fn propose(&mut self, slot: u64, root: [u8; 32]) {
        self.proposals.insert(slot, root);
        if self.lowest_signed_proposal.is_none_or(|l| slot < l) {
            self.lowest_signed_proposal = Some(slot);
        }
        if self.highest_signed_proposal.is_none_or(|h| slot > h) {
            self.highest_signed_proposal = Some(slot);
        }
    }
}

/// A whole history in memory (the simulator's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QrysmHistory {
    pub genesis_root: Option<[u8; 32]>,
    /// raw 2,592-byte public key → its history.
    pub keys: BTreeMap<Vec<u8>, KeyHistory>,
}

struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn schema(&self, bucket: &str, key: &[u8], problem: impl Into<String>) -> ValidatorDbError {
        ValidatorDbError::Schema {
            file: self.file.to_string(),
            bucket: bucket.to_string(),
            key: bolt::key_label(key),
            problem: problem.into(),
        }
    }

    fn u64_key(&self, b: &Bucket<'_, impl ReadAt>, key: &[u8]) -> Result<u64, ValidatorDbError> {
        let a: [u8; 8] = key.try_into().map_err(|_| {
            self.schema(
                b.name(),
                key,
                format!("an epoch or slot key of {} bytes, not 8", key.len()),
            )
        })?;
        Ok(u64::from_be_bytes(a))
    }

    fn u64s(
        &self,
        b: &Bucket<'_, impl ReadAt>,
        key: &[u8],
        v: &[u8],
    ) -> Result<Vec<u64>, ValidatorDbError> {
        if v.is_empty() || !v.len().is_multiple_of(8) {
            return Err(self.schema(
                b.name(),
                key,
                format!(
                    "a list of epochs of {} bytes, not a non-empty multiple of 8",
                    v.len()
                ),
            ));
        }
        Ok(v.chunks_exact(8)
            .map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()))
            .collect())
    }

    fn root(
        &self,
        b: &Bucket<'_, impl ReadAt>,
        key: &[u8],
        v: &[u8],
    ) -> Result<[u8; 32], ValidatorDbError> {
        v.try_into().map_err(|_| {
            self.schema(
                b.name(),
                key,
                format!("a signing root of {} bytes, not {ROOT_LEN}", v.len()),
            )
        })
    }

    fn pubkey(&self, b: &Bucket<'_, impl ReadAt>, key: &[u8]) -> Result<(), ValidatorDbError> {
        if key.len() != PUBKEY_LEN {
            return Err(self.schema(
                b.name(),
                key,
                format!("a public key of {} bytes, not {PUBKEY_LEN}", key.len()),
            ));
        }
        Ok(())
    }
}

/// Calls `f` for each entry; values must be (`want_bucket`) buckets or bytes.
fn each<'a, R: ReadAt>(
    cx: &Ctx<'_>,
    b: &Bucket<'a, R>,
    want_bucket: bool,
    mut f: impl FnMut(&[u8], Value<'a, R>) -> Result<(), ValidatorDbError>,
) -> Result<(), ValidatorDbError> {
    for e in b.entries() {
        let e = e?;
        match (&e.value, want_bucket) {
            (Value::Bucket(_), false) => {
                return Err(cx.schema(b.name(), &e.key, "a nested bucket where a value belongs"));
            }
            (Value::Data(_), true) => {
                return Err(cx.schema(b.name(), &e.key, "a value where a bucket belongs"));
            }
            _ => {}
        }
        f(&e.key, e.value)?;
    }
    Ok(())
}

fn data(v: Value<'_, impl ReadAt>) -> Vec<u8> {
    match v {
        Value::Data(d) => d,
        Value::Bucket(_) => Vec::new(),
    }
}

/// The genesis root, the `pubkeys-bucket` and the warnings so far.
type Top<'a, R> = (Option<[u8; 32]>, Bucket<'a, R>, Vec<String>);

/// The top level: the genesis root and the `pubkeys-bucket` (required).
fn top<'a, R: ReadAt>(cx: &Ctx<'_>, db: &'a Db<R>) -> Result<Top<'a, R>, ValidatorDbError> {
    let root = db.root();
    let mut warnings: Vec<String> = db.warnings().to_vec();
    let Some(pubkeys) = root.bucket(PUBKEYS_BUCKET)? else {
        let mut found = Vec::new();
        for e in root.entries().take(20) {
            found.push(bolt::key_label(&e?.key));
        }
        return Err(ValidatorDbError::NotQrysm {
            file: cx.file.to_string(),
            found: if found.is_empty() {
                "none".into()
            } else {
                found.join(", ")
            },
        });
    };
    let genesis = match root.bucket(GENESIS_INFO_BUCKET)? {
        None => {
            warnings.push(format!(
                "{}: no bucket genesis-info-bucket (qrysm makes it at every start)",
                cx.file
            ));
            None
        }
        Some(g) => match g.get(GENESIS_VALIDATORS_ROOT_KEY)? {
            None => None,
            Some(v) if v.is_empty() => None,
            Some(v) => Some(v.as_slice().try_into().map_err(|_| {
                cx.schema(
                    "genesis-info-bucket",
                    GENESIS_VALIDATORS_ROOT_KEY,
                    format!("a genesis validators root of {} bytes, not 32", v.len()),
                )
            })?),
        },
    };
    Ok((genesis, pubkeys, warnings))
}

#[derive(Default)]
struct Acc {
    attestations: u64,
    last_source: Option<u64>,
    last_target: Option<u64>,
    highest_proposal: Option<u64>,
}

/// Reads one pubkey → u64 bucket (`lowest-signed-*`, `highest-signed-proposals`).
fn key_u64s<R: ReadAt>(
    cx: &Ctx<'_>,
    root: &Bucket<'_, R>,
    name: &[u8],
    mut f: impl FnMut(&[u8], u64),
) -> Result<(), ValidatorDbError> {
    let Some(b) = root.bucket(name)? else {
        return Ok(());
    };
    each(cx, &b, false, |k, v| {
        cx.pubkey(&b, k)?;
        let v = data(v);
        let a: [u8; 8] = v.as_slice().try_into().map_err(|_| {
            cx.schema(
                b.name(),
                k,
                format!("an epoch or slot of {} bytes, not 8", v.len()),
            )
        })?;
        f(k, u64::from_be_bytes(a));
        Ok(())
    })
}

fn summarise_db<R: ReadAt>(db: &Db<R>) -> Result<DbSummary, ValidatorDbError> {
    let cx = Ctx { file: db.name() };
    let (genesis, pubkeys, mut warnings) = top(&cx, db)?;
    let mut keys: BTreeMap<Vec<u8>, Acc> = BTreeMap::new();
    each(&cx, &pubkeys, true, |pk, v| {
        cx.pubkey(&pubkeys, pk)?;
        let Value::Bucket(kb) = v else { return Ok(()) };
        let acc = keys.entry(pk.to_vec()).or_default();
        let mut targets = 0u64;
        for e in kb.entries() {
            let e = e?;
            let Value::Bucket(b) = e.value else {
                warnings.push(format!(
                    "{}: bucket {}: an unexpected value at key {}",
                    cx.file,
                    kb.name(),
                    bolt::key_label(&e.key)
                ));
                continue;
            };
            match e.key.as_slice() {
                ATTESTATION_TARGET_EPOCHS_BUCKET => each(&cx, &b, false, |k, v| {
                    let t = cx.u64_key(&b, k)?;
                    let sources = cx.u64s(&b, k, &data(v))?;
                    acc.attestations += sources.len() as u64;
                    acc.last_source = acc.last_source.max(sources.iter().copied().max());
                    acc.last_target = Some(t);
                    targets += 1;
                    Ok(())
                })?,
                ATTESTATION_SOURCE_EPOCHS_BUCKET => each(&cx, &b, false, |k, v| {
                    cx.u64_key(&b, k)?;
                    cx.u64s(&b, k, &data(v))?;
                    Ok(())
                })?,
                ATTESTATION_SIGNING_ROOTS_BUCKET => {
                    let mut roots = 0u64;
                    each(&cx, &b, false, |k, v| {
                        cx.u64_key(&b, k)?;
                        cx.root(&b, k, &data(v))?;
                        roots += 1;
                        Ok(())
                    })?;
                    if roots != targets && targets > 0 {
                        warnings.push(format!(
                            "{}: bucket {}: {roots} signing roots for {targets} target epochs",
                            cx.file,
                            b.name()
                        ));
                    }
                }
                other => warnings.push(format!(
                    "{}: bucket {}: an unexpected bucket {}",
                    cx.file,
                    kb.name(),
                    bolt::key_label(other)
                )),
            }
        }
        Ok(())
    })?;
    let root = db.root();
    if let Some(hist) = root.bucket(HISTORIC_PROPOSALS_BUCKET)? {
        each(&cx, &hist, true, |pk, v| {
            cx.pubkey(&hist, pk)?;
            let Value::Bucket(b) = v else { return Ok(()) };
            let acc = keys.entry(pk.to_vec()).or_default();
            each(&cx, &b, false, |k, v| {
                let slot = cx.u64_key(&b, k)?;
                let v = data(v);
                if v.is_empty() {
                    warnings.push(format!(
                        "{}: bucket {}: slot {slot} has no signing root",
                        cx.file,
                        b.name()
                    ));
                } else {
                    cx.root(&b, k, &v)?;
                }
                acc.highest_proposal = acc.highest_proposal.max(Some(slot));
                Ok(())
            })
        })?;
    }
    for name in [LOWEST_SIGNED_SOURCE_BUCKET, LOWEST_SIGNED_TARGET_BUCKET] {
        key_u64s(&cx, &root, name, |pk, _| {
            keys.entry(pk.to_vec()).or_default();
        })?;
    }
    key_u64s(&cx, &root, HIGHEST_SIGNED_PROPOSALS_BUCKET, |pk, slot| {
        let acc = keys.entry(pk.to_vec()).or_default();
        acc.highest_proposal = acc.highest_proposal.max(Some(slot));
    })?;
    key_u64s(&cx, &root, LOWEST_SIGNED_PROPOSALS_BUCKET, |pk, _| {
        keys.entry(pk.to_vec()).or_default();
    })?;
    Ok(DbSummary {
        genesis_validators_root: genesis.map(|g| hex(&g)),
        keys: keys
            .into_iter()
            .map(|(pk, a)| KeySummary {
                pubkey: hex(&pk),
                attestations: a.attestations,
                last_source: a.last_source,
                last_target: a.last_target,
                highest_proposal: a.highest_proposal,
            })
            .collect(),
        page_size: db.page_size(),
        txid: db.txid(),
        file_size: db.file_size(),
        warnings,
    })
}

/// Reads a `validator.db` page by page and checks it against qrysm's schema.
pub fn summarise(path: &Path) -> Result<DbSummary, ValidatorDbError> {
    summarise_db(&Db::open(path)?)
}

/// [`summarise`] of bytes in memory (`name` for messages).
pub fn summarise_bytes(bytes: &[u8], name: &str) -> Result<DbSummary, ValidatorDbError> {
    summarise_db(&Db::from_bytes(bytes, name)?)
}

fn read_history_db<R: ReadAt>(db: &Db<R>) -> Result<QrysmHistory, ValidatorDbError> {
    let cx = Ctx { file: db.name() };
    let (genesis_root, pubkeys, _) = top(&cx, db)?;
    let mut h = QrysmHistory {
        genesis_root,
        keys: BTreeMap::new(),
    };
    each(&cx, &pubkeys, true, |pk, v| {
        cx.pubkey(&pubkeys, pk)?;
        let Value::Bucket(kb) = v else { return Ok(()) };
        let key = h.keys.entry(pk.to_vec()).or_default();
        let mut roots = BTreeMap::new();
        if let Some(b) = kb.bucket(ATTESTATION_SIGNING_ROOTS_BUCKET)? {
            each(&cx, &b, false, |k, v| {
                roots.insert(cx.u64_key(&b, k)?, cx.root(&b, k, &data(v))?);
                Ok(())
            })?;
        }
        if let Some(b) = kb.bucket(ATTESTATION_TARGET_EPOCHS_BUCKET)? {
            each(&cx, &b, false, |k, v| {
                let t = cx.u64_key(&b, k)?;
                let sources = cx.u64s(&b, k, &data(v))?;
                let root = roots.get(&t).copied().unwrap_or_default();
                key.attestations.insert(t, (sources, root));
                Ok(())
            })?;
        }
        Ok(())
    })?;
    let root = db.root();
    if let Some(hist) = root.bucket(HISTORIC_PROPOSALS_BUCKET)? {
        each(&cx, &hist, true, |pk, v| {
            cx.pubkey(&hist, pk)?;
            let Value::Bucket(b) = v else { return Ok(()) };
            let key = h.keys.entry(pk.to_vec()).or_default();
            each(&cx, &b, false, |k, v| {
                let slot = cx.u64_key(&b, k)?;
                let v = data(v);
                let r = if v.is_empty() {
                    [0u8; 32]
                } else {
                    cx.root(&b, k, &v)?
                };
                key.proposals.insert(slot, r);
                Ok(())
            })
        })?;
    }
    type Field = fn(&mut KeyHistory) -> &mut Option<u64>;
    let fields: [(&[u8], Field); 4] = [
        (LOWEST_SIGNED_SOURCE_BUCKET, |k| &mut k.lowest_signed_source),
        (LOWEST_SIGNED_TARGET_BUCKET, |k| &mut k.lowest_signed_target),
        (LOWEST_SIGNED_PROPOSALS_BUCKET, |k| {
            &mut k.lowest_signed_proposal
        }),
        (HIGHEST_SIGNED_PROPOSALS_BUCKET, |k| {
            &mut k.highest_signed_proposal
        }),
    ];
    for (name, field) in fields {
        key_u64s(&cx, &root, name, |pk, v| {
            *field(h.keys.entry(pk.to_vec()).or_default()) = Some(v);
        })?;
    }
    Ok(h)
}

/// The whole history of a `validator.db` file.
pub fn read_history(path: &Path) -> Result<QrysmHistory, ValidatorDbError> {
    read_history_db(&Db::open(path)?)
}

/// [`read_history`] of bytes in memory (`name` for messages).
pub fn read_history_bytes(bytes: &[u8], name: &str) -> Result<QrysmHistory, ValidatorDbError> {
    read_history_db(&Db::from_bytes(bytes, name)?)
}

/// A genuine bbolt file (page size 4096) holding `h` in qrysm's schema, with every
/// bucket `NewKVStore` makes. A source's targets are written in ascending order
/// (qrysm keeps them in the order signed; nothing reads that order).
pub fn write_history(h: &QrysmHistory) -> Vec<u8> {
    let mut root = WriteBucket::default();
    for name in KV_STORE_BUCKETS {
        root.bucket_mut(name);
    }
    if let Some(g) = h.genesis_root {
        root.bucket_mut(GENESIS_INFO_BUCKET)
            .put(GENESIS_VALIDATORS_ROOT_KEY, g.to_vec());
    }
    for (pk, k) in &h.keys {
        let kb = root.bucket_mut(PUBKEYS_BUCKET).bucket_mut(pk);
        if !k.attestations.is_empty() {
            let mut by_source: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
            for (t, (sources, r)) in &k.attestations {
                kb.bucket_mut(ATTESTATION_SIGNING_ROOTS_BUCKET)
                    .put(&t.to_be_bytes(), r.to_vec());
                let v: Vec<u8> = sources.iter().flat_map(|s| s.to_be_bytes()).collect();
                kb.bucket_mut(ATTESTATION_TARGET_EPOCHS_BUCKET)
                    .put(&t.to_be_bytes(), v);
                for s in sources {
                    by_source.entry(*s).or_default().extend(t.to_be_bytes());
                }
            }
            let sb = kb.bucket_mut(ATTESTATION_SOURCE_EPOCHS_BUCKET);
            for (s, ts) in by_source {
                sb.put(&s.to_be_bytes(), ts);
            }
        }
        if !k.proposals.is_empty() {
            let pb = root.bucket_mut(HISTORIC_PROPOSALS_BUCKET).bucket_mut(pk);
            for (slot, r) in &k.proposals {
                pb.put(&slot.to_be_bytes(), r.to_vec());
            }
        }
        for (name, v) in [
            (LOWEST_SIGNED_SOURCE_BUCKET, k.lowest_signed_source),
            (LOWEST_SIGNED_TARGET_BUCKET, k.lowest_signed_target),
            (LOWEST_SIGNED_PROPOSALS_BUCKET, k.lowest_signed_proposal),
            (HIGHEST_SIGNED_PROPOSALS_BUCKET, k.highest_signed_proposal),
        ] {
            if let Some(v) = v {
                root.bucket_mut(name).put(pk, v.to_be_bytes().to_vec());
            }
        }
    }
    bolt::write_db(&root, 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pk(n: u8) -> Vec<u8> {
        (0..PUBKEY_LEN)
            .map(|i| (i as u8).wrapping_mul(n) ^ n)
            .collect()
    }

    fn sample() -> QrysmHistory {
        let mut h = QrysmHistory {
            genesis_root: Some([0x4b; 32]),
            ..Default::default()
        };
        for n in 1..=3u8 {
            let k = h.keys.entry(pk(n)).or_default();
            for e in 1..=(40 * u64::from(n)) {
                k.attest(e - 1, e, [n ^ e as u8; 32]);
            }
            k.propose(500 + u64::from(n), [n; 32]);
        }
        h
    }

    #[test]
    fn validator_db_round_trip_and_summary() {
        let h = sample();
        let bytes = write_history(&h);
        assert!(bytes.len() < 1 << 20, "{} bytes", bytes.len());
        assert_eq!(read_history_bytes(&bytes, "v.db").unwrap(), h);
        let s = summarise_bytes(&bytes, "v.db").unwrap();
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert_eq!(s.keys.len(), 3);
        assert_eq!(s.keys[0].pubkey, hex(&pk(1)));
        let k2 = s.keys.iter().find(|k| k.pubkey == hex(&pk(2))).unwrap();
        assert_eq!(k2.attestations, 80);
        assert_eq!(k2.last_target, Some(80));
        assert_eq!(k2.last_source, Some(79));
        assert_eq!(k2.highest_proposal, Some(502));
        let text = s.summary();
        assert!(text.starts_with("3 keys, last target epochs 0x"), "{text}");
        assert!(text.contains(": 40") && text.contains(": 120"), "{text}");
        assert!(text.ends_with("; genesis root 0x4b4b4b4b…"), "{text}");
    }

    #[test]
    fn validator_db_empty_is_valid_without_keys() {
        let bytes = write_history(&QrysmHistory::default());
        let s = summarise_bytes(&bytes, "v.db").unwrap();
        assert!(s.keys.is_empty());
        assert_eq!(s.genesis_validators_root, None);
        assert_eq!(
            s.summary(),
            "no keys (the DB holds no signing history); no genesis root"
        );
    }

    #[test]
    fn validator_db_schema_errors_name_bucket_and_key() {
        let mut root = WriteBucket::default();
        root.bucket_mut(b"something-else");
        let e = summarise_bytes(&bolt::write_db(&root, 4096), "v.db")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not a qrysm slashing-protection DB") && e.contains("something-else"),
            "{e}"
        );

        let mut root = WriteBucket::default();
        root.bucket_mut(PUBKEYS_BUCKET).bucket_mut(&[1u8; 48]);
        let e = summarise_bytes(&bolt::write_db(&root, 4096), "v.db")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bucket pubkeys-bucket: key 0x0101010101010101…(48 bytes): a public key of 48 bytes, not 2592"),
            "{e}"
        );

        let mut root = WriteBucket::default();
        root.bucket_mut(PUBKEYS_BUCKET)
            .bucket_mut(&pk(1))
            .bucket_mut(ATTESTATION_TARGET_EPOCHS_BUCKET)
            .put(&[0, 1, 2], 5u64.to_be_bytes().to_vec());
        let e = summarise_bytes(&bolt::write_db(&root, 4096), "v.db")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                "att-target-epochs-bucket: key 0x000102: an epoch or slot key of 3 bytes, not 8"
            ),
            "{e}"
        );

        let mut root = WriteBucket::default();
        root.bucket_mut(PUBKEYS_BUCKET)
            .bucket_mut(&pk(1))
            .bucket_mut(ATTESTATION_SIGNING_ROOTS_BUCKET)
            .put(&7u64.to_be_bytes(), vec![1; 31]);
        let e = read_history_bytes(&bolt::write_db(&root, 4096), "v.db")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a signing root of 31 bytes, not 32"), "{e}");
    }
}
