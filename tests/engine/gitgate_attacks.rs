//! The git gate (SPEC §5.5) attacked from inside a real bottle: the agent,
//! with its own git, curl and plumbing, tries to get a secret past the
//! push scan (through merges, binary files, quoted and empty file names,
//! commit headers, message encodings, lines longer than the scanner's
//! read, tags), to update refs it may not, and to reach other files and
//! services through the gate's URL. Every attack must be refused, and
//! nothing of it may land upstream. All attacks run on one bottle; each
//! failure is collected and reported together at the end.

use crate::support::gitserver::{self, GitServers};
use crate::support::standin::Bottle;
use crate::support::Engine;

/// A shape the DLP rules know (AWS access key id), not a real key.
const AWS: &str = "AKIAZ7QWERTYUIOPASDF";

fn define(home: &std::path::Path, g: &GitServers) {
    let frontmatter = format!(
        "agent_provider: {{ template: shell }}\n\
         git-gate:\n  user: {{ name: \"Agent\", email: \"agent@bottle.test\" }}\n  repos:\n\
         \x20   app: {{ url: \"{app}\", identity: \"{key}\", host_key: \"{hk}\" }}\n\
         \x20   rel: {{ url: \"{rel}\", identity: \"{key}\", host_key: \"{hk}\", push_branches: [\"bottle/*\", \"refs/tags/*\"] }}\n",
        app = g.ssh_url("app"),
        rel = g.ssh_url("rel"),
        key = g.client_key_path().display(),
        hk = g.host_key_line(),
    );
    crate::support::define(home, "attack", &frontmatter);
}

/// Failures collected across attacks (one bottle for all of them).
#[derive(Default)]
struct Verdicts(Vec<String>);

impl Verdicts {
    fn check(&mut self, attack: &str, ok: bool, detail: &str) {
        if ok {
            eprintln!("held: {attack}");
        } else {
            eprintln!("HOLE: {attack}\n{detail}");
            self.0.push(format!("{attack}:\n{detail}"));
        }
    }
}

