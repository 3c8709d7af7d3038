//! Property tests of every parser of untrusted input besides the bbolt reader (which
//! `tests/validator_db.rs` covers): the EIP-3076 interchange reader, the archive
//! validator, and the beacon/execution/metrics answer parsers of `probes`. Random
//! bytes, random JSON, and mutations of real shapes: none may panic or hang, an error
//! says what and where, and what is accepted agrees with an independent model of
//! what the real client (and the safety checks) accept.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use proptest::prelude::*;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use validator_failover::archive::{self, ArchiveError, Limits};
use validator_failover::config::{BeaconFlavour, BeaconSettings, Endpoint, ExecutionFlavour, Role};
use validator_failover::hosts::{
    Cmd, Failure, Host, HostError, HttpRequest, HttpResponse, HttpRoute, HttpWay, LineStream,
    Output,
};
use validator_failover::interchange;
use validator_failover::probes::{self, ExecutionBasis};
use validator_failover::validator_db::{KeyHistory, PUBKEY_LEN, QrysmHistory, write_history};

const LIMIT: Duration = Duration::from_secs(5);

/// 256 cases each, from a fixed seed (the same cases every run: no flake), unless
/// `PROPTEST_RNG_SEED` (or `PROPTEST_CASES`) asks for others.
fn config() -> ProptestConfig {
    let d = ProptestConfig::default();
    let env = |k| std::env::var_os(k).is_some();
    ProptestConfig {
        cases: if env("PROPTEST_CASES") { d.cases } else { 256 },
        rng_seed: if env("PROPTEST_RNG_SEED") {
            d.rng_seed
        } else {
            proptest::test_runner::RngSeed::Fixed(0x5eed_f00d)
        },
        failure_persistence: None,
        ..d
    }
}

/// Runs `f`, asserting that it returned within [`LIMIT`].
fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let r = f();
    assert!(start.elapsed() < LIMIT, "{what} took {:?}", start.elapsed());
    r
}

fn hex(b: &[u8]) -> String {
    let mut s = String::from("0x");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

fn sha_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A 2,592-byte public key, different for each `n`.
fn pubkey(n: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(PUBKEY_LEN);
    let mut x = n.wrapping_mul(2_654_435_761).wrapping_add(1);
    while k.len() < PUBKEY_LEN {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        k.extend(x.to_le_bytes());
    }
    k.truncate(PUBKEY_LEN);
    k
}

// ---------------------------------------------------------------------------
// JSON trees and their mutations, shared by the interchange and the probes

/// Every node's JSON pointer, the root excluded, in document order.
fn pointers(v: &Json) -> Vec<String> {
    fn walk(v: &Json, at: &str, out: &mut Vec<String>) {
        match v {
            Json::Object(m) => {
                for (k, c) in m {
                    let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                    out.push(p.clone());
                    walk(c, &p, out);
                }
            }
            Json::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    let p = format!("{at}/{i}");
                    out.push(p.clone());
                    walk(c, &p, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out
}

#[derive(Debug, Clone)]
enum Tree {
    /// Remove the node (a missing field, a shorter array).
    Delete(usize),
    /// Put another value in its place (a wrong type, a huge number, deep nesting).
    Replace(usize, Json),
    /// Give an object member another name.
    Rename(usize, String),
}

fn nested(depth: usize) -> Json {
    let mut v = json!("5");
    for _ in 0..depth {
        v = Json::Array(vec![v]);
    }
    v
}

/// Values that a hostile or broken peer puts where a field is expected.
fn replacement() -> impl Strategy<Value = Json> {
    prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        (-1e300f64..1e300).prop_map(Json::from),
        any::<u64>().prop_map(|n| Json::from(n.to_string())),
        Just(json!(u64::MAX.to_string())),
        Just(json!("18446744073709551616")),
        Just(json!("99999999999999999999999999999")),
        Just(json!("+5")),
        Just(json!("-1")),
        Just(json!(" 5")),
        Just(json!("5 ")),
        Just(json!("0x10")),
        Just(json!("")),
        Just(json!("0x")),
        Just(json!("true")),
        Just(json!("false")),
        "[ -~]{0,40}".prop_map(Json::from),
        // a public key of another length, in a field that takes one
        (0usize..3000).prop_map(|n| Json::from(hex(&vec![0xab; n]))),
        // deep nesting, below and above serde_json's recursion limit (128)
        (1usize..100).prop_map(nested),
        (129usize..400).prop_map(nested),
        // huge arrays
        (0usize..2000).prop_map(|n| Json::Array(vec![json!("1"); n])),
        Just(json!({})),
        Just(json!([])),
    ]
}

fn tree_mutation() -> impl Strategy<Value = Tree> {
    prop_oneof![
        any::<usize>().prop_map(Tree::Delete),
        (any::<usize>(), replacement()).prop_map(|(i, v)| Tree::Replace(i, v)),
        (any::<usize>(), "[a-z_]{0,12}").prop_map(|(i, s)| Tree::Rename(i, s)),
    ]
}

fn apply_tree(v: &mut Json, m: &Tree) {
    let ps = pointers(v);
    if ps.is_empty() {
        return;
    }
    let pick = |i: usize| ps[i % ps.len()].clone();
    let split = |p: &str| {
        let (parent, last) = p.rsplit_once('/').unwrap();
        (
            parent.to_string(),
            last.replace("~1", "/").replace("~0", "~"),
        )
    };
    match m {
        Tree::Replace(i, new) => *v.pointer_mut(&pick(*i)).unwrap() = new.clone(),
        Tree::Delete(i) => {
            let (parent, last) = split(&pick(*i));
            match v.pointer_mut(&parent).unwrap() {
                Json::Object(o) => {
                    o.remove(&last);
                }
                Json::Array(a) => {
                    a.remove(last.parse::<usize>().unwrap());
                }
                _ => unreachable!(),
            }
        }
        Tree::Rename(i, name) => {
            let (parent, last) = split(&pick(*i));
            if let Json::Object(o) = v.pointer_mut(&parent).unwrap()
                && let Some(c) = o.remove(&last)
            {
                o.insert(name.clone(), c);
            }
        }
    }
}

const FIELD_NAMES: &[&str] = &[
    "data",
    "metadata",
    "interchange_format_version",
    "genesis_validators_root",
    "pubkey",
    "signed_blocks",
    "signed_attestations",
    "slot",
    "source_epoch",
    "target_epoch",
    "head_slot",
    "sync_distance",
    "is_syncing",
    "is_optimistic",
    "el_offline",
    "connected",
    "index",
    "is_live",
    "validator",
    "slashed",
    "status",
    "balance",
    "attestation_1",
    "attestation_2",
    "attesting_indices",
    "result",
    "error",
    "code",
    "message",
    "currentBlock",
    "highestBlock",
    "SECONDS_PER_SLOT",
    "SLOTS_PER_EPOCH",
    "genesis_time",
    "header",
];

/// Any JSON value, its object members often named as the real shapes name theirs.
fn any_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Json::from),
        "[0-9]{1,22}".prop_map(Json::from),
        "[ -~]{0,16}".prop_map(Json::from),
        Just(json!("5")),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        let key = prop_oneof![
            3 => proptest::sample::select(FIELD_NAMES).prop_map(str::to_string),
            1 => "[a-z_]{0,8}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Json::Array),
            proptest::collection::vec((key, inner), 0..8)
                .prop_map(|kv| Json::Object(kv.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Bytes {
    Flip { at: usize, xor: u8 },
    Truncate { len: usize },
    Insert { at: usize, b: Vec<u8> },
    Remove { at: usize, n: usize },
}

fn byte_mutation() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, xor)| Bytes::Flip { at, xor }),
        any::<usize>().prop_map(|len| Bytes::Truncate { len }),
        (
            any::<usize>(),
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 1..8),
                proptest::sample::select(vec![
                    b"{".to_vec(),
                    b"}".to_vec(),
                    b"[".to_vec(),
                    b"]".to_vec(),
                    b",".to_vec(),
                    b"\"".to_vec(),
                    b"\\".to_vec(),
                    b"null".to_vec(),
                    b"99999999999999999999999".to_vec(),
                    b"\xff\xfe".to_vec(),
                ]),
            ]
        )
            .prop_map(|(at, b)| Bytes::Insert { at, b }),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Bytes::Remove { at, n }),
    ]
}

