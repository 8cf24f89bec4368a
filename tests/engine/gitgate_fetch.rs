//! `bottle fetch`'s transport on a real bottle (SPEC §5.5):
//! `Backend::sidecar_exec` runs in the sidecar container with its extra
//! environment and both streams live at once (a ping-pong: each line goes
//! in only after the answer to the one before came out; the end of input
//! reaches the command), and `bottle fetch` reaches the gate's repository
//! path in the sidecar through git's upload-pack relay, landing nothing
//! while there is nothing to land. A fetch that lands objects is the
//! gate's own test (it needs the sidecar's `/gitgate` volume); the
//! offline `fetch` tests cover landing and refusing with the fake engine.

use crate::support::Engine;
use bottle::backends::Stream;
use bottle::state::names::Slug;
use bottle::state::Home;
use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;

/// Stdin fed from a channel: ends when the sender is dropped.
struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    pending: Vec<u8>,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            match self.rx.recv() {
                Ok(chunk) => self.pending = chunk,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Op")
        .env("GIT_AUTHOR_EMAIL", "op@bottle.test")
        .env("GIT_COMMITTER_NAME", "Op")
        .env("GIT_COMMITTER_EMAIL", "op@bottle.test")
        .status()
        .expect("git");
    assert!(ok.success(), "git {args:?}");
}

#[test]
fn the_sidecar_exec_streams_both_ways_and_fetch_reaches_the_gate_path() {
    let e = Engine::default_docker();
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    std::fs::write(ws.join("README"), "hi\n").expect("write");
    git(&ws, &["init", "-q"]);
    git(&ws, &["add", "README"]);
    git(&ws, &["commit", "-q", "-m", "base"]);
    let out = e.bottle(&home, Some(&ws), &["start", "shell", "--detach", "-y"]);
    let slug = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checks = std::panic::catch_unwind(|| {
        let backend = bottle::backends::for_bottle(&Home { root: home.clone() }, &slug);
        let slug = Slug::parse(&slug).expect("slug");
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        tx.send(b"one\n".to_vec()).expect("send");
        let mut tx = Some(tx);
        let (mut out, mut err) = (String::new(), String::new());
        let cmd: Vec<String> = [
            "/bin/sh",
            "-c",
            "while read l; do echo \"got:$l:$BOTTLE_T\"; done; echo bye >&2",
        ]
        .map(String::from)
        .to_vec();
        let code = backend
            .sidecar_exec(
                &slug,
                &cmd,
                &[("BOTTLE_T".into(), "v1".into())],
                Box::new(ChannelReader {
                    rx,
                    pending: Vec::new(),
                }),
                &mut |stream, chunk| {
                    let text = String::from_utf8_lossy(chunk);
                    match stream {
                        Stream::Stdout => out.push_str(&text),
                        Stream::Stderr => err.push_str(&text),
                    }
                    // The next line only once the answer came back; the
                    // end of input after the second.
                    if out.contains("got:two:v1") {
                        tx = None;
                    } else if out.contains("got:one:v1") {
                        if let Some(tx) = &tx {
                            let _ = tx.send(b"two\n".to_vec());
                        }
                    }
                    Ok(())
                },
            )
            .expect("sidecar exec");
        assert_eq!(code, 0, "stderr: {err}");
        assert_eq!(out, "got:one:v1\ngot:two:v1\n");
        assert_eq!(err, "bye\n");

        // The fetch reaches the gate's path in the sidecar; with nothing
        // pushed, nothing lands. (Before the gate keeps a repository
        // there, the sidecar's own words say so and the fetch fails.)
        let fetch = e.bottle(&home, Some(&ws), &["fetch", slug.as_str()]);
        let said = String::from_utf8_lossy(&fetch.stderr).into_owned();
        if fetch.status.success() {
            assert!(said.contains("nothing new"), "{said}");
        } else {
            assert!(
                said.contains("the git gate has no repository /gitgate/workspace.git")
                    && said.contains("nothing landed"),
                "{said}"
            );
        }
        let refs = Command::new("git")
            .arg("-C")
            .arg(&ws)
            .args(["for-each-ref", "refs/remotes/bottle/"])
            .output()
            .expect("git");
        assert_eq!(String::from_utf8_lossy(&refs.stdout), "");
    });
    let rm = e.bottle(&home, Some(&ws), &["rm", &slug]);
    assert!(
        rm.status.success(),
        "{}",
        String::from_utf8_lossy(&rm.stderr)
    );
    if let Err(p) = checks {
        std::panic::resume_unwind(p);
    }
}
