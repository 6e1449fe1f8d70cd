//! Signed JWTs (JWS compact serialization) as OpenID Connect uses them for ID tokens: the
//! signature checked with `ring` against a JWK set (RS256/384/512, PS256/384/512, ES256, ES384,
//! EdDSA), then the ID token's claims. `none` and HMAC algorithms are refused there: an ID token
//! must be signed with the provider's published keys. HS256 with a shared secret, which LiveKit's
//! access tokens and webhooks use, has its own pair: [`sign_hs256`] and [`Jws::verify_hs256`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey, VerificationAlgorithm};
use serde::Deserialize;
use serde_json::Value;

/// Why a token is not accepted. The messages never include the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Not three base64url parts with a JSON header and payload.
    #[error("the token is malformed")]
    Malformed,
    /// An algorithm this client does not accept (`none`, HMAC, unknown).
    #[error("the token's algorithm {0:?} is not accepted")]
    Algorithm(String),
    /// No key of the set matches the token's `kid` and algorithm.
    #[error("no published key matches the token")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    BadSignature,
    /// A claim is missing or wrong; names which.
    #[error("the token's {0} claim is invalid")]
    Claim(&'static str),
    /// Past `exp` (with leeway).
    #[error("the token has expired")]
    Expired,
}

/// A public key of a JWK set (RFC 7517), as far as verification needs it.
#[derive(Debug, Clone, Deserialize)]
pub struct Jwk {
    /// `RSA`, `EC` or `OKP`.
    pub kty: String,
    /// The key's ID, matched against a token's `kid`.
    #[serde(default)]
    pub kid: Option<String>,
    /// `sig` or `enc`; an encryption key never verifies.
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    /// The algorithm the key is for, when it says.
    #[serde(default)]
    pub alg: Option<String>,
    /// RSA modulus.
    #[serde(default)]
    pub n: Option<String>,
    /// RSA exponent.
    #[serde(default)]
    pub e: Option<String>,
    /// EC or OKP curve.
    #[serde(default)]
    pub crv: Option<String>,
    /// EC x coordinate, or the OKP public key.
    #[serde(default)]
    pub x: Option<String>,
    /// EC y coordinate.
    #[serde(default)]
    pub y: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// A parsed, not yet verified, token.
pub(crate) struct Jws {
    header: Header,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
    payload: Vec<u8>,
}

fn b64(part: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| JwtError::Malformed)
}

impl Jws {
    /// Splits and decodes a compact JWS.
    pub(crate) fn parse(token: &str) -> Result<Jws, JwtError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header: Header = serde_json::from_slice(&b64(h)?).map_err(|_| JwtError::Malformed)?;
        Ok(Jws {
            header,
            signing_input: format!("{h}.{p}").into_bytes(),
            signature: b64(s)?,
            payload: b64(p)?,
        })
    }

    /// The claims before any check: only to find which key should verify the token.
    pub(crate) fn unverified_claims(&self) -> Result<Value, JwtError> {
        serde_json::from_slice(&self.payload).map_err(|_| JwtError::Malformed)
    }

    /// The claims, once HS256 with `secret` verifies the signature (compared in constant time).
    /// Only for tokens whose issuer shares that secret with us; never for ID tokens.
    pub(crate) fn verify_hs256(&self, secret: &[u8]) -> Result<Value, JwtError> {
        if self.header.alg != "HS256" {
            return Err(JwtError::Algorithm(self.header.alg.clone()));
        }
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        hmac::verify(&key, &self.signing_input, &self.signature)
            .map_err(|_| JwtError::BadSignature)?;
        self.unverified_claims()
    }

    /// The claims, once a key of `keys` verifies the signature.
    pub(crate) fn verify(&self, keys: &[Jwk]) -> Result<Value, JwtError> {
        let alg = self.header.alg.as_str();
        let kty = match alg {
            "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => "RSA",
            "ES256" | "ES384" => "EC",
            "EdDSA" => "OKP",
            other => return Err(JwtError::Algorithm(other.to_owned())),
        };
        let candidates = keys.iter().filter(|k| {
            k.kty == kty
                && k.use_.as_deref() != Some("enc")
                && k.alg.as_deref().is_none_or(|a| a == alg)
                && match (&self.header.kid, &k.kid) {
                    (Some(want), Some(have)) => want == have,
                    (Some(_), None) => false,
                    (None, _) => true,
                }
        });
        let mut matched = false;
        for key in candidates {
            matched = true;
            if verify_with(alg, key, &self.signing_input, &self.signature) {
                return serde_json::from_slice(&self.payload).map_err(|_| JwtError::Malformed);
            }
        }
        Err(if matched {
            JwtError::BadSignature
        } else {
            JwtError::UnknownKey
        })
    }
}

