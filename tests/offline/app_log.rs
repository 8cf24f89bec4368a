//! The application log tells the story: the real `bottle` binary on the
//! fake engine (`fake:///dir`) and on a queue directory, and what it wrote
//! to `$BOTTLE_HOME/logs/`: one line per stop, rm, cleanup and decision,
//! each with `event=` and `slug=`, failures at WARN, and never a value the
//! request, the note or the answer carried.

use bottle::backends::fake::{FakeBackend, FakeBottle, SCHEME};
use bottle::queue::{self, Kind, RequestFile, RequestId};
use bottle::state::Home;
use serde_json::json;
use std::path::Path;
use std::process::{Command, Output};

fn run(home: &Path, engine: &str, args: &[&str]) -> Output {
    let out = Command::new(crate::support::bottle_bin())
        .current_dir(home)
        .args(args)
        .env("BOTTLE_HOME", home)
        .env("HOME", home)
        .env("DOCKER_HOST", engine)
        .env("CONTAINER_HOST", engine)
        .env_remove("BOTTLE_LOG")
        .output()
        .expect("run bottle");
    out
}

fn ok(out: Output) {
    assert!(
        out.status.success(),
        "bottle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every line of the application log (all its daily files).
fn log(home: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for e in std::fs::read_dir(home.join("logs"))
        .expect("logs dir")
        .flatten()
    {
        if e.file_name().to_string_lossy().starts_with("bottle.log") {
            let text = std::fs::read_to_string(e.path()).expect("read log");
            lines.extend(text.lines().map(str::to_string));
        }
    }
    lines
}

/// The one line with all of `fields` (exact `key=value` words).
fn line_with<'a>(lines: &'a [String], fields: &[&str]) -> &'a str {
    let hits: Vec<&String> = lines
        .iter()
        .filter(|l| fields.iter().all(|f| l.split_whitespace().any(|w| w == *f)))
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "one line with {fields:?} in:\n{}",
        lines.join("\n")
    );
    hits[0]
}

fn bottle(slug: &str, home_hash: &str) -> FakeBottle {
    FakeBottle {
        slug: slug.into(),
        agent: "shell".into(),
        home: home_hash.into(),
        status: "running".into(),
        command: vec!["/bin/true".into()],
    }
}

#[test]
fn stop_rm_and_cleanup_are_one_line_each_with_the_bottles_slug() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("home");
    let home = Home { root: root.clone() };
    let hash = home.label_hash();
    let engine = format!("{SCHEME}{}", dir.path().join("engine").display());
    let (a, b, orphan, gone) = (
        "shell-aaaaa1",
        "shell-bbbbb2",
        "shell-ccccc3",
        "shell-ddddd4",
    );
    FakeBackend::new(&engine)
        .set_bottles(&[bottle(a, &hash), bottle(b, &hash), bottle(orphan, &hash)])
        .expect("fake bottles");
    // a and b have state; the orphan's is gone; `gone` has state only.
    for s in [a, b, gone] {
        std::fs::create_dir_all(home.state_dir(s)).expect("state");
    }

    ok(run(&root, &engine, &["stop", a]));
    ok(run(&root, &engine, &["rm", b]));
    // Stopping what the engine does not have fails, and says so.
    assert!(!run(&root, &engine, &["stop", gone]).status.success());
    ok(run(&root, &engine, &["cleanup", "-y"]));

    let lines = log(&root);
    let stop = line_with(&lines, &["event=\"stop\"", &format!("slug={a}")]);
    assert!(stop.contains(" INFO "), "{stop}");
    assert!(stop.contains("duration_ms="), "{stop}");
    let rm = line_with(&lines, &["event=\"rm\"", &format!("slug={b}")]);
    assert!(rm.contains(" INFO "), "{rm}");
    let failed = line_with(&lines, &["event=\"stop\"", &format!("slug={gone}")]);
    assert!(
        failed.contains(" WARN ") && failed.contains("error="),
        "a failure is a warning with its reason: {failed}"
    );
    let orphan_line = line_with(&lines, &["event=\"cleanup\"", &format!("slug={orphan}")]);
    assert!(
        orphan_line.contains("containers=") && orphan_line.contains("state=false"),
        "{orphan_line}"
    );
    // `gone` has state and no engine objects: cleanup removes its state.
    let state_line = line_with(&lines, &["event=\"cleanup\"", &format!("slug={gone}")]);
    assert!(state_line.contains("state=true"), "{state_line}");
}

