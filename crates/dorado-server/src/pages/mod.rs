//! The web pages: a scorecard per organization and service, the lists
//! behind its figures, and set-up pages for admins. Rendered on the server
//! from askama templates; the figures come from the same engine calls as
//! `GET /dora`, so the pages and the API never disagree.

mod admin;
mod assets;
mod cards;
mod charts;
mod drill;
mod error;
mod format;
mod hooks;
mod scorecard;
mod session;
mod signin;
mod sources;
mod window;

pub use error::PageError;
pub use session::{Pages, SessionKey};

use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(scorecard::home))
        .route("/signin", get(signin::form).post(signin::submit))
        .route("/signout", post(signin::signout))
        .route("/scorecard", get(scorecard::organization))
        .route("/services/{service}", get(scorecard::service))
        .route("/deployments", get(drill::deployments))
        .route("/incidents", get(drill::incidents))
        .route(
            "/settings/services",
            get(admin::services).post(admin::create_service),
        )
        .route("/settings/services/{service}", get(admin::service_setup))
        .route(
            "/settings/tokens",
            get(admin::tokens).post(admin::create_token),
        )
        .route("/settings/tokens/{id}/revoke", post(admin::revoke_token))
        .route("/settings/deliveries", get(admin::deliveries))
        .route(
            "/settings/sources",
            get(sources::list).post(sources::create),
        )
        .route("/settings/sources/{id}", get(sources::show))
        .route("/settings/sources/{id}/rotate", post(sources::rotate))
        .route("/settings/sources/{id}/delete", post(sources::delete))
        .route("/settings/sources/{id}/map", post(sources::map))
        .route(
            "/settings/sources/{id}/new-service",
            post(sources::new_service),
        )
        .route("/assets/{file}", get(assets::serve))
}

/// What the layout shows around every page of a signed-in user.
pub struct Nav {
    pub email: String,
    pub org: String,
    pub admin: bool,
    pub csrf: String,
    /// Which entry of the menu is this page.
    pub active: &'static str,
}

impl Nav {
    pub fn is(&self, entry: &str) -> bool {
        self.active == entry
    }
}

/// Renders a page with the headers every page carries: no caching (pages
/// show private data), no framing, and scripts and styles from the binary
/// only.
pub fn render(page: &impl Template) -> Result<Response, PageError> {
    let html = page
        .render()
        .map_err(|e| PageError::Internal(format!("rendering a page failed: {e}")))?;
    Ok(with_page_headers(Html(html).into_response()))
}

pub fn with_page_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
