//! Getting one instance by id.

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