fn apply_bytes(b: &mut Vec<u8>, m: &Bytes) {
    let n = b.len();
    if n == 0 {
        return;
    }
    match m {
        Bytes::Flip { at, xor } => b[at % n] ^= xor,
        Bytes::Truncate { len } => b.truncate(len % n),
        Bytes::Insert { at, b: ins } => {
            let at = at % (n + 1);
            b.splice(at..at, ins.iter().copied());
        }
        Bytes::Remove { at, n: k } => {
            let at = at % n;
            let end = (at + k).min(n);
            b.drain(at..end);
        }
    }
}

// ---------------------------------------------------------------------------
// 1. The EIP-3076 interchange reader

const ROOT: &str = "0x1f2e3d4c5b6a79880123456789abcdef00112233445566778899aabbccddeeff";

/// A file as `qrysm-validator slashing-protection-history export` writes it: three
/// entries (the third the first key again, in capitals), signing roots included.
fn interchange_doc() -> Json {
    let att = |s: u64, t: u64| {
        json!({"source_epoch": s.to_string(), "target_epoch": t.to_string(),
               "signing_root": hex(&[t as u8; 32])})
    };
    json!({
        "metadata": {"interchange_format_version": "5", "genesis_validators_root": ROOT},
        "data": [
            {"pubkey": hex(&pubkey(0)),
             "signed_blocks": [{"slot": "7", "signing_root": hex(&[7; 32])}, {"slot": "130"}],
             "signed_attestations": [att(0, 1), att(1, 2), att(2, 5)]},
            {"pubkey": hex(&pubkey(1))},
            {"pubkey": hex(&pubkey(0)).to_uppercase().replacen("0X", "0x", 1),
             "signed_blocks": [],
             "signed_attestations": [att(5, 9)]},
        ]
    })
}

/// A decimal as Go's `strconv.ParseUint(s, 10, 64)` (qrysm's `EpochFromString`)
/// takes it: digits only, within u64.
fn go_uint(v: &Json) -> Option<u64> {
    let s = v.as_str()?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn hex_of_len(s: &str, bytes: usize) -> bool {
    s.strip_prefix("0x")
        .is_some_and(|h| h.len() == bytes * 2 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// What the interchange reader must accept, written independently of it: what
/// qrysm's import accepts (version "5", a 32-byte root, 2,592-byte keys, epochs and
/// slots as Go parses them), source <= target, at least one key, with a list where a
/// list is expected. Ok: (keys, attestations, blocks, last target per key).
type Model = (usize, usize, usize, BTreeMap<String, Option<u64>>);

fn interchange_model(v: &Json) -> Option<Model> {
    let md = v.get("metadata")?.as_object()?;
    if md.get("interchange_format_version")?.as_str()? != "5" {
        return None;
    }
    if !hex_of_len(
        &md.get("genesis_validators_root")?.as_str()?.to_lowercase(),
        32,
    ) {
        return None;
    }
    let data = v.get("data")?.as_array()?;
    if data.is_empty() {
        return None;
    }
    let (mut atts, mut blocks) = (0, 0);
    let mut last = BTreeMap::new();
    for k in data {
        let k = k.as_object()?;
        let pk = k.get("pubkey")?.as_str()?;
        if !hex_of_len(pk, PUBKEY_LEN) {
            return None;
        }
        let list = |name: &str| -> Option<Vec<Json>> {
            match k.get(name) {
                None => Some(Vec::new()),
                Some(l) => l.as_array().cloned(),
            }
        };
        let mut top: Option<u64> = None;
        for a in list("signed_attestations")? {
            let a = a.as_object()?;
            let s = go_uint(a.get("source_epoch")?)?;
            let t = go_uint(a.get("target_epoch")?)?;
            if s > t {
                return None;
            }
            top = top.max(Some(t));
            atts += 1;
        }
        for b in list("signed_blocks")? {
            go_uint(b.as_object()?.get("slot")?)?;
            blocks += 1;
        }
        let e = last.entry(pk.to_lowercase()).or_insert(None);
        *e = (*e).max(top);
    }
    Some((data.len(), atts, blocks, last))
}

/// The reader on `bytes`, timed; an error names what and where.
fn read_interchange(bytes: &[u8]) -> Result<interchange::InterchangeReport, String> {
    let r = timed("interchange::validate", || {
        interchange::validate(bytes, 1 << 20, Some(ROOT))
    });
    if let Err(e) = &r {
        let named = [
            "empty",
            "larger than",
            "not EIP-3076 JSON",
            "interchange_format_version",
            "genesis_validators_root",
            "data is empty",
        ]
        .iter()
        .any(|w| e.contains(w))
            || e.starts_with("data[");
        assert!(named, "an error that names nothing: {e}");
        if e.starts_with("not EIP-3076 JSON") {
            // serde_json says where: "at line L column C" (or the end of the input).
            assert!(
                e.contains(" line ") || e.contains("EOF"),
                "a JSON error without its place: {e}"
            );
        }
    }
    r
}

fn same_as_model(r: &interchange::InterchangeReport, m: &Model) {
    assert_eq!((r.keys, r.attestations, r.blocks), (m.0, m.1, m.2));
    assert_eq!(r.last_target, m.3);
    assert_eq!(r.genesis_validators_root, ROOT);
}

#[test]
fn interchange_unmutated_doc_is_accepted() {
    let v = interchange_doc();
    let r = read_interchange(&serde_json::to_vec(&v).unwrap()).unwrap();
    let m = interchange_model(&v).unwrap();
    same_as_model(&r, &m);
    assert_eq!(r.keys, 3);
    assert_eq!(r.last_target.len(), 2);
    assert_eq!(r.last_target[&hex(&pubkey(0))], Some(9));
    assert_eq!(r.last_target[&hex(&pubkey(1))], None);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn interchange_random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = read_interchange(&bytes);
    }

    #[test]
    fn interchange_random_json_is_judged_as_the_model(v in any_json()) {
        let r = read_interchange(&serde_json::to_vec(&v).unwrap());
        match (r, interchange_model(&v)) {
            (Ok(r), Some(m)) => same_as_model(&r, &m),
            (Err(_), None) => {}
            (r, m) => panic!("{v}: the reader says {r:?}, the model {m:?}"),
        }
    }

    /// A real file with fields deleted, renamed or given other values: accepted
    /// exactly when the model accepts it, with the same counts and last targets.
    #[test]
    fn interchange_mutated_doc_is_judged_as_the_model(ms in proptest::collection::vec(tree_mutation(), 1..4)) {
        let mut v = interchange_doc();
        for m in &ms {
            apply_tree(&mut v, m);
        }
        let r = read_interchange(&serde_json::to_vec(&v).unwrap());
        match (r, interchange_model(&v)) {
            (Ok(r), Some(m)) => same_as_model(&r, &m),
            (Err(_), None) => {}
            (r, m) => panic!("{ms:?}: the reader says {r:?}, the model {m:?}"),
        }
    }

    /// A real file with bytes flipped, cut, inserted or removed (tab-indented, as
    /// qrysm writes it): never a panic, and what is accepted the model accepts too.
    #[test]
    fn interchange_mutated_bytes_never_accept_what_the_model_refuses(ms in proptest::collection::vec(byte_mutation(), 1..6)) {
        let mut b = serde_json::to_string_pretty(&interchange_doc()).unwrap().replace("  ", "\t").into_bytes();
        for m in &ms {
            apply_bytes(&mut b, m);
        }
        if let Ok(r) = read_interchange(&b) {
            // (Invalid UTF-8 in a field that is not read, a signing root, is skipped, as
            // Go's decoder, which replaces it, takes it too.)
            let v: Json = serde_json::from_str(&String::from_utf8_lossy(&b)).expect("accepted, so JSON");
            let m = interchange_model(&v).unwrap_or_else(|| panic!("accepted what the model refuses: {}", String::from_utf8_lossy(&b)));
            same_as_model(&r, &m);
        }
    }
}

// ---------------------------------------------------------------------------
// 2. The archive validator

const TOP: &str = "slashing-protection";

fn db_bytes() -> &'static [u8] {
    static DB: OnceLock<Vec<u8>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut h = QrysmHistory {
            genesis_root: Some([7; 32]),
            keys: BTreeMap::new(),
        };
        for n in 0..2 {
            let k: &mut KeyHistory = h.keys.entry(pubkey(n)).or_default();
            for e in 1..=20 {
                k.attest(e - 1, e, [e as u8; 32]);
            }
        }
        write_history(&h)
    })
}

