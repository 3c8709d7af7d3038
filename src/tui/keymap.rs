//! The one table of keys. The status bar, the `?` help overlay and the README's key
//! list are all made from [`KEYS`]; nothing else decides what a key does.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks for. Whether it can be done now is the app's (and the engine's)
/// business: a key for a disabled action only says why it is disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Help,
    Quit,
    /// Answer the engine's pending question (opens the typed confirmation).
    Confirm,
    /// The Start backup action (enabled only when the engine asks to start).
    StartBackup,
    Rollback,
    /// The preflight screen (every read-only check, refreshed on opening).
    Preflight,
    /// On the preflight screen: why this failover (the runbook's four criteria).
    Reason,
    /// The typed statement that the primary is fenced out of band.
    FencedOutOfBand,
    /// The emergency stop-all: reachable from every screen, even while typing.
    StopAll,
    Notes,
    Export,
    /// A checklist item's screen: its state, all its evidence, its history (the key's
    /// digit says which: 1-9, and 0 for item 10).
    OpenItem,
    Logs,
    SwitchTail,
    ScrollUp,
    ScrollDown,
    PageUp,
    PageDown,
    Follow,
    Back,
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everywhere, also inside text fields.
    Global,
    /// The screens without a text field (wizard, logs, help, export).
    Screens,
}

pub struct Binding {
    pub keys: &'static [(KeyCode, KeyModifiers)],
    /// How the keys are written in the status bar, help and README.
    pub label: &'static str,
    pub action: Action,
    pub scope: Scope,
    /// The short word in the status bar (None: only in the help).
    pub bar: Option<&'static str>,
    pub help: &'static str,
}

const N: KeyModifiers = KeyModifiers::NONE;
const S: KeyModifiers = KeyModifiers::SHIFT;
const C: KeyModifiers = KeyModifiers::CONTROL;

/// The stop-all key: Ctrl-X, from every screen.
pub const STOP_ALL_LABEL: &str = "Ctrl-X";

