//! The wizard's loop (after yazi and television): one `select!` over the terminal's
//! events, the engine's messages, the probes' and tails' messages and the signals;
//! every message drained, then at most one frame drawn, and only when something
//! changed. No fixed tick: a one-second timer runs only while a clock is on screen.
//!
//! Keys become [`Out`]s in [`App::on_key`], a pure function that the snapshot and
//! safety tests drive without a terminal.

use std::io;
use std::time::Duration;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui_textarea::TextArea;
use tokio::sync::{mpsc, oneshot};

use crate::config::Role;
use crate::driver::Answer;
use crate::engine::ids::ItemId;
use crate::engine::journal::{Entry, NoteField, RunOutcome};
use crate::engine::machine::{Confirm, Request, StopAllConsent};

use super::keymap::{self, Action};
use super::model::{Model, WorldMsg};
use super::theme::Theme;

/// What the engine's side of the wizard reports.
pub enum EngineMsg {
    /// A journal entry, as the driver's listener saw it.
    Entry(Box<Entry>),
    /// The engine asks a question; the answer goes back on the oneshot.
    Ask(Confirm, oneshot::Sender<Answer>),
    /// The run's journal directory.
    RunDir(String),
    /// How far a stream of the history has come.
    Progress(crate::progress::Progress),
    /// The run ended: its closing line, its outcome, the exit code.
    Ended(String, RunOutcome, i32),
    /// The engine works again on the same run (a rollback or stop-all after the end).
    Restarted,
}

/// The screens (the help is an overlay, the dialogs are modal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Wizard,
    Logs,
    Rollback,
    Notes,
    Export,
    Preflight,
    /// One checklist item whole: its state, all its evidence, its history.
    Item(ItemId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialog {
    /// The typed confirmation of the engine's question.
    Confirm {
        question: Confirm,
        input: String,
    },
    /// The statement that the primary is fenced out of band.
    Fenced {
        input: String,
    },
    /// Why this failover: one of the runbook's four criteria, or own words.
    Reason {
        input: String,
    },
    StopAll,
    Quit,
}

/// The audit's formats on the export screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Markdown,
    Json,
}

/// What a key asks the loop to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Answer(Answer),
    /// Roll back, with the name typed: answers a pending question, or interrupts
    /// the engine (which journals and judges the name).
    Rollback(String),
    /// STOP ALL, with the key that answered its question.
    StopAll(char),
    FencedOutOfBand(String),
    SaveNotes(Vec<(NoteField, String)>),
    Export(ExportFormat),
    /// Look at both hosts again (the read-only preflight).
    Preflight,
    Quit,
}

/// A one-line text field: Backspace, and printable characters up to `max`.
fn edit_line(input: &mut String, key: &KeyEvent, max: usize) {
    match key.code {
        KeyCode::Backspace => {
            input.pop();
        }
        KeyCode::Char(c)
            if !key
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
                && input.chars().count() < max =>
        {
            input.push(c);
        }
        _ => {}
    }
}

/// The runbook's four reasons to fail over ("When to Perform Failover").
pub const RUNBOOK_REASONS: [&str; 4] = [
    "Primary node is unresponsive for >15 minutes",
    "Primary node has hardware failure",
    "Planned maintenance requiring >1 hour downtime",
    "Primary node software is critically corrupted",
];

/// The runbook's incident fields, in the notes editor's order.
pub const NOTE_FIELDS: [NoteField; 4] = NoteField::INCIDENT;

