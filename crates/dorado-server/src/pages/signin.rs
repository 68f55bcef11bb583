//! Signing in with an email and password, and out.

use super::session::{Posted, Session, SessionUser, csrf_refused};
use super::{Nav, PageError, render};
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    nav: Option<Nav>,
    csrf: String,
    next: String,
    email: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Only a path of this server: never `//host` or a full URL elsewhere.
fn local(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.chars().any(char::is_control) =>
        {
            n.to_owned()
        }
        _ => "/scorecard".to_owned(),
    }
}

pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Next>,
) -> Result<Response, PageError> {
    let next = local(q.next.as_deref());
    let session = match state.pages.session(&headers) {
        Some(s) if s.user.is_some() => return Ok(Redirect::to(&next).into_response()),
        Some(s) => s,
        None => Session::new(None),
    };
    page(
        &state,
        &headers,
        session,
        next,
        String::new(),
        None,
        StatusCode::OK,
    )
}

/// The form again, with a session cookie that its CSRF token belongs to.
fn page(
    state: &AppState,
    headers: &HeaderMap,
    session: Session,
    next: String,
    email: String,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let cookie = state.pages.cookie(&session, state.pages.secure(headers));
    let body = render(&SignInPage {
        nav: None,
        csrf: state.pages.csrf(&session),
        next,
        email,
        error,
    })?;
    Ok((status, [(header::SET_COOKIE, cookie)], body).into_response())
}

#[derive(Deserialize)]
pub struct Credentials {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(c): Form<Credentials>,
) -> Result<Response, PageError> {
    let next = local(c.next.as_deref());
    let email = c.email.trim().to_owned();
    let Some(session) = state.pages.session(&headers) else {
        let error = "The sign-in form had expired. Please sign in again.".to_owned();
        let fresh = Session::new(None);
        return page(
            &state,
            &headers,
            fresh,
            next,
            email,
            Some(error),
            StatusCode::FORBIDDEN,
        );
    };
    if !state.pages.csrf_ok(&session, c.csrf.as_deref()) {
        return Err(csrf_refused());
    }
    let again = |error: String, status| {
        page(
            &state,
            &headers,
            session.clone(),
            next.clone(),
            email.clone(),
            Some(error),
            status,
        )
    };
    if let Err(minutes) = state.pages.throttled(&email) {
        let error = format!(
            "Too many failed sign-ins for this email. Try again in {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        );
        return again(error, StatusCode::TOO_MANY_REQUESTS);
    }
    let Some((user, _)) = state.store.authenticate_user(&email, &c.password).await? else {
        state.pages.failed(&email);
        return again(
            "That email and password do not match.".into(),
            StatusCode::UNAUTHORIZED,
        );
    };
    state.pages.succeeded(&email);
    // A new nonce: whatever knew the visitor's old session learns nothing.
    let signed_in = Session::new(Some(SessionUser {
        id: user.id.0,
        org: user.org_id.0,
        admin: user.admin,
        email: user.email.to_string(),
    }));
    let cookie = state.pages.cookie(&signed_in, state.pages.secure(&headers));
    Ok((
        StatusCode::SEE_OTHER,
        [(header::SET_COOKIE, cookie), (header::LOCATION, next)],
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct Nothing {}

pub async fn signout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Posted(me, Nothing {}): Posted<Nothing>,
) -> Response {
    state.pages.sign_out(&me.session);
    let cookie = state.pages.clear_cookie(state.pages.secure(&headers));
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/signin".to_owned()),
        ],
    )
        .into_response()
}
