//! HTTP failures become typed errors that name the URL and never the key; 429 and 502/503/504
//! are retried with backoff first.

use std::time::Duration;

use comfy_local_fake_vastai::{Failure, FakeVastAi};
use comfy_local_providers::{
    ApiKey, InstanceProvider, ProviderError, RetryPolicy, VastAiOptions, VastAiProvider,
};

use crate::support::{self, KEY, chain, snapshot};

fn assert_no_key(err: &ProviderError) {
    let shown = format!("{} {err:?} {}", chain(err), err);
    assert!(!shown.contains(KEY), "the key leaked: {shown}");
}

#[test]
fn a_wrong_key_is_unauthorized_and_never_printed() {
    let fake = FakeVastAi::start(KEY).expect("fake starts");
    let wrong = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    let provider = VastAiProvider::new(
        ApiKey::new(wrong, "the test").expect("key"),
        support::options(&fake),
    )
    .expect("provider");

    let err = provider.list().expect_err("401");

    assert!(matches!(err, ProviderError::Unauthorized { .. }), "{err:?}");
    let shown = format!("{} {err:?}", chain(&err));
    assert!(!shown.contains(wrong), "the key leaked: {shown}");
    assert_eq!(fake.requests().len(), 1, "401 is not retried");
    snapshot!("unauthorized", chain(&err));
}

#[test]
fn rate_limiting_is_retried_until_it_clears() {
    let (fake, provider) = support::fake_and_provider();
    fake.fail_next(
        2,
        &Failure::RateLimited {
            retry_after_secs: Some(0),
        },
    );

    let instances = provider.list().expect("third attempt succeeds");

    assert_eq!(instances.len(), 6);
    assert_eq!(fake.requests().len(), 3);
}

#[test]
fn rate_limiting_that_persists_is_a_typed_error_with_retry_after() {
    let (fake, provider) = support::fake_and_provider();
    fake.fail_next(
        3,
        &Failure::RateLimited {
            retry_after_secs: Some(0),
        },
    );

    let err = provider.get("21394001").expect_err("still limited");

    match &err {
        ProviderError::RateLimited {
            attempts,
            retry_after,
            ..
        } => {
            assert_eq!(*attempts, 3);
            assert_eq!(*retry_after, Some(Duration::ZERO));
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert_eq!(fake.requests().len(), 3);
    assert_no_key(&err);
    snapshot!("rate_limited_after_retries", chain(&err));
}

#[test]
fn rate_limiting_without_retry_after_backs_off_exponentially() {
    let fake = FakeVastAi::start(KEY).expect("fake starts");
    let provider = support::provider_with(VastAiOptions {
        retry: RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(40),
            max_backoff: Duration::from_secs(1),
        },
        ..support::options(&fake)
    });
    fake.fail_next(
        3,
        &Failure::RateLimited {
            retry_after_secs: None,
        },
    );

    let started = std::time::Instant::now();
    provider.list().expect("fourth attempt succeeds");

    // Waits of 40, 80 and 160 ms: at least 280 ms in total. A lower bound only: it cannot flake.
    assert!(
        started.elapsed() >= Duration::from_millis(280),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.requests().len(), 4);
}

#[test]
fn a_retry_after_longer_than_allowed_fails_at_once() {
    let (fake, provider) = support::fake_and_provider();
    fake.fail_next(
        1,
        &Failure::RateLimited {
            retry_after_secs: Some(30),
        },
    );

    let err = provider.list().expect_err("not waiting 30 s");

    assert!(
        matches!(
            err,
            ProviderError::RateLimited { attempts: 1, retry_after: Some(d), .. } if d == Duration::from_secs(30)
        ),
        "{err:?}"
    );
    assert_eq!(fake.requests().len(), 1);
    snapshot!("rate_limited_retry_after_too_long", chain(&err));
}

#[test]
fn an_internal_server_error_is_not_retried() {
    let (fake, provider) = support::fake_and_provider();
    fake.fail_next(1, &Failure::Status(500));

    let err = provider.list().expect_err("500");

    assert!(
        matches!(err, ProviderError::Server { status: 500, .. }),
        "{err:?}"
    );
    assert_eq!(fake.requests().len(), 1);
    snapshot!("server_error_500", chain(&err));
}

#[test]
fn a_service_unavailable_is_retried_then_reported() {
    let (fake, provider) = support::fake_and_provider();
    fake.fail_next(1, &Failure::Status(503));
    assert_eq!(provider.list().expect("second attempt succeeds").len(), 6);
    assert_eq!(fake.requests().len(), 2);

    fake.clear_requests();
    fake.fail_next(3, &Failure::Status(503));
    let err = provider.start("21394002").expect_err("503 three times");

    assert!(
        matches!(
            err,
            ProviderError::Server {
                status: 503,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(fake.requests().len(), 3);
    snapshot!("server_error_503_after_retries", chain(&err));
}

#[test]
fn a_body_that_is_not_json_is_bad_json() {
    let (fake, provider) = support::fake_and_provider();
    fake.fail_next(1, &Failure::MalformedJson);

    let err = provider.get("21394001").expect_err("HTML instead of JSON");

    assert!(matches!(err, ProviderError::BadJson { .. }), "{err:?}");
    snapshot!("bad_json", chain(&err));
}

#[test]
fn a_slow_server_hits_the_request_timeout() {
    let (fake, _) = support::fake_and_provider();
    fake.set_delay(Duration::from_millis(700));
    let provider = support::provider_with(VastAiOptions {
        request_timeout: Duration::from_millis(150),
        ..support::options(&fake)
    });

    let err = provider.list().expect_err("timeout");

    assert!(matches!(err, ProviderError::Transport { .. }), "{err:?}");
    snapshot!("timeout", chain(&err));
}

#[test]
fn a_closed_port_is_a_transport_error() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let provider = support::provider_with(VastAiOptions {
        base_url: format!("http://{closed}"),
        ..VastAiOptions::default()
    });

    let err = provider.get("21394001").expect_err("nothing listens");

    assert!(matches!(err, ProviderError::Transport { .. }), "{err:?}");
    snapshot!("connection_refused", chain(&err));
}

#[test]
fn a_bad_base_url_is_refused_up_front() {
    let key = || ApiKey::new(KEY, "the test").expect("key");
    let cases = [
        "console.vast.ai",
        "ftp://console.vast.ai",
        "https://",
        "https://user:secret@console.vast.ai",
        "https://console.vast.ai/?api_key=x",
    ];
    let mut shown = String::new();
    for url in cases {
        let err = VastAiProvider::new(
            key(),
            VastAiOptions {
                base_url: url.to_owned(),
                ..VastAiOptions::default()
            },
        )
        .expect_err(url);
        assert!(
            matches!(err, ProviderError::InvalidBaseUrl { .. }),
            "{err:?}"
        );
        shown.push_str(&chain(&err));
        shown.push('\n');
    }
    snapshot!("invalid_base_urls", shown);
}

#[test]
fn the_provider_debug_output_never_shows_the_key() {
    let (_fake, provider) = support::fake_and_provider();
    let shown = format!("{provider:?}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains("ApiKey(<redacted>)"), "{shown}");
}