pub const KEYS: &[Binding] = &[
    Binding {
        keys: &[(KeyCode::Enter, N)],
        label: "Enter",
        action: Action::Confirm,
        scope: Scope::Screens,
        bar: Some("confirm"),
        help: "answer the step's question: type the host's name to confirm (stop the primary, start the backup)",
    },
    Binding {
        keys: &[(KeyCode::Char('s'), N)],
        label: "s",
        action: Action::StartBackup,
        scope: Scope::Screens,
        bar: Some("start"),
        help: "Start backup: enabled only when every gate is green and the engine asks; then type the backup's name",
    },
    Binding {
        keys: &[(KeyCode::Char('r'), N)],
        label: "r",
        action: Action::Rollback,
        scope: Scope::Screens,
        bar: Some("rollback"),
        help: "the rollback screen: what will happen, in order; confirm by typing the primary's name (after the run ended too: the engine starts again on the same run)",
    },
    Binding {
        keys: &[(KeyCode::Char('f'), N)],
        label: "f",
        action: Action::FencedOutOfBand,
        scope: Scope::Screens,
        bar: None,
        help: "primary unreachable: state, typed, that it is fenced out of band (powered off at the provider); recorded in the audit",
    },
    Binding {
        keys: &[(KeyCode::Char('x'), C)],
        label: STOP_ALL_LABEL,
        action: Action::StopAll,
        scope: Scope::Global,
        bar: Some("STOP ALL"),
        help: "EMERGENCY stop-all (slashing detected or suspected): stop and fence both validators; asks y/N first",
    },
    Binding {
        keys: &[(KeyCode::Char('n'), N)],
        label: "n",
        action: Action::Notes,
        scope: Scope::Screens,
        bar: Some("notes"),
        help: "incident notes (time of failure, cause, issues met); Ctrl-S saves them into the journal at once",
    },
    Binding {
        keys: &[(KeyCode::Char('e'), N)],
        label: "e",
        action: Action::Export,
        scope: Scope::Screens,
        bar: Some("export"),
        help: "export the run's audit: m for Markdown, j for JSON; shows where it was written",
    },
    Binding {
        keys: &[(KeyCode::Char('p'), N)],
        label: "p",
        action: Action::Preflight,
        scope: Scope::Screens,
        bar: None,
        help: "the preflight: every read-only check of both hosts with its evidence, red first (looked at again on opening; p again or Esc: back)",
    },
    Binding {
        keys: &[(KeyCode::Char('w'), N)],
        label: "w",
        action: Action::Reason,
        scope: Scope::Screens,
        bar: None,
        help: "on the preflight screen: why this failover, one of the runbook's four reasons (1-4) or your own words; saved into the journal",
    },
    Binding {
        keys: &[
            (KeyCode::Char('1'), N),
            (KeyCode::Char('2'), N),
            (KeyCode::Char('3'), N),
            (KeyCode::Char('4'), N),
            (KeyCode::Char('5'), N),
            (KeyCode::Char('6'), N),
            (KeyCode::Char('7'), N),
            (KeyCode::Char('8'), N),
            (KeyCode::Char('9'), N),
            (KeyCode::Char('0'), N),
        ],
        label: "1-9/0",
        action: Action::OpenItem,
        scope: Scope::Screens,
        bar: Some("item"),
        help: "a checklist item's screen, 0 for item 10: its state, what makes it green, all its evidence (never cut) and its history; ↑/↓ PgUp/PgDn scroll it, another digit another item, Esc: back",
    },
    Binding {
        keys: &[(KeyCode::Char('l'), N)],
        label: "l",
        action: Action::Logs,
        scope: Scope::Screens,
        bar: Some("logs"),
        help: "the validator's journal on both hosts, full screen (l again or Esc: back)",
    },
    Binding {
        keys: &[(KeyCode::Tab, N)],
        label: "Tab",
        action: Action::SwitchTail,
        scope: Scope::Screens,
        bar: None,
        help: "switch the log pane between the primary and the backup (it follows the host that signs: the primary, the backup once started, the primary again after a rollback)",
    },
    Binding {
        keys: &[(KeyCode::Up, N), (KeyCode::Char('k'), N)],
        label: "↑/k",
        action: Action::ScrollUp,
        scope: Scope::Screens,
        bar: None,
        help: "scroll the log up (pauses follow); on an item's screen, the rollback screen or the help: scroll it",
    },
    Binding {
        keys: &[(KeyCode::Down, N), (KeyCode::Char('j'), N)],
        label: "↓/j",
        action: Action::ScrollDown,
        scope: Scope::Screens,
        bar: None,
        help: "scroll the log down (or the screen, as ↑)",
    },
    Binding {
        keys: &[(KeyCode::PageUp, N)],
        label: "PgUp",
        action: Action::PageUp,
        scope: Scope::Screens,
        bar: None,
        help: "scroll up a page (the log, or the screen, as ↑)",
    },
    Binding {
        keys: &[(KeyCode::PageDown, N)],
        label: "PgDn",
        action: Action::PageDown,
        scope: Scope::Screens,
        bar: None,
        help: "scroll down a page (the log, or the screen, as ↑)",
    },
    Binding {
        keys: &[
            (KeyCode::End, N),
            (KeyCode::Char('G'), S),
            (KeyCode::Char('G'), N),
        ],
        label: "End/G",
        action: Action::Follow,
        scope: Scope::Screens,
        bar: None,
        help: "follow the log again (newest line)",
    },
    Binding {
        keys: &[(KeyCode::Char('?'), N), (KeyCode::Char('?'), S)],
        label: "?",
        action: Action::Help,
        scope: Scope::Screens,
        bar: Some("help"),
        help: "this help (↑/↓ PgUp/PgDn scroll it when it is longer than the screen; any other key closes it)",
    },
    Binding {
        keys: &[(KeyCode::Esc, N)],
        label: "Esc",
        action: Action::Back,
        scope: Scope::Global,
        bar: None,
        help: "close a dialog or screen, back to the checklist (a question stays asked)",
    },
    Binding {
        keys: &[(KeyCode::Char('q'), N), (KeyCode::Char('c'), C)],
        label: "q/Ctrl-C",
        action: Action::Quit,
        scope: Scope::Screens,
        bar: Some("quit"),
        help: "quit (asks first while a step runs; the journal keeps the run)",
    },
];

