//! Getting one instance by id.

use comfy_local_fake_vastai::Failure;
use comfy_local_providers::{InstanceProvider, InstanceStatus, ProviderError};

use crate::support::{self, KEY, chain, snapshot};

#[test]
fn get_reads_the_single_instance_endpoint() {
    let (fake, provider) = support::fake_and_provider();

    let instance = provider.get("21394001").expect("get succeeds");

    assert_eq!(instance.id, "21394001");
    assert_eq!(instance.display_name, "comfy-4090");
    assert_eq!(instance.status, InstanceStatus::Running);
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/api/v0/instances/21394001/");
    assert_eq!(requests[0].query_value("owner"), Some("me"));
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
}

#[test]
fn get_matches_the_listed_instance() {
    let (_fake, provider) = support::fake_and_provider();
    let listed = provider.list().expect("list");
    for instance in &listed {
        assert_eq!(&provider.get(&instance.id).expect("get"), instance);
    }
}

#[test]
fn get_of_an_unknown_id_is_not_found() {
    let (_fake, provider) = support::fake_and_provider();

    let err = provider.get("99").expect_err("no such instance");

    assert!(matches!(err, ProviderError::NotFound { .. }), "{err:?}");
    snapshot!("get_unknown_id", chain(&err));
}

#[test]
fn get_of_a_non_numeric_id_is_refused_before_any_request() {
    let (fake, provider) = support::fake_and_provider();

    let err = provider.get("../users/current").expect_err("not an id");

    assert!(
        matches!(err, ProviderError::InvalidInstanceId { .. }),
        "{err:?}"
    );
    assert!(fake.requests().is_empty());
    snapshot!("get_invalid_id", chain(&err));
}

#[test]
fn a_null_instance_in_a_200_answer_is_not_found() {
    let (fake, provider) = support::fake_and_provider();
    fake.fail_next(
        1,
        &Failure::Reply {
            status: 200,
            body: r#"{"instances": null}"#.to_owned(),
        },
    );

    let err = provider.get("21394001").expect_err("null row");

    assert!(matches!(err, ProviderError::NotFound { .. }), "{err:?}");
}

#[test]
fn a_bad_request_carries_the_servers_message() {
    let (fake, provider) = support::fake_and_provider();
    fake.fail_next(
        1,
        &Failure::Reply {
            status: 400,
            body: r#"{"success": false, "error": "invalid_args", "msg": "error 400/1782: Invalid args"}"#
                .to_owned(),
        },
    );

    let err = provider.get("21394001").expect_err("400");

    assert!(
        matches!(err, ProviderError::Status { status: 400, .. }),
        "{err:?}"
    );
    snapshot!("bad_request", chain(&err));
}

#[test]
fn a_server_message_never_repeats_the_key() {
    let (fake, provider) = support::fake_and_provider();
    fake.fail_next(
        1,
        &Failure::Reply {
            status: 403,
            body: format!(r#"{{"detail": "key {KEY} lacks instance_read"}}"#),
        },
    );

    let err = provider.get("21394001").expect_err("403");

    let shown = format!("{} {err:?}", chain(&err));
    assert!(!shown.contains(KEY), "{shown}");
    snapshot!("forbidden_with_key_in_body", chain(&err));
}
