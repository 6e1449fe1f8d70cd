//! AWS Signature Version 4 verification, for the `Authorization` header and for presigned URLs.
//!
//! The canonical request is rebuilt from what arrived: the method, the path as the client sent it (the
//! full path, including the prefix a host mounted this service under), the query, the signed headers
//! and the payload hash the client declared. Signatures are compared in constant time.

use std::collections::HashMap;

use axum::http::{HeaderMap, Method, header};
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::S3Error;

pub(super) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub(super) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
pub(super) const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
pub(super) const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
pub(super) const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
/// SHA-256 of the empty string.
pub(super) const EMPTY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// How far a request's date may be from ours.
pub(super) const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;
/// The longest validity of a presigned URL (seven days, as on AWS).
const MAX_PRESIGN_EXPIRES_SECS: i64 = 7 * 24 * 3600;

/// AWS's `UriEncode`: everything but the unreserved characters.
const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes like AWS's `UriEncode` (used for canonical requests and `encoding-type=url`).
pub(super) fn uri_encode(text: &str) -> String {
    utf8_percent_encode(text, STRICT).to_string()
}

/// The request, as far as signing is concerned.
pub(super) struct SignedRequest<'a> {
    pub method: &'a Method,
    /// The path as received, still percent-encoded.
    pub raw_path: &'a str,
    /// The query as received, still percent-encoded.
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
}

/// How the body of an authenticated request is protected.
#[derive(Debug)]
pub(super) enum Payload {
    /// The client did not sign the body.
    Unsigned,
    /// The body's SHA-256 was signed; it must match.
    Sha256([u8; 32]),
    /// An `aws-chunked` body, with per-chunk signatures to verify (`Some`) or unsigned; `trailer` when
    /// trailing headers (checksums) follow the last chunk.
    Chunked {
        signer: Option<ChunkSigner>,
        trailer: bool,
    },
}

/// Signs the chunks of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body, each chained to the one before,
/// starting from the request's signature.
#[derive(Debug)]
pub(super) struct ChunkSigner {
    key: [u8; 32],
    amz_date: String,
    scope: String,
    previous: String,
}

impl ChunkSigner {
    /// The signature expected for the next chunk, whose data hashes to `chunk_sha256`; it becomes the
    /// seed of the one after.
    pub(super) fn next_chunk(&mut self, chunk_sha256: &[u8; 32]) -> String {
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            hex(chunk_sha256)
        );
        self.previous = hex(&hmac(&self.key, string_to_sign.as_bytes()));
        self.previous.clone()
    }

    /// The signature expected for the trailing headers (`name:value\n` each).
    pub(super) fn trailer(&mut self, trailer: &[u8]) -> String {
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            hex(&Sha256::digest(trailer))
        );
        self.previous = hex(&hmac(&self.key, string_to_sign.as_bytes()));
        self.previous.clone()
    }
}

/// Checks signatures against the configured keys.
pub(super) struct Verifier {
    region: String,
    secrets: HashMap<String, String>,
}

