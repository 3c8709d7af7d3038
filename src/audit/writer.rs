//! Appends entries to a run's journal: each one written whole and fsynced before the
//! next step goes on, so that a crash loses at most the entry being written.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::JOURNAL_FILE;
use crate::engine::journal::{Entry, Record};

pub struct JournalWriter {
    dir: PathBuf,
    file: File,
    last: Option<Entry>,
    operator: String,
}

/// A new run's directory name: its UTC start time and a short random suffix.
pub fn run_id(at: f64) -> String {
    let stamp = jiff::Timestamp::from_second(at as i64)
        .map(|t| t.strftime("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|_| "run".into());
    let mut rnd = [0u8; 3];
    if let Ok(mut f) = File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut rnd);
    }
    format!("{stamp}-{:02x}{:02x}{:02x}", rnd[0], rnd[1], rnd[2])
}

impl JournalWriter {
    /// Start a new run's journal in `runs_dir/<id>` (directories 0700, file 0600).
    pub fn create(runs_dir: &Path, id: &str, operator: &str) -> std::io::Result<JournalWriter> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(runs_dir)?;
        let dir = runs_dir.join(id);
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .mode(0o600)
            .open(dir.join(JOURNAL_FILE))?;
        File::open(&dir)?.sync_all()?;
        Ok(JournalWriter {
            dir,
            file,
            last: None,
            operator: operator.to_string(),
        })
    }

    /// Go on writing an existing run's journal, after checking its chain.
    pub fn resume(dir: &Path, operator: &str) -> Result<JournalWriter, super::export::AuditError> {
        let entries = super::read_journal(dir)?;
        let file = OpenOptions::new()
            .append(true)
            .open(dir.join(JOURNAL_FILE))
            .map_err(|e| super::export::AuditError::Io(dir.join(JOURNAL_FILE), e.to_string()))?;
        Ok(JournalWriter {
            dir: dir.to_path_buf(),
            file,
            last: entries.last().cloned(),
            operator: operator.to_string(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn last(&self) -> Option<&Entry> {
        self.last.as_ref()
    }

    /// Append one record, durably.
    pub fn append(&mut self, at: f64, record: Record) -> std::io::Result<Entry> {
        let entry = Entry::next(self.last.as_ref(), at, &self.operator, record);
        let mut line = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()?;
        self.last = Some(entry.clone());
        Ok(entry)
    }
}