/// The checklist item a digit key opens (`OpenItem`): 1-9, and 0 for item 10.
pub fn item_of(key: &KeyEvent) -> Option<crate::engine::ids::ItemId> {
    match key.code {
        KeyCode::Char('0') => Some(crate::engine::ids::ItemId::IncidentDocumented),
        KeyCode::Char(c @ '1'..='9') => crate::engine::ids::ItemId::from_number(c as u8 - b'0'),
        _ => None,
    }
}

/// The action of a key on a screen without a text field.
pub fn action_for(key: &KeyEvent) -> Option<Action> {
    lookup(key, false)
}

/// The action of a key while a text field has the focus: only the global ones.
pub fn global_action_for(key: &KeyEvent) -> Option<Action> {
    lookup(key, true)
}

fn lookup(key: &KeyEvent, typing: bool) -> Option<Action> {
    KEYS.iter()
        .filter(|b| !typing || b.scope == Scope::Global)
        .find(|b| {
            b.keys
                .iter()
                .any(|(code, m)| *code == key.code && key.modifiers == *m)
        })
        .map(|b| b.action)
}

/// The status bar's key list: `label word` pairs.
pub fn bar() -> Vec<(&'static str, &'static str)> {
    KEYS.iter()
        .filter_map(|b| b.bar.map(|w| (b.label, w)))
        .collect()
}

/// The key list as Markdown table rows (the README's is generated from this).
pub fn markdown() -> String {
    let mut s = String::from("| key | does |\n| --- | --- |\n");
    for b in KEYS {
        s.push_str(&format!("| `{}` | {} |\n", b.label, b.help));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(c, m)
    }

    #[test]
    fn every_action_has_a_key_and_no_key_two_actions() {
        let mut seen = Vec::new();
        for b in KEYS {
            for k in b.keys {
                assert!(!seen.contains(k), "{k:?} bound twice");
                seen.push(*k);
            }
        }
        assert_eq!(
            action_for(&key(KeyCode::Char('s'), N)),
            Some(Action::StartBackup)
        );
        assert_eq!(action_for(&key(KeyCode::Char('?'), S)), Some(Action::Help));
        for (c, n) in [('1', 1), ('7', 7), ('9', 9), ('0', 10)] {
            let k = key(KeyCode::Char(c), N);
            assert_eq!(action_for(&k), Some(Action::OpenItem));
            assert_eq!(item_of(&k).map(|i| i.number()), Some(n));
        }
        assert_eq!(item_of(&key(KeyCode::Char('x'), N)), None);
    }

    #[test]
    fn while_typing_only_stop_all_and_esc_are_keys() {
        assert_eq!(
            global_action_for(&key(KeyCode::Char('x'), C)),
            Some(Action::StopAll)
        );
        assert_eq!(global_action_for(&key(KeyCode::Esc, N)), Some(Action::Back));
        for c in ['s', 'q', 'r', 'n', 'e', 'l', '?', 'j', 'k', 'G'] {
            assert_eq!(global_action_for(&key(KeyCode::Char(c), N)), None, "{c}");
        }
        assert_eq!(global_action_for(&key(KeyCode::Enter, N)), None);
    }

    #[test]
    fn markdown_has_a_row_per_binding() {
        let md = markdown();
        println!("{md}");
        assert_eq!(md.lines().count(), KEYS.len() + 2);
    }

    #[test]
    fn the_readme_lists_every_key() {
        let readme = include_str!("../../README.md");
        for b in KEYS {
            assert!(
                readme.contains(&format!("| `{}` | {} |", b.label, b.help)),
                "README lacks the key {}",
                b.label
            );
        }
    }
}
