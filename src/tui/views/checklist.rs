//! The runbook's checklist: state symbol and colour, item in the runbook's words,
//! time, one line of evidence (or why it is red, waived or undone). The line is cut
//! at the pane's edge: 1-9 and 0 open an item whole (`views::item`).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::engine::checklist::{ITEMS, ItemState};
use crate::engine::ids::ItemId;
use crate::tui::app::App;

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let m = &app.model;
    let lines: Vec<Line> = ITEMS
        .iter()
        .zip(&m.items)
        .map(|(spec, row)| {
            let note = match &row.state {
                ItemState::Red(why) => why.clone(),
                ItemState::Waived(why) => format!("waived: {why}"),
                ItemState::Undone(why) => format!("undone: {why}"),
                // Item 10: what the engine's judgement still waits for.
                ItemState::Pending if spec.number == ItemId::IncidentDocumented.number() => {
                    let missing = m.incident.verdict().missing;
                    let waits: Vec<&str> = missing.iter().map(|w| w.short()).collect();
                    let notes = missing.iter().any(|w| w.is_a_note());
                    match (waits.is_empty(), notes) {
                        (true, _) => String::new(),
                        (false, true) => format!("waits for {} (n: notes)", waits.join(", ")),
                        (false, false) => format!("waits for {}", waits.join(", ")),
                    }
                }
                _ => row.evidence.clone().unwrap_or_default(),
            };
            let style = t.item(&row.state);
            Line::from(vec![
                Span::styled(row.state.symbol(), style),
                Span::raw(format!(" {:>2} ", spec.number)),
                Span::styled(format!("{:<36}", spec.title), style),
                Span::styled(
                    format!(" {:>8} ", row.time.as_deref().unwrap_or("")),
                    t.dim(),
                ),
                Span::raw(note),
            ])
        })
        .collect();
    let green = m
        .items
        .iter()
        .filter(|r| r.state == ItemState::Green)
        .count();
    let undone = m
        .items
        .iter()
        .filter(|r| matches!(r.state, ItemState::Undone(_)))
        .count();
    let undone = if undone > 0 {
        format!(", {undone} undone")
    } else {
        String::new()
    };
    let block = Block::default().borders(Borders::ALL).title(format!(
        " Checklist (runbook) {green}/10 green{undone} · 1-9/0: an item whole "
    ));
    f.render_widget(Paragraph::new(lines).block(block), area);
}
