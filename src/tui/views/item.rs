//! One checklist item whole (keys 1-9, 0 for 10): its state and why, what makes it
//! green (the runbook's rule), every piece of its evidence with the time, the host
//! and the exact command or request, never cut, and each change of its state.
//! Scrollable: at 80×24 a long piece of evidence wraps under itself.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders};

use crate::engine::checklist::{ITEMS, ItemState};
use crate::engine::ids::ItemId;
use crate::engine::journal::rfc3339;
use crate::tui::app::App;

use super::hanging;

pub fn draw(f: &mut Frame, app: &App, n: ItemId, area: Rect) {
    let t = &app.theme;
    let m = &app.model;
    let row = &m.items[n.index()];
    let width = area.width.saturating_sub(2) as usize;
    let style = t.item(&row.state);
    let mut lines: Vec<Line<'static>> = Vec::new();
    let (word, why) = match &row.state {
        ItemState::Pending => ("pending", None),
        ItemState::Running => ("running", None),
        ItemState::Green => ("green", None),
        ItemState::Red(w) => ("red", Some(w.as_str())),
        ItemState::Waived(w) => ("waived", Some(w.as_str())),
        ItemState::Undone(w) => ("undone", Some(w.as_str())),
    };
    let since = row
        .time
        .as_deref()
        .map(|t| format!(" since {t}"))
        .unwrap_or_default();
    lines.push(Line::from(vec![
        Span::styled(format!("{} ", row.state.symbol()), style),
        Span::styled(format!("{n:>2} {}", n.title()), t.title()),
        Span::styled(format!("  {word}{since}"), style),
    ]));
    if let Some(why) = why {
        lines.extend(hanging(
            vec![Span::styled("    why: ", t.dim())],
            9,
            why,
            style,
            width,
        ));
    }
    if n == ItemId::IncidentDocumented && row.state != ItemState::Green {
        let missing = m.incident.verdict().missing;
        if !missing.is_empty() {
            let waits: Vec<String> = missing.iter().map(|w| w.to_string()).collect();
            lines.extend(hanging(
                vec![Span::styled("  waits: ", t.dim())],
                9,
                &waits.join("; "),
                t.warn(),
                width,
            ));
        }
    }
    lines.extend(hanging(
        vec![Span::styled("  green: ", t.dim())],
        9,
        &format!("only when {}", ITEMS[n.index()].green_when),
        ratatui::style::Style::default(),
        width,
    ));
    lines.push(Line::from(""));
    if row.all_evidence.is_empty() {
        lines.push(Line::from(Span::styled(
            "No evidence recorded for its state (yet).",
            t.dim(),
        )));
    } else {
        lines.push(Line::from(Span::styled(
            format!("Evidence ({}):", row.all_evidence.len()),
            t.title(),
        )));
    }
    for ev in &row.all_evidence {
        let host = ev
            .host
            .map(|h| m.host_name(h).to_string())
            .unwrap_or_else(|| "no host".into());
        let when = rfc3339(ev.at).get(11..19).unwrap_or("").to_string();
        lines.push(Line::from(vec![
            Span::styled(format!(" {when}Z "), t.dim()),
            Span::styled(host, t.title()),
        ]));
        lines.extend(hanging(
            vec![Span::styled("    seen: ", t.dim())],
            10,
            &ev.observed,
            style,
            width,
        ));
        lines.extend(hanging(
            vec![Span::styled("     via: ", t.dim())],
            10,
            &ev.via,
            t.dim(),
            width,
        ));
    }
    if !row.history.is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled("History:", t.title())));
        for (at, s) in &row.history {
            lines.extend(hanging(
                vec![
                    Span::styled(format!(" {at} "), t.dim()),
                    Span::styled(format!("{} ", s.symbol()), t.item(s)),
                ],
                14,
                &state_word(s),
                ratatui::style::Style::default(),
                width,
            ));
        }
    }
    let block = Block::default().borders(Borders::ALL).title(format!(
        " Item {n} of 10 · ↑↓ PgUp PgDn: scroll · 1-9/0: another · Esc: back "
    ));
    let max = super::scrolled(f, lines, app.scroll, block, area);
    app.scroll_max.set(max);
}

fn state_word(s: &ItemState) -> String {
    match s {
        ItemState::Pending => "pending".into(),
        ItemState::Running => "running".into(),
        ItemState::Green => "green".into(),
        ItemState::Red(w) => format!("red: {w}"),
        ItemState::Waived(w) => format!("waived: {w}"),
        ItemState::Undone(w) => format!("undone: {w}"),
    }
}
