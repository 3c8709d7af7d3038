//! Ansible inventories as teams write them: the INI and the YAML forms, groups of
//! groups (`[g:children]`, `children:`), host and group variables (`[g:vars]`,
//! `vars:`, on host lines, and `host_vars/` and `group_vars/` beside the inventory
//! file), read as Ansible reads them, so that the pair this program fails over is
//! the pair the team's playbooks reach.
//!
//! Ansible's rules followed here (ansible-core 2.19, `plugins/inventory/ini.py`,
//! `yaml.py`, `inventory/data.py`, `vars/host_group_vars.py`, `vars/manager.py`):
//!
//! - INI: a host line is split as Python's `shlex.split(line, comments=True)`; each
//!   `key=value` and each `[g:vars]` value is read as Python's `ast.literal_eval`
//!   reads it (`'quoted'` loses its quotes, `22` is a number, `yes` stays text), and
//!   kept as written when that fails. Groups named in `[g:children]` before their
//!   own section are linked when it comes; one never declared is an error.
//! - Host patterns: `host:port`, `[v6]:port`, and ranges (`web[01:03]`, `[a:c]`).
//! - Every group without a parent is a child of `all`; a host in no group is in
//!   `ungrouped`. A group's hosts are its own and its descendants'.
//! - Precedence, low to high: the inventory file's group variables (`all`, then
//!   each group by depth, `ansible_group_priority` and name: a child over its
//!   parent), then `group_vars/all`, then `group_vars/<group>` in the same order,
//!   then the file's host variables, then `host_vars/<host>`. A later definition of
//!   a variable replaces it whole (`hash_behaviour = replace`, the default).
//! - `group_vars/<name>` is the first of `<name>`, `<name>.yml`, `<name>.yaml`,
//!   `<name>.json` that exists; a directory's files (not hidden, not `~`, those
//!   extensions or none) are read in sorted order, recursively.
//!
//! Connection variables, as the ssh connection plugin takes them (where both
//! spellings are set, the `ansible_ssh_` one wins, as in Ansible):
//! `ansible_host`/`ansible_ssh_host`, `ansible_user`/`ansible_ssh_user`,
//! `ansible_port`/`ansible_ssh_port`,
//! `ansible_private_key_file`/`ansible_ssh_private_key_file`,
//! `ansible_ssh_common_args` and `ansible_ssh_extra_args` (split as Ansible splits
//! them, passed to ssh as the same words), `ansible_connection`.
//!
//! Not evaluated: Jinja2 templates (`{{ … }}`: refused in the variables used here,
//! naming them) and ansible-vault (an encrypted file is skipped and named; an
//! encrypted value used here is refused).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::{ConfigError, Role};

// ---------------------------------------------------------------------------
// Values

/// A variable's value as Ansible holds it once the inventory is read.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    /// A list, a mapping, or an integer past 64 bits: never one of the values used
    /// here (the name of what it is).
    Other(&'static str),
    /// An inline `!vault` value: encrypted, not readable here.
    Vault,
}

impl Value {
    /// How a person calls this kind of value.
    fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::Null => "empty (null)",
            Value::Other(k) => k,
            Value::Vault => "encrypted with ansible-vault",
        }
    }
}

/// A variable and where it was defined.
#[derive(Debug, Clone, PartialEq)]
pub struct Var {
    pub value: Value,
    pub file: PathBuf,
    pub line: Option<usize>,
}

type Vars = BTreeMap<String, Var>;

// ---------------------------------------------------------------------------
// Python's shlex.split and ast.literal_eval, as far as an inventory needs them

/// Python's `shlex.split(s, comments=comments)` (POSIX mode): quotes, backslashes,
/// and with `comments` a `#` outside quotes ends the line.
pub fn py_shlex_split(s: &str, comments: bool) -> Result<Vec<String>, &'static str> {
    #[derive(Clone, Copy, PartialEq)]
    enum St {
        Space,
        Word,
        Quote(char),
        Escape(Option<char>),
    }
    let mut out = Vec::new();
    let mut token = String::new();
    let mut quoted = false;
    let mut state = St::Space;
    let emit = |token: &mut String, quoted: &mut bool, out: &mut Vec<String>| {
        if !token.is_empty() || *quoted {
            out.push(std::mem::take(token));
        }
        *quoted = false;
    };
    let mut chars = s.chars();
    loop {
        let c = chars.next();
        match (state, c) {
            (St::Space | St::Word, None) => {
                emit(&mut token, &mut quoted, &mut out);
                return Ok(out);
            }
            (St::Quote(_), None) => return Err("No closing quotation"),
            (St::Escape(_), None) => return Err("No escaped character"),
            (St::Space | St::Word, Some(c)) if c == ' ' || c == '\t' || c == '\r' || c == '\n' => {
                emit(&mut token, &mut quoted, &mut out);
                state = St::Space;
            }
            (St::Space | St::Word, Some('#')) if comments => {
                emit(&mut token, &mut quoted, &mut out);
                // The rest of the line is a comment.
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                state = St::Space;
            }
            (St::Space | St::Word, Some(q @ ('\'' | '"'))) => {
                quoted = true;
                state = St::Quote(q);
            }
            (St::Space | St::Word, Some('\\')) => state = St::Escape(None),
            (St::Space | St::Word, Some(c)) => {
                token.push(c);
                state = St::Word;
            }
            (St::Quote(q), Some(c)) if c == q => state = St::Word,
            (St::Quote('"'), Some('\\')) => state = St::Escape(Some('"')),
            (St::Quote(_), Some(c)) => token.push(c),
            (St::Escape(inside), Some(c)) => {
                // In double quotes only the quote and the backslash are escaped.
                if inside.is_some() && c != '"' && c != '\\' {
                    token.push('\\');
                }
                token.push(c);
                state = match inside {
                    Some(q) => St::Quote(q),
                    None => St::Word,
                };
            }
        }
    }
}

/// Python's `ast.literal_eval` of an INI value, as Ansible's INI reader uses it:
/// the value it yields, or the text as written when Python would refuse it.
pub fn py_literal(src: &str) -> Value {
    let mut p = Lit {
        s: src.trim_start_matches([' ', '\t']).chars().collect(),
        i: 0,
    };
    match p.expr() {
        Some(v) => {
            p.ws();
            if p.peek() == Some('#') {
                // A Python comment after the literal.
                p.i = p.s.len();
            }
            if p.i == p.s.len() {
                return v;
            }
            Value::Str(src.to_string())
        }
        None => Value::Str(src.to_string()),
    }
}

struct Lit {
    s: Vec<char>,
    i: usize,
}

