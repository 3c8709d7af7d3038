//! Snapshots of every screen of the wizard (ratatui's TestBackend, insta) at 80×24
//! and 120×40, in five states built from synthetic journal entries, the way the
//! driver's listener delivers them: normal (the engine asks to stop the primary),
//! gate-blocked (the Start gate shut: the backup's beacon syncing), red-item (the
//! transfer failed), liveness-wait (the primary unreachable, the chain watched) and
//! rolled-back (a whole failover, its notes, then a rollback after the end). Item 10
//! is journaled as the driver journals it, by the engine's `incident::Incident`.
//! No I/O, no terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};

use validator_failover::chain::ChainClock;
use validator_failover::config::Role;
use validator_failover::driver::Answer;
use validator_failover::engine::checklist::{Evidence, ItemState};
use validator_failover::engine::incident::Incident;
use validator_failover::engine::journal::{
    Entry, GateId, ItemId, JOURNAL_FORMAT, NoteField, Record, RollbackStep, RunOutcome,
};
use validator_failover::engine::machine::Confirm;
use validator_failover::tui::app::{App, Dialog, ExportFormat, Out, Screen};
use validator_failover::tui::model::{Model, Probed, WorldMsg};
use validator_failover::tui::theme::Theme;
use validator_failover::tui::views;

const T0: f64 = 1_800_000_000.0;

struct Journal {
    last: Option<Entry>,
    entries: Vec<Entry>,
    /// Item 10, journaled after the entry that makes it change, as the driver does.
    incident: Incident,
}