pub struct App {
    pub model: Model,
    pub theme: Theme,
    pub screen: Screen,
    pub dialog: Option<Dialog>,
    pub help: bool,
    /// The help's first line shown, when it is longer than the screen.
    pub help_scroll: u16,
    /// The first line shown of a screen that scrolls (an item's, the rollback's).
    pub scroll: u16,
    /// The most each can scroll, as the last frame found (the views write it).
    pub help_scroll_max: std::cell::Cell<u16>,
    pub scroll_max: std::cell::Cell<u16>,
    /// The log pane's host (Tab switches it).
    pub tail_focus: Role,
    /// The host that signs as the model last said; when it changes, the log pane
    /// follows it.
    pub signer: Role,
    /// A one-line message in the status bar, until the next key.
    pub flash: Option<String>,
    /// The rollback screen's typed primary name.
    pub rollback_input: String,
    /// The stop-all was sent.
    pub stop_all_sent: bool,
    pub notes: Vec<TextArea<'static>>,
    pub note_focus: usize,
    /// Notes saved but not yet in the journal (the drive still holds it).
    pub notes_queued: bool,
    pub export_result: Option<Result<String, String>>,
    /// The loop should redraw.
    pub dirty: bool,
    /// Keys handled so far (benches measure a key's way to the screen by it).
    pub keys: u64,
    pub quit: bool,
    /// Why the drive ended and the exit code, once it has.
    pub finished: Option<(String, i32)>,
}

impl App {
    pub fn new(model: Model, theme: Theme) -> App {
        let signer = model.signing_host();
        let notes = NOTE_FIELDS
            .iter()
            .map(|field| {
                let title = field.title();
                let mut t = TextArea::default();
                t.set_placeholder_text(format!("{title}…"));
                t
            })
            .collect();
        App {
            model,
            theme,
            screen: Screen::Wizard,
            dialog: None,
            help: false,
            help_scroll: 0,
            scroll: 0,
            help_scroll_max: Default::default(),
            scroll_max: Default::default(),
            tail_focus: signer,
            signer,
            flash: None,
            rollback_input: String::new(),
            stop_all_sent: false,
            notes,
            note_focus: 0,
            notes_queued: false,
            export_result: None,
            dirty: true,
            keys: 0,
            quit: false,
            finished: None,
        }
    }

    /// A text field has the keyboard: only the global keys are keys.
    pub fn typing(&self) -> bool {
        matches!(
            self.dialog,
            Some(Dialog::Confirm { .. } | Dialog::Fenced { .. } | Dialog::Reason { .. })
        ) || (self.dialog.is_none() && matches!(self.screen, Screen::Rollback | Screen::Notes))
    }

    /// Open the typed confirmation of the pending question.
    fn open_confirm(&mut self) {
        match &self.model.question {
            Some(q) => {
                self.dialog = Some(Dialog::Confirm {
                    question: q.clone(),
                    input: String::new(),
                })
            }
            None => {
                self.flash = Some("the engine is not asking anything now".into());
            }
        }
    }