impl Verifier {
    pub(super) fn new(region: String, keys: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            region,
            secrets: keys.into_iter().collect(),
        }
    }

    /// Authenticates `request` at `now` (Unix seconds) and says how its body is protected.
    pub(super) fn verify(&self, request: &SignedRequest<'_>, now: i64) -> Result<Payload, S3Error> {
        if let Some(authorization) = request.headers.get(header::AUTHORIZATION) {
            let authorization = authorization
                .to_str()
                .map_err(|_| S3Error::malformed_auth("The authorization header is not ASCII"))?;
            self.verify_header(request, authorization, now)
        } else if query_has(request.raw_query, "X-Amz-Algorithm") {
            self.verify_presigned(request, now)
        } else {
            Err(S3Error::access_denied(
                "Anonymous access is not allowed: sign requests with AWS Signature Version 4",
            ))
        }
    }

    fn verify_header(
        &self,
        request: &SignedRequest<'_>,
        authorization: &str,
        now: i64,
    ) -> Result<Payload, S3Error> {
        let Some(fields) = authorization.strip_prefix(ALGORITHM) else {
            return Err(if authorization.starts_with("AWS ") {
                S3Error::invalid_request(
                    "Signature Version 2 is not supported; use AWS4-HMAC-SHA256",
                )
            } else {
                S3Error::malformed_auth("Unsupported authorization type; use AWS4-HMAC-SHA256")
            });
        };
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for field in fields.split(',') {
            match field.trim().split_once('=') {
                Some(("Credential", v)) => credential = Some(v),
                Some(("SignedHeaders", v)) => signed_headers = Some(v),
                Some(("Signature", v)) => signature = Some(v),
                _ => {}
            }
        }
        let (Some(credential), Some(signed_headers), Some(signature)) =
            (credential, signed_headers, signature)
        else {
            return Err(S3Error::malformed_auth(
                "The authorization header needs Credential, SignedHeaders and Signature",
            ));
        };
        let amz_date = match header_str(request.headers, "x-amz-date") {
            Some(date) => date.to_owned(),
            None => header_str(request.headers, "date")
                .and_then(|date| httpdate::parse_http_date(date).ok())
                .map(|date| format_amz_date(unix_secs(date)))
                .ok_or_else(|| {
                    S3Error::access_denied(
                        "AWS authentication requires a valid Date or x-amz-date header",
                    )
                })?,
        };
        let date = parse_amz_date(&amz_date)
            .ok_or_else(|| S3Error::access_denied("Invalid x-amz-date"))?;
        if (now - date).abs() > MAX_CLOCK_SKEW_SECS {
            return Err(S3Error::new(
                axum::http::StatusCode::FORBIDDEN,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            ));
        }
        let scope = self.scope(credential, &amz_date, S3Error::malformed_auth)?;
        let payload_hash = header_str(request.headers, "x-amz-content-sha256")
            .ok_or_else(|| {
                S3Error::invalid_request(
                    "Missing required header for this request: x-amz-content-sha256",
                )
            })?
            .to_owned();
        let query = canonical_query(request.raw_query, None);
        let key = self.check_signature(
            request,
            &scope,
            &amz_date,
            &query,
            signed_headers,
            &payload_hash,
            signature,
        )?;
        payload(&payload_hash, key, amz_date, scope.string, signature)
    }

    fn verify_presigned(&self, request: &SignedRequest<'_>, now: i64) -> Result<Payload, S3Error> {
        let params = parse_query(request.raw_query);
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .ok_or_else(|| {
                    S3Error::malformed_presign(format!(
                        "Query-string authentication requires {name}"
                    ))
                })
        };
        if param("X-Amz-Algorithm")? != ALGORITHM {
            return Err(S3Error::malformed_presign(
                "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
            ));
        }
        let credential = param("X-Amz-Credential")?;
        let amz_date = param("X-Amz-Date")?.to_owned();
        let signed_headers = param("X-Amz-SignedHeaders")?;
        let signature = param("X-Amz-Signature")?;
        let expires: i64 = param("X-Amz-Expires")?
            .parse()
            .ok()
            .filter(|e| (1..=MAX_PRESIGN_EXPIRES_SECS).contains(e))
            .ok_or_else(|| {
                S3Error::malformed_presign("X-Amz-Expires must be between 1 and 604800 seconds")
            })?;
        let date = parse_amz_date(&amz_date).ok_or_else(|| {
            S3Error::malformed_presign("X-Amz-Date must be in the ISO8601 Long Format")
        })?;
        if now > date + expires {
            return Err(S3Error::access_denied("Request has expired"));
        }
        if date - now > MAX_CLOCK_SKEW_SECS {
            return Err(S3Error::access_denied("Request is not valid yet"));
        }
        let scope = self.scope(credential, &amz_date, S3Error::malformed_presign)?;
        let payload_hash =
            header_str(request.headers, "x-amz-content-sha256").unwrap_or(UNSIGNED_PAYLOAD);
        let query = canonical_query(request.raw_query, Some("X-Amz-Signature"));
        let key = self.check_signature(
            request,
            &scope,
            &amz_date,
            &query,
            signed_headers,
            payload_hash,
            signature,
        )?;
        payload(payload_hash, key, amz_date, scope.string, signature)
    }

    /// Parses `AKID/20130524/us-east-1/s3/aws4_request` and finds the key's secret.
    fn scope(
        &self,
        credential: &str,
        amz_date: &str,
        malformed: fn(String) -> S3Error,
    ) -> Result<Scope, S3Error> {
        let parts: Vec<&str> = credential.split('/').collect();
        let [access_key, day, region, service, terminal] = parts[..] else {
            return Err(malformed(format!(
                "The credential '{credential}' is malformed"
            )));
        };
        if service != "s3" || terminal != "aws4_request" {
            return Err(malformed(format!(
                "The credential '{credential}' is malformed; expecting '<key>/<date>/<region>/s3/aws4_request'"
            )));
        }
        if region != self.region {
            return Err(malformed(format!(
                "The authorization header is malformed; the region '{region}' is wrong; expecting '{}'",
                self.region
            )));
        }
        if !amz_date.starts_with(day) || day.len() != 8 {
            return Err(malformed(format!(
                "The credential date '{day}' does not match the request date"
            )));
        }
        let secret = self
            .secrets
            .get(access_key)
            .ok_or_else(S3Error::invalid_access_key)?;
        Ok(Scope {
            string: format!("{day}/{region}/s3/aws4_request"),
            key: signing_key(secret, day, region),
        })
    }

    /// Verifies `signature` over the canonical request and returns the signing key. The path is tried
    /// as AWS canonicalizes it (decoded, then strictly re-encoded) and, if different, as sent: clients
    /// differ in which characters they escape, and each signs what it sends.
    #[allow(clippy::too_many_arguments)]
    fn check_signature(
        &self,
        request: &SignedRequest<'_>,
        scope: &Scope,
        amz_date: &str,
        canonical_query: &str,
        signed_headers: &str,
        payload_hash: &str,
        signature: &str,
    ) -> Result<[u8; 32], S3Error> {
        if !signed_headers.split(';').any(|h| h == "host") {
            return Err(S3Error::access_denied(
                "The host header must be signed (SignedHeaders lacks 'host')",
            ));
        }
        let headers = canonical_headers(request.headers, signed_headers);
        let strict = canonical_path(request.raw_path);
        let paths = [
            Some(strict.as_str()),
            (strict != request.raw_path).then_some(request.raw_path),
        ];
        let mut matched = false;
        for path in paths.into_iter().flatten() {
            let canonical = format!(
                "{}\n{path}\n{canonical_query}\n{headers}\n{signed_headers}\n{payload_hash}",
                request.method.as_str()
            );
            let expected = sign(&scope.key, amz_date, &scope.string, &canonical);
            // Both candidates are always computed: the time taken does not say which one matched.
            matched |= bool::from(expected.as_bytes().ct_eq(signature.as_bytes()));
        }
        if matched {
            Ok(scope.key)
        } else {
            Err(S3Error::signature_mismatch())
        }
    }
}

