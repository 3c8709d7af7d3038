//! A dead host never paces the run (issue 10, item 2), on the lab's real hosts.
//!
//! The lab's powered-off host fails its ProxyCommand at once; a powered-off machine
//! on a real network answers nothing at all, and ssh waits out its connect timeout.
//! This test reaches the powered-off primary that way (a copy of the lab's
//! ssh_config whose primary's ProxyCommand never answers) and asserts that the
//! unreachable path's question still comes within the connect timeout of the start.

mod common;

use common::engine as e;
use common::lab::Lab;
use common::{Fault, Pair};
use validator_failover::driver::Answer;
use validator_failover::engine::machine::Event;

/// The lab's ssh_config with the primary's ProxyCommand replaced by one that
/// connects nowhere and answers nothing (bounded, so that none is left behind).
fn silent_primary_config(
    lab_config: &std::path::Path,
    dir: &std::path::Path,
) -> std::path::PathBuf {
    let text = std::fs::read_to_string(lab_config).expect("the lab's ssh_config");
    let mut out = String::new();
    let mut in_primary = false;
    let mut replaced = false;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("Host ") {
            in_primary = h.trim() == "primary";
        }
        if in_primary && line.trim_start().starts_with("ProxyCommand ") {
            out.push_str("  ProxyCommand sh -c 'exec sleep 60'\n");
            replaced = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(
        replaced,
        "the lab's ssh_config has a ProxyCommand for the primary:\n{text}"
    );
    let path = dir.join("ssh_config");
    std::fs::write(&path, out).expect("write ssh_config");
    path
}

#[test]
fn a_silent_powered_off_primary_is_asked_about_within_the_connect_timeout() {
    let pair = Lab::get().scenario();
    pair.apply(Fault::PrimaryHistoryArchived);
    pair.apply(Fault::PrimaryPoweredOff);
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = pair.config();
    let lab_config = cfg.ssh.config_file.clone().expect("the lab's ssh_config");
    cfg.ssh.config_file = Some(silent_primary_config(&lab_config, tmp.path()));
    let hosts = validator_failover::cli::ssh_hosts(&cfg).expect("ssh hosts");
    let run = e::start_on(
        &pair,
        hosts,
        cfg.clone(),
        |_| {},
        Event::Begin { now: 0.0 },
        vec![Answer::Decline],
    );
    e::assert_asked_within_the_connect_timeout(&run, &cfg);
    // Silent, the primary's looks wait out the connect timeout: typed as such.
    assert!(
        run.journal().iter().any(|en| matches!(&en.record,
            validator_failover::engine::journal::Record::Probe { host: Some(validator_failover::config::Role::Primary), observed, .. }
            if observed.starts_with("timed out") || observed.starts_with("unreachable"))),
        "{}",
        e::dump(&run)
    );
    pair.assert_no_double_signing();
}
