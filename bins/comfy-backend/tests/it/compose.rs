//! `docs/docker-compose.local-comfyui.yml`: the app service starts comfy-backend with a state
//! volume, mounts the config, key and `known_hosts` read-only where the config expects them, and
//! maps host.docker.internal to the host gateway.

use serde_yaml::Value;

use crate::repo_root;

fn strings(v: &Value) -> Vec<&str> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("not a list: {v:?}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

#[test]
fn the_compose_snippet_runs_the_backend_with_read_only_secrets_and_the_host_gateway() {
    let path = repo_root().join("docs/docker-compose.local-comfyui.yml");
    let doc: Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let app = &doc["services"]["app"];
    assert!(
        strings(&app["extra_hosts"]).contains(&"host.docker.internal:host-gateway"),
        "{app:?}"
    );
    let config = app["environment"]["COMFY_LOCAL_CONFIG"].as_str().unwrap();
    let volumes = strings(&app["volumes"]);
    for target in [
        config,
        "/app/comfy-local/id_ed25519",
        "/app/comfy-local/known_hosts",
    ] {
        let mount = volumes
            .iter()
            .find(|v| v.split(':').nth(1) == Some(target))
            .unwrap_or_else(|| panic!("{target} is not mounted: {volumes:?}"));
        assert!(mount.ends_with(":ro"), "{mount} is not read-only");
    }
    let command = strings(&app["command"]).join(" ");
    let state = command
        .split_whitespace()
        .skip_while(|w| *w != "--state-dir")
        .nth(1)
        .unwrap_or_else(|| panic!("no --state-dir in {command}"));
    assert!(command.contains("comfy-backend "), "{command}");
    let state_volume = volumes
        .iter()
        .find(|v| v.split(':').nth(1) == Some(state))
        .unwrap_or_else(|| panic!("the state dir {state} is not a volume: {volumes:?}"));
    let name = state_volume.split(':').next().unwrap();
    assert!(
        doc["volumes"].get(name).is_some(),
        "the named volume {name} is not declared"
    );
}