impl Journal {
    fn new() -> Journal {
        let mut j = Journal {
            last: None,
            entries: Vec::new(),
            incident: Incident::default(),
        };
        j.add(
            0.0,
            Record::RunStarted {
                run: "20270115T080000Z-abc123".into(),
                primary: "primary.example".into(),
                backup: "backup.example".into(),
                reason: Some("Primary node has hardware failure".into()),
                config: None,
                config_origin: None,
                program: "validator-failover test".into(),
                format: JOURNAL_FORMAT,
            },
        );
        j
    }
    fn add(&mut self, dt: f64, r: Record) {
        let e = Entry::next(self.last.as_ref(), T0 + dt, "oncall", r);
        self.last = Some(e.clone());
        self.entries.push(e.clone());
        if let Some(item) = self.incident.take(&e) {
            self.add(dt, item);
        }
    }
    fn step(
        &mut self,
        dt: f64,
        step: RollbackStep,
        state: ItemState,
        evidence: &[(Role, &str, &str)],
    ) {
        self.add(
            dt,
            Record::RollbackStep {
                step,
                state,
                evidence: evidence
                    .iter()
                    .map(|(host, via, obs)| Evidence {
                        host: Some(*host),
                        at: T0 + dt,
                        via: via.to_string(),
                        observed: obs.to_string(),
                    })
                    .collect(),
            },
        );
    }
    fn item(
        &mut self,
        dt: f64,
        n: ItemId,
        state: ItemState,
        host: Option<Role>,
        via: &str,
        obs: &str,
    ) {
        self.add(
            dt,
            Record::Item {
                number: n,
                state,
                evidence: vec![Evidence {
                    host,
                    at: T0 + dt,
                    via: via.into(),
                    observed: obs.into(),
                }],
            },
        );
    }
    fn gate(&mut self, dt: f64, gate: GateId, open: bool, why: &str) {
        self.add(
            dt,
            Record::Gate {
                gate,
                open,
                why: why.into(),
                waits: Vec::new(),
            },
        );
    }
    /// The Start gate shut, as the engine writes it: what it waits for, one each.
    fn start_shut(&mut self, dt: f64, waits: &[&str]) {
        self.add(
            dt,
            Record::Gate {
                gate: GateId::Start,
                open: false,
                why: waits.join("; "),
                waits: waits.iter().map(|w| w.to_string()).collect(),
            },
        );
    }
    fn command(&mut self, dt: f64, host: Role, cmd: &str) {
        self.add(
            dt,
            Record::Command {
                host,
                command: cmd.into(),
                status: Some(0),
                excerpt: String::new(),
            },
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Normal,
    GateBlocked,
    RedItem,
    LivenessWait,
    RolledBack,
}

const STATES: [State; 5] = [
    State::Normal,
    State::GateBlocked,
    State::RedItem,
    State::LivenessWait,
    State::RolledBack,
];

fn synced(j: &mut Journal, dt: f64) {
    j.item(
        dt,
        ItemId::BackupGzondSynced,
        ItemState::Green,
        Some(Role::Backup),
        "POST http://127.0.0.1:8545 zond_syncing",
        "zond_syncing = false peers=25",
    );
}

fn stopped(j: &mut Journal, dt: f64) {
    j.command(dt, Role::Primary, "systemctl stop -- qrysm-validator");
    j.item(
        dt + 4.0,
        ItemId::PrimaryStopped,
        ItemState::Green,
        Some(Role::Primary),
        "systemctl show … qrysm-validator",
        "inactive/dead MainPID=0 disabled; fence drop-in loaded",
    );
    j.item(
        dt + 4.0,
        ItemId::PrimaryKilled,
        ItemState::Green,
        Some(Role::Primary),
        "pgrep -x -- qrysm-validator",
        "no process with the validator's exact name",
    );
}

/// A whole failover, its notes, then a rollback after the end, as the engine journals
/// it: its steps, what it undid, the run ended again.
fn rolled_back(j: &mut Journal) {
    stopped(j, 10.0);
    j.item(
        20.0,
        ItemId::SlashingProtectionTransferred,
        ItemState::Green,
        Some(Role::Backup),
        "sha256sum -- /var/lib/qrysm/validator/validator.db",
        "validator.db equal to the archive, owned by qrysm:qrysm",
    );
    j.item(
        30.0,
        ItemId::LockFileRemoved,
        ItemState::Green,
        Some(Role::Backup),
        "rm -f -- /etc/quantapool/VALIDATOR_LOCKED",
        "lock file removed, after items 1-5 and the liveness gate",
    );
    j.item(
        31.0,
        ItemId::BackupValidatorStarted,
        ItemState::Green,
        Some(Role::Backup),
        "systemctl show … -- qrysm-validator",
        "active/running MainPID=1208 enabled",
    );
    j.item(
        40.0,
        ItemId::AttestationsSubmitted,
        ItemState::Green,
        Some(Role::Backup),
        "journalctl -u qrysm-validator --since …; POST …/validator/liveness/1302",
        "Submitted new attestations slot=10417; all 4 keys live in epoch 1302",
    );
    j.item(
        41.0,
        ItemId::AlertsCleared,
        ItemState::Green,
        Some(Role::Backup),
        "GET …/beacon/states/head/validators?id=0,1,2,3",
        "validators [0, 1, 2, 3] not slashed, active_ongoing; balances not falling",
    );
    j.add(
        42.0,
        Record::RunEnded {
            outcome: RunOutcome::Completed,
        },
    );
    j.add(
        50.0,
        Record::Note {
            field: NoteField::TimeOfFailure,
            text: "07:52 UTC".into(),
        },
    );
    j.add(
        50.0,
        Record::Note {
            field: NoteField::Cause,
            text: "PSU failure on the primary's rack".into(),
        },
    );
    // The rollback, after the end: the engine at work again on the run.
    j.command(
        60.0,
        Role::Primary,
        "create /run/validator-failover.lock exclusively",
    );
    j.gate(
        60.0,
        GateId::Rollback,
        true,
        "requested: stopping and re-locking the backup first",
    );
    j.step(60.0, RollbackStep::BackupRelocked, ItemState::Running, &[]);
    for s in [
        RollbackStep::HistoryBack,
        RollbackStep::ReverseGate,
        RollbackStep::PrimaryRestarted,
    ] {
        j.step(60.0, s, ItemState::Pending, &[]);
    }
    let idle = [
        (
            Role::Backup,
            "systemctl show … -- qrysm-validator",
            "inactive/dead MainPID=0 disabled",
        ),
        (
            Role::Backup,
            "pgrep -x -- qrysm-validator",
            "no process with the validator's exact name",
        ),
        (
            Role::Backup,
            "GET http://127.0.0.1:8081/metrics",
            "the validator's metrics port does not answer",
        ),
        (
            Role::Backup,
            "stat -c … -- /etc/quantapool/VALIDATOR_LOCKED",
            "lock file present: regular empty file 444 root:root",
        ),
    ];
    j.step(66.0, RollbackStep::BackupRelocked, ItemState::Green, &idle);
    for (n, why, ev) in [
        (
            ItemId::LockFileRemoved,
            "the rollback put the backup's lock file back",
            idle[3],
        ),
        (
            ItemId::BackupValidatorStarted,
            "the rollback stopped the backup's validator",
            idle[0],
        ),
        (
            ItemId::AttestationsSubmitted,
            "the backup no longer attests: the rollback stopped its validator",
            idle[2],
        ),
        (
            ItemId::AlertsCleared,
            "judged while the backup signed: the rollback stopped its validator",
            idle[0],
        ),
    ] {
        j.item(
            66.0,
            n,
            ItemState::Undone(why.into()),
            Some(ev.0),
            ev.1,
            ev.2,
        );
    }
    j.step(66.0, RollbackStep::HistoryBack, ItemState::Running, &[]);
    j.step(
        70.0,
        RollbackStep::HistoryBack,
        ItemState::Green,
        &[(Role::Backup, "tar -czf … -C /var/lib/qrysm/validator validator.db", "archive of 26073 bytes, sha256 40023167ae921543502d0b0c0466168220ace477ec80e96faf183b0aaa392f66, made after the stop")],
    );
    j.step(
        72.0,
        RollbackStep::ReverseGate,
        ItemState::Green,
        &[(
            Role::Primary,
            "GET …/node/syncing",
            "is_syncing=false sync_distance=0 peers=12",
        )],
    );
    j.step(
        72.0,
        RollbackStep::PrimaryRestarted,
        ItemState::Running,
        &[],
    );
    j.step(
        76.0,
        RollbackStep::PrimaryRestarted,
        ItemState::Green,
        &[(
            Role::Primary,
            "systemctl show … -- qrysm-validator",
            "active/running MainPID=1301 enabled",
        )],
    );
    for (n, why) in [
        (
            ItemId::PrimaryStopped,
            "the rollback unfenced the primary and started its validator again",
        ),
        (
            ItemId::PrimaryKilled,
            "the rollback started the primary's validator again",
        ),
    ] {
        j.item(
            76.0,
            n,
            ItemState::Undone(why.into()),
            Some(Role::Primary),
            "systemctl show … -- qrysm-validator",
            "active/running MainPID=1301 enabled",
        );
    }
    j.command(77.0, Role::Primary, "rm -f -- /run/validator-failover.lock");
    j.add(
        78.0,
        Record::RunEnded {
            outcome: RunOutcome::RolledBack,
        },
    );
}

fn model(state: State) -> Model {
    let mut j = Journal::new();
    j.item(
        1.0,
        ItemId::BackupBeaconSynced,
        ItemState::Green,
        Some(Role::Backup),
        "GET http://127.0.0.1:3500/zond/v1/node/syncing",
        "is_syncing=false sync_distance=0 peers=12",
    );
    synced(&mut j, 1.0);
    let mut question = None;
    match state {
        State::Normal => {
            j.gate(
                2.0,
                GateId::FirstGate,
                true,
                "the backup is stopped, locked and synced; the primary's history is valid and fits",
            );
            question = Some(Confirm::StopPrimary {
                expect: "primary.example".into(),
            });
        }
        State::GateBlocked => {
            stopped(&mut j, 10.0);
            j.item(
                20.0,
                ItemId::SlashingProtectionTransferred,
                ItemState::Green,
                Some(Role::Backup),
                "sha256sum -- /var/lib/qrysm/validator/slashing-protection/…",
                "1 file(s) equal to the archive, owned by qrysm:qrysm",
            );
            j.item(
                24.0,
                ItemId::BackupBeaconSynced,
                ItemState::Red("syncing, sync_distance 40".into()),
                Some(Role::Backup),
                "GET http://127.0.0.1:3500/zond/v1/node/syncing",
                "is_syncing=true sync_distance=40 peers=3",
            );
            j.start_shut(
                24.0,
                &[
                    "4. Backup beacon synced: syncing, sync_distance 40",
                    "liveness gate: waiting for epoch 1301 to be final",
                ],
            );
        }
        State::RedItem => {
            stopped(&mut j, 10.0);
            j.item(
                20.0,
                ItemId::SlashingProtectionTransferred,
                ItemState::Red(
                    "the archive changed on the way: sha256 1f2e… on the primary, 9a8b… here"
                        .into(),
                ),
                Some(Role::Primary),
                "cat -- /tmp/x/slashing-protection.tar.gz",
                "482 bytes",
            );
            j.add(
                21.0,
                Record::RunEnded {
                    outcome: RunOutcome::Failed("the archive changed on the way".into()),
                },
            );
        }
        State::LivenessWait => {
            j.gate(
                2.0,
                GateId::FirstGate,
                true,
                "the primary cannot be reached (unreachable: connection timed out): the failover goes on through the liveness gate",
            );
            j.add(
                3.0,
                Record::Confirmation {
                    action:
                        "go on without the primary: use the newest archive and wait for the chain"
                            .into(),
                    typed: "primary.example".into(),
                },
            );
            j.item(
                20.0,
                ItemId::SlashingProtectionTransferred,
                ItemState::Green,
                Some(Role::Backup),
                "sha256sum -- /var/lib/qrysm/validator/slashing-protection/…",
                "newest archive slashing-protection-20270115.tar.gz, 3 epoch(s) old, in place",
            );
            for n in [ItemId::PrimaryStopped, ItemId::PrimaryKilled] {
                j.item(
                    30.0,
                    n,
                    ItemState::Running,
                    Some(Role::Primary),
                    "ssh (unreachable); POST …/validator/liveness",
                    "unreachable; keys not live since epoch 1300 (1 of 2 quiet epochs); opens at the earliest in 412s; missed duties so far: 8",
                );
            }
            j.add(
                30.0,
                Record::Liveness {
                    verdict: validator_failover::engine::gate::LivenessVerdict::Waiting {
                        why: "waiting for 2 whole epochs with no key live (1 so far)".into(),
                        quiet_epochs: 1,
                        required: 2,
                        earliest: Some(T0 + 30.0 + 412.0),
                        missed_duties: 8,
                    },
                },
            );
            j.start_shut(
                30.0,
                &[
                    "1. Primary validator confirmed stopped: running",
                    "2. Primary process confirmed killed: running",
                    "liveness gate: 1 of 2 quiet epochs",
                ],
            );
        }
        State::RolledBack => rolled_back(&mut j),
    }
    let mut m = Model::new("primary.example", "backup.example");
    for e in &j.entries {
        m.apply(e);
    }
    m.question = question;
    m.run.dir = Some("/var/lib/validator-failover/runs/20270115T080000Z-abc123".into());
    m.now = T0 + 95.0;
    let clock = ChainClock::new(T0 as u64 - 1300 * 8 * 12, 12, 8).unwrap();
    m.apply_world(WorldMsg::Chain {
        clock,
        head_slot: 10_407,
        at: T0 + 94.0,
    });
    let primary_down = state == State::LivenessWait;
    for role in [Role::Primary, Role::Backup] {
        if role == Role::Primary && primary_down {
            m.apply_world(WorldMsg::Asking(role, T0 + 80.0));
            m.apply_world(WorldMsg::TailDown(
                role,
                "unreachable: ssh: connect to host primary.example port 22: Connection timed out"
                    .into(),
            ));
            continue;
        }
        let syncing = role == Role::Backup && state == State::GateBlocked;
        m.apply_world(WorldMsg::Sync {
            role,
            at: T0 + 93.0,
            beacon: if syncing {
                Probed::Ok {
                    ready: false,
                    text: "syncing, sync_distance 40".into(),
                }
            } else {
                Probed::Ok {
                    ready: true,
                    text: "synced, head 10407, 12 peers".into(),
                }
            },
            execution: Probed::Ok {
                ready: true,
                text: "synced, 25 peers".into(),
            },
        });
        let name = m.host_name(role).to_string();
        let lines = (0..40)
            .map(|i| {
                format!(
                    "2027-01-15T08:0{}:{:02}+0000 {name} qrysm-validator[1207]: level=info msg=\"Submitted new attestations\" slot={}",
                    i / 60,
                    i % 60,
                    10_360 + i
                )
            })
            .collect();
        m.apply_world(WorldMsg::Tail(role, lines));
    }
    m
}

fn text(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| views::draw(f, app)).unwrap();
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        for x in 0..w {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[derive(Debug, Clone, Copy)]
enum View {
    Wizard,
    Logs,
    Rollback,
    Notes,
    Export,
    Help,
    Confirm,
    Fenced,
    StopAll,
    Quit,
    Preflight,
    /// A checklist item's screen (its digit key).
    Item(char),
}

/// A preflight as `check` judges it: the backup's lock file missing (an alarm), a
/// clock warning, the rest green.
fn preflight(state: State) -> validator_failover::engine::preflight::Preflight {
    use validator_failover::engine::preflight::{CheckId, CheckItem, Evidence, Preflight, Verdict};
    let item = |check: CheckId,
                id: &str,
                host: Role,
                title: &str,
                verdict: Verdict,
                summary: &str,
                via: &str| CheckItem {
        id: id.into(),
        check,
        host: Some(host),
        title: title.into(),
        verdict,
        summary: summary.into(),
        evidence: vec![Evidence {
            host,
            at: T0 + 1.0,
            via: via.into(),
        }],
    };
    let mut items = vec![
        item(
            CheckId::ValidatorService,
            "primary.validator.unit",
            Role::Primary,
            "Validator service",
            Verdict::Green,
            "active/running MainPID=812 enabled",
            "systemctl show … -- qrysm-validator",
        ),
        item(
            CheckId::ValidatorService,
            "backup.validator.unit",
            Role::Backup,
            "Validator service",
            Verdict::Green,
            "stopped: inactive/dead MainPID=0 disabled",
            "systemctl show … -- qrysm-validator",
        ),
        item(
            CheckId::ClockSynchronised,
            "backup.clock",
            Role::Backup,
            "Clock",
            Verdict::Warn,
            "0.9 s ahead of this machine; NTP synchronised",
            "date -u +%s.%N",
        ),
        item(
            CheckId::BeaconSynced,
            "backup.beacon",
            Role::Backup,
            "Beacon node synced",
            Verdict::Green,
            "is_syncing=false sync_distance=0 peers=12 (/zond/v1)",
            "GET /zond/v1/node/syncing",
        ),
    ];
    if state == State::LivenessWait {
        items.push(item(
            CheckId::Ssh,
            "primary.ssh",
            Role::Primary,
            "SSH",
            Verdict::Red,
            "unreachable: connection timed out",
            "ssh primary.example",
        ));
    } else {
        items.push(item(CheckId::LockFile, "backup.validator.lock", Role::Backup, "Lock file", Verdict::Red, "ALARM: /etc/quantapool/VALIDATOR_LOCKED is gone: nothing stops the backup's validator from starting", "stat -c … -- /etc/quantapool/VALIDATOR_LOCKED"));
    }
    Preflight {
        items,
        hosts: Vec::new(),
        chain: None,
        at: T0 + 2.0,
    }
}

fn app(state: State, view: View) -> App {
    let mut a = App::new(model(state), Theme::MONO);
    match view {
        View::Wizard => {}
        View::Logs => a.screen = Screen::Logs,
        View::Rollback => {
            a.screen = Screen::Rollback;
            a.rollback_input = "prim".into();
        }
        View::Notes => {
            a.screen = Screen::Notes;
            for c in "08:02 UTC, PSU".chars() {
                a.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
            }
        }
        View::Export => {
            a.screen = Screen::Export;
            a.export_result = Some(Ok(
                "/var/lib/validator-failover/runs/20270115T080000Z-abc123/audit.md".into(),
            ));
        }
        View::Help => a.help = true,
        View::Confirm => {
            let q = a.model.question.clone().expect("a question");
            a.dialog = Some(Dialog::Confirm {
                question: q,
                input: "primary.ex".into(),
            });
        }
        View::Fenced => {
            a.dialog = Some(Dialog::Fenced {
                input: "powered off at the provider, ticket 4411".into(),
            })
        }
        View::StopAll => a.dialog = Some(Dialog::StopAll),
        View::Quit => a.dialog = Some(Dialog::Quit),
        View::Preflight => {
            a.screen = Screen::Preflight;
            a.model
                .apply_world(WorldMsg::Preflight(Box::new(preflight(state))));
        }
        View::Item(c) => {
            assert!(
                a.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
                    .is_empty()
            );
            assert!(matches!(a.screen, Screen::Item(_)), "{c} opens an item");
        }
    }
    a
}

fn views_of(state: State) -> Vec<View> {
    let mut v = vec![
        View::Wizard,
        View::Logs,
        View::Rollback,
        View::Notes,
        View::Export,
        View::Help,
        View::StopAll,
        View::Quit,
        View::Preflight,
    ];
    match state {
        State::Normal => v.push(View::Confirm),
        State::LivenessWait => v.extend([View::Fenced, View::Item('1')]),
        State::GateBlocked => v.push(View::Item('4')),
        State::RedItem => v.push(View::Item('3')),
        State::RolledBack => v.extend([View::Item('7'), View::Item('0')]),
    }
    v
}

#[test]
fn every_screen_in_every_state_at_both_sizes() {
    for state in STATES {
        for view in views_of(state) {
            for (w, h) in [(80, 24), (120, 40)] {
                let a = app(state, view);
                let view = match view {
                    View::Item(c) => format!("item{c}"),
                    v => format!("{v:?}"),
                };
                let name = format!("{state:?}-{view}-{w}x{h}").to_lowercase();
                insta::assert_snapshot!(name, text(&a, w, h));
            }
        }
    }
}

#[test]
fn a_terminal_too_small_says_so() {
    let a = app(State::Normal, View::Wizard);
    let s = text(&a, 79, 24);
    assert!(
        s.contains("terminal too small: need 80×24, have 79×24"),
        "{s}"
    );
    let s = text(&a, 40, 10);
    let words = s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words.contains("need 80×24, have 40×10"), "{s}");
    insta::assert_snapshot!("too-small-60x20", text(&a, 60, 20));
    // And back to normal when it grows.
    assert!(text(&a, 80, 24).contains("Checklist (runbook)"));
}

#[test]
fn the_start_action_is_always_on_screen_and_says_what_it_waits_for() {
    for state in STATES {
        for (w, h) in [(80, 24), (120, 40)] {
            let s = text(&app(state, View::Wizard), w, h);
            assert!(s.contains("[ Start backup ]"), "{state:?} {w}x{h}\n{s}");
            assert!(s.contains("disabled"), "{state:?} {w}x{h}\n{s}");
        }
    }
    let s = text(&app(State::GateBlocked, View::Wizard), 120, 40);
    assert!(
        s.contains("waits for: 4. Backup beacon synced: syncing"),
        "{s}"
    );
    let mut a = app(State::GateBlocked, View::Wizard);
    a.model.question = Some(Confirm::StartBackup {
        expect: "backup.example".into(),
    });
    let s = text(&a, 80, 24);
    assert!(s.contains("▶ [ Start backup ] ready"), "{s}");
}

#[test]
fn liveness_wait_shows_countdown_and_cost() {
    let s = text(&app(State::LivenessWait, View::Wizard), 120, 40);
    assert!(s.contains("[~] Liveness wait:"), "{s}");
    // Counted down here, second by second, from the engine's earliest time: drawn at
    // T0+95 for an earliest of T0+442, 347 s remain.
    assert!(s.contains("in 5:47;"), "{s}");
    let mut a = app(State::LivenessWait, View::Wizard);
    a.model.now += 60.0;
    let s = text(&a, 120, 40);
    assert!(s.contains("in 4:47;"), "{s}");
    assert!(s.contains("so far: 8"), "{s}");
}

#[test]
fn a_dead_host_shows_as_such() {
    let s = text(&app(State::LivenessWait, View::Wizard), 120, 40);
    assert!(s.contains("[✗] primary.example: no answer for 15s"), "{s}");
    let s = text(&app(State::LivenessWait, View::Logs), 120, 40);
    assert!(s.contains("[✗] tail not running: unreachable"), "{s}");
}

#[test]
fn no_color_leaves_no_colour_and_marks_the_selection_with_a_symbol_and_bold() {
    let a = app(State::RedItem, View::Wizard);
    let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();
    t.draw(|f| views::draw(f, &a)).unwrap();
    let buf = t.backend().buffer();
    let mut marks = 0;
    for y in 0..40 {
        for x in 0..120 {
            let c = &buf[(x, y)];
            assert!(matches!(c.fg, Color::Reset), "{x},{y}: {:?}", c.fg);
            assert!(matches!(c.bg, Color::Reset), "{x},{y}: {:?}", c.bg);
            assert!(!c.modifier.contains(Modifier::REVERSED));
            if c.symbol() == "▶" {
                assert!(c.modifier.contains(Modifier::BOLD));
                marks += 1;
            }
        }
    }
    assert!(marks >= 1, "the focused log pane is marked");
    // With colour, a red item is red.
    let mut a = app(State::RedItem, View::Wizard);
    a.theme = Theme::COLOR;
    t.draw(|f| views::draw(f, &a)).unwrap();
    let buf = t.backend().buffer();
    let row = (0..40)
        .find(|y| {
            (0..120)
                .map(|x| buf[(x, *y)].symbol().to_string())
                .collect::<String>()
                .contains("Slashing protection transferred")
        })
        .unwrap();
    assert_eq!(buf[(1, row)].fg, Color::Red);
}

/// A tiny deterministic generator (no dependency for one test).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn no_key_sequence_answers_when_the_engine_asks_nothing() {
    // The gate is shut and the engine asks nothing: whatever is typed, the wizard
    // never sends an answer (and so can never start the backup).
    let mut codes: Vec<KeyEvent> = "sSbackup.exmpl ?qrnelfjkGy"
        .chars()
        .map(|c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
        .collect();
    for c in [
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Backspace,
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::End,
        KeyCode::PageUp,
    ] {
        codes.push(KeyEvent::new(c, KeyModifiers::NONE));
    }
    for c in ['s', 'c', 'x', 'm'] {
        codes.push(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
    }
    for state in [State::GateBlocked, State::LivenessWait, State::RedItem] {
        let mut a = app(state, View::Wizard);
        assert!(a.model.question.is_none());
        let mut rng = Lcg(state as u64 + 7);
        for _ in 0..50_000 {
            let k = codes[(rng.next() % codes.len() as u64) as usize];
            for o in a.on_key(k) {
                assert!(
                    !matches!(o, Out::Answer(_)),
                    "{state:?}: {k:?} answered with nothing asked"
                );
            }
        }
        // `s` says why it is disabled, in the engine's words.
        a.dialog = None;
        a.help = false;
        a.screen = Screen::Wizard;
        a.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::NONE));
        assert!(
            a.flash
                .as_deref()
                .is_some_and(|f| f.starts_with("Start backup is disabled: waits for")),
            "{:?}",
            a.flash
        );
        assert!(a.dialog.is_none());
    }
}

#[test]
fn the_answer_is_what_was_typed_into_the_dialog_of_the_question_asked() {
    let mut a = app(State::GateBlocked, View::Wizard);
    a.model.question = Some(Confirm::StartBackup {
        expect: "backup.example".into(),
    });
    let key = |c| KeyEvent::new(c, KeyModifiers::NONE);
    assert!(a.on_key(key(KeyCode::Char('s'))).is_empty());
    assert!(matches!(a.dialog, Some(Dialog::Confirm { .. })));
    // Empty: nothing sent.
    assert!(a.on_key(key(KeyCode::Enter)).is_empty());
    for c in "backup.example".chars() {
        assert!(a.on_key(key(KeyCode::Char(c))).is_empty());
    }
    assert_eq!(
        a.on_key(key(KeyCode::Enter)),
        vec![Out::Answer(Answer::Typed("backup.example".into()))]
    );
    assert!(a.model.question.is_none());
    assert!(a.dialog.is_none());
}

#[test]
fn stop_all_is_one_key_from_every_screen_and_asks_first() {
    let ctrl_x = KeyEvent::new(KeyCode::Char('x'), KeyModifiers::CONTROL);
    for view in [
        View::Wizard,
        View::Logs,
        View::Rollback,
        View::Notes,
        View::Export,
        View::Help,
        View::Confirm,
        View::Quit,
    ] {
        let mut a = app(State::Normal, view);
        assert!(a.on_key(ctrl_x).is_empty(), "{view:?}: asks first");
        assert_eq!(a.dialog, Some(Dialog::StopAll), "{view:?}");
        assert_eq!(
            a.on_key(KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE)),
            vec![Out::StopAll('y')],
            "{view:?}"
        );
        // Any other key cancels.
        let mut a = app(State::Normal, view);
        a.on_key(ctrl_x);
        assert!(
            a.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))
                .is_empty()
        );
        assert_eq!(a.dialog, None);
    }
}