impl Lit {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }
    fn at(&self, k: usize) -> Option<char> {
        self.s.get(self.i + k).copied()
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\x0c')) {
            self.i += 1;
        }
    }

    fn expr(&mut self) -> Option<Value> {
        self.ws();
        let c = self.peek()?;
        if self.string_start().is_some() {
            return self.strings();
        }
        match c {
            '+' | '-' => {
                self.i += 1;
                self.ws();
                let neg = c == '-';
                match self.number()? {
                    Value::Int(n) if neg => Some(
                        n.checked_neg()
                            .map_or(Value::Other("an integer past 64 bits"), Value::Int),
                    ),
                    Value::Float(f) if neg => Some(Value::Float(-f)),
                    v @ (Value::Int(_) | Value::Float(_)) => Some(v),
                    _ => None,
                }
            }
            '0'..='9' => self.number(),
            '.' if self.at(1).is_some_and(|d| d.is_ascii_digit()) => self.number(),
            '.' if self.at(1) == Some('.') && self.at(2) == Some('.') => {
                self.i += 3;
                // literal_eval's Ellipsis, which Ansible turns back into text.
                Some(Value::Str("...".into()))
            }
            '(' => {
                // A parenthesised literal is the literal; anything else there (a
                // tuple) is a structure.
                let save = self.i;
                self.i += 1;
                if let Some(v) = self.expr() {
                    self.ws();
                    if self.peek() == Some(')') {
                        self.i += 1;
                        return Some(v);
                    }
                }
                self.i = save;
                self.structure('(', ')', "a tuple")
            }
            '[' => self.structure('[', ']', "a list"),
            '{' => self.structure('{', '}', "a mapping"),
            c if c.is_alphabetic() || c == '_' => {
                let start = self.i;
                while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    self.i += 1;
                }
                let word: String = self.s[start..self.i].iter().collect();
                match word.as_str() {
                    "True" => Some(Value::Bool(true)),
                    "False" => Some(Value::Bool(false)),
                    "None" => Some(Value::Null),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// A balanced bracketed structure (strings inside skipped): its kind.
    fn structure(&mut self, open: char, close: char, kind: &'static str) -> Option<Value> {
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            if self.string_start().is_some() {
                self.strings()?;
                continue;
            }
            self.i += 1;
            if c == open || matches!(c, '(' | '[' | '{') {
                depth += 1;
            } else if c == close || matches!(c, ')' | ']' | '}') {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(Value::Other(kind));
                }
            }
        }
        None
    }

    /// At a string literal: (prefix length, bytes?, raw?).
    fn string_start(&self) -> Option<(usize, bool, bool)> {
        let mut n = 0;
        let (mut bytes, mut raw, mut other) = (false, false, false);
        while let Some(c) = self.at(n) {
            match c.to_ascii_lowercase() {
                'r' if !raw => raw = true,
                'b' if !bytes => bytes = true,
                'u' | 'f' if !other => other = true,
                '\'' | '"' => {
                    let ok = match (bytes, raw, other) {
                        (_, _, false) => true,
                        // u'' alone; f-strings are not literals.
                        (false, false, true) => self.s[self.i..self.i + n]
                            .iter()
                            .all(|c| c.eq_ignore_ascii_case(&'u')),
                        _ => false,
                    };
                    return ok.then_some((n, bytes, raw));
                }
                _ => return None,
            }
            n += 1;
            if n > 2 {
                return None;
            }
        }
        None
    }

    /// One or more adjacent string literals (concatenated), all text or all bytes.
    fn strings(&mut self) -> Option<Value> {
        let mut out = String::new();
        let mut kind: Option<bool> = None;
        while let Some((n, bytes, raw)) = self.string_start() {
            if kind.is_some_and(|k| k != bytes) {
                return None;
            }
            kind = Some(bytes);
            self.i += n;
            out.push_str(&self.string_body(bytes, raw)?);
            self.ws();
        }
        Some(Value::Str(out))
    }

    fn string_body(&mut self, bytes: bool, raw: bool) -> Option<String> {
        let q = self.peek()?;
        let triple = self.at(1) == Some(q) && self.at(2) == Some(q);
        self.i += if triple { 3 } else { 1 };
        let mut out = String::new();
        let mut raw_bytes: Vec<u8> = Vec::new();
        let push = |out: &mut String, raw_bytes: &mut Vec<u8>, c: char| -> Option<()> {
            if bytes {
                if !c.is_ascii() {
                    return None;
                }
                raw_bytes.push(c as u8);
            } else {
                out.push(c);
            }
            Some(())
        };
        loop {
            let c = self.peek()?;
            if c == q && (!triple || (self.at(1) == Some(q) && self.at(2) == Some(q))) {
                self.i += if triple { 3 } else { 1 };
                break;
            }
            if (c == '\n' || c == '\r') && !triple {
                return None;
            }
            self.i += 1;
            if c != '\\' {
                push(&mut out, &mut raw_bytes, c)?;
                continue;
            }
            let e = self.peek()?;
            self.i += 1;
            if raw {
                // A raw string keeps the backslash (and the quote it protects).
                push(&mut out, &mut raw_bytes, '\\')?;
                push(&mut out, &mut raw_bytes, e)?;
                continue;
            }
            let simple = match e {
                '\\' => Some('\\'),
                '\'' => Some('\''),
                '"' => Some('"'),
                'a' => Some('\x07'),
                'b' => Some('\x08'),
                'f' => Some('\x0c'),
                'n' => Some('\n'),
                'r' => Some('\r'),
                't' => Some('\t'),
                'v' => Some('\x0b'),
                _ => None,
            };
            if let Some(s) = simple {
                push(&mut out, &mut raw_bytes, s)?;
                continue;
            }
            match e {
                '0'..='7' => {
                    let mut v = e.to_digit(8)?;
                    for _ in 0..2 {
                        match self.peek().and_then(|d| d.to_digit(8)) {
                            Some(d) => {
                                v = v * 8 + d;
                                self.i += 1;
                            }
                            None => break,
                        }
                    }
                    if bytes {
                        raw_bytes.push((v & 0xff) as u8);
                    } else {
                        out.push(char::from_u32(v)?);
                    }
                }
                'x' | 'u' | 'U' if e == 'x' || !bytes => {
                    let n = match e {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let mut v = 0u32;
                    for _ in 0..n {
                        v = v * 16 + self.peek()?.to_digit(16)?;
                        self.i += 1;
                    }
                    if bytes {
                        raw_bytes.push(v as u8);
                    } else {
                        out.push(char::from_u32(v)?);
                    }
                }
                // \N{NAME} would need Unicode's names: not taken as a literal here.
                'N' if !bytes => return None,
                other => {
                    // An unknown escape keeps its backslash (with a warning in Python).
                    push(&mut out, &mut raw_bytes, '\\')?;
                    push(&mut out, &mut raw_bytes, other)?;
                }
            }
        }
        if bytes {
            // Ansible turns bytes back into text (UTF-8, strict).
            return String::from_utf8(raw_bytes).ok();
        }
        Some(out)
    }

    /// A Python number: int (decimal, 0x, 0o, 0b, underscores) or float; an
    /// imaginary one is kept as written (Ansible turns it back into text).
    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        let digits = |l: &mut Lit, ok: &dyn Fn(char) -> bool| -> Option<String> {
            let mut s = String::new();
            let mut last_us = true;
            while let Some(c) = l.peek() {
                if ok(c) {
                    s.push(c);
                    last_us = false;
                } else if c == '_' && !last_us {
                    last_us = true;
                } else {
                    break;
                }
                l.i += 1;
            }
            (!s.is_empty() && !last_us).then_some(s)
        };
        let end_ok = |l: &Lit| !l.peek().is_some_and(|c| c.is_alphanumeric() || c == '_');
        if self.peek() == Some('0')
            && let Some(radix) = match self.at(1).map(|c| c.to_ascii_lowercase()) {
                Some('x') => Some(16),
                Some('o') => Some(8),
                Some('b') => Some(2),
                _ => None,
            }
        {
            self.i += 2;
            if self.peek() == Some('_') {
                self.i += 1;
            }
            let d = digits(self, &|c| c.is_digit(radix))?;
            if !end_ok(self) {
                return None;
            }
            return Some(
                i64::from_str_radix(&d, radix)
                    .map_or(Value::Other("an integer past 64 bits"), Value::Int),
            );
        }
        let int_part = if self.peek() == Some('.') {
            String::new()
        } else {
            digits(self, &|c| c.is_ascii_digit())?
        };
        let mut float = false;
        let mut text = int_part.clone();
        if self.peek() == Some('.') {
            float = true;
            self.i += 1;
            text.push('.');
            if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                text.push_str(&digits(self, &|c| c.is_ascii_digit())?);
            } else if int_part.is_empty() {
                return None;
            }
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let save = self.i;
            self.i += 1;
            let mut exp = String::from("e");
            if let Some(s @ ('+' | '-')) = self.peek() {
                exp.push(s);
                self.i += 1;
            }
            match digits(self, &|c| c.is_ascii_digit()) {
                Some(d) => {
                    float = true;
                    exp.push_str(&d);
                    text.push_str(&exp);
                }
                None => self.i = save,
            }
        }
        if matches!(self.peek(), Some('j' | 'J')) {
            self.i += 1;
            if !end_ok(self) {
                return None;
            }
            return Some(Value::Str(self.s[start..self.i].iter().collect()));
        }
        if !end_ok(self) {
            return None;
        }
        if float {
            return text.parse::<f64>().ok().map(Value::Float);
        }
        // Leading zeros are refused in a decimal int (but "0", "00" are zero).
        if int_part.len() > 1 && int_part.starts_with('0') && int_part.chars().any(|c| c != '0') {
            return None;
        }
        Some(
            int_part
                .parse::<i64>()
                .map_or(Value::Other("an integer past 64 bits"), Value::Int),
        )
    }
}

// ---------------------------------------------------------------------------
// Host patterns: `host:port`, `[v6]:port`, ranges

/// Ansible's `parse_address(pattern, allow_ranges=True)`: the host part and the
/// port, or None when the pattern is not a host Ansible recognises (it is then
/// taken whole, with no port).
fn parse_address(pattern: &str) -> Option<(String, Option<u16>)> {
    let mut address = pattern.to_string();
    let mut port: Option<String> = None;
    // [host]:port
    if let Some(rest) = address.strip_prefix('[')
        && let Some((inner, p)) = rest.rsplit_once("]:")
        && !inner.is_empty()
        && !p.is_empty()
        && p.chars().all(|c| c.is_ascii_digit())
    {
        port = Some(p.to_string());
        address = inner.to_string();
    }
    // host:port, where host has no ':' outside [ranges]
    if let Some((h, p)) = address.rsplit_once(':')
        && !p.is_empty()
        && p.chars().all(|c| c.is_ascii_digit())
        && hostport_head(h)
    {
        port = Some(p.to_string());
        address = h.to_string();
    }
    if !(is_ipv4(&address) || is_ipv6(&address) || is_hostname(&address)) {
        return None;
    }
    // Python's int() takes any number of digits; a port past 65535 fails later.
    let port = match port {
        Some(p) => Some(p.trim_start_matches('0').parse::<u16>().ok().or(
            if p.chars().all(|c| c == '0') {
                Some(0)
            } else {
                None
            },
        )?),
        None => None,
    };
    Some((address, port))
}

/// `(?:[^:\[\]]|\[[^\]]*\])*`
fn hostport_head(h: &str) -> bool {
    let mut in_range = false;
    for c in h.chars() {
        match (in_range, c) {
            (false, '[') => in_range = true,
            (false, ':' | ']') => return false,
            (true, ']') => in_range = false,
            _ => {}
        }
    }
    !in_range
}

/// A `[x:y(:z)]` range at the start of `s`: its length.
fn range_len(s: &str, ok: &dyn Fn(char) -> bool) -> Option<usize> {
    let rest = s.strip_prefix('[')?;
    let end = rest.find(']')?;
    let parts: Vec<&str> = rest[..end].split(':').collect();
    let good = match parts.as_slice() {
        [a, b] | [a, b, _] if !a.is_empty() && !b.is_empty() => {
            (a.chars().all(ok) && b.chars().all(ok))
                || (a.len() == 1
                    && b.len() == 1
                    && a.chars().all(|c| c.is_ascii_lowercase())
                    && b.chars().all(|c| c.is_ascii_lowercase()))
        }
        _ => false,
    } && parts
        .get(2)
        .is_none_or(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()));
    good.then_some(end + 2)
}

fn is_ipv4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            range_len(p, &|c| c.is_ascii_digit()) == Some(p.len())
                || (!p.is_empty()
                    && p.len() <= 3
                    && p.chars().all(|c| c.is_ascii_digit())
                    && p.parse::<u16>().is_ok_and(|n| n <= 255)
                    && (p.len() < 3 || p.starts_with(['0', '1', '2'])))
        })
}

