//! Names and keys that parse instead of validate: once a value has one of
//! these types it is known to be well formed and normalized, so the store and
//! the engine compare them without second-guessing.

use serde::{Deserialize, Serialize};
use std::fmt;

const MAX_NAME: usize = 100;
const MAX_KEY: usize = 255;
const MAX_SHA: usize = 128;

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

macro_rules! string_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// Wraps a value that was parsed before, such as one read back
            /// from the database.
            pub fn from_trusted(s: impl Into<String>) -> Self {
                Self(s.into())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// Checks an organization or service name: 1 to 100 characters of letters,
/// digits, `.`, `_` and `-`, starting with a letter or digit, and not only
/// digits (so that a name never reads as an id where both are accepted).
fn parse_name(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.chars().count() > MAX_NAME {
        return Err(format!("must be at most {MAX_NAME} characters"));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(format!(
            "'{s}' may only hold letters, digits, '.', '_' and '-'"
        ));
    }
    if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("must start with a letter or digit".into());
    }
    if s.chars().all(|c| c.is_ascii_digit()) {
        return Err("must not be only digits (it would read as an id)".into());
    }
    Ok(s.to_owned())
}

string_type!(/// An organization's name, unique in the installation.
    OrgName);
string_type!(/// A service's name, unique inside its organization.
    ServiceName);

impl OrgName {
    pub fn parse(s: &str) -> Result<Self, String> {
        parse_name(s).map(Self)
    }
}

impl ServiceName {
    pub fn parse(s: &str) -> Result<Self, String> {
        parse_name(s).map(Self)
    }
}

string_type!(/// A deployment environment, compared case-insensitively and stored in
    /// lower case: `production`, `staging`, or any word the sender uses.
    Environment);

impl Environment {
    pub fn production() -> Self {
        Self("production".into())
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        if s.chars().count() > 64 || has_control(s) {
            return Err("must be at most 64 printable characters".into());
        }
        Ok(Self(s.to_lowercase()))
    }

    pub fn is_production(&self) -> bool {
        self.0 == "production"
    }
}

string_type!(/// A repository as the engine matches it: the URL or name in lower case,
    /// without scheme, user, trailing `/` or `.git`, so that
    /// `https://github.com/Acme/Shop.git`, `git@github.com:acme/shop` and
    /// `github.com/acme/shop` are one repository.
    RepoKey);

impl RepoKey {
    pub fn parse(s: &str) -> Result<Self, String> {
        let raw = s.trim();
        if raw.is_empty() {
            return Err("must not be empty".into());
        }
        if raw.len() > 2048 || has_control(raw) {
            return Err("must be at most 2048 printable characters".into());
        }
        let mut key = raw.to_lowercase();
        let mut had_scheme = false;
        if let Some(at) = key.find("://") {
            key = key[at + 3..].to_owned();
            had_scheme = true;
        }
        // `user@host...`: drop the user, but only before the first '/'.
        if let Some(at) = key.find('@')
            && key.find('/').is_none_or(|slash| at < slash)
        {
            key = key[at + 1..].to_owned();
            // scp-like `host:path` (only without a scheme, where ':' is a port).
            if !had_scheme
                && let Some(colon) = key.find(':')
                && key.find('/').is_none_or(|slash| colon < slash)
            {
                key.replace_range(colon..colon + 1, "/");
            }
        }
        loop {
            let before = key.len();
            key = key.trim_end_matches('/').to_owned();
            if let Some(stripped) = key.strip_suffix(".git") {
                key = stripped.to_owned();
            }
            if key.len() == before {
                break;
            }
        }
        if key.is_empty() {
            return Err(format!("'{raw}' names no repository"));
        }
        Ok(Self(key))
    }
}

string_type!(/// A commit id: a git sha (40 or 64 hex characters) or any other revision
    /// name a sender uses, in lower case.
    Sha);

