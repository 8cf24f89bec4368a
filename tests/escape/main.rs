//! The escape suite (issue 18, SPEC §4): every attack of the security pass,
//! as one named trial per attack and per target. In-bottle attacks run as
//! the agent (uid 1000) inside real bottles under runc, runsc (when the
//! engine offers it) and Podman; host-side attacks feed agent-made data to
//! the host commands. Each trial asserts the specific refusal.
//!
//! A custom harness (libtest-mimic) so that bottles are shared by the
//! trials of one target and removed once at the end, and so that this same
//! static executable doubles as the attack tool copied into bottles
//! (`escape tool <attack> …`, see `tool.rs`).
//!
//! Trial names: `<target>::<area>::<what it attempts>`, e.g.
//! `runc::network::udp_broadcast_reaches_no_host_socket`. Filter as with
//! libtest: `cargo test --test escape -- runc::network`.

#![allow(dead_code)]

#[path = "../support/mod.rs"]
mod support;

mod fixture;
mod tool;

mod approval;
mod egress;
mod export;
mod holder;
mod network;
mod runtime;
mod terminal;

use fixture::Registry;

fn main() {
    if let Some(code) = tool::dispatch() {
        std::process::exit(code);
    }
    let args = libtest_mimic::Arguments::from_args();
    let mut reg = Registry::default();
    export::register(&mut reg);
    egress::register(&mut reg);
    terminal::register(&mut reg);
    holder::register(&mut reg);
    network::register(&mut reg);
    approval::register(&mut reg);
    runtime::register(&mut reg);
    let conclusion = libtest_mimic::run(&args, reg.into_trials());
    fixture::teardown();
    conclusion.exit();
}
