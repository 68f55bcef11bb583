//! Each vendor's check that a delivery comes from the tool that holds the
//! source's secret, over the raw bytes, before anything is parsed. Every
//! comparison runs in constant time. During a rotation a source has two
//! secrets; either one passes.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Why a delivery was not believed. The message is the 401's detail: it
/// names the header, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unverified {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {0} header is malformed: {1}")]
    Malformed(&'static str, &'static str),
    #[error("the {0} header does not match the source's secret")]
    Mismatch(&'static str),
    #[error("the source has no secret yet: {0}")]
    NoSecret(&'static str),
}

const GITHUB: &str = "X-Hub-Signature-256";
const GITLAB_TOKEN: &str = "X-Gitlab-Token";
const GITLAB_SIGNATURE: &str = "webhook-signature";
const PAGERDUTY: &str = "X-PagerDuty-Signature";

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
pub fn github(secrets: &[&str], signature: Option<&str>, body: &[u8]) -> Result<(), Unverified> {
    let header = signature.ok_or(Unverified::Missing(GITHUB))?.trim();
    let hex_digest = header.strip_prefix("sha256=").ok_or(Unverified::Malformed(
        GITHUB,
        "expected sha256= and a hex digest",
    ))?;
    let given = hex::decode(hex_digest)
        .map_err(|_| Unverified::Malformed(GITHUB, "the digest is not hex"))?;
    let mut ok = false;
    for secret in secrets {
        ok |= same(&hmac_sha256(secret.as_bytes(), &[body]), &given);
    }
    ok.then_some(()).ok_or(Unverified::Mismatch(GITHUB))
}

/// The Standard Webhooks headers GitLab sends when the hook has a signing
/// token.
#[derive(Debug, Clone, Copy, Default)]
pub struct StandardSignature<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// GitLab: `X-Gitlab-Token` equal to the secret, and, where GitLab also
/// signs, `webhook-signature` over `id.timestamp.body` (Standard Webhooks).
/// A GitLab source's secret has the Standard Webhooks form
/// `whsec_<base64 of 32 bytes>`, so the one secret serves as both the
/// hook's secret token and its signing token. At least one must be sent.
pub fn gitlab(
    secrets: &[&str],
    token: Option<&str>,
    signed: StandardSignature<'_>,
    body: &[u8],
) -> Result<(), Unverified> {
    if token.is_none() && signed.signature.is_none() {
        return Err(Unverified::Missing(GITLAB_TOKEN));
    }
    if let Some(token) = token {
        let mut ok = false;
        for secret in secrets {
            ok |= same(token.trim().as_bytes(), secret.as_bytes());
        }
        if !ok {
            return Err(Unverified::Mismatch(GITLAB_TOKEN));
        }
    }
    if let Some(signature) = signed.signature {
        let id = signed.id.ok_or(Unverified::Missing("webhook-id"))?;
        let timestamp = signed
            .timestamp
            .ok_or(Unverified::Missing("webhook-timestamp"))?;
        let mut ok = false;
        for secret in secrets {
            let Some(key) = standard_key(secret) else {
                continue;
            };
            let expected = hmac_sha256(
                &key,
                &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
            );
            for entry in signature.split_ascii_whitespace() {
                let Some(b64) = entry.strip_prefix("v1,") else {
                    continue;
                };
                if let Ok(given) = base64::engine::general_purpose::STANDARD.decode(b64) {
                    ok |= same(&expected, &given);
                }
            }
        }
        if !ok {
            return Err(Unverified::Mismatch(GITLAB_SIGNATURE));
        }
    }
    Ok(())
}

/// The HMAC key of a Standard Webhooks secret (`whsec_` and base64).
fn standard_key(secret: &str) -> Option<Vec<u8>> {
    let b64 = secret.strip_prefix("whsec_")?;
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// PagerDuty (webhooks v3): `X-PagerDuty-Signature: v1=<hex>,v1=<hex>`;
/// while PagerDuty rotates its secret it signs with each, and one match
/// is enough.
pub fn pagerduty(secrets: &[&str], signature: Option<&str>, body: &[u8]) -> Result<(), Unverified> {
    if secrets.is_empty() {
        return Err(Unverified::NoSecret(
            "paste the subscription's signing secret from PagerDuty (dorado source rotate --secret-stdin)",
        ));
    }
    let header = signature.ok_or(Unverified::Missing(PAGERDUTY))?;
    let expected: Vec<[u8; 32]> = secrets
        .iter()
        .map(|s| hmac_sha256(s.as_bytes(), &[body]))
        .collect();
    let mut ok = false;
    let mut any = false;
    for entry in header.split(',') {
        let Some(hex_digest) = entry.trim().strip_prefix("v1=") else {
            continue;
        };
        any = true;
        if let Ok(given) = hex::decode(hex_digest) {
            for e in &expected {
                ok |= same(e, &given);
            }
        }
    }
    if !any {
        return Err(Unverified::Malformed(
            PAGERDUTY,
            "expected v1= and a hex digest",
        ));
    }
    ok.then_some(()).ok_or(Unverified::Mismatch(PAGERDUTY))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's own test vector (docs: "Validating webhook deliveries").
    #[test]
    fn github_vector_verifies() {
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let secret = "It's a Secret to Everybody";
        assert_eq!(github(&[secret], Some(sig), b"Hello, World!"), Ok(()));
        assert_eq!(
            github(&["other", secret], Some(sig), b"Hello, World!"),
            Ok(())
        );
        assert_eq!(
            github(&[secret], Some(sig), b"Hello, World?"),
            Err(Unverified::Mismatch(GITHUB))
        );
        assert_eq!(
            github(&[secret], None, b"x"),
            Err(Unverified::Missing(GITHUB))
        );
        assert!(matches!(
            github(&[secret], Some("sha1=abc"), b"x"),
            Err(Unverified::Malformed(..))
        ));
        assert!(matches!(
            github(&[secret], Some("sha256=zz"), b"x"),
            Err(Unverified::Malformed(..))
        ));
    }

    /// PagerDuty's published vector (go-pagerduty's webhookv3 test).
    #[test]
    fn pagerduty_vector_verifies_among_several_signatures() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/samples/native/pagerduty_signature_vector_body.json"
        ))
        .unwrap();
        let secret = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK";
        let good = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd";
        assert_eq!(pagerduty(&[secret], Some(good), &body), Ok(()));
        let rotating = format!("v1=00ff,{good}");
        assert_eq!(pagerduty(&[secret], Some(&rotating), &body), Ok(()));
        assert_eq!(
            pagerduty(&["wrong"], Some(good), &body),
            Err(Unverified::Mismatch(PAGERDUTY))
        );
        assert!(matches!(
            pagerduty(&[], Some(good), &body),
            Err(Unverified::NoSecret(_))
        ));
    }

    #[test]
    fn gitlab_token_and_standard_signature() {
        let secret = "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=";
        let body = b"{\"object_kind\":\"push\"}";
        assert_eq!(
            gitlab(&[secret], Some(secret), StandardSignature::default(), body),
            Ok(())
        );
        assert_eq!(
            gitlab(&[secret], Some("nope"), StandardSignature::default(), body),
            Err(Unverified::Mismatch(GITLAB_TOKEN))
        );
        assert_eq!(
            gitlab(&[secret], None, StandardSignature::default(), body),
            Err(Unverified::Missing(GITLAB_TOKEN))
        );
        let key = standard_key(secret).unwrap();
        let mac = hmac_sha256(&key, &[b"msg_1.1700000000.", body]);
        let sig = format!(
            "v1,AAAA v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac)
        );
        let signed = StandardSignature {
            id: Some("msg_1"),
            timestamp: Some("1700000000"),
            signature: Some(&sig),
        };
        assert_eq!(gitlab(&[secret], Some(secret), signed, body), Ok(()));
        assert_eq!(gitlab(&[secret], None, signed, body), Ok(()));
        assert_eq!(
            gitlab(&[secret], None, signed, b"{}"),
            Err(Unverified::Mismatch(GITLAB_SIGNATURE))
        );
    }
}
