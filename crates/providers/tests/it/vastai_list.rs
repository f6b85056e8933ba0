//! Listing: every page is followed through `next_token`, with the key only in the header.

use comfy_local_fake_vastai::FakeVastAi;
use comfy_local_providers::{InstanceProvider, ProviderError, ProviderKind};

use crate::support::{self, KEY, chain, snapshot};

#[test]
fn list_follows_next_token_across_pages() {
    let (fake, provider) = support::fake_and_provider();
    fake.set_max_page(2);

    let instances = provider.list().expect("list succeeds");

    let ids: Vec<&str> = instances.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "21394001", "21394002", "21394003", "21394004", "21394005", "21394006"
        ]
    );
    assert!(instances.iter().all(|i| i.provider == ProviderKind::VastAi));

    let requests = fake.requests();
    assert_eq!(requests.len(), 3, "six rows in pages of two: {requests:#?}");
    for request in &requests {
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, "/api/v1/instances/");
        assert_eq!(
            request.authorization.as_deref(),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert_eq!(request.query_value("limit"), Some("25"));
        assert_eq!(
            request.query_value("order_by"),
            Some(r#"[{"col":"id","dir":"asc"}]"#)
        );
        assert!(
            request
                .query
                .iter()
                .all(|(k, v)| k != "api_key" && !v.contains(KEY)),
            "the key must never be in the URL: {request:?}"
        );
    }
    // The tokens contain `+` and `=`: they only round-trip if they were percent-encoded.
    let tokens: Vec<Option<&str>> = requests
        .iter()
        .map(|r| r.query_value("after_token"))
        .collect();
    assert_eq!(tokens, [None, Some("k+21394002=="), Some("k+21394004==")]);
}

#[test]
fn list_of_an_account_without_instances_is_empty() {
    let fake = FakeVastAi::with_instances(KEY, Vec::new()).expect("fake starts");
    let provider = support::provider_with(support::options(&fake));

    assert!(provider.list().expect("list succeeds").is_empty());
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn page_size_is_sent_and_clamped_to_the_api_maximum() {
    let (fake, _) = support::fake_and_provider();
    let small = support::provider_with(comfy_local_providers::VastAiOptions {
        page_size: 4,
        ..support::options(&fake)
    });
    assert_eq!(small.list().expect("list").len(), 6);
    let limits: Vec<_> = fake
        .requests()
        .iter()
        .map(|r| r.query_value("limit").map(str::to_owned))
        .collect();
    assert_eq!(limits, [Some("4".to_owned()), Some("4".to_owned())]);

    fake.clear_requests();
    let huge = support::provider_with(comfy_local_providers::VastAiOptions {
        page_size: 500,
        ..support::options(&fake)
    });
    huge.list().expect("list");
    assert_eq!(fake.requests()[0].query_value("limit"), Some("25"));
}

#[test]
fn a_row_without_an_id_is_bad_json() {
    let fake =
        FakeVastAi::with_instances(KEY, vec![serde_json::json!({"actual_status": "running"})])
            .expect("fake starts");
    let provider = support::provider_with(support::options(&fake));

    let err = provider
        .list()
        .expect_err("a row without id cannot be mapped");
    assert!(matches!(err, ProviderError::BadJson { .. }), "{err:?}");
    snapshot!("list_row_without_id", chain(&err));
}

#[test]
fn a_next_token_that_repeats_is_an_error_not_a_loop() {
    let (fake, provider) = support::fake_and_provider();
    let page = serde_json::json!({
        "success": true, "instances": [], "next_token": "same-token"
    })
    .to_string();
    fake.fail_next(
        2,
        &comfy_local_fake_vastai::Failure::Reply {
            status: 200,
            body: page,
        },
    );

    let err = provider.list().expect_err("the token never changes");

    assert!(matches!(err, ProviderError::EndlessPages { .. }), "{err:?}");
    assert_eq!(fake.requests().len(), 2);
    snapshot!("endless_pages", chain(&err));
}
