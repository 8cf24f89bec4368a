//! An agent that exits before anyone attaches (a rejected login, a bad
//! flag) leaves its last screen, not only "exited N": the session holder
//! saves it in the stopped container, and a pane opened on the bottle
//! afterwards shows it with the status. The sidebar and the pane title say
//! the bottle proved its isolation at launch.

use crate::support::{Engine, Pty};
use std::time::{Duration, Instant};

struct Remove<'a>(&'a Engine, &'a std::path::Path, String);

impl Drop for Remove<'_> {
    fn drop(&mut self) {
        let _ = self.0.bottle(self.1, None, &["rm", &self.2]);
    }
}

#[test]
fn an_agent_that_exited_before_the_pane_leaves_its_last_screen() {
    let e = Engine::default_docker();
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    let slug = e.start_shell(&home);
    let _guard = Remove(&e, &home, slug.clone());

    // The agent says why it gives up, on its own terminal, and dies.
    let script = "for d in /proc/[0-9]*; do t=$(readlink $d/fd/0 2>/dev/null); \
                  case \"$t\" in /dev/pts/*) echo 'login rejected: bad token' > \"$t\"; \
                  kill -9 ${d#/proc/};; esac; done; true";
    let out = e.bottle(&home, None, &["exec", &slug, "--", "sh", "-c", script]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let agent = format!("bottle-{slug}-agent");
    let start = Instant::now();
    while e.cli(&["inspect", "-f", "{{.State.Running}}", &agent]) == "true" {
        assert!(
            start.elapsed() < crate::support::TIMEOUT,
            "the agent container never stopped"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let (h, hh) = (home.display().to_string(), dir.path().display().to_string());
    let mut app = Pty::open(30, 120).spawn(
        &[],
        &[("BOTTLE_HOME", h.as_str()), ("HOME", hh.as_str())],
        &ws,
    );
    // Its launch proved its isolation: the sidebar says so.
    app.wait_for("the bottle in the sidebar, isolated", |s| {
        s.contains(&slug) && s.contains("exited 137 · isolated")
    });
    // The three built-in agents, then the bottle.
    for _ in 0..3 {
        app.send(b"\x1b[B");
    }
    app.send(b"\r");
    app.wait_for("the agent's last words and its status", |s| {
        s.contains("login rejected: bad token")
            && s.contains(&format!("{slug} · isolated · exited 137"))
    });
    app.send(b"\x02q");
    app.wait_exit();
}