fn is_ipv6(s: &str) -> bool {
    // The address with its ranges taken as one group each, then std's reader.
    let mut plain = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        if rest.starts_with('[') {
            let n = match range_len(rest, &|c| c.is_ascii_hexdigit()) {
                Some(n) => n,
                None => return false,
            };
            plain.push('0');
            rest = &rest[n..];
        } else {
            let c = rest.chars().next().expect("not empty");
            plain.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    plain.contains(':') && plain.parse::<std::net::Ipv6Addr>().is_ok()
}

/// A DNS-like name of labels, each starting with a word character (or a range),
/// then word characters, `-` or ranges, not ending in `-` or `_`.
fn is_hostname(s: &str) -> bool {
    fn label(l: &str) -> bool {
        let mut rest = l;
        let mut first = true;
        let mut last = ' ';
        while !rest.is_empty() {
            if rest.starts_with('[') {
                match range_len(rest, &|c| c.is_ascii_digit()) {
                    Some(n) => {
                        rest = &rest[n..];
                        last = ']';
                    }
                    None => return false,
                }
            } else {
                let c = rest.chars().next().expect("not empty");
                let word = c.is_alphanumeric() || c == '_';
                if !(word || (!first && c == '-')) {
                    return false;
                }
                last = c;
                rest = &rest[c.len_utf8()..];
            }
            first = false;
        }
        !l.is_empty() && last != '-' && last != '_'
    }
    !s.is_empty() && s.split('.').all(label)
}

/// Ansible's `expand_hostname_range`: every name a pattern with `[x:y(:z)]` stands for.
fn expand_ranges(pattern: &str) -> Result<Vec<String>, String> {
    let Some(open) = pattern.find('[') else {
        return Ok(vec![pattern.to_string()]);
    };
    let head = &pattern[..open];
    let after = &pattern[open + 1..];
    let Some(close) = after.find(']') else {
        return Err(format!("host range in {pattern:?} is not closed with `]`"));
    };
    let (range, tail) = (&after[..close], &after[close + 1..]);
    let bounds: Vec<&str> = range.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err(format!(
            "host range [{range}] in {pattern:?} must be begin:end or begin:end:step"
        ));
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err(format!("host range [{range}] in {pattern:?} has no end"));
    }
    let step: usize = match bounds.get(2) {
        Some(s) => s
            .parse()
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| format!("host range [{range}] in {pattern:?}: bad step {s:?}"))?,
        None => 1,
    };
    let width = (beg.len() > 1 && beg.starts_with('0')).then_some(beg.len());
    if width.is_some_and(|w| w != end.len()) {
        return Err(format!(
            "host range [{range}] in {pattern:?} must have begin and end of equal length"
        ));
    }
    let letters: Vec<char> = ('a'..='z').chain('A'..='Z').collect();
    let seq: Vec<String> = match (
        letters
            .iter()
            .position(|c| beg.len() == 1 && beg.starts_with(*c)),
        letters
            .iter()
            .position(|c| end.len() == 1 && end.starts_with(*c)),
    ) {
        (Some(b), Some(e)) => {
            if b > e {
                return Err(format!(
                    "host range [{range}] in {pattern:?} must have begin <= end"
                ));
            }
            letters[b..=e]
                .iter()
                .step_by(step)
                .map(|c| c.to_string())
                .collect()
        }
        _ => {
            let (b, e) = match (beg.parse::<u64>(), end.parse::<u64>()) {
                (Ok(b), Ok(e)) => (b, e),
                _ => {
                    return Err(format!(
                        "host range [{range}] in {pattern:?} is neither numeric nor one letter to one letter"
                    ));
                }
            };
            if e.saturating_sub(b) > 100_000 {
                return Err(format!("host range [{range}] in {pattern:?} is too large"));
            }
            (b..=e)
                .step_by(step)
                .map(|n| match width {
                    Some(w) => format!("{n:0w$}"),
                    None => n.to_string(),
                })
                .collect()
        }
    };
    let mut out = Vec::new();
    for s in seq {
        for rest in expand_ranges(tail)? {
            out.push(format!("{head}{s}{rest}"));
        }
    }
    Ok(out)
}

/// Ansible's `_expand_hostpattern`: the host names and the port of a pattern.
fn expand_hostpattern(pattern: &str) -> Result<(Vec<String>, Option<u16>), String> {
    let (host, port) = parse_address(pattern).unwrap_or_else(|| (pattern.to_string(), None));
    let names = if host.contains('[') {
        expand_ranges(&host)?
    } else {
        vec![host]
    };
    Ok((names, port))
}

// ---------------------------------------------------------------------------
// The inventory

/// Which form an inventory file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Ini,
    Yaml,
}

#[derive(Debug, Clone)]
struct Group {
    name: String,
    /// Where it was first declared.
    line: Option<usize>,
    /// `ansible_group_priority` (default 1): orders groups of one depth.
    priority: i64,
    vars: Vars,
    /// From `group_vars/`.
    dir_vars: Vars,
    /// ansible-vault files of `group_vars/` that could not be read.
    dir_skipped: Vec<PathBuf>,
    children: Vec<String>,
    parents: Vec<String>,
    /// The hosts listed in the group itself, with the line that listed each.
    hosts: Vec<(String, Option<usize>)>,
}

#[derive(Debug, Clone)]
struct HostEntry {
    name: String,
    vars: Vars,
    dir_vars: Vars,
    dir_skipped: Vec<PathBuf>,
}

/// An Ansible inventory, read as Ansible reads it.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub path: PathBuf,
    pub format: Format,
    groups: Vec<Group>,
    hosts: Vec<HostEntry>,
}

/// How a host of the pair is reached, from its variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The inventory hostname.
    pub name: String,
    /// `ansible_host`, else the inventory hostname.
    pub address: String,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_file: Option<PathBuf>,
    /// `ansible_ssh_common_args` then `ansible_ssh_extra_args`, word by word.
    pub ssh_args: Vec<String>,
    /// `ansible_become`, when set.
    pub become_: Option<bool>,
    /// `ansible_become_user`, when set.
    pub become_user: Option<String>,
    /// Variable files that apply to the host and were left unread (ansible-vault).
    pub skipped: Vec<PathBuf>,
}

fn cerr(file: &Path, line: Option<usize>, key: Option<&str>, message: String) -> ConfigError {
    ConfigError {
        file: file.to_path_buf(),
        line,
        key: key.map(str::to_string),
        message,
    }
}

impl Inventory {
    fn empty(path: &Path, format: Format) -> Inventory {
        let mut inv = Inventory {
            path: path.to_path_buf(),
            format,
            groups: Vec::new(),
            hosts: Vec::new(),
        };
        inv.add_group("all", None);
        inv.add_group("ungrouped", None);
        inv.add_child("all", "ungrouped", None)
            .expect("ungrouped under all");
        inv
    }

