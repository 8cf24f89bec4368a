//! Many bottles on one engine with its default settings (issue 21): every
//! network of a bottle takes a /28 of bottle's own range
//! (`network_range:`, default 172.16.0.0/16), so the engine's default
//! address pools (about 31 networks on Docker) no longer cap bottles at a
//! dozen; a full range fails the launch with the remedy named, and leaves
//! nothing behind.

use crate::support::Engine;
use std::path::Path;

/// Removes every bottle of a home (containers, networks, volumes), even
/// when the test failed half-way.
struct RemoveAll<'a>(&'a Engine, &'a Path);

impl Drop for RemoveAll<'_> {
    fn drop(&mut self) {
        let _ = self.0.bottle(self.1, None, &["cleanup", "--all", "-y"]);
    }
}

/// The IPv4 subnets of the networks whose names start with `prefix`.
fn subnets(e: &Engine, prefix: &str) -> Vec<(String, ipnet::Ipv4Net)> {
    let names = e.cli(&["network", "ls", "--format", "{{.Name}}"]);
    names
        .lines()
        .filter(|n| n.starts_with(prefix))
        .flat_map(|n| {
            let s = e.cli(&[
                "network",
                "inspect",
                "-f",
                "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
                n,
            ]);
            s.split_whitespace()
                .filter_map(|s| s.parse::<ipnet::Ipv4Net>().ok())
                .map(|s| (n.to_string(), s))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn list_json(e: &Engine, home: &Path) -> Vec<serde_json::Value> {
    let out = e.bottle(home, None, &["list", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("list --json is JSON");
    v["bottles"].as_array().expect("bottles").clone()
}

#[test]
fn forty_bottles_start_on_an_engine_with_default_address_pools() {
    // runc: the networks are under test, and forty gVisor sandboxes would
    // cost this machine's memory and minutes for nothing more.
    let e = Engine::docker("runc");
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let _guard = RemoveAll(&e, &home);
    let mut slugs = Vec::new();
    for _ in 0..40 {
        slugs.push(e.start_shell(&home));
    }
    let rows = list_json(&e, &home);
    assert_eq!(rows.len(), 40, "{rows:?}");
    for row in &rows {
        assert_eq!(row["status"], "running", "{row}");
        assert_eq!(row["isolation"], "isolated", "{row}");
    }
    // Three networks per bottle, all in bottle's range (none from the
    // engine's default pools), none shared. (Other tests make and remove
    // networks meanwhile: only this home's are looked at.)
    let range: ipnet::Ipv4Net = "172.16.0.0/16".parse().expect("a network");
    let mut all = Vec::new();
    for slug in &slugs {
        let mine = subnets(&e, &format!("bottle-{slug}-"));
        assert_eq!(mine.len(), 3, "{slug}: {mine:?}");
        for (name, s) in &mine {
            assert!(range.contains(s), "{name} is on {s}, outside {range}");
            assert_eq!(s.prefix_len(), 28, "{name}: {s}");
        }
        all.extend(mine);
    }
    for (i, (a, sa)) in all.iter().enumerate() {
        for (b, sb) in &all[i + 1..] {
            assert!(
                !sa.contains(&sb.network()) && !sb.contains(&sa.network()),
                "{a} ({sa}) overlaps {b} ({sb})"
            );
        }
    }
    // The last one works like the first: its agent reaches its sidecar's
    // resolver and nothing else (the self-check said isolated), and runs.
    let last = slugs.last().expect("a bottle");
    let out = e.bottle(&home, None, &["exec", last, "--", "echo", "alive"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "alive");
    for slug in &slugs {
        let out = e.bottle(&home, None, &["rm", slug]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for slug in &slugs {
        assert!(
            subnets(&e, &format!("bottle-{slug}-")).is_empty(),
            "{slug}'s networks are gone"
        );
    }
}

#[test]
fn a_full_network_range_refuses_the_launch_naming_the_remedy_and_leaves_nothing() {
    let e = Engine::docker("runc");
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let _guard = RemoveAll(&e, &home);
    // Four /28s: room for one bottle (three networks), not two.
    std::fs::create_dir_all(&home).expect("home");
    std::fs::write(home.join("config.yaml"), "network_range: 10.213.7.0/26\n").expect("config");
    let first = e.start_shell(&home);
    let mine = subnets(&e, &format!("bottle-{first}-"));
    let range: ipnet::Ipv4Net = "10.213.7.0/26".parse().expect("a network");
    assert_eq!(mine.len(), 3, "{mine:?}");
    assert!(mine.iter().all(|(_, s)| range.contains(s)), "{mine:?}");
    let out = e.bottle(
        &home,
        None,
        &["start", "shell", "--detach", "-y", "--no-workspace"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a second bottle does not fit: {err}");
    assert!(err.contains("10.213.7.0/26"), "{err}");
    assert!(err.contains("network_range:"), "{err}");
    assert!(err.contains("bottle cleanup"), "{err}");
    // Nothing of the refused bottle is left on the engine.
    let rows = list_json(&e, &home);
    assert_eq!(rows.len(), 1, "only the first bottle: {rows:?}");
    let leftover: Vec<_> = subnets(&e, "bottle-")
        .into_iter()
        .filter(|(_, s)| range.contains(s))
        .filter(|(n, _)| !n.starts_with(&format!("bottle-{first}-")))
        .collect();
    assert!(leftover.is_empty(), "{leftover:?}");
    // A wrong range is refused before anything is made, at its place.
    std::fs::write(home.join("config.yaml"), "network_range: 8.8.8.0/24\n").expect("config");
    let out = e.bottle(
        &home,
        None,
        &["start", "shell", "--detach", "-y", "--no-workspace"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("config.yaml:1:16"), "{err}");
    assert!(err.contains("not a private range"), "{err}");
}
