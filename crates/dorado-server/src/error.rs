//! Every refusal the server gives, and the one place that turns it into
//! HTTP: RFC 9457 problem details for the native and Allstacks endpoints,
//! DevLake's envelope for DevLake's.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dorado_core::{FieldError, ValidationError};
use dorado_hooks::HookError;
use dorado_store::StoreError;
use serde_json::json;

/// How an endpoint's callers expect errors to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavor {
    #[default]
    Problem,
    Devlake,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A native source's delivery whose signature or token does not hold.
    #[error("{0}")]
    Unsigned(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    /// A route that exists, asked with a method it does not answer.
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{0}")]
    Invalid(ValidationError),
    #[error("the body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the service is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Invalid(ValidationError::single(pointer, detail))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) | Self::Unsigned(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Syntax { .. } | Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) | Self::Unsigned(_) => "Unauthorized",
            Self::Forbidden(_) => "Forbidden",
            Self::NotFound(_) => "Not Found",
            Self::MethodNotAllowed(_) => "Method Not Allowed",
            Self::Conflict(_) => "Conflict",
            Self::Syntax { .. } => "Malformed JSON",
            Self::Invalid(_) => "Invalid input",
            Self::TooLarge { .. } => "Payload Too Large",
            Self::Unavailable(_) => "Service Unavailable",
            Self::Internal(_) => "Internal Server Error",
        }
    }

    fn field_errors(&self) -> &[FieldError] {
        match self {
            Self::Invalid(v) => &v.errors,
            _ => &[],
        }
    }

    /// The sentence a person reads; internal details stay in the log.
    pub fn detail(&self) -> String {
        match self {
            Self::Internal(_) => "internal error; the server log has the details".into(),
            other => other.to_string(),
        }
    }

    pub fn with_flavor(self, flavor: Flavor) -> FlavoredError {
        FlavoredError {
            error: self,
            flavor,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Conflict(why) => Self::Conflict(why),
            StoreError::Invalid(v) => Self::Invalid(v),
            StoreError::Unauthorized => {
                Self::Unauthorized("the credentials are unknown, expired or revoked")
            }
            StoreError::Closed => Self::Unavailable("shutting down".into()),
            StoreError::Overloaded => {
                Self::Unavailable("too many writes are waiting; retry shortly".into())
            }
            busy if busy.is_busy() => {
                Self::Unavailable("the database is busy (a bulk import?); retry shortly".into())
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<HookError> for ApiError {
    fn from(e: HookError) -> Self {
        match e {
            HookError::Syntax {
                line,
                column,
                message,
            } => Self::Syntax {
                line,
                column,
                message,
            },
            HookError::Invalid(v) => Self::Invalid(v),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(v: ValidationError) -> Self {
        Self::Invalid(v)
    }
}

/// An error together with the shape its endpoint answers in.
#[derive(Debug)]
pub struct FlavoredError {
    pub error: ApiError,
    pub flavor: Flavor,
}

impl From<ApiError> for FlavoredError {
    fn from(error: ApiError) -> Self {
        Self {
            error,
            flavor: Flavor::Problem,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        FlavoredError::from(self).into_response()
    }
}

impl IntoResponse for FlavoredError {
    fn into_response(self) -> Response {
        let err = self.error;
        let status = err.status();
        if let ApiError::Internal(why) = &err {
            tracing::error!(error = %why, "request failed");
        }
        let mut response = match self.flavor {
            Flavor::Problem => {
                let mut body = json!({
                    "type": "about:blank",
                    "title": err.title(),
                    "status": status.as_u16(),
                    "detail": err.detail(),
                });
                if let ApiError::Syntax { line, column, .. } = &err {
                    body["line"] = json!(line);
                    body["column"] = json!(column);
                }
                let errors = err.field_errors();
                if !errors.is_empty() {
                    body["errors"] = json!(errors);
                }
                let mut r = (status, Json(body)).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/problem+json"),
                );
                r
            }
            Flavor::Devlake => {
                let causes = if err.field_errors().is_empty() {
                    serde_json::Value::Null
                } else {
                    json!(err.field_errors())
                };
                let body = json!({
                    "code": status.as_u16(),
                    "success": false,
                    "message": err.detail(),
                    "causes": causes,
                    "data": null,
                });
                (status, Json(body)).into_response()
            }
        };
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Every 503 is a moment's condition (a full write queue, a busy
            // database, a restart): senders retry after a second.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNAUTHORIZED {
            let h = response.headers_mut();
            h.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"dorado\""),
            );
            h.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"dorado\", charset=\"UTF-8\""),
            );
        }
        response
    }
}
