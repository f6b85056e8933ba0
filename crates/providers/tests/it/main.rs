//! Integration tests of the providers crate: the Vast.ai provider against the fake server on
//! loopback, the local provider, and API key lookup.

mod api_key;
mod from_config;
mod local;
mod support;
mod vastai_cache;
mod vastai_errors;
mod vastai_get;
mod vastai_list;
mod vastai_mapping;
mod vastai_state;