struct Scope {
    /// `20130524/us-east-1/s3/aws4_request`.
    string: String,
    key: [u8; 32],
}

/// How the body is protected, from the declared payload hash.
fn payload(
    payload_hash: &str,
    key: [u8; 32],
    amz_date: String,
    scope: String,
    signature: &str,
) -> Result<Payload, S3Error> {
    let signer = || ChunkSigner {
        key,
        amz_date: amz_date.clone(),
        scope: scope.clone(),
        previous: signature.to_owned(),
    };
    Ok(match payload_hash {
        UNSIGNED_PAYLOAD => Payload::Unsigned,
        STREAMING_SIGNED => Payload::Chunked {
            signer: Some(signer()),
            trailer: false,
        },
        STREAMING_SIGNED_TRAILER => Payload::Chunked {
            signer: Some(signer()),
            trailer: true,
        },
        STREAMING_UNSIGNED_TRAILER => Payload::Chunked {
            signer: None,
            trailer: true,
        },
        hash => Payload::Sha256(parse_sha256(hash).ok_or_else(|| {
            if hash.starts_with("STREAMING-") {
                S3Error::not_implemented(hash)
            } else {
                S3Error::invalid_argument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-... or a SHA-256 in hex")
            }
        })?),
    })
}

fn parse_sha256(hex_digest: &str) -> Option<[u8; 32]> {
    if hex_digest.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex_digest.as_bytes().chunks_exact(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// The signature of a canonical request.
fn sign(key: &[u8; 32], amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    hex(&hmac(key, string_to_sign.as_bytes()))
}

fn signing_key(secret: &str, day: &str, region: &str) -> [u8; 32] {
    let date_key = hmac(format!("AWS4{secret}").as_bytes(), day.as_bytes());
    let region_key = hmac(&date_key, region.as_bytes());
    let service_key = hmac(&region_key, b"s3");
    hmac(&service_key, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Each path segment decoded, then encoded with AWS's `UriEncode`.
fn canonical_path(raw_path: &str) -> String {
    raw_path
        .split('/')
        .map(|segment| {
            let decoded = percent_decode_str(segment).collect::<Vec<u8>>();
            percent_encoding::percent_encode(&decoded, STRICT).to_string()
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The query decoded into pairs (`+` is a literal plus, as clients that sign encode spaces as `%20`).
pub(super) fn parse_query(raw_query: &str) -> Vec<(String, String)> {
    raw_query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

fn query_has(raw_query: &str, name: &str) -> bool {
    parse_query(raw_query).iter().any(|(k, _)| k == name)
}

/// Pairs re-encoded, sorted by name then value, without `skip`.
fn canonical_query(raw_query: &str, skip: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = parse_query(raw_query)
        .into_iter()
        .filter(|(k, _)| Some(k.as_str()) != skip)
        .map(|(k, v)| (uri_encode(&k), uri_encode(&v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `name:value\n` for each signed header: values trimmed, inner runs of spaces collapsed, repeated
/// headers joined with commas.
fn canonical_headers(headers: &HeaderMap, signed_headers: &str) -> String {
    let mut out = String::new();
    for name in signed_headers.split(';') {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `20130524T000000Z` as Unix seconds.
pub(super) fn parse_amz_date(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = text.get(range)?;
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let month = time::Month::try_from(u8::try_from(number(4..6)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::try_from(number(0..4)?).ok()?,
        month,
        u8::try_from(number(6..8)?).ok()?,
    )
    .ok()?;
    let time = time::Time::from_hms(
        u8::try_from(number(9..11)?).ok()?,
        u8::try_from(number(11..13)?).ok()?,
        u8::try_from(number(13..15)?).ok()?,
    )
    .ok()?;
    Some(date.with_time(time).assume_utc().unix_timestamp())
}

pub(super) fn format_amz_date(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => String::new(),
    }
}

pub(super) fn unix_secs(time: std::time::SystemTime) -> i64 {
    match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

#[cfg(test)]
#[path = "sigv4_tests.rs"]
pub(super) mod tests;
