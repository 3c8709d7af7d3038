//! The failover engine on the simulated pair. `tests/lab_engine.rs` runs the same
//! scenarios (`engine_tests!`, tests/common/engine.rs) on the lab's real hosts.

mod common;

engine_tests!(common::SimPair::new());

// Stop-all never waits for a transfer (issue "engine reshaping", item 4). The
// simulated backup's stream stalls (a saturated link, a hanging disk: the upload
// would wait for its 30-minute deadline); the emergency stop-all, sent as the
// transfer begins, cuts it short. Only the order of events is asserted; the
// `failover` bench prints how long it takes on the lab. Simulated only: the lab has
// no way yet to stall one stream and not the rest.
mod stop_all_during_a_transfer {
    use super::common::engine::{
        backup_running, dump, listing, primary_state, start_interruptible,
    };
    use super::common::{Pair, SimPair};
    use validator_failover::config::Role;
    use validator_failover::driver::{Answer, Ended, Interrupt};
    use validator_failover::engine::checklist::ItemState;
    use validator_failover::engine::journal::{Entry, GateId, ItemId, Record};
    use validator_failover::engine::machine::Outcome;
    use validator_failover::engine::machine::{Request, StopAllConsent};

    #[test]
    fn is_taken_at_once_and_leaves_both_stopped_and_fenced() {
        let pair = SimPair::new();
        pair.world
            .set_faults(Role::Backup, |f| f.upload_stalls = true);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let world = pair.world.clone();
        let listener: validator_failover::driver::Listener =
            Box::new(move |e: &Entry| match &e.record {
                Record::Item {
                    number: ItemId::SlashingProtectionTransferred,
                    state: ItemState::Running,
                    ..
                } => {
                    let _ = tx.send(Interrupt::Request(Request::StopAll {
                        consent: StopAllConsent::Key('y'),
                    }));
                }
                // Once cut, the stream recovers: the fence's own files are written.
                Record::Gate {
                    gate: GateId::SlashingProtection,
                    open: false,
                    ..
                } => world.set_faults(Role::Backup, |f| f.upload_stalls = false),
                _ => {}
            });
        let run = start_interruptible(&pair, listener, rx, vec![Answer::Typed("primary".into())]);
        assert_eq!(
            run.ended,
            Ended::Finished(Outcome::StoppedAll),
            "{}",
            dump(&run)
        );
        let journal = run.journal();
        let pos = |f: &dyn Fn(&Record) -> bool| journal.iter().position(|e| f(&e.record));
        let began = pos(&|r| {
            matches!(
                r,
                Record::Item {
                    number: ItemId::SlashingProtectionTransferred,
                    state: ItemState::Running,
                    ..
                }
            )
        })
        .expect("the transfer began");
        let cut = pos(&|r| {
            matches!(r, Record::Gate { gate: GateId::SlashingProtection, open: false, why, .. } if why.contains("cut short by the emergency stop-all"))
        })
        .unwrap_or_else(|| panic!("the cut is journaled\n{}", dump(&run)));
        let stop_all = pos(&|r| {
            matches!(
                r,
                Record::Gate {
                    gate: GateId::StopAll,
                    ..
                }
            )
        })
        .expect("the stop-all is journaled");
        assert!(began < cut && cut < stop_all, "{began} {cut} {stop_all}");
        // The history never arrived: item 3 never green, nothing started.
        assert!(!journal.iter().any(|e| matches!(
            &e.record,
            Record::Item {
                number: ItemId::SlashingProtectionTransferred,
                state: ItemState::Green,
                ..
            }
        )));
        let (running, _, locked) = primary_state(&pair);
        assert!(!running && locked);
        assert!(!backup_running(&pair));
        for role in Role::BOTH {
            assert!(
                listing(&pair, role, "/run/systemd/system/qrysm-validator.service.d")
                    .iter()
                    .any(|p| p.contains("zz-validator-failover-fence.conf")),
                "{role} is fenced"
            );
        }
        assert!(pair.slashable().is_empty(), "{:?}", pair.slashable());
    }
}

// `stop-all --non-interactive --confirm PRIMARY,BACKUP` as the runner runs it: both
// names, typed, or nothing is done (exit 3); with both, exit 0 and both fenced.
mod stop_all_command {
    use std::sync::Arc;

    use super::common::engine::{backup_running, primary_state};
    use super::common::{Pair, SimPair};
    use validator_failover::runner::{Mode, Options, run_with};

