//! A log pane's buffer (after k9s): a bounded ring of lines with a count of the lines
//! that fell off the front, and follow mode. Scrolling up pauses follow and keeps the
//! view on the same lines while new ones arrive; End resumes it.

use std::collections::VecDeque;

/// The longest line kept (longer ones are cut, with a mark).
pub const MAX_LINE: usize = 1024;

#[derive(Debug, Clone)]
pub struct LogBuf {
    lines: VecDeque<String>,
    cap: usize,
    dropped: u64,
    follow: bool,
    /// When paused: how many lines from the bottom the view's last line is.
    back: usize,
}

impl LogBuf {
    pub fn new(cap: usize) -> LogBuf {
        LogBuf {
            lines: VecDeque::with_capacity(cap.min(4096)),
            cap: cap.max(1),
            dropped: 0,
            follow: true,
            back: 0,
        }
    }

    pub fn push(&mut self, mut line: String) {
        if line.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push('…');
        }
        if self.lines.len() == self.cap {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(line);
        if !self.follow {
            // Stay on the same lines: they moved one further from the bottom.
            self.back = (self.back + 1).min(self.lines.len().saturating_sub(1));
        }
    }

    pub fn extend<I: IntoIterator<Item = String>>(&mut self, lines: I) {
        for l in lines {
            self.push(l);
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Lines that fell off the front since the start.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn is_following(&self) -> bool {
        self.follow
    }

    /// Scroll towards older lines: pauses follow.
    pub fn scroll_up(&mut self, n: usize) {
        self.follow = false;
        self.back = (self.back + n).min(self.lines.len().saturating_sub(1));
    }

    /// Scroll towards newer lines (follow stays paused until End).
    pub fn scroll_down(&mut self, n: usize) {
        self.back = self.back.saturating_sub(n);
    }

    /// End: back to the newest line, following again.
    pub fn follow(&mut self) {
        self.follow = true;
        self.back = 0;
    }

    /// The lines a pane `height` lines tall shows, oldest first.
    pub fn view(&self, height: usize) -> impl Iterator<Item = &str> {
        let back = if self.follow { 0 } else { self.back };
        let end = self.lines.len().saturating_sub(back);
        let start = end.saturating_sub(height);
        self.lines.range(start..end).map(String::as_str)
    }

    /// The newest line.
    pub fn last(&self) -> Option<&str> {
        self.lines.back().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(b: &LogBuf, h: usize) -> Vec<String> {
        b.view(h).map(str::to_string).collect()
    }

    #[test]
    fn bounded_with_dropped_count() {
        let mut b = LogBuf::new(3);
        b.extend((0..10).map(|i| i.to_string()));
        assert_eq!(b.len(), 3);
        assert_eq!(b.dropped(), 7);
        assert_eq!(lines(&b, 5), ["7", "8", "9"]);
    }

    #[test]
    fn scrolling_up_pauses_follow_and_end_resumes() {
        let mut b = LogBuf::new(100);
        b.extend((0..10).map(|i| i.to_string()));
        b.scroll_up(2);
        assert!(!b.is_following());
        assert_eq!(lines(&b, 2), ["6", "7"]);
        // New lines do not move the view.
        b.extend(["10".to_string(), "11".to_string()]);
        assert_eq!(lines(&b, 2), ["6", "7"]);
        b.scroll_down(1);
        assert_eq!(lines(&b, 2), ["7", "8"]);
        assert!(!b.is_following());
        b.follow();
        assert!(b.is_following());
        assert_eq!(lines(&b, 2), ["10", "11"]);
    }

    #[test]
    fn scroll_is_clamped_and_long_lines_cut() {
        let mut b = LogBuf::new(10);
        b.extend(["a".to_string(), "b".to_string()]);
        b.scroll_up(50);
        assert_eq!(lines(&b, 1), ["a"]);
        b.push("é".repeat(MAX_LINE));
        assert!(b.last().unwrap().len() <= MAX_LINE + '…'.len_utf8());
        assert!(b.last().unwrap().ends_with('…'));
    }
}