#[test]
fn quit_asks_while_a_step_runs_and_not_after() {
    let q = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
    let mut a = app(State::GateBlocked, View::Wizard);
    assert!(a.on_key(q).is_empty());
    assert_eq!(a.dialog, Some(Dialog::Quit));
    assert!(
        a.on_key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::NONE))
            .is_empty()
    );
    assert_eq!(a.dialog, None);
    let mut a = app(State::RedItem, View::Wizard);
    assert_eq!(a.on_key(q), vec![Out::Quit]);
}

#[test]
fn rollback_needs_the_primarys_name() {
    let key = |c| KeyEvent::new(c, KeyModifiers::NONE);
    let mut a = app(State::GateBlocked, View::Wizard);
    a.on_key(key(KeyCode::Char('r')));
    assert_eq!(a.screen, Screen::Rollback);
    for c in "backup.example".chars() {
        a.on_key(key(KeyCode::Char(c)));
    }
    assert!(a.on_key(key(KeyCode::Enter)).is_empty());
    a.rollback_input.clear();
    for c in "primary.example".chars() {
        a.on_key(key(KeyCode::Char(c)));
    }
    assert_eq!(
        a.on_key(key(KeyCode::Enter)),
        vec![Out::Rollback("primary.example".into())]
    );
    assert_eq!(a.screen, Screen::Wizard);
}

