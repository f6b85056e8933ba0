//! Values between serde and Python: through Python's `json` module, so results are plain
//! `dict`/`list`/`str`/`int`/`float`/`bool`/`None` the Python layer turns into dataclasses.

use pyo3::prelude::*;
use serde::Serialize;

/// `value` as a Python object (`json.loads` of its JSON).
pub(crate) fn to_py<'py, T: Serialize + ?Sized>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value).map_err(|e| {
        crate::errors::new_error(
            py,
            crate::errors::Kind::Base,
            format!("internal error: {e}"),
            None,
        )
    })?;
    py.import("json")?.call_method1("loads", (text,))
}