#[derive(Debug, Clone)]
enum Name {
    Fixed(&'static str),
    /// An absolute path into the test's own directory, beside the extraction one.
    Absolute,
    /// A plain name longer than the header's 100 bytes (a GNU long name).
    Long(usize),
    Random(String),
}

const NAMES: &[&str] = &[
    "slashing-protection/",
    "slashing-protection/validator.db",
    "./slashing-protection/validator.db",
    "slashing-protection/slashing_protection.json",
    "slashing-protection/a/",
    "slashing-protection/a/validator.db",
    // flattened, these two are the same file as the one above
    "slashing-protection/a%validator.db",
    "slashing-protection%a%validator.db",
    "slashing-protection%validator.db",
    "slashing-protection/notes.txt",
    "validator.db",
    "other/validator.db",
    "slashing-protection/../escape",
    "../escape",
    "slashing-protection/./../../escape",
    "",
    ".",
    "slashing-protection//validator.db",
];

fn name() -> impl Strategy<Value = Name> {
    prop_oneof![
        8 => proptest::sample::select(NAMES).prop_map(Name::Fixed),
        1 => Just(Name::Absolute),
        1 => (100usize..300).prop_map(Name::Long),
        2 => "slashing-protection/[a-z%./]{1,20}".prop_map(Name::Random),
    ]
}

#[derive(Debug, Clone)]
enum Data {
    Db,
    Eip,
    Random(Vec<u8>),
    Empty,
}

#[derive(Debug, Clone)]
struct Ent {
    name: Name,
    kind: u8,
    data: Data,
    /// The size the header declares, when not the data's.
    size: Option<u64>,
    /// A link's target: into the test's directory, or relative.
    link_abs: bool,
}

fn ent() -> impl Strategy<Value = Ent> {
    let kind = prop_oneof![
        6 => Just(b'0'),
        2 => Just(b'5'),
        1 => proptest::sample::select(b"123467gxLKS\0".to_vec()),
        1 => any::<u8>(),
    ];
    let data = prop_oneof![
        4 => Just(Data::Db),
        1 => Just(Data::Eip),
        2 => proptest::collection::vec(any::<u8>(), 0..600).prop_map(Data::Random),
        1 => Just(Data::Empty),
    ];
    let size = prop_oneof![
        8 => Just(None),
        1 => any::<u64>().prop_map(Some),
        1 => prop_oneof![Just(u64::MAX), Just(1u64 << 40), Just(8u64.pow(11) - 1), 0u64..100_000].prop_map(Some),
    ];
    (name(), kind, data, size, any::<bool>()).prop_map(|(name, kind, data, size, link_abs)| Ent {
        name,
        kind,
        data,
        size,
        link_abs,
    })
}

/// A tar.gz of `ents`, headers written raw (so that names the `tar` builder refuses
/// can be written), `t` being where absolute names and links point.
fn build(ents: &[Ent], t: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let abs = t.join("escape").display().to_string();
    for e in ents {
        let data: Vec<u8> = match &e.data {
            Data::Db => db_bytes().to_vec(),
            Data::Eip => serde_json::to_vec(&interchange_doc()).unwrap(),
            Data::Random(r) => r.clone(),
            Data::Empty => Vec::new(),
        };
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::new(e.kind));
        h.set_mode(0o600);
        h.set_size(e.size.unwrap_or(data.len() as u64));
        let link = if e.link_abs {
            abs.clone()
        } else {
            "../escape".into()
        };
        let lb = link.as_bytes();
        let n = lb.len().min(100);
        h.as_old_mut().linkname[..n].copy_from_slice(&lb[..n]);
        let path = match &e.name {
            Name::Fixed(s) => s.to_string(),
            Name::Absolute => abs.clone(),
            Name::Long(n) => format!("{TOP}/{}", "x".repeat(*n)),
            Name::Random(s) => s.clone(),
        };
        if path.len() <= 100 {
            h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            b.append(&h, &data[..]).unwrap();
        } else {
            // The builder writes the GNU long-name entry.
            b.append_data(&mut h, &path, &data[..]).unwrap();
        }
    }
    gzip(&b.into_inner().unwrap())
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b).unwrap();
    gz.finish().unwrap()
}

/// What a gzip stream gives before any error (a mutated one may be cut short).
fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(b), &mut out);
    out
}

/// Names in a directory.
fn names_in(d: &Path) -> BTreeSet<String> {
    std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Nothing but `expected` in `t`, and in `x` (the extraction directory) only regular
/// files, none a link or a directory.
fn contained(t: &Path, x: &Path, expected: &[&str]) {
    let want: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
    assert_eq!(names_in(t), want, "something was written outside {x:?}");
    for e in std::fs::read_dir(x).unwrap() {
        let e = e.unwrap();
        let m = std::fs::symlink_metadata(e.path()).unwrap();
        assert!(
            m.is_file(),
            "{:?} in the extraction directory is not a regular file",
            e.path()
        );
    }
}

fn clear(x: &Path) {
    let _ = std::fs::remove_dir_all(x);
    std::fs::create_dir(x).unwrap();
}

/// An error says what: the entry and why, or what could not be read.
fn archive_error_is_clear(e: &ArchiveError) {
    let s = e.to_string();
    match e {
        ArchiveError::Hostile { why, .. } => assert!(!why.is_empty(), "{s}"),
        ArchiveError::Unreadable(w) | ArchiveError::NoHistory(w) | ArchiveError::TooLarge(w) => {
            assert!(!w.is_empty(), "{s}")
        }
        ArchiveError::Empty => {}
    }
    assert!(
        s.starts_with("refused: ") || s.starts_with("not a readable tar.gz: "),
        "{s}"
    );
}

/// Everything the validator does with `gz`, timed, in a fresh directory: with and
/// without a top, with and without extraction, small and default limits, and
/// `open_history`. What is reported is exactly what was extracted.
fn exercise_archive(gz: &[u8]) {
    let t = tempfile::tempdir().unwrap();
    let x = t.path().join("x");
    let small = Limits {
        max_total: 1 << 20,
        max_entries: 16,
    };
    for (top, limits) in [(None, Limits::default()), (Some(TOP), small)] {
        clear(&x);
        let r = timed("archive::validate_into", || {
            archive::validate_into(gz, top, limits, Some(&x))
        });
        match &r {
            Ok(rep) => {
                let mut total = 0;
                for f in &rep.files {
                    assert!(
                        !f.path.starts_with('/')
                            && !f.path.split('/').any(|c| c == ".." || c.is_empty()),
                        "{f:?}"
                    );
                    if let Some(top) = top {
                        assert_eq!(f.path.split('/').next(), Some(top));
                    }
                    let got = std::fs::read(archive::extracted(&x, &f.path)).unwrap();
                    assert_eq!(got.len() as u64, f.size, "{}", f.path);
                    assert_eq!(
                        sha_hex(&got),
                        f.sha256,
                        "{}: extracted is not what is reported",
                        f.path
                    );
                    total += f.size;
                }
                assert_eq!(total, rep.total);
                assert!(
                    rep.files
                        .iter()
                        .any(|f| f.kind != probes::HistoryKind::Unknown)
                );
            }
            Err(e) => archive_error_is_clear(e),
        }
        contained(t.path(), &x, &["x"]);
        // The same answer without extraction, unless a file could not be written
        // here (a flattened name longer than the file system takes).
        let same = timed("archive::validate_into", || {
            archive::validate_into(gz, top, limits, None)
        });
        match (&same, &r) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            (Ok(_), Err(ArchiveError::Unreadable(w))) if w.starts_with("writing ") => {}
            _ => panic!("{same:?} / {r:?}"),
        }
    }
    let _ = timed("archive::validate", || {
        archive::validate(gz, TOP, Limits::default())
    });

    let file = t.path().join("a.tar.gz");
    std::fs::write(&file, gz).unwrap();
    clear(&x);
    match timed("archive::open_history", || archive::open_history(&file, &x)) {
        Ok((rep, summary, path)) => {
            assert_eq!(path.parent(), Some(x.as_path()));
            let db = rep
                .files
                .iter()
                .find(|f| archive::extracted(&x, &f.path) == path)
                .expect("the history read is one reported");
            assert_eq!(
                sha_hex(&std::fs::read(&path).unwrap()),
                db.sha256,
                "the history read is not the one reported"
            );
            assert!(!summary.keys.is_empty());
        }
        Err(e) => assert!(!e.is_empty()),
    }
    contained(t.path(), &x, &["a.tar.gz", "x"]);
}

