//! `check --textfile PATH`: the preflight as Prometheus metrics in the text
//! exposition format that node_exporter's textfile collector reads, written
//! atomically (a temporary file in the same directory, fsync, rename, the directory
//! synced), mode 0644, so that a scrape never sees half a file.
//!
//! Every value comes from the judged preflight's typed rows ([`CheckItem::check`],
//! its verdict) and its per-host figures, never from its display text.
//!
//! [`CheckItem::check`]: crate::engine::preflight::CheckItem

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::engine::preflight::{CheckItem, Preflight, Verdict};

/// The `host` label of a check that belongs to the pair (configuration, chain timing).
pub const PAIR: &str = "pair";

/// Metric families, in the order written: (name, help).
pub const FAMILIES: [(&str, &str); 9] = [
    (
        "validator_failover_check_ok",
        "1 when the preflight check is not red (green or a warning), 0 when it is red or could not be observed; labels: host (primary, backup or pair) and check.",
    ),
    (
        "validator_failover_check_warning",
        "1 when the preflight check is a warning (worth knowing, not a gate), else 0.",
    ),
    (
        "validator_failover_check_success",
        "1 when no preflight check is red (what check's exit status 0 says), else 0.",
    ),
    (
        "validator_failover_check_timestamp_seconds",
        "When the preflight was judged, in unix seconds.",
    ),
    (
        "validator_failover_check_red",
        "How many preflight checks are red or could not be observed.",
    ),
    (
        "validator_failover_clock_offset_seconds",
        "The host's clock minus the checking machine's, in seconds (absent when it could not be read).",
    ),
    (
        "validator_failover_archives",
        "How many backup archives match the configured pattern on the host (absent when they could not be listed).",
    ),
    (
        "validator_failover_newest_archive_age_seconds",
        "Seconds since the host's newest backup archive was written (absent when there is none or it could not be listed).",
    ),
    (
        "validator_failover_host_info",
        "Always 1: the configured name and ssh destination of each host.",
    ),
];

/// Escape a label value (exposition format: backslash, double quote, newline).
fn label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn host_label(i: &CheckItem) -> &'static str {
    i.host.map(|r| r.as_str()).unwrap_or(PAIR)
}

/// One family's samples: (labels, value). A value that is not finite is left out
/// (the format would need `NaN`/`+Inf`, which no alert wants to compare).
type Samples = Vec<(Vec<(&'static str, String)>, f64)>;

/// The preflight as a textfile.
pub fn render(cfg: &Config, p: &Preflight) -> String {
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let checks = |f: &dyn Fn(&CheckItem) -> f64| -> Samples {
        p.items
            .iter()
            .map(|i| {
                (
                    vec![
                        ("host", host_label(i).to_string()),
                        ("check", i.check.name().to_string()),
                    ],
                    f(i),
                )
            })
            .collect()
    };
    let per_host = |f: &dyn Fn(&crate::engine::preflight::HostFigures) -> Option<f64>| -> Samples {
        p.hosts
            .iter()
            .filter_map(|h| f(h).map(|v| (vec![("host", h.role.as_str().to_string())], v)))
            .collect()
    };
    let families: [Samples; 9] = [
        checks(&|i| flag(!i.verdict.fails())),
        checks(&|i| flag(i.verdict == Verdict::Warn)),
        vec![(vec![], flag(p.all_green()))],
        vec![(vec![], p.at)],
        vec![(vec![], p.red().count() as f64)],
        per_host(&|h| h.clock_offset),
        per_host(&|h| h.archives.map(|n| n as f64)),
        per_host(&|h| h.newest_archive_age),
        [&cfg.primary, &cfg.backup]
            .into_iter()
            .map(|h| {
                (
                    vec![
                        ("host", h.role.as_str().to_string()),
                        ("name", h.name.clone()),
                        ("destination", h.display_destination()),
                    ],
                    1.0,
                )
            })
            .collect(),
    ];
    let mut s = String::new();
    for ((name, help), samples) in FAMILIES.iter().zip(families) {
        let _ = writeln!(s, "# HELP {name} {help}");
        let _ = writeln!(s, "# TYPE {name} gauge");
        for (labels, value) in samples {
            if !value.is_finite() {
                continue;
            }
            s.push_str(name);
            if !labels.is_empty() {
                let l: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
                    .collect();
                let _ = write!(s, "{{{}}}", l.join(","));
            }
            let _ = writeln!(s, " {value}");
        }
    }
    s
}

/// Why a textfile cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum TextfileError {
    #[error("--textfile {path}: node_exporter's textfile collector reads only files named *.prom")]
    NotProm { path: PathBuf },
    #[error("--textfile {path}: the directory {dir} does not exist")]
    NoDirectory { path: PathBuf, dir: PathBuf },
    #[error("--textfile {path}: cannot {doing}: {source}")]
    Io {
        path: PathBuf,
        doing: &'static str,
        source: std::io::Error,
    },
}

fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Refuse, before anything is probed, a path the collector would never read or
/// that cannot be written.
pub fn check_path(path: &Path) -> Result<(), TextfileError> {
    if path.extension().and_then(|e| e.to_str()) != Some("prom")
        || path.file_stem().is_none_or(|s| s.is_empty())
    {
        return Err(TextfileError::NotProm {
            path: path.to_path_buf(),
        });
    }
    let dir = directory_of(path);
    if !dir.is_dir() {
        return Err(TextfileError::NoDirectory {
            path: path.to_path_buf(),
            dir,
        });
    }
    Ok(())
}

/// Write `text` to `path` atomically: a temporary file beside it (named so that the
/// collector, which reads `*.prom`, never reads it), written, moded 0644, fsynced,
/// renamed over `path`, then the directory fsynced.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), TextfileError> {
    check_path(path)?;
    let io = |doing: &'static str| {
        move |source: std::io::Error| TextfileError::Io {
            path: path.to_path_buf(),
            doing,
            source,
        }
    };
    let dir = directory_of(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".validator-failover-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(io("create a temporary file in its directory"))?;
    tmp.write_all(text.as_bytes())
        .map_err(io("write the temporary file"))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(io("set the temporary file's mode"))?;
    tmp.as_file()
        .sync_all()
        .map_err(io("sync the temporary file"))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .map_err(io("rename the temporary file over it"))?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync its directory"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn a_path_the_collector_would_not_read_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let e = check_path(&dir.path().join("vf.txt")).unwrap_err();
        assert!(e.to_string().contains("vf.txt"), "{e}");
        assert!(e.to_string().contains("*.prom"), "{e}");
        assert!(check_path(&dir.path().join(".prom")).is_err());
        let e = check_path(Path::new("/nonexistent-vf/x.prom")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--textfile /nonexistent-vf/x.prom: the directory /nonexistent-vf does not exist"
        );
    }

    #[test]
    fn the_file_is_replaced_whole_moded_0644_and_nothing_else_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("validator-failover.prom");
        std::fs::write(&path, "old\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomically(&path, "new 1\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new 1\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("validator-failover.prom")]
        );
    }

    #[test]
    fn a_missing_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("vf.prom");
        let e = write_atomically(&path, "x 1\n").unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }
}