#[test]
fn every_dialog_shows_its_keys_at_80x24() {
    for (state, view, keys) in [
        (State::Normal, View::Quit, "y: quit"),
        (State::Normal, View::StopAll, "y: stop all"),
        (State::Normal, View::Confirm, "> primary.ex_"),
        (
            State::LivenessWait,
            View::Fenced,
            "> powered off at the provider",
        ),
        // Longer than 80×24: it scrolls, and says so.
        (
            State::GateBlocked,
            View::Help,
            "↑↓ PgUp PgDn: scroll · Any other key closes this help.",
        ),
    ] {
        let s = text(&app(state, view), 80, 24);
        assert!(s.contains(keys), "{view:?}:\n{s}");
    }
}

#[test]
fn the_reason_is_chosen_from_the_runbook_on_the_preflight_screen() {
    let key = |c| KeyEvent::new(c, KeyModifiers::NONE);
    let mut a = app(State::Normal, View::Preflight);
    // The command line's --reason, from the run's first record.
    let s = text(&a, 80, 24);
    assert!(
        s.contains("reason for the failover: Primary node has hardware failure"),
        "{s}"
    );
    a.model.run.reason = None;
    let s = text(&a, 80, 24);
    assert!(s.contains("reason for the failover: not given"), "{s}");
    // Elsewhere, w only says where it works.
    let mut w = app(State::Normal, View::Wizard);
    assert!(w.on_key(key(KeyCode::Char('w'))).is_empty());
    assert!(w.dialog.is_none());
    // On the preflight screen: the runbook's four, 2 chosen, saved into the journal.
    assert!(a.on_key(key(KeyCode::Char('w'))).is_empty());
    let s = text(&a, 80, 24);
    assert!(s.contains("2 Primary node has hardware failure"), "{s}");
    assert!(a.on_key(key(KeyCode::Char('2'))).is_empty());
    assert_eq!(
        a.on_key(key(KeyCode::Enter)),
        vec![Out::SaveNotes(vec![(
            "reason".into(),
            "Primary node has hardware failure".into()
        )])]
    );
    assert!(a.dialog.is_none());
    // Journaled, the preflight screen says so.
    a.model
        .apply(&validator_failover::engine::journal::Entry::next(
            None,
            T0 + 5.0,
            "tester",
            Record::Note {
                field: "reason".into(),
                text: "Primary node has hardware failure".into(),
            },
        ));
    let s = text(&a, 120, 40);
    assert!(
        s.contains("[✓] reason for the failover: Primary node has hardware failure"),
        "{s}"
    );
}

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

