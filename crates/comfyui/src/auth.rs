//! Basic-auth credentials from a base URL's userinfo (`http://user:pass@host:8188`): split off
//! the URL (so no URL this crate shows or logs holds them) and sent as an `Authorization` header
//! on every HTTP request and on the WebSocket upgrade.

use std::fmt;

use base64::Engine as _;

/// An `Authorization: Basic ...` header value. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct BasicAuth(String);

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BasicAuth(<redacted>)")
    }
}

impl BasicAuth {
    /// From a URL's userinfo (`user` or `user:password`, percent-encoded as URLs write it).
    pub(crate) fn from_userinfo(userinfo: &str) -> Self {
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let mut pair = percent_decode(user);
        pair.push(b':');
        pair.extend(percent_decode(password));
        Self(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ))
    }

    /// The header value.
    pub(crate) fn header_value(&self) -> &str {
        &self.0
    }
}

/// `%XX` escapes decoded; anything else (a lone `%` too) kept as written.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(byte) = escaped {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// `url` with the password of its userinfo replaced by `<redacted>`, for error messages.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:<redacted>@{host}{}", &rest[end..])
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_rfc7617_basic() {
        // RFC 7617's example: Aladdin / open sesame.
        assert_eq!(
            BasicAuth::from_userinfo("Aladdin:open%20sesame").header_value(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(
            BasicAuth::from_userinfo("u").header_value(),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("u:")
            )
        );
        assert!(!format!("{:?}", BasicAuth::from_userinfo("a:b")).contains("YTpi"));
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%40b%zz%4"), b"a@b%zz%4");
    }

    #[test]
    fn redaction() {
        assert_eq!(redact("http://u:p@h:1/x?y"), "http://u:<redacted>@h:1/x?y");
        assert_eq!(redact("http://h:1/x@y"), "http://h:1/x@y");
    }
}
