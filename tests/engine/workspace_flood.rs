//! Back-pressure: 2 000 characters typed into one pane while another pane
//! floods output arrive whole and in order.

use crate::support::{Engine, Pty};

#[test]
fn typing_into_one_pane_while_another_floods_loses_nothing() {
    let e = Engine::default_docker();
    let dir = tempfile::Builder::new().tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    let mut slugs = Vec::new();
    for _ in 0..2 {
        slugs.push(e.start_shell(&home));
    }
    slugs.sort();
    let (a, b) = (slugs[0].clone(), slugs[1].clone());
    let result = std::panic::catch_unwind(|| {
        let (h, hh) = (home.display().to_string(), dir.path().display().to_string());
        let mut app = Pty::open(40, 140).spawn(
            &[],
            &[("BOTTLE_HOME", h.as_str()), ("HOME", hh.as_str())],
            &ws,
        );
        app.wait_for("both bottles", |s| s.contains(&a) && s.contains(&b));
        app.send(b"\x1b[B\x1b[B\x1b[B\r");
        app.wait_for("the first pane", |s| s.contains(&format!("agent@{a}")));
        app.send(b"\x02\t\x1b[B\r");
        app.wait_for("the second pane", |s| s.contains(&format!("agent@{b}")));
        app.send(b"yes 0123456789abcdefghijklmnopqrstuvwxyz | head -n 100000; echo FLOOD-DONE\r");
        app.send(b"\x02\x1b[D");
        app.send(b"cat > /tmp/typed\r");
        let start = std::time::Instant::now();
        while start.elapsed() < crate::support::TIMEOUT {
            let out = e.bottle(&home, None, &["exec", &a, "--", "pgrep", "-x", "cat"]);
            if out.status.success() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let typed: String = (0..2000)
            .map(|i| (b'a' + (i * 7 % 26) as u8) as char)
            .collect();
        // 40 characters every 20 ms: faster than any typist (a paste
        // arrives as one bracketed paste event instead).
        for chunk in typed.as_bytes().chunks(40) {
            app.send(chunk);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        app.send(b"\r\x04");
        app.wait_for("the flood to end", |s| s.contains("FLOOD-DONE"));
        let start = std::time::Instant::now();
        let got = loop {
            let out = e.bottle(&home, None, &["exec", &a, "--", "cat", "/tmp/typed"]);
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if text.len() >= typed.len() || start.elapsed() > crate::support::TIMEOUT * 3 {
                break text;
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
        };
        assert_eq!(got.len(), typed.len(), "screen:\n{}", app.screen_text());
        assert_eq!(got, typed, "typed input arrives whole and in order");
        app.send(b"\x02q");
        assert_eq!(app.wait_exit(), 0);
    });
    for s in &slugs {
        let _ = e.bottle(&home, None, &["rm", s]);
    }
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}
