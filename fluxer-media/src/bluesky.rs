//! Bluesky connections through atproto OAuth: [`AtprotoOAuth`] implements the core's
//! [`BlueskyOAuth`] port as a confidential web client (`private_key_jwt` with ES256, DPoP-bound
//! tokens, PKCE, pushed authorization requests), as upstream's client does.
//!
//! Starting: the handle is resolved to a DID (its `_atproto` TXT record, else its
//! `/.well-known/atproto-did`), the DID to its document (the PLC directory, or `did:web`), which must
//! name the handle back and give the account's PDS; the PDS names its authorization server, whose
//! metadata gives the endpoints. The authorization request is pushed (PAR) with a fresh DPoP key,
//! answering the server's DPoP nonce challenge once, and the user is sent to the authorization
//! endpoint with the `request_uri`. Finishing: the code is exchanged at the token endpoint (same
//! DPoP key, client assertion) and the token's `sub` must be the DID the flow started with.
//! Everything goes through the SSRF-safe fetcher (public addresses only, bounded, timed).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use fluxer_core::error::StoreError;
use fluxer_core::ports::{BlueskyIdentity, BlueskyOAuth, BlueskyStart, DomainProbe, PortResult};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::proxy::ExternalConfig;
use crate::proxy::external::{Agent, Call, Reply, call_as};

const AGENT: Agent = Agent {
    user_agent: "Mozilla/5.0 (compatible; Fluxer/1.0)",
    accept: "application/json",
};
/// Where `did:plc` documents are published.
pub const PLC_DIRECTORY: &str = "https://plc.directory";
const ADAPTER: &str = "bluesky";
const FORM: &str = "application/x-www-form-urlencoded";

/// The client's identity and keys, as the configuration gives them.
#[derive(Debug, Clone)]
pub struct AtprotoClient {
    /// Where the API is public (`https://chat.example.com/api`): the client ID, redirect URI and
    /// key set live under it.
    pub api_url: String,
    /// Shown to the user by their server.
    pub client_name: String,
    /// The client's home page; the API's origin when empty.
    pub client_uri: String,
    /// Optional.
    pub logo_uri: String,
    /// Optional.
    pub tos_uri: String,
    /// Optional.
    pub policy_uri: String,
    /// `(kid, PKCS#8 PEM of a P-256 key)`, the first of which signs client assertions.
    pub keys: Vec<(String, String)>,
}

/// Why the client could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

struct SigningKey {
    kid: String,
    pair: EcdsaKeyPair,
}

/// The atproto OAuth client (see the module docs).
#[derive(Clone)]
pub struct AtprotoOAuth {
    client_id: String,
    redirect_uri: String,
    metadata: Value,
    keys: Arc<Vec<SigningKey>>,
    plc: String,
    fetch: ExternalConfig,
    domains: Arc<dyn DomainProbe>,
    rng: SystemRandom,
}

impl std::fmt::Debug for AtprotoOAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtprotoOAuth")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// A P-256 private key from a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
fn parse_key(pem: &str) -> Result<EcdsaKeyPair, KeyError> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----") && !l.is_empty())
        .collect();
    let der = STANDARD
        .decode(body)
        .map_err(|e| KeyError(format!("not PEM: {e}")))?;
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &SystemRandom::new())
        .map_err(|e| KeyError(format!("not a PKCS#8 P-256 private key: {e}")))
}

/// The public JWK of `pair`.
fn public_jwk(pair: &EcdsaKeyPair) -> Value {
    let point = pair.public_key().as_ref();
    json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    })
}

fn failed(what: impl Into<String>) -> StoreError {
    StoreError::backend_of(ADAPTER, what.into())
}

/// What a flow in progress keeps between its start and its end.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    did: String,
    handle: String,
    issuer: String,
    token_endpoint: String,
    /// The DPoP key, PKCS#8, base64url.
    dpop_key: String,
    dpop_nonce: Option<String>,
    verifier: String,
}