    /// Read an inventory file, its form told by its name as Ansible tells it
    /// (`.yml`, `.yaml`, `.json`: YAML; no extension: YAML when it reads as a YAML
    /// inventory, else INI; anything else: INI), with `group_vars/` and
    /// `host_vars/` beside it.
    pub fn load(path: &Path) -> Result<Inventory, ConfigError> {
        if path.is_dir() {
            return Err(cerr(
                path,
                None,
                None,
                "is a directory: give the inventory file itself".into(),
            ));
        }
        let bytes = std::fs::read(path)
            .map_err(|e| cerr(path, None, None, format!("cannot read the inventory: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| cerr(path, None, None, "the inventory is not UTF-8 text".into()))?;
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let mut inv = match ext {
            "yml" | "yaml" | "json" => Inventory::parse_yaml(&text, path)?,
            "" => match Inventory::parse_yaml(&text, path) {
                Ok(inv) => inv,
                Err(_) => Inventory::parse_ini(&text, path)?,
            },
            _ => Inventory::parse_ini(&text, path)?,
        };
        inv.load_vars_dirs()?;
        Ok(inv)
    }

    fn group_idx(&self, name: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.name == name)
    }

    fn host_idx(&self, name: &str) -> Option<usize> {
        self.hosts.iter().position(|h| h.name == name)
    }

    fn add_group(&mut self, name: &str, line: Option<usize>) -> usize {
        if let Some(i) = self.group_idx(name) {
            return i;
        }
        self.groups.push(Group {
            name: name.to_string(),
            line,
            priority: 1,
            vars: Vars::new(),
            dir_vars: Vars::new(),
            dir_skipped: Vec::new(),
            children: Vec::new(),
            parents: Vec::new(),
            hosts: Vec::new(),
        });
        self.groups.len() - 1
    }

    /// Ansible's `add_host`: the port applies only when the host is new.
    fn add_host(&mut self, name: &str, group: &str, port: Option<u16>, line: Option<usize>) {
        if self.host_idx(name).is_none() {
            let mut vars = Vars::new();
            if let Some(p) = port {
                vars.insert(
                    "ansible_port".into(),
                    Var {
                        value: Value::Int(p.into()),
                        file: self.path.clone(),
                        line,
                    },
                );
            }
            self.hosts.push(HostEntry {
                name: name.to_string(),
                vars,
                dir_vars: Vars::new(),
                dir_skipped: Vec::new(),
            });
        }
        let g = self.group_idx(group).expect("the group was added first");
        if !self.groups[g].hosts.iter().any(|(h, _)| h == name) {
            self.groups[g].hosts.push((name.to_string(), line));
        }
    }

    fn set_host_var(&mut self, host: &str, key: String, var: Var) {
        let h = self.host_idx(host).expect("the host was added first");
        self.hosts[h].vars.insert(key, var);
    }

    /// Ansible's `Group.set_variable`: `ansible_group_priority` is the group's
    /// priority (Python's `int()` of it), not a variable.
    fn set_group_var(&mut self, group: &str, key: String, var: Var) -> Result<(), ConfigError> {
        let g = self.group_idx(group).expect("the group was added first");
        if key == "ansible_group_priority" {
            let p = match &var.value {
                Value::Int(n) => Some(*n),
                Value::Bool(b) => Some(i64::from(*b)),
                Value::Float(f) if f.is_finite() => Some(f.trunc() as i64),
                Value::Str(s) => s.trim().replace('_', "").parse().ok(),
                _ => None,
            };
            let Some(p) = p else {
                return Err(cerr(
                    &var.file,
                    var.line,
                    Some(&key),
                    format!(
                        "group {group}: the priority must be an integer, not {}",
                        var.value.kind()
                    ),
                ));
            };
            self.groups[g].priority = p;
            return Ok(());
        }
        self.groups[g].vars.insert(key, var);
        Ok(())
    }

    fn is_descendant(&self, of: &str, name: &str) -> bool {
        let mut stack = vec![of.to_string()];
        let mut seen = Vec::new();
        while let Some(g) = stack.pop() {
            if g == name {
                return true;
            }
            if seen.contains(&g) {
                continue;
            }
            if let Some(i) = self.group_idx(&g) {
                stack.extend(self.groups[i].children.iter().cloned());
            }
            seen.push(g);
        }
        false
    }

    /// Make `child` a child group of `parent` (both exist); a loop is an error.
    fn add_child(
        &mut self,
        parent: &str,
        child: &str,
        line: Option<usize>,
    ) -> Result<(), ConfigError> {
        if self.is_descendant(child, parent) {
            return Err(cerr(
                &self.path,
                line,
                None,
                format!("adding group {child:?} as a child of {parent:?} makes a loop of groups"),
            ));
        }
        let p = self.group_idx(parent).expect("parent exists");
        if !self.groups[p].children.iter().any(|c| c == child) {
            self.groups[p].children.push(child.to_string());
        }
        let c = self.group_idx(child).expect("child exists");
        if !self.groups[c].parents.iter().any(|x| x == parent) {
            self.groups[c].parents.push(parent.to_string());
        }
        Ok(())
    }

    /// Ansible's `reconcile_inventory`: groups without a parent go under `all`,
    /// hosts in no group into `ungrouped` (and out of it when in another).
    fn reconcile(&mut self) -> Result<(), ConfigError> {
        let orphans: Vec<String> = self
            .groups
            .iter()
            .filter(|g| g.name != "all" && g.parents.is_empty())
            .map(|g| g.name.clone())
            .collect();
        for g in orphans {
            self.add_child("all", &g, None)?;
        }
        let names: Vec<String> = self.hosts.iter().map(|h| h.name.clone()).collect();
        for h in names {
            let direct: Vec<&str> = self
                .groups
                .iter()
                .filter(|g| g.hosts.iter().any(|(n, _)| *n == h))
                .map(|g| g.name.as_str())
                .collect();
            let elsewhere = direct.iter().any(|g| *g != "all" && *g != "ungrouped");
            let in_ungrouped = direct.contains(&"ungrouped");
            let u = self.group_idx("ungrouped").expect("ungrouped exists");
            if in_ungrouped && elsewhere {
                self.groups[u].hosts.retain(|(n, _)| *n != h);
            } else if !elsewhere && !in_ungrouped {
                self.groups[u].hosts.push((h, None));
            }
        }
        Ok(())
    }

    /// A group's depth: its longest path from `all`.
    fn depth(&self, name: &str) -> usize {
        fn go(inv: &Inventory, name: &str, guard: usize) -> usize {
            let Some(i) = inv.group_idx(name) else {
                return 0;
            };
            if guard > inv.groups.len() {
                return 0;
            }
            inv.groups[i]
                .parents
                .iter()
                .map(|p| go(inv, p, guard + 1) + 1)
                .max()
                .unwrap_or(0)
        }
        go(self, name, 0)
    }

    /// Every host of a group (its own, then its descendants'), each once, with the
    /// line that listed it and the group that listed it.
    fn members(&self, group: &str) -> Vec<(String, Option<usize>, String)> {
        let mut out: Vec<(String, Option<usize>, String)> = Vec::new();
        let mut order = vec![group.to_string()];
        let mut k = 0;
        while k < order.len() {
            if let Some(i) = self.group_idx(&order[k]) {
                for c in &self.groups[i].children {
                    if !order.contains(c) {
                        order.push(c.clone());
                    }
                }
            }
            k += 1;
        }
        for g in &order {
            let Some(i) = self.group_idx(g) else { continue };
            for (h, line) in &self.groups[i].hosts {
                if !out.iter().any(|(n, _, _)| n == h) {
                    out.push((h.clone(), *line, g.clone()));
                }
            }
        }
        out
    }

    /// The groups a host belongs to (with every ancestor), in Ansible's order of
    /// precedence, lowest first: depth, then `ansible_group_priority`, then name.
    fn groups_of(&self, host: &str) -> Vec<&Group> {
        let mut gs: Vec<&Group> = self
            .groups
            .iter()
            .filter(|g| self.members(&g.name).iter().any(|(h, _, _)| h == host))
            .collect();
        gs.sort_by(|a, b| {
            (self.depth(&a.name), a.priority, &a.name).cmp(&(
                self.depth(&b.name),
                b.priority,
                &b.name,
            ))
        });
        gs
    }

    /// The names of the hosts of a group, as Ansible lists them (its own and its
    /// descendants').
    pub fn group_hosts(&self, group: &str) -> Option<Vec<String>> {
        self.group_idx(group)?;
        Some(self.members(group).into_iter().map(|(h, _, _)| h).collect())
    }

    /// A host's variables, merged in Ansible's order of precedence; None: no such host.
    pub fn host_vars(&self, host: &str) -> Option<BTreeMap<String, Var>> {
        let h = &self.hosts[self.host_idx(host)?];
        let groups = self.groups_of(host);
        let mut out = Vars::new();
        for g in &groups {
            out.extend(g.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let all = &self.groups[self.group_idx("all").expect("all exists")];
        out.extend(all.dir_vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        for g in &groups {
            out.extend(g.dir_vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        out.extend(h.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        out.extend(h.dir_vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        Some(out)
    }

    /// The single host of the group named after the role (its own or its
    /// descendants'), and how it is reached.
    pub fn connection(&self, role: Role) -> Result<Connection, ConfigError> {
        let group = role.as_str();
        let Some(gi) = self.group_idx(group) else {
            return Err(cerr(
                &self.path,
                None,
                None,
                format!(
                    "no group named `{group}`: the {group} host is the one host of the `{group}` group (directly or through its children)"
                ),
            ));
        };
        let members = self.members(group);
        let line_of = |g: &Group| g.line;
        match members.as_slice() {
            [] => {
                return Err(cerr(
                    &self.path,
                    line_of(&self.groups[gi]),
                    None,
                    format!(
                        "the group `{group}` holds no host; a failover pair has exactly one {group}"
                    ),
                ));
            }
            [_] => {}
            [first, second, ..] => {
                let via = |g: &str| {
                    if g == group {
                        String::new()
                    } else {
                        format!(" through group `{g}`")
                    }
                };
                let at = |l: Option<usize>| l.map(|l| format!(" (line {l})")).unwrap_or_default();
                return Err(cerr(
                    &self.path,
                    second.1,
                    None,
                    format!(
                        "the group `{group}` holds {} hosts ({}{}{}, {}{}{}{}); a failover pair has exactly one {group}",
                        members.len(),
                        first.0,
                        at(first.1),
                        via(&first.2),
                        second.0,
                        at(second.1),
                        via(&second.2),
                        if members.len() > 2 { ", …" } else { "" }
                    ),
                ));
            }
        }
        let name = members[0].0.clone();
        let other = role.other().as_str();
        if self.members(other).iter().any(|(h, _, _)| *h == name) {
            return Err(cerr(
                &self.path,
                members[0].1,
                None,
                format!("the host {name} is in both `{group}` and `{other}`"),
            ));
        }
        let vars = self.host_vars(&name).expect("a member is a host");
        let mut skipped: Vec<PathBuf> = Vec::new();
        for g in self.groups_of(&name) {
            skipped.extend(g.dir_skipped.iter().cloned());
        }
        let h = &self.hosts[self.host_idx(&name).expect("host")];
        skipped.extend(h.dir_skipped.iter().cloned());
        skipped.sort();
        skipped.dedup();
        connection_of(&name, &vars, &self.path, skipped)
    }
}

// ---------------------------------------------------------------------------
// Variables to a connection

/// The first of these variables that is set (Ansible: the `ansible_ssh_` spelling
/// wins where both are).
fn pick<'a>(vars: &'a Vars, names: &[&'a str]) -> Option<(&'a str, &'a Var)> {
    names.iter().find_map(|n| {
        vars.get(*n)
            .filter(|v| v.value != Value::Null)
            .map(|v| (*n, v))
    })
}

/// Ansible's `boolean()` (strict): what `become` and the like accept.
pub fn ansible_boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Int(1) => Some(true),
        Value::Int(0) => Some(false),
        Value::Float(f) if *f == 1.0 => Some(true),
        Value::Float(f) if *f == 0.0 => Some(false),
        Value::Str(s) => match s.trim().to_lowercase().as_str() {
            "y" | "yes" | "on" | "1" | "true" | "t" => Some(true),
            "n" | "no" | "off" | "0" | "false" | "f" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A value as an error shows it.
fn shown(v: &Value) -> String {
    match v {
        Value::Str(s) => format!("{s:?}"),
        Value::Int(n) => n.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.kind().to_string(),
    }
}

fn var_err(host: &str, key: &str, v: &Var, message: String) -> ConfigError {
    cerr(
        &v.file,
        v.line,
        Some(key),
        format!("host {host}: {message}"),
    )
}

/// A variable used here as text: refused when it is another kind, encrypted, or a
/// Jinja2 template (not evaluated here).
fn text<'a>(host: &str, key: &str, v: &'a Var) -> Result<&'a str, ConfigError> {
    match &v.value {
        Value::Str(s) if s.contains("{{") || s.contains("{%") => Err(var_err(
            host,
            key,
            v,
            format!(
                "{s:?} is a Jinja2 template, which validator-failover does not evaluate: give the value itself"
            ),
        )),
        Value::Str(s) => Ok(s),
        other => Err(var_err(
            host,
            key,
            v,
            format!("must be a string, but is {}", other.kind()),
        )),
    }
}

/// ssh options an inventory may pass: those that say how to reach the host, not
/// those that would change the connection this program multiplexes.
const SSH_FLAGS: &str = "46AaCqv";
const SSH_FLAGS_WITH_VALUE: &str = "cFiJlmop";

/// Check that `args` are ssh options this program can pass before the destination.
fn check_ssh_args(args: &[String]) -> Result<(), String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(flags) = a
            .strip_prefix('-')
            .filter(|f| !f.is_empty() && !f.starts_with('-'))
        else {
            return Err(format!(
                "{a:?} is not an ssh option (every word must be an option or an option's value)"
            ));
        };
        for (k, c) in flags.char_indices() {
            if SSH_FLAGS.contains(c) {
                continue;
            }
            if SSH_FLAGS_WITH_VALUE.contains(c) {
                // The value is the rest of this word, or the next word.
                if k + c.len_utf8() == flags.len() && it.next().is_none() {
                    return Err(format!("`-{c}` needs a value"));
                }
                break;
            }
            return Err(format!(
                "`-{c}` (in {a:?}) is not passed to ssh here: it would change the connection validator-failover multiplexes (allowed: -o, -J, -i, -F, -p, -l, -c, -m, -4, -6, -A, -a, -C, -q, -v)"
            ));
        }
    }
    Ok(())
}

fn connection_of(
    name: &str,
    vars: &Vars,
    inventory: &Path,
    skipped: Vec<PathBuf>,
) -> Result<Connection, ConfigError> {
    if let Some((k, v)) = pick(vars, &["ansible_connection"]) {
        let c = text(name, k, v)?;
        if !matches!(
            c,
            "ssh" | "smart" | "paramiko" | "paramiko_ssh" | "ansible.builtin.ssh"
        ) {
            return Err(var_err(
                name,
                k,
                v,
                format!(
                    "connection {c:?} is not SSH: validator-failover reaches hosts with OpenSSH only"
                ),
            ));
        }
    }
    let address = match pick(vars, &["ansible_ssh_host", "ansible_host"]) {
        Some((k, v)) => {
            let a = text(name, k, v)?;
            let spec = crate::config::parse_destination(Role::Primary, a)
                .map_err(|m| var_err(name, k, v, m))?;
            if spec.user.is_some() || spec.port.is_some() || a.starts_with("ssh://") {
                return Err(var_err(
                    name,
                    k,
                    v,
                    format!(
                        "{a:?} must be a host name or address only; give the user in ansible_user and the port in ansible_port"
                    ),
                ));
            }
            spec.destination
        }
        None => {
            let spec = crate::config::parse_destination(Role::Primary, name).map_err(|m| {
                cerr(
                    inventory,
                    None,
                    None,
                    format!("host {name}: {m}; set ansible_host"),
                )
            })?;
            if spec.user.is_some() {
                return Err(cerr(
                    inventory,
                    None,
                    None,
                    format!("host {name}: not a host name; set ansible_host"),
                ));
            }
            spec.destination
        }
    };
    let user = match pick(vars, &["ansible_ssh_user", "ansible_user"]) {
        Some((k, v)) => {
            let u = text(name, k, v)?;
            if !crate::config::is_user_name(u) {
                return Err(var_err(name, k, v, format!("{u:?} is not a user name")));
            }
            Some(u.to_string())
        }
        None => None,
    };
    let port = match pick(vars, &["ansible_ssh_port", "ansible_port"]) {
        Some((k, v)) => {
            let p = match &v.value {
                Value::Int(n) => u16::try_from(*n).ok(),
                Value::Str(s) => s.trim().parse::<u16>().ok(),
                _ => None,
            };
            match p.filter(|p| *p > 0) {
                Some(p) => Some(p),
                None => {
                    return Err(var_err(
                        name,
                        k,
                        v,
                        format!("{} is not a TCP port", shown(&v.value)),
                    ));
                }
            }
        }
        None => None,
    };
    let identity_file = match pick(
        vars,
        &["ansible_ssh_private_key_file", "ansible_private_key_file"],
    ) {
        Some((k, v)) => {
            let f = text(name, k, v)?;
            // As the ssh connection plugin: `~` expanded, a relative path from the
            // current directory.
            let path = match f.strip_prefix("~/") {
                Some(rest) => match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
                    Some(h) => PathBuf::from(h).join(rest),
                    None => {
                        return Err(var_err(
                            name,
                            k,
                            v,
                            format!("{f:?} starts with ~/ but $HOME is not set"),
                        ));
                    }
                },
                None => PathBuf::from(f),
            };
            if !path.is_file() {
                return Err(var_err(
                    name,
                    k,
                    v,
                    format!(
                        "{} does not exist or is not a file{}",
                        path.display(),
                        if path.is_relative() {
                            " (a relative path is read from the current directory, as Ansible does)"
                        } else {
                            ""
                        }
                    ),
                ));
            }
            Some(path)
        }
        None => None,
    };
    let mut ssh_args = Vec::new();
    for key in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        let Some((k, v)) = pick(vars, &[key]) else {
            continue;
        };
        let s = text(name, k, v)?;
        // As the ssh plugin's _split_ssh_args: shlex.split, each word stripped.
        let words =
            py_shlex_split(s, false).map_err(|e| var_err(name, k, v, format!("{s:?}: {e}")))?;
        let words: Vec<String> = words
            .into_iter()
            .map(|w| w.trim().to_string())
            .filter(|w| !w.is_empty())
            .collect();
        check_ssh_args(&words).map_err(|m| var_err(name, k, v, m))?;
        ssh_args.extend(words);
    }
    let become_ = match pick(vars, &["ansible_become"]) {
        Some((k, v)) => Some(ansible_boolean(&v.value).ok_or_else(|| {
            var_err(
                name,
                k,
                v,
                format!(
                    "{} is not a boolean Ansible reads (yes/no, true/false, on/off, 1/0)",
                    shown(&v.value)
                ),
            )
        })?),
        None => None,
    };
    let become_user = match pick(vars, &["ansible_become_user"]) {
        Some((k, v)) => {
            let u = text(name, k, v)?;
            if !crate::config::is_user_name(u) {
                return Err(var_err(name, k, v, format!("{u:?} is not a user name")));
            }
            Some(u.to_string())
        }
        None => None,
    };
    if become_ == Some(true)
        && let Some((k, v)) = pick(vars, &["ansible_become_method"])
    {
        let m = text(name, k, v)?;
        if m != "sudo" && m != "ansible.builtin.sudo" {
            return Err(var_err(
                name,
                k,
                v,
                format!("become method {m:?}: validator-failover becomes with sudo only"),
            ));
        }
    }
    Ok(Connection {
        name: name.to_string(),
        address,
        user,
        port,
        identity_file,
        ssh_args,
        become_,
        become_user,
        skipped,
    })
}

// ---------------------------------------------------------------------------
// INI

/// `[name]` or `[name:kind]` with an optional comment after it.
fn ini_section(line: &str) -> Option<(&str, Option<&str>)> {
    let rest = line.strip_prefix('[')?;
    let close = rest.find(']')?;
    let inside = &rest[..close];
    let after = rest[close + 1..].trim_start();
    if !(after.is_empty() || after.starts_with('#')) {
        return None;
    }
    let (name, kind) = match inside.split_once(':') {
        Some((n, k)) => (n, Some(k)),
        None => (inside, None),
    };
    let name_ok = !name.is_empty()
        && !name
            .chars()
            .any(|c| c == ':' || c == ']' || c.is_whitespace());
    let kind_ok =
        kind.is_none_or(|k| !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_'));
    (name_ok && kind_ok).then_some((name, kind))
}

enum Pending {
    Vars { line: usize },
    Children { line: usize, parents: Vec<String> },
}

impl Inventory {
    /// An INI inventory, as Ansible's `ini` plugin reads it.
    pub fn parse_ini(text: &str, path: &Path) -> Result<Inventory, ConfigError> {
        let mut inv = Inventory::empty(path, Format::Ini);
        let err = |line: usize, message: String| cerr(path, Some(line), None, message);
        let mut pending: Vec<(String, Pending)> = Vec::new();
        let mut group = "ungrouped".to_string();
        let mut state = "hosts".to_string();
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some((name, kind)) = ini_section(line) {
                let kind = kind.unwrap_or("hosts");
                if !matches!(kind, "hosts" | "children" | "vars") {
                    return Err(err(
                        n,
                        format!("section [{name}:{kind}] has an unknown type {kind:?}"),
                    ));
                }
                group = name.to_string();
                state = kind.to_string();
                if inv.group_idx(name).is_none() {
                    if kind == "vars" && !pending.iter().any(|(g, _)| g == name) {
                        pending.push((name.to_string(), Pending::Vars { line: n }));
                    }
                    inv.add_group(name, Some(n));
                }
                if kind != "vars"
                    && let Some(k) = pending.iter().position(|(g, _)| g == name)
                {
                    match &pending[k].1 {
                        Pending::Children { .. } => inv.add_pending_children(name, &mut pending)?,
                        Pending::Vars { .. } => {
                            pending.remove(k);
                        }
                    }
                }
                continue;
            }
            if line.starts_with('[') && line.ends_with(']') {
                return Err(err(
                    n,
                    format!(
                        "invalid section {line:?}: no spaces or other characters are allowed in a section name"
                    ),
                ));
            }
            match state.as_str() {
                "hosts" => {
                    let tokens = py_shlex_split(line, true)
                        .map_err(|e| err(n, format!("cannot read the host line {line:?}: {e}")))?;
                    let Some(pattern) = tokens.first() else {
                        continue;
                    };
                    let (names, port) = expand_hostpattern(pattern).map_err(|e| err(n, e))?;
                    if pattern.trim().ends_with(':') && port.is_none() {
                        return Err(err(
                            n,
                            format!(
                                "host pattern {pattern:?} ends in `:`, which is kept for a port"
                            ),
                        ));
                    }
                    if names.iter().any(|h| h.trim() == "---") {
                        return Err(err(
                            n,
                            "`---` is a sign of a YAML file, not an INI inventory".into(),
                        ));
                    }
                    let mut vars = Vec::new();
                    for t in &tokens[1..] {
                        let (k, v) = t.split_once('=').ok_or_else(|| {
                            err(
                                n,
                                format!("expected key=value after the host name, got {t:?}"),
                            )
                        })?;
                        vars.push((k.to_string(), py_literal(v)));
                    }
                    for h in &names {
                        if h.is_empty() {
                            return Err(err(n, "empty host name".into()));
                        }
                        inv.add_host(h, &group, port, Some(n));
                        for (k, v) in &vars {
                            inv.set_host_var(
                                h,
                                k.clone(),
                                Var {
                                    value: v.clone(),
                                    file: path.to_path_buf(),
                                    line: Some(n),
                                },
                            );
                        }
                    }
                }
                "vars" => {
                    let (k, v) = line
                        .split_once('=')
                        .ok_or_else(|| err(n, format!("expected key=value, got {line:?}")))?;
                    inv.set_group_var(
                        &group,
                        k.trim().to_string(),
                        Var {
                            value: py_literal(v.trim()),
                            file: path.to_path_buf(),
                            line: Some(n),
                        },
                    )?;
                }
                _ => {
                    // children
                    let child = line.split('#').next().unwrap_or("").trim_end();
                    if child.is_empty()
                        || child
                            .chars()
                            .any(|c| c == ':' || c == ']' || c.is_whitespace())
                    {
                        return Err(err(n, format!("expected a group name, got {line:?}")));
                    }
                    if inv.group_idx(child).is_some() {
                        inv.add_child(&group, child, Some(n))?;
                    } else {
                        match pending.iter_mut().find(|(g, _)| g == child) {
                            Some((_, Pending::Children { parents, .. })) => {
                                parents.push(group.clone())
                            }
                            Some((_, p @ Pending::Vars { .. })) => {
                                *p = Pending::Children {
                                    line: n,
                                    parents: vec![group.clone()],
                                }
                            }
                            None => pending.push((
                                child.to_string(),
                                Pending::Children {
                                    line: n,
                                    parents: vec![group.clone()],
                                },
                            )),
                        }
                    }
                }
            }
        }
        if let Some((g, p)) = pending.first() {
            return Err(match p {
                Pending::Vars { line } => err(
                    *line,
                    format!("section [{g}:vars] is for a group {g:?} that is never declared"),
                ),
                Pending::Children { line, parents } => err(
                    *line,
                    format!(
                        "section [{}:children] names a group {g:?} that is never declared",
                        parents.last().map(String::as_str).unwrap_or("?")
                    ),
                ),
            });
        }
        inv.reconcile()?;
        Ok(inv)
    }

    fn add_pending_children(
        &mut self,
        group: &str,
        pending: &mut Vec<(String, Pending)>,
    ) -> Result<(), ConfigError> {
        let Some(k) = pending.iter().position(|(g, _)| g == group) else {
            return Ok(());
        };
        let (_, p) = pending.remove(k);
        if let Pending::Children { line, parents } = p {
            for parent in parents {
                self.add_child(&parent, group, Some(line))?;
                if pending
                    .iter()
                    .any(|(g, p)| *g == parent && matches!(p, Pending::Children { .. }))
                {
                    self.add_pending_children(&parent, pending)?;
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// YAML

use saphyr::{MarkedYaml, ScalarStyle, Tag, YamlData};

/// Load YAML documents as Ansible's loader does (duplicate keys: the last wins),
/// scalars left as written: [`scalar_value`] reads them as PyYAML does.
fn load_yaml<'a>(text: &'a str, path: &Path) -> Result<Vec<MarkedYaml<'a>>, ConfigError> {
    let mut parser = saphyr_parser::Parser::new_from_str(text);
    let mut loader: saphyr::YamlLoader<'a, MarkedYaml<'a>> = saphyr::YamlLoader::default();
    loader.allow_duplicate_keys(true);
    loader.early_parse(false);
    let scan = |e: &saphyr::ScanError| {
        cerr(
            path,
            Some(e.marker().line()),
            None,
            format!("not valid YAML: {}", e.info()),
        )
    };
    parser.load(&mut loader, true).map_err(|e| scan(&e))?;
    if let Some(e) = loader.error() {
        return Err(scan(e));
    }
    Ok(loader.into_documents())
}

fn yaml_line(n: &MarkedYaml<'_>) -> Option<usize> {
    Some(n.span.start.line()).filter(|l| *l > 0)
}

/// PyYAML's implicit resolvers (YAML 1.1, as Ansible reads YAML): `yes` and `off`
/// are booleans, `022` is octal, `1:30` is sexagesimal, `1e5` is text.
mod pyyaml {
    use std::sync::LazyLock;

    use regex::Regex;

    pub static BOOL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
        )
        .expect("regex")
    });
    pub static FLOAT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?x)^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
                |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
                |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
                |[-+]?\.(?:inf|Inf|INF)
                |\.(?:nan|NaN|NAN))$",
        )
        .expect("regex")
    });
    pub static INT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?x)^(?:[-+]?0b[0-1_]+
                |[-+]?0[0-7_]+
                |[-+]?(?:0|[1-9][0-9_]*)
                |[-+]?0x[0-9a-fA-F_]+
                |[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
        )
        .expect("regex")
    });
    pub static NULL: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(?:~|null|Null|NULL|)$").expect("regex"));

    /// PyYAML's `construct_yaml_int`.
    pub fn int(s: &str) -> Option<i128> {
        let v = s.replace('_', "");
        let (sign, v) = match v.strip_prefix('-') {
            Some(r) => (-1i128, r.to_string()),
            None => (1, v.strip_prefix('+').unwrap_or(&v).to_string()),
        };
        let n = if v == "0" {
            0
        } else if let Some(b) = v.strip_prefix("0b") {
            i128::from_str_radix(b, 2).ok()?
        } else if let Some(h) = v.strip_prefix("0x") {
            i128::from_str_radix(h, 16).ok()?
        } else if v.starts_with('0') {
            i128::from_str_radix(&v, 8).ok()?
        } else if v.contains(':') {
            v.split(':').try_fold(0i128, |acc, d| {
                acc.checked_mul(60)?.checked_add(d.parse::<i128>().ok()?)
            })?
        } else {
            v.parse().ok()?
        };
        n.checked_mul(sign)
    }

    /// PyYAML's `construct_yaml_float`.
    pub fn float(s: &str) -> Option<f64> {
        let v = s.replace('_', "").to_lowercase();
        let (sign, v) = match v.strip_prefix('-') {
            Some(r) => (-1.0, r.to_string()),
            None => (1.0, v.strip_prefix('+').unwrap_or(&v).to_string()),
        };
        Some(if v == ".inf" {
            sign * f64::INFINITY
        } else if v == ".nan" {
            f64::NAN
        } else if v.contains(':') {
            sign * v
                .split(':')
                .try_fold(0.0f64, |acc, d| Some(acc * 60.0 + d.parse::<f64>().ok()?))?
        } else {
            sign * v.parse::<f64>().ok()?
        })
    }
}

