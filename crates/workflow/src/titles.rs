//! Default node titles as the frontend writes them into `_meta.title` (its English locale, which
//! differs from `object_info`'s `display_name` for about a hundred classes).

use std::collections::HashMap;

use super::error::WorkflowError;
use super::object_info::ObjectInfo;

const EMBEDDED: &str = include_str!("../../../fixtures/comfyui/frontend_node_titles.json");

/// Class name -> default title.
#[derive(Debug, Clone, Default)]
pub struct Titles {
    map: HashMap<String, String>,
}

impl Titles {
    /// The titles of frontend 1.27 (`fixtures/comfyui/frontend_node_titles.json`).
    pub fn embedded() -> Self {
        Self::parse(EMBEDDED.as_bytes()).unwrap_or_default()
    }

    /// Reads a JSON object of class name -> title.
    pub fn parse(bytes: &[u8]) -> Result<Self, WorkflowError> {
        let map =
            serde_json::from_slice(bytes).map_err(|source| WorkflowError::TitlesJson { source })?;
        Ok(Self { map })
    }

    /// The title the frontend gives a node of `class` that has no title of its own: the locale
    /// title, else `object_info`'s `display_name`, else the class name.
    pub fn default_title<'a>(&'a self, class: &'a str, object_info: &'a ObjectInfo) -> &'a str {
        if let Some(t) = self.map.get(class) {
            return t;
        }
        object_info
            .class(class)
            .and_then(|c| c.display_name.as_deref())
            .unwrap_or(class)
    }
}
