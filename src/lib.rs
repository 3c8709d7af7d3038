//! validator-failover: moves a QRL Zond validator from its primary host to its backup
//! host without ever letting the same keys sign twice.
//!
//! Layers, each calling only downwards: [`engine`] (the runbook, no I/O), [`probes`]
//! (typed observations), [`hosts`] (the world: SSH or simulated), and the commands.

/// `println!` that does not panic when standard output is closed (`… | head`): a
/// failover goes on whatever happens to its printout; the journal keeps everything.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

pub mod archive;
pub mod audit;
pub mod bolt;
pub mod chain;
pub mod check;
pub mod cli;
pub mod config;
pub mod driver;
pub mod engine;
pub mod generate;
pub mod history;
pub mod hosts;
pub mod interchange;
pub mod inventory;
pub mod notify;
pub mod observed;
pub mod power;
pub mod probes;
pub mod progress;
pub mod runner;
pub mod textfile;
pub mod tui;
pub mod validator_db;
pub mod wizard;
