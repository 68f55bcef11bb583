//! The endpoint a body was sent to, in a text form stored with each delivery
//! so that `dorado reindex` can read the body again with the same dialect.

use dorado_core::SourceKind;
use std::fmt;
use std::str::FromStr;

/// Which endpoint a body was sent to.
///
/// The text form (`Display`/`FromStr`) is canonical and round-trips
/// exactly: `native/deployments`, `native/changes`, `native/incidents`,
/// `native/incidents/{key}/resolve`, `events`, `devlake/deployments`,
/// `devlake/issues`, `devlake/issues/{key}/close`, `allstacks/cicd_job`,
/// `import`, `sources/{id}/{kind}` and `sources/{id}/{kind}/{event}`.
/// Keys are percent-encoded (every byte outside RFC 3986's path
/// characters, `/` and `%` included), so a key holding `/` stays one segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    NativeDeployment,
    NativeChanges,
    NativeIncident,
    NativeResolve {
        key: String,
    },
    Events,
    DevlakeDeployment,
    DevlakeIssue,
    DevlakeClose {
        key: String,
    },
    /// DevLake's `cicd_tasks`.
    DevlakeTask,
    /// DevLake's `cicd_pipeline/{pipelineName}/finish`.
    DevlakeFinish {
        pipeline: String,
    },
    AllstacksJob,
    /// A chunk of `dorado import`: JSON lines of the event API, the lines
    /// the import accepted.
    Import,
    /// A delivery of a native source: its id, its kind, and the event
    /// name the tool sent in a header (empty when it sends none).
    Source {
        source: i64,
        kind: SourceKind,
        event: String,
    },
}

impl Endpoint {
    /// The dialect, which is also the `source` of the commands it makes.
    pub fn dialect(&self) -> &'static str {
        match self {
            Self::NativeDeployment | Self::NativeChanges | Self::NativeIncident => "native",
            Self::NativeResolve { .. } => "native",
            Self::Events => "events",
            Self::DevlakeDeployment | Self::DevlakeIssue | Self::DevlakeClose { .. } => "devlake",
            Self::DevlakeTask | Self::DevlakeFinish { .. } => "devlake",
            Self::AllstacksJob => "allstacks",
            Self::Import => "import",
            Self::Source { kind, .. } => kind.as_str(),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NativeDeployment => f.write_str("native/deployments"),
            Self::NativeChanges => f.write_str("native/changes"),
            Self::NativeIncident => f.write_str("native/incidents"),
            Self::NativeResolve { key } => write!(f, "native/incidents/{}/resolve", encode(key)),
            Self::Events => f.write_str("events"),
            Self::DevlakeDeployment => f.write_str("devlake/deployments"),
            Self::DevlakeIssue => f.write_str("devlake/issues"),
            Self::DevlakeClose { key } => write!(f, "devlake/issues/{}/close", encode(key)),
            Self::DevlakeTask => f.write_str("devlake/cicd_tasks"),
            Self::DevlakeFinish { pipeline } => {
                write!(f, "devlake/cicd_pipeline/{}/finish", encode(pipeline))
            }
            Self::AllstacksJob => f.write_str("allstacks/cicd_job"),
            Self::Import => f.write_str("import"),
            Self::Source {
                source,
                kind,
                event,
            } if event.is_empty() => write!(f, "sources/{source}/{kind}"),
            Self::Source {
                source,
                kind,
                event,
            } => write!(f, "sources/{source}/{kind}/{}", encode(event)),
        }
    }
}

/// A stored route that names no endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an endpoint")]
pub struct ParseEndpointError(pub String);

impl FromStr for Endpoint {
    type Err = ParseEndpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = || ParseEndpointError(s.to_owned());
        Ok(match s {
            "native/deployments" => Self::NativeDeployment,
            "native/changes" => Self::NativeChanges,
            "native/incidents" => Self::NativeIncident,
            "events" => Self::Events,
            "devlake/deployments" => Self::DevlakeDeployment,
            "devlake/issues" => Self::DevlakeIssue,
            "devlake/cicd_tasks" => Self::DevlakeTask,
            "allstacks/cicd_job" => Self::AllstacksJob,
            "import" => Self::Import,
            _ => {
                if let Some(k) = between(s, "native/incidents/", "/resolve") {
                    Self::NativeResolve {
                        key: decode(k).ok_or_else(fail)?,
                    }
                } else if let Some(k) = between(s, "devlake/issues/", "/close") {
                    Self::DevlakeClose {
                        key: decode(k).ok_or_else(fail)?,
                    }
                } else if let Some(p) = between(s, "devlake/cicd_pipeline/", "/finish") {
                    Self::DevlakeFinish {
                        pipeline: decode(p).ok_or_else(fail)?,
                    }
                } else if let Some(rest) = s.strip_prefix("sources/") {
                    source_endpoint(rest).ok_or_else(fail)?
                } else {
                    return Err(fail());
                }
            }
        })
    }
}

