//! The Vast.ai provider: the account's rented instances through Vast.ai's REST API.
//!
//! Endpoints (as vast-cli uses them):
//! - list: `GET /api/v1/instances/?limit=..&order_by=..&select_filters={}` then `&after_token=`
//!   with each `next_token` until it is null,
//! - get: `GET /api/v0/instances/{id}/?owner=me` answering `{"instances": {...}}`,
//! - start/stop: `PUT /api/v0/instances/{id}/` with `{"state": "running" | "stopped"}`.

mod api_key;
mod cache;
mod http;
mod model;
mod options;

pub use api_key::ApiKey;
pub use options::{DEFAULT_BASE_URL, RetryPolicy, VastAiOptions};

use serde_json::json;

use self::cache::Cache;
use self::http::{Client, Method};
use self::model::{MapSettings, One, Page, StateChange};
use crate::error::{Action, ProviderError};
use crate::instance::{Instance, ProviderKind};
use crate::provider::InstanceProvider;

const LIST_PATH: &str = "/api/v1/instances/";
/// Pages fetched before a `next_token` that never ends is called a server bug.
const MAX_PAGES: usize = 400;

/// Instances of one Vast.ai account.
#[derive(Debug)]
pub struct VastAiProvider {
    client: Client,
    cache: Cache,
    page_size: String,
    comfyui_port: u16,
    ssh_user: String,
}

impl VastAiProvider {
    /// A provider using `key` against `options.base_url`. Makes no request yet.
    pub fn new(key: ApiKey, options: VastAiOptions) -> Result<Self, ProviderError> {
        let base = options.base_url.trim();
        let invalid = |reason| ProviderError::InvalidBaseUrl {
            url: options.base_url.clone(),
            reason,
        };
        let Some(rest) = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"))
        else {
            return Err(invalid(
                "it must start with https:// (or http:// for a test server)",
            ));
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() {
            return Err(invalid("it has no host"));
        }
        if authority.contains('@') {
            return Err(invalid(
                "it must not carry credentials; the key goes in api_key_env",
            ));
        }
        if base.contains(['?', '#']) {
            return Err(invalid("it must not have a query or fragment"));
        }
        Ok(Self {
            client: Client::new(key, base, options.request_timeout, options.retry.clone()),
            cache: Cache::new(options.cache_ttl),
            page_size: options.page_size.clamp(1, 25).to_string(),
            comfyui_port: options.comfyui_port,
            ssh_user: options.ssh_user,
        })
    }

    /// A provider for the config's `vastai` section, with the key from this process's
    /// environment or the vastai CLI's key files. Does not look at `vastai.enabled`: the caller
    /// decides whether Vast.ai is used.
    pub fn from_config(
        settings: &comfy_local_config::VastAiSettings,
    ) -> Result<Self, ProviderError> {
        let key = ApiKey::from_config(settings, |name| std::env::var(name).ok())?;
        Self::new(key, VastAiOptions::from_config(settings))
    }

    /// Forgets cached instances so the next call asks Vast.ai again.
    pub fn invalidate_cache(&self) {
        self.cache.clear();
    }

    fn settings(&self) -> MapSettings<'_> {
        MapSettings {
            comfyui_port: self.comfyui_port,
            ssh_user: &self.ssh_user,
        }
    }

    fn fetch_all(&self) -> Result<Vec<Instance>, ProviderError> {
        let mut instances = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        while pages < MAX_PAGES {
            pages += 1;
            let mut query = vec![
                ("limit", self.page_size.as_str()),
                ("order_by", r#"[{"col":"id","dir":"asc"}]"#),
                ("select_filters", "{}"),
            ];
            if let Some(token) = token.as_deref() {
                query.push(("after_token", token));
            }
            let reply = self.client.send(Method::Get, LIST_PATH, &query, None)?;
            if reply.status == 404 {
                return Err(ProviderError::Status {
                    method: reply.method,
                    url: reply.url,
                    status: 404,
                    message: Some("the instance list endpoint is missing".to_owned()),
                });
            }
            let page: Page = reply.json()?;
            let settings = self.settings();
            instances.extend(
                page.instances
                    .into_iter()
                    .map(|r| r.into_instance(settings)),
            );
            match page.next_token.filter(|t| !t.is_empty()) {
                None => return Ok(instances),
                Some(next) if token.as_deref() == Some(next.as_str()) => break,
                Some(next) => token = Some(next),
            }
        }
        Err(ProviderError::EndlessPages {
            url: self.client.url(LIST_PATH),
            pages,
        })
    }

    fn fetch_one(&self, id: &str, numeric: u64) -> Result<Instance, ProviderError> {
        let path = format!("/api/v0/instances/{numeric}/");
        let reply = self
            .client
            .send(Method::Get, &path, &[("owner", "me")], None)?;
        let not_found = || ProviderError::NotFound {
            provider: ProviderKind::VastAi,
            id: id.to_owned(),
        };
        if reply.status == 404 {
            return Err(not_found());
        }
        let one: One = reply.json()?;
        one.instances
            .map(|row| row.into_instance(self.settings()))
            .ok_or_else(not_found)
    }

    fn change_state(&self, id: &str, action: Action) -> Result<(), ProviderError> {
        let numeric = parse_id(id)?;
        let path = format!("/api/v0/instances/{numeric}/");
        let state = match action {
            Action::Start => "running",
            Action::Stop => "stopped",
        };
        // Whatever happens next, what we cached may now be wrong.
        self.cache.clear();
        let reply = self
            .client
            .send(Method::Put, &path, &[], Some(&json!({ "state": state })))?;
        if reply.status == 404 {
            return Err(ProviderError::NotFound {
                provider: ProviderKind::VastAi,
                id: id.to_owned(),
            });
        }
        let answer: StateChange = reply.json()?;
        if answer.success == Some(false) {
            return Err(ProviderError::Refused {
                id: id.to_owned(),
                action,
                message: answer
                    .msg
                    .or(answer.error)
                    .unwrap_or_else(|| "no reason given".to_owned()),
            });
        }
        Ok(())
    }
}

/// Vast.ai ids are numbers; anything else never reaches a URL.
fn parse_id(id: &str) -> Result<u64, ProviderError> {
    let digits = id.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProviderError::InvalidInstanceId { id: id.to_owned() });
    }
    digits
        .parse()
        .map_err(|_| ProviderError::InvalidInstanceId { id: id.to_owned() })
}

impl InstanceProvider for VastAiProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::VastAi
    }

    fn list(&self) -> Result<Vec<Instance>, ProviderError> {
        if let Some(list) = self.cache.list() {
            return Ok(list);
        }
        let list = self.fetch_all()?;
        self.cache.store_list(&list);
        Ok(list)
    }

    fn get(&self, id: &str) -> Result<Instance, ProviderError> {
        let numeric = parse_id(id)?;
        let key = numeric.to_string();
        if let Some(instance) = self.cache.get(&key) {
            return Ok(instance);
        }
        let instance = self.fetch_one(id, numeric)?;
        self.cache.store_one(&instance);
        Ok(instance)
    }

    fn start(&self, id: &str) -> Result<(), ProviderError> {
        self.change_state(id, Action::Start)
    }

    fn stop(&self, id: &str) -> Result<(), ProviderError> {
        self.change_state(id, Action::Stop)
    }
}
