//! Modal dialogs (after gitui's confirm popup): the typed confirmation of the
//! engine's question, the emergency stop-all, quitting mid-step; and the help.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::tui::app::{App, Dialog};
use crate::tui::keymap::KEYS;

use super::step::what_it_does;

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn popup(f: &mut Frame, area: Rect, title: Span<'static>, lines: Vec<Line<'static>>) {
    let w = (area.width * 4 / 5).max(70).min(area.width);
    let p = Paragraph::new(lines).wrap(Wrap { trim: false });
    // The rows the wrapped text takes (ratatui's own count), and the border.
    let rows = p.line_count(w.saturating_sub(2)) as u16;
    let r = centered(area, w, rows + 2);
    f.render_widget(Clear, r);
    f.render_widget(
        p.block(Block::default().borders(Borders::ALL).title(title)),
        r,
    );
}

pub fn dialog(f: &mut Frame, app: &App, d: &Dialog, area: Rect) {
    let t = &app.theme;
    let m = &app.model;
    match d {
        Dialog::Confirm { question, input } => {
            let lines = vec![
                Line::from(what_it_does(m, question)),
                Line::from(""),
                Line::from(vec![
                    Span::raw("Type "),
                    Span::styled(question.expected().to_string(), t.title()),
                    Span::raw(" and press Enter to confirm; Esc: not now (the question stays)."),
                ]),
                Line::from(vec![
                    Span::styled("> ", t.key()),
                    Span::raw(input.clone()),
                    Span::styled("_", t.key()),
                ]),
            ];
            popup(
                f,
                area,
                Span::styled(format!(" Confirm: {} ", question.action()), t.danger()),
                lines,
            );
        }
        Dialog::Fenced { input } => {
            let lines = vec![
                Line::from(format!(
                    "Only if {} is fenced out of band: powered off at the provider, its validator unable to start.",
                    m.run.primary
                )),
                Line::from(
                    "The statement goes into the audit with your name; the engine still waits for the epoch after it.",
                ),
                Line::from(""),
                Line::from("Write how it is fenced, then Enter; Esc: cancel."),
                Line::from(vec![
                    Span::styled("> ", t.key()),
                    Span::raw(input.clone()),
                    Span::styled("_", t.key()),
                ]),
            ];
            popup(
                f,
                area,
                Span::styled(" Primary fenced out of band ", t.warn()),
                lines,
            );
        }
        Dialog::Reason { input } => {
            let mut lines = vec![Line::from("Why fail over now? The runbook's reasons:")];
            for (i, r) in crate::tui::app::RUNBOOK_REASONS.iter().enumerate() {
                lines.push(Line::from(vec![
                    Span::styled(format!("{} ", i + 1), t.key()),
                    Span::raw(r.to_string()),
                ]));
            }
            lines.push(Line::from(
                "1-4 to choose, or write your own words; Enter saves it into the journal; Esc: cancel.",
            ));
            lines.push(Line::from(vec![
                Span::styled("> ", t.key()),
                Span::raw(input.clone()),
                Span::styled("_", t.key()),
            ]));
            popup(
                f,
                area,
                Span::styled(" Reason for the failover ", t.title()),
                lines,
            );
        }
        Dialog::StopAll => {
            let lines = vec![
                Line::from(Span::styled(
                    "EMERGENCY STOP ALL (slashing detected or suspected)",
                    t.danger(),
                )),
                Line::from(format!(
                    "Stops and fences the validators on BOTH hosts ({} and {}), verifies, records.",
                    m.run.primary, m.run.backup
                )),
                Line::from("Nothing signs afterwards: duties are missed until a human decides."),
                Line::from(""),
                Line::from(vec![
                    Span::styled("y", t.danger()),
                    Span::raw(": stop all    any other key: cancel"),
                ]),
            ];
            popup(f, area, Span::styled(" STOP ALL ", t.danger()), lines);
        }
        Dialog::Quit => {
            let lines = vec![
                Line::from("A step is running. Quitting leaves the run where it stands:"),
                Line::from(format!(
                    "the journal stays in {}; the hosts keep their run locks.",
                    m.run.dir.as_deref().unwrap_or("the runs directory")
                )),
                Line::from(
                    "Started again with the same configuration, the wizard resumes the run.",
                ),
                Line::from(""),
                Line::from(vec![
                    Span::styled("y", t.key()),
                    Span::raw(": quit    any other key: stay"),
                ]),
            ];
            popup(f, area, Span::styled(" Quit? ", t.warn()), lines);
        }
    }
}

/// The width of the help's key column ("q/Ctrl-C" right-aligned, two spaces).
const KEY_COLUMN: usize = 11;

pub fn help(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let w = area.width.min(120);
    let width = w.saturating_sub(2) as usize;
    // Each key's words wrap under themselves (a hanging indent), never cut.
    let mut lines: Vec<Line<'static>> = Vec::new();
    for b in KEYS {
        lines.extend(super::hanging(
            vec![Span::styled(
                format!("{:>w$}  ", b.label, w = KEY_COLUMN - 2),
                t.key(),
            )],
            KEY_COLUMN,
            b.help,
            ratatui::style::Style::default(),
            width,
        ));
    }
    lines.extend(super::hanging(
        vec![Span::raw(format!("{:>w$}  ", "Symbols", w = KEY_COLUMN - 2))],
        KEY_COLUMN,
        "[✓] green  [✗] red  [!] waived/warning  [~] running  [↶] undone by a rollback  [ ] pending",
        ratatui::style::Style::default(),
        width,
    ));
    let fits = lines.len() + 2 <= area.height as usize;
    let title = if fits {
        " Keys (?) · Any key closes this help. "
    } else {
        " Keys (?) · ↑↓ PgUp PgDn: scroll · Any other key closes this help. "
    };
    let h = (lines.len() as u16 + 2).min(area.height);
    let r = centered(area, w, h);
    f.render_widget(Clear, r);
    let block = Block::default().borders(Borders::ALL).title(title);
    let max = super::scrolled(f, lines, app.help_scroll, block, r);
    app.help_scroll_max.set(max);
}