/// `{id}/{kind}` or `{id}/{kind}/{event}`, in canonical form only.
fn source_endpoint(rest: &str) -> Option<Endpoint> {
    let mut parts = rest.splitn(3, '/');
    let id = parts.next()?;
    let kind = SourceKind::parse(parts.next()?).ok()?;
    let event = match parts.next() {
        Some(e) if !e.is_empty() && !e.contains('/') => decode(e)?,
        Some(_) => return None,
        None => String::new(),
    };
    let canonical =
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !id.starts_with('0');
    let endpoint = Endpoint::Source {
        source: id.parse().ok().filter(|_| canonical)?,
        kind,
        event,
    };
    (endpoint.to_string() == format!("sources/{rest}")).then_some(endpoint)
}

/// The text between `head` and `tail`, when it is one path segment.
fn between<'s>(s: &'s str, head: &str, tail: &str) -> Option<&'s str> {
    let mid = s.strip_prefix(head)?.strip_suffix(tail)?;
    (!mid.contains('/')).then_some(mid)
}

fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b)
}

fn encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key.as_bytes() {
        if is_plain(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The inverse of [`encode`]; `None` for anything `encode` never writes,
/// so that each key has exactly one text form.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            if hex.bytes().any(|h| h.is_ascii_lowercase()) {
                return None;
            }
            let v = u8::from_str_radix(hex, 16).ok()?;
            if is_plain(v) {
                return None;
            }
            out.push(v);
            i += 3;
        } else if is_plain(b) {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_encode_to_one_segment_and_back() {
        for key in ["INC-3", "a/b", "50%", "é ü", "", "%2F", "~x:y@z", "a\u{0}b"] {
            for e in [
                Endpoint::NativeResolve { key: key.into() },
                Endpoint::DevlakeClose { key: key.into() },
            ] {
                let text = e.to_string();
                assert_eq!(text.matches('/').count(), 3, "{text}");
                assert_eq!(text.parse::<Endpoint>(), Ok(e), "{text}");
            }
        }
        assert_eq!(
            Endpoint::NativeResolve {
                key: "a/b c".into()
            }
            .to_string(),
            "native/incidents/a%2Fb%20c/resolve"
        );
    }

    #[test]
    fn import_round_trips() {
        assert_eq!(Endpoint::Import.to_string(), "import");
        assert_eq!("import".parse::<Endpoint>(), Ok(Endpoint::Import));
        assert_eq!(Endpoint::Import.dialect(), "import");
    }

    #[test]
    fn sources_round_trip() {
        for e in [
            Endpoint::Source {
                source: 5,
                kind: SourceKind::Github,
                event: "deployment_status".into(),
            },
            Endpoint::Source {
                source: 12,
                kind: SourceKind::Pagerduty,
                event: String::new(),
            },
            Endpoint::Source {
                source: 1,
                kind: SourceKind::Gitlab,
                event: "Push Hook".into(),
            },
        ] {
            let text = e.to_string();
            assert_eq!(text.parse::<Endpoint>(), Ok(e.clone()), "{text}");
        }
        for bad in [
            "sources/05/github",
            "sources/x/github",
            "sources/5/svn",
            "sources/5/github/",
            "sources/5/GitHub",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
    }

    #[test]
    fn only_canonical_text_parses() {
        for bad in [
            "native/incidents/a/b/resolve",
            "native/incidents/a%2fb/resolve",
            "native/incidents/%41/resolve",
            "native/incidents/a%2/resolve",
            "native/incidents/a b/resolve",
            "devlake/issues/%FF/close",
            "devlake/issue/x/close",
            "Events",
            "Import",
            "import/",
            "",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
    }
}
