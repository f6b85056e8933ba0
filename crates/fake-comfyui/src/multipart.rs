//! Minimal `multipart/form-data` parsing for the fake's upload routes (dev-only, trusted input).

/// One form field: name, optional file name, bytes.
#[derive(Debug)]
pub(crate) struct Field {
    pub name: String,
    pub filename: Option<String>,
    pub data: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn param(header: &str, key: &str) -> Option<String> {
    let pat = format!("{key}=\"");
    let start = header.find(&pat)? + pat.len();
    let end = header[start..].find('"')? + start;
    Some(header[start..end].to_owned())
}

/// Splits a body by the boundary of its content type; `None` when it is not multipart.
pub(crate) fn parse(content_type: &str, body: &[u8]) -> Option<Vec<Field>> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delim = format!("--{boundary}").into_bytes();
    let mut fields = Vec::new();
    let mut pos = find(body, &delim, 0)? + delim.len();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            break;
        }
        pos += 2; // CRLF after the delimiter
        let head_end = find(body, b"\r\n\r\n", pos)?;
        let head = String::from_utf8_lossy(&body[pos..head_end]).into_owned();
        let data_start = head_end + 4;
        let next = find(body, &delim, data_start)?;
        let data_end = next.checked_sub(2)?; // CRLF before the delimiter
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))?;
        fields.push(Field {
            name: param(disposition, "name")?,
            filename: param(disposition, "filename"),
            data: body.get(data_start..data_end)?.to_vec(),
        });
        pos = next + delim.len();
    }
    Some(fields)
}