#[derive(Debug, Clone)]
enum ArchMut {
    /// In the gzip stream.
    Gz(Bytes),
    /// In the tar stream, then compressed again.
    Tar(Bytes),
    /// A header field of the `n`th 512-byte block set to `v` at `off`, checksum
    /// recomputed or not.
    Header {
        block: usize,
        off: usize,
        v: Vec<u8>,
        cksum: bool,
    },
}

fn arch_mutation() -> impl Strategy<Value = ArchMut> {
    prop_oneof![
        byte_mutation().prop_map(ArchMut::Gz),
        byte_mutation().prop_map(ArchMut::Tar),
        (
            any::<usize>(),
            // name, mode, size, linkname, typeflag, magic, prefix
            proptest::sample::select(vec![0usize, 50, 100, 124, 135, 148, 156, 157, 257, 345]),
            proptest::collection::vec(any::<u8>(), 1..12),
            any::<bool>()
        )
            .prop_map(|(block, off, v, cksum)| ArchMut::Header {
                block,
                off,
                v,
                cksum
            }),
    ]
}

fn the_runbooks_archive(t: &Path) -> Vec<u8> {
    let e = |name, kind, data| Ent {
        name: Name::Fixed(name),
        kind,
        data,
        size: None,
        link_abs: true,
    };
    build(
        &[
            e("slashing-protection/", b'5', Data::Empty),
            e("slashing-protection/validator.db", b'0', Data::Db),
            e(
                "slashing-protection/slashing_protection.json",
                b'0',
                Data::Eip,
            ),
        ],
        t,
    )
}

#[test]
fn archive_unmutated_is_accepted_and_opened() {
    let t = tempfile::tempdir().unwrap();
    let gz = the_runbooks_archive(t.path());
    let r = archive::validate(&gz[..], TOP, Limits::default()).unwrap();
    assert_eq!(r.files.len(), 2);
    let x = t.path().join("x");
    let (_, s, _) = archive::open_history(
        &{
            let f = t.path().join("a.tar.gz");
            std::fs::write(&f, &gz).unwrap();
            f
        },
        &x,
    )
    .unwrap();
    assert_eq!(s.keys.len(), 2);
    exercise_archive(&gz);
}

