//! Where both validators stand at the end of a run, from what the engine did and
//! verified: the closing line never hides either.

use super::*;

/// Where the backup's validator stands at the end of a run, from what the engine did
/// and verified.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "backup")]
pub enum BackupStanding {
    /// This run never removed its lock: stopped and locked, as the gates saw it.
    Locked,
    /// Its lock removed; its validator not started.
    Unlocked,
    /// Started (at this time; None: before an interruption), not verified running.
    Started { at: Option<f64> },
    /// Verified running; no attestation seen yet.
    Runs { at: Option<f64> },
    /// Verified running and attesting (item 8).
    Signs { at: Option<f64> },
    /// Stopped and locked again by the rollback, verified.
    LockedAgain,
    /// The emergency stop-all fenced and stopped it; not verified.
    StopAllUnverified,
}

/// Where the primary's validator stands at the end of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "primary")]
pub enum PrimaryStanding {
    /// Nothing was done to it.
    Untouched,
    /// It could not be reached: nothing was done to it; its stop is judged by the chain
    /// (or by the operator's statement that it is fenced out of band).
    Unreached { fenced_out_of_band: bool },
    /// Fencing and stopping began, not verified.
    Touched,
    /// Verified stopped and fenced (item 1).
    StoppedAndFenced,
    /// The rollback unfenced and started it again.
    Restarted,
    /// The emergency stop-all fenced and stopped it; not verified.
    StopAllUnverified,
}

/// Both validators at the end of a run: what the closing line says beside the reason.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Standing {
    pub primary: PrimaryStanding,
    pub backup: BackupStanding,
}

/// A unix time as the operator's clock shows it: `19:02:11Z`.
pub fn clock_time(unix: f64) -> String {
    jiff::Timestamp::from_second(unix as i64)
        .map(|t| t.strftime("%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

impl std::fmt::Display for BackupStanding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let started = |at: &Option<f64>| match at {
            Some(t) => format!("started {}", clock_time(*t)),
            None => "started before the interruption".to_string(),
        };
        match self {
            BackupStanding::Locked => write!(f, "the backup is stopped and locked"),
            BackupStanding::Unlocked => {
                write!(
                    f,
                    "the backup's lock is removed; its validator was not started"
                )
            }
            BackupStanding::Started { at } => write!(
                f,
                "the backup's validator was {}, not verified running",
                started(at)
            ),
            BackupStanding::Runs { at } => write!(
                f,
                "the backup's validator runs ({}, no attestation seen)",
                started(at)
            ),
            BackupStanding::Signs { at } => {
                write!(f, "the backup signs ({}, attestations seen)", started(at))
            }
            BackupStanding::LockedAgain => write!(f, "the backup is stopped and locked again"),
            BackupStanding::StopAllUnverified => write!(
                f,
                "the stop-all fenced and stopped the backup, not verified"
            ),
        }
    }
}

impl std::fmt::Display for PrimaryStanding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrimaryStanding::Untouched => write!(f, "the primary was not touched"),
            PrimaryStanding::Unreached {
                fenced_out_of_band: true,
            } => write!(
                f,
                "the primary could not be reached (nothing done to it; stated fenced out of band)"
            ),
            PrimaryStanding::Unreached {
                fenced_out_of_band: false,
            } => write!(
                f,
                "the primary could not be reached (nothing done to it; judged stopped by the chain only)"
            ),
            PrimaryStanding::Touched => {
                write!(f, "the primary's fence and stop began, not verified")
            }
            PrimaryStanding::StoppedAndFenced => write!(f, "the primary is stopped and fenced"),
            PrimaryStanding::Restarted => write!(
                f,
                "the primary was unfenced and started again by the rollback, not verified running"
            ),
            PrimaryStanding::StopAllUnverified => write!(
                f,
                "the stop-all fenced and stopped the primary, not verified"
            ),
        }
    }
}

impl Standing {
    /// Whether anything was done to either validator (else a closing line needs no
    /// word about them).
    pub fn touched(&self) -> bool {
        self.primary != PrimaryStanding::Untouched || self.backup != BackupStanding::Locked
    }

    /// The closing line's words after `FAILED: ` (or `DONE: `): both validators and
    /// the reason between them, e.g. `the backup signs (started 19:02:11Z,
    /// attestations seen); item 9 could not be verified: …; the primary is stopped and
    /// fenced`.
    pub fn with(&self, why: &str) -> String {
        if !self.touched() {
            return why.to_string();
        }
        format!("{}; {why}; {}", self.backup, self.primary)
    }
}

impl Failover {
    /// What a completed run did of items 1-9, for its closing line.
    pub fn completion(&self) -> String {
        match &self.checklist.item(ItemId::AlertsCleared).state {
            ItemState::Waived(why) => format!("items 1-8 are done, 9 is not: {why}"),
            _ => "items 1-9 are done".to_string(),
        }
    }

