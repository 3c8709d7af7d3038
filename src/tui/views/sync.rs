//! Beacon and execution sync on both hosts, the chain's epoch and slot and the time
//! to the next epoch. A host that does not answer says so within seconds.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::config::Role;
use crate::tui::app::App;
use crate::tui::model::{Probed, idx};
use crate::tui::theme::{BAD, BUSY, OK, WARN};

/// A probe waiting this long is shown as not answering.
pub const SLOW: f64 = 5.0;

fn probed<'a>(app: &App, p: Option<&'a Probed>) -> (Span<'static>, &'a str) {
    let t = &app.theme;
    match p {
        None => (Span::styled(BUSY, t.running()), "asking…"),
        Some(Probed::Ok { ready: true, text }) => (Span::styled(OK, t.ok()), text),
        Some(Probed::Ok { ready: false, text }) => (Span::styled(WARN, t.warn()), text),
        Some(Probed::Failed(why)) => (Span::styled(BAD, t.bad()), why),
    }
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let m = &app.model;
    let inner_h = area.height.saturating_sub(2) as usize;
    let roomy = inner_h >= 7;
    let mut lines = Vec::new();
    for role in [Role::Primary, Role::Backup] {
        let s = &m.sync[idx(role)];
        let name = m.host_name(role).to_string();
        let waiting = s.asking_since.map(|a| m.now - a).filter(|w| *w >= SLOW);
        if let Some(w) = waiting {
            lines.push(Line::from(vec![
                Span::styled(BAD, t.bad()),
                Span::raw(format!(" {name}: no answer for {:.0}s", w)),
            ]));
            if roomy {
                lines.push(Line::from(""));
                lines.push(Line::from(""));
            }
            continue;
        }
        let (bs, bt) = probed(app, s.beacon.as_ref());
        let (es, et) = probed(app, s.execution.as_ref());
        if roomy {
            lines.push(Line::from(Span::styled(name, t.title())));
            lines.push(Line::from(vec![
                Span::raw(" beacon "),
                bs,
                Span::raw(format!(" {bt}")),
            ]));
            lines.push(Line::from(vec![
                Span::raw(" gzond  "),
                es,
                Span::raw(format!(" {et}")),
            ]));
        } else {
            let short: String = if name.chars().count() > 14 {
                name.chars().take(13).chain(['…']).collect()
            } else {
                name
            };
            lines.push(Line::from(vec![
                Span::raw(format!("{short:<14} ")),
                Span::raw("beacon"),
                bs,
                Span::raw(" gzond"),
                es,
            ]));
        }
    }
    let chain = match &m.chain {
        Some((c, _head, _)) => {
            let now = m.now;
            let slot = c.slot_at(now);
            format!(
                "epoch {} slot {} · next in {:.0}s",
                c.epoch_at(now),
                slot,
                c.seconds_to_next_epoch(now).ceil()
            )
        }
        None => "chain: asking…".into(),
    };
    lines.push(Line::from(Span::raw(chain)));
    let block = Block::default().borders(Borders::ALL).title(" Sync ");
    f.render_widget(Paragraph::new(lines).block(block), area);
}
