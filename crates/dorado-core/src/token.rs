//! What an API token or a user may do.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One permission of a token: send events, read figures and lists, or
/// manage services, tokens and users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    Ingest,
    Read,
    Admin,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Read => "read",
            Self::Admin => "admin",
        }
    }
}

/// A set of scopes, in the fixed order ingest, read, admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TokenScopes {
    ingest: bool,
    read: bool,
    admin: bool,
}

impl TokenScopes {
    /// What a token gets when none are named, and what a user's basic auth gets.
    pub const DEFAULT: TokenScopes = TokenScopes {
        ingest: true,
        read: true,
        admin: false,
    };

    pub fn contains(self, s: TokenScope) -> bool {
        match s {
            TokenScope::Ingest => self.ingest,
            TokenScope::Read => self.read,
            TokenScope::Admin => self.admin,
        }
    }

    pub fn with(mut self, s: TokenScope) -> Self {
        match s {
            TokenScope::Ingest => self.ingest = true,
            TokenScope::Read => self.read = true,
            TokenScope::Admin => self.admin = true,
        }
        self
    }

    pub fn iter(self) -> impl Iterator<Item = TokenScope> {
        [TokenScope::Ingest, TokenScope::Read, TokenScope::Admin]
            .into_iter()
            .filter(move |s| self.contains(*s))
    }

    /// Reads `ingest,read,admin` (any order, any case, spaces allowed).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut scopes = Self::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let scope = match part.to_ascii_lowercase().as_str() {
                "ingest" => TokenScope::Ingest,
                "read" => TokenScope::Read,
                "admin" => TokenScope::Admin,
                _ => {
                    return Err(format!(
                        "'{part}' is not a scope; expected ingest, read or admin"
                    ));
                }
            };
            scopes = scopes.with(scope);
        }
        if scopes == Self::default() {
            return Err("name at least one scope: ingest, read or admin".into());
        }
        Ok(scopes)
    }

    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(TokenScope::as_str).collect()
    }
}

impl fmt::Display for TokenScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

impl Serialize for TokenScopes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_print_in_order() {
        let s = TokenScopes::parse("admin, Read").unwrap();
        assert_eq!(s.to_string(), "read,admin");
        assert!(!s.contains(TokenScope::Ingest));
        assert_eq!(TokenScopes::DEFAULT.to_string(), "ingest,read");
        assert!(TokenScopes::parse("write").is_err());
        assert!(TokenScopes::parse(" , ").is_err());
    }
}