fn verify_with(alg: &str, key: &Jwk, message: &[u8], sig: &[u8]) -> bool {
    let field = |v: &Option<String>| v.as_deref().and_then(|s| b64(s).ok());
    match key.kty.as_str() {
        "RSA" => {
            let (Some(n), Some(e)) = (field(&key.n), field(&key.e)) else {
                return false;
            };
            let params: &signature::RsaParameters = match alg {
                "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
                "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
                "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
                "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
                "PS384" => &signature::RSA_PSS_2048_8192_SHA384,
                "PS512" => &signature::RSA_PSS_2048_8192_SHA512,
                _ => return false,
            };
            // ring wants the big-endian integers without leading zeros.
            let strip = |v: &[u8]| {
                let start = v.iter().position(|b| *b != 0).unwrap_or(v.len());
                v[start..].to_vec()
            };
            let (n, e) = (strip(&n), strip(&e));
            RsaPublicKeyComponents { n: &n, e: &e }
                .verify(params, message, sig)
                .is_ok()
        }
        "EC" => {
            let (Some(x), Some(y)) = (field(&key.x), field(&key.y)) else {
                return false;
            };
            let (algorithm, size): (&dyn VerificationAlgorithm, usize) =
                match (alg, key.crv.as_deref()) {
                    ("ES256", Some("P-256")) => (&signature::ECDSA_P256_SHA256_FIXED, 32),
                    ("ES384", Some("P-384")) => (&signature::ECDSA_P384_SHA384_FIXED, 48),
                    _ => return false,
                };
            if x.len() != size || y.len() != size {
                return false;
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            UnparsedPublicKey::new(algorithm, point)
                .verify(message, sig)
                .is_ok()
        }
        "OKP" if alg == "EdDSA" && key.crv.as_deref() == Some("Ed25519") => field(&key.x)
            .is_some_and(|x| {
                UnparsedPublicKey::new(&signature::ED25519, x)
                    .verify(message, sig)
                    .is_ok()
            }),
        _ => false,
    }
}

/// `claims` as a JWT signed with HS256 and `secret`.
pub(crate) fn sign_hs256(claims: &Value, secret: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// OpenID Connect Core 3.1.3.7: the issuer is the provider's, the audience includes this client
/// (and with several audiences `azp` names it), the token has not expired and was not issued in
/// the future (`leeway` seconds each way), and it carries the flow's nonce.
pub(crate) fn check_id_token_claims(
    claims: &Value,
    issuer: &str,
    client_id: &str,
    nonce: &str,
    now: i64,
    leeway: i64,
) -> Result<(), JwtError> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(JwtError::Claim("iss"));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&client_id) {
        return Err(JwtError::Claim("aud"));
    }
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != client_id => return Err(JwtError::Claim("azp")),
        None if audiences.len() > 1 => return Err(JwtError::Claim("azp")),
        _ => {}
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(JwtError::Claim("exp"))?;
    if exp + leeway <= now {
        return Err(JwtError::Expired);
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(JwtError::Claim("iat"))?;
    if iat - leeway > now {
        return Err(JwtError::Claim("iat"));
    }
    let got = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    if nonce.is_empty() || !fluxer_core::secret::secrets_equal(got.as_bytes(), nonce.as_bytes()) {
        return Err(JwtError::Claim("nonce"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use serde_json::json;

    use super::*;

    fn enc(v: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    /// An ES256 key pair and its JWK.
    fn es256_key(kid: &str) -> (EcdsaKeyPair, Jwk) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let public = pair.public_key().as_ref();
        let jwk = serde_json::from_value(json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
            "x": enc(&public[1..33]), "y": enc(&public[33..]),
        }))
        .unwrap();
        (pair, jwk)
    }

    fn sign(pair: &EcdsaKeyPair, header: Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            enc(header.to_string().as_bytes()),
            enc(claims.to_string().as_bytes())
        );
        let sig = pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", enc(sig.as_ref()))
    }

    fn claims() -> Value {
        json!({ "iss": "https://id.test", "aud": "fluxer", "sub": "s1", "nonce": "n1",
                "exp": 1_000_600, "iat": 1_000_000 })
    }

    fn check(c: &Value) -> Result<(), JwtError> {
        check_id_token_claims(c, "https://id.test", "fluxer", "n1", 1_000_100, 60)
    }

    #[test]
    fn es256_verifies_with_the_named_key_only() {
        let (pair, jwk) = es256_key("k1");
        let (_, other) = es256_key("k2");
        let token = sign(&pair, json!({ "alg": "ES256", "kid": "k1" }), &claims());
        let jws = Jws::parse(&token).unwrap();
        assert_eq!(jws.verify(&[other.clone(), jwk]).unwrap(), claims());
        assert_eq!(jws.verify(&[other]).unwrap_err(), JwtError::UnknownKey);
    }

    #[test]
    fn a_tampered_or_unsigned_token_is_refused() {
        let (pair, jwk) = es256_key("k1");
        let token = sign(&pair, json!({ "alg": "ES256", "kid": "k1" }), &claims());
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut forged = claims();
        forged["sub"] = json!("admin");
        parts[1] = enc(forged.to_string().as_bytes());
        let tampered = parts.join(".");
        assert_eq!(
            Jws::parse(&tampered)
                .unwrap()
                .verify(std::slice::from_ref(&jwk))
                .unwrap_err(),
            JwtError::BadSignature
        );
        let none = format!(
            "{}.{}.",
            enc(br#"{"alg":"none"}"#),
            enc(claims().to_string().as_bytes())
        );
        assert!(matches!(
            Jws::parse(&none)
                .unwrap()
                .verify(std::slice::from_ref(&jwk)),
            Err(JwtError::Algorithm(_))
        ));
        // An HMAC token "signed" with the public key is not accepted either.
        let hs = sign(&pair, json!({ "alg": "HS256", "kid": "k1" }), &claims());
        assert!(matches!(
            Jws::parse(&hs).unwrap().verify(&[jwk]),
            Err(JwtError::Algorithm(_))
        ));
        assert_eq!(Jws::parse("a.b").err(), Some(JwtError::Malformed));
    }

    #[test]
    fn hs256_tokens_verify_with_their_secret_only() {
        let token = sign_hs256(&claims(), b"a shared secret");
        let jws = Jws::parse(&token).unwrap();
        assert_eq!(jws.verify_hs256(b"a shared secret").unwrap(), claims());
        assert_eq!(
            jws.verify_hs256(b"another secret").unwrap_err(),
            JwtError::BadSignature
        );
        // Known answer (RFC 7515's HS256 example key and input): our MAC is standard HMAC-SHA256.
        let key = URL_SAFE_NO_PAD
            .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
            .unwrap();
        let rfc = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            Jws::parse(rfc).unwrap().verify_hs256(&key).unwrap()["iss"],
            "joe"
        );
        // An ES256 token is not taken for an HMAC one.
        let (pair, _) = es256_key("k1");
        let es = sign(&pair, json!({ "alg": "ES256" }), &claims());
        assert!(matches!(
            Jws::parse(&es).unwrap().verify_hs256(b"a shared secret"),
            Err(JwtError::Algorithm(_))
        ));
    }

    #[test]
    fn id_token_claims_are_checked() {
        assert_eq!(check(&claims()), Ok(()));
        let with = |k: &str, v: Value| {
            let mut c = claims();
            c[k] = v;
            c
        };
        assert_eq!(
            check(&with("iss", json!("https://evil.test"))),
            Err(JwtError::Claim("iss"))
        );
        assert_eq!(
            check(&with("aud", json!("someone-else"))),
            Err(JwtError::Claim("aud"))
        );
        assert_eq!(
            check(&with("aud", json!(["fluxer", "other"]))),
            Err(JwtError::Claim("azp"))
        );
        let mut multi = with("aud", json!(["fluxer", "other"]));
        multi["azp"] = json!("fluxer");
        assert_eq!(check(&multi), Ok(()));
        assert_eq!(
            check(&with("azp", json!("other"))),
            Err(JwtError::Claim("azp"))
        );
        assert_eq!(
            check(&with("exp", json!(1_000_050))),
            Ok(()),
            "within leeway"
        );
        assert_eq!(
            check(&with("exp", json!(1_000_000))),
            Err(JwtError::Expired)
        );
        assert_eq!(
            check(&with("iat", json!(1_000_500))),
            Err(JwtError::Claim("iat"))
        );
        assert_eq!(
            check(&with("nonce", json!("n2"))),
            Err(JwtError::Claim("nonce"))
        );
        let mut no_nonce = claims();
        no_nonce.as_object_mut().unwrap().remove("nonce");
        assert_eq!(check(&no_nonce), Err(JwtError::Claim("nonce")));
    }
}
