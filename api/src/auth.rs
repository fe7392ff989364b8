//! Bearer tokens: verifying them into a [`Caller`], and minting them for local use.

use std::collections::HashSet;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tandem_domain::access::{self, AccessRole, Permission};
use uuid::Uuid;

use crate::error::ApiError;

/// The claims Tandem reads from a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The person or service account.
    pub sub: String,
    /// The organization (tenant) id.
    pub org: String,
    /// Access roles, lower case (`admin`, `revops`, ...).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issuer, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience, when configured: one value or a list (RFC 7519 allows both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// Not valid before, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
}

/// A token's `aud` claim: one audience or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// `"aud": "api"`.
    One(String),
    /// `"aud": ["api", "other"]`.
    Many(Vec<String>),
}

/// A verified caller: who, in which organization, with which roles.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Token subject.
    pub subject: String,
    /// Organization id.
    pub org_id: Uuid,
    /// Access roles recognised in the token; unknown ones are ignored.
    pub roles: Vec<AccessRole>,
    /// When the token expires, seconds since the epoch.
    pub expires_at: u64,
}

impl Caller {
    /// Whether the caller's roles grant `permission`.
    pub fn may(&self, permission: Permission) -> bool {
        access::allows(&self.roles, permission)
    }

    /// Fails with `FORBIDDEN` unless the caller's roles grant `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.may(permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(access::refusal(
                &self.roles,
                permission,
            )))
        }
    }
}

/// How tokens are checked.
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

/// Where token keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// HS256 with a shared secret.
    Secret(Vec<u8>),
    /// RS256 with an RSA public key in PEM.
    RsaPublicPem(Vec<u8>),
    /// ES256 with an EC public key in PEM.
    EcPublicPem(Vec<u8>),
}

impl Verifier {
    /// Builds a verifier for one algorithm, with optional required issuer and audience.
    pub fn new(
        source: &KeySource,
        issuer: Option<&str>,
        audience: Option<&str>,
    ) -> anyhow::Result<Self> {
        let (key, algorithm) = match source {
            KeySource::Secret(secret) => (DecodingKey::from_secret(secret), Algorithm::HS256),
            KeySource::RsaPublicPem(pem) => (DecodingKey::from_rsa_pem(pem)?, Algorithm::RS256),
            KeySource::EcPublicPem(pem) => (DecodingKey::from_ec_pem(pem)?, Algorithm::ES256),
        };
        // One algorithm only: a token naming another (including `none`) is refused.
        let mut validation = Validation::new(algorithm);
        validation.leeway = 30;
        // A token that is not valid yet is refused like an expired one.
        validation.validate_nbf = true;
        // A configured issuer or audience must be present, not merely right when present.
        let mut required = vec!["exp", "sub"];
        match issuer {
            Some(iss) => {
                validation.set_issuer(&[iss]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Ok(Self { key, validation })
    }

    /// Verifies an `Authorization` header value into a caller.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Caller, ApiError> {
        let header = header.ok_or_else(|| {
            ApiError::Unauthenticated("send `Authorization: Bearer <token>`".to_owned())
        })?;
        let token = bearer_token(header).ok_or_else(|| {
            ApiError::Unauthenticated(
                "the Authorization header must be `Bearer <token>`".to_owned(),
            )
        })?;
        self.verify(token)
    }

    /// Verifies a token into a caller.
    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                let reason = match e.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired",
                    ErrorKind::ImmatureSignature => "the token is not valid yet (`nbf`)",
                    ErrorKind::MissingRequiredClaim(claim) => {
                        return ApiError::Unauthenticated(format!(
                            "the token has no `{claim}` claim, which this server requires"
                        ));
                    }
                    ErrorKind::InvalidSignature => "the token's signature does not verify",
                    ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                        "the token is signed with an algorithm this server does not accept"
                    }
                    ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
                    ErrorKind::InvalidAudience => "the token's audience is not accepted",
                    _ => "the token is not valid",
                };
                ApiError::Unauthenticated(reason.to_owned())
            })?;
        let claims = data.claims;
        let org_id = Uuid::parse_str(&claims.org).map_err(|_| {
            ApiError::Unauthenticated(
                "the token's `org` claim is not an organization id".to_owned(),
            )
        })?;
        let mut seen = HashSet::new();
        let roles = claims
            .roles
            .iter()
            .filter_map(|r| AccessRole::from_claim(r))
            .filter(|r| seen.insert(*r))
            .collect();
        Ok(Caller {
            subject: claims.sub,
            org_id,
            roles,
            expires_at: claims.exp,
        })
    }
}