    /// One key. Returns what the loop must do.
    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Out> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        self.dirty = true;
        self.keys += 1;
        self.flash = None;
        let mut out = Vec::new();
        let global = keymap::global_action_for(&key);
        if global == Some(Action::StopAll) && self.dialog != Some(Dialog::StopAll) {
            self.help = false;
            self.dialog = Some(Dialog::StopAll);
            return out;
        }
        // The dialogs first: they are modal.
        if let Some(d) = &mut self.dialog {
            match d {
                Dialog::Confirm { question, input } => match key.code {
                    KeyCode::Esc => self.dialog = None,
                    KeyCode::Enter if input.trim().is_empty() => {
                        self.flash = Some(format!("type {} first", question.expected()));
                    }
                    KeyCode::Enter => {
                        let typed = std::mem::take(input);
                        self.dialog = None;
                        self.model.question = None;
                        out.push(Out::Answer(Answer::Typed(typed)));
                    }
                    _ => edit_line(input, &key, 253),
                },
                Dialog::Fenced { input } => match key.code {
                    KeyCode::Esc => self.dialog = None,
                    KeyCode::Enter if input.trim().is_empty() => {
                        self.flash = Some("write the statement first".into());
                    }
                    KeyCode::Enter => {
                        let s = std::mem::take(input);
                        self.dialog = None;
                        out.push(Out::FencedOutOfBand(s.trim().to_string()));
                    }
                    _ => edit_line(input, &key, 500),
                },
                Dialog::Reason { input } => match key.code {
                    KeyCode::Esc => self.dialog = None,
                    KeyCode::Char(c @ '1'..='4') if input.is_empty() => {
                        *input = RUNBOOK_REASONS[(c as u8 - b'1') as usize].to_string();
                    }
                    KeyCode::Enter if input.trim().is_empty() => {
                        self.flash = Some("choose 1-4 or write the reason first".into());
                    }
                    KeyCode::Enter => {
                        let s = std::mem::take(input);
                        self.dialog = None;
                        out.push(Out::SaveNotes(vec![(
                            NoteField::Reason,
                            s.trim().to_string(),
                        )]));
                    }
                    _ => edit_line(input, &key, 500),
                },
                Dialog::StopAll => match key.code {
                    KeyCode::Char(c @ ('y' | 'Y')) => {
                        self.dialog = None;
                        out.push(Out::StopAll(c));
                    }
                    _ => self.dialog = None,
                },
                Dialog::Quit => match key.code {
                    KeyCode::Char('y') | KeyCode::Char('Y') => {
                        self.dialog = None;
                        out.push(Out::Quit);
                    }
                    _ => self.dialog = None,
                },
            }
            return out;
        }
        if self.help {
            // The scroll keys scroll it; any other key closes the help.
            let max = self.help_scroll_max.get();
            match keymap::action_for(&key).and_then(scroll_by) {
                Some(d) => self.help_scroll = scrolled(self.help_scroll, d, max),
                None => {
                    self.help = false;
                    self.help_scroll = 0;
                }
            }
            return out;
        }
        match self.screen {
            Screen::Rollback => {
                if let Some(d) = keymap::action_for(&key).and_then(scroll_by)
                    && !matches!(key.code, KeyCode::Char(_))
                {
                    self.scroll = scrolled(self.scroll, d, self.scroll_max.get());
                    return out;
                }
                match key.code {
                    KeyCode::Esc => self.screen = Screen::Wizard,
                    KeyCode::Enter => {
                        // Checked here for feedback as the person types; the engine
                        // journals the name and decides.
                        if self.rollback_input.trim() == self.model.run.primary {
                            let typed = std::mem::take(&mut self.rollback_input);
                            self.screen = Screen::Wizard;
                            out.push(Out::Rollback(typed));
                        } else {
                            self.flash = Some(format!(
                                "type the primary's name, {}, to roll back",
                                self.model.run.primary
                            ));
                        }
                    }
                    KeyCode::Backspace => {
                        self.rollback_input.pop();
                    }
                    KeyCode::Char(c)
                        if !key
                            .modifiers
                            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
                    {
                        self.rollback_input.push(c);
                    }
                    _ => {}
                }
                return out;
            }
            Screen::Notes => {
                match (key.code, key.modifiers) {
                    (KeyCode::Esc, _) => self.screen = Screen::Wizard,
                    (KeyCode::Tab, _) => self.note_focus = (self.note_focus + 1) % self.notes.len(),
                    (KeyCode::BackTab, _) => {
                        self.note_focus =
                            (self.note_focus + self.notes.len() - 1) % self.notes.len()
                    }
                    (KeyCode::Char('s'), KeyModifiers::CONTROL) => {
                        let v: Vec<(NoteField, String)> = NOTE_FIELDS
                            .iter()
                            .zip(&self.notes)
                            .map(|(f, t)| (f.clone(), t.lines().join("\n")))
                            .filter(|(_, t)| !t.trim().is_empty())
                            .collect();
                        if v.is_empty() {
                            self.flash = Some("nothing to save: the notes are empty".into());
                        } else {
                            out.push(Out::SaveNotes(v));
                        }
                    }
                    _ => {
                        self.notes[self.note_focus].input(key);
                    }
                }
                return out;
            }
            // The export screen's own two keys come before the screens' bindings (`j`
            // also scrolls, and used to win: JSON could not be exported).
            Screen::Export if key.modifiers.is_empty() => match key.code {
                KeyCode::Char('m') => {
                    out.push(Out::Export(ExportFormat::Markdown));
                    return out;
                }
                KeyCode::Char('j') => {
                    out.push(Out::Export(ExportFormat::Json));
                    return out;
                }
                _ => {}
            },
            _ => {}
        }
        let Some(action) = keymap::action_for(&key) else {
            return out;
        };
        if let (Screen::Item(_), Some(d)) = (self.screen, scroll_by(action)) {
            self.scroll = scrolled(self.scroll, d, self.scroll_max.get());
            return out;
        }
        let tail = &mut self.model.tails[super::model::idx(self.tail_focus)];
        match action {
            Action::Help => self.help = true,
            Action::Quit => {
                if self.model.running() {
                    self.dialog = Some(Dialog::Quit);
                } else {
                    out.push(Out::Quit);
                }
            }
            Action::Confirm => self.open_confirm(),
            Action::StartBackup => {
                if self.model.start_enabled() {
                    self.open_confirm();
                } else {
                    self.flash = Some(format!(
                        "Start backup is disabled: waits for {}",
                        self.model.start_waits_for().join("; ")
                    ));
                }
            }
            Action::Rollback => {
                self.rollback_input.clear();
                self.scroll = 0;
                self.screen = Screen::Rollback;
            }
            Action::StopAll => self.dialog = Some(Dialog::StopAll),
            Action::FencedOutOfBand => {
                self.dialog = Some(Dialog::Fenced {
                    input: String::new(),
                })
            }
            Action::Notes => self.screen = Screen::Notes,
            Action::OpenItem => {
                if let Some(n) = keymap::item_of(&key) {
                    self.screen = Screen::Item(n);
                    self.scroll = 0;
                }
            }
            Action::Export => {
                self.export_result = None;
                self.screen = Screen::Export;
            }
            Action::Reason => {
                if self.screen == Screen::Preflight {
                    self.dialog = Some(Dialog::Reason {
                        input: String::new(),
                    });
                } else {
                    self.flash = Some("w: on the preflight screen (p)".into());
                }
            }
            Action::Preflight => {
                if self.screen == Screen::Preflight {
                    self.screen = Screen::Wizard;
                } else {
                    self.screen = Screen::Preflight;
                    out.push(Out::Preflight);
                }
            }
            Action::Logs => {
                self.screen = if self.screen == Screen::Logs {
                    Screen::Wizard
                } else {
                    Screen::Logs
                }
            }
            Action::SwitchTail => {
                self.tail_focus = match self.tail_focus {
                    Role::Primary => Role::Backup,
                    Role::Backup => Role::Primary,
                }
            }
            Action::ScrollUp => tail.scroll_up(1),
            Action::ScrollDown => tail.scroll_down(1),
            Action::PageUp => tail.scroll_up(10),
            Action::PageDown => tail.scroll_down(10),
            Action::Follow => tail.follow(),
            Action::Back => self.screen = Screen::Wizard,
        }
        out
    }

    /// A message from the engine's side; returns the answer channel of a question.
    pub fn on_engine(&mut self, m: EngineMsg) -> Option<oneshot::Sender<Answer>> {
        self.dirty = true;
        match m {
            EngineMsg::Entry(e) => {
                self.model.apply(&e);
                // The log pane follows the host that signs, when that changes.
                let signer = self.model.signing_host();
                if signer != self.signer {
                    self.signer = signer;
                    self.tail_focus = signer;
                }
            }
            EngineMsg::Ask(q, tx) => {
                self.model.question = Some(q);
                return Some(tx);
            }
            EngineMsg::RunDir(d) => self.model.run.dir = Some(d),
            EngineMsg::Progress(p) => self.model.transfer = (!p.finished).then_some(p),
            EngineMsg::Ended(why, outcome, code) => {
                self.model.question = None;
                if self.model.ended.is_none() {
                    self.model.ended = Some(outcome);
                }
                if matches!(self.dialog, Some(Dialog::Confirm { .. })) {
                    self.dialog = None;
                }
                self.finished = Some((why, code));
            }
            EngineMsg::Restarted => {
                self.model.ended = None;
                self.model.ended_at = None;
                self.finished = None;
            }
        }
        None
    }

    pub fn on_world(&mut self, m: WorldMsg) {
        self.dirty = true;
        self.model.apply_world(m);
    }

    /// A clock is on screen (elapsed time, next epoch, a countdown).
    pub fn shows_clock(&self) -> bool {
        self.model.running() || self.model.chain.is_some()
    }
}

