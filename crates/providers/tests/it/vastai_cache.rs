//! The short cache: hits within the TTL, misses after it, cleared by start and stop.

use std::time::Duration;

use comfy_local_providers::{InstanceProvider, InstanceStatus, VastAiOptions};

use crate::support;

fn cached(
    fake: &comfy_local_fake_vastai::FakeVastAi,
    ttl: Duration,
) -> comfy_local_providers::VastAiProvider {
    support::provider_with(VastAiOptions {
        cache_ttl: ttl,
        ..support::options(fake)
    })
}

#[test]
fn a_second_list_within_the_ttl_is_served_from_the_cache() {
    let (fake, _) = support::fake_and_provider();
    let provider = cached(&fake, Duration::from_secs(60));

    let first = provider.list().expect("first list");
    let second = provider.list().expect("second list");

    assert_eq!(first, second);
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn get_after_list_is_a_cache_hit_and_get_twice_fetches_once() {
    let (fake, _) = support::fake_and_provider();
    let provider = cached(&fake, Duration::from_secs(60));

    provider.list().expect("list");
    provider.get("21394003").expect("get from the listed rows");
    assert_eq!(fake.requests().len(), 1);

    provider.invalidate_cache();
    provider.get("21394003").expect("get fetches");
    provider.get("21394003").expect("get again from the cache");
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].path, "/api/v0/instances/21394003/");
}

#[test]
fn stop_invalidates_the_cache() {
    let (fake, _) = support::fake_and_provider();
    let provider = cached(&fake, Duration::from_secs(60));
    provider.list().expect("list");

    provider.stop("21394001").expect("stop");
    let after = provider.list().expect("list after stop");

    let stopped = after.iter().find(|i| i.id == "21394001").expect("listed");
    assert_eq!(stopped.status, InstanceStatus::Stopped);
    let methods: Vec<String> = fake.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["GET", "PUT", "GET"]);
}

#[test]
fn start_invalidates_a_cached_get() {
    let (fake, _) = support::fake_and_provider();
    let provider = cached(&fake, Duration::from_secs(60));
    assert_eq!(
        provider.get("21394002").expect("get").status,
        InstanceStatus::Stopped
    );

    provider.start("21394002").expect("start");

    assert_eq!(
        provider.get("21394002").expect("get after start").status,
        InstanceStatus::Running
    );
    assert_eq!(fake.requests().len(), 3);
}

#[test]
fn entries_expire_after_the_ttl() {
    let (fake, _) = support::fake_and_provider();
    let provider = cached(&fake, Duration::from_millis(40));

    provider.list().expect("list");
    std::thread::sleep(Duration::from_millis(120));
    provider.list().expect("list after expiry");

    assert_eq!(fake.requests().len(), 2);
}

#[test]
fn a_zero_ttl_disables_the_cache() {
    let (fake, provider) = support::fake_and_provider();

    provider.list().expect("list");
    provider.list().expect("list");
    provider.get("21394001").expect("get");
    provider.get("21394001").expect("get");

    assert_eq!(fake.requests().len(), 4);
}

#[test]
fn one_provider_serves_several_threads() {
    let (fake, _) = support::fake_and_provider();
    let provider: std::sync::Arc<dyn InstanceProvider> =
        std::sync::Arc::new(cached(&fake, Duration::from_secs(60)));

    let handles: Vec<_> = (0..4)
        .map(|_| {
            let provider = std::sync::Arc::clone(&provider);
            std::thread::spawn(move || provider.list().map(|l| l.len()))
        })
        .collect();

    for handle in handles {
        assert_eq!(handle.join().expect("thread").expect("list"), 6);
    }
    // Racing threads may each miss the empty cache once, but no more than that.
    let requests = fake.requests().len();
    assert!(requests <= 4, "{requests}");
    assert_eq!(provider.list().expect("cached").len(), 6);
    assert_eq!(fake.requests().len(), requests, "served from the cache");
}
