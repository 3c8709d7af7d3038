//! The validator's journal on both hosts (`journalctl -f`), followed and scrollable,
//! and the run's own log of commands, gates and confirmations.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::config::Role;
use crate::tui::app::App;
use crate::tui::logbuf::LogBuf;
use crate::tui::model::idx;
use crate::tui::theme::SELECTED;

/// `2026-11-29T17:00:01+0000 backup.demo qrysm-validator[1200]: msg` → `17:00:01 qrysm-validator[1200]: msg`.
pub fn shorten<'a>(line: &'a str, host: &str) -> std::borrow::Cow<'a, str> {
    let mut parts = line.splitn(3, ' ');
    let (Some(ts), Some(h), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return line.into();
    };
    if ts.len() >= 19 && ts.as_bytes().get(10) == Some(&b'T') {
        let hms = &ts[11..19];
        // The pane's title names the host and the unit: drop `name[pid]:`.
        let rest = match rest.split_once(' ') {
            Some((unit, msg)) if unit.ends_with("]:") => msg,
            _ => rest,
        };
        if h == host {
            return format!("{hms} {rest}").into();
        }
        return format!("{hms} {h} {rest}").into();
    }
    line.into()
}

fn tail_block(app: &App, role: Role, focused: bool, hint: bool) -> Block<'static> {
    let m = &app.model;
    let buf = &m.tails[idx(role)];
    let mut title = format!(
        "{}journal: {} {}",
        if focused { SELECTED } else { " " },
        m.host_name(role),
        if buf.is_following() {
            "(following)"
        } else {
            "(paused: End follows)"
        },
    );
    if buf.dropped() > 0 {
        title.push_str(&format!(" {} older dropped", buf.dropped()));
    }
    if hint {
        title.push_str(" · Tab: other host");
    }
    let style = if focused {
        app.theme.selected()
    } else {
        ratatui::style::Style::default()
    };
    Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(format!("{title} "), style))
}

fn tail_lines<'a>(app: &'a App, role: Role, buf: &'a LogBuf, h: usize) -> Vec<Line<'a>> {
    let m = &app.model;
    let mut lines: Vec<Line> = Vec::new();
    let down = m.tail_down[idx(role)].as_ref();
    let h = if down.is_some() {
        h.saturating_sub(1)
    } else {
        h
    };
    let host = m.host_name(role);
    for l in buf.view(h) {
        lines.push(Line::from(shorten(l, host).into_owned()));
    }
    if let Some(why) = down {
        lines.push(Line::from(Span::styled(
            format!("[✗] tail not running: {why}"),
            app.theme.bad(),
        )));
    } else if buf.is_empty() {
        lines.push(Line::from(Span::styled(
            "waiting for lines…",
            app.theme.dim(),
        )));
    }
    lines
}

fn tail(f: &mut Frame, app: &App, role: Role, focused: bool, hint: bool, area: Rect) {
    let block = tail_block(app, role, focused, hint);
    let h = area.height.saturating_sub(2) as usize;
    let buf = &app.model.tails[idx(role)];
    f.render_widget(
        Paragraph::new(tail_lines(app, role, buf, h)).block(block),
        area,
    );
}

/// Both hosts' journals in `a` and `b`, the focused one marked.
fn both(f: &mut Frame, app: &App, a: Rect, b: Rect) {
    for (role, area) in [(Role::Primary, a), (Role::Backup, b)] {
        tail(f, app, role, app.tail_focus == role, false, area);
    }
}

/// The wizard's log pane: both hosts side by side when there is room, else the
/// focused one (Tab switches).
pub fn pane(f: &mut Frame, app: &App, area: Rect) {
    if area.width >= 100 {
        let [a, b] = Layout::horizontal([Constraint::Percentage(50); 2]).areas(area);
        both(f, app, a, b);
    } else {
        tail(f, app, app.tail_focus, true, true, area);
    }
}

/// The logs screen: the run's steps above, both hosts' journals below.
pub fn full(f: &mut Frame, app: &App, area: Rect) {
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(area);
    let h = top.height.saturating_sub(2) as usize;
    let steps: Vec<Line> = app
        .model
        .steps
        .view(h)
        .map(|l| Line::from(l.to_string()))
        .collect();
    f.render_widget(
        Paragraph::new(steps).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" The run: commands, gates, confirmations "),
        ),
        top,
    );
    let [a, b] = if bottom.width >= 100 {
        Layout::horizontal([Constraint::Percentage(50); 2]).areas(bottom)
    } else {
        Layout::vertical([Constraint::Percentage(50); 2]).areas(bottom)
    };
    both(f, app, a, b);
}

#[cfg(test)]
mod tests {
    use super::shorten;

    #[test]
    fn journal_lines_lose_date_host_and_unit() {
        let l = "2026-11-29T17:00:01+0000 backup.demo qrysm-validator[1200]: level=info msg=x";
        assert_eq!(shorten(l, "backup.demo"), "17:00:01 level=info msg=x");
        assert_eq!(shorten(l, "other"), "17:00:01 backup.demo level=info msg=x");
        assert_eq!(shorten("-- No entries --", "b"), "-- No entries --");
    }
}
