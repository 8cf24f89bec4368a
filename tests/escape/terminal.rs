//! Attacks on the operator's terminal (issue 18 part C, SPEC §4.9): the
//! agent prints sequences that would set or read the operator's
//! clipboard, plant hyperlinks, set titles, query the terminal or tunnel
//! through it (tmux DCS), or use C1 controls — through `bottle attach`,
//! `bottle shell`, `bottle exec` into a terminal, `bottle logs` and a
//! workspace pane. Each trial reads the bytes the operator's terminal (a
//! PTY) received and asserts none of the sequence got there, while colours
//! (and, in one trial, the alternate screen) still pass so full-screen
//! agents keep working.

use crate::fixture::{self, Bottle, Outcome, Registry};
use crate::support::{Engine, Pty, PtyApp};
use std::sync::{Arc, Mutex};

pub fn register(reg: &mut Registry) {
    reg.inside(
        "terminal",
        "attach_osc52_clipboard_write_reaches_no_terminal",
        |e| attach_prints(e, "osc52w", r"\033]52;c;ZXZpbA==\007", &["\x1b]52"]),
    );
    reg.inside(
        "terminal",
        "attach_osc52_clipboard_read_reaches_no_terminal",
        |e| attach_prints(e, "osc52r", r"\033]52;c;?\033\\", &["\x1b]52"]),
    );
    reg.inside(
        "terminal",
        "attach_osc8_hyperlink_reaches_no_terminal",
        |e| {
            attach_prints(
                e,
                "osc8",
                r"\033]8;;https://evil.invalid/\033\\click\033]8;;\033\\",
                &["\x1b]8;"],
            )
        },
    );
    reg.inside("terminal", "attach_window_title_reaches_no_terminal", |e| {
        attach_prints(
            e,
            "title",
            r"\033]0;owned\007\033]2;owned\033\\",
            &["\x1b]0;", "\x1b]2;"],
        )
    });
    reg.inside(
        "terminal",
        "attach_decrqss_query_reaches_no_terminal",
        |e| attach_prints(e, "decrqss", r"\033P$qm\033\\", &["\x1bP"]),
    );
    reg.inside(
        "terminal",
        "attach_xtgettcap_query_reaches_no_terminal",
        |e| attach_prints(e, "xtgettcap", r"\033P+q544e\033\\", &["\x1bP"]),
    );
    reg.inside(
        "terminal",
        "attach_tmux_passthrough_reaches_no_terminal",
        |e| {
            attach_prints(
                e,
                "tmux",
                r"\033Ptmux;\033\033]52;c;ZXZpbA==\007\033\\",
                &["\x1bP", "\x1b]52"],
            )
        },
    );
    reg.inside("terminal", "attach_c1_controls_reach_no_terminal", |e| {
        // C1 CSI, OSC and ST as UTF-8 code points (what a UTF-8 terminal
        // may act on).
        attach_prints(
            e,
            "c1",
            r"\302\23331m\302\23552;c;ZXZpbA==\302\234",
            &["\u{9b}", "\u{9d}", "\u{9c}"],
        )
    });
    reg.inside(
        "terminal",
        "attach_terminal_queries_reach_no_terminal",
        |e| {
            attach_prints(
                e,
                "queries",
                r"\033[c\033[>c\033[5n\033[>q\033[18t\033[21t\033[?2004$p\033]11;?\007\033Z",
                &[
                    "\x1b[c",
                    "\x1b[>c",
                    "\x1b[5n",
                    "\x1b[>q",
                    "\x1b[18t",
                    "\x1b[21t",
                    "\x1b[?2004$p",
                    "\x1b]11",
                    "\x1bZ",
                ],
            )
        },
    );
    reg.inside(
        "terminal",
        "attach_bytes_written_past_the_holder_reach_no_terminal",
        attach_past_the_holder,
    );
    reg.inside(
        "terminal",
        "attach_still_passes_the_alternate_screen_and_colours",
        attach_keeps_full_screen,
    );
    reg.inside(
        "terminal",
        "shell_osc52_clipboard_write_reaches_no_terminal",
        shell_prints,
    );
    reg.inside(
        "terminal",
        "exec_into_a_terminal_osc52_and_title_reach_no_terminal",
        exec_prints,
    );
    reg.inside(
        "terminal",
        "logs_osc52_in_container_output_is_escaped",
        logs_escape_sequences,
    );
    reg.inside(
        "terminal",
        "logs_bidi_tag_and_separator_characters_are_escaped",
        logs_invisible_characters,
    );
    reg.inside(
        "terminal",
        "pane_osc52_hyperlink_title_and_dcs_reach_no_terminal",
        pane_prints,
    );
}

