//! The runbook's checklist: state symbol and colour, item in the runbook's words,
//! time, one line of evidence (or why it is red).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::engine::checklist::{ITEMS, ItemState};
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
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" Checklist (runbook) {green}/10 green "));
    f.render_widget(Paragraph::new(lines).block(block), area);
}