#[test]
fn an_items_whole_evidence_is_read_on_its_screen_at_80x24() {
    // On the checklist the evidence is cut at the pane's edge…
    let mut a = app(State::Normal, View::Wizard);
    let s = text(&a, 80, 24);
    assert!(s.contains("backup.example: is_syncin"), "{s}");
    assert!(!s.contains("peers=12"), "cut at 80 columns:\n{s}");
    // …and whole on the item's screen, with the command and the rule.
    assert!(a.on_key(key(KeyCode::Char('4'))).is_empty());
    assert_eq!(a.screen, Screen::Item(ItemId::BackupBeaconSynced));
    let s = text(&a, 80, 24);
    assert!(
        s.contains("seen: is_syncing=false sync_distance=0 peers=12"),
        "{s}"
    );
    assert!(
        s.contains("via: GET http://127.0.0.1:3500/zond/v1/node/syncing"),
        "{s}"
    );
    assert!(s.contains("green: only when is_syncing false"), "{s}");
    // 0 is item 10; Esc goes back.
    a.on_key(key(KeyCode::Char('0')));
    assert_eq!(a.screen, Screen::Item(ItemId::IncidentDocumented));
    a.on_key(key(KeyCode::Esc));
    assert_eq!(a.screen, Screen::Wizard);
}

