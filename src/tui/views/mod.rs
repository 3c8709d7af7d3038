//! Drawing: pure functions of the [`App`](super::app::App). The layout fits 80×24 and
//! gives a larger terminal to the logs and the step's detail.

pub mod checklist;
pub mod dialogs;
pub mod item;
pub mod logs;
pub mod screens;
pub mod step;
pub mod sync;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::app::{App, Screen};
use super::keymap;

pub const MIN_W: u16 = 80;
pub const MIN_H: u16 = 24;

pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    if area.width < MIN_W || area.height < MIN_H {
        too_small(f, area);
        return;
    }
    let [head, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    header(f, app, head);
    match app.screen {
        Screen::Wizard => wizard(f, app, body),
        Screen::Logs => logs::full(f, app, body),
        Screen::Rollback => screens::rollback(f, app, body),
        Screen::Notes => screens::notes(f, app, body),
        Screen::Export => screens::export(f, app, body),
        Screen::Preflight => screens::preflight(f, app, body),
        Screen::Item(n) => item::draw(f, app, n, body),
    }
    status_bar(f, app, status);
    if app.help {
        dialogs::help(f, app, body);
    }
    if let Some(d) = &app.dialog {
        dialogs::dialog(f, app, d, body);
    }
}

fn too_small(f: &mut Frame, area: Rect) {
    f.render_widget(Clear, area);
    let msg = format!(
        "terminal too small: need {MIN_W}×{MIN_H}, have {}×{}",
        area.width, area.height
    );
    let lines = vec![
        Line::from(msg),
        Line::from("enlarge the window; the run goes on meanwhile"),
        Line::from(format!("{}: emergency stop-all", keymap::STOP_ALL_LABEL)),
    ];
    let h = lines.len() as u16;
    let y = area.y + area.height.saturating_sub(h) / 2;
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }),
        Rect::new(area.x, y, area.width, h.min(area.height)),
    );
}

/// `label` then `text` wrapped to `width` columns with a hanging indent: the lines
/// after the first start under the text, not under the label (`label` is `indent`
/// columns wide). Never cut: as many lines as the text needs.
pub fn hanging(
    label: Vec<Span<'static>>,
    indent: usize,
    text: &str,
    style: Style,
    width: usize,
) -> Vec<Line<'static>> {
    let room = width.saturating_sub(indent).max(10);
    let mut out = Vec::new();
    let mut label = Some(label);
    for part in text.split('\n') {
        for l in textwrap::wrap(part, room) {
            let mut spans = label
                .take()
                .unwrap_or_else(|| vec![Span::raw(" ".repeat(indent))]);
            spans.push(Span::styled(l.into_owned(), style));
            out.push(Line::from(spans));
        }
    }
    if let Some(l) = label {
        out.push(Line::from(l));
    }
    out
}

/// Lines already wrapped to the area, shown from line `at` (clamped); returns how far
/// they could scroll, for the next key.
pub fn scrolled(
    f: &mut Frame,
    lines: Vec<Line<'static>>,
    at: u16,
    block: Block<'static>,
    area: Rect,
) -> u16 {
    let total = lines.len();
    let rows = |b: &Block| b.inner(area).height as usize;
    if total <= rows(&block) {
        f.render_widget(Paragraph::new(lines).block(block), area);
        return 0;
    }
    // Where the view is, so that nothing below the edge goes unseen (on a block
    // without borders the line takes a row of its own).
    let titled = |b: Block<'static>, text: String| b.title_bottom(Line::from(text).right_aligned());
    let h = rows(&titled(block.clone(), String::new())).max(1);
    let max = total.saturating_sub(h) as u16;
    let at = at.min(max);
    let last = (at as usize + h).min(total);
    let block = titled(block, format!(" lines {}-{last} of {total} ", at + 1));
    f.render_widget(Paragraph::new(lines).block(block).scroll((at, 0)), area);
    max
}

/// `m:ss` or `h:mm:ss`.
pub fn clock(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn header(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let m = &app.model;
    let mut spans = vec![
        Span::styled("validator-failover", t.title()),
        Span::raw(format!("  {} → {}", m.run.primary, m.run.backup)),
    ];
    if let Some(e) = m.elapsed() {
        spans.push(Span::raw(format!("  elapsed {}", clock(e))));
    }
    match &m.ended {
        Some(o) if o.is_completed() => spans.push(Span::styled("  DONE", t.ok())),
        Some(o) => spans.push(Span::styled(format!("  ENDED: {o}"), t.bad())),
        None if app.stop_all_sent => spans.push(Span::styled("  STOP ALL SENT", t.danger())),
        None => {}
    }
    if !m.run.id.is_empty() {
        spans.push(Span::styled(format!("  run {}", m.run.id), t.dim()));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn status_bar(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    if let Some(msg) = &app.flash {
        f.render_widget(Paragraph::new(Span::styled(msg.as_str(), t.warn())), area);
        return;
    }
    let typing = app.typing();
    // (key, word, essential): the inessential ones give way on a narrow terminal.
    let mut items: Vec<(&str, &str, Style, bool)> = Vec::new();
    for b in keymap::KEYS {
        let Some(word) = b.bar else { continue };
        if typing && b.scope != keymap::Scope::Global {
            continue;
        }
        let style = if b.action == keymap::Action::StartBackup && !app.model.start_enabled() {
            t.disabled()
        } else {
            t.key()
        };
        let key = b.label.split('/').next().unwrap_or(b.label);
        let essential = !matches!(
            b.action,
            keymap::Action::Notes
                | keymap::Action::Export
                | keymap::Action::OpenItem
                | keymap::Action::Logs
        );
        items.push((key, word, style, essential));
    }
    if typing {
        items.push(("Esc", "back", t.key(), true));
    }
    let width = |v: &[(&str, &str, Style, bool)]| -> usize {
        v.iter()
            .map(|(k, w, _, _)| k.chars().count() + w.chars().count() + 3)
            .sum()
    };
    while width(&items) > area.width as usize + 2 {
        match items.iter().rposition(|i| !i.3) {
            Some(i) => {
                items.remove(i);
            }
            None => break,
        }
    }
    let mut spans = Vec::new();
    for (k, w, style, _) in items {
        spans.push(Span::styled(k, style));
        spans.push(Span::raw(format!(" {w}  ")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The first screen: checklist, step with the Start action, sync, a log tail.
fn wizard(f: &mut Frame, app: &App, area: Rect) {
    let h = area.height;
    let step_h = h.saturating_sub(12 + 5).clamp(5, 10);
    let [list, step, bottom] = Layout::vertical([
        Constraint::Length(12),
        Constraint::Length(step_h),
        Constraint::Min(0),
    ])
    .areas(area);
    checklist::draw(f, app, list);
    step::draw(f, app, step);
    let sync_w = if area.width >= 120 { 46 } else { 37 };
    let [s, l] = Layout::horizontal([Constraint::Length(sync_w), Constraint::Min(0)]).areas(bottom);
    sync::draw(f, app, s);
    logs::pane(f, app, l);
}
