//! What the short cache and paging cost: `list()` against the fake Vast.ai API on loopback,
//! uncached (one page, three pages) and cached, printed as time per call and as ratios to the
//! uncached one-page list (the peer every other line is compared with).
//!
//! `cargo bench -p comfy-local-providers --bench list`

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::time::{Duration, Instant};

use comfy_local_fake_vastai::FakeVastAi;
use comfy_local_providers::{ApiKey, InstanceProvider, VastAiOptions, VastAiProvider};

const KEY: &str = "bench-key-0123456789abcdef";

fn provider(fake: &FakeVastAi, cache_ttl: Duration, page_size: u32) -> VastAiProvider {
    let key = ApiKey::new(KEY, "the bench").expect("valid key");
    VastAiProvider::new(
        key,
        VastAiOptions {
            base_url: fake.base_url(),
            cache_ttl,
            page_size,
            ..VastAiOptions::default()
        },
    )
    .expect("valid options")
}

/// Median time of one call over `rounds` rounds of `calls` calls each.
fn measure(rounds: usize, calls: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..calls {
        f();
    }
    let mut per_call: Vec<Duration> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..calls {
                f();
            }
            start.elapsed() / u32::try_from(calls).unwrap_or(u32::MAX)
        })
        .collect();
    per_call.sort();
    per_call[per_call.len() / 2]
}

fn main() {
    let fake = FakeVastAi::start(KEY).expect("fake starts");
    let one_page = provider(&fake, Duration::ZERO, 25);
    let three_pages = provider(&fake, Duration::ZERO, 2);
    let cached = provider(&fake, Duration::from_secs(3600), 25);
    let get_uncached = provider(&fake, Duration::ZERO, 25);

    let list = |p: &VastAiProvider| {
        assert_eq!(p.list().expect("list").len(), 6);
    };
    let peer = measure(7, 100, || list(&one_page));
    let rows = [
        ("list, uncached, 1 page (peer)", peer),
        (
            "list, uncached, 3 pages",
            measure(7, 50, || list(&three_pages)),
        ),
        ("list, cached", measure(7, 20_000, || list(&cached))),
        (
            "get, uncached",
            measure(7, 100, || {
                get_uncached.get("21394001").expect("get");
            }),
        ),
        (
            "get, cached (after list)",
            measure(7, 20_000, || {
                cached.get("21394001").expect("get");
            }),
        ),
    ];
    println!("{:<32} {:>12} {:>10}", "case", "per call", "vs peer");
    for (name, time) in rows {
        println!(
            "{name:<32} {:>10.1}µs {:>9.3}x",
            time.as_secs_f64() * 1e6,
            time.as_secs_f64() / peer.as_secs_f64()
        );
    }
}