/// This area's own bottle per target (trials here attach to its session,
/// which the shared shell bottle's other users do not expect), and a lock
/// so one trial at a time types into it.
struct Term {
    b: Bottle,
    typing: Mutex<()>,
}

/// Ctrl-b d: `bottle attach` detaches.
const DETACH: &[u8] = b"\x02d";

fn term(e: &Engine) -> Arc<Term> {
    fixture::cached(
        &format!("terminal/{}-{}", e.name, e.runtime.unwrap_or("default")),
        || Term {
            b: Bottle::start(e, "shell", |_, ws| {
                std::fs::write(ws.join("README.md"), "terminal trials\n").expect("write");
            }),
            typing: Mutex::new(()),
        },
    )
}

/// `bottle ARGS` in a PTY of `rows`×`cols`, against `b`'s home.
fn in_pty(b: &Bottle, rows: u16, cols: u16, args: &[&str]) -> PtyApp {
    let home = b.home.display().to_string();
    let dir = b.dir.display().to_string();
    let mut env = vec![("BOTTLE_HOME", home.as_str()), ("HOME", dir.as_str())];
    if let Some(h) = &b.e.host {
        env.push(("DOCKER_HOST", h.as_str()));
    }
    Pty::open(rows, cols).spawn(args, &env, &b.ws)
}

/// Runs `what` with the PTY app, catching a timeout's panic as evidence;
/// then sends `leave` (detach, exit) and waits for the app to end, killing
/// it if it does not.
fn with_app(mut app: PtyApp, leave: &[u8], what: impl FnOnce(&mut PtyApp) -> Outcome) -> Outcome {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| what(&mut app)));
    if leave.is_empty() {
        app.signal(libc::SIGKILL);
    } else {
        app.send(leave);
    }
    // wait_exit kills the app itself after its timeout (and panics).
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| app.wait_exit()));
    match result {
        Ok(outcome) => outcome,
        Err(p) => Err(p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the trial panicked".into())),
    }
}

