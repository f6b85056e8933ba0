//! How Vast.ai rows become instances: status, GPU, cost, SSH and the 8188 port mapping.

use comfy_local_fake_vastai::FakeVastAi;
use comfy_local_providers::{
    GpuInfo, Instance, InstanceProvider, InstanceStatus, SshEndpoint, VastAiOptions,
};
use serde_json::json;

use crate::support::{self, KEY};

fn listed() -> Vec<Instance> {
    let (_fake, provider) = support::fake_and_provider();
    provider.list().expect("list")
}

fn by_id<'a>(instances: &'a [Instance], id: &str) -> &'a Instance {
    instances.iter().find(|i| i.id == id).expect("listed")
}

#[test]
fn the_fixture_maps_to_these_instances() {
    // The whole mapping, pinned; reviewed field by field against fixtures/instances.json.
    insta::assert_json_snapshot!("fixture_instances", listed());
}

#[test]
fn statuses_read_actual_and_intended_status_together() {
    let instances = listed();
    let status = |id| by_id(&instances, id).status.clone();
    assert_eq!(status("21394001"), InstanceStatus::Running);
    assert_eq!(status("21394002"), InstanceStatus::Stopped);
    assert_eq!(status("21394003"), InstanceStatus::Loading);
    assert_eq!(
        status("21394004"),
        InstanceStatus::Starting,
        "null actual_status"
    );
    assert_eq!(status("21394005"), InstanceStatus::Exited);
    assert_eq!(
        status("21394006"),
        InstanceStatus::Stopping,
        "running, asked to stop"
    );
}

#[test]
fn unknown_and_transitional_statuses() {
    let rows = [
        (
            1,
            json!("unknown"),
            json!("running"),
            InstanceStatus::Unknown("unknown".into()),
        ),
        (
            2,
            json!("offline"),
            json!("running"),
            InstanceStatus::Offline,
        ),
        (3, json!("frozen"), json!("frozen"), InstanceStatus::Frozen),
        (
            4,
            json!("rebooting"),
            json!("running"),
            InstanceStatus::Starting,
        ),
        (
            5,
            json!("stopped"),
            json!("running"),
            InstanceStatus::Starting,
        ),
        (6, json!(null), json!("stopped"), InstanceStatus::Stopped),
        (
            7,
            json!("  running \n"),
            json!("running"),
            InstanceStatus::Running,
        ),
        (
            8,
            json!("migrating"),
            json!(null),
            InstanceStatus::Unknown("migrating".into()),
        ),
    ];
    let fake = FakeVastAi::with_instances(
        KEY,
        rows.iter()
            .map(|(id, actual, intended, _)| {
                json!({"id": id, "actual_status": actual, "intended_status": intended})
            })
            .collect(),
    )
    .expect("fake starts");
    let provider = support::provider_with(support::options(&fake));
    let instances = provider.list().expect("list");
    for (id, _, _, expected) in rows {
        assert_eq!(
            by_id(&instances, &id.to_string()).status,
            expected,
            "row {id}"
        );
    }
}

#[test]
fn gpu_cost_and_names() {
    let instances = listed();
    let a100 = by_id(&instances, "21394002");
    assert_eq!(
        a100.gpu,
        Some(GpuInfo {
            name: "A100 SXM4".into(),
            count: 2,
            vram_mb: Some(81920)
        })
    );
    assert!((a100.cost_per_hour - 2.9147).abs() < 1e-9);
    assert_eq!(a100.cost_text(), "$2.91/hr");
    assert_eq!(a100.display_name, "VastAI #21394002", "no label");
    assert_eq!(
        by_id(&instances, "21394005").display_name,
        "VastAI #21394005",
        "empty label"
    );
    assert_eq!(by_id(&instances, "21394001").display_name, "comfy-4090");
    assert!(!by_id(&instances, "21394001").is_free());
}