fn request(dir: &Path, kind: Kind, payload: serde_json::Value, reason: &str) -> RequestId {
    let id = RequestId::generate();
    queue::write_request(
        dir,
        &RequestFile {
            id: id.to_string(),
            kind,
            payload,
            reason: reason.into(),
            created_at: "2026-11-23T00:00:00Z".into(),
        },
    )
    .expect("write request");
    id
}

#[test]
fn a_decision_is_one_line_with_who_decided_what_and_no_value_it_carried() {
    const SLUG: &str = "dev-abc123";
    // Values that must never reach the log: in the agent's words, the
    // operator's note and answer, and the route's credential reference.
    const IN_REASON: &str = "tok-reason-7f3a9c";
    const IN_QUESTION: &str = "tok-question-51be2d";
    const IN_ANSWER: &str = "tok-answer-c0ffee";
    const IN_NOTE: &str = "tok-note-9d8e7f";
    const IN_PATH: &str = "tok-path-2468ac";
    const IN_ROUTE: &str = "tok-route-13579b";
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().to_path_buf();
    let home = Home { root: root.clone() };
    let engine = format!("{SCHEME}{}", dir.path().join("engine").display());
    let queue_dir = home.queue_dir().join(SLUG);
    std::fs::create_dir_all(&queue_dir).expect("mkdir");
    let egress = home.state_dir(SLUG).join("egress");
    std::fs::create_dir_all(&egress).expect("mkdir");
    std::fs::write(
        egress.join("routes.json"),
        json!({"version": 1, "routes": [{"host": "api.github.com", "ports": [443], "path_allowlist": ["/repos/acme/"], "auth": {"scheme": "Bearer", "secret": IN_ROUTE, "token_ref": "GH_PAT"}, "source": "definition"}]}).to_string(),
    )
    .expect("routes");

    let question = request(
        &queue_dir,
        Kind::Question,
        json!({ "question": format!("may I use {IN_QUESTION}?") }),
        IN_REASON,
    );
    let egress_req = request(
        &queue_dir,
        Kind::Egress,
        json!({"host": "api.github.com", "path_prefix": format!("/repos/{IN_PATH}/"), "methods": ["GET"]}),
        &format!("I need {IN_REASON}"),
    );
    let rejected = request(
        &queue_dir,
        Kind::Egress,
        json!({"host": "evil.test"}),
        IN_REASON,
    );
    // Approving a question is refused: a warning, nothing decided.
    assert!(!run(&root, &engine, &["approve", &question.to_string()])
        .status
        .success());
    ok(run(
        &root,
        &engine,
        &["answer", &question.to_string(), &format!("use {IN_ANSWER}")],
    ));
    ok(run(&root, &engine, &["approve", &egress_req.to_string()]));
    ok(run(
        &root,
        &engine,
        &["reject", &rejected.to_string(), "--note", IN_NOTE],
    ));

    let lines = log(&root);
    let slug = format!("slug={SLUG}");
    let line = |id: &RequestId, outcome: &str| {
        line_with(
            &lines,
            &[
                "event=\"decision\"",
                &slug,
                &format!("id={id}"),
                "decider=cli",
                &format!("outcome=\"{outcome}\""),
            ],
        )
        .to_string()
    };
    let answered = line(&question, "answered");
    assert!(answered.contains("kind=\"question\""), "{answered}");
    assert!(answered.contains(&format!("answer_len={}", format!("use {IN_ANSWER}").len())));
    let approved = line(&egress_req, "approved");
    assert!(approved.contains("kind=\"egress\"") && approved.contains(" INFO "));
    let rej = line(&rejected, "rejected");
    assert!(
        rej.contains(&format!("note_len={}", IN_NOTE.len())),
        "{rej}"
    );
    let refused = line(&question, "failed");
    assert!(refused.contains(" WARN "), "{refused}");
    let all = lines.join("\n");
    for secret in [
        IN_REASON,
        IN_QUESTION,
        IN_ANSWER,
        IN_NOTE,
        IN_PATH,
        IN_ROUTE,
    ] {
        assert!(
            !all.contains(secret),
            "{secret} reached the application log:\n{all}"
        );
    }
    // The audit log keeps the full record (it is where the words go).
    let audit =
        std::fs::read_to_string(home.audit_dir().join(format!("{SLUG}.jsonl"))).expect("audit");
    assert!(audit.contains(IN_NOTE) && audit.contains(IN_ANSWER));
}
