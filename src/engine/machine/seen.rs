//! The observations of one batch, read by host and kind, and the judgements of them
//! that more than one part of the runbook makes.

use super::*;

pub(super) fn ev(o: &Observation, observed: String) -> Evidence {
    Evidence {
        host: Some(o.host),
        at: o.at,
        via: o.via.clone(),
        observed,
    }
}

/// The observations of one batch, by host and kind.
pub(super) struct Batch<'a>(pub(super) &'a [Observation]);

impl<'a> Batch<'a> {
    pub(super) fn get(&self, host: Role, what: Observe) -> Option<&'a Observation> {
        self.0.iter().find(|o| o.host == host && o.what == what)
    }
    pub(super) fn failed(&self, host: Role) -> Option<&'a HostError> {
        self.0
            .iter()
            .filter(|o| o.host == host)
            .find_map(|o| o.value.as_ref().err())
    }
}

/// What keeps the backup from being the idle backup the runbook wants before its
/// start: its validator stopped, no process, the metrics port closed, the lock file
/// in place.
pub(super) fn backup_idle_problems(b: &Batch<'_>) -> Vec<String> {
    backup_problems(b, false)
}

/// As [`backup_idle_problems`]; with `unlocked_by_us`, the lock file this run removed
/// before it was interrupted may be gone.
pub(super) fn backup_problems(b: &Batch<'_>, unlocked_by_us: bool) -> Vec<String> {
    let mut p = Vec::new();
    match value!(b, Role::Backup, Unit) {
        Ok((_, u)) if u.is_stopped() => {}
        Ok((_, u)) => p.push(format!(
            "the backup's validator is not stopped ({})",
            u.summary()
        )),
        Err(e) => p.push(format!("the backup's validator state is unknown: {e}")),
    }
    match value!(b, Role::Backup, Processes) {
        Ok((_, procs)) if procs.is_empty() => {}
        Ok((_, procs)) => p.push(format!(
            "a validator process runs on the backup (PID {procs:?})"
        )),
        Err(e) => p.push(format!("the backup's processes are unknown: {e}")),
    }
    match value!(b, Role::Backup, Metrics) {
        Ok((_, m)) if !m.answering => {}
        Ok(_) => {
            p.push("the backup's validator metrics port answers: a validator runs there".into())
        }
        Err(e) => p.push(format!("the backup's metrics port is unknown: {e}")),
    }
    match value!(b, Role::Backup, Lock) {
        Ok((_, Some(_))) => {}
        Ok((_, None)) if unlocked_by_us => {}
        Ok((_, None)) => p.push("the backup's lock file is gone: it is not a locked backup".into()),
        Err(e) => p.push(format!("the backup's lock file is unknown: {e}")),
    }
    p
}