#[test]
fn a_long_evidence_wraps_under_itself_and_scrolls_to_its_end() {
    let mut a = app(State::GateBlocked, View::Wizard);
    let long: String = (0..60)
        .map(|i| format!("key{i}=epoch{}", 1000 + i))
        .collect::<Vec<_>>()
        .join(" ");
    let mut evidence = Vec::new();
    for i in 0..6 {
        evidence.push(Evidence {
            host: Some(Role::Backup),
            at: T0 + 30.0 + i as f64,
            via: format!("GET …/validator/liveness/{}", 1300 + i),
            observed: long.clone(),
        });
    }
    a.model.apply(&Entry::next(
        None,
        T0 + 40.0,
        "oncall",
        Record::Item {
            number: ItemId::AttestationsSubmitted,
            state: ItemState::Red("keys not live".into()),
            evidence,
        },
    ));
    a.on_key(key(KeyCode::Char('8')));
    let s = text(&a, 80, 24);
    assert!(s.contains("Evidence (6):"), "{s}");
    assert!(s.contains("lines 1-20 of "), "it says there is more:\n{s}");
    // The words of one piece of evidence continue under it, indented.
    assert!(
        s.contains("│    seen: key0=epoch1000 key1=epoch1001"),
        "{s}"
    );
    assert!(s.contains("│          key"), "{s}");
    // To the end, and no further: one key up moves at once.
    for _ in 0..20 {
        a.on_key(key(KeyCode::PageDown));
    }
    let end = text(&a, 80, 24);
    assert!(end.contains("key59=epoch1059"), "{end}");
    assert!(end.contains("via: GET …/validator/liveness/1305"), "{end}");
    let max = a.scroll_max.get();
    assert!(max > 0 && a.scroll == max, "{} of {max}", a.scroll);
    a.on_key(key(KeyCode::Up));
    assert_eq!(a.scroll, max - 1);
}