/// How far a scroll key moves a screen: lines, negative up (None: not a scroll key).
fn scroll_by(a: Action) -> Option<i32> {
    match a {
        Action::ScrollUp => Some(-1),
        Action::ScrollDown => Some(1),
        Action::PageUp => Some(-10),
        Action::PageDown => Some(10),
        _ => None,
    }
}

fn scrolled(at: u16, by: i32, max: u16) -> u16 {
    (at as i32 + by).clamp(0, max as i32) as u16
}

/// How the loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Quit(i32),
    Signal(i32),
    /// The terminal's event stream ended.
    Hangup,
    /// The engine's task ended without the program asking it to (it panicked): the
    /// interface stops drawing at once; the journal holds what was done.
    EngineLost,
}

/// Where the loop's decisions go: the engine's answers, interrupts, notes, exports.
pub trait Effects {
    /// A rollback or the stop-all, with its confirmation, now (no question is
    /// pending). Err: why it cannot be sent.
    fn request(&mut self, request: Request) -> Result<(), String>;
    /// The typed statement that the primary is fenced out of band.
    fn fenced_out_of_band(&mut self, statement: String) -> Result<(), String>;
    fn save_notes(&mut self, notes: Vec<(NoteField, String)>) -> Result<bool, String>;
    fn export(&mut self, dir: Option<&str>, f: ExportFormat) -> Result<String, String>;
    /// Run the read-only preflight again; its result comes back as a world message.
    fn preflight(&mut self) {}
}