#[test]
fn the_git_gate_holds_against_an_agent_attacking_it() {
    if !gitserver::required() {
        return;
    }
    let e = Engine::default_docker();
    let tag = ulid::Ulid::new().to_string().to_lowercase();
    let g = GitServers::start(&tag[tag.len() - 8..]);
    let app_main = g.init_repo("app");
    g.init_repo("rel");
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path().join("home");
    define(&home, &g);
    let b = Bottle::start(&e, &home, "attack", &[], &g.net);
    let sh = |script: &str| b.sh(&format!("cd /tmp && {{ {script} ; }} 2>&1"));
    let mut v = Verdicts::default();

    let (code, out) = sh(&format!(
        "git clone -q {} app && git clone -q {} rel && echo cloned",
        g.ssh_url("app"),
        g.ssh_url("rel")
    ));
    assert_eq!(code, 0, "{out}");

    // Each attack: a branch from main, a script, a push that must be
    // refused with `needle`, and nothing landing upstream.
    // The agent is shown where (a file name may repeat what it wrote);
    // the sidecar's log never holds the value.
    let refused = |v: &mut Verdicts, name: &str, branch: &str, script: &str, needle: &str| {
        let (code, out) = sh(&format!(
            "cd app && git checkout -q -B {branch} origin/main && {{ {script} ; }} && git push origin {branch}"
        ));
        let landed = g.log("app", branch);
        v.check(
            name,
            code != 0
                && out.contains(needle)
                && landed.is_empty()
                && (!out.contains(AWS) || out.contains(&format!("file name k-{AWS}"))),
            &format!("exit {code}, landed {landed:?}, expected `{needle}`:\n{out}"),
        );
    };

    // A secret reachable only through a merge's second parent (the merge
    // itself adds nothing against its first parent).
    refused(
        &mut v,
        "secret behind a merge's second parent",
        "bottle/merge",
        &format!(
            "git checkout -q -b side && echo '{AWS}' > s.txt && git add s.txt && git commit -qm side \
             && git checkout -q bottle/merge && git merge -q -s ours --no-edit side"
        ),
        "s.txt:1: aws-access-key",
    );
    // In a binary file (NUL bytes).
    refused(
        &mut v,
        "secret in a binary file",
        "bottle/binary",
        &format!(
            "printf 'a\\000b\\000{AWS}\\000\\n' > bin.dat && git add bin.dat && git commit -qm bin"
        ),
        "bin.dat:1: aws-access-key",
    );
    // In a file under a name git quotes (non-ASCII and a newline).
    refused(
        &mut v,
        "secret in a file with a quoted name",
        "bottle/quoted",
        &format!("f=$(printf 'caf\\303\\251\\nx.txt') && echo '{AWS}' > \"$f\" && git add -A && git commit -qm q"),
        ":1: aws-access-key",
    );
    // In the name of an empty file (no `+++` line in the patch).
    refused(
        &mut v,
        "secret in an empty file's name",
        "bottle/emptyname",
        &format!(": > 'k-{AWS}' && git add -A && git commit -qm empty"),
        "aws-access-key",
    );
    // In the author's name, the committer's e-mail.
    refused(
        &mut v,
        "secret in the author name",
        "bottle/author",
        &format!("echo a > a.txt && git add a.txt && GIT_AUTHOR_NAME='{AWS}' git commit -qm a"),
        "aws-access-key",
    );
    refused(
        &mut v,
        "secret in the committer e-mail",
        "bottle/committer",
        &format!("echo c > c.txt && git add c.txt && GIT_COMMITTER_EMAIL='{AWS}@x.test' git commit -qm c"),
        "aws-access-key",
    );
    // In an extra commit header git log never shows.
    refused(
        &mut v,
        "secret in an extra commit header",
        "bottle/header",
        &format!(
            "c=$(printf 'tree %s\\nparent %s\\nauthor A <a@x.test> 1 +0000\\ncommitter A <a@x.test> 1 +0000\\nx-note {AWS}\\n\\nheader\\n' \
             $(git rev-parse HEAD^{{tree}}) $(git rev-parse HEAD) | git hash-object -t commit -w --stdin) \
             && git reset -q --hard $c"
        ),
        "aws-access-key",
    );
    // In a message whose `encoding` header makes git log re-encode it
    // (UTF-16LE: the raw ASCII bytes become other characters).
    refused(
        &mut v,
        "secret in a re-encoded commit message",
        "bottle/encoding",
        &format!(
            "c=$(printf 'tree %s\\nparent %s\\nauthor A <a@x.test> 1 +0000\\ncommitter A <a@x.test> 1 +0000\\nencoding UTF-16LE\\n\\n{AWS}\\n\\n' \
             $(git rev-parse HEAD^{{tree}}) $(git rev-parse HEAD) | git hash-object -t commit -w --stdin) \
             && git reset -q --hard $c"
        ),
        "aws-access-key",
    );
    // After more than a MiB on one line (the scanner reads lines in
    // bounded pieces).
    refused(
        &mut v,
        "secret across the 1 MiB piece boundary of a long line",
        "bottle/longline",
        &format!(
            "{{ head -c 1048564 /dev/zero | tr '\\000' x; echo ' {AWS}'; }} > long.txt && git add long.txt && git commit -qm long"
        ),
        "long.txt:1: aws-access-key",
    );
    refused(
        &mut v,
        "secret across the 1 MiB piece boundary of a commit message line",
        "bottle/longmsg",
        &format!(
            "{{ echo subject; echo; head -c 1048565 /dev/zero | tr '\\000' x; echo ' {AWS}'; }} > /tmp/msg \
             && echo m > m.txt && git add m.txt && git commit -q -F /tmp/msg"
        ),
        "aws-access-key",
    );
    // Split over two commits: the second completes a line the first began.
    refused(
        &mut v,
        "secret completed by a second commit",
        "bottle/split",
        &format!(
            "echo 'k={}' > sp.txt && git add sp.txt && git commit -qm one && echo 'k={AWS}' > sp.txt \
             && git commit -qam two",
            &AWS[..10]
        ),
        "sp.txt:1: aws-access-key",
    );
    // A NUL in a commit message (text git log does not show).
    refused(
        &mut v,
        "NUL in a commit message",
        "bottle/nul",
        "c=$(printf 'tree %s\\nparent %s\\nauthor A <a@x.test> 1 +0000\\ncommitter A <a@x.test> 1 +0000\\n\\nsubject\\000hidden\\n' \
         $(git rev-parse HEAD^{tree}) $(git rev-parse HEAD) | git hash-object -t commit --literally -w --stdin) \
         && git reset -q --hard $c",
        "nulInCommit",
    );
    // .gitmodules with an option-shaped URL.
    refused(
        &mut v,
        ".gitmodules URL injection",
        "bottle/submodule",
        "printf '[submodule \"x\"]\\n\\tpath = x\\n\\turl = --upload-pack=touch$IFS/tmp/pwned\\n' > .gitmodules \
         && git add .gitmodules && git commit -qm sm",
        "gitmodulesUrl",
    );

    // An annotated tag (secret in its message) alongside a branch, where
    // tags are not allowed: the whole push is refused and the tag object
    // does not reach the upstream.
    let (code, out) = sh(&format!(
        "cd app && git checkout -q -B bottle/tagged origin/main && echo t > t.txt && git add t.txt \
         && git commit -qm t && git tag -a -m 'msg {AWS}' t1 && git rev-parse t1 > /tmp/t1 \
         && git push origin bottle/tagged refs/tags/t1"
    ));
    let tag_id = sh("cat /tmp/t1").1.trim().to_string();
    let (present, _) = g.exec_git(&format!("git -C /srv/git/app.git cat-file -e {tag_id}"));
    v.check(
        "annotated tag alongside a branch (tags not allowed)",
        code != 0
            && out.contains("refs/tags/t1: outside")
            && g.log("app", "bottle/tagged").is_empty()
            && present != 0,
        &format!("exit {code}, tag object upstream: {}:\n{out}", present == 0),
    );

    // Where tags are allowed: a clean tag lands, but a tag of a blob, a
    // tagger carrying the secret and a secret nine tags deep do not.
    let (code, out) =
        sh("cd rel && git tag -a -m 'release one' v1 && git push origin refs/tags/v1");
    v.check(
        "a clean annotated tag lands (control)",
        code == 0 && g.refs("rel").iter().any(|(_, r)| r == "refs/tags/v1"),
        &format!("exit {code}:\n{out}"),
    );
    let tag_refused = |v: &mut Verdicts, name: &str, tag: &str, script: &str, needle: &str| {
        let (code, out) = sh(&format!(
            "cd rel && {{ {script} ; }} && git push origin refs/tags/{tag}"
        ));
        let landed = g
            .refs("rel")
            .iter()
            .any(|(_, r)| r == &format!("refs/tags/{tag}"));
        v.check(
            name,
            code != 0 && out.contains(needle) && !landed && !out.contains(AWS),
            &format!("exit {code}, landed {landed}, expected `{needle}`:\n{out}"),
        );
    };
    tag_refused(
        &mut v,
        "a tag of a blob holding the secret",
        "tblob",
        &format!(
            "b=$(printf '{AWS}\\n' | git hash-object -w --stdin) && git tag -a -m fine tblob $b"
        ),
        "not a commit",
    );
    tag_refused(
        &mut v,
        "a tag of a tree holding the secret",
        "ttree",
        &format!(
            "b=$(printf '{AWS}\\n' | git hash-object -w --stdin) \
             && t=$(printf '100644 blob %s\\tk.txt\\n' $b | git mktree) && git tag -a -m fine ttree $t"
        ),
        "not a commit",
    );
    tag_refused(
        &mut v,
        "the secret as the tagger's name",
        "ttagger",
        &format!("GIT_COMMITTER_NAME='{AWS}' git tag -a -m fine ttagger"),
        "aws-access-key",
    );
    tag_refused(
        &mut v,
        "the secret in a tag nine tags deep",
        "tdeep",
        &format!(
            "git tag -a -m 'inner {AWS}' d0 && i=1 && while [ $i -le 9 ]; do \
             git -c advice.nestedTag=false tag -a -m \"level $i\" d$i d$((i-1)); i=$((i+1)); done \
             && git tag -a -m outer tdeep d9 2>/dev/null; git tag -d d0 d1 d2 d3 d4 d5 d6 d7 d8 d9 >/dev/null"
        ),
        "aws-access-key",
    );

    // The secret as the branch's name (a ref name goes upstream too).
    let (code, out) = sh(&format!(
        "cd app && git checkout -q -B bottle/{AWS} origin/main && echo n > n.txt && git add n.txt \
         && git commit -qm n && git push origin bottle/{AWS}"
    ));
    let landed = g.refs("app").iter().any(|(_, r)| r.contains(AWS));
    v.check(
        "the secret as a branch name",
        code != 0 && out.contains("a pushed ref's name: aws-access-key") && !landed,
        &format!("exit {code}, landed {landed}:\n{out}"),
    );

    // A push option: not advertised, so git will not send one.
    let (code, out) = sh(
        "cd app && git checkout -q -B bottle/opt origin/main && echo o > o.txt && git add o.txt \
         && git commit -qm o && git push -o ci.skip origin bottle/opt",
    );
    v.check(
        "push options",
        code != 0 && out.contains("push options") && g.log("app", "bottle/opt").is_empty(),
        &format!("exit {code}:\n{out}"),
    );

    // Raw protocol, past the agent's git's own checks: a funny ref name,
    // and a gzip'd request body with a secret in its pack.
    let raw_push = |refname: &str, gzip: bool| {
        sh(&format!(
            "cd app && z=0000000000000000000000000000000000000000 && new=$(git rev-parse HEAD) \
             && line=\"$z $new {refname}\" && caps=report-status \
             && printf '%04x%s\\000%s\\n0000' $(( ${{#line}} + ${{#caps}} + 6 )) \"$line\" \"$caps\" > /tmp/body \
             && printf '%s\\n^%s\\n' $new $(git rev-parse origin/main) | git pack-objects -q --stdout --revs >> /tmp/body \
             && {} curl -sS --max-time 120 -H 'Content-Type: application/x-git-receive-pack-request' {} \
             --data-binary @/tmp/body{} http://gitgate:9420/app.git/git-receive-pack | tr -d '\\000' | cat -v",
            if gzip { "gzip -kf /tmp/body &&" } else { "" },
            if gzip { "-H 'Content-Encoding: gzip'" } else { "" },
            if gzip { ".gz" } else { "" },
        ))
    };
    let (_, out) = sh("cd app && git checkout -q -B bottle/raw origin/main && echo r > r.txt && git add r.txt && git commit -qm r");
    let _ = out;
    let (_, out) = raw_push("refs/heads/bottle/../main", false);
    v.check(
        "a funny ref name in a raw push",
        out.contains("ng refs/heads/bottle/../main") && g.log("app", "main").len() == 1,
        &out,
    );
    let (_, out) = sh(&format!(
        "cd app && git checkout -q -B bottle/gz origin/main && echo '{AWS}' > gz.txt && git add gz.txt && git commit -qm gz"
    ));
    let _ = out;
    let (_, out) = raw_push("refs/heads/bottle/gz", true);
    v.check(
        "a gzip'd raw push with a secret",
        out.contains("unpack ok")
            && out.contains("ng refs/heads/bottle/gz")
            && g.log("app", "bottle/gz").is_empty(),
        &out,
    );

    // Concurrent pushes: each decided on its own, the secret one refused.
    let (_, out) = sh(&format!(
        "cd app && for n in 1 2 3; do git checkout -q -B bottle/c$n origin/main && echo $n > c$n.txt \
         && if [ $n = 2 ]; then echo '{AWS}' >> c$n.txt; fi && git add c$n.txt && git commit -qm c$n; done \
         && for n in 1 2 3; do (git push -q origin bottle/c$n > /tmp/push$n 2>&1; echo \"exit$n $?\" >> /tmp/push$n) & done; wait; cat /tmp/push1 /tmp/push2 /tmp/push3"
    ));
    v.check(
        "concurrent pushes",
        out.contains("exit1 0")
            && out.contains("exit3 0")
            && !out.contains("exit2 0")
            && g.log("app", "bottle/c1").len() == 2
            && g.log("app", "bottle/c3").len() == 2
            && g.log("app", "bottle/c2").is_empty(),
        &out,
    );

    // Symlinks out of the tree: stored as their target's name, never
    // followed, by the gate or by a clone through it.
    let (code, out) = sh(
        "cd app && git checkout -q -B bottle/links origin/main && ln -s /etc/passwd passwd \
         && ln -s /run/secrets sec && git add passwd sec && git commit -qm links && git push -q origin bottle/links \
         && cd /tmp && rm -rf again && git clone -q -b bottle/links http://gitgate:9420/app.git again \
         && git -C again cat-file -p HEAD:passwd && echo && git -C again cat-file -p HEAD:sec && echo",
    );
    v.check(
        "symlinks to /etc/passwd and the secrets dir",
        code == 0 && out.contains("/etc/passwd") && !out.contains("root:"),
        &format!("exit {code}:\n{out}"),
    );

    // The URL: only the smart-protocol paths of this bottle's
    // repositories; nothing of the files beside them.
    for path in [
        "/app.git/HEAD",
        "/app.git/config",
        "/app.git/info/refs",
        "/app.git/objects/info/packs",
        "/app.git/hooks/pre-receive",
        "/app.git/../../etc/passwd",
        "/../../etc/passwd",
        "/app.git/%2e%2e/%2e%2e/etc/passwd",
        "/%2e%2e/etc.git/info/refs?service=git-upload-pack",
        "/.hooks.git/info/refs?service=git-upload-pack",
        "/workspace.git/info/refs?service=git-upload-pack",
        "/app.git/info/refs?service=git-upload-pack&x=1",
        "/app.git/info/refs?service=git-upload-archive",
        "//app.git/info/refs?service=git-upload-pack",
    ] {
        let out = b.curl(&format!(
            "--path-as-is -o /dev/null -w '%{{http_code}}' 'http://gitgate:9420{path}'"
        ));
        v.check(&format!("GET {path}"), out.trim() == "404", &out);
    }
    let (code, out) =
        sh("cd app && git push http://gitgate:9420/workspace.git HEAD:refs/heads/bottle/ws");
    v.check(
        "a push to workspace.git in a bottle without one",
        code != 0 && out.contains("no repository `workspace`"),
        &format!("exit {code}:\n{out}"),
    );

    // The sidecar's log: the gate's decisions, never the value.
    let names = bottle::state::names::Names::for_slug(
        &bottle::state::names::Slug::parse(&b.slug).expect("slug"),
    );
    let logs = std::process::Command::new("docker")
        .args(["logs", &names.sidecar_container])
        .output()
        .expect("docker logs");
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&logs.stdout),
        String::from_utf8_lossy(&logs.stderr)
    );
    v.check(
        "the sidecar log holds decisions, not the value",
        logs.contains("\"decision\":\"refused\"") && !logs.contains(AWS),
        &logs
            .lines()
            .filter(|l| l.contains(AWS))
            .take(5)
            .collect::<Vec<_>>()
            .join("\n"),
    );

    // main is untouched by all of it.
    assert_eq!(g.log("app", "main").len(), 1);
    let _ = app_main;
    assert!(
        v.0.is_empty(),
        "{} attack(s) got through:\n\n{}",
        v.0.len(),
        v.0.join("\n\n")
    );
}
