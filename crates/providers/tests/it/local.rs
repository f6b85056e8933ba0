//! The local provider: configured hosts, free, never started or stopped by us.

use comfy_local_providers::{
    InstanceProvider, InstanceStatus, LocalInstanceSpec, LocalProvider, ProviderError,
    ProviderKind, SshEndpoint,
};

use crate::support::{chain, snapshot};

fn spec(id: &str, name: &str) -> LocalInstanceSpec {
    LocalInstanceSpec {
        id: id.into(),
        display_name: name.into(),
        ssh: SshEndpoint {
            host: "host.docker.internal".into(),
            port: 22022,
            user: "comfyui".into(),
        },
        comfyui_url: "http://host.docker.internal:8188".into(),
    }
}

fn provider() -> LocalProvider {
    LocalProvider::new(vec![
        spec("local", "Local ComfyUI"),
        spec("studio", "Studio PC"),
    ])
    .expect("unique ids")
}

#[test]
fn lists_configured_hosts_in_order_for_free() {
    let instances = provider().list().expect("list");

    assert_eq!(instances.len(), 2);
    let local = &instances[0];
    assert_eq!(local.id, "local");
    assert_eq!(local.display_name, "Local ComfyUI");
    assert_eq!(local.provider, ProviderKind::Local);
    assert_eq!(local.status, InstanceStatus::Configured);
    assert!(local.cost_per_hour.abs() < f64::EPSILON);
    assert!(local.is_free());
    assert_eq!(local.cost_text(), "FREE  $0.00/hr");
    assert_eq!(local.gpu, None);
    assert_eq!(
        local.ssh.as_ref().map(ToString::to_string).as_deref(),
        Some("comfyui@host.docker.internal:22022")
    );
    assert_eq!(
        local.comfyui_url.as_deref(),
        Some("http://host.docker.internal:8188")
    );
    assert_eq!(instances[1].id, "studio");
    insta::assert_json_snapshot!("local_instances", instances);
}

#[test]
fn get_finds_by_id() {
    assert_eq!(
        provider().get("studio").expect("get").display_name,
        "Studio PC"
    );
    let err = provider().get("nope").expect_err("unknown");
    assert!(matches!(
        err,
        ProviderError::NotFound {
            provider: ProviderKind::Local,
            ..
        }
    ));
    snapshot!("local_get_unknown", chain(&err));
}

#[test]
fn start_and_stop_are_not_supported() {
    let p = provider();
    let start = p.start("local").expect_err("not supported");
    let stop = p.stop("local").expect_err("not supported");
    assert!(
        matches!(start, ProviderError::NotSupported { .. }),
        "{start:?}"
    );
    assert!(
        matches!(stop, ProviderError::NotSupported { .. }),
        "{stop:?}"
    );
    snapshot!("local_start_not_supported", chain(&start));
    snapshot!("local_stop_not_supported", chain(&stop));
    assert!(
        matches!(p.stop("nope"), Err(ProviderError::NotFound { .. })),
        "an unknown id is a typo, not an unsupported action"
    );
}

#[test]
fn duplicate_ids_are_refused() {
    let err =
        LocalProvider::new(vec![spec("local", "A"), spec("local", "B")]).expect_err("duplicate");
    snapshot!("local_duplicate_id", chain(&err));
}

#[test]
fn an_empty_config_lists_nothing() {
    let p = LocalProvider::new(Vec::new()).expect("empty is fine");
    assert!(p.list().expect("list").is_empty());
    assert_eq!(p.kind(), ProviderKind::Local);
}
