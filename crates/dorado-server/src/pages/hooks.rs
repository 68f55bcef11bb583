//! The base URL that the service set-up page shows senders; the list of
//! URLs itself is `crate::webhook_urls`, shared with `dorado service urls`.

use axum::http::{HeaderMap, header};

/// The base URL senders use: the configured public URL, else this
/// request's host (as the browser reached it).
pub fn base_url(public: Option<&str>, headers: &HeaderMap) -> String {
    if let Some(p) = public {
        return p.trim().trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
        })
        .unwrap_or("127.0.0.1:8080");
    let https = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}