/// The token of an `Authorization` value `Bearer <token>`; the scheme is matched in any case
/// (RFC 7235), and the token must not be empty.
pub fn bearer_token(header: &str) -> Option<&str> {
    let header = header.trim_start();
    let (scheme, token) = header.split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Mints HS256 tokens from a shared secret (local use and tests).
#[derive(Clone)]
pub struct Minter {
    key: EncodingKey,
    issuer: Option<String>,
    audience: Option<String>,
}

impl Minter {
    /// A minter for a shared secret.
    pub fn new(secret: &[u8], issuer: Option<String>, audience: Option<String>) -> Self {
        Self {
            key: EncodingKey::from_secret(secret),
            issuer,
            audience,
        }
    }

    /// A signed token for `subject` in `org_id` with `roles`, valid for `ttl_seconds`.
    pub fn mint(
        &self,
        subject: &str,
        org_id: Uuid,
        roles: &[AccessRole],
        ttl_seconds: u64,
    ) -> anyhow::Result<String> {
        let claims = Claims {
            sub: subject.to_owned(),
            org: org_id.to_string(),
            roles: roles.iter().map(|r| r.claim()).collect(),
            exp: jsonwebtoken::get_current_timestamp() + ttl_seconds,
            iss: self.issuer.clone(),
            aud: self.audience.clone().map(Audience::One),
            nbf: None,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.key,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_and_others_do_not() {
        let org = Uuid::now_v7();
        let minter = Minter::new(b"secret-one", None, None);
        let verifier =
            Verifier::new(&KeySource::Secret(b"secret-one".to_vec()), None, None).unwrap();
        let token = minter
            .mint("ana", org, &[AccessRole::Revops, AccessRole::Revops], 60)
            .unwrap();
        let caller = verifier.verify(&token).unwrap();
        assert_eq!(caller.subject, "ana");
        assert_eq!(caller.org_id, org);
        assert_eq!(caller.roles, vec![AccessRole::Revops]);

        let other = Verifier::new(&KeySource::Secret(b"secret-two".to_vec()), None, None).unwrap();
        assert_eq!(other.verify(&token).unwrap_err().code(), "UNAUTHENTICATED");
        assert!(verifier.verify_header(None).is_err());
        assert!(
            verifier
                .verify_header(Some(&format!("Basic {token}")))
                .is_err()
        );
        assert!(
            verifier
                .verify_header(Some(&format!("Bearer {token}")))
                .is_ok()
        );
    }

    #[test]
    fn issuer_and_audience_are_enforced_when_configured() {
        let org = Uuid::now_v7();
        let verifier = Verifier::new(
            &KeySource::Secret(b"s".to_vec()),
            Some("tandem"),
            Some("api"),
        )
        .unwrap();
        let right = Minter::new(b"s", Some("tandem".into()), Some("api".into()));
        let wrong = Minter::new(b"s", Some("other".into()), Some("api".into()));
        assert!(
            verifier
                .verify(&right.mint("a", org, &[], 60).unwrap())
                .is_ok()
        );
        assert!(
            verifier
                .verify(&wrong.mint("a", org, &[], 60).unwrap())
                .is_err()
        );
    }

    #[test]
    fn the_scheme_is_matched_in_any_case_and_the_token_must_not_be_empty() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER abc "), Some("abc"));
        assert_eq!(bearer_token("bEaReR\tabc"), Some("abc"));
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearerabc"), None);
        assert_eq!(bearer_token("Basic abc"), None);
    }

    fn signed(claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"s"),
        )
        .unwrap()
    }

    #[test]
    fn configured_claims_are_required_aud_may_be_a_list_and_nbf_is_checked() {
        let org = Uuid::now_v7().to_string();
        let exp = jsonwebtoken::get_current_timestamp() + 60;
        let verifier = Verifier::new(
            &KeySource::Secret(b"s".to_vec()),
            Some("tandem"),
            Some("api"),
        )
        .unwrap();
        let check = |extra: serde_json::Value| {
            let mut claims = serde_json::json!({ "sub": "a", "org": org, "exp": exp });
            for (k, v) in extra.as_object().unwrap() {
                claims[k] = v.clone();
            }
            verifier.verify(&signed(claims))
        };
        assert!(check(serde_json::json!({ "iss": "tandem", "aud": "api" })).is_ok());
        assert!(check(serde_json::json!({ "iss": "tandem", "aud": ["x", "api"] })).is_ok());
        let missing = check(serde_json::json!({ "aud": "api" })).unwrap_err();
        assert!(missing.message().contains("`iss`"), "{}", missing.message());
        assert!(check(serde_json::json!({ "iss": "tandem" })).is_err());
        assert!(check(serde_json::json!({ "iss": "tandem", "aud": ["x"] })).is_err());
        let early = check(serde_json::json!({ "iss": "tandem", "aud": "api", "nbf": exp + 600 }))
            .unwrap_err();
        assert!(
            early.message().contains("not valid yet"),
            "{}",
            early.message()
        );
    }
}
