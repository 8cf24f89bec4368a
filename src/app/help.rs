//! The help overlay's text and geometry (pure; ui/help.rs draws it): one
//! entry per action from the keymap table that dispatches, its keys in a
//! column and its description wrapped under itself (a hanging indent, never
//! back to column 0, nothing cut). Taller than the screen, it scrolls:
//! ↑↓ PgUp PgDn Home End while it is shown.

use super::keymap::{Binding, Keymap};
use super::{App, Effect, Overlay};
use crate::session::layout::Area;
use crossterm::event::{KeyCode, KeyEvent};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Where the help goes on a `rows`×`cols` terminal for `lines` lines of
/// text: four fifths of the width, centred, as tall as it needs (the
/// screen at most).
pub fn help_area(rows: u16, cols: u16, lines: usize) -> Area {
    let w = (cols / 5 * 4).max(cols.min(40));
    let h = (lines.min(usize::from(u16::MAX)) as u16)
        .saturating_add(2)
        .min(rows);
    Area {
        x: (cols - w) / 2,
        y: (rows - h) / 2,
        w,
        h,
    }
}

/// The help's width inside its frame on a terminal `cols` wide.
pub fn help_width(cols: u16) -> u16 {
    help_area(1, cols, 0).w.saturating_sub(2).max(1)
}

/// `text` cut into lines of at most `width` columns at spaces (a word
/// longer than a line is split).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let need = if line.is_empty() {
            word.width()
        } else {
            line.width() + 1 + word.width()
        };
        if need <= width {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        for c in word.chars() {
            if line.width() + c.width().unwrap_or(0) > width {
                lines.push(std::mem::take(&mut line));
            }
            line.push(c);
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// One line per action of `table` (its keys together, in table order):
/// (keys, description).
fn entries(table: &[Binding], prefix: Option<&str>) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for b in table {
        if seen.contains(&b.action) {
            continue;
        }
        seen.push(b.action.clone());
        let keys: Vec<String> = Keymap::keys_for(table, &b.action)
            .iter()
            .map(|k| k.label())
            .collect();
        let keys = keys.join("/");
        out.push((
            match prefix {
                Some(p) => format!("{p} {keys}"),
                None => keys,
            },
            b.action.help(),
        ));
    }
    out
}

/// The help's lines at `width` columns.
pub fn help_lines(keymap: &Keymap, width: u16) -> Vec<String> {
    let width = usize::from(width.max(1));
    let prefix = keymap.prefix.label();
    let with_prefix = entries(&keymap.after_prefix, Some(&prefix));
    let direct = entries(&keymap.direct, None);
    // The description column: after the widest keys (15 at least, so the
    // usual table lines up), unless that leaves too little room.
    let keys_w = with_prefix
        .iter()
        .chain(&direct)
        .map(|(k, _)| k.width())
        .max()
        .unwrap_or(0)
        .max(15);
    let indent = 2 + keys_w + 1;
    let hanging = if width >= indent + 20 { indent } else { 4 };
    let entry = |out: &mut Vec<String>, (keys, help): &(String, &str)| {
        let first = format!("  {keys:<keys_w$} ");
        let body = wrap(help, width.saturating_sub(hanging));
        let mut body = body.into_iter();
        if hanging == indent {
            out.push(format!("{first}{}", body.next().unwrap_or_default()));
        } else {
            out.push(format!("  {keys}"));
        }
        out.extend(body.map(|l| format!("{:hanging$}{l}", "")));
    };
    let mut out = wrap(
        &format!(
            "Workspace commands start with the prefix {prefix}; press it twice to send it to the pane."
        ),
        width,
    );
    out.push(String::new());
    for e in &with_prefix {
        entry(&mut out, e);
    }
    out.push(String::new());
    out.push("In the sidebar:".into());
    for e in &direct {
        entry(&mut out, e);
    }
    out.push(String::new());
    out.extend(wrap(
        "Keys: $BOTTLE_HOME/config.yaml `keys:` (defaults: bottle debug keymap).",
        width,
    ));
    out
}

impl App {
    /// How far the help can scroll on the current screen.
    fn help_max_scroll(&self) -> u16 {
        let (rows, cols) = self.size;
        let lines = help_lines(&self.keymap, help_width(cols)).len();
        let shown = usize::from(help_area(rows, cols, lines).h.saturating_sub(2));
        lines.saturating_sub(shown).min(usize::from(u16::MAX)) as u16
    }

    /// A key while the help is shown: scrolling keys scroll it (`None`:
    /// the key is not one of them).
    pub(super) fn help_key(&mut self, key: &KeyEvent) -> Option<Vec<Effect>> {
        let Some(Overlay::Help(scroll)) = self.overlay else {
            return None;
        };
        let page = self.size.0.saturating_sub(3).max(1);
        let max = self.help_max_scroll();
        let to = match key.code {
            KeyCode::Up => scroll.saturating_sub(1),
            KeyCode::Down => scroll.saturating_add(1),
            KeyCode::PageUp => scroll.saturating_sub(page),
            KeyCode::PageDown => scroll.saturating_add(page),
            KeyCode::Home => 0,
            KeyCode::End => max,
            _ => return None,
        };
        self.overlay = Some(Overlay::Help(to.min(max)));
        Some(vec![Effect::Redraw])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::test_support::{app, key};
    use crate::app::{Action, AppEvent};
    use crossterm::event::KeyModifiers;

    #[test]
    fn long_descriptions_wrap_under_their_column_and_nothing_is_cut() {
        let lines = help_lines(&Keymap::default(), 60);
        assert!(lines.iter().all(|l| l.width() <= 60), "{lines:#?}");
        let at = lines
            .iter()
            .position(|l| l.contains("agents' requests"))
            .expect("the requests entry");
        let col = lines[at].find("agents'").expect("description");
        // The continuation starts in the description's column.
        let next = &lines[at + 1];
        assert_eq!(next.len() - next.trim_start().len(), col, "{lines:#?}");
        let joined: String = lines
            .join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(joined.contains("Tab next · Esc back"), "{joined}");
    }

    #[test]
    fn very_narrow_puts_descriptions_under_their_keys() {
        let lines = help_lines(&Keymap::default(), 24);
        assert!(lines.iter().all(|l| l.width() <= 24), "{lines:#?}");
        assert!(lines.iter().any(|l| l == "  Ctrl-b ?"), "{lines:#?}");
        assert!(lines.iter().any(|l| l.starts_with("    show or hide")));
    }

    #[test]
    fn a_tall_help_scrolls_and_stops_at_its_end() {
        let mut a = app();
        a.update(AppEvent::Resize { rows: 12, cols: 70 });
        a.apply(Action::ToggleHelp);
        a.update(key(KeyCode::Down, KeyModifiers::NONE));
        assert_eq!(a.overlay, Some(Overlay::Help(1)));
        for _ in 0..20 {
            a.update(key(KeyCode::PageDown, KeyModifiers::NONE));
        }
        let max = a.help_max_scroll();
        assert!(max > 10);
        assert_eq!(a.overlay, Some(Overlay::Help(max)));
        a.update(key(KeyCode::Home, KeyModifiers::NONE));
        assert_eq!(a.overlay, Some(Overlay::Help(0)));
        // Other keys still reach the sidebar's commands.
        a.update(key(KeyCode::Esc, KeyModifiers::NONE));
        assert_eq!(a.overlay, None);
    }
}