impl AtprotoOAuth {
    /// The client of `client`, resolving handles with `domains` and reaching public addresses
    /// only (see [`AtprotoOAuth::with_allow_addresses`]).
    pub fn new(client: AtprotoClient, domains: Arc<dyn DomainProbe>) -> Result<Self, KeyError> {
        let keys = client
            .keys
            .iter()
            .map(|(kid, pem)| {
                Ok(SigningKey {
                    kid: kid.clone(),
                    pair: parse_key(pem)?,
                })
            })
            .collect::<Result<Vec<_>, KeyError>>()?;
        if keys.is_empty() {
            return Err(KeyError("at least one signing key is needed".into()));
        }
        let api = client.api_url.trim_end_matches('/');
        let client_id = format!("{api}/connections/bluesky/client-metadata.json");
        let redirect_uri = format!("{api}/connections/bluesky/callback");
        let origin = url::Url::parse(api)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| api.to_owned());
        let mut metadata = json!({
            "client_id": client_id,
            "client_name": client.client_name,
            "client_uri": if client.client_uri.is_empty() { origin } else { client.client_uri },
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "atproto",
            "response_types": ["code"],
            "application_type": "web",
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "dpop_bound_access_tokens": true,
            "jwks_uri": format!("{api}/connections/bluesky/jwks.json"),
        });
        for (key, value) in [
            ("logo_uri", client.logo_uri),
            ("tos_uri", client.tos_uri),
            ("policy_uri", client.policy_uri),
        ] {
            if !value.is_empty() {
                metadata[key] = json!(value);
            }
        }
        Ok(AtprotoOAuth {
            client_id,
            redirect_uri,
            metadata,
            keys: Arc::new(keys),
            plc: PLC_DIRECTORY.to_owned(),
            fetch: ExternalConfig {
                enabled: true,
                max_bytes: 1 << 20,
                timeout: Duration::from_secs(10),
                allowed_content_types: vec![
                    "application/json".into(),
                    "application/did+ld+json".into(),
                    "text/*".into(),
                    "application/octet-stream".into(),
                ],
                allow_addresses: Vec::new(),
            },
            domains,
            rng: SystemRandom::new(),
        })
    }

    /// Reads `did:plc` documents at `url` instead of [`PLC_DIRECTORY`] (a hook for tests).
    pub fn with_plc_directory(mut self, url: impl Into<String>) -> Self {
        self.plc = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// Lets the client reach these non-public addresses all the same (a test hook).
    pub fn with_allow_addresses(mut self, addresses: Vec<IpAddr>) -> Self {
        self.fetch.allow_addresses = addresses;
        self
    }

    fn random(&self, bytes: usize) -> PortResult<String> {
        let mut buf = vec![0u8; bytes];
        self.rng
            .fill(&mut buf)
            .map_err(|_| failed("no randomness"))?;
        Ok(URL_SAFE_NO_PAD.encode(buf))
    }

    /// A compact JWS (ES256) of `header` and `claims` signed by `pair`.
    fn sign(&self, pair: &EcdsaKeyPair, header: Value, claims: Value) -> PortResult<String> {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = pair
            .sign(&self.rng, input.as_bytes())
            .map_err(|_| failed("signing failed"))?;
        Ok(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }

    /// The client assertion for `audience` (the authorization server's issuer).
    fn client_assertion(&self, audience: &str) -> PortResult<String> {
        let key = &self.keys[0];
        let now = crate::unix_now_secs();
        self.sign(
            &key.pair,
            json!({ "alg": "ES256", "typ": "JWT", "kid": key.kid }),
            json!({
                "iss": self.client_id, "sub": self.client_id, "aud": audience,
                "jti": self.random(16)?, "iat": now, "exp": now + 60,
            }),
        )
    }

    /// A DPoP proof for `method url` with `key`, carrying the server's nonce if known.
    fn dpop_proof(
        &self,
        key: &EcdsaKeyPair,
        method: &str,
        url: &str,
        nonce: Option<&str>,
    ) -> PortResult<String> {
        let mut claims = json!({ "jti": self.random(16)?, "htm": method, "htu": url, "iat": crate::unix_now_secs() });
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        self.sign(
            key,
            json!({ "alg": "ES256", "typ": "dpop+jwt", "jwk": public_jwk(key) }),
            claims,
        )
    }

    async fn get_json(&self, url: &str) -> PortResult<Value> {
        let reply = call_as(
            &self.fetch,
            url,
            AGENT,
            Call {
                method: Method::GET,
                headers: Vec::new(),
                body: None,
            },
        )
        .await
        .map_err(|e| StoreError::backend_while(ADAPTER, format!("asking {url}"), e))?;
        if !reply.status.is_success() {
            return Err(failed(format!("{url} answered {}", reply.status)));
        }
        serde_json::from_slice(&reply.bytes)
            .map_err(|e| StoreError::backend_while(ADAPTER, format!("reading {url}"), e))
    }

    /// A form POSTed with a DPoP proof; a `use_dpop_nonce` challenge is answered once. Returns
    /// the answer and the nonce to use next.
    async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        key: &EcdsaKeyPair,
        mut nonce: Option<String>,
    ) -> PortResult<(Reply, Option<String>)> {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        for _ in 0..2 {
            let proof = self.dpop_proof(key, "POST", url, nonce.as_deref())?;
            let reply = call_as(
                &self.fetch,
                url,
                AGENT,
                Call {
                    method: Method::POST,
                    headers: vec![("dpop", proof)],
                    body: Some((FORM, Bytes::from(body.clone()))),
                },
            )
            .await
            .map_err(|e| StoreError::backend_while(ADAPTER, format!("posting to {url}"), e))?;
            let fresh = reply
                .headers
                .get("dpop-nonce")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let challenged = reply.status == StatusCode::BAD_REQUEST
                && serde_json::from_slice::<Value>(&reply.bytes)
                    .is_ok_and(|v| v["error"] == "use_dpop_nonce");
            if challenged && fresh.is_some() && fresh != nonce {
                nonce = fresh;
                continue;
            }
            return Ok((reply, fresh.or(nonce)));
        }
        Err(failed(format!("{url} kept asking for a new DPoP nonce")))
    }

    /// The DID a handle names (its `_atproto` TXT record, else its well-known file).
    async fn resolve_handle(&self, handle: &str) -> PortResult<String> {
        let from_dns = self
            .domains
            .txt_records(&format!("_atproto.{handle}"))
            .await
            .into_iter()
            .find_map(|r| r.strip_prefix("did=").map(str::to_owned));
        let did = match from_dns {
            Some(did) => did,
            None => {
                let url = format!("https://{handle}/.well-known/atproto-did");
                let reply = call_as(
                    &self.fetch,
                    &url,
                    AGENT,
                    Call {
                        method: Method::GET,
                        headers: Vec::new(),
                        body: None,
                    },
                )
                .await
                .map_err(|e| StoreError::backend_while(ADAPTER, format!("asking {url}"), e))?;
                if !reply.status.is_success() {
                    return Err(failed(format!("{handle} names no DID")));
                }
                String::from_utf8_lossy(&reply.bytes).trim().to_owned()
            }
        };
        if !(did.starts_with("did:plc:") || did.starts_with("did:web:")) {
            return Err(failed(format!("{handle} names an unsupported DID")));
        }
        Ok(did)
    }

    /// A DID's document.
    async fn did_document(&self, did: &str) -> PortResult<Value> {
        let url = match did.strip_prefix("did:web:") {
            Some(host) => format!("https://{host}/.well-known/did.json"),
            None => format!("{}/{did}", self.plc),
        };
        let doc = self.get_json(&url).await?;
        if doc["id"] != did {
            return Err(failed(format!("{url} is not the document of {did}")));
        }
        Ok(doc)
    }
}