#[test]
fn ssh_prefers_the_proxy_and_falls_back_to_the_direct_port() {
    let instances = listed();
    assert_eq!(
        by_id(&instances, "21394001").ssh,
        Some(SshEndpoint {
            host: "ssh4.vast.ai".into(),
            port: 34001,
            user: "root".into()
        })
    );
    assert_eq!(
        by_id(&instances, "21394006").ssh,
        Some(SshEndpoint {
            host: "192.0.2.77".into(),
            port: 52022,
            user: "root".into()
        }),
        "no proxy: public_ipaddr and the 22/tcp mapping"
    );
}

#[test]
fn comfyui_url_comes_from_the_8188_mapping() {
    let instances = listed();
    let url = |id| by_id(&instances, id).comfyui_url.clone();
    assert_eq!(
        url("21394001").as_deref(),
        Some("http://203.0.113.17:41188")
    );
    assert_eq!(url("21394006").as_deref(), Some("http://192.0.2.77:52188"));
    assert_eq!(url("21394002"), None, "no ports key");
    assert_eq!(url("21394003"), None, "empty ports");
}

#[test]
fn port_mapping_variants() {
    let fake = FakeVastAi::with_instances(
        KEY,
        vec![
            // IPv6 binding listed first: the IPv4 one is used; HostPort as a number.
            json!({"id": 1, "actual_status": "running", "public_ipaddr": "198.51.100.9\n",
                   "ports": {"8188/tcp": [{"HostIp": "::", "HostPort": "40001"},
                                          {"HostIp": "0.0.0.0", "HostPort": 40002}]}}),
            // Only an IPv6 binding, on an IPv6 address.
            json!({"id": 2, "actual_status": "running", "public_ipaddr": "2001:db8::7",
                   "ports": {"8188/tcp": [{"HostIp": "::", "HostPort": "40003"}]}}),
            // Garbage port values are ignored, not a failure.
            json!({"id": 3, "actual_status": "running", "public_ipaddr": "198.51.100.9",
                   "ssh_host": "ssh3.vast.ai", "ssh_port": "not a port",
                   "ports": {"8188/tcp": [{"HostIp": "0.0.0.0", "HostPort": "99999"}]}}),
            // ports as the list the OpenAPI example shows: no mapping.
            json!({"id": 4, "actual_status": "running", "public_ipaddr": "198.51.100.9",
                   "ssh_host": "ssh3.vast.ai", "ssh_port": "10451", "ports": [8080, 8081]}),
        ],
    )
    .expect("fake starts");
    let provider = support::provider_with(VastAiOptions {
        ssh_user: "comfy".into(),
        ..support::options(&fake)
    });
    let instances = provider.list().expect("list");
    assert_eq!(
        by_id(&instances, "1").comfyui_url.as_deref(),
        Some("http://198.51.100.9:40002")
    );
    assert_eq!(
        by_id(&instances, "2").comfyui_url.as_deref(),
        Some("http://[2001:db8::7]:40003")
    );
    assert_eq!(by_id(&instances, "3").comfyui_url, None);
    assert_eq!(by_id(&instances, "3").ssh, None);
    assert_eq!(by_id(&instances, "4").comfyui_url, None);
    assert_eq!(
        by_id(&instances, "4").ssh,
        Some(SshEndpoint {
            host: "ssh3.vast.ai".into(),
            port: 10451,
            user: "comfy".into()
        })
    );
    assert_eq!(by_id(&instances, "1").gpu, None, "no gpu_name");
    assert!(
        by_id(&instances, "1").cost_per_hour.abs() < f64::EPSILON,
        "no dph_total"
    );
}

#[test]
fn a_different_comfyui_port_uses_its_own_mapping() {
    let fake = FakeVastAi::start(KEY).expect("fake starts");
    let provider = support::provider_with(VastAiOptions {
        comfyui_port: 8080,
        ..support::options(&fake)
    });
    assert_eq!(
        provider
            .get("21394001")
            .expect("get")
            .comfyui_url
            .as_deref(),
        Some("http://203.0.113.17:41080")
    );
}

#[test]
fn status_serializes_as_one_word() {
    let json = serde_json::to_value(InstanceStatus::Unknown("unknown".into())).expect("json");
    assert_eq!(json, json!("unknown"));
    let back: InstanceStatus = serde_json::from_value(json!("stopping")).expect("parse");
    assert_eq!(back, InstanceStatus::Stopping);
}
