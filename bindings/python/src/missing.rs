//! `install_missing`'s result as the Python layer reads it: the plan, each item's outcome and
//! what the check after the installs still finds missing.

use comfy_local_sdk::error_chain;
use comfy_local_sdk::install::missing::{Checked, Executed};
use serde_json::{Value, json};

/// The dry run's result.
pub(crate) fn planned(checked: &Checked) -> Value {
    json!({
        "dry_run": true,
        "ok": checked.plan.is_complete(),
        "plan": checked.plan,
        "report": checked.report,
        "results": [],
        "still_missing": checked.report,
        "restart_required_for": [],
    })
}

/// The result after the installs: each item's outcome and what is still missing (node classes
/// installed now are left out of that: ComfyUI loads them when it restarts).
pub(crate) fn installed(
    checked: &Checked,
    executed: &Executed,
    again: &Checked,
    cancelled: bool,
) -> Value {
    let (still, restart) = executed.after(&again.report);
    let mut results = Vec::new();
    for (item, result) in &executed.models {
        results.push(item_result(
            "model",
            item,
            result.as_ref().map(|o| json!(o)),
            error_chain,
        ));
    }
    for (item, result) in &executed.nodes {
        results.push(item_result(
            "node",
            item,
            result.as_ref().map(|o| json!(o)),
            error_chain,
        ));
    }
    let remaining = !still.missing_nodes.is_empty()
        || !still.missing_models.is_empty()
        || still.conversion_error.is_some();
    json!({
        "dry_run": false,
        "ok": executed.failures() == 0 && !remaining && !cancelled,
        "plan": checked.plan,
        "report": checked.report,
        "results": results,
        "still_missing": still,
        "restart_required_for": restart,
    })
}

fn item_result<T: serde::Serialize, E: std::error::Error>(
    kind: &str,
    item: &T,
    result: Result<Value, &E>,
    chain: fn(&dyn std::error::Error) -> String,
) -> Value {
    match result {
        Ok(outcome) => json!({"kind": kind, "item": item, "ok": true, "outcome": outcome}),
        Err(e) => json!({"kind": kind, "item": item, "ok": false, "error": chain(e)}),
    }
}
