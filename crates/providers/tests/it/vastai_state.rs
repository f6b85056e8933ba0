//! Start and stop: the PUT the API expects, the status that follows, and refusals.

use comfy_local_fake_vastai::Failure;
use comfy_local_providers::{Action, InstanceProvider, InstanceStatus, ProviderError};

use crate::support::{self, KEY, chain, snapshot};

#[test]
fn stop_then_start_changes_the_status_and_the_published_port() {
    let (fake, provider) = support::fake_and_provider();
    assert_eq!(
        provider
            .get("21394001")
            .expect("get")
            .comfyui_url
            .as_deref(),
        Some("http://203.0.113.17:41188")
    );

    provider.stop("21394001").expect("stop succeeds");

    let stopped = provider.get("21394001").expect("get after stop");
    assert_eq!(stopped.status, InstanceStatus::Stopped);
    assert_eq!(
        stopped.comfyui_url, None,
        "a stopped instance publishes no port"
    );

    provider.start("21394001").expect("start succeeds");

    let started = provider.get("21394001").expect("get after start");
    assert_eq!(started.status, InstanceStatus::Running);
    assert_eq!(
        started.comfyui_url.as_deref(),
        Some("http://203.0.113.17:41188")
    );

    let puts: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 2);
    for put in &puts {
        assert_eq!(put.path, "/api/v0/instances/21394001/");
        assert_eq!(
            put.authorization.as_deref(),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert!(put.query.is_empty(), "{put:?}");
    }
    let bodies: Vec<serde_json::Value> = puts
        .iter()
        .map(|p| serde_json::from_str(&p.body).expect("JSON body"))
        .collect();
    assert_eq!(
        bodies,
        [
            serde_json::json!({"state": "stopped"}),
            serde_json::json!({"state": "running"})
        ]
    );
}

#[test]
fn start_of_an_unknown_instance_is_not_found() {
    let (_fake, provider) = support::fake_and_provider();

    let err = provider.start("12345").expect_err("no such instance");

    assert!(matches!(err, ProviderError::NotFound { .. }), "{err:?}");
}

#[test]
fn a_refused_state_change_carries_the_servers_message() {
    let (fake, provider) = support::fake_and_provider();
    fake.fail_next(
        1,
        &Failure::Refuse("Required resources are currently unavailable".to_owned()),
    );

    let err = provider.start("21394002").expect_err("refused");

    assert!(
        matches!(
            err,
            ProviderError::Refused {
                action: Action::Start,
                ..
            }
        ),
        "{err:?}"
    );
    snapshot!("start_refused", chain(&err));
}

#[test]
fn stop_with_a_non_numeric_id_sends_nothing() {
    let (fake, provider) = support::fake_and_provider();

    let err = provider.stop("21394001/../../").expect_err("not an id");

    assert!(
        matches!(err, ProviderError::InvalidInstanceId { .. }),
        "{err:?}"
    );
    assert!(fake.requests().is_empty());
}
