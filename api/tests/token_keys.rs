//! Tokens signed with RS256 and ES256 private keys verify against the configured public key,
//! and a token signed with one algorithm is refused by a verifier for another.
//! The key pairs under `tests/fixtures` exist only for these tests.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tandem_api::auth::{Claims, KeySource, Verifier};

const ES_PRIVATE: &[u8] = include_bytes!("fixtures/es256-private.pem");
const ES_PUBLIC: &[u8] = include_bytes!("fixtures/es256-public.pem");
const RS_PRIVATE: &[u8] = include_bytes!("fixtures/rs256-private.pem");
const RS_PUBLIC: &[u8] = include_bytes!("fixtures/rs256-public.pem");

fn claims() -> Claims {
    Claims {
        sub: "svc-bi".into(),
        org: uuid::Uuid::now_v7().to_string(),
        roles: vec!["bi".into()],
        exp: jsonwebtoken::get_current_timestamp() + 600,
        iss: None,
        aud: None,
        nbf: None,
    }
}

#[test]
fn es256_tokens_verify_with_the_public_key() {
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &claims(),
        &EncodingKey::from_ec_pem(ES_PRIVATE).unwrap(),
    )
    .unwrap();
    let verifier = Verifier::new(&KeySource::EcPublicPem(ES_PUBLIC.to_vec()), None, None).unwrap();
    assert_eq!(verifier.verify(&token).unwrap().subject, "svc-bi");
    let rsa = Verifier::new(&KeySource::RsaPublicPem(RS_PUBLIC.to_vec()), None, None).unwrap();
    assert_eq!(rsa.verify(&token).unwrap_err().code(), "UNAUTHENTICATED");
}

#[test]
fn rs256_tokens_verify_with_the_public_key() {
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims(),
        &EncodingKey::from_rsa_pem(RS_PRIVATE).unwrap(),
    )
    .unwrap();
    let verifier = Verifier::new(&KeySource::RsaPublicPem(RS_PUBLIC.to_vec()), None, None).unwrap();
    assert_eq!(verifier.verify(&token).unwrap().roles.len(), 1);
    // An HS256 token forged with the public key as the secret is refused (algorithm confusion).
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(RS_PUBLIC),
    )
    .unwrap();
    assert_eq!(
        verifier.verify(&forged).unwrap_err().code(),
        "UNAUTHENTICATED"
    );
}
