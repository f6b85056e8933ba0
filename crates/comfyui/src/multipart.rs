//! `multipart/form-data` bodies for `/upload/image` and `/upload/mask`.
//!
//! ureq 3 ships multipart only under its `unversioned` (not semver-stable) module, and an upload
//! here is a few text fields plus one in-memory file, so the body is built directly.

/// One form built in memory.
#[derive(Debug)]
pub(crate) struct Form {
    boundary: String,
    body: Vec<u8>,
}

impl Form {
    pub(crate) fn new() -> Self {
        Self {
            boundary: format!("comfy-local-{}", uuid::Uuid::new_v4().simple()),
            body: Vec::new(),
        }
    }

    pub(crate) fn text(mut self, name: &str, value: &str) -> Self {
        self.head(name, None);
        self.body.extend_from_slice(value.as_bytes());
        self.body.extend_from_slice(b"\r\n");
        self
    }

    /// `filename` must already be validated (no quotes, CR, LF).
    pub(crate) fn file(
        mut self,
        name: &str,
        filename: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Self {
        self.head(name, Some((filename, content_type)));
        self.body.extend_from_slice(bytes);
        self.body.extend_from_slice(b"\r\n");
        self
    }

    fn head(&mut self, name: &str, file: Option<(&str, &str)>) {
        self.body
            .extend_from_slice(format!("--{}\r\n", self.boundary).as_bytes());
        match file {
            Some((filename, ct)) => self.body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {ct}\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => self
                .body
                .extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
    }

    /// The `Content-Type` header value and the finished body.
    pub(crate) fn finish(mut self) -> (String, Vec<u8>) {
        self.body
            .extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        (
            format!("multipart/form-data; boundary={}", self.boundary),
            self.body,
        )
    }
}

/// Guesses an upload's content type from its file name.
pub(crate) fn content_type_for(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit('.').next().unwrap_or_default();
    match ext {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        _ => "application/octet-stream",
    }
}