/// Two names that flatten to one file: the second must not silently replace the
/// first's extracted copy (which `open_history` would then read as the history).
#[test]
fn archive_names_that_flatten_alike_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let e = |name, data| Ent {
        name: Name::Fixed(name),
        kind: b'0',
        data,
        size: None,
        link_abs: true,
    };
    let gz = build(
        &[
            e("slashing-protection/a/validator.db", Data::Db),
            e(
                "slashing-protection/a%validator.db",
                Data::Random(b"evil".to_vec()),
            ),
        ],
        t.path(),
    );
    match archive::validate(&gz[..], TOP, Limits::default()) {
        Err(ArchiveError::Hostile { entry, why }) => {
            assert_eq!(entry, "slashing-protection/a%validator.db");
            assert!(why.contains("slashing-protection/a/validator.db"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    exercise_archive(&gz);
}

/// Huge declared sizes: refused quickly (the tar reader refuses a size past the end
/// of what it can address, the limit one past 64 GiB, and one under it is cut off),
/// never a hang reading or a file of that size written.
#[test]
fn archive_huge_declared_sizes_are_refused() {
    let t = tempfile::tempdir().unwrap();
    for (size, want) in [
        (u64::MAX, "size overflow"),
        (1 << 40, "too large"),
        (1 << 30, "cut off"),
    ] {
        let e = |name, data, size| Ent {
            name: Name::Fixed(name),
            kind: b'0',
            data,
            size,
            link_abs: true,
        };
        let gz = build(
            &[
                e(
                    "slashing-protection/notes.txt",
                    Data::Random(b"x".to_vec()),
                    None,
                ),
                e("slashing-protection/validator.db", Data::Db, Some(size)),
            ],
            t.path(),
        );
        let r = timed("validate", || {
            archive::validate(&gz[..], TOP, Limits::default())
        });
        let e = r.expect_err("a lying size");
        assert!(e.to_string().contains(want), "{size}: {e}");
        exercise_archive(&gz);
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn archive_random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        exercise_archive(&bytes);
        // and through gzip, to reach the tar reader
        exercise_archive(&gzip(&bytes));
    }

    /// Archives of any entries: hostile names, links, devices, duplicates, long
    /// names, lying sizes.
    #[test]
    fn archive_built_entries_never_escape(ents in proptest::collection::vec(ent(), 0..6)) {
        let t = tempfile::tempdir().unwrap();
        exercise_archive(&build(&ents, t.path()));
    }

    /// The runbook's archive, its gzip or tar bytes mutated.
    #[test]
    fn archive_mutated_never_escape(ms in proptest::collection::vec(arch_mutation(), 1..4)) {
        let t = tempfile::tempdir().unwrap();
        let mut gz = the_runbooks_archive(t.path());
        for m in &ms {
            match m {
                ArchMut::Gz(b) => apply_bytes(&mut gz, b),
                ArchMut::Tar(b) => {
                    let mut tar = gunzip(&gz);
                    apply_bytes(&mut tar, b);
                    gz = gzip(&tar);
                }
                ArchMut::Header { block, off, v, cksum } => {
                    let mut tar = gunzip(&gz);
                    let blocks = tar.len() / 512;
                    if blocks == 0 { continue }
                    let at = (block % blocks) * 512;
                    let end = (off + v.len()).min(512);
                    tar[at + off..at + end].copy_from_slice(&v[..end - off]);
                    if *cksum {
                        let mut h = tar::Header::new_old();
                        h.as_mut_bytes().copy_from_slice(&tar[at..at + 512]);
                        h.set_cksum();
                        tar[at..at + 512].copy_from_slice(h.as_bytes());
                    }
                    gz = gzip(&tar);
                }
            }
        }
        exercise_archive(&gz);
    }
}

// ---------------------------------------------------------------------------
// 3. The beacon, execution and metrics answer parsers

/// What the test host answers to one request.
#[derive(Debug, Clone)]
enum Body {
    /// What the real client answers (qrysm, gzond, the validator's metrics).
    Real,
    /// The real answer, mutated.
    Mutated(Vec<Tree>),
    /// The real metrics text, mutated line by line.
    Text(Vec<TextMut>),
    Json(Json),
    Bytes(Vec<u8>),
    /// The host itself fails the request.
    Fail(Failure),
}

#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: Body,
}

fn answer() -> impl Strategy<Value = Answer> {
    let status = prop_oneof![
        8 => Just(200u16),
        1 => proptest::sample::select(vec![204u16, 206, 400, 404, 405, 500, 503]),
        1 => 100u16..600,
    ];
    let failure = proptest::sample::select(vec![
        Failure::Unreachable,
        Failure::TimedOut,
        Failure::Refused,
        Failure::NothingListens,
        Failure::Unexpected,
        Failure::Local,
    ]);
    let body = prop_oneof![
        3 => Just(Body::Real),
        8 => proptest::collection::vec(tree_mutation(), 1..4).prop_map(Body::Mutated),
        2 => proptest::collection::vec(text_mutation(), 1..5).prop_map(Body::Text),
        2 => any_json().prop_map(Body::Json),
        1 => proptest::collection::vec(any::<u8>(), 0..512).prop_map(Body::Bytes),
        1 => failure.prop_map(Body::Fail),
    ];
    (status, body).prop_map(|(status, body)| Answer { status, body })
}

fn answers() -> impl Strategy<Value = Vec<Answer>> {
    proptest::collection::vec(answer(), 1..10)
}

#[derive(Debug, Clone)]
enum TextMut {
    DeleteLine(usize),
    DuplicateLine(usize),
    /// The value of a sample line replaced.
    Value(usize, String),
    /// A line replaced.
    Line(usize, String),
    Bytes(Bytes),
}

fn text_mutation() -> impl Strategy<Value = TextMut> {
    prop_oneof![
        any::<usize>().prop_map(TextMut::DeleteLine),
        any::<usize>().prop_map(TextMut::DuplicateLine),
        (
            any::<usize>(),
            prop_oneof![
                proptest::sample::select(vec![
                    "NaN", "+Inf", "-Inf", "-1", "1e308", "1e309", "abc", "", "0x10", "1 2 3",
                ])
                .prop_map(str::to_string),
                any::<f64>().prop_map(|f| f.to_string()),
            ]
        )
            .prop_map(|(i, v)| TextMut::Value(i, v)),
        (
            any::<usize>(),
            prop_oneof![
                proptest::sample::select(vec![
                    "# TYPE validator_successful_attestations histogram",
                    "# TYPE validator_successful_attestations",
                    "# HELP",
                    "validator_successful_attestations{pubkey=\"0xaa\" 5",
                    "validator_successful_attestations{pubkey=0xaa} 5",
                    "validator_successful_attestations{pubkey=\"\\\"} 5",
                    "validator_successful_attestations{} 5",
                    "{pubkey=\"0xaa\"} 5",
                    "validator_successful_attestations 5 notatime",
                ])
                .prop_map(str::to_string),
                "[ -~]{0,60}",
            ]
        )
            .prop_map(|(i, l)| TextMut::Line(i, l)),
        byte_mutation().prop_map(TextMut::Bytes),
    ]
}

fn real_metrics() -> String {
    let mut s = String::from(
        "# HELP validator_statuses validator statuses\n# TYPE validator_statuses gauge\n",
    );
    for i in 0..3u32 {
        s.push_str(&format!(
            "validator_statuses{{pubkey=\"{}\"}} 3\n",
            &hex(&pubkey(i))[..90]
        ));
    }
    s.push_str("# HELP validator_successful_attestations successful attestations\n");
    s.push_str("# TYPE validator_successful_attestations counter\n");
    for i in 0..3u32 {
        s.push_str(&format!(
            "validator_successful_attestations{{pubkey=\"{}\"}} {}\n",
            &hex(&pubkey(i))[..90],
            10 + i
        ));
    }
    s.push_str("go_goroutines 42\n");
    s
}

fn mutate_text(text: &str, ms: &[TextMut]) -> Vec<u8> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut tail: Vec<&Bytes> = Vec::new();
    for m in ms {
        let n = lines.len().max(1);
        match m {
            TextMut::DeleteLine(i) if !lines.is_empty() => {
                lines.remove(i % n);
            }
            TextMut::DuplicateLine(i) if !lines.is_empty() => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            TextMut::Value(i, v) if !lines.is_empty() => {
                let l = &mut lines[i % n];
                if let Some((head, _)) = l.rsplit_once(' ') {
                    *l = format!("{head} {v}");
                }
            }
            TextMut::Line(i, new) if !lines.is_empty() => lines[i % n] = new.clone(),
            TextMut::Bytes(b) => tail.push(b),
            _ => {}
        }
    }
    let mut out = (lines.join("\n") + "\n").into_bytes();
    for b in tail {
        apply_bytes(&mut out, b);
    }
    out
}

/// The path without the API prefix and the query: what names the request.
fn request_name(req: &HttpRequest) -> String {
    if req.path == "/" {
        // JSON-RPC: the method names it.
        let v: Json = serde_json::from_slice(req.body.as_deref().unwrap_or(b"")).unwrap();
        return v["method"].as_str().unwrap().to_string();
    }
    let p = req.path.split('?').next().unwrap();
    let p = ["/zond/v1", "/qrl/v1", "/eth/v1"]
        .iter()
        .find_map(|pre| p.strip_prefix(pre))
        .unwrap_or(p);
    // the epoch of liveness/{epoch}
    p.trim_end_matches(|c: char| c.is_ascii_digit())
        .trim_start_matches('/')
        .to_string()
}

fn validator_json(index: u64) -> Json {
    json!({
        "index": index.to_string(),
        "balance": "40000000000",
        "status": "active_ongoing",
        "validator": {
            "pubkey": hex(&pubkey(index as u32)),
            "withdrawal_credentials": hex(&[0; 32]),
            "effective_balance": "40000000000",
            "slashed": false,
            "activation_eligibility_epoch": "0",
            "activation_epoch": "0",
            "exit_epoch": "18446744073709551615",
            "withdrawable_epoch": "18446744073709551615"
        }
    })
}

/// What qrysm (beacon), gzond (execution) and the validator (metrics) answer.
fn real_answer(req: &HttpRequest) -> (u16, Vec<u8>) {
    let name = request_name(req);
    let j = |v: Json| (200, serde_json::to_vec(&v).unwrap());
    match name.as_str() {
        "node/syncing" => j(json!({"data": {"head_slot": "4242", "sync_distance": "1",
            "is_syncing": false, "is_optimistic": false, "el_offline": false}})),
        "node/peer_count" => j(json!({"data": {"disconnected": "3", "connecting": "0",
            "connected": "25", "disconnecting": "0"}})),
        "node/health" => (200, Vec::new()),
        "config/spec" => j(
            json!({"data": {"CONFIG_NAME": "zond", "SECONDS_PER_SLOT": "60",
            "SLOTS_PER_EPOCH": "128", "MAX_VALIDATORS_PER_COMMITTEE": "2048"}}),
        ),
        "beacon/genesis" => j(json!({"data": {"genesis_time": "1700000000",
            "genesis_validators_root": ROOT, "genesis_fork_version": "0x20000089"}})),
        "beacon/headers/head" => j(json!({"data": {"root": hex(&[1; 32]), "canonical": true,
            "header": {"message": {"slot": "4242", "proposer_index": "3",
                "parent_root": hex(&[2; 32]), "state_root": hex(&[3; 32]),
                "body_root": hex(&[4; 32])}, "signature": hex(&[5; 64])}}})),
        "validator/liveness/" => {
            let ids: Vec<String> =
                serde_json::from_slice(req.body.as_deref().unwrap_or(b"[]")).unwrap();
            j(json!({"data": ids.iter().enumerate()
                .map(|(n, i)| json!({"index": i, "is_live": n % 2 == 0}))
                .collect::<Vec<_>>()}))
        }
        "beacon/states/head/validators" => {
            let q = req.path.split_once('?').map(|q| q.1).unwrap_or("");
            let data: Vec<Json> = q
                .split('&')
                .filter_map(|kv| kv.strip_prefix("id="))
                .map(|id| {
                    let index = id.parse::<u64>().unwrap_or_else(|_| {
                        (0..64)
                            .find(|n| hex(&pubkey(*n as u32)) == id)
                            .unwrap_or(63)
                    });
                    validator_json(index)
                })
                .collect();
            j(json!({"execution_optimistic": false, "finalized": false, "data": data}))
        }
        "beacon/pool/attester_slashings" => {
            let att = |idx: &[&str], t: &str| {
                json!({"attesting_indices": idx,
                "data": {"slot": "1", "index": "0", "beacon_block_root": hex(&[1; 32]),
                    "source": {"epoch": "1", "root": hex(&[2; 32])},
                    "target": {"epoch": t, "root": hex(&[3; 32])}},
                "signatures": [hex(&[9; 16])]})
            };
            j(json!({"data": [
                {"attestation_1": att(&["1", "2", "7"], "5"), "attestation_2": att(&["2", "7"], "5")},
                {"attestation_1": att(&["3"], "6"), "attestation_2": att(&["4"], "6")},
            ]}))
        }
        "zond_syncing" => j(json!({"jsonrpc": "2.0", "id": 1, "result": false})),
        "net_peerCount" => j(json!({"jsonrpc": "2.0", "id": 1, "result": "0x19"})),
        "qrl_syncing" | "eth_syncing" => j(json!({"jsonrpc": "2.0", "id": 1,
            "error": {"code": -32601, "message": format!("the method {name} does not exist/is not available")}})),
        "metrics" => (200, real_metrics().into_bytes()),
        other => panic!("a request this test does not know: {other}"),
    }
}

/// What the test host served to a request: (status, body), or its own failure.
type Served = Result<(u16, Vec<u8>), Failure>;

/// A host whose every HTTP answer is chosen by the test; it records what it served.
struct FuzzHost {
    answers: Vec<Answer>,
    served: Mutex<Vec<(HttpRequest, Served)>>,
}

impl FuzzHost {
    fn new(answers: Vec<Answer>) -> FuzzHost {
        FuzzHost {
            answers,
            served: Mutex::new(Vec::new()),
        }
    }

    fn none(&self, what: &str) -> HostError {
        HostError::new(Role::Backup, Failure::Local, what, "not in this test")
    }

    /// The last answer served to a request so named.
    fn last(&self, name: &str) -> Option<Served> {
        self.served
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(r, _)| request_name(r) == name)
            .map(|(_, a)| a.clone())
    }

    /// The last answer to `name` and its status, as JSON.
    fn last_json(&self, name: &str) -> Option<(u16, Json)> {
        let (status, body) = self.last(name)?.ok()?;
        if body.is_empty() {
            // as the probes read an empty answer
            return Some((status, Json::Null));
        }
        Some((status, serde_json::from_slice(&body).ok()?))
    }

    fn names(&self) -> Vec<String> {
        self.served
            .lock()
            .unwrap()
            .iter()
            .map(|(r, _)| request_name(r))
            .collect()
    }
}

