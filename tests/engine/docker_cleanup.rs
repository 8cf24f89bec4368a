//! `cleanup` on the real engine: orphaned engine objects (state gone) and
//! stale state directories go; stopped bottles stay unless `--all`; pinned
//! bottles always stay; another home's bottles are never touched.

use crate::support::Engine;

use std::path::{Path, PathBuf};
use std::process::Output;

fn bottle(e: &Engine, home: &Path, args: &[&str]) -> Output {
    e.bottle(home, None, args)
}

fn start(e: &Engine, home: &Path) -> String {
    let out = bottle(
        e,
        home,
        &["start", "shell", "--detach", "-y", "--no-workspace"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn objects(e: &Engine, slug: &str) -> usize {
    let label = format!("label=dev.bottle.slug={slug}");
    [
        &["ps", "-aq", "--filter"][..],
        &["network", "ls", "-q", "--filter"],
        &["volume", "ls", "-q", "--filter"],
    ]
    .iter()
    .map(|kind| {
        let mut args = kind.to_vec();
        args.push(&label);
        e.cli(&args).lines().count()
    })
    .sum()
}

struct Homes(Engine, Vec<(PathBuf, String)>);

impl Drop for Homes {
    fn drop(&mut self) {
        for (home, slug) in &self.1 {
            let _ = bottle(&self.0, home, &["rm", slug]);
        }
    }
}

#[test]
fn cleanup_removes_orphans_and_stale_state_but_never_kept_or_foreign_bottles() {
    cleanup_keeps_what_it_must(&crate::support::Engine::default_docker());
}

#[test]
fn under_podman_cleanup_keeps_what_it_must() {
    if let Some(e) = crate::support::engine("podman") {
        cleanup_keeps_what_it_must(&e);
    }
}

fn cleanup_keeps_what_it_must(e: &Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a/home"), dir.path().join("b/home"));
    std::fs::create_dir_all(&a).expect("mkdir");
    std::fs::create_dir_all(&b).expect("mkdir");
    let (orphan, stopped, pinned, foreign) =
        (start(e, &a), start(e, &a), start(e, &a), start(e, &b));
    let _guard = Homes(
        e.clone(),
        vec![
            (a.clone(), orphan.clone()),
            (a.clone(), stopped.clone()),
            (a.clone(), pinned.clone()),
            (b.clone(), foreign.clone()),
        ],
    );
    std::fs::remove_dir_all(a.join("state").join(&orphan)).expect("forget the orphan's state");
    assert!(bottle(e, &a, &["stop", &stopped]).status.success());
    std::fs::write(a.join("state").join(&pinned).join(".preserve"), "").expect("pin");
    let stale = a.join("state/stale-abc123");
    std::fs::create_dir_all(&stale).expect("mkdir");
    std::fs::write(stale.join("metadata.json"), "{}").expect("write");

    let listed = bottle(e, &a, &["cleanup"]);
    let text = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        text.contains(&orphan) && text.contains("stale-abc123"),
        "lists first: {text}"
    );
    assert!(
        !text.contains(&stopped) && !text.contains(&pinned) && !text.contains(&foreign),
        "{text}"
    );
    assert_eq!(
        listed.status.code(),
        Some(1),
        "without a terminal or -y nothing is removed"
    );
    assert!(objects(e, &orphan) > 0);

    let cleaned = bottle(e, &a, &["cleanup", "-y"]);
    assert!(
        cleaned.status.success(),
        "{}",
        String::from_utf8_lossy(&cleaned.stderr)
    );
    assert_eq!(objects(e, &orphan), 0, "orphaned objects removed");
    assert!(!stale.exists(), "stale state removed");
    assert_eq!(
        objects(e, &stopped),
        2,
        "the stopped bottle keeps its volumes"
    );

    let all = bottle(e, &a, &["cleanup", "-y", "--all"]);
    assert!(
        all.status.success(),
        "{} (stopped {stopped}, pinned {pinned}, foreign {foreign}; containers: {})",
        String::from_utf8_lossy(&all.stderr),
        e.cli(&["ps", "-a", "--format", "{{.ID}} {{.Names}} {{.Status}}"])
    );
    assert_eq!(objects(e, &stopped), 0, "--all removes stopped bottles");
    assert!(!a.join("state").join(&stopped).exists());
    assert!(
        objects(e, &pinned) > 0 && a.join("state").join(&pinned).exists(),
        "pinned bottles stay"
    );
    assert!(
        objects(e, &foreign) > 0,
        "another home's bottle is untouched"
    );
}
