//! qrysm's `validator.db` read by `bolt`/`validator_db` and cross-checked with the
//! real bbolt library (`tests/lab/bolt/vf-bolt`): DBs written by the real library
//! are summarised and read identically, DBs written by `write_history` are opened,
//! checked and dumped by the real library as the model says; and no input, random
//! or a mutated real file, makes the reader panic or hang.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Value as Json, json};
use validator_failover::bolt;
use validator_failover::validator_db::{
    self, KeyHistory, PUBKEY_LEN, QrysmHistory, read_history, read_history_bytes, summarise,
    summarise_bytes, write_history,
};

/// vf-bolt, built by tests/lab/bolt/build.sh; `None` (said) only when Go or bbolt's
/// source is missing outside CI. In CI (`CI` set) a missing Go fails the test.
fn vf_bolt() -> Option<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let r = BIN.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/bolt/build.sh");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        match out.status.code() {
            Some(0) => Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())),
            Some(2) => Err(stderr),
            _ => panic!("build.sh failed: {stderr}"),
        }
    });
    match r {
        Ok(p) => Some(p.clone()),
        Err(why) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must cross-check with the real bbolt library: {why}"
            );
            eprintln!("SKIPPED: the real bbolt cross-check needs Go: {why}");
            None
        }
    }
}

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

fn root(a: u64, b: u64) -> [u8; 32] {
    let mut r = [0u8; 32];
    r[..8].copy_from_slice(&a.to_be_bytes());
    r[8..16].copy_from_slice(&b.to_be_bytes());
    r[31] = 0xa5;
    r
}

fn hex(b: &[u8]) -> String {
    let mut s = String::from("0x");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// The model as vf-bolt's dump prints it.
fn dump_of(h: &QrysmHistory) -> Json {
    let mut keys = serde_json::Map::new();
    for (pk, k) in &h.keys {
        let mut atts = Vec::new();
        for (t, (sources, r)) in &k.attestations {
            let mut s = sources.clone();
            s.sort();
            for s in s {
                atts.push(json!({"source": s, "target": t, "signing_root": hex(r)}));
            }
        }
        let props: Vec<Json> = k
            .proposals
            .iter()
            .map(|(s, r)| json!({"slot": s, "signing_root": hex(r)}))
            .collect();
        keys.insert(
            hex(pk),
            json!({
                "attestations": atts,
                "proposals": props,
                "lowest_signed_source": k.lowest_signed_source,
                "lowest_signed_target": k.lowest_signed_target,
                "highest_signed_proposal": k.highest_signed_proposal,
                "lowest_signed_proposal": k.lowest_signed_proposal,
            }),
        );
    }
    json!({
        "genesis_validators_root": h.genesis_root.map(|g| hex(&g)),
        "keys": keys,
    })
}

/// Equal, or a short message (the values are megabytes when printed).
fn same<T: PartialEq + std::fmt::Debug>(a: &T, b: &T, what: &str) {
    if a != b {
        let (a, b) = (format!("{a:?}"), format!("{b:?}"));
        let at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
        let from = at.saturating_sub(200);
        panic!(
            "{what}: differ at byte {at} of {}/{}:\n  left: …{}\n right: …{}",
            a.len(),
            b.len(),
            a.get(from..(at + 200).min(a.len())).unwrap_or(""),
            b.get(from..(at + 200).min(b.len())).unwrap_or("")
        );
    }
}

fn run(bin: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin).args(args).output().unwrap()
}