#[test]
fn the_help_wraps_with_a_hanging_indent_and_scrolls_at_80x24() {
    let mut a = app(State::Normal, View::Help);
    let labels: Vec<String> = validator_failover::tui::keymap::KEYS
        .iter()
        .map(|b| format!("{:>9}  ", b.label))
        .collect();
    let mut seen_labels = 0;
    let mut pages = Vec::new();
    for _ in 0..4 {
        let s = text(&a, 80, 24);
        let rows: Vec<&str> = s.lines().collect();
        let top = rows.iter().position(|r| r.contains("Keys (?)")).unwrap();
        let bottom = top + rows[top..].iter().position(|r| r.starts_with('└')).unwrap();
        for r in &rows[top + 1..bottom] {
            let inner: String = r.chars().skip(1).take(11).collect();
            let label = labels.contains(&inner);
            seen_labels += usize::from(label);
            assert!(
                label || inner == " ".repeat(11) || inner == "  Symbols  ",
                "a line wrapped to column 0: {r:?}\n{s}"
            );
        }
        pages.push(s);
        a.on_key(key(KeyCode::PageDown));
        assert!(a.help, "a scroll key does not close the help");
    }
    let last = pages.last().unwrap();
    assert!(last.contains("q/Ctrl-C  quit"), "{last}");
    assert!(last.contains("[↶] undone"), "{last}");
    assert!(
        seen_labels >= validator_failover::tui::keymap::KEYS.len(),
        "{seen_labels}"
    );
    // Any other key closes it.
    a.on_key(key(KeyCode::Char('x')));
    assert!(!a.help);
}