    /// Where both validators stand now, from what this run did and verified.
    pub fn standing(&self) -> Standing {
        let item = |n: ItemId| &self.checklist.item(n).state;
        if self.stopping_all {
            return Standing {
                primary: PrimaryStanding::StopAllUnverified,
                backup: BackupStanding::StopAllUnverified,
            };
        }
        let backup = if self.backup_relocked {
            BackupStanding::LockedAgain
        } else if self.touched_backup.is_none() {
            BackupStanding::Locked
        } else {
            match self.backup_started {
                None => BackupStanding::Unlocked,
                Some(at) if *item(ItemId::AttestationsSubmitted) == ItemState::Green => {
                    BackupStanding::Signs { at }
                }
                Some(at) if *item(ItemId::BackupValidatorStarted) == ItemState::Green => {
                    BackupStanding::Runs { at }
                }
                Some(at) => BackupStanding::Started { at },
            }
        };
        let primary = if self.primary_restarting {
            PrimaryStanding::Restarted
        } else if self.is_unverified() {
            PrimaryStanding::Unreached {
                fenced_out_of_band: matches!(
                    self.liveness.as_ref().and_then(|g| g.path.as_ref()),
                    Some(crate::engine::gate::LivenessPath::FencedOutOfBand { .. })
                ),
            }
        } else if self.touched_primary.is_none() {
            PrimaryStanding::Untouched
        } else if *item(ItemId::PrimaryStopped) == ItemState::Green {
            PrimaryStanding::StoppedAndFenced
        } else {
            PrimaryStanding::Touched
        };
        Standing { primary, backup }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan::from_config(&crate::config::Config::with_hosts("primary", "backup"))
    }

    #[test]
    fn a_new_run_touched_nothing_and_its_reason_stands_alone() {
        let m = Failover::new(plan());
        let s = m.standing();
        assert_eq!(
            s,
            Standing {
                primary: PrimaryStanding::Untouched,
                backup: BackupStanding::Locked,
            }
        );
        assert!(!s.touched());
        assert_eq!(
            s.with("the backup cannot be reached"),
            "the backup cannot be reached"
        );
    }

    #[test]
    fn the_standing_follows_what_was_done_and_verified() {
        let mut m = Failover::new(plan());
        m.touched_primary = Some(100.0);
        assert_eq!(m.standing().primary, PrimaryStanding::Touched);
        m.checklist
            .set(ItemId::PrimaryStopped, ItemState::Green, 101.0, Vec::new())
            .unwrap();
        assert_eq!(m.standing().primary, PrimaryStanding::StoppedAndFenced);
        assert_eq!(m.standing().backup, BackupStanding::Locked);
        m.touched_backup = Some(200.0);
        assert_eq!(m.standing().backup, BackupStanding::Unlocked);
        m.backup_started = Some(Some(201.0));
        assert_eq!(
            m.standing().backup,
            BackupStanding::Started { at: Some(201.0) }
        );
        m.checklist
            .set(
                ItemId::BackupValidatorStarted,
                ItemState::Green,
                202.0,
                Vec::new(),
            )
            .unwrap();
        assert_eq!(
            m.standing().backup,
            BackupStanding::Runs { at: Some(201.0) }
        );
        m.checklist
            .set(
                ItemId::AttestationsSubmitted,
                ItemState::Green,
                203.0,
                Vec::new(),
            )
            .unwrap();
        assert_eq!(
            m.standing().backup,
            BackupStanding::Signs { at: Some(201.0) }
        );
        m.primary_restarting = true;
        m.backup_relocked = true;
        assert_eq!(
            m.standing(),
            Standing {
                primary: PrimaryStanding::Restarted,
                backup: BackupStanding::LockedAgain,
            }
        );
        m.stopping_all = true;
        assert_eq!(
            m.standing(),
            Standing {
                primary: PrimaryStanding::StopAllUnverified,
                backup: BackupStanding::StopAllUnverified,
            }
        );
    }

    #[test]
    fn the_closing_words_name_both_validators_around_the_reason() {
        let s = Standing {
            primary: PrimaryStanding::StoppedAndFenced,
            backup: BackupStanding::Signs {
                at: Some(1_796_151_731.0),
            },
        };
        assert_eq!(
            s.with("item 9 could not be verified: the beacon node did not answer (timed-out)"),
            "the backup signs (started 19:02:11Z, attestations seen); item 9 could not be verified: the beacon node did not answer (timed-out); the primary is stopped and fenced"
        );
        let s = Standing {
            primary: PrimaryStanding::Unreached {
                fenced_out_of_band: false,
            },
            backup: BackupStanding::Runs { at: None },
        };
        assert_eq!(
            s.with("no attestation"),
            "the backup's validator runs (started before the interruption, no attestation seen); no attestation; the primary could not be reached (nothing done to it; judged stopped by the chain only)"
        );
    }

    #[test]
    fn completion_says_when_item_9_was_waived() {
        let mut m = Failover::new(plan());
        assert_eq!(m.completion(), "items 1-9 are done");
        m.checklist
            .waive(ItemId::AlertsCleared, "item 9 cannot be verified: x", 1.0)
            .unwrap();
        assert_eq!(
            m.completion(),
            "items 1-8 are done, 9 is not: item 9 cannot be verified: x"
        );
    }
}