impl Sha {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        // Inner spaces are allowed: DevLake's own authenticated sample sends
        // `"commit_sha":"the sha of deployment commit1"`, and scripts copy it.
        if s.chars().count() > MAX_SHA || has_control(s) {
            return Err(format!("must be at most {MAX_SHA} printable characters"));
        }
        Ok(Self(s.to_lowercase()))
    }

    /// A full git object id: 40 (SHA-1) or 64 (SHA-256) hex characters.
    pub fn parse_full_hex(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if !(t.len() == 40 || t.len() == 64) || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "'{t}' is not a full commit sha: expected 40 or 64 hex characters"
            ));
        }
        Ok(Self(t.to_lowercase()))
    }
}

fn parse_key(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.chars().count() > MAX_KEY || has_control(s) {
        return Err(format!("must be at most {MAX_KEY} printable characters"));
    }
    Ok(s.to_owned())
}

string_type!(/// The id a sender gives a deployment, unique in its service.
    ExternalId);
string_type!(/// An incident's key (`INC-3`), unique in its service.
    IncidentKey);

impl ExternalId {
    pub fn parse(s: &str) -> Result<Self, String> {
        parse_key(s).map(Self)
    }
}

impl IncidentKey {
    pub fn parse(s: &str) -> Result<Self, String> {
        parse_key(s).map(Self)
    }
}

string_type!(/// A user's email, in lower case: the user's sign-in name.
    Email);

impl Email {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let ok = s.len() <= 254
            && !has_control(s)
            && !s.contains(char::is_whitespace)
            && s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && !domain.is_empty() && !domain.contains('@')
            });
        if ok {
            Ok(Self(s.to_lowercase()))
        } else {
            Err(format!("'{s}' is not an email address"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_keys_match_across_spellings() {
        let want = "github.com/acme/shop";
        for s in [
            "https://github.com/Acme/Shop.git",
            "https://github.com/acme/shop/",
            "git@github.com:acme/shop.git",
            "ssh://git@github.com/acme/shop",
            "github.com/acme/shop",
            "GitHub.com/acme/shop.git/",
        ] {
            assert_eq!(RepoKey::parse(s).unwrap().as_str(), want, "{s}");
        }
        assert_eq!(RepoKey::parse("repo-1").unwrap().as_str(), "repo-1");
        assert_eq!(
            RepoKey::parse("http://host:8080/x/y").unwrap().as_str(),
            "host:8080/x/y"
        );
        assert!(RepoKey::parse(" ").is_err());
        assert!(RepoKey::parse(".git").is_err());
    }

    #[test]
    fn names_are_not_ids() {
        assert!(OrgName::parse("acme").is_ok());
        assert!(OrgName::parse("acme-2.eu_west").is_ok());
        assert!(OrgName::parse("123").is_err());
        assert!(OrgName::parse("-x").is_err());
        assert!(OrgName::parse("a b").is_err());
        assert!(OrgName::parse("").is_err());
    }

    #[test]
    fn shas_and_environments_normalize() {
        assert_eq!(Sha::parse(" ABC ").unwrap().as_str(), "abc");
        assert_eq!(
            Sha::parse(" The sha of deployment commit1 ")
                .unwrap()
                .as_str(),
            "the sha of deployment commit1"
        );
        assert!(Sha::parse("a\tb").is_err());
        assert!(Sha::parse("a\nb").is_err());
        assert!(Sha::parse("   ").is_err());
        assert!(Sha::parse(&"é".repeat(128)).is_ok());
        assert!(Sha::parse(&"a".repeat(129)).is_err());
        assert!(Sha::parse_full_hex(&"a".repeat(40)).is_ok());
        assert!(Sha::parse_full_hex(&"a".repeat(64)).is_ok());
        assert!(Sha::parse_full_hex(&"a".repeat(41)).is_err());
        assert!(Sha::parse_full_hex(&"g".repeat(40)).is_err());
        assert_eq!(
            Environment::parse("PRODUCTION").unwrap(),
            Environment::production()
        );
        assert_eq!(Email::parse("Dev@Acme.io").unwrap().as_str(), "dev@acme.io");
        assert!(Email::parse("nope").is_err());
    }
}
