//! The rollback, notes and audit-export screens.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::engine::checklist::ItemState;
use crate::tui::app::{App, NOTE_FIELDS};
use crate::tui::theme::{SELECTED, UNSELECTED};

/// The rollback screen: before a rollback, what it will do, in order; once one has
/// begun, its own steps as the engine journals them (state, time, all evidence) and
/// what it undid of the checklist. The typed confirmation stays at the bottom.
pub fn rollback(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let m = &app.model;
    let (p, b) = (m.run.primary.as_str(), m.run.backup.as_str());
    let block = Block::default().borders(Borders::ALL).title(" Rollback ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = inner.width as usize;
    let plain = ratatui::style::Style::default();
    // The typed confirmation, at the bottom whatever the length of the name.
    let mut ask = vec![Line::from("")];
    let mut type_it = super::hanging(
        Vec::new(),
        0,
        &format!("Type the primary's name, {p}, and press Enter to roll back; Esc: back."),
        t.title(),
        width,
    );
    ask.append(&mut type_it);
    ask.push(Line::from(vec![
        Span::styled("> ", t.key()),
        Span::raw(app.rollback_input.clone()),
        Span::styled("_", t.key()),
    ]));
    let [top, bottom] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(ask.len() as u16)]).areas(inner);
    let mut lines: Vec<Line<'static>> = vec![Line::from(Span::styled(
        "Rollback: back to the primary, with the same gates in reverse",
        t.title(),
    ))];
    lines.push(Line::from(""));
    if m.rolling_back() {
        lines.push(Line::from(
            "The rollback, step by step (each journaled; ↑↓ PgUp PgDn scroll):",
        ));
        for (step, row) in m.rollback_steps() {
            let why = match &row.state {
                ItemState::Red(w) => format!(": {w}"),
                _ => String::new(),
            };
            lines.extend(super::hanging(
                vec![
                    Span::styled(format!("{} ", row.state.symbol()), t.item(&row.state)),
                    Span::raw(format!("{} ", step.label())),
                ],
                7,
                &format!("{}  {}{why}", step.title(), row.time),
                t.item(&row.state),
                width,
            ));
            for ev in &row.evidence {
                let on = ev
                    .host
                    .map(|h| format!("{}: ", m.host_name(h)))
                    .unwrap_or_default();
                lines.extend(super::hanging(
                    vec![Span::raw("       ")],
                    7,
                    &format!("{on}{}", ev.observed),
                    t.dim(),
                    width,
                ));
            }
        }
        let undone: Vec<String> = m
            .items
            .iter()
            .zip(crate::engine::ids::ItemId::ALL)
            .filter(|(r, _)| matches!(r.state, ItemState::Undone(_)))
            .map(|(_, n)| n.to_string())
            .collect();
        lines.push(Line::from(""));
        lines.extend(super::hanging(
            vec![Span::raw("What it undid: ")],
            15,
            &if undone.is_empty() {
                "nothing yet (an item is undone once the rollback has verified it)".to_string()
            } else {
                format!(
                    "items {} ([↶] on the checklist; 1-9/0 opens one)",
                    undone.join(", ")
                )
            },
            plain,
            width,
        ));
    } else {
        lines.push(Line::from(
            "What the engine will do, in order (each step journaled):",
        ));
        for (n, text) in [
            (
                " 1. ",
                format!(
                    "if the backup was unlocked or started: stop {b}'s validator and lock it again, verified twice; its slashing-protection history (now the newest) goes back to {p}"
                ),
            ),
            (
                " 2. ",
                format!("the reverse gate: {p}'s beacon and gzond synced"),
            ),
            (
                " 3. ",
                format!(
                    "unfence {p} (drop-in removed, unmasked, enabled, lock file removed), start its validator, verify"
                ),
            ),
        ] {
            lines.extend(super::hanging(vec![Span::raw(n)], 4, &text, plain, width));
        }
        lines.extend(super::hanging(
            vec![Span::raw(" ")],
            1,
            "If nothing was done to the primary yet, there is nothing to roll back: the run ends.",
            plain,
            width,
        ));
    }
    lines.push(Line::from(""));
    let (now, style) = if let Some(q) = &m.question {
        (
            format!(
                "The engine is waiting on \"{}\": the rollback answers it.",
                q.action()
            ),
            plain,
        )
    } else if m.ended.is_some() {
        (
            "The run has ended: a rollback starts the engine again on this run (its run lock taken again).".to_string(),
            t.warn(),
        )
    } else {
        (
            "A step is running: the rollback interrupts it at the engine's next wait or question."
                .to_string(),
            plain,
        )
    };
    lines.extend(super::hanging(Vec::new(), 0, &now, style, width));
    let max = super::scrolled(f, lines, app.scroll, Block::default(), top);
    app.scroll_max.set(max);
    f.render_widget(Paragraph::new(ask), bottom);
}