fn int_value(n: Option<i128>) -> Value {
    match n {
        Some(n) => i64::try_from(n).map_or(Value::Other("an integer past 64 bits"), Value::Int),
        None => Value::Other("not a valid integer"),
    }
}

/// A scalar as Ansible's loader (PyYAML's SafeLoader, with Ansible's `!unsafe` and
/// `!vault`) makes it.
fn scalar_value(s: &str, style: ScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(t) = tag {
        let core = t.is_yaml_core_schema();
        return match (core, t.suffix.as_str()) {
            (false, "vault") => Value::Vault,
            (false, "unsafe") | (true, "str") => Value::Str(s.to_string()),
            (true, "int") => int_value(pyyaml::int(s)),
            (true, "float") => {
                pyyaml::float(s).map_or(Value::Other("not a valid number"), Value::Float)
            }
            (true, "bool") if pyyaml::BOOL.is_match(s) => {
                Value::Bool(matches!(s.to_lowercase().as_str(), "yes" | "true" | "on"))
            }
            (true, "null") => Value::Null,
            // A non-specific `!` makes a string, as in PyYAML.
            (false, "") if t.handle == "!" => Value::Str(s.to_string()),
            _ => Value::Other("a value of a tag Ansible does not read"),
        };
    }
    if style != ScalarStyle::Plain {
        return Value::Str(s.to_string());
    }
    if pyyaml::BOOL.is_match(s) {
        return Value::Bool(matches!(s.to_lowercase().as_str(), "yes" | "true" | "on"));
    }
    if pyyaml::INT.is_match(s) {
        return int_value(pyyaml::int(s));
    }
    if pyyaml::FLOAT.is_match(s) {
        return pyyaml::float(s).map_or(Value::Other("not a valid number"), Value::Float);
    }
    if pyyaml::NULL.is_match(s) {
        return Value::Null;
    }
    // Timestamps stay as written (Ansible would make a date of them).
    Value::Str(s.to_string())
}