/// The handle a DID document claims: its first `at://` entry of `alsoKnownAs`, the only one atproto
/// counts (a document listing thousands must not cost thousands of lookups).
fn handles(doc: &Value) -> Vec<String> {
    doc["alsoKnownAs"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|a| {
            a.as_str()?
                .strip_prefix("at://")
                .map(str::to_ascii_lowercase)
        })
        .take(1)
        .collect()
}

/// Whether `endpoint` is an http(s) URL on the issuer's origin, as atproto requires of an
/// authorization server's endpoints (the authorization URL goes back to the user's browser).
fn on_issuer_origin(endpoint: &str, issuer: &str) -> bool {
    match (url::Url::parse(endpoint), url::Url::parse(issuer)) {
        (Ok(e), Ok(i)) => matches!(e.scheme(), "https" | "http") && e.origin() == i.origin(),
        _ => false,
    }
}

/// The PDS a DID document names.
fn pds(doc: &Value) -> Option<String> {
    doc["service"].as_array()?.iter().find_map(|s| {
        let id = s["id"].as_str()?;
        (id.ends_with("#atproto_pds") && s["type"] == "AtprotoPersonalDataServer")
            .then(|| s["serviceEndpoint"].as_str().map(str::to_owned))?
    })
}

#[async_trait]
impl BlueskyOAuth for AtprotoOAuth {
    fn client_metadata(&self) -> Value {
        self.metadata.clone()
    }

    fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|k| {
                let mut jwk = public_jwk(&k.pair);
                jwk["kid"] = json!(k.kid);
                jwk["use"] = json!("sig");
                jwk["alg"] = json!("ES256");
                jwk
            })
            .collect();
        json!({ "keys": keys })
    }

    async fn start(&self, handle: &str, state: &str) -> PortResult<BlueskyStart> {
        let started = self.begin(handle, state).await;
        if let Err(e) = &started {
            tracing::warn!(handle, error = %fluxer_core::error::chain(e), "Bluesky authorization not started");
        }
        started
    }

    async fn finish(&self, context: &str, code: &str, issuer: &str) -> PortResult<BlueskyIdentity> {
        let finished = self.end(context, code, issuer).await;
        if let Err(e) = &finished {
            tracing::warn!(error = %fluxer_core::error::chain(e), "Bluesky authorization not finished");
        }
        finished
    }

    async fn current_handle(&self, did: &str) -> Option<String> {
        let doc = self.did_document(did).await.ok()?;
        for handle in handles(&doc) {
            if self.resolve_handle(&handle).await.ok().as_deref() == Some(did) {
                return Some(handle);
            }
        }
        None
    }
}

impl AtprotoOAuth {
    async fn begin(&self, handle: &str, state: &str) -> PortResult<BlueskyStart> {
        let handle = handle.to_ascii_lowercase();
        let did = self.resolve_handle(&handle).await?;
        let doc = self.did_document(&did).await?;
        if !handles(&doc).contains(&handle) {
            return Err(failed(format!("{did} does not claim {handle}")));
        }
        let pds = pds(&doc).ok_or_else(|| failed(format!("{did} names no PDS")))?;
        let resource = self
            .get_json(&format!(
                "{}/.well-known/oauth-protected-resource",
                pds.trim_end_matches('/')
            ))
            .await?;
        let server = resource["authorization_servers"][0]
            .as_str()
            .ok_or_else(|| failed(format!("{pds} names no authorization server")))?
            .trim_end_matches('/')
            .to_owned();
        let meta = self
            .get_json(&format!("{server}/.well-known/oauth-authorization-server"))
            .await?;
        let issuer = meta["issuer"].as_str().unwrap_or_default().to_owned();
        if issuer.trim_end_matches('/') != server {
            return Err(failed(format!("{server} names another issuer")));
        }
        let endpoint = |key: &str| {
            meta[key]
                .as_str()
                .filter(|e| on_issuer_origin(e, &issuer))
                .map(str::to_owned)
                .ok_or_else(|| failed(format!("{server} has no {key} of its own")))
        };
        let (par, authorize, token) = (
            endpoint("pushed_authorization_request_endpoint")?,
            endpoint("authorization_endpoint")?,
            endpoint("token_endpoint")?,
        );
        let dpop = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.rng)
            .map_err(|_| failed("no DPoP key"))?;
        let dpop_der = dpop.as_ref().to_vec();
        let dpop_key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &dpop_der, &self.rng)
                .map_err(|_| failed("no DPoP key"))?;
        let verifier = self.random(32)?;
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let assertion = self.client_assertion(&issuer)?;
        let (reply, nonce) = self
            .post_form(
                &par,
                &[
                    ("client_id", &self.client_id),
                    ("redirect_uri", &self.redirect_uri),
                    ("response_type", "code"),
                    ("scope", "atproto"),
                    ("state", state),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                    ("login_hint", &handle),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                ],
                &dpop_key,
                None,
            )
            .await?;
        let answer: Value = serde_json::from_slice(&reply.bytes).unwrap_or_default();
        let request_uri = answer["request_uri"]
            .as_str()
            .filter(|_| reply.status.is_success())
            .ok_or_else(|| failed(format!("the authorization request was refused: {answer}")))?;
        let mut url = url::Url::parse(&authorize)
            .map_err(|e| StoreError::backend_while(ADAPTER, "the authorization endpoint", e))?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("request_uri", request_uri);
        let pending = Pending {
            did,
            handle,
            issuer,
            token_endpoint: token,
            dpop_key: URL_SAFE_NO_PAD.encode(dpop_der),
            dpop_nonce: nonce,
            verifier,
        };
        Ok(BlueskyStart {
            authorize_url: url.into(),
            context: json!(pending).to_string(),
        })
    }

    async fn end(&self, context: &str, code: &str, issuer: &str) -> PortResult<BlueskyIdentity> {
        let pending: Pending = serde_json::from_str(context)
            .map_err(|e| StoreError::backend_while(ADAPTER, "reading the pending flow", e))?;
        if issuer.trim_end_matches('/') != pending.issuer.trim_end_matches('/') {
            return Err(failed("the callback names another issuer"));
        }
        let der = URL_SAFE_NO_PAD
            .decode(&pending.dpop_key)
            .map_err(|e| StoreError::backend_while(ADAPTER, "the DPoP key", e))?;
        let dpop = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &self.rng)
            .map_err(|_| failed("the DPoP key is unreadable"))?;
        let assertion = self.client_assertion(&pending.issuer)?;
        let (reply, _) = self
            .post_form(
                &pending.token_endpoint,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", &self.redirect_uri),
                    ("code_verifier", &pending.verifier),
                    ("client_id", &self.client_id),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                ],
                &dpop,
                pending.dpop_nonce.clone(),
            )
            .await?;
        let answer: Value = serde_json::from_slice(&reply.bytes).unwrap_or_default();
        if !reply.status.is_success() || answer["sub"] != pending.did.as_str() {
            return Err(failed(format!(
                "the token exchange failed ({}): {}",
                reply.status, answer["error"]
            )));
        }
        Ok(BlueskyIdentity {
            did: pending.did,
            handle: pending.handle,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn authorization_endpoints_stay_on_the_issuers_origin() {
        use super::on_issuer_origin;
        let issuer = "https://auth.example.com";
        assert!(on_issuer_origin(
            "https://auth.example.com/oauth/authorize",
            issuer
        ));
        assert!(!on_issuer_origin("javascript:alert(1)", issuer));
        assert!(!on_issuer_origin("data:text/html,hi", issuer));
        assert!(!on_issuer_origin(
            "https://evil.example.net/authorize",
            issuer
        ));
        assert!(!on_issuer_origin(
            "http://auth.example.com/authorize",
            issuer
        ));
    }

    use super::*;
    use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

    #[test]
    fn proofs_are_es256_jws_that_verify_with_the_published_key() {
        let rng = SystemRandom::new();
        let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(der.as_ref())
        );
        struct NoDns;
        #[async_trait]
        impl DomainProbe for NoDns {
            async fn txt_records(&self, _: &str) -> Vec<String> {
                Vec::new()
            }
            async fn verification_file(&self, _: &str) -> Option<String> {
                None
            }
        }
        let client = AtprotoOAuth::new(
            AtprotoClient {
                api_url: "https://chat.example.com/api".into(),
                client_name: "Fluxer".into(),
                client_uri: String::new(),
                logo_uri: String::new(),
                tos_uri: String::new(),
                policy_uri: String::new(),
                keys: vec![("k1".into(), pem)],
            },
            Arc::new(NoDns),
        )
        .unwrap();
        let meta = client.client_metadata();
        assert_eq!(
            meta["client_id"],
            "https://chat.example.com/api/connections/bluesky/client-metadata.json"
        );
        assert_eq!(meta["client_uri"], "https://chat.example.com");
        let jwk = &client.jwks()["keys"][0];
        assert_eq!(jwk["kid"], "k1");
        let assertion = client.client_assertion("https://auth.example").unwrap();
        let parts: Vec<&str> = assertion.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], "k1");
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://auth.example");
        assert_eq!(claims["iss"], meta["client_id"]);
        let mut point = vec![4u8];
        for c in ["x", "y"] {
            point.extend(URL_SAFE_NO_PAD.decode(jwk[c].as_str().unwrap()).unwrap());
        }
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
            )
            .expect("the signature verifies with the published key");
        assert!(parse_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").is_err());
    }
}
