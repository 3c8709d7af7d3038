//! Colours and symbols. Every state reads without colour too (`[✓] [✗] [!] [~] [↶] [ ]`),
//! and `NO_COLOR` turns colour off. crossterm clears `REVERSED` along with colours
//! under `NO_COLOR`, so a selection is marked with a symbol and bold, never reverse video.

use ratatui::style::{Color, Modifier, Style};

use crate::engine::checklist::ItemState;

/// The mark in front of a selected line (with bold).
pub const SELECTED: &str = "▶ ";
pub const UNSELECTED: &str = "  ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set to something non-empty (no-color.org).
    pub fn from_env() -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    pub const MONO: Theme = Theme { color: false };
    pub const COLOR: Theme = Theme { color: true };

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }
    pub fn bad(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }
    pub fn running(&self) -> Style {
        self.fg(Color::Cyan)
    }
    pub fn dim(&self) -> Style {
        if self.color {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default()
        }
    }
    pub fn title(&self) -> Style {
        self.fg(Color::White).add_modifier(Modifier::BOLD)
    }
    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    pub fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }
    /// An action that can be taken now.
    pub fn enabled(&self) -> Style {
        self.fg(Color::Green).add_modifier(Modifier::BOLD)
    }
    /// An action that cannot be taken yet.
    pub fn disabled(&self) -> Style {
        self.dim()
    }
    /// What a rollback undid: not green any more, and not a fault.
    pub fn undone(&self) -> Style {
        self.fg(Color::Magenta)
    }
    pub fn danger(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// The style of a checklist state (its symbol is `ItemState::symbol`).
    pub fn item(&self, s: &ItemState) -> Style {
        match s {
            ItemState::Pending => self.dim(),
            ItemState::Running => self.running(),
            ItemState::Green => self.ok(),
            ItemState::Red(_) => self.bad(),
            ItemState::Waived(_) => self.warn(),
            ItemState::Undone(_) => self.undone(),
        }
    }
}

/// The symbols, for a host or probe that answered or not.
pub const OK: &str = "[✓]";
pub const BAD: &str = "[✗]";
pub const WARN: &str = "[!]";
pub const BUSY: &str = "[~]";
pub const NONE: &str = "[ ]";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mono_has_no_colour_and_selection_is_bold() {
        let t = Theme::MONO;
        for s in [t.ok(), t.bad(), t.warn(), t.dim(), t.key(), t.enabled()] {
            assert_eq!(s.fg, None);
            assert_eq!(s.bg, None);
        }
        assert!(t.selected().add_modifier.contains(Modifier::BOLD));
        assert!(!t.selected().add_modifier.contains(Modifier::REVERSED));
        assert_eq!(Theme::COLOR.ok().fg, Some(Color::Green));
    }
}
