//! The current step: what the engine does or asks now, on which host; the liveness
//! wait's countdown and its cost; and the Start backup action, always shown, disabled
//! with what it waits for until the engine itself asks to start.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::engine::journal::RunOutcome;
use crate::engine::machine::Confirm;
use crate::tui::app::App;
use crate::tui::model::Model;

/// What confirming a question will do, and where (the engine's steps, in words).
pub fn what_it_does(m: &Model, q: &Confirm) -> String {
    if let Confirm::UnverifiedPrimary {
        archive,
        age_epochs,
        wait_epochs,
        ..
    } = q
    {
        return format!(
            "{} cannot be reached: use the newest archive {archive} ({age_epochs} epoch(s) old) and wait {wait_epochs} quiet epochs on the chain before the backup may start",
            m.run.primary
        );
    }
    match q {
        Confirm::StopPrimary { .. } => format!(
            "on {}: lock file, unit disabled and masked, validator stopped (SIGKILL if it lingers), verified stopped twice",
            m.run.primary
        ),
        Confirm::StartBackup { .. } => format!(
            "on {}: one more look at items 1-5 and the liveness gate, lock file removed, validator started and verified",
            m.run.backup
        ),
        _ => format!("{} (type {} to confirm)", q.action(), q.expected()),
    }
}

/// The waits in short: item numbers and "liveness" (for a one-line Start action).
fn compact(waits: &[String]) -> String {
    waits
        .iter()
        .map(|w| {
            let n: String = w.chars().take_while(char::is_ascii_digit).collect();
            if !n.is_empty() && w[n.len()..].starts_with(". ") {
                format!("item {n}")
            } else if w.starts_with("liveness") || w.starts_with("the liveness") {
                "liveness gate".to_string()
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rollback's steps in one line, as journaled: `rollback: [✓] R1 [~] R2 [ ] R3 [ ] R4`.
fn rollback_line(app: &App) -> Option<Vec<Span<'static>>> {
    let t = &app.theme;
    let m = &app.model;
    if !m.rolling_back() {
        return None;
    }
    let mut spans = vec![Span::styled("rollback:", t.title())];
    for (step, row) in m.rollback_steps() {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(row.state.symbol(), t.item(&row.state)));
        spans.push(Span::raw(format!(" {}", step.label())));
    }
    spans.push(Span::raw(" (r: its steps)"));
    Some(spans)
}

pub fn start_line(app: &App, short: bool) -> Line<'static> {
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
            Span::raw(format!(
                " — waits for: {}",
                if short {
                    compact(&m.start_waits_for())
                } else {
                    m.start_waits_for().join("; ")
                }
            )),
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
        let style = if o.is_completed() { t.ok() } else { t.bad() };
        lines.push(Line::from(vec![
            Span::styled("Run ended: ", style),
            Span::raw(o.to_string()),
        ]));
        let next = match o {
            RunOutcome::Completed => {
                "next: n to write the incident notes (item 10), e to export the audit"
            }
            RunOutcome::RolledBack => {
                "the primary signs again, the backup is stopped and locked: n notes, e export"
            }
            RunOutcome::StoppedAll => {
                "both validators are stopped and fenced: nothing signs; n for the notes, e to export the audit"
            }
            RunOutcome::Blocked(_) => {
                "nothing was touched: put right what the gate says, then start again; e to export the audit"
            }
            RunOutcome::Failed(_) | RunOutcome::Written(_) => {
                "next: read the red item and the log (l); n for the notes; e to export the audit"
            }
        };
        match (o, rollback_line(app)) {
            (RunOutcome::RolledBack, Some(mut spans)) => {
                spans.push(Span::raw("; n notes, e export"));
                lines.push(Line::from(spans));
            }
            _ => lines.push(Line::from(next)),
        }
    } else if m.run.id.is_empty() {
        lines.push(Line::from("Starting: taking the run lock on both hosts…"));
    } else {
        let now = m.steps.last().unwrap_or("");
        lines.push(Line::from(vec![
            Span::styled("[~] Running: ", t.running()),
            Span::raw(now.get(9..).unwrap_or(now).to_string()),
        ]));
        if let Some(p) = &m.transfer {
            lines.push(Line::from(vec![
                Span::styled("[~] Moving: ", t.running()),
                Span::raw(p.line()),
            ]));
        }
        if let Some(spans) = rollback_line(app) {
            lines.push(Line::from(spans));
        }
        if let Some((n, why)) = m.first_red() {
            lines.push(Line::from(vec![
                Span::styled(format!("[✗] item {n}: "), t.bad()),
                Span::raw(why.to_string()),
            ]));
        }
    }
    if let Some(w) = m.liveness_wait() {
        lines.push(Line::from(vec![
            Span::styled("[~] Liveness wait: ", t.warn()),
            Span::raw(w.to_string()),
        ]));
        lines.push(Line::from(vec![
            Span::raw("    or "),
            Span::styled("f", t.key()),
            Span::raw(
                ": state that the primary is fenced out of band (powered off at the provider)",
            ),
        ]));
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
        Paragraph::new(start_line(app, start_h == 1)).wrap(Wrap { trim: false }),
        bottom,
    );
}