    fn stop_all(pair: &SimPair, typed: &str) -> i32 {
        let mut cfg = pair.config();
        let tmp = tempfile::tempdir().unwrap();
        cfg.failover.runs_dir = tmp.path().join("runs");
        let (p, b) = pair.hosts();
        let opts = Options {
            mode: Mode::StopAll {
                typed: typed.into(),
            },
            reason: Some("the slashing monitor saw a double vote".into()),
            operator: Some("monitor".into()),
            allow_unreachable: false,
            fenced_out_of_band: None,
            resume: false,
        };
        tokio::runtime::Runtime::new().unwrap().block_on(run_with(
            cfg,
            p,
            b,
            Arc::new(pair.world.clone()),
            opts,
        ))
    }

    #[test]
    fn one_name_is_not_both_and_touches_nothing() {
        let pair = SimPair::new();
        for typed in ["primary", "backup,primary", "primary,backup,", ""] {
            assert_eq!(stop_all(&pair, typed), 3, "{typed:?}");
        }
        let (running, _, locked) = primary_state(&pair);
        assert!(running && !locked, "the primary still signs, untouched");
    }

    #[test]
    fn both_names_stop_and_fence_both() {
        let pair = SimPair::new();
        assert_eq!(stop_all(&pair, "primary,backup"), 0);
        let (running, _, locked) = primary_state(&pair);
        assert!(!running && locked);
        assert!(!backup_running(&pair));
        assert!(pair.slashable().is_empty());
    }
}

// Item 10 through the driver: judged by the engine (`engine::incident`) from each
// entry the driver writes, journaled as it becomes green, taken back while a
// rollback after the end runs, green again at its end; the audit reads the same.
mod incident_documented {
    use super::common::engine::{Run, Scripted, dump};
    use super::common::{Pair, SimPair};
    use validator_failover::audit::{Format, JournalWriter, export};
    use validator_failover::driver::{Answer, Driver, Ended};
    use validator_failover::engine::checklist::ItemState;
    use validator_failover::engine::journal::{
        ItemId, JOURNAL_FORMAT, NoteField, Record, RunOutcome,
    };
    use validator_failover::engine::machine::{Event, Failover, Outcome, Plan};