/// The node under its tags, unless one of them is `!vault`.
fn untag<'b, 'a>(n: &'b MarkedYaml<'a>) -> Option<&'b MarkedYaml<'a>> {
    match &n.data {
        YamlData::Tagged(tag, _) if !tag.is_yaml_core_schema() && tag.suffix == "vault" => None,
        YamlData::Tagged(_, inner) => untag(inner),
        _ => Some(n),
    }
}

fn yaml_value(n: &MarkedYaml<'_>) -> Value {
    let Some(n) = untag(n) else {
        return Value::Vault;
    };
    match &n.data {
        YamlData::Representation(s, style, tag) => scalar_value(s, *style, tag.as_deref()),
        YamlData::Sequence(_) => Value::Other("a list"),
        YamlData::Mapping(_) => Value::Other("a mapping"),
        _ => Value::Other("not a plain value"),
    }
}

fn yaml_is_null(n: &MarkedYaml<'_>) -> bool {
    yaml_value(n) == Value::Null
}

fn is_merge_key(k: &MarkedYaml<'_>) -> bool {
    matches!(&k.data, YamlData::Representation(s, ScalarStyle::Plain, None) if s == "<<")
}

/// A mapping's entries, with YAML 1.1 merge keys (`<<: *anchor`) applied as
/// PyYAML applies them: the merged keys come first, the mapping's own win.
fn yaml_entries<'b, 'a>(
    n: &'b MarkedYaml<'a>,
) -> Option<Vec<(&'b MarkedYaml<'a>, &'b MarkedYaml<'a>)>> {
    let n = untag(n)?;
    let YamlData::Mapping(m) = &n.data else {
        return None;
    };
    let same = |a: &MarkedYaml<'_>, b: &MarkedYaml<'_>| match (yaml_key(a), yaml_key(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    };
    let mut merged: Vec<(&MarkedYaml, &MarkedYaml)> = Vec::new();
    let mut own: Vec<(&MarkedYaml, &MarkedYaml)> = Vec::new();
    for (k, v) in m.iter() {
        if is_merge_key(k) {
            let sources: Vec<&MarkedYaml> = match &v.data {
                YamlData::Sequence(s) => s.iter().collect(),
                _ => vec![v],
            };
            for src in sources {
                for (mk, mv) in yaml_entries(src).unwrap_or_default() {
                    if !merged.iter().any(|(k2, _)| same(k2, mk)) {
                        merged.push((mk, mv));
                    }
                }
            }
        } else {
            own.push((k, v));
        }
    }
    merged.retain(|(k, _)| !own.iter().any(|(k2, _)| same(k2, k)));
    merged.extend(own);
    Some(merged)
}

/// A mapping key that is a string (as Ansible requires of names).
fn yaml_key(k: &MarkedYaml<'_>) -> Option<String> {
    match yaml_value(k) {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

/// A scalar string node (`hosts: name`): its text.
fn yaml_str(n: &MarkedYaml<'_>) -> Option<String> {
    match (&n.data, yaml_value(n)) {
        (YamlData::Representation(..), Value::Str(s)) => Some(s),
        _ => None,
    }
}

impl Inventory {
    /// A YAML inventory, as Ansible's `yaml` plugin reads it.
    pub fn parse_yaml(text: &str, path: &Path) -> Result<Inventory, ConfigError> {
        let docs = load_yaml(text, path)?;
        let Some(doc) = docs.first().filter(|d| !yaml_is_null(d)) else {
            return Err(cerr(path, None, None, "the YAML inventory is empty".into()));
        };
        let entries = yaml_entries(doc).ok_or_else(|| {
            cerr(
                path,
                yaml_line(doc),
                None,
                "a YAML inventory is a mapping of group names (`all:` with `hosts:`, `vars:`, `children:`)".into(),
            )
        })?;
        if entries
            .iter()
            .any(|(k, _)| yaml_key(k).as_deref() == Some("plugin"))
        {
            return Err(cerr(
                path,
                yaml_line(doc),
                None,
                "this is an inventory plugin's configuration (a dynamic inventory), not an inventory: give a static INI or YAML inventory".into(),
            ));
        }
        let mut inv = Inventory::empty(path, Format::Yaml);
        for (k, v) in entries {
            let name = yaml_key(k).ok_or_else(|| {
                cerr(
                    path,
                    yaml_line(k),
                    None,
                    "a group name must be a string".into(),
                )
            })?;
            inv.yaml_group(&name, k, v)?;
        }
        inv.reconcile()?;
        Ok(inv)
    }

    fn yaml_group(
        &mut self,
        name: &str,
        key: &MarkedYaml<'_>,
        data: &MarkedYaml<'_>,
    ) -> Result<(), ConfigError> {
        let path = self.path.clone();
        let at = |n: &MarkedYaml<'_>| yaml_line(n);
        if yaml_is_null(data) {
            self.add_group(name, at(key));
            return Ok(());
        }
        let Some(entries) = yaml_entries(data) else {
            // Ansible skips it, with a warning: not a group.
            return Ok(());
        };
        self.add_group(name, at(key));
        for (k, v) in entries {
            let Some(section) = yaml_key(k) else { continue };
            if !matches!(section.as_str(), "vars" | "children" | "hosts") {
                continue;
            }
            // A string stands for a mapping of that one name.
            let items: Vec<(String, &MarkedYaml<'_>, Option<&MarkedYaml<'_>>)> = if let Some(s) =
                yaml_str(v)
            {
                vec![(s, v, None)]
            } else if yaml_is_null(v) {
                Vec::new()
            } else {
                let Some(es) = yaml_entries(v) else {
                    return Err(cerr(
                        &path,
                        at(v),
                        None,
                        format!("the `{section}` of group `{name}` must be a mapping"),
                    ));
                };
                let mut items = Vec::new();
                for (ik, iv) in es {
                    let Some(iname) = yaml_key(ik) else {
                        return Err(cerr(
                            &path,
                            at(ik),
                            None,
                            format!(
                                "in the `{section}` of group `{name}`: a name must be a string (quote numbers)"
                            ),
                        ));
                    };
                    items.push((iname, ik, Some(iv)));
                }
                items
            };
            match section.as_str() {
                "vars" => {
                    for (var, ik, iv) in items {
                        let value = iv.map(yaml_value).unwrap_or(Value::Null);
                        self.set_group_var(
                            name,
                            var,
                            Var {
                                value,
                                file: path.clone(),
                                line: at(ik),
                            },
                        )?;
                    }
                }
                "children" => {
                    for (child, ik, iv) in items {
                        match iv {
                            Some(iv) => self.yaml_group(&child, ik, iv)?,
                            None => {
                                self.add_group(&child, at(ik));
                            }
                        }
                        self.add_child(name, &child, at(ik))?;
                    }
                }
                _ => {
                    for (pattern, ik, iv) in items {
                        let (hosts, port) = expand_hostpattern(&pattern)
                            .map_err(|e| cerr(&path, at(ik), None, e))?;
                        let vars = match iv {
                            None => Vec::new(),
                            Some(iv) if yaml_is_null(iv) => Vec::new(),
                            Some(iv) => yaml_entries(iv).ok_or_else(|| {
                                cerr(
                                    &path,
                                    at(iv),
                                    None,
                                    format!("the variables of host {pattern} must be a mapping"),
                                )
                            })?,
                        };
                        for h in &hosts {
                            self.add_host(h, name, port, at(ik));
                            for (vk, vv) in &vars {
                                let Some(var) = yaml_key(vk) else { continue };
                                self.set_host_var(
                                    h,
                                    var,
                                    Var {
                                        value: yaml_value(vv),
                                        file: path.clone(),
                                        line: at(vk),
                                    },
                                );
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// group_vars/ and host_vars/

/// `dir/<name>`, `.yml`, `.yaml`, `.json`: the first that exists; a directory's
/// files in sorted order (Ansible's `find_vars_files`).
fn find_vars_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    fn in_dir(d: &Path) -> Vec<PathBuf> {
        let mut names: Vec<PathBuf> = match std::fs::read_dir(d) {
            Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
            Err(_) => return Vec::new(),
        };
        names.sort();
        let mut out = Vec::new();
        for p in names {
            let f = p.file_name().and_then(|f| f.to_str()).unwrap_or("");
            if f.starts_with('.') || f.ends_with('~') {
                continue;
            }
            let ext = p.extension().and_then(|e| e.to_str());
            if p.is_dir() && ext.is_none() {
                out.extend(in_dir(&p));
            } else if p.is_file() && ext.is_none_or(|e| matches!(e, "yml" | "yaml" | "json")) {
                out.push(p);
            }
        }
        out
    }
    for ext in ["", ".yml", ".yaml", ".json"] {
        let p = dir.join(format!("{name}{ext}"));
        if p.exists() {
            if p.is_dir() {
                return in_dir(&p);
            }
            return vec![p];
        }
    }
    Vec::new()
}

/// The variables of one vars file; Ok(None): encrypted with ansible-vault.
fn read_vars_file(path: &Path) -> Result<Option<Vars>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        cerr(
            path,
            None,
            None,
            format!("cannot read the variables file: {e}"),
        )
    })?;
    if text.trim_start().starts_with("$ANSIBLE_VAULT;") {
        return Ok(None);
    }
    let docs = load_yaml(&text, path)?;
    let mut vars = Vars::new();
    let Some(doc) = docs.first().filter(|d| !yaml_is_null(d)) else {
        return Ok(Some(vars));
    };
    let entries = yaml_entries(doc).ok_or_else(|| {
        cerr(
            path,
            yaml_line(doc),
            None,
            "a variables file must be a mapping of names to values".into(),
        )
    })?;
    for (k, v) in entries {
        let Some(name) = yaml_key(k) else { continue };
        vars.insert(
            name,
            Var {
                value: yaml_value(v),
                file: path.to_path_buf(),
                line: yaml_line(k),
            },
        );
    }
    Ok(Some(vars))
}

/// The variables of `dir/<name>` (all of its files, later over earlier), and the
/// encrypted files left unread.
fn dir_vars(dir: &Path, name: &str) -> Result<(Vars, Vec<PathBuf>), ConfigError> {
    let mut vars = Vars::new();
    let mut skipped = Vec::new();
    if name.starts_with('/') || !dir.is_dir() {
        return Ok((vars, skipped));
    }
    for f in find_vars_files(dir, name) {
        match read_vars_file(&f)? {
            Some(v) => vars.extend(v),
            None => skipped.push(f),
        }
    }
    Ok((vars, skipped))
}

impl Inventory {
    /// `group_vars/` and `host_vars/` in the inventory file's directory.
    fn load_vars_dirs(&mut self) -> Result<(), ConfigError> {
        let base = self
            .path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."));
        let base = std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
        let (gdir, hdir) = (base.join("group_vars"), base.join("host_vars"));
        for g in &mut self.groups {
            let (v, s) = dir_vars(&gdir, &g.name)?;
            g.dir_vars = v;
            g.dir_skipped = s;
        }
        for h in &mut self.hosts {
            let (v, s) = dir_vars(&hdir, &h.name)?;
            h.dir_vars = v;
            h.dir_skipped = s;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shlex_is_pythons() {
        let s = |t: &str| py_shlex_split(t, true).unwrap();
        assert_eq!(s("a b  c"), ["a", "b", "c"]);
        assert_eq!(
            s(r#"h x='a b' y="c \"d\" \$e" z=f\ g"#),
            ["h", "x=a b", r#"y=c "d" \$e"#, "z=f g"]
        );
        assert_eq!(s("h a=1 # a comment 'x"), ["h", "a=1"]);
        assert_eq!(s("h a=b#c"), ["h", "a=b"], "a # in a word starts a comment");
        assert_eq!(py_shlex_split("a=b#c", false).unwrap(), ["a=b#c"]);
        assert_eq!(s("h x='' y"), ["h", "x=", "y"]);
        assert_eq!(s("''"), [""]);
        assert_eq!(s(r"a 'b\'"), ["a", r"b\"]);
        assert!(py_shlex_split("a 'b", true).is_err());
        assert!(py_shlex_split("a \\", true).is_err());
    }

    #[test]
    fn literal_eval_is_pythons_for_what_an_inventory_holds() {
        use Value::*;
        let l = py_literal;
        assert_eq!(l("22"), Int(22));
        assert_eq!(l("-5"), Int(-5));
        assert_eq!(l("0x1F"), Int(31));
        assert_eq!(l("1_000"), Int(1000));
        assert_eq!(
            l("007"),
            Str("007".into()),
            "leading zeros: not a Python int"
        );
        assert_eq!(l("00"), Int(0));
        assert_eq!(l("1.5"), Float(1.5));
        assert_eq!(l("10.0.0.1"), Str("10.0.0.1".into()));
        assert_eq!(l("'quoted'"), Str("quoted".into()));
        assert_eq!(l("\"a\\tb\""), Str("a\tb".into()));
        assert_eq!(l("r'a\\tb'"), Str("a\\tb".into()));
        assert_eq!(l("'a' 'b'"), Str("ab".into()));
        assert_eq!(l("b'x'"), Str("x".into()));
        assert_eq!(l("f'x'"), Str("f'x'".into()));
        assert_eq!(l("True"), Bool(true));
        assert_eq!(l("true"), Str("true".into()));
        assert_eq!(l("yes"), Str("yes".into()));
        assert_eq!(l("None"), Null);
        assert_eq!(l("22 # ssh"), Int(22));
        assert_eq!(l("ops # admin"), Str("ops # admin".into()));
        assert_eq!(l("[1, 2]"), Other("a list"));
        assert_eq!(l("(5)"), Int(5));
        assert_eq!(
            l("-o ProxyJump=bastion"),
            Str("-o ProxyJump=bastion".into())
        );
        assert_eq!(l("'a'b"), Str("'a'b".into()));
        assert_eq!(l("'\\x41\\101\\u00e9'"), Str("AAé".into()));
        assert_eq!(l("99999999999999999999"), Other("an integer past 64 bits"));
        assert_eq!(l("..."), Str("...".into()));
        assert_eq!(l(""), Str("".into()));
    }

    #[test]
    fn host_patterns_ports_and_ranges() {
        let e = |p: &str| expand_hostpattern(p).unwrap();
        assert_eq!(e("val-a"), (vec!["val-a".to_string()], None));
        assert_eq!(e("val-a:2201"), (vec!["val-a".to_string()], Some(2201)));
        assert_eq!(e("10.0.0.1:22"), (vec!["10.0.0.1".to_string()], Some(22)));
        assert_eq!(e("fe80::1"), (vec!["fe80::1".to_string()], None));
        assert_eq!(
            e("[fe80::1]:2222"),
            (vec!["fe80::1".to_string()], Some(2222))
        );
        assert_eq!(e("web[01:03]").0, ["web01", "web02", "web03"]);
        assert_eq!(e("db-[a:c]-x:5").0, ["db-a-x", "db-b-x", "db-c-x"]);
        assert_eq!(e("db-[a:c]-x:5").1, Some(5));
        assert_eq!(e("n[0:4:2]").0, ["n0", "n2", "n4"]);
        assert_eq!(e("h[1:2]x[1:2]").0, ["h1x1", "h1x2", "h2x1", "h2x2"]);
        assert_eq!(e("weird$:22"), (vec!["weird$:22".to_string()], None));
        assert!(expand_hostpattern("[primary").is_err());
        assert!(expand_hostpattern("h[01:3]").is_err());
    }

    #[test]
    fn ini_children_vars_and_precedence() {
        let text = "\
[all:vars]
ansible_user=all
ansible_port=22
[validators:children]
primary
backup
[validators:vars]
ansible_user=ops
[primary]
val-a ansible_host=10.0.0.1 ansible_user=admin
[backup]
val-b:2202
[backup:vars]
ansible_user=root
";
        let inv = Inventory::parse_ini(text, Path::new("inv.ini")).unwrap();
        let a = inv.connection(Role::Primary).unwrap();
        assert_eq!(
            (a.address.as_str(), a.user.as_deref(), a.port),
            ("10.0.0.1", Some("admin"), Some(22))
        );
        let b = inv.connection(Role::Backup).unwrap();
        // backup (depth 2) over validators (depth 1) over all; the :2202 is a host var.
        assert_eq!(
            (b.address.as_str(), b.user.as_deref(), b.port),
            ("val-b", Some("root"), Some(2202))
        );
        assert_eq!(inv.group_hosts("validators").unwrap(), ["val-a", "val-b"]);
    }

    #[test]
    fn a_group_of_two_or_none_names_the_group_file_and_line() {
        let e = Inventory::parse_ini(
            "[primary]\na\n[dc2]\nc\n[primary:children]\ndc2\n[backup]\nb\n",
            Path::new("inv.ini"),
        )
        .unwrap()
        .connection(Role::Primary)
        .unwrap_err();
        assert_eq!(
            (e.file.as_path(), e.line),
            (Path::new("inv.ini"), Some(4)),
            "{e}"
        );
        assert!(
            e.message
                .contains("`primary` holds 2 hosts (a (line 2), c (line 4) through group `dc2`)"),
            "{e}"
        );
        let e = Inventory::parse_ini("[primary]\n[backup]\nb\n", Path::new("inv.ini"))
            .unwrap()
            .connection(Role::Primary)
            .unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
        assert!(e.message.contains("holds no host"), "{e}");
        let e = Inventory::parse_ini("[backup]\nb\n", Path::new("inv.ini"))
            .unwrap()
            .connection(Role::Primary)
            .unwrap_err();
        assert!(e.message.contains("no group named `primary`"), "{e}");
        let e = Inventory::parse_yaml(
            "all:\n  children:\n    primary:\n      hosts:\n        a:\n        b:\n    backup:\n      hosts:\n        c:\n",
            Path::new("inv.yml"),
        )
        .unwrap()
        .connection(Role::Primary)
        .unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
        let e = Inventory::parse_ini("[primary]\na\n[backup]\na\n", Path::new("inv.ini"))
            .unwrap()
            .connection(Role::Backup)
            .unwrap_err();
        assert!(e.message.contains("in both `backup` and `primary`"), "{e}");
    }

    #[test]
    fn ini_errors_name_the_line() {
        let bad = |t: &str| Inventory::parse_ini(t, Path::new("i.ini")).unwrap_err();
        assert_eq!(bad("[primary\n").line, Some(1));
        assert_eq!(bad("[a:children]\nnever\n").line, Some(2));
        assert_eq!(bad("[x:vars]\na=1\n").line, Some(1));
        assert_eq!(bad("[p]\nh 'open\n").line, Some(2));
        assert_eq!(bad("[p]\nh novalue\n").line, Some(2));
        assert_eq!(bad("[p:bogus]\n").line, Some(1));
        assert_eq!(bad("[a:children]\nb\n[b:children]\na\n[b]\n").line, Some(4));
        let e = Inventory::parse_ini(
            "[primary]\na ansible_port=http\n[backup]\nb\n",
            Path::new("i.ini"),
        )
        .unwrap()
        .connection(Role::Primary)
        .unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("ansible_port")),
            "{e}"
        );
    }

    #[test]
    fn yaml_groups_vars_and_refusals() {
        let text = "\
all:
  vars:
    ansible_user: all
  children:
    validators:
      vars:
        ansible_ssh_common_args: '-o ProxyJump=ops@bastion -o \"ProxyCommand=ssh -W %h:%p x\"'
      children:
        primary:
          hosts:
            val-a: {ansible_host: 10.0.0.1, ansible_port: \"2201\"}
        backup:
          hosts: val-b
";
        let inv = Inventory::parse_yaml(text, Path::new("inv.yml")).unwrap();
        let a = inv.connection(Role::Primary).unwrap();
        assert_eq!(a.port, Some(2201));
        assert_eq!(
            a.ssh_args,
            [
                "-o",
                "ProxyJump=ops@bastion",
                "-o",
                "ProxyCommand=ssh -W %h:%p x"
            ]
        );
        assert_eq!(
            inv.connection(Role::Backup).unwrap().user.as_deref(),
            Some("all")
        );

        let refuse = |vars: &str| {
            let t = format!(
                "all:\n  children:\n    primary:\n      hosts:\n        a:\n{vars}    backup:\n      hosts:\n        b:\n"
            );
            Inventory::parse_yaml(&t, Path::new("inv.yml"))
                .unwrap()
                .connection(Role::Primary)
                .unwrap_err()
        };
        let e = refuse("          ansible_host: \"{{ inventory_hostname }}.example\"\n");
        assert!(e.message.contains("Jinja2"), "{e}");
        assert_eq!((e.line, e.key.as_deref()), (Some(6), Some("ansible_host")));
        let e = refuse("          ansible_ssh_common_args: \"-W x:22\"\n");
        assert!(e.message.contains("`-W`"), "{e}");
        let e = refuse("          ansible_ssh_common_args: \"bastion\"\n");
        assert!(e.message.contains("not an ssh option"), "{e}");
        let e = refuse("          ansible_connection: local\n");
        assert!(e.message.contains("not SSH"), "{e}");
        let e = refuse("          ansible_host: root@h\n");
        assert!(e.message.contains("host name or address only"), "{e}");
        let e = refuse(
            "          ansible_user: !vault |\n            $ANSIBLE_VAULT;1.1;AES256\n            3133\n",
        );
        assert!(e.message.contains("encrypted with ansible-vault"), "{e}");
        let e = refuse("          ansible_ssh_private_key_file: /nonexistent/key\n");
        assert!(e.message.contains("/nonexistent/key does not exist"), "{e}");

        let e = Inventory::parse_yaml("plugin: aws_ec2\n", Path::new("inv.yml")).unwrap_err();
        assert!(e.message.contains("dynamic inventory"), "{e}");
        let e = Inventory::parse_yaml("all: [\n", Path::new("inv.yml")).unwrap_err();
        assert!(e.message.contains("not valid YAML"), "{e}");
    }

    #[test]
    fn yaml_merge_keys_and_anchors() {
        let text = "\
all:
  children:
    primary:
      hosts:
        a: &common
          ansible_user: ops
          ansible_port: 2200
    backup:
      hosts:
        b:
          <<: *common
          ansible_port: 2201
";
        let inv = Inventory::parse_yaml(text, Path::new("inv.yml")).unwrap();
        let b = inv.connection(Role::Backup).unwrap();
        assert_eq!((b.user.as_deref(), b.port), (Some("ops"), Some(2201)));
    }

    #[test]
    fn vars_directories_beside_the_inventory() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::write(
            p.join("hosts"),
            "[primary]\nval-a\n[backup]\nval-b\n[backup:vars]\nansible_port=2000\n",
        )
        .unwrap();
        std::fs::create_dir_all(p.join("group_vars/all")).unwrap();
        std::fs::write(
            p.join("group_vars/all/10-main.yml"),
            "ansible_user: from-all\nansible_port: 1000\n",
        )
        .unwrap();
        std::fs::write(
            p.join("group_vars/all/20-vault.yml"),
            "$ANSIBLE_VAULT;1.1;AES256\n6162\n",
        )
        .unwrap();
        std::fs::write(
            p.join("group_vars/all/.hidden.yml"),
            "ansible_user: hidden\n",
        )
        .unwrap();
        std::fs::write(
            p.join("group_vars/primary.yaml"),
            "ansible_user: from-primary\n",
        )
        .unwrap();
        std::fs::create_dir_all(p.join("host_vars")).unwrap();
        std::fs::write(p.join("host_vars/val-a.yml"), "ansible_host: 10.9.9.9\n").unwrap();
        let inv = Inventory::load(&p.join("hosts")).unwrap();
        assert_eq!(inv.format, Format::Ini);
        let a = inv.connection(Role::Primary).unwrap();
        assert_eq!(
            (a.address.as_str(), a.user.as_deref(), a.port),
            ("10.9.9.9", Some("from-primary"), Some(1000))
        );
        assert_eq!(
            a.skipped,
            [std::fs::canonicalize(p)
                .unwrap()
                .join("group_vars/all/20-vault.yml")]
        );
        let b = inv.connection(Role::Backup).unwrap();
        // group_vars/all over the file's [backup:vars].
        assert_eq!((b.user.as_deref(), b.port), (Some("from-all"), Some(1000)));
    }
}
