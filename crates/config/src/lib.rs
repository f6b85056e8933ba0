//! The comfy-local YAML configuration: schema, defaults, `${VAR}` expansion and validation.
//!
//! Only this crate touches YAML. (Filled by the foundation issue.)