#[async_trait]
impl Host for FuzzHost {
    fn role(&self) -> Role {
        Role::Backup
    }
    fn describe(&self) -> String {
        "fuzz".into()
    }
    async fn connect(&self, _: Duration) -> Result<(), HostError> {
        Ok(())
    }
    async fn run(&self, cmd: &Cmd, _: Duration) -> Result<Output, HostError> {
        Err(self.none(&cmd.display()))
    }
    async fn stream_lines(&self, cmd: &Cmd) -> Result<LineStream, HostError> {
        Err(self.none(&cmd.display()))
    }
    async fn download(
        &self,
        path: &str,
        _: &mut (dyn AsyncWrite + Unpin + Send),
        _: Duration,
    ) -> Result<u64, HostError> {
        Err(self.none(path))
    }
    async fn upload(
        &self,
        path: &str,
        _: &mut (dyn AsyncRead + Unpin + Send),
        _: u32,
        _: Duration,
    ) -> Result<u64, HostError> {
        Err(self.none(path))
    }
    async fn http(&self, req: &HttpRequest, _: Duration) -> Result<HttpResponse, HostError> {
        let mut served = self.served.lock().unwrap();
        let a = &self.answers[served.len() % self.answers.len()];
        let (real_status, real) = real_answer(req);
        let r = match &a.body {
            Body::Fail(f) => Err(*f),
            Body::Real => Ok((real_status, real)),
            Body::Mutated(ms) => Ok((
                a.status,
                match serde_json::from_slice::<Json>(&real) {
                    Ok(mut v) => {
                        for m in ms {
                            apply_tree(&mut v, m);
                        }
                        serde_json::to_vec(&v).unwrap()
                    }
                    // metrics, health: not JSON
                    Err(_) => mutate_text(
                        &String::from_utf8_lossy(&real),
                        &[TextMut::DeleteLine(ms.len())],
                    ),
                },
            )),
            Body::Text(ms) => Ok((a.status, mutate_text(&String::from_utf8_lossy(&real), ms))),
            Body::Json(v) => Ok((a.status, serde_json::to_vec(v).unwrap())),
            Body::Bytes(b) => Ok((a.status, b.clone())),
        };
        served.push((req.clone(), r.clone()));
        match r {
            Ok((status, body)) => Ok(HttpResponse {
                status,
                body,
                route: HttpRoute::Simulated,
            }),
            Err(f) => Err(HostError::new(
                Role::Backup,
                f,
                req.display(),
                format!("fuzz: {}", f.as_str()),
            )),
        }
    }
    fn http_way(&self) -> HttpWay {
        HttpWay::Simulated
    }
}

fn endpoint() -> Endpoint {
    Endpoint {
        host: "127.0.0.1".into(),
        port: 3500,
    }
}

/// Runs a probe to its end within the deadline; an error names one of the requests
/// made and says what was wrong.
fn probe<T>(
    host: &FuzzHost,
    what: &str,
    f: impl std::future::Future<Output = probes::Probe<T>>,
) -> probes::Probe<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let r = timed(what, || {
        rt.block_on(async { tokio::time::timeout(LIMIT, f).await })
    })
    .unwrap_or_else(|_| panic!("{what} did not return within {LIMIT:?}"));
    if let Err(e) = &r {
        assert!(
            !e.detail.trim().is_empty(),
            "{what}: an error without a detail: {e:?}"
        );
        let names = host.names();
        assert!(
            names.iter().any(|n| e.what.contains(n.as_str())),
            "{what}: the error does not name a request made ({names:?}): {e:?}"
        );
        if e.failure == Failure::Unexpected && !e.detail.starts_with("fuzz: ") {
            // A parser's refusal says what it saw or missed.
            let words = [
                "HTTP",
                "JSON",
                "data",
                "index",
                "no ",
                "not ",
                "error",
                "answer",
                "impossible",
                "slashing",
                "Prometheus",
                "404",
                "validator",
                "pubkey",
            ];
            assert!(
                words.iter().any(|w| e.detail.contains(w)),
                "{what}: a detail that says nothing of what was wrong: {e:?}"
            );
        }
    }
    r
}

/// A field as the beacon API gives a number (a decimal string, or a JSON number).
fn api_u64(v: Option<&Json>) -> Option<u64> {
    match v? {
        Json::String(s) => s.parse().ok(),
        Json::Number(n) => n.as_u64(),
        _ => None,
    }
}