pub fn notes(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let [help, fields] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let saved = if app.model.notes.is_empty() {
        "none saved yet".to_string()
    } else {
        format!(
            "saved: {}",
            app.model
                .notes
                .keys()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("Incident notes ", t.title()),
            Span::raw(format!(
                "(item 10; {saved}{}) Tab: next field · Ctrl-S: save · Esc: back",
                if app.notes_queued {
                    "; waiting for the journal"
                } else {
                    ""
                }
            )),
        ])),
        help,
    );
    let n = NOTE_FIELDS.len() as u32;
    let areas = Layout::vertical((0..n).map(|_| Constraint::Ratio(1, n))).split(fields);
    for (i, (field, ta)) in NOTE_FIELDS.iter().zip(&app.notes).enumerate() {
        let title = field.title();
        let focused = i == app.note_focus;
        let mark = if focused { SELECTED } else { UNSELECTED };
        let style = if focused { t.selected() } else { t.dim() };
        let block = Block::default()
            .borders(Borders::ALL)
            .title(Span::styled(format!("{mark}{title} "), style));
        let inner = block.inner(areas[i]);
        f.render_widget(block, areas[i]);
        f.render_widget(ta, inner);
    }
}

pub fn export(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let m = &app.model;
    let mut lines = vec![
        Line::from(Span::styled("Export the run's audit", t.title())),
        Line::from(""),
        Line::from(format!(
            "run: {}",
            m.run.dir.as_deref().unwrap_or("(no journal yet)")
        )),
        Line::from(""),
        Line::from(vec![
            Span::styled("m", t.key()),
            Span::raw("  Markdown: the incident document, checklist ticked, times filled in"),
        ]),
        Line::from(vec![
            Span::styled("j", t.key()),
            Span::raw("  JSON: every entry, with the hash chain verified"),
        ]),
        Line::from(vec![Span::styled("Esc", t.key()), Span::raw(" back")]),
        Line::from(""),
    ];
    match &app.export_result {
        Some(Ok(path)) => lines.push(Line::from(vec![
            Span::styled("[✓] written: ", t.ok()),
            Span::raw(path.clone()),
        ])),
        Some(Err(why)) => lines.push(Line::from(vec![
            Span::styled("[✗] not written: ", t.bad()),
            Span::raw(why.clone()),
        ])),
        None => {}
    }
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Audit export "),
        ),
        area,
    );
}

/// The read-only preflight of both hosts: red and unknown first (with where it was
/// seen), then the warnings, then the green checks, as many as fit.
pub fn preflight(f: &mut Frame, app: &App, area: Rect) {
    use crate::engine::preflight::Verdict;
    let t = &app.theme;
    let m = &app.model;
    let mut lines = Vec::new();
    let Some(p) = &m.preflight else {
        lines.push(Line::from(Span::styled(
            "[~] looking at both hosts (read-only)…",
            t.running(),
        )));
        f.render_widget(
            Paragraph::new(lines)
                .block(Block::default().borders(Borders::ALL).title(" Preflight ")),
            area,
        );
        return;
    };
    let red = p.items.iter().filter(|i| i.verdict.fails()).count();
    let warned = p
        .items
        .iter()
        .filter(|i| i.verdict == crate::engine::preflight::Verdict::Warn)
        .count();
    let head = if red == 0 && warned == 0 {
        Span::styled(format!("[✓] all {} checks green", p.items.len()), t.ok())
    } else if red == 0 {
        Span::styled(
            format!(
                "[!] none of {} checks red, {warned} warning(s)",
                p.items.len()
            ),
            t.warn(),
        )
    } else {
        Span::styled(
            format!("[✗] {red} of {} checks red", p.items.len()),
            t.bad(),
        )
    };
    lines.push(Line::from(vec![
        head,
        Span::raw(format!(
            "  at {}{}",
            crate::engine::journal::rfc3339(p.at)
                .get(11..19)
                .unwrap_or(""),
            if m.preflight_running {
                "  (looking again…)"
            } else {
                ""
            }
        )),
    ]));
    lines.push(match &m.run.reason {
        Some(r) => Line::from(vec![
            Span::styled("[✓] ", t.ok()),
            Span::raw(format!("reason for the failover: {r}  (w: change)")),
        ]),
        None => Line::from(vec![
            Span::styled("[!] ", t.warn()),
            Span::raw("reason for the failover: not given; "),
            Span::styled("w", t.key()),
            Span::raw(": choose one of the runbook's four, or write it"),
        ]),
    });
    let mut items: Vec<&crate::engine::preflight::CheckItem> = p.items.iter().collect();
    items.sort_by_key(|i| std::cmp::Reverse(i.verdict));
    for i in items {
        let style = match i.verdict {
            Verdict::Green => t.ok(),
            Verdict::Warn => t.warn(),
            Verdict::Red | Verdict::Unknown => t.bad(),
        };
        let host = i
            .host
            .map(|h| m.host_name(h).to_string())
            .unwrap_or_else(|| "pair".into());
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", i.verdict.symbol()), style),
            Span::raw(format!("{host}: {}: {}", i.title, i.summary)),
        ]));
        if i.verdict.fails()
            && let Some(e) = i.evidence.first()
        {
            lines.push(Line::from(Span::styled(
                format!(
                    "      ↳ {} {} {}",
                    crate::engine::journal::rfc3339(e.at)
                        .get(11..19)
                        .unwrap_or(""),
                    m.host_name(e.host),
                    e.via
                ),
                t.dim(),
            )));
        }
    }
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Preflight (read-only; p or Esc: back) "),
        ),
        area,
    );
}
