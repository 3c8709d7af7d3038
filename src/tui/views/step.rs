//! The current step: what the engine does or asks now, on which host; the liveness
//! wait's countdown and its cost; and the Start backup action, always shown, disabled
//! with what it waits for until the engine itself asks to start.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::engine::gate::LivenessVerdict;
use crate::engine::machine::Confirm;
use crate::tui::app::App;
use crate::tui::model::Model;

use super::clock;

/// What confirming a question will do, and where (the engine's steps, in words).
pub fn what_it_does(m: &Model, q: &Confirm) -> String {
    match q.action() {
        "stop the primary" => format!(
            "on {}: lock file, unit disabled and masked, validator stopped (SIGKILL if it lingers), verified stopped twice",
            m.run.primary
        ),
        "start the backup" => format!(
            "on {}: one more look at items 1-5 and the liveness gate, lock file removed, validator started and verified",
            m.run.backup
        ),
        other => format!("{other} (type {} to confirm)", q.expected()),
    }
}

/// The liveness wait, when the engine reports one.
pub fn liveness_lines<'a>(app: &App, v: &'a LivenessVerdict) -> Vec<Line<'a>> {
    let t = &app.theme;
    match v {
        LivenessVerdict::Waiting {
            why,
            quiet_epochs,
            required,
            earliest,
            missed_duties,
        } => {
            let countdown = match earliest {
                Some(e) => format!(
                    "opens in {} at the earliest",
                    clock((e - app.model.now).max(0.0))
                ),
                None => "no earliest time known yet".into(),
            };
            vec![
                Line::from(vec![
                    Span::styled("[~] Liveness wait: ", t.warn()),
                    Span::raw(format!(
                        "{quiet_epochs} of {required} quiet epochs; {countdown}"
                    )),
                ]),
                Line::from(vec![
                    Span::styled("    cost so far: ", t.warn()),
                    Span::raw(format!("{missed_duties} missed attester duties — {why}")),
                ]),
            ]
        }
        LivenessVerdict::Open { why } => vec![Line::from(vec![
            Span::styled("[✓] Liveness gate open: ", t.ok()),
            Span::raw(why.as_str()),
        ])],
        LivenessVerdict::Alarm { why } => vec![Line::from(vec![
            Span::styled("[✗] LIVENESS ALARM: ", t.danger()),
            Span::raw(why.as_str()),
        ])],
    }
}

pub fn start_line(app: &App) -> Line<'static> {
    let t = &app.theme;
    let m = &app.model;
    if m.start_enabled() {
        Line::from(vec![
            Span::styled("▶ [ Start backup ] ", t.enabled()),
            Span::raw(format!("ready: press s, type {} ", m.run.backup)),
        ])
    } else {
        Line::from(vec![
            Span::styled("  [ Start backup ] disabled", t.disabled()),
            Span::raw(format!(" — waits for: {}", m.start_waits_for().join("; "))),
        ])
    }
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let m = &app.model;
    let inner_h = area.height.saturating_sub(2) as usize;
    let mut lines: Vec<Line> = Vec::new();
    if let Some(q) = &m.question {
        lines.push(Line::from(vec![
            Span::styled("? Confirm: ", t.enabled()),
            Span::styled(q.action(), t.title()),
            Span::raw(format!(" — press Enter, type {}", q.expected())),
        ]));
        lines.push(Line::from(format!("  {}", what_it_does(m, q))));
    } else if let Some(o) = &m.ended {
        let style = if o == "completed" { t.ok() } else { t.bad() };
        lines.push(Line::from(vec![
            Span::styled("Run ended: ", style),
            Span::raw(o.as_str()),
        ]));
        let next = if o == "completed" {
            "next: n to write the incident notes (item 10), e to export the audit"
        } else {
            "next: read the red item and the log (l); r to roll back; e to export the audit"
        };
        lines.push(Line::from(next));
    } else if m.run.id.is_empty() {
        lines.push(Line::from("Starting: taking the run lock on both hosts…"));
    } else {
        let now = m.steps.last().unwrap_or("");
        lines.push(Line::from(vec![
            Span::styled("[~] Running: ", t.running()),
            Span::raw(now.get(9..).unwrap_or(now).to_string()),
        ]));
        if let Some((n, why)) = m.first_red() {
            lines.push(Line::from(vec![
                Span::styled(format!("[✗] item {n}: "), t.bad()),
                Span::raw(why.to_string()),
            ]));
        }
    }
    if let Some(v) = &m.liveness {
        lines.extend(liveness_lines(app, v));
    }
    // The Start action is always at the bottom, whatever else is cut.
    let block = Block::default().borders(Borders::ALL).title(" Step ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let start_h = if inner_h > 4 { 2 } else { 1 };
    let [top, bottom] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(start_h)]).areas(inner);
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), top);
    f.render_widget(
        Paragraph::new(start_line(app)).wrap(Wrap { trim: false }),
        bottom,
    );
}
