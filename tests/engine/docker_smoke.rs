//! Smoke test against the real engine through bollard: a labelled
//! container on an isolated internal network; create, start, exec with a
//! TTY, resize the exec, and remove everything by label. Fails loudly when
//! no engine answers (the README's test command needs one).

use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, ExecConfig, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    RemoveContainerOptionsBuilder, ResizeExecOptions,
};
use bollard::Docker;
use bottle::backends::docker::{connect, is_isolated, isolated_network_request, timed};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

const IMAGE: &str = "debian:bookworm-slim";
const TEST_LABEL: &str = "dev.bottle.test";

fn labels(run: &str) -> HashMap<String, String> {
    HashMap::from([
        (TEST_LABEL.to_string(), run.to_string()),
        ("dev.bottle.role".to_string(), "test".to_string()),
    ])
}

async fn remove_by_label(docker: &Docker, run: &str) {
    let filter = HashMap::from([("label".to_string(), vec![format!("{TEST_LABEL}={run}")])]);
    let list = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filter)
        .build();
    for c in timed(docker.list_containers(Some(list)))
        .await
        .expect("list containers")
    {
        let id = c.id.expect("container id");
        let rm = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        timed(docker.remove_container(&id, Some(rm)))
            .await
            .expect("remove container");
    }
    let nets = ListNetworksOptionsBuilder::default()
        .filters(&filter)
        .build();
    for n in timed(docker.list_networks(Some(nets)))
        .await
        .expect("list networks")
    {
        timed(docker.remove_network(&n.id.expect("network id")))
            .await
            .expect("remove network");
    }
}

async fn exercise(docker: &Docker, run: &str) {
    let net = format!("bottle-test-{run}");
    timed(docker.create_network(isolated_network_request(&net, labels(run))))
        .await
        .expect("create the internal network");
    let inspect = timed(docker.inspect_network(&net, None))
        .await
        .expect("inspect network");
    assert!(
        is_isolated(&inspect),
        "internal, inhibit_ipv4, no IPv6: {inspect:?}"
    );

    let name = format!("bottle-test-{run}-c");
    let body = ContainerCreateBody {
        image: Some(IMAGE.into()),
        cmd: Some(vec!["sleep".into(), "infinity".into()]),
        labels: Some(labels(run)),
        host_config: Some(HostConfig {
            network_mode: Some(net.clone()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let create = CreateContainerOptionsBuilder::default().name(&name).build();
    timed(docker.create_container(Some(create), body)).await.unwrap_or_else(|e| panic!("create container from {IMAGE} (run .ci/run or scripts/test to make the base image): {e}"));
    timed(docker.start_container(&name, None))
        .await
        .expect("start container");

    let exec = ExecConfig {
        cmd: Some(vec![
            "sh".into(),
            "-c".into(),
            "read line; stty size; echo done-$line".into(),
        ]),
        tty: Some(true),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let exec_id = timed(docker.create_exec(&name, exec))
        .await
        .expect("create exec")
        .id;
    let started = timed(docker.start_exec(
        &exec_id,
        Some(StartExecOptions {
            detach: false,
            tty: true,
            output_capacity: None,
        }),
    ))
    .await
    .expect("start exec");
    let StartExecResults::Attached {
        mut output,
        mut input,
    } = started
    else {
        panic!("exec did not attach")
    };
    timed(docker.resize_exec(&exec_id, ResizeExecOptions { h: 33, w: 101 }))
        .await
        .expect("resize exec");
    input.write_all(b"go\n").await.expect("write to exec");
    input.flush().await.expect("flush");
    let mut seen = String::new();
    let read = async {
        while let Some(chunk) = output.next().await {
            seen.push_str(&chunk.expect("exec output").to_string());
            if seen.contains("done-go") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("exec output within 60 s");
    assert!(
        seen.contains("33 101"),
        "the exec's TTY was resized: {seen:?}"
    );
    let info = timed(docker.inspect_exec(&exec_id))
        .await
        .expect("inspect exec");
    assert_eq!(info.process_config.and_then(|p| p.tty), Some(true));
    println!("docker smoke test ran: engine answered, exec output {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_smoke_container_on_internal_network_with_tty_exec_and_resize() {
    let docker = connect().await.unwrap_or_else(|e| {
        panic!(
            "NO CONTAINER ENGINE: {e}. The tests need Docker (or Podman's socket via DOCKER_HOST)."
        )
    });
    let run = ulid::Ulid::new().to_string().to_lowercase();
    let result = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(exercise(
        &docker, &run,
    )))
    .await;
    remove_by_label(&docker, &run).await;
    let filter = HashMap::from([("label".to_string(), vec![format!("{TEST_LABEL}={run}")])]);
    let left = timed(
        docker.list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filter)
                .build(),
        )),
    )
    .await
    .expect("list");
    assert!(left.is_empty(), "containers left behind: {left:?}");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