const INDICES: &[u64] = &[1, 2, 3];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn probes_beacon_flavour(a in answers(), pinned in proptest::option::of(proptest::sample::select(BeaconFlavour::ALL.to_vec()))) {
        let h = FuzzHost::new(a);
        if let Ok(o) = probe(&h, "beacon_flavour", probes::beacon_flavour(&h, &endpoint(), pinned, LIMIT)) {
            // Chosen only by an answer that is not 404.
            let (status, _) = h.last("node/syncing").unwrap().unwrap();
            prop_assert_ne!(status, 404);
            if let Some(p) = pinned {
                prop_assert_eq!(o.value, p);
            }
        }
    }

    /// Ready only as the node said it: each field read, none taken as a default.
    #[test]
    fn probes_beacon_sync(a in answers()) {
        let h = FuzzHost::new(a);
        if let Ok(o) = probe(&h, "beacon_sync", probes::beacon_sync(&h, &endpoint(), BeaconFlavour::Zond, LIMIT)) {
            let (status, v) = h.last_json("node/syncing").expect("accepted, so JSON");
            prop_assert_eq!(status, 200);
            let d = &v["data"];
            let s = o.value;
            prop_assert_eq!(Some(s.head_slot), api_u64(d.get("head_slot")));
            prop_assert_eq!(Some(s.sync_distance), api_u64(d.get("sync_distance")));
            prop_assert_eq!(Some(s.is_syncing), d["is_syncing"].as_bool());
            prop_assert_eq!(Some(s.is_optimistic), d["is_optimistic"].as_bool(), "{}", v);
            prop_assert_eq!(Some(s.el_offline), d["el_offline"].as_bool(), "{}", v);
            if let Some(p) = s.peers {
                let (_, pc) = h.last_json("node/peer_count").unwrap();
                prop_assert_eq!(Some(p), api_u64(pc.pointer("/data/connected")));
            }
        }
    }

    #[test]
    fn probes_chain_info(a in answers()) {
        let h = FuzzHost::new(a);
        if let Ok(o) = probe(&h, "chain_info", probes::chain_info(&h, &endpoint(), BeaconFlavour::Zond, LIMIT)) {
            let c = o.value.clock;
            let (_, spec) = h.last_json("config/spec").unwrap();
            prop_assert_eq!(Some(c.seconds_per_slot), api_u64(spec.pointer("/data/SECONDS_PER_SLOT")));
            prop_assert_eq!(Some(c.slots_per_epoch), api_u64(spec.pointer("/data/SLOTS_PER_EPOCH")));
            prop_assert!(c.seconds_per_slot > 0 && c.slots_per_epoch > 0);
            // The clock it gives can be used: none of its arithmetic overflows.
            let now = validator_failover::chain::unix_now();
            let _ = c.epoch_seconds();
            let _ = c.seconds_to_next_epoch(now);
            let _ = c.age_in_epochs(now - 1e6, now);
            let _ = c.epoch_start(c.epoch_at(now) + 2);
        }
    }

    /// The chain's timing with numbers of any size: a clock is given only when its
    /// arithmetic holds (a wrapped epoch would time the gates wrongly).
    #[test]
    fn probes_chain_info_numbers_of_any_size(
        sps in prop_oneof![1u64..100, any::<u64>(), Just(u64::MAX)],
        spe in prop_oneof![1u64..200, any::<u64>(), Just(u64::MAX)],
        gt in prop_oneof![1_600_000_000u64..1_800_000_000, any::<u64>(), Just(u64::MAX)],
        as_number in any::<bool>(),
    ) {
        let n = |x: u64| if as_number { json!(x) } else { json!(x.to_string()) };
        let bodies = [
            json!({"data": {"SECONDS_PER_SLOT": n(sps), "SLOTS_PER_EPOCH": n(spe)}}),
            json!({"data": {"genesis_time": n(gt), "genesis_validators_root": ROOT}}),
            json!({"data": {"header": {"message": {"slot": n(gt)}}}}),
        ];
        let h = FuzzHost::new(bodies.iter().map(|b| Answer { status: 200, body: Body::Json(b.clone()) }).collect());
        if let Ok(o) = probe(&h, "chain_info", probes::chain_info(&h, &endpoint(), BeaconFlavour::Zond, LIMIT)) {
            let c = o.value.clock;
            prop_assert_eq!((c.seconds_per_slot, c.slots_per_epoch, c.genesis_time), (sps, spe, gt));
            let now = validator_failover::chain::unix_now();
            let _ = c.epoch_seconds();
            let _ = c.seconds_to_next_epoch(now);
            let _ = c.epoch_start(c.epoch_at(now) + 2);
        }
    }

    /// Every asked index answered, each as the node said it.
    #[test]
    fn probes_liveness(a in answers(), epoch in any::<u64>()) {
        let h = FuzzHost::new(a);
        if let Ok(o) = probe(&h, "liveness", probes::liveness(&h, &endpoint(), BeaconFlavour::Zond, epoch, INDICES, LIMIT)) {
            let (status, v) = h.last_json("validator/liveness/").unwrap();
            prop_assert_eq!(status, 200);
            let data = v["data"].as_array().unwrap();
            for i in INDICES {
                prop_assert!(o.value.iter().any(|(k, _)| k == i));
            }
            for (i, live) in &o.value {
                prop_assert!(data.iter().any(|d| api_u64(d.get("index")) == Some(*i) && d["is_live"].as_bool() == Some(*live)));
            }
        }
    }

    /// Slashed only as the node said it; a validator without it is refused.
    #[test]
    fn probes_validators(a in answers(), by_key in any::<bool>()) {
        let h = FuzzHost::new(a);
        let ids: Vec<String> = if by_key {
            (0..6u32).map(|n| hex(&pubkey(n))).collect()
        } else {
            (0..6u64).map(|n| n.to_string()).collect()
        };
        if let Ok(o) = probe(&h, "validators", probes::validators(&h, &endpoint(), BeaconFlavour::Zond, &ids, LIMIT)) {
            let served: Vec<Json> = h
                .served
                .lock()
                .unwrap()
                .iter()
                .filter_map(|(_, a)| a.clone().ok())
                .filter_map(|(_, b)| serde_json::from_slice::<Json>(&b).ok())
                .flat_map(|v| v["data"].as_array().cloned().unwrap_or_default())
                .collect();
            for s in &o.value {
                prop_assert!(served.iter().any(|d| {
                    api_u64(d.get("index")) == Some(s.index)
                        && match d.pointer("/validator/slashed") {
                            Some(Json::Bool(b)) => *b == s.slashed,
                            Some(Json::String(x)) => x == if s.slashed { "true" } else { "false" },
                            _ => false,
                        }
                }), "{:?} was not served", s);
            }
        }
    }

    #[test]
    fn probes_validator_indices(a in answers()) {
        let h = FuzzHost::new(a);
        let keys: Vec<String> = (0..3u32).map(|n| hex(&pubkey(n))).collect();
        if let Ok(o) = probe(&h, "validator_indices", probes::validator_indices(&h, &endpoint(), BeaconFlavour::Zond, &[], &keys, LIMIT)) {
            for k in o.value.keys() {
                prop_assert!(keys.contains(k));
            }
        }
    }

    /// Our indices in the pool exactly as an independent reading of the answer finds
    /// them; an answer that cannot be read so is refused (never "none of ours").
    #[test]
    fn probes_slashings_of(a in answers()) {
        let h = FuzzHost::new(a);
        let ours = [2u64, 3, 7];
        let r = probe(&h, "slashings_of", probes::slashings_of(&h, &endpoint(), BeaconFlavour::Zond, &ours, LIMIT));
        let model = || -> Option<Vec<u64>> {
            let (status, v) = h.last_json("beacon/pool/attester_slashings")?;
            if status != 200 {
                return None;
            }
            let mut found = BTreeSet::new();
            for s in v.get("data")?.as_array()? {
                let set = |a: &Json| -> Option<BTreeSet<u64>> {
                    a.get("attesting_indices")?.as_array()?.iter().map(|x| api_u64(Some(x))).collect()
                };
                let both: BTreeSet<u64> = set(s.get("attestation_1")?)?.intersection(&set(s.get("attestation_2")?)?).copied().collect();
                found.extend(both.into_iter().filter(|k| ours.contains(k)));
            }
            Some(found.into_iter().collect())
        };
        match (r, model()) {
            (Ok(o), Some(m)) => prop_assert_eq!(o.value, m),
            (Err(_), None) => {}
            (r, m) => prop_assert!(false, "the probe says {:?}, the model {:?} ({:?})", r.map(|o| o.value), m, h.last("beacon/pool/attester_slashings")),
        }
    }

    /// Not syncing only when the client said `false`, or the beacon node said so of it.
    #[test]
    fn probes_execution_sync(a in answers(), pinned in proptest::option::of(proptest::sample::select(ExecutionFlavour::ALL.to_vec()))) {
        let h = FuzzHost::new(a);
        let beacon = BeaconSettings { endpoint: endpoint(), api: Some(BeaconFlavour::Zond), max_sync_distance: 4 };
        if let Ok(o) = probe(&h, "execution_sync", probes::execution_sync(&h, &endpoint(), pinned, &beacon, LIMIT)) {
            let s = o.value;
            match &s.basis {
                ExecutionBasis::Direct => {
                    let (_, v) = h.last_json(s.method.syncing_method()).unwrap();
                    prop_assert_eq!(s.syncing, v["result"] != json!(false));
                    prop_assert!(v["result"] == json!(false) || v["result"].is_object());
                }
                ExecutionBasis::BeaconView { is_optimistic, el_offline } => {
                    let (status, v) = h.last_json("node/syncing").unwrap();
                    prop_assert_eq!(status, 200);
                    prop_assert_eq!(*is_optimistic, v.pointer("/data/is_optimistic").and_then(Json::as_bool));
                    prop_assert_eq!(*el_offline, v.pointer("/data/el_offline").and_then(Json::as_bool));
                }
            }
            if let Some(p) = s.peers {
                let (_, v) = h.last_json("net_peerCount").unwrap();
                prop_assert_eq!(Some(p), v["result"].as_str().and_then(|x| u64::from_str_radix(x.strip_prefix("0x")?, 16).ok()));
            }
        }
    }

    /// Not answering only when nothing listens; answering only with HTTP 200.
    #[test]
    fn probes_metrics(a in answers()) {
        let h = FuzzHost::new(a);
        let r = probe(&h, "metrics", probes::metrics(&h, &endpoint(), LIMIT));
        let served = h.last("metrics").unwrap();
        match (r, served) {
            (Ok(o), Err(f)) => {
                prop_assert_eq!(f, Failure::NothingListens);
                prop_assert!(!o.value.answering);
            }
            (Ok(o), Ok((status, body))) => {
                prop_assert_eq!(status, 200);
                prop_assert!(o.value.answering);
                prop_assert!(o.value.keys <= body.split(|b| *b == b'\n').count());
            }
            (Err(e), Err(f)) => prop_assert_eq!(e.failure, f),
            (Err(_), Ok(_)) => {}
        }
    }
}

