//! `comfy-local test-connection`: the staged connection report as a table (or JSON), with an
//! exit code naming the kind of the first failure.

use std::io::Write;

use comfy_local_sdk::{FailureKind, TestConnectionOptions, test_connection};

use crate::cli::{GlobalArgs, TestConnectionArgs};
use crate::exit::{Code, Failure};

/// Run the connection test and print the report.
pub fn run(
    global: &GlobalArgs,
    args: &TestConnectionArgs,
    stdout: &mut dyn Write,
) -> anyhow::Result<()> {
    let opts = TestConnectionOptions {
        instance: args.instance.clone(),
    };
    let report = test_connection(global.config.as_deref(), &opts);
    if global.json {
        writeln!(stdout, "{}", serde_json::to_string(&report)?)?;
    } else {
        write!(stdout, "{}", report.to_table())?;
    }
    let Some(failure) = report.first_failure() else {
        return Ok(());
    };
    let code = match failure.stage.failure_kind() {
        FailureKind::Config => Code::Usage,
        FailureKind::Connection => Code::Connection,
        FailureKind::Remote => Code::Remote,
    };
    Err(Failure {
        code,
        message: format!(
            "connection test failed at \"{}\": {}",
            failure.title, failure.detail
        ),
        hint: failure.hint.clone(),
        json_printed: global.json,
    }
    .into())
}
