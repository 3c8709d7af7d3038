//! Validation of a slashing-protection archive before it goes anywhere near the
//! backup (spec §1 item 3, §7): streamed (never whole in memory), and refused unless
//! it is exactly a directory of regular files that holds real slashing-protection
//! data. A hostile or empty archive changes nothing.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Component, Path};

use flate2::read::GzDecoder;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::probes::{HistoryKind, history_kind};

/// How much an archive may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Total bytes of all files, uncompressed.
    pub max_total: u64,
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_total: 64 << 30,
            max_entries: 100_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchivedFile {
    /// Path inside the archive, `slashing-protection/validator.db`.
    pub path: String,
    pub size: u64,
    pub kind: HistoryKind,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveReport {
    pub files: Vec<ArchivedFile>,
    pub dirs: Vec<String>,
    pub total: u64,
}

impl ArchiveReport {
    pub fn summary(&self) -> String {
        let kinds: Vec<String> = self
            .files
            .iter()
            .filter(|f| f.kind != HistoryKind::Unknown)
            .map(|f| {
                format!(
                    "{} ({:?}, {})",
                    f.path,
                    f.kind,
                    crate::probes::human_bytes(f.size)
                )
            })
            .collect();
        format!(
            "{} file(s), {}: {}",
            self.files.len(),
            crate::probes::human_bytes(self.total),
            kinds.join(", ")
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveError {
    /// Not gzip, not tar, cut off.
    Unreadable(String),
    /// An entry that must not be there, and why.
    Hostile {
        entry: String,
        why: String,
    },
    Empty,
    /// Files, but no bbolt database or EIP-3076 file among them.
    NoHistory(String),
    TooLarge(String),
}

impl std::fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArchiveError::Unreadable(e) => write!(f, "not a readable tar.gz: {e}"),
            ArchiveError::Hostile { entry, why } => write!(f, "refused: entry {entry:?} {why}"),
            ArchiveError::Empty => write!(f, "refused: the archive holds no file with data"),
            ArchiveError::NoHistory(s) => {
                write!(f, "refused: no bbolt database or EIP-3076 file in it ({s})")
            }
            ArchiveError::TooLarge(s) => write!(f, "refused: too large ({s})"),
        }
    }
}

impl std::error::Error for ArchiveError {}

/// Read a tar.gz from `reader` and check every entry: regular files and directories
/// only, all under `top/`, no absolute or `..` path, no duplicate, within the limits,
/// and at least one non-empty bbolt or EIP-3076 file.
pub fn validate(
    reader: impl Read,
    top: &str,
    limits: Limits,
) -> Result<ArchiveReport, ArchiveError> {
    validate_into(reader, Some(top), limits, None)
}

/// [`validate`], with any one top-level name when `top` is None, and every file that
/// holds slashing-protection data also written into `extract` (flat: its path's `/`
/// become `%`; two names that would become one file are refused), so that it can be
/// read here. Nothing is written outside `extract`.
pub fn validate_into(
    reader: impl Read,
    top: Option<&str>,
    limits: Limits,
    extract: Option<&Path>,
) -> Result<ArchiveReport, ArchiveError> {
    let mut top_seen: Option<String> = top.map(str::to_string);
    let mut archive = tar::Archive::new(GzDecoder::new(reader));
    let entries = archive
        .entries()
        .map_err(|e| ArchiveError::Unreadable(e.to_string()))?;
    let mut report = ArchiveReport {
        files: Vec::new(),
        dirs: Vec::new(),
        total: 0,
    };
    let mut seen = BTreeSet::new();
    // flattened name → the path that has it
    let mut flat = std::collections::BTreeMap::new();
    let mut count = 0usize;
    let mut buf = vec![0u8; 256 * 1024];
    for entry in entries {
        let mut entry = entry.map_err(|e| ArchiveError::Unreadable(e.to_string()))?;
        count += 1;
        if count > limits.max_entries {
            return Err(ArchiveError::TooLarge(format!(
                "more than {} entries",
                limits.max_entries
            )));
        }
        let raw = entry
            .path()
            .map_err(|e| ArchiveError::Unreadable(e.to_string()))?
            .into_owned();
        let shown = raw.display().to_string();
        let hostile = |why: &str| ArchiveError::Hostile {
            entry: shown.clone(),
            why: why.to_string(),
        };
        let path = clean(&raw).map_err(&hostile)?;
        if path.is_empty() {
            // `./` itself.
            continue;
        }
        let first = path.split('/').next().unwrap_or("").to_string();
        match &top_seen {
            Some(top) if &first != top => {
                return Err(hostile(&format!("is outside {top}/")));
            }
            Some(_) => {}
            None => top_seen = Some(first),
        }
        if !seen.insert(path.clone()) {
            return Err(hostile(
                "appears twice (the second would silently replace the first)",
            ));
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            report.dirs.push(path);
            continue;
        }
        if !kind.is_file() {
            let what = if kind.is_symlink() {
                "is a symbolic link"
            } else if kind.is_hard_link() {
                "is a hard link"
            } else if kind.is_character_special() || kind.is_block_special() {
                "is a device"
            } else if kind.is_fifo() {
                "is a FIFO"
            } else {
                "is not a regular file or directory"
            };
            return Err(hostile(what));
        }
        let size = entry
            .header()
            .size()
            .map_err(|e| ArchiveError::Unreadable(e.to_string()))?;
        report.total += size;
        if report.total > limits.max_total {
            return Err(ArchiveError::TooLarge(format!(
                "more than {} uncompressed",
                crate::probes::human_bytes(limits.max_total)
            )));
        }
        // Extracted flat, two names can become one file ("a/b" and "a%b"): the second
        // would silently replace the first's copy, which is then read as the history.
        if let Some(first) = flat.insert(path.replace('/', "%"), path.clone()) {
            return Err(hostile(&format!(
                "would be extracted as the same file as {first:?}"
            )));
        }
        let mut hasher = Sha256::new();
        let mut head = Vec::with_capacity(4096);
        let mut read = 0u64;
        let local_err =
            |e: std::io::Error| ArchiveError::Unreadable(format!("writing {shown} here: {e}"));
        let mut out = match extract {
            Some(dir) => {
                Some(std::fs::File::create(dir.join(path.replace('/', "%"))).map_err(local_err)?)
            }
            None => None,
        };
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|e| ArchiveError::Unreadable(format!("{shown}: {e}")))?;
            if n == 0 {
                break;
            }
            if head.len() < 4096 {
                let take = (4096 - head.len()).min(n);
                head.extend_from_slice(&buf[..take]);
            }
            hasher.update(&buf[..n]);
            if let Some(f) = out.as_mut() {
                std::io::Write::write_all(f, &buf[..n]).map_err(local_err)?;
            }
            read += n as u64;
        }
        if let Some(f) = out {
            f.sync_all().map_err(local_err)?;
        }
        if read != size {
            return Err(ArchiveError::Unreadable(format!(
                "{shown}: {read} of {size} bytes: cut off"
            )));
        }
        report.files.push(ArchivedFile {
            path,
            size,
            kind: if size == 0 {
                HistoryKind::Unknown
            } else {
                history_kind(&head)
            },
            sha256: hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        });
    }
    if report.files.iter().all(|f| f.size == 0) {
        return Err(ArchiveError::Empty);
    }
    if !report.files.iter().any(|f| f.kind != HistoryKind::Unknown) {
        return Err(ArchiveError::NoHistory(format!(
            "{} file(s): {}",
            report.files.len(),
            report
                .files
                .iter()
                .map(|f| f.path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(report)
}

/// Where an extracted file was written by [`validate_into`].
pub fn extracted(dir: &Path, path_in_archive: &str) -> std::path::PathBuf {
    dir.join(path_in_archive.replace('/', "%"))
}

/// The history in an archive of it: exactly one bbolt file named `validator.db` (at
/// the top, as the failover's own archive holds it, or in one directory, as the
/// runbook's backups hold `slashing-protection/validator.db`), validated, written into
/// `dir` and read as qrysm's DB. Err says, in the operator's words, why there is none.
pub fn open_history(
    archive: &Path,
    dir: &Path,
) -> Result<
    (
        ArchiveReport,
        crate::validator_db::DbSummary,
        std::path::PathBuf,
    ),
    String,
> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let f = std::fs::File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    let report = validate_into(
        std::io::BufReader::new(f),
        None,
        Limits::default(),
        Some(dir),
    )
    .map_err(|e| e.to_string())?;
    let dbs: Vec<&ArchivedFile> = report
        .files
        .iter()
        .filter(|f| {
            f.kind == HistoryKind::Bbolt
                && f.path.rsplit('/').next() == Some(crate::history::PROTECTION_DB_FILE)
        })
        .collect();
    let db = match dbs.as_slice() {
        [one] => *one,
        [] => {
            return Err(format!(
                "no {} in it ({})",
                crate::history::PROTECTION_DB_FILE,
                report.summary()
            ));
        }
        many => {
            return Err(format!(
                "{} files named {}: which one is the history cannot be told",
                many.len(),
                crate::history::PROTECTION_DB_FILE
            ));
        }
    };
    let path = extracted(dir, &db.path);
    let summary = crate::validator_db::summarise(&path).map_err(|e| format!("{}: {e}", db.path))?;
    if summary.keys.is_empty() {
        return Err(format!("{} holds no key", db.path));
    }
    Ok((report.clone(), summary, path))
}

/// A relative path with `.` removed; refuses absolute and `..` paths.
fn clean(p: &Path) -> Result<String, &'static str> {
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => {
                let s = s.to_str().ok_or("has a name that is not UTF-8")?;
                parts.push(s.to_string());
            }
            Component::CurDir => {}
            Component::ParentDir => return Err("climbs out with `..`"),
            Component::RootDir | Component::Prefix(_) => return Err("has an absolute path"),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;

    fn db() -> Vec<u8> {
        let mut d = crate::hosts::sim::new_db();
        d.extend_from_slice(b"{\"index\":0,\"target_epoch\":3}\n");
        d
    }

    /// Build a tar.gz from (path, type, data) with raw headers, so that hostile
    /// paths the `tar` builder would refuse can be written too.
    fn build(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        for (path, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            {
                let name = &mut h.as_old_mut().name;
                name[..path.len()].copy_from_slice(path.as_bytes());
            }
            h.set_entry_type(*kind);
            h.set_mode(0o600);
            h.set_size(data.len() as u64);
            if kind.is_symlink() || kind.is_hard_link() {
                h.set_link_name("/etc/shadow").unwrap();
            }
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    fn check(entries: &[(&str, tar::EntryType, &[u8])]) -> Result<ArchiveReport, ArchiveError> {
        validate(
            &build(entries)[..],
            "slashing-protection",
            Limits::default(),
        )
    }

    use tar::EntryType as T;

    #[test]
    fn the_runbooks_archive_passes() {
        let d = db();
        let r = check(&[
            ("slashing-protection/", T::Directory, b""),
            ("slashing-protection/validator.db", T::Regular, &d),
        ])
        .unwrap();
        assert_eq!(r.files.len(), 1);
        assert_eq!(r.files[0].kind, HistoryKind::Bbolt);
        assert_eq!(r.total, d.len() as u64);
        let sha: String = Sha256::digest(&d)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(r.files[0].sha256, sha);
        // `tar -C dir .`-style names are accepted too.
        check(&[("./slashing-protection/validator.db", T::Regular, &d)]).unwrap();
    }

    #[test]
    fn hostile_entries_are_refused_naming_them() {
        let d = db();
        type Entries<'a> = Vec<(&'a str, T, &'a [u8])>;
        let cases: Vec<(Entries, &str)> = vec![
            (vec![("/etc/cron.d/x", T::Regular, b"x")], "absolute"),
            (
                vec![(
                    "slashing-protection/../../root/.ssh/authorized_keys",
                    T::Regular,
                    b"x",
                )],
                "`..`",
            ),
            (
                vec![("slashing-protection/validator.db", T::Symlink, b"")],
                "symbolic link",
            ),
            (
                vec![("slashing-protection/validator.db", T::Link, b"")],
                "hard link",
            ),
            (vec![("slashing-protection/dev", T::Char, b"")], "device"),
            (vec![("slashing-protection/dev", T::Block, b"")], "device"),
            (vec![("slashing-protection/p", T::Fifo, b"")], "FIFO"),
            (vec![("other/validator.db", T::Regular, &d)], "outside"),
            (
                vec![
                    ("slashing-protection/validator.db", T::Regular, &d),
                    ("slashing-protection/validator.db", T::Regular, b"evil"),
                ],
                "twice",
            ),
            (
                vec![
                    ("slashing-protection/a/validator.db", T::Regular, &d),
                    ("slashing-protection/a%validator.db", T::Regular, b"evil"),
                ],
                "the same file as \"slashing-protection/a/validator.db\"",
            ),
        ];
        for (entries, words) in cases {
            match check(&entries) {
                Err(ArchiveError::Hostile { why, entry }) => {
                    assert!(why.contains(words), "{entry}: {why} (wanted {words})")
                }
                other => panic!(
                    "{:?} should be hostile ({words}), got {other:?}",
                    entries[0].0
                ),
            }
        }
    }

    #[test]
    fn empty_and_wrong_content_are_refused() {
        assert_eq!(check(&[]), Err(ArchiveError::Empty));
        assert_eq!(
            check(&[("slashing-protection/", T::Directory, b"")]),
            Err(ArchiveError::Empty)
        );
        assert_eq!(
            check(&[("slashing-protection/validator.db", T::Regular, b"")]),
            Err(ArchiveError::Empty)
        );
        assert!(matches!(
            check(&[("slashing-protection/notes.txt", T::Regular, b"hello")]),
            Err(ArchiveError::NoHistory(_))
        ));
        let eip = br#"{"metadata":{"interchange_format_version":"5","genesis_validators_root":"0x00"},"data":[]}"#;
        let r = check(&[(
            "slashing-protection/slashing_protection.json",
            T::Regular,
            eip,
        )])
        .unwrap();
        assert_eq!(r.files[0].kind, HistoryKind::Eip3076);
    }

    #[test]
    fn garbage_and_truncation_are_unreadable() {
        assert!(matches!(
            validate(
                &b"not gzip at all"[..],
                "slashing-protection",
                Limits::default()
            ),
            Err(ArchiveError::Unreadable(_))
        ));
        let d = vec![7u8; 200_000];
        let full = build(&[("slashing-protection/validator.db", T::Regular, &d)]);
        let cut = &full[..full.len() / 2];
        assert!(matches!(
            validate(cut, "slashing-protection", Limits::default()),
            Err(ArchiveError::Unreadable(_))
        ));
    }

    #[test]
    fn limits_are_enforced() {
        let d = db();
        let small = Limits {
            max_total: 100,
            max_entries: 10,
        };
        let a = build(&[("slashing-protection/validator.db", T::Regular, &d)]);
        assert!(matches!(
            validate(&a[..], "slashing-protection", small),
            Err(ArchiveError::TooLarge(_))
        ));
        let many: Vec<(String, T, &[u8])> = (0..20)
            .map(|i| (format!("slashing-protection/f{i}"), T::Regular, &b"x"[..]))
            .collect();
        let refs: Vec<(&str, T, &[u8])> =
            many.iter().map(|(p, t, d)| (p.as_str(), *t, *d)).collect();
        let a = build(&refs);
        let lim = Limits {
            max_total: 1 << 20,
            max_entries: 10,
        };
        assert!(matches!(
            validate(&a[..], "slashing-protection", lim),
            Err(ArchiveError::TooLarge(_))
        ));
    }
}
