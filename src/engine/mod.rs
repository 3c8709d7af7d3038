//! THE RUNBOOK. No tokio, no ratatui, no I/O: what the failover decides, as data.

pub mod alerts;
pub mod checklist;
pub mod gate;
pub mod ids;
pub mod incident;
pub mod journal;
pub mod machine;
pub mod preflight;
pub mod steps;