// ---------------------------------------------------------------------------
// What the properties found, pinned

fn one_answer(status: u16, body: Json) -> FuzzHost {
    FuzzHost::new(vec![Answer {
        status,
        body: Body::Json(body),
    }])
}

#[test]
fn interchange_epochs_are_read_as_qrysm_reads_them() {
    // Go's strconv.ParseUint (qrysm's EpochFromString) refuses a sign or a space.
    for bad in ["+5", " 5", "5 ", "-0", "0x5", ""] {
        let mut v = interchange_doc();
        v["data"][0]["signed_attestations"][2]["target_epoch"] = json!(bad);
        let e = read_interchange(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(
            e.contains(&format!("data[0]: target_epoch {bad:?} is not a number")),
            "{bad:?}: {e}"
        );
        let mut v = interchange_doc();
        v["data"][0]["signed_blocks"][0]["slot"] = json!(bad);
        let e = read_interchange(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(e.contains("data[0]: slot"), "{bad:?}: {e}");
    }
    let mut v = interchange_doc();
    v["data"][0]["signed_attestations"][2]["target_epoch"] = json!("0005");
    assert!(read_interchange(&serde_json::to_vec(&v).unwrap()).is_ok());
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let deep = |n: usize| {
        let mut b = vec![b'['; n];
        b.extend(vec![b']'; n]);
        b
    };
    let e = read_interchange(&deep(100_000)).unwrap_err();
    assert!(e.contains("not EIP-3076 JSON"), "{e}");
    // where a field is read
    let mut v = interchange_doc();
    v["data"][0]["signed_attestations"] = json!("HOLE");
    let text = serde_json::to_string(&v).unwrap();
    let at = text.find("\"HOLE\"").unwrap();
    let doc = [
        &text.as_bytes()[..at],
        &deep(100_000),
        &text.as_bytes()[at + 6..],
    ]
    .concat();
    let e = read_interchange(&doc).unwrap_err();
    assert!(
        e.contains("not EIP-3076 JSON") && e.contains("at line 1 column"),
        "{e}"
    );
    // in a field that is ignored (a signing root): skipped without recursion
    v["data"][0]["signed_attestations"] =
        json!([{"source_epoch": "0", "target_epoch": "1", "signing_root": "HOLE"}]);
    let text = serde_json::to_string(&v).unwrap();
    let at = text.find("\"HOLE\"").unwrap();
    let doc = [
        &text.as_bytes()[..at],
        &deep(100_000),
        &text.as_bytes()[at + 6..],
    ]
    .concat();
    assert_eq!(read_interchange(&doc).unwrap().attestations, 2);
    let h = FuzzHost::new(vec![Answer {
        status: 200,
        body: Body::Bytes(deep(100_000)),
    }]);
    let e = probe(
        &h,
        "beacon_sync",
        probes::beacon_sync(&h, &endpoint(), BeaconFlavour::Zond, LIMIT),
    )
    .unwrap_err();
    assert!(e.detail.contains("not JSON"), "{e:?}");
}

#[test]
fn beacon_sync_never_takes_a_missing_flag_as_false() {
    for field in ["is_optimistic", "el_offline"] {
        for value in [
            None,
            Some(json!(null)),
            Some(json!("false")),
            Some(json!(0)),
        ] {
            let mut d = json!({"head_slot": "4242", "sync_distance": "1", "is_syncing": false,
                "is_optimistic": false, "el_offline": false});
            match &value {
                None => d.as_object_mut().unwrap().remove(field),
                Some(v) => d.as_object_mut().unwrap().insert(field.into(), v.clone()),
            };
            let h = one_answer(200, json!({ "data": d }));
            let e = probe(
                &h,
                "beacon_sync",
                probes::beacon_sync(&h, &endpoint(), BeaconFlavour::Zond, LIMIT),
            )
            .unwrap_err();
            assert_eq!(e.failure, Failure::Unexpected);
            assert!(
                e.detail.contains(&format!("data.{field}")),
                "{field} {value:?}: {e:?}"
            );
            assert!(e.what.contains("node/syncing"), "{e:?}");
        }
    }
}

#[test]
fn slashings_with_unreadable_indices_are_refused_never_read_as_none_of_ours() {
    let att = |idx: Json| json!({"attesting_indices": idx, "data": {}, "signatures": []});
    let cases = [
        json!({"attestation_1": att(json!(["2"])), "attestation_2": null}),
        json!({"attestation_1": att(json!(["2"])), "attestation_2": {"data": {}}}),
        json!({"attestation_1": att(json!(["2"])), "attestation_2": att(json!("2"))}),
        json!({"attestation_1": att(json!(["2"])), "attestation_2": att(json!(["2", "two"]))}),
        json!({"attestation_1": att(json!([null])), "attestation_2": att(json!(["2"]))}),
    ];
    for s in cases {
        let h = one_answer(200, json!({ "data": [s] }));
        let e = probe(
            &h,
            "slashings_of",
            probes::slashings_of(&h, &endpoint(), BeaconFlavour::Zond, &[2], LIMIT),
        )
        .unwrap_err();
        assert!(
            e.detail.contains("attesting_indices are numbers"),
            "{s}: {e:?}"
        );
    }
    // Numbers as JSON numbers or decimal strings are read.
    let h = one_answer(
        200,
        json!({"data": [{"attestation_1": att(json!([2, "5"])), "attestation_2": att(json!(["2"]))}]}),
    );
    let o = probe(
        &h,
        "slashings_of",
        probes::slashings_of(&h, &endpoint(), BeaconFlavour::Zond, &[2, 5], LIMIT),
    )
    .unwrap();
    assert_eq!(o.value, vec![2]);
}

#[test]
fn a_failed_json_rpc_request_names_its_method() {
    let h = FuzzHost::new(vec![Answer {
        status: 200,
        body: Body::Fail(Failure::TimedOut),
    }]);
    let beacon = BeaconSettings {
        endpoint: endpoint(),
        api: Some(BeaconFlavour::Zond),
        max_sync_distance: 4,
    };
    let e = probe(
        &h,
        "execution_sync",
        probes::execution_sync(
            &h,
            &endpoint(),
            Some(ExecutionFlavour::Zond),
            &beacon,
            LIMIT,
        ),
    )
    .unwrap_err();
    assert_eq!(e.failure, Failure::TimedOut);
    assert_eq!(e.what, "POST http://127.0.0.1:3500/ zond_syncing");
}