/// Types `printf 'FORMAT' x` into the attached shell until the output
/// shows `marker` (the format prints it with `%s`, so the echoed command
/// line never matches). Each try starts with Ctrl-U, which clears what an
/// earlier trial's query answers left on the shell's input line.
fn type_printf(app: &mut PtyApp, format: &str, marker: &str) {
    app.wait_for("the prompt", |s| s.contains('$'));
    for _ in 0..3 {
        app.send(b"\x15");
        app.send(format!("printf '{format}' x\r").as_bytes());
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_secs(10) {
            if app.screen_text().contains(marker) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    app.wait_for(marker, |s| s.contains(marker));
}

/// The raw bytes the terminal got, shown with escapes (for evidence).
fn shown(raw: &str) -> String {
    let tail: String = raw
        .chars()
        .rev()
        .take(600)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    tail.escape_debug().to_string()
}

/// None of `forbidden` in `raw`, and SGR red (printed alongside) did pass.
fn judge(raw: &str, forbidden: &[&str], colour: bool) -> Outcome {
    if let Some(f) = forbidden.iter().find(|f| raw.contains(**f)) {
        return Err(format!(
            "{:?} reached the operator's terminal: {}",
            f,
            shown(raw)
        ));
    }
    fixture::ensure(!colour || raw.contains("\x1b[31m"), || {
        format!("colours no longer pass (over-filtered): {}", shown(raw))
    })
}

/// The agent prints `attack` (printf escapes) between SGR red and a
/// marker while the operator is attached.
fn attach_prints(e: &Engine, tag: &str, attack: &str, forbidden: &[&str]) -> Outcome {
    let t = term(e);
    let _one = t.typing.lock().unwrap_or_else(|p| p.into_inner());
    let app = in_pty(&t.b, 24, 100, &["attach", &t.b.slug]);
    with_app(app, DETACH, |app| {
        let marker = format!("DONE-{tag}-x");
        type_printf(
            app,
            &format!(r"\033[31m{attack}DONE-{tag}-%s\033[0m\n"),
            &marker,
        );
        judge(&app.raw_output(), forbidden, true)
    })
}

/// The agent writes straight into every terminal device it can open —
/// the session's and the attach exec's own — so its bytes do not pass
/// the holder's query stripping; the host's filter must still hold.
fn attach_past_the_holder(e: &Engine) -> Outcome {
    let t = term(e);
    let _one = t.typing.lock().unwrap_or_else(|p| p.into_inner());
    let app = in_pty(&t.b, 24, 100, &["attach", &t.b.slug]);
    with_app(app, DETACH, |app| {
        app.wait_for("the prompt", |s| s.contains('$'));
        let (_, wrote) = t.b.sh(
            r"for t in /dev/pts/[0-9]*; do printf '\033]52;c;ZXZpbA==\007\033[c\033[6n\033P+q544e\033\\\033]0;owned\007BYPASS\n' > $t 2>/dev/null && echo wrote $t; done; true",
        );
        // The attach exec's terminal is root's (the exec runs as the
        // holder's user); the session's is the agent's where the runtime
        // honours the holder's filesystem ids (not Debian's gVisor). A
        // terminal the agent may not open at all is refused deeper still.
        let wrote_any = wrote.contains("wrote");
        if !wrote_any && !wrote.contains("Permission denied") {
            return Err(format!(
                "the agent could open no terminal device, and not for want of permission (the attack did not run): {wrote}"
            ));
        }
        if wrote_any {
            app.wait_for("the bytes written past the holder", |s| {
                s.contains("BYPASS")
            });
        }
        type_printf(app, r"\033[31mSYNC-%s\033[0m\n", "SYNC-x");
        judge(
            &app.raw_output(),
            &["\x1b]52", "\x1b[c", "\x1b[6n", "\x1bP", "\x1b]0;"],
            true,
        )
    })
}

/// A full-screen program's own sequences pass: the alternate screen,
/// colours, cursor movement and bracketed paste.
fn attach_keeps_full_screen(e: &Engine) -> Outcome {
    let t = term(e);
    let _one = t.typing.lock().unwrap_or_else(|p| p.into_inner());
    let app = in_pty(&t.b, 24, 100, &["attach", &t.b.slug]);
    with_app(app, DETACH, |app| {
        type_printf(
            app,
            r"\033[?1049h\033[?2004h\033[5;10H\033[38;5;196mIN-ALT\033[0m\033[?2004l\033[?1049lALT-%s\n",
            "ALT-x",
        );
        let raw = app.raw_output();
        for needed in ["\x1b[?1049h", "\x1b[?1049l", "\x1b[5;10H", "\x1b[38;5;196m"] {
            if !raw.contains(needed) {
                return Err(format!(
                    "{needed:?} did not pass (a full-screen agent would break): {}",
                    shown(&raw)
                ));
            }
        }
        Ok(())
    })
}

/// `bottle shell`: the same rules as `attach`.
fn shell_prints(e: &Engine) -> Outcome {
    let t = term(e);
    let app = in_pty(&t.b, 24, 100, &["shell", &t.b.slug]);
    with_app(app, b"exit\r", |app| {
        type_printf(
            app,
            r"\033]52;c;ZXZpbA==\007\033[31mSHELL-%s\033[0m\n",
            "SHELL-x",
        );
        judge(&app.raw_output(), &["\x1b]52"], true)
    })
}

/// `bottle exec` whose output is a terminal.
fn exec_prints(e: &Engine) -> Outcome {
    let t = term(e);
    let app = in_pty(
        &t.b,
        24,
        100,
        &[
            "exec",
            &t.b.slug,
            "--",
            "printf",
            r"\033]52;c;ZXZpbA==\007\033]2;owned\007\033[31mEXEC-%s\033[0m\n",
            "x",
        ],
    );
    with_app(app, b"", |app| {
        app.wait_for("the output", |s| s.contains("EXEC-x"));
        judge(&app.raw_output(), &["\x1b]52", "\x1b]2;"], true)
    })
}

/// The agent writes into the container's own output (what `bottle logs`
/// shows). Refused either way: the write is denied (the holder's output is
/// not the agent's), or `logs` shows the sequence escaped.
fn logs_write(t: &Term, bytes: &str, marker: &str) -> Result<Option<String>, String> {
    let (code, out) = t.b.sh(&format!("printf '{bytes}' > /proc/1/fd/1"));
    if code != 0 {
        return if out.contains("Permission denied") {
            Ok(None)
        } else {
            Err(format!("the write failed another way ({code}): {out}"))
        };
    }
    let start = std::time::Instant::now();
    loop {
        let logs = t.b.bottle(&["logs", &t.b.slug]);
        let text = String::from_utf8_lossy(&logs.stdout).into_owned();
        if text.contains(marker) {
            return Ok(Some(text));
        }
        if start.elapsed() > crate::support::TIMEOUT {
            return Err(format!("the marker never showed in `bottle logs`: {text}"));
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

fn logs_escape_sequences(e: &Engine) -> Outcome {
    let t = term(e);
    let Some(text) = logs_write(
        &t,
        r"\033]52;c;ZXZpbA==\007\033[31mLOGS-osc52\302\233\n",
        "LOGS-osc52",
    )?
    else {
        return Ok(());
    };
    if text.contains('\x1b') || text.contains('\u{9b}') {
        return Err(format!("raw escapes in `bottle logs`: {}", shown(&text)));
    }
    fixture::ensure(
        text.contains(r"\u{1b}]52;c;ZXZpbA==\u{7}") && text.contains(r"\u{9b}"),
        || format!("not shown as visible escapes: {}", shown(&text)),
    )
}

fn logs_invisible_characters(e: &Engine) -> Outcome {
    let t = term(e);
    // RLO, tag A, line separator, Hangul filler, ZWJ.
    let Some(text) = logs_write(
        &t,
        r"LOGS-inv a\342\200\256b\363\240\201\201c\342\200\250d\343\205\244e\342\200\215f\n",
        "LOGS-inv",
    )?
    else {
        return Ok(());
    };
    for (raw, escaped) in [
        ('\u{202e}', r"\u{202e}"),
        ('\u{e0041}', r"\u{e0041}"),
        ('\u{2028}', r"\u{2028}"),
        ('\u{3164}', r"\u{3164}"),
        ('\u{200d}', r"\u{200d}"),
    ] {
        if text.contains(raw) || !text.contains(escaped) {
            return Err(format!(
                "U+{:04X} not escaped in `bottle logs`: {}",
                raw as u32,
                shown(&text)
            ));
        }
    }
    Ok(())
}

/// A workspace pane onto the bottle: the pane's emulator re-draws, so no
/// string or query sequence reaches the outer terminal.
fn pane_prints(e: &Engine) -> Outcome {
    let t = term(e);
    let _one = t.typing.lock().unwrap_or_else(|p| p.into_inner());
    let app = in_pty(&t.b, 30, 120, &[]);
    with_app(app, b"", |app| {
        app.wait_for("the bottle in the sidebar", |s| s.contains(&t.b.slug));
        // Down to the bottle (after the agents), Enter opens its pane.
        let screen = app.screen_text();
        let agents: usize = screen
            .split("agents (")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(3);
        for _ in 0..agents {
            app.send(b"\x1b[B");
        }
        app.send(b"\r");
        app.wait_for("the pane's prompt", |s| s.contains("agent@"));
        let before = app.raw_output().len();
        app.send(
            b"printf '\\033]52;c;ZXZpbA==\\007\\033]8;;https://evil.invalid/\\033\\\\ln\\033]8;;\\033\\\\\\033]0;owned\\007\\033P$qm\\033\\\\\\033P+q544e\\033\\\\\\033Ptmux;\\033\\033]52;c;eA==\\007\\033\\\\PANE-%s\\n' x\r",
        );
        app.wait_for("the marker", |s| s.contains("PANE-x"));
        let raw = app.raw_output();
        judge(
            &raw[before.min(raw.len())..],
            &["\x1b]52", "\x1b]8;", "\x1b]0;", "\x1bP"],
            false,
        )
    })
}
