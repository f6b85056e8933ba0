//! Dev-only fake VastAI REST API on loopback for provider tests.
//!
//! Never linked into a release binary. Filled by the instances/CLI issue.
