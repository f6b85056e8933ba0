//! Shared helpers: a fake server plus a provider pointed at it, and error rendering for snapshots.

use std::time::Duration;

use comfy_local_fake_vastai::FakeVastAi;
use comfy_local_providers::{ApiKey, RetryPolicy, VastAiOptions, VastAiProvider};

/// The key the fake accepts.
pub const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Options for tests: fast retries, cache off unless a test turns it on.
pub fn options(fake: &FakeVastAi) -> VastAiOptions {
    VastAiOptions {
        base_url: fake.base_url(),
        cache_ttl: Duration::ZERO,
        request_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
        },
        ..VastAiOptions::default()
    }
}

pub fn provider_with(options: VastAiOptions) -> VastAiProvider {
    let key = ApiKey::new(KEY, "the test").expect("test key is valid");
    VastAiProvider::new(key, options).expect("test options are valid")
}

/// The fixture server and a provider (cache off) pointed at it.
pub fn fake_and_provider() -> (FakeVastAi, VastAiProvider) {
    let fake = FakeVastAi::start(KEY).expect("fake VastAI starts");
    let provider = provider_with(options(&fake));
    (fake, provider)
}

/// `err` and its sources, one per line, as a user would read them.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str("\n  caused by: ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Snapshot `$value` with the fake's port (and temp dirs) replaced by stable placeholders.
macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({
            filters => vec![
                (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
                (r"/tmp/\.tmp[A-Za-z0-9]+", "[TMP]"),
            ],
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!($name, $value);
        });
    };
}
pub(crate) use snapshot;
