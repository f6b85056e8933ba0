//! The fake's answers: authentication, injected failures, then the three instance routes.
//!
//! Bodies follow vast-cli's `OpenAPI` files: pages are `{"success", "instances_found",
//! "total_instances", "label_counts", "next_token", "instances"}`, one instance is
//! `{"instances": {...}}`, state changes answer `{"success": true}`, errors are
//! `{"success": false, "error": ..., "msg": ...}` and 429 is `{"detail": ...}`.

use serde_json::{Map, Value, json};

use crate::server::{Failure, RecordedRequest, State};

/// What the worker sends back.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) retry_after_secs: Option<u64>,
}

impl Reply {
    fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            body: body.to_string(),
            retry_after_secs: None,
        }
    }

    fn error(status: u16, error: &str, msg: &str) -> Self {
        Self::json(
            status,
            &json!({"success": false, "error": error, "msg": msg}),
        )
    }
}

/// The numeric `id` of a row (0 if it has none; fixtures always have one).
pub(crate) fn row_id(row: &Value) -> u64 {
    row.get("id").and_then(Value::as_u64).unwrap_or(0)
}

pub(crate) fn handle(state: &mut State, request: &RecordedRequest) -> Reply {
    if let Some(failure) = state.failures.pop_front() {
        return failure_reply(failure);
    }
    let expected = format!("Bearer {}", state.api_key);
    if request.authorization.as_deref() != Some(expected.as_str()) {
        return Reply::error(
            401,
            "invalid_user",
            "Invalid user key: you must be logged in or provide a valid api_key",
        );
    }
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["api", "v1", "instances"]) => list_page(state, request),
        ("GET", ["api", "v0", "instances", id]) => with_id(id, |id| show(state, id)),
        ("PUT", ["api", "v0", "instances", id]) => {
            with_id(id, |id| change_state(state, id, &request.body))
        }
        _ => Reply::error(404, "not_found", "no such route"),
    }
}

fn failure_reply(failure: Failure) -> Reply {
    match failure {
        Failure::RateLimited { retry_after_secs } => Reply {
            retry_after_secs,
            ..Reply::json(
                429,
                &json!({"detail": "API requests too frequent endpoint threshold=1.0"}),
            )
        },
        Failure::Status(status) => Reply::error(status, "server_error", "Internal Server Error"),
        Failure::MalformedJson => Reply {
            status: 200,
            body: "<html><body>502 Bad Gateway</body></html>".to_owned(),
            retry_after_secs: None,
        },
        Failure::Refuse(msg) => Reply::json(200, &json!({"success": false, "msg": msg})),
        Failure::Reply { status, body } => Reply {
            status,
            body,
            retry_after_secs: None,
        },
    }
}

fn with_id(raw: &str, route: impl FnOnce(u64) -> Reply) -> Reply {
    match raw.parse::<u64>() {
        Ok(id) => route(id),
        Err(_) => Reply::error(400, "invalid_args", "instance id must be an integer"),
    }
}

/// Keyset pagination over rows sorted by id. The token names the last id of the previous page;
/// it contains `+` and `=` so that a client which does not percent-encode it breaks here too.
fn list_page(state: &State, request: &RecordedRequest) -> Reply {
    for json_param in ["order_by", "select_filters", "select_cols"] {
        if let Some(raw) = request.query_value(json_param)
            && serde_json::from_str::<Value>(raw).is_err()
        {
            return Reply::error(
                400,
                "invalid_request",
                &format!("Error in query parameters: {json_param} is not valid JSON"),
            );
        }
    }
    let limit = match request.query_value("limit").map(str::parse::<i64>) {
        None => 25,
        Some(Ok(n)) if n <= 0 => 5,
        Some(Ok(n)) => usize::try_from(n).unwrap_or(25).min(25),
        Some(Err(_)) => return Reply::error(400, "invalid_request", "limit must be an integer"),
    }
    .min(state.max_page);
    let after = match request.query_value("after_token") {
        None => None,
        Some(token) => match parse_token(token) {
            Some(id) => Some(id),
            None => return Reply::error(400, "invalid_token", "Invalid pagination token"),
        },
    };
    let remaining: Vec<&Value> = state
        .instances
        .iter()
        .filter(|row| after.is_none_or(|after| row_id(row) > after))
        .collect();
    let page: Vec<Value> = remaining
        .iter()
        .take(limit)
        .map(|row| (*row).clone())
        .collect();
    let next_token = if remaining.len() > limit {
        page.last()
            .map(|row| Value::String(make_token(row_id(row))))
    } else {
        None
    };
    let mut label_counts = Map::new();
    for row in &state.instances {
        let label = row
            .get("label")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let count = label_counts
            .get(&label)
            .and_then(Value::as_u64)
            .unwrap_or(0)
            + 1;
        label_counts.insert(label, json!(count));
    }
    Reply::json(
        200,
        &json!({
            "success": true,
            "instances_found": page.len(),
            "total_instances": state.instances.len(),
            "label_counts": label_counts,
            "next_token": next_token.unwrap_or(Value::Null),
            "instances": page,
        }),
    )
}

fn make_token(last_id: u64) -> String {
    format!("k+{last_id}==")
}

fn parse_token(token: &str) -> Option<u64> {
    token.strip_prefix("k+")?.strip_suffix("==")?.parse().ok()
}

fn show(state: &State, id: u64) -> Reply {
    match state.instances.iter().find(|row| row_id(row) == id) {
        Some(row) => Reply::json(200, &json!({ "instances": row })),
        None => no_such_instance(id),
    }
}

fn no_such_instance(id: u64) -> Reply {
    Reply::error(404, "no_such_instance", &format!("Instance {id} not found"))
}

/// `{"state": "running"}` starts, `{"state": "stopped"}` stops. A stopped row loses its `ports`
/// (the API only reports them for running instances) and gets them back on start.
fn change_state(state: &mut State, id: u64, body: &str) -> Reply {
    let target = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("state").and_then(Value::as_str).map(str::to_owned));
    let target = match target.as_deref() {
        Some(t @ ("running" | "stopped")) => t.to_owned(),
        _ => {
            return Reply::error(
                400,
                "invalid_args",
                "state must be \"running\" or \"stopped\"",
            );
        }
    };
    let Some(index) = state.instances.iter().position(|row| row_id(row) == id) else {
        return no_such_instance(id);
    };
    let stash = &mut state.stashed_ports;
    let Some(row) = state.instances[index].as_object_mut() else {
        return Reply::error(500, "server_error", "instance row is not an object");
    };
    for key in [
        "actual_status",
        "intended_status",
        "cur_state",
        "next_state",
    ] {
        row.insert(key.to_owned(), Value::String(target.clone()));
    }
    if target == "stopped" {
        if let Some(ports) = row.remove("ports") {
            stash.push((id, ports));
        }
    } else if let Some(pos) = stash.iter().position(|(stashed, _)| *stashed == id) {
        let (_, ports) = stash.remove(pos);
        row.insert("ports".to_owned(), ports);
    }
    Reply::json(200, &json!({"success": true}))
}
