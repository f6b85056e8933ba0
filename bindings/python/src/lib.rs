//! `comfy_local._native`: the sdk facade as a CPython extension module (PyO3, abi3). The typed
//! Python API (`comfy_local.Client`, result dataclasses, exceptions) is in `python/comfy_local`;
//! this module hands it plain JSON-shaped values, runs blocking work with the interpreter
//! released, and calls callbacks on the calling thread.

// Python names (KeyboardInterrupt, PyO3, CPython) are prose here, not Rust code.
#![expect(clippy::doc_markdown, reason = "Python names in prose")]

mod client;
mod errors;
mod events;
mod json;
mod missing;
mod pump;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<client::Client>()?;
    m.add_function(wrap_pyfunction!(client::test_connection, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
