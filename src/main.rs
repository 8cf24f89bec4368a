//! `bottle`: parse the command line, set up logging and crash reports, then
//! run a command or the workspace.

use bottle::{cli, crash, logging, state::Home};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // Inside the sidecar and agent containers there is no $BOTTLE_HOME:
    // log to stderr.
    if let Some(
        command @ (cli::Command::Sidecar { .. }
        | cli::Command::SidecarSecrets { .. }
        | cli::Command::SessionHost { .. }),
    ) = &args.command
    {
        logging::init_stderr();
        return match cli::dispatch(&args, command) {
            Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            Err(e) => fail(&e),
        };
    }
    let home = match Home::from_env() {
        Ok(h) => h,
        Err(e) => return fail(&e),
    };
    // Logging problems must not stop `check` or the workspace; say so once.
    let _log_guard = match logging::init(&home) {
        Ok(g) => Some(g),
        Err(e) => {
            say(&format!("bottle: warning: logging disabled: {e:#}"));
            None
        }
    };
    crash::install(home);
    // Only the subcommand's name: its arguments may hold secrets (an
    // `exec` command line, an answer).
    let command = args
        .command
        .as_ref()
        .map(|c| {
            let debug = format!("{c:?}");
            debug
                .split(|ch: char| !ch.is_alphanumeric())
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_else(|| "workspace".into());
    tracing::info!(version = env!("CARGO_PKG_VERSION"), command, "start");
    let result = match &args.command {
        Some(command) => cli::dispatch(&args, command),
        None => cli::workspace(&args),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => fail(&e),
    }
}

fn fail(e: &anyhow::Error) -> ExitCode {
    // Errors can carry agent-made names and text: sanitized (SPEC §4.9),
    // in the log as on the terminal.
    let text = bottle::sanitize::lines(&format!("{e:#}"));
    tracing::error!("{}", bottle::sanitize::inline(&text));
    say(&format!("bottle: error: {text}"));
    ExitCode::from(1)
}

/// A line on stderr; dropped when the terminal is gone (never a panic).
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}