fn dump(bin: &Path, db: &Path) -> Json {
    let out = run(bin, &["dump", db.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A history with several keys, double sources on one target, many epochs
/// (multi-page buckets, branch pages), proposals and a genesis root.
fn model(keys: u32, epochs: u64) -> QrysmHistory {
    let mut h = QrysmHistory {
        genesis_root: Some(root(7, 7)),
        keys: BTreeMap::new(),
    };
    for n in 0..keys {
        let k: &mut KeyHistory = h.keys.entry(pubkey(n)).or_default();
        for e in 1..=epochs + u64::from(n) {
            k.attest(e - 1, e, root(u64::from(n), e));
        }
        // a second source for one target (qrysm appends it)
        k.attest(3, 10, root(u64::from(n), 10));
        for s in 0..(n as u64 % 4) {
            k.propose(1000 + 128 * s + u64::from(n), root(99, s));
        }
    }
    // a key that only proposed
    h.keys
        .entry(pubkey(1000))
        .or_default()
        .propose(77, root(1, 77));
    h
}

#[test]
fn validator_db_real_bbolt_hold_is_read_identically() {
    let Some(bin) = vf_bolt() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("validator.db");
    let mut child = Command::new(&bin)
        .args([
            "hold",
            db.to_str().unwrap(),
            "--genesis-root",
            &hex(&root(7, 7)),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");

    let want = model(5, 300);
    let mut ops = Vec::new();
    for (pk, k) in &want.keys {
        for (t, (sources, r)) in &k.attestations {
            for s in sources {
                ops.push(json!({"op": "attest", "pubkey": hex(pk), "source": s, "target": t, "root": hex(r)}));
            }
        }
        for (slot, r) in &k.proposals {
            ops.push(json!({"op": "propose", "pubkey": hex(pk), "slot": slot, "root": hex(r)}));
        }
    }
    // In small batches: each op is its own transaction, answered once durable.
    for chunk in ops.chunks(64) {
        for op in chunk {
            writeln!(stdin, "{op}").unwrap();
        }
        stdin.flush().unwrap();
        for _ in chunk {
            line.clear();
            stdout.read_line(&mut line).unwrap();
            assert_eq!(line, "ok\n");
        }
    }
    // The lock is held: the real library cannot open it; our reader can (the
    // lock is advisory and it never writes).
    let locked = run(&bin, &["dump", db.to_str().unwrap()]);
    assert_eq!(locked.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&locked.stderr)
            .contains("cannot obtain database lock, database may be in use by another process")
    );
    let live = summarise(&db).unwrap();
    assert_eq!(live.keys.len(), want.keys.len());

    drop(stdin);
    assert!(child.wait().unwrap().success());

    let real = dump(&bin, &db);
    same(&real, &dump_of(&want), "vf-bolt dump against the model");
    // The full model, as read by the Rust reader, is what the real library holds.
    let got = read_history(&db).unwrap();
    same(&got, &want, "read_history against the model");
    // And the summary, key by key, against the real library's dump.
    let s = summarise(&db).unwrap();
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(s.page_size, 4096);
    assert_eq!(
        s.genesis_validators_root.as_deref(),
        real["genesis_validators_root"].as_str()
    );
    let keys = real["keys"].as_object().unwrap();
    assert_eq!(s.keys.len(), keys.len());
    for k in &s.keys {
        let r = &keys[&k.pubkey];
        let atts = r["attestations"].as_array().unwrap();
        assert_eq!(k.attestations, atts.len() as u64, "{}", k.pubkey);
        assert_eq!(
            k.last_target,
            atts.iter().filter_map(|a| a["target"].as_u64()).max()
        );
        assert_eq!(
            k.last_source,
            atts.iter().filter_map(|a| a["source"].as_u64()).max()
        );
        assert_eq!(k.highest_proposal, r["highest_signed_proposal"].as_u64());
    }
    let text = s.summary();
    assert!(text.starts_with("6 keys, last target epochs 0x"), "{text}");
}

#[test]
fn validator_db_rust_writer_is_accepted_by_real_bbolt() {
    let Some(bin) = vf_bolt() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (i, h) in [
        QrysmHistory::default(),
        model(1, 3),
        model(4, 2000),
        // enough keys that pubkeys-bucket has branch pages of 2,592-byte keys
        model(40, 20),
    ]
    .iter()
    .enumerate()
    {
        let bytes = write_history(h);
        assert!(bytes.len() < 4 << 20, "{} bytes", bytes.len());
        let db = dir.path().join(format!("w{i}.db"));
        std::fs::write(&db, &bytes).unwrap();
        let check = run(&bin, &["check", db.to_str().unwrap()]);
        assert!(
            check.status.success(),
            "case {i}: vf-bolt check: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        same(
            &dump(&bin, &db),
            &dump_of(h),
            &format!("case {i}: vf-bolt dump"),
        );
        same(
            &read_history_bytes(&bytes, "w.db").unwrap(),
            h,
            "read_history_bytes",
        );
    }

    // The real library opens a Rust-written DB read-write, as qrysm would, and
    // goes on writing to it; the Rust reader sees the result.
    let mut h = model(2, 50);
    let db = dir.path().join("validator.db");
    std::fs::write(&db, write_history(&h)).unwrap();
    let pk = pubkey(0);
    let mut child = Command::new(&bin)
        .args([
            "hold",
            db.to_str().unwrap(),
            "--genesis-root",
            &hex(&root(7, 7)),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(
        stdin,
        "{}",
        json!({"op": "attest", "pubkey": hex(&pk), "source": 50, "target": 51, "root": hex(&root(0, 51))})
    )
    .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ready\nok\n");
    h.keys.get_mut(&pk).unwrap().attest(50, 51, root(0, 51));
    same(
        &read_history(&db).unwrap(),
        &h,
        "after the real library wrote",
    );
    assert_eq!(summarise(&db).unwrap().keys[0].last_target, Some(51));

    // A genesis root that differs is refused, exit 4.
    let out = run(
        &bin,
        &[
            "hold",
            db.to_str().unwrap(),
            "--genesis-root",
            &hex(&root(8, 8)),
        ],
    );
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn validator_db_vf_bolt_write_round_trips() {
    let Some(bin) = vf_bolt() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("validator.db");
    let h = model(3, 500);
    let mut child = Command::new(&bin)
        .args(["write", db.to_str().unwrap()])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dump_of(&h).to_string().as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(run(&bin, &["check", db.to_str().unwrap()]).status.success());
    // vf-bolt writes a target's sources in the dump's (sorted) order.
    same(
        &dump_of(&read_history(&db).unwrap()),
        &dump_of(&h),
        "vf-bolt write",
    );
}

// ---- never panic, never hang ----

fn base_file() -> &'static [u8] {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| write_history(&model(3, 200)))
}

/// A file written by the real library (`vf-bolt bulk`: its own page layout, fill,
/// inline buckets and freelist), cut to its high-water mark (the rest of a bbolt
/// file is unused space); `None` without Go, outside CI.
fn real_file() -> Option<&'static [u8]> {
    static REAL: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    REAL.get_or_init(|| {
        let bin = vf_bolt()?;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("validator.db");
        let out = run(
            &bin,
            &[
                "bulk",
                db.to_str().unwrap(),
                "--keys",
                "3",
                "--epochs",
                "300",
                "--proposals-every",
                "7",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut bytes = std::fs::read(&db).unwrap();
        let hw = bolt::Db::from_bytes(&bytes, "r.db")
            .unwrap()
            .meta()
            .high_water;
        bytes.truncate(hw as usize * 4096);
        let s = summarise_bytes(&bytes, "r.db").unwrap();
        assert_eq!(s.keys.len(), 3);
        assert!(
            s.keys
                .iter()
                .all(|k| k.attestations == 300 && k.last_target == Some(299))
        );
        Some(bytes)
    })
    .as_deref()
}

/// Recomputes both meta checksums, so that mutations reach past the meta pages.
fn restamp(bytes: &mut [u8]) {
    for page in 0..2usize {
        let at = page * 4096 + 16;
        if bytes.len() >= at + 64 {
            let sum = bolt::fnv64a(&bytes[at..at + 56]);
            bytes[at + 56..at + 64].copy_from_slice(&sum.to_le_bytes());
        }
    }
}

/// Everything the reader does on `bytes`, timed: a summary, the full history and a
/// full check, each an answer or an error, quickly.
fn exercise(bytes: &[u8]) {
    let start = Instant::now();
    let s = summarise_bytes(bytes, "m.db");
    if let Err(e) = &s {
        assert!(!e.to_string().is_empty());
    }
    let _ = read_history_bytes(bytes, "m.db");
    if let Ok(db) = bolt::Db::from_bytes(bytes, "m.db") {
        let _ = db.check();
        let r = db.root();
        let _ = r.last();
        let _ = r.get(b"pubkeys-bucket");
        if let Ok(Some(b)) = r.bucket(validator_db::PUBKEYS_BUCKET) {
            let _ = b.entries().count();
        }
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, xor: u8 },
    Truncate { len: usize },
    Splice { from: usize, to: usize },
    U32 { at: usize, v: u32 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, xor)| Mutation::Flip { at, xor }),
        any::<usize>().prop_map(|len| Mutation::Truncate { len }),
        (any::<usize>(), any::<usize>()).prop_map(|(from, to)| Mutation::Splice { from, to }),
        // a page header's or an element's field
        (any::<usize>(), any::<u32>()).prop_map(|(at, v)| Mutation::U32 { at, v }),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len();
    let pages = n / 4096;
    match *m {
        Mutation::Flip { at, xor } => bytes[at % n] ^= xor,
        Mutation::Truncate { len } => bytes.truncate(len % n),
        Mutation::Splice { .. } | Mutation::U32 { .. } if pages == 0 => {}
        Mutation::Splice { from, to } => {
            let (f, t) = (from % pages, to % pages);
            let src = bytes[f * 4096..(f + 1) * 4096].to_vec();
            bytes[t * 4096..(t + 1) * 4096].copy_from_slice(&src);
        }
        Mutation::U32 { at, v } => {
            // the first 64 bytes of a page: header and first elements
            let p = (at / 64) % pages;
            let off = p * 4096 + (at % 64) / 4 * 4;
            bytes[off..off + 4].copy_from_slice(&v.to_le_bytes());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn validator_db_random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..20_000)) {
        exercise(&bytes);
        // with a valid-looking meta page in front
        let mut b = base_file()[..8192].to_vec();
        b.extend(&bytes);
        exercise(&b);
    }

    #[test]
    fn validator_db_mutated_files_never_panic(ms in proptest::collection::vec(mutation(), 1..6), stamp in any::<bool>()) {
        let mut bytes = base_file().to_vec();
        for m in &ms {
            if !bytes.is_empty() {
                apply(&mut bytes, m);
            }
        }
        if stamp {
            restamp(&mut bytes);
        }
        exercise(&bytes);
    }

    #[test]
    fn validator_db_mutated_real_bbolt_files_never_panic(ms in proptest::collection::vec(mutation(), 1..6), stamp in any::<bool>()) {
        let Some(real) = real_file() else { return Ok(()) };
        let mut bytes = real.to_vec();
        for m in &ms {
            if !bytes.is_empty() {
                apply(&mut bytes, m);
            }
        }
        if stamp {
            restamp(&mut bytes);
        }
        exercise(&bytes);
    }
}

#[test]
fn validator_db_unmutated_base_is_whole() {
    // The base of the mutations is itself a good file (the mutations start from a
    // real DB, not from garbage).
    let s = summarise_bytes(base_file(), "b.db").unwrap();
    assert_eq!(s.keys.len(), 4);
    assert!(
        bolt::Db::from_bytes(base_file(), "b.db")
            .unwrap()
            .check()
            .is_ok()
    );
}
