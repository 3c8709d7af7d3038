//! validator-failover: moves a QRL Zond validator from its primary host to its backup
//! host without ever letting the same keys sign twice.
//!
//! Layers, each calling only downwards: [`engine`] (the runbook, no I/O), [`probes`]
//! (typed observations), [`hosts`] (the world: SSH or simulated), and the commands.

pub mod archive;
pub mod audit;
pub mod chain;
pub mod check;
pub mod cli;
pub mod config;
pub mod driver;
pub mod engine;
pub mod hosts;
pub mod interchange;
pub mod probes;
pub mod runner;
pub mod tui;
pub mod wizard;
