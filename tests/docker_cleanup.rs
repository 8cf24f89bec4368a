//! `cleanup` on the real engine: orphaned engine objects (state gone) and
//! stale state directories go; stopped bottles stay unless `--all`; pinned
//! bottles always stay; another home's bottles are never touched.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bottle(home: &Path, args: &[&str]) -> Output {
    common::run_bottle(home, None, args)
}

fn start(home: &Path) -> String {
    let out = bottle(
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

fn objects(slug: &str) -> usize {
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
        let out = Command::new("docker").args(&args).output().expect("docker");
        String::from_utf8_lossy(&out.stdout).lines().count()
    })
    .sum()
}

struct Homes(Vec<(PathBuf, String)>);

impl Drop for Homes {
    fn drop(&mut self) {
        for (home, slug) in &self.0 {
            let _ = bottle(home, &["rm", slug]);
        }
    }
}

#[test]
fn cleanup_removes_orphans_and_stale_state_but_never_kept_or_foreign_bottles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a/home"), dir.path().join("b/home"));
    std::fs::create_dir_all(&a).expect("mkdir");
    std::fs::create_dir_all(&b).expect("mkdir");
    let (orphan, stopped, pinned, foreign) = (start(&a), start(&a), start(&a), start(&b));
    let _guard = Homes(vec![
        (a.clone(), orphan.clone()),
        (a.clone(), stopped.clone()),
        (a.clone(), pinned.clone()),
        (b.clone(), foreign.clone()),
    ]);
    std::fs::remove_dir_all(a.join("state").join(&orphan)).expect("forget the orphan's state");
    assert!(bottle(&a, &["stop", &stopped]).status.success());
    std::fs::write(a.join("state").join(&pinned).join(".preserve"), "").expect("pin");
    let stale = a.join("state/stale-abc123");
    std::fs::create_dir_all(&stale).expect("mkdir");
    std::fs::write(stale.join("metadata.json"), "{}").expect("write");

    let listed = bottle(&a, &["cleanup"]);
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
    assert!(objects(&orphan) > 0);

    assert!(bottle(&a, &["cleanup", "-y"]).status.success());
    assert_eq!(objects(&orphan), 0, "orphaned objects removed");
    assert!(!stale.exists(), "stale state removed");
    assert_eq!(objects(&stopped), 2, "the stopped bottle keeps its volumes");

    assert!(bottle(&a, &["cleanup", "-y", "--all"]).status.success());
    assert_eq!(objects(&stopped), 0, "--all removes stopped bottles");
    assert!(!a.join("state").join(&stopped).exists());
    assert!(
        objects(&pinned) > 0 && a.join("state").join(&pinned).exists(),
        "pinned bottles stay"
    );
    assert!(objects(&foreign) > 0, "another home's bottle is untouched");
}
