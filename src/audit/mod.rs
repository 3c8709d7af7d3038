//! The run's journal on disk (append-only JSON lines, hash-chained, mode 0600, fsync
//! per entry) and its exports (spec §6).

pub mod export;
pub mod writer;

pub use export::{Format, read_journal, switch_timing_lines, switch_timings};
pub use writer::JournalWriter;

/// The journal's file name inside a run's directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";