fn entry(dt: f64, r: Record) -> validator_failover::tui::app::EngineMsg {
    validator_failover::tui::app::EngineMsg::Entry(Box::new(Entry::next(
        None,
        T0 + dt,
        "oncall",
        r,
    )))
}

fn item(n: ItemId, state: ItemState) -> Record {
    Record::Item {
        number: n,
        state,
        evidence: Vec::new(),
    }
}

#[test]
fn the_log_pane_follows_the_host_that_signs() {
    let mut a = app(State::Normal, View::Wizard);
    assert_eq!(a.tail_focus, Role::Primary, "the primary signs at first");
    assert!(text(&a, 80, 24).contains("▶ journal: primary.example"));
    a.on_engine(entry(30.0, item(ItemId::LockFileRemoved, ItemState::Green)));
    assert_eq!(a.tail_focus, Role::Primary, "unlocked, not started");
    a.on_engine(entry(
        31.0,
        item(ItemId::BackupValidatorStarted, ItemState::Running),
    ));
    assert_eq!(a.tail_focus, Role::Backup, "the backup is being started");
    assert!(text(&a, 80, 24).contains("▶ journal: backup.example"));
    // Tab still switches; the pane stays where it was put until the signer changes.
    a.on_key(key(KeyCode::Tab));
    assert_eq!(a.tail_focus, Role::Primary);
    a.on_engine(entry(
        32.0,
        item(ItemId::BackupValidatorStarted, ItemState::Green),
    ));
    assert_eq!(a.tail_focus, Role::Primary);
    a.on_key(key(KeyCode::Tab));
    // The rollback undid the start: the primary again.
    a.on_engine(entry(
        60.0,
        item(
            ItemId::BackupValidatorStarted,
            ItemState::Undone("stopped".into()),
        ),
    ));
    assert_eq!(a.tail_focus, Role::Primary);
}

#[test]
fn after_a_rollback_items_6_to_9_no_longer_read_green_and_its_steps_are_listed() {
    let s = text(&app(State::RolledBack, View::Wizard), 80, 24);
    for n in [
        "6 Lock file removed on backup",
        "7 Backup validator started",
        "8 Attestations being submitted",
        "9 Alerts cleared",
        "1 Primary validator confirmed stopped",
        "2 Primary process confirmed killed",
    ] {
        assert!(s.contains(&format!("[↶]  {n}")), "{n}\n{s}");
        assert!(!s.contains(&format!("[✓]  {n}")), "{n}\n{s}");
    }
    assert!(s.contains("4/10 green, 6 undone"), "{s}");
    assert!(s.contains("rollback: [✓] R1 [✓] R2 [✓] R3 [✓] R4"), "{s}");
    assert!(s.contains("▶ journal: primary.example"), "{s}");
    let s = text(&app(State::RolledBack, View::Rollback), 80, 24);
    for r in [
        "[✓] R1 Backup stopped and locked again",
        "[✓] R2 Backup's history back on the primary",
        "[✓] R3 Rollback's start gate",
        "[✓] R4 Primary unfenced and running",
    ] {
        assert!(s.contains(r), "{r}\n{s}");
    }
    assert!(
        s.contains("lock file present: regular empty file 444 root:root"),
        "{s}"
    );
}

#[test]
fn item_10_ticks_once_the_notes_and_the_runs_times_are_there() {
    let s = text(&app(State::Normal, View::Wizard), 120, 40);
    assert!(
        s.contains("[ ] 10 Incident documented                           waits for time of failure, cause, run's end (n: notes)"),
        "{s}"
    );
    // Rolled back after the notes were written: ended again, so documented.
    let s = text(&app(State::RolledBack, View::Wizard), 80, 24);
    assert!(s.contains("[✓] 10 Incident documented"), "{s}");
    let s = text(&app(State::RolledBack, View::Item('0')), 80, 24);
    assert!(
        s.contains("seen: cause: PSU failure on the primary's rack"),
        "{s}"
    );
    assert!(s.contains("seen: time of failure: 07:52 UTC"), "{s}");
    assert!(s.contains("(rolled back)"), "{s}");
}

#[test]
fn the_export_screen_exports_markdown_on_m_and_json_on_j() {
    let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    let mut a = app(State::Normal, View::Export);
    assert_eq!(
        a.on_key(key('m')),
        vec![Out::Export(ExportFormat::Markdown)]
    );
    // `j` also scrolls on the other screens; here it is the JSON export.
    assert_eq!(a.on_key(key('j')), vec![Out::Export(ExportFormat::Json)]);
    // Elsewhere `j` exports nothing.
    let mut a = app(State::Normal, View::Wizard);
    assert!(
        !a.on_key(key('j'))
            .iter()
            .any(|o| matches!(o, Out::Export(_)))
    );
}
