//! Sessions: a signed cookie holds who signed in and until when, so that
//! a page costs no session lookup and the store needs no session table.
//! Every visitor's session carries a random nonce; the CSRF token of every
//! form is an HMAC of that nonce, checked on every POST. Signing in issues a
//! new nonce (no session fixation); signing out remembers the nonce as dead
//! until it would have expired.

use super::PageError;
use crate::state::AppState;
use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use dorado_core::{OrgId, Timestamp};
use dorado_store::Org;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

const COOKIE: &str = "dorado_session";
/// A working day and then some: long enough not to interrupt, short
/// enough that a forgotten browser does not stay signed in for a week.
pub const LIFETIME_MS: i64 = 12 * 3_600_000;
/// Failed sign-ins allowed per email in one throttle window.
const MAX_FAILURES: u32 = 5;
const THROTTLE_WINDOW_MS: i64 = 15 * 60_000;
/// Bounds the memory the throttle and sign-out lists may take.
const MAX_REMEMBERED: usize = 100_000;

/// The key that signs session cookies. Its `Debug` never shows it.
///
/// Held as one HMAC-SHA-256 block: 32 key bytes and 32 zeros, which is how
/// HMAC pads a 32-byte key anyway, so that building a MAC cannot fail.
#[derive(Clone)]
pub struct SessionKey([u8; 64]);

impl SessionKey {
    /// From a secret of any length (`DORADO_SESSION_KEY`), hashed to 32 bytes.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Self::from_bytes(Sha256::digest(secret.as_ref()).into())
    }

    fn random() -> Self {
        Self::from_bytes(rand::rng().random())
    }

    fn from_bytes(bytes: [u8; 32]) -> Self {
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&bytes);
        Self(block)
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    #[serde(rename = "n")]
    pub nonce: String,
    /// Epoch milliseconds.
    #[serde(rename = "e")]
    pub expires: i64,
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub user: Option<SessionUser>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionUser {
    #[serde(rename = "i")]
    pub id: i64,
    #[serde(rename = "o")]
    pub org: i64,
    #[serde(rename = "a")]
    pub admin: bool,
    #[serde(rename = "m")]
    pub email: String,
}

impl Session {
    pub fn new(user: Option<SessionUser>) -> Self {
        let nonce: [u8; 18] = rand::rng().random();
        Self {
            nonce: B64.encode(nonce),
            expires: Timestamp::now().millis() + LIFETIME_MS,
            user,
        }
    }
}

/// The pages' own state: the signing key, and what one instance remembers.
pub struct Pages {
    key: SessionKey,
    pub public_url: Option<String>,
    /// Nonces of sessions signed out before they expired, with their expiry.
    signed_out: Mutex<HashMap<String, i64>>,
    /// Failed sign-ins per email: how many, since when.
    failures: Mutex<HashMap<String, (u32, i64)>>,
}

impl Pages {
    pub fn new(config: &crate::ServerConfig) -> Self {
        let key = config.session_key.clone().unwrap_or_else(|| {
            tracing::info!(
                "DORADO_SESSION_KEY is not set: signing sessions with a random key \
                 (sessions end when the server restarts)"
            );
            SessionKey::random()
        });
        Self {
            key,
            public_url: config.public_url.clone(),
            signed_out: Mutex::default(),
            failures: Mutex::default(),
        }
    }

