//! How a page refuses: a short HTML page a person can act on, never the
//! API's problem JSON. A page that needs a session sends the browser to the
//! sign-in page and back.

use super::{Nav, encode, with_page_headers};
use crate::error::ApiError;
use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use dorado_store::StoreError;

#[derive(Debug)]
pub enum PageError {
    /// No valid session: sign in, then come back to `next`.
    SignIn {
        next: String,
    },
    Forbidden(String),
    NotFound(String),
    BadRequest(String),
    Unavailable(String),
    Internal(String),
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            ApiError::Forbidden(why) => Self::Forbidden(why),
            ApiError::Unavailable(why) => Self::Unavailable(why),
            ApiError::Internal(why) => Self::Internal(why),
            other => Self::BadRequest(other.detail()),
        }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    nav: Option<Nav>,
    title: &'static str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            Self::SignIn { next } => {
                let to = format!("/signin?next={}", encode(&next));
                return (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
            }
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m),
            Self::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m),
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, "That did not work", m),
            Self::Unavailable(m) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                format!("the service is unavailable: {m}"),
            ),
            Self::Internal(why) => {
                tracing::error!(error = %why, "a page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "the server log has the details".to_owned(),
                )
            }
        };
        let page = ErrorPage {
            nav: None,
            title,
            message,
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("{title}: the error page could not be rendered"));
        with_page_headers((status, Html(body)).into_response())
    }
}
