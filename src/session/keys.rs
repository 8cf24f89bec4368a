//! Keys and pastes to the bytes a terminal program expects (xterm
//! encoding), given the modes the program set: application cursor keys,
//! bracketed paste. Pure and table-tested.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Modes {
    /// DECCKM: arrows (and Home/End) send SS3 instead of CSI.
    pub application_cursor: bool,
    /// Mode 2004: pastes are wrapped in `ESC [200~` … `ESC [201~`.
    pub bracketed_paste: bool,
    /// What mouse events the program asked for.
    pub mouse: MouseMode,
    /// Mode 1006: SGR mouse encoding.
    pub mouse_sgr: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MouseMode {
    #[default]
    Off,
    /// 9: presses only.
    Press,
    /// 1000: presses and releases.
    PressRelease,
    /// 1002: and motion with a button down.
    ButtonMotion,
    /// 1003: and all motion.
    AnyMotion,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MouseButton {
    Left,
    Middle,
    Right,
    WheelUp,
    WheelDown,
}

/// A mouse event for a program that asked for them: `col`/`row` 0-based
/// within the pane; `press` false for a release. `None` when the program
/// did not ask for this kind of event.
pub fn mouse(
    button: MouseButton,
    press: bool,
    col: u16,
    row: u16,
    mods: KeyModifiers,
    modes: Modes,
) -> Option<Vec<u8>> {
    let wheel = matches!(button, MouseButton::WheelUp | MouseButton::WheelDown);
    match modes.mouse {
        MouseMode::Off => return None,
        MouseMode::Press if !press => return None,
        _ => {}
    }
    if wheel && !press {
        return None;
    }
    let mut code: u16 = match button {
        MouseButton::Left => 0,
        MouseButton::Middle => 1,
        MouseButton::Right => 2,
        MouseButton::WheelUp => 64,
        MouseButton::WheelDown => 65,
    };
    if mods.contains(KeyModifiers::SHIFT) {
        code += 4;
    }
    if mods.contains(KeyModifiers::ALT) {
        code += 8;
    }
    if mods.contains(KeyModifiers::CONTROL) {
        code += 16;
    }
    let (x, y) = (u32::from(col) + 1, u32::from(row) + 1);
    if modes.mouse_sgr {
        let end = if press { 'M' } else { 'm' };
        return Some(format!("\x1b[<{code};{x};{y}{end}").into_bytes());
    }
    // X10 encoding: releases are button 3; coordinates end at 223.
    let code = if press { code } else { 3 + (code & !3) };
    if x > 223 || y > 223 {
        return None;
    }
    Some(vec![
        0x1b,
        b'[',
        b'M',
        (32 + code) as u8,
        (32 + x) as u8,
        (32 + y) as u8,
    ])
}

/// xterm's modifier parameter: 1 + shift + 2·alt + 4·ctrl.
fn modifier_param(mods: KeyModifiers) -> u8 {
    1 + u8::from(mods.contains(KeyModifiers::SHIFT))
        + 2 * u8::from(mods.contains(KeyModifiers::ALT))
        + 4 * u8::from(mods.contains(KeyModifiers::CONTROL))
}

/// `CSI 1;m X` with modifiers, else `CSI X` (or `SS3 X` in application
/// mode).
fn cursor_key(letter: u8, mods: KeyModifiers, app: bool) -> Vec<u8> {
    let m = modifier_param(mods);
    if m > 1 {
        format!("\x1b[1;{m}{}", letter as char).into_bytes()
    } else if app {
        vec![0x1b, b'O', letter]
    } else {
        vec![0x1b, b'[', letter]
    }
}

/// `CSI n ~` or `CSI n;m ~`.
fn tilde_key(n: u8, mods: KeyModifiers) -> Vec<u8> {
    let m = modifier_param(mods);
    if m > 1 {
        format!("\x1b[{n};{m}~").into_bytes()
    } else {
        format!("\x1b[{n}~").into_bytes()
    }
}

/// The control byte for Ctrl + `c`, if there is one.
fn control_byte(c: char) -> Option<u8> {
    match c {
        'a'..='z' => Some(c as u8 - b'a' + 1),
        'A'..='Z' => Some(c as u8 - b'A' + 1),
        '@' | ' ' | '2' => Some(0),
        '[' | '3' => Some(0x1b),
        '\\' | '4' => Some(0x1c),
        ']' | '5' => Some(0x1d),
        '^' | '6' => Some(0x1e),
        '_' | '-' | '7' => Some(0x1f),
        '?' | '8' => Some(0x7f),
        _ => None,
    }
}

/// The bytes for one key press; empty for keys with no encoding.
pub fn encode(key: &KeyEvent, modes: Modes) -> Vec<u8> {
    let mods = key.modifiers;
    let alt = mods.contains(KeyModifiers::ALT);
    let ctrl = mods.contains(KeyModifiers::CONTROL);
    let with_alt = |mut bytes: Vec<u8>| {
        if alt {
            bytes.insert(0, 0x1b);
        }
        bytes
    };
    match key.code {
        KeyCode::Char(c) => {
            if ctrl {
                return control_byte(c).map_or_else(Vec::new, |b| with_alt(vec![b]));
            }
            let mut buf = [0u8; 4];
            with_alt(c.encode_utf8(&mut buf).as_bytes().to_vec())
        }
        KeyCode::Enter => with_alt(vec![b'\r']),
        KeyCode::Tab => with_alt(vec![b'\t']),
        KeyCode::BackTab => b"\x1b[Z".to_vec(),
        KeyCode::Backspace => with_alt(vec![if ctrl { 0x08 } else { 0x7f }]),
        KeyCode::Esc => with_alt(vec![0x1b]),
        KeyCode::Up => cursor_key(b'A', mods, modes.application_cursor),
        KeyCode::Down => cursor_key(b'B', mods, modes.application_cursor),
        KeyCode::Right => cursor_key(b'C', mods, modes.application_cursor),
        KeyCode::Left => cursor_key(b'D', mods, modes.application_cursor),
        KeyCode::Home => cursor_key(b'H', mods, modes.application_cursor),
        KeyCode::End => cursor_key(b'F', mods, modes.application_cursor),
        KeyCode::Insert => tilde_key(2, mods),
        KeyCode::Delete => tilde_key(3, mods),
        KeyCode::PageUp => tilde_key(5, mods),
        KeyCode::PageDown => tilde_key(6, mods),
        KeyCode::F(n @ 1..=4) => {
            let letter = b"PQRS"[usize::from(n - 1)];
            let m = modifier_param(mods);
            if m > 1 {
                format!("\x1b[1;{m}{}", letter as char).into_bytes()
            } else {
                vec![0x1b, b'O', letter]
            }
        }
        KeyCode::F(n @ 5..=12) => {
            let code = [15, 17, 18, 19, 20, 21, 23, 24][usize::from(n - 5)];
            tilde_key(code, mods)
        }
        _ => Vec::new(),
    }
}

/// A paste: line ends become CR (what Enter sends), wrapped when the
/// program asked for bracketed paste. The end marker inside the text is
/// removed so a paste cannot end itself early.
pub fn paste(text: &str, modes: Modes) -> Vec<u8> {
    let body = text
        .replace("\x1b[201~", "")
        .replace("\r\n", "\r")
        .replace('\n', "\r");
    if modes.bracketed_paste {
        [b"\x1b[200~".as_slice(), body.as_bytes(), b"\x1b[201~"].concat()
    } else {
        body.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn key_table() {
        let n = KeyModifiers::NONE;
        let c = KeyModifiers::CONTROL;
        let a = KeyModifiers::ALT;
        let s = KeyModifiers::SHIFT;
        let normal = Modes::default();
        let app = Modes {
            application_cursor: true,
            ..Modes::default()
        };
        let cases: Vec<(KeyEvent, Modes, &[u8])> = vec![
            (k(KeyCode::Char('a'), n), normal, b"a"),
            (k(KeyCode::Char('é'), n), normal, "é".as_bytes()),
            (k(KeyCode::Char('A'), s), normal, b"A"),
            (k(KeyCode::Char('c'), c), normal, b"\x03"),
            (k(KeyCode::Char(' '), c), normal, b"\x00"),
            (k(KeyCode::Char('['), c), normal, b"\x1b"),
            (k(KeyCode::Char('x'), a), normal, b"\x1bx"),
            (k(KeyCode::Char('x'), a | c), normal, b"\x1b\x18"),
            (k(KeyCode::Enter, n), normal, b"\r"),
            (k(KeyCode::Backspace, n), normal, b"\x7f"),
            (k(KeyCode::Tab, n), normal, b"\t"),
            (k(KeyCode::BackTab, s), normal, b"\x1b[Z"),
            (k(KeyCode::Up, n), normal, b"\x1b[A"),
            (k(KeyCode::Up, n), app, b"\x1bOA"),
            (k(KeyCode::Left, c), app, b"\x1b[1;5D"),
            (k(KeyCode::Right, s | a), normal, b"\x1b[1;4C"),
            (k(KeyCode::Home, n), normal, b"\x1b[H"),
            (k(KeyCode::End, n), app, b"\x1bOF"),
            (k(KeyCode::Delete, n), normal, b"\x1b[3~"),
            (k(KeyCode::PageUp, c), normal, b"\x1b[5;5~"),
            (k(KeyCode::F(1), n), normal, b"\x1bOP"),
            (k(KeyCode::F(4), s), normal, b"\x1b[1;2S"),
            (k(KeyCode::F(5), n), normal, b"\x1b[15~"),
            (k(KeyCode::F(12), n), normal, b"\x1b[24~"),
            (k(KeyCode::Esc, n), normal, b"\x1b"),
        ];
        for (key, modes, want) in cases {
            assert_eq!(encode(&key, modes), want, "{key:?} {modes:?}");
        }
    }

    #[test]
    fn mouse_reports_only_when_asked() {
        let n = KeyModifiers::NONE;
        let off = Modes::default();
        assert_eq!(mouse(MouseButton::Left, true, 0, 0, n, off), None);
        let x10 = Modes {
            mouse: MouseMode::PressRelease,
            ..Modes::default()
        };
        assert_eq!(
            mouse(MouseButton::Left, true, 4, 2, n, x10),
            Some(vec![0x1b, b'[', b'M', 32, 37, 35])
        );
        assert_eq!(
            mouse(MouseButton::Left, false, 4, 2, n, x10),
            Some(vec![0x1b, b'[', b'M', 35, 37, 35])
        );
        let sgr = Modes {
            mouse: MouseMode::ButtonMotion,
            mouse_sgr: true,
            ..Modes::default()
        };
        assert_eq!(
            mouse(
                MouseButton::WheelUp,
                true,
                9,
                19,
                KeyModifiers::CONTROL,
                sgr
            ),
            Some(b"\x1b[<80;10;20M".to_vec())
        );
        assert_eq!(
            mouse(MouseButton::Right, false, 0, 0, n, sgr),
            Some(b"\x1b[<2;1;1m".to_vec())
        );
        let press_only = Modes {
            mouse: MouseMode::Press,
            ..Modes::default()
        };
        assert_eq!(mouse(MouseButton::Left, false, 0, 0, n, press_only), None);
    }

    #[test]
    fn pastes_are_bracketed_when_asked_and_cannot_break_out() {
        let bracketed = Modes {
            bracketed_paste: true,
            ..Modes::default()
        };
        assert_eq!(paste("a\nb\r\nc", Modes::default()), b"a\rb\rc");
        assert_eq!(
            paste("x\x1b[201~rm -rf /\n", bracketed),
            b"\x1b[200~xrm -rf /\r\x1b[201~"
        );
    }
}