    fn item10(run: &Run) -> Vec<ItemState> {
        run.journal()
            .into_iter()
            .filter_map(|e| match e.record {
                Record::Item {
                    number: ItemId::IncidentDocumented,
                    state,
                    ..
                } => Some(state),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn ticks_when_the_notes_and_the_runs_times_are_there() {
        let pair = SimPair::new();
        let cfg = pair.config();
        let (p, b) = pair.hosts();
        let tmp = tempfile::tempdir().unwrap();
        let journal = JournalWriter::create(tmp.path(), "test-run", "tester").unwrap();
        let mut driver = Driver::new(cfg.clone(), "test-run".into(), p, b, pair.clock(), journal);
        driver
            .record(Record::RunStarted {
                run: "test-run".into(),
                primary: "primary".into(),
                backup: "backup".into(),
                reason: None,
                config: None,
                config_origin: None,
                program: "test".into(),
                format: JOURNAL_FORMAT,
            })
            .unwrap();
        let mut machine = Failover::new(Plan::from_config(&cfg));
        let mut op = Scripted {
            answers: vec![
                Answer::Typed("primary".into()),
                Answer::Typed("backup".into()),
            ]
            .into(),
            asked: Vec::new(),
        };
        let rt = tokio::runtime::Runtime::new().unwrap();
        let now = pair.clock().now();
        let ended = rt
            .block_on(driver.run(&mut machine, "tester", &mut op, Event::Begin { now }))
            .unwrap();
        let mut run = Run {
            ended,
            machine,
            driver,
            op,
            _tmp: tmp,
            rt,
        };
        assert_eq!(
            run.ended,
            Ended::Finished(Outcome::Completed),
            "{}",
            dump(&run)
        );
        // The notes first (a time of failure only), the end, then the cause.
        let note = |field, text: &str| Record::Note {
            field,
            text: text.into(),
        };
        run.driver
            .record(note(NoteField::TimeOfFailure, "07:52 UTC"))
            .unwrap();
        run.driver
            .record(Record::RunEnded {
                outcome: RunOutcome::Completed,
            })
            .unwrap();
        assert!(item10(&run).is_empty(), "no cause yet");
        run.driver
            .record(note(NoteField::Cause, "PSU failure"))
            .unwrap();
        assert_eq!(item10(&run), vec![ItemState::Green]);
        let journal = run.journal();
        let Some(Record::Item { evidence, .. }) = journal.last().map(|e| &e.record) else {
            panic!("item 10 right after the note that completed it")
        };
        assert!(evidence.iter().any(|e| e.observed == "cause: PSU failure"));
        let md = export::render(&journal, Format::Markdown);
        assert!(md.contains("- [x] 10. Incident documented — green"), "{md}");
        // A rollback after the end: the run goes on, item 10 waits for its end.
        let now = pair.clock().now();
        let ended = run.send(Event::Rollback { now }, vec![]);
        assert_eq!(
            ended,
            Ended::Finished(Outcome::RolledBack),
            "{}",
            dump(&run)
        );
        assert_eq!(item10(&run), vec![ItemState::Green, ItemState::Pending]);
        let md = export::render(&run.journal(), Format::Markdown);
        assert!(
            md.contains("- [ ] 10. Incident documented — pending (waits for the run's completion"),
            "{md}"
        );
        run.driver
            .record(Record::RunEnded {
                outcome: RunOutcome::RolledBack,
            })
            .unwrap();
        assert_eq!(
            item10(&run),
            vec![ItemState::Green, ItemState::Pending, ItemState::Green]
        );
        let md = export::render(&run.journal(), Format::Markdown);
        assert!(md.contains("- [x] 10. Incident documented — green"), "{md}");
        assert!(md.contains("## Rollback"), "{md}");
        assert!(
            md.contains("- [x] R1. Backup stopped and locked again — green"),
            "{md}"
        );
        assert!(md.contains("- [ ] 7. Backup validator started — undone: the rollback stopped the backup's validator"), "{md}");
    }
}

// The audit's switch timings of a whole simulated run (issue 10, item 2): each step
// with its duration, in the order it happened, and the total to the backup's start
// with the operator's confirmations apart, in both forms of the export.
mod switch_timings_in_the_audit {
    use super::common::SimPair;
    use super::common::engine::{both_names, dump, start};
    use validator_failover::audit::{Format, export};
    use validator_failover::driver::Ended;
    use validator_failover::engine::journal::{Record, RunOutcome};
    use validator_failover::engine::machine::Outcome;
    use validator_failover::engine::switch_time::SwitchStep;

    #[test]
    fn a_completed_simulated_run_lists_each_step() {
        let pair = SimPair::new();
        let mut run = start(&pair, both_names(&pair));
        assert_eq!(
            run.ended,
            Ended::Finished(Outcome::Completed),
            "{}",
            dump(&run)
        );
        run.driver
            .record(Record::RunEnded {
                outcome: RunOutcome::Completed,
            })
            .unwrap();
        let entries = run.journal();
        let t = export::switch_timings(&entries)
            .expect("a completed run")
            .expect("measured on the verified path");
        let steps: Vec<SwitchStep> = t.steps.iter().map(|s| s.step).collect();
        for want in [
            SwitchStep::PrimaryStopped,
            SwitchStep::PrimaryKilled,
            SwitchStep::HistoryTransferred,
            SwitchStep::StartGate,
            SwitchStep::OperatorConfirmation,
            SwitchStep::BackupStarted,
        ] {
            assert!(steps.contains(&want), "{want:?} in {steps:?}");
        }
        assert_eq!(steps.last(), Some(&SwitchStep::BackupStarted));
        let sum: f64 = t.steps.iter().map(|s| s.secs).sum();
        assert!(
            (sum - t.total_secs).abs() < 1e-6,
            "{sum} vs {}",
            t.total_secs
        );
        let md = export::render(&entries, Format::Markdown);
        let section = md
            .split("\n## Switch timings\n")
            .nth(1)
            .unwrap_or_else(|| panic!("a Switch timings section:\n{md}"));
        let section = section.split("\n## ").next().unwrap();
        for (i, s) in t.steps.iter().enumerate() {
            let line = format!("- {}. {}: {:.2} s\n", i + 1, s.step.describe(), s.secs);
            assert!(section.contains(&line), "{line:?} in\n{section}");
        }
        assert!(
            section.contains(&format!(
                "- total to the backup's start: {:.2} s, of which {:.2} s the operator's confirmation(s)",
                t.total_secs,
                t.operator_secs()
            )),
            "{section}"
        );
        let json = export::json(&entries);
        let j = &json["switch_timings"];
        assert_eq!(j["steps"].as_array().unwrap().len(), t.steps.len(), "{j}");
        assert_eq!(j["steps"][0]["step"], "primary-stopped", "{j}");
        assert_eq!(j["total_secs"].as_f64(), Some(t.total_secs));
        assert_eq!(j["operator_secs"].as_f64(), Some(t.operator_secs()));
    }

    /// A run not ended has no timings, in either form.
    #[test]
    fn a_run_not_completed_has_none() {
        let pair = SimPair::new();
        let run = start(&pair, both_names(&pair));
        let entries = run.journal();
        assert!(export::switch_timings(&entries).is_none());
        assert!(!export::render(&entries, Format::Markdown).contains("## Switch timings"));
        assert!(export::json(&entries)["switch_timings"].is_null());
    }
}