/// The loop's inputs other than the terminal.
pub struct Inputs {
    pub engine: mpsc::UnboundedReceiver<EngineMsg>,
    pub world: mpsc::Receiver<WorldMsg>,
    /// Catch SIGHUP and SIGTERM (off in benches).
    pub signals: bool,
    /// Told after every frame, with the keys handled before it (benches).
    pub frames: Option<mpsc::UnboundedSender<(std::time::Instant, u64)>>,
    /// The clock the screen is drawn for.
    pub now: fn() -> f64,
}

fn draw<B: Backend>(terminal: &mut Terminal<B>, app: &mut App, now: f64) -> io::Result<()> {
    app.model.now = now;
    terminal
        .draw(|f| super::views::draw(f, app))
        .map_err(|e| io::Error::other(e.to_string()))?;
    app.dirty = false;
    Ok(())
}

/// The loop: until quit, a signal, or the terminal goes away.
pub async fn run_loop<B, S>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    mut events: S,
    mut inputs: Inputs,
    fx: &mut (dyn Effects + Send),
) -> io::Result<Exit>
where
    B: Backend,
    S: Stream<Item = io::Result<Event>> + Unpin,
{
    use tokio::signal::unix::{SignalKind, signal};
    let (mut hup, mut term) = if inputs.signals {
        (
            Some(signal(SignalKind::hangup())?),
            Some(signal(SignalKind::terminate())?),
        )
    } else {
        (None, None)
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut answer: Option<oneshot::Sender<Answer>> = None;
    let mut world_open = true;
    loop {
        if answer.as_ref().is_some_and(|a| a.is_closed()) {
            // The engine withdrew its question (an interrupt took over).
            answer = None;
            app.model.question = None;
            if matches!(app.dialog, Some(Dialog::Confirm { .. })) {
                app.dialog = None;
            }
            app.dirty = true;
        }
        if app.dirty {
            draw(terminal, app, (inputs.now)())?;
            if let Some(f) = &inputs.frames {
                let _ = f.send((std::time::Instant::now(), app.keys));
            }
        }
        let clock = app.shows_clock();
        let mut outs = Vec::new();
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) => outs = app.on_key(k),
                Some(Ok(Event::Resize(..))) => app.dirty = true,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Ok(Exit::Hangup),
            },
            m = inputs.engine.recv() => match m {
                Some(m) => {
                    if let Some(tx) = app.on_engine(m) {
                        answer = Some(tx);
                    }
                }
                // Its task ended (a panic): never go on drawing a run nobody drives.
                None => return Ok(Exit::EngineLost),
            },
            m = inputs.world.recv(), if world_open => match m {
                Some(m) => app.on_world(m),
                None => world_open = false,
            },
            _ = tick.tick(), if clock => app.dirty = true,
            _ = async { hup.as_mut().expect("on").recv().await }, if hup.is_some() => {
                return Ok(Exit::Signal(128 + 1));
            }
            _ = async { term.as_mut().expect("on").recv().await }, if term.is_some() => {
                return Ok(Exit::Signal(128 + 15));
            }
        }
        // Drain whatever else is waiting, then draw once.
        while let Ok(m) = inputs.engine.try_recv() {
            if let Some(tx) = app.on_engine(m) {
                answer = Some(tx);
            }
        }
        while let Ok(m) = inputs.world.try_recv() {
            app.on_world(m);
        }
        for o in outs {
            match o {
                Out::Answer(a) => match answer.take() {
                    Some(tx) => {
                        let _ = tx.send(a);
                    }
                    None => app.flash = Some("the engine is not asking anything now".into()),
                },
                Out::Rollback(typed) => match answer.take() {
                    Some(tx) => {
                        app.model.question = None;
                        let _ = tx.send(Answer::Request(Request::Rollback { typed }));
                        app.flash = Some("rollback: sent to the engine".into());
                    }
                    None => match fx.request(Request::Rollback { typed }) {
                        Ok(()) => app.flash = Some("rollback: sent to the engine".into()),
                        Err(why) => app.flash = Some(format!("rollback not sent: {why}")),
                    },
                },
                Out::StopAll(key) => {
                    let request = Request::StopAll {
                        consent: StopAllConsent::Key(key),
                    };
                    let sent = match answer.take() {
                        Some(tx) => {
                            app.model.question = None;
                            tx.send(Answer::Request(request))
                                .map_err(|_| "the engine is gone".to_string())
                        }
                        None => fx.request(request),
                    };
                    match sent {
                        Ok(()) => {
                            app.stop_all_sent = true;
                            app.flash = Some("STOP ALL sent to the engine".into());
                        }
                        Err(why) => app.flash = Some(format!("STOP ALL not sent: {why}")),
                    }
                }
                Out::FencedOutOfBand(statement) => match fx.fenced_out_of_band(statement) {
                    Ok(()) => app.flash = Some("the statement was sent to the engine".into()),
                    Err(why) => app.flash = Some(format!("statement not sent: {why}")),
                },
                Out::SaveNotes(n) => match fx.save_notes(n) {
                    Ok(now) => {
                        app.notes_queued = !now;
                        app.flash = Some(if now {
                            "notes saved into the journal".into()
                        } else {
                            "notes saved; they reach the journal when the engine's drive ends"
                                .into()
                        });
                    }
                    Err(why) => app.flash = Some(format!("notes not saved: {why}")),
                },
                Out::Export(f) => {
                    app.export_result = Some(fx.export(app.model.run.dir.as_deref(), f));
                }
                Out::Preflight => {
                    app.model.preflight_running = true;
                    fx.preflight();
                }
                Out::Quit => app.quit = true,
            }
            app.dirty = true;
        }
        if app.quit {
            let code = app.finished.as_ref().map(|(_, c)| *c).unwrap_or(1);
            return Ok(Exit::Quit(code));
        }
    }
}