    fn mac(&self, domain: &[u8], data: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&self.key.0.into());
        mac.update(domain);
        mac.update(data);
        mac
    }

    /// The `Set-Cookie` value that carries `session`.
    pub fn cookie(&self, session: &Session, secure: bool) -> String {
        let payload = B64.encode(serde_json::to_vec(session).unwrap_or_default());
        let tag = B64.encode(
            self.mac(b"session", payload.as_bytes())
                .finalize()
                .into_bytes(),
        );
        let max_age = (session.expires - Timestamp::now().millis() + 999).max(0) / 1000;
        format!(
            "{COOKIE}={payload}.{tag}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
            if secure { "; Secure" } else { "" }
        )
    }

    pub fn clear_cookie(&self, secure: bool) -> String {
        format!(
            "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{}",
            if secure { "; Secure" } else { "" }
        )
    }

    /// Whether cookies must be `Secure`: the public URL or a proxy says https.
    pub fn secure(&self, headers: &HeaderMap) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
            || headers
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
    }

    /// The request's session when its cookie is genuine, current and not
    /// signed out.
    pub fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let value = cookie_value(headers, COOKIE)?;
        let (payload, tag) = value.split_once('.')?;
        let tag = B64.decode(tag).ok()?;
        self.mac(b"session", payload.as_bytes())
            .verify_slice(&tag)
            .ok()?;
        let session: Session = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
        if session.expires <= Timestamp::now().millis() {
            return None;
        }
        let dead = self
            .signed_out
            .lock()
            .ok()
            .is_some_and(|s| s.contains_key(&session.nonce));
        (!dead).then_some(session)
    }

    /// The token every form of the session carries.
    pub fn csrf(&self, session: &Session) -> String {
        B64.encode(
            self.mac(b"csrf", session.nonce.as_bytes())
                .finalize()
                .into_bytes(),
        )
    }

    pub fn csrf_ok(&self, session: &Session, token: Option<&str>) -> bool {
        let Some(tag) = token.and_then(|t| B64.decode(t.trim()).ok()) else {
            return false;
        };
        self.mac(b"csrf", session.nonce.as_bytes())
            .verify_slice(&tag)
            .is_ok()
    }

    pub fn sign_out(&self, session: &Session) {
        if let Ok(mut dead) = self.signed_out.lock() {
            let now = Timestamp::now().millis();
            if dead.len() >= MAX_REMEMBERED {
                dead.retain(|_, expires| *expires > now);
            }
            dead.insert(session.nonce.clone(), session.expires);
        }
    }

    /// `Err(minutes)` while `email` has failed too often recently.
    pub fn throttled(&self, email: &str) -> Result<(), i64> {
        let now = Timestamp::now().millis();
        let Ok(failures) = self.failures.lock() else {
            return Ok(());
        };
        match failures.get(&email.to_lowercase()) {
            Some(&(n, since)) if n >= MAX_FAILURES && now - since < THROTTLE_WINDOW_MS => {
                Err((THROTTLE_WINDOW_MS - (now - since)) / 60_000 + 1)
            }
            _ => Ok(()),
        }
    }

    pub fn failed(&self, email: &str) {
        let now = Timestamp::now().millis();
        if let Ok(mut failures) = self.failures.lock() {
            if failures.len() >= MAX_REMEMBERED {
                failures.retain(|_, (_, since)| now - *since < THROTTLE_WINDOW_MS);
            }
            let entry = failures.entry(email.to_lowercase()).or_insert((0, now));
            if now - entry.1 >= THROTTLE_WINDOW_MS {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }

    pub fn succeeded(&self, email: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&email.to_lowercase());
        }
    }
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// A signed-in user, with the organization every page is limited to.
pub struct Me {
    pub org: Org,
    pub email: String,
    pub admin: bool,
    pub session: Session,
    pub csrf: String,
}

impl Me {
    pub fn nav(&self, active: &'static str) -> super::Nav {
        super::Nav {
            email: self.email.clone(),
            org: self.org.name.to_string(),
            admin: self.admin,
            csrf: self.csrf.clone(),
            active,
        }
    }

    pub fn require_admin(&self) -> Result<(), PageError> {
        if self.admin {
            Ok(())
        } else {
            Err(PageError::Forbidden(
                "only an admin of the organization may open this page".into(),
            ))
        }
    }
}

impl FromRequestParts<AppState> for Me {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let next = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let sign_in = || PageError::SignIn { next: next.clone() };
        let session = state.pages.session(&parts.headers).ok_or_else(sign_in)?;
        let user = session.user.clone().ok_or_else(sign_in)?;
        // The organization may have been renamed since: read it by id.
        let org = state
            .store
            .find_org(&user.org.to_string())
            .await?
            .filter(|o| o.id == OrgId(user.org))
            .ok_or_else(sign_in)?;
        Ok(Me {
            org,
            email: user.email,
            admin: user.admin,
            csrf: state.pages.csrf(&session),
            session,
        })
    }
}

/// A form posted by a signed-in user, its CSRF token checked.
pub struct Posted<T>(pub Me, pub T);

#[derive(Deserialize)]
struct WithCsrf<T> {
    #[serde(rename = "_csrf", default)]
    csrf: Option<String>,
    #[serde(flatten)]
    form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Posted<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = req.into_parts();
        let me = Me::from_request_parts(&mut parts, state).await?;
        let req = Request::from_parts(parts, body);
        let Form(posted) = Form::<WithCsrf<T>>::from_request(req, state)
            .await
            .map_err(|e| PageError::BadRequest(format!("the form is incomplete: {e}")))?;
        if !state.pages.csrf_ok(&me.session, posted.csrf.as_deref()) {
            return Err(csrf_refused());
        }
        Ok(Posted(me, posted.form))
    }
}

pub fn csrf_refused() -> PageError {
    PageError::Forbidden(
        "the form was not sent from a current Dorado page (its CSRF token is missing or \
         stale): reload the page and try again"
            .into(),
    )
}
