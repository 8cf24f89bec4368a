//! Stopping a bottle's agent container (the workspace's stop, `docker
//! stop`) reaches the agent: the engine signals the session holder (PID 1),
//! which passes SIGHUP and SIGTERM on to the agent's uid (CAP_KILL, issue
//! 20). Before, the holder had no right to, and the agent was killed
//! without a word after the engine's grace period (status 137).

use crate::support::Engine;

struct Remove<'a>(&'a Engine, &'a std::path::Path, String);

impl Drop for Remove<'_> {
    fn drop(&mut self) {
        let _ = self.0.bottle(self.1, None, &["rm", &self.2]);
    }
}

#[test]
fn stopping_the_agent_container_hangs_up_the_agent() {
    let e = Engine::default_docker();
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let slug = e.start_shell(&home);
    let _guard = Remove(&e, &home, slug.clone());
    let agent = format!("bottle-{slug}-agent");
    // A long grace: an agent the stop never reached would end by the
    // engine's SIGKILL (137) only after it.
    e.cli(&["stop", "-t", "60", &agent]);
    let code = e.cli(&["inspect", "-f", "{{.State.ExitCode}}", &agent]);
    // The agent, an interactive bash, ends on the hang-up: 128 + SIGHUP.
    assert_eq!(code, "129", "the agent's end: {}", e.cli(&["logs", &agent]));
}
