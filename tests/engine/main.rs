//! Real engines (Docker, runsc, Podman): bottles launched, attacked and
//! removed; egress, supervise, export, secrets, the session holder, the
//! workspace's panes on real bottles, and the real agent CLIs.

#[path = "../support/mod.rs"]
mod support;

mod agents;
mod docker_bottle;
mod docker_cleanup;
mod docker_export;
mod docker_secrets;
mod docker_smoke;
mod docker_start_pty;
mod egress;
mod gitgate;
mod gitgate_attacks;
mod gitgate_fetch;
mod gitserver_standin;
mod last_screen;
mod scale;
mod selfcheck;
mod session_host;
mod start_dry_run;
mod stop_signal;
mod supervise;
mod workspace_flood;
mod workspace_panes;
