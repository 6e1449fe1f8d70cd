//! Signed URLs: expiring signatures for attachments and upstream's `external/{sig}/v2/{url}` form.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::error::MediaError;

/// Query parameters that only choose a rendition of the object (size, format, ...). They are left out of
/// the signature so a client can ask for a thumbnail of a URL the API signed, as with Discord's CDN; the
/// object and the expiry stay bound to the signature.
const PRESENTATION_PARAMS: &[&str] = &["width", "height", "size", "format", "quality", "animated"];

/// base64url that accepts input with or without padding.
const URL_SAFE_ANY_PAD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Signs and verifies media URLs with HMAC-SHA256 under the proxy's secret.
///
/// An attachment URL is signed over its path — relative to the proxy's mount (`/attachments/1/2/cat.png`,
/// not `/media/...`) and percent-encoded exactly as it will appear in the URL — and its sorted query
/// without `sig` and without the presentation parameters (`width`, `height`, `size`, `format`,
/// `quality`, `animated`), so clients may add those to a signed URL. `ex` is the expiry in Unix
/// seconds; `sig` is base64url (no padding) of the HMAC-SHA256.
///
/// ```
/// use fluxer_media::proxy::UrlSigner;
///
/// let signer = UrlSigner::new(b"secret".to_vec());
/// let suffix = signer.sign("/attachments/1/2/cat.png", 4_000_000_000);
/// let url = format!("/attachments/1/2/cat.png?{suffix}&width=128");
/// assert!(signer.verify(&url, 1_700_000_000).is_ok());
/// assert!(signer.verify(&url.replace("cat", "dog"), 1_700_000_000).is_err());
/// ```
#[derive(Clone)]
pub struct UrlSigner {
    key: Arc<[u8]>,
}

impl fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UrlSigner").finish_non_exhaustive()
    }
}

impl UrlSigner {
    /// A signer keyed with `secret` (upstream uses `services.media_proxy.secret_key` as UTF-8 bytes).
    pub fn new(secret: Vec<u8>) -> Self {
        UrlSigner { key: secret.into() }
    }

    /// The query suffix `ex={expires_at}&sig={signature}` to append to `path_and_query` (after `?`, or
    /// after `&` when it already has a query). Any `ex` or `sig` already in `path_and_query` is replaced.
    pub fn sign(&self, path_and_query: &str, expires_at_unix_secs: u64) -> String {
        let (path, query) = split_query(path_and_query);
        let ex = format!("ex={expires_at_unix_secs}");
        let mut segments: Vec<&str> = signed_segments(query)
            .filter(|s| param_name(s) != "ex")
            .collect();
        segments.push(&ex);
        let sig = self.mac(&canonical(path, segments));
        format!("{ex}&sig={sig}")
    }

    /// `path_and_query` with the signature appended: what the API hands to clients.
    pub fn signed_path(&self, path_and_query: &str, expires_at_unix_secs: u64) -> String {
        let suffix = self.sign(path_and_query, expires_at_unix_secs);
        let kept: Vec<&str> = split_query(path_and_query)
            .1
            .split('&')
            .filter(|s| !s.is_empty() && !matches!(param_name(s), "ex" | "sig"))
            .collect();
        let path = split_query(path_and_query).0;
        if kept.is_empty() {
            format!("{path}?{suffix}")
        } else {
            format!("{path}?{}&{suffix}", kept.join("&"))
        }
    }

    /// Checks a signed `path_and_query` (path relative to the mount) at `now_unix_secs`, comparing the
    /// signature in constant time.
    pub fn verify(&self, path_and_query: &str, now_unix_secs: u64) -> Result<(), MediaError> {
        let (path, query) = split_query(path_and_query);
        let param = |name: &str| {
            query
                .split('&')
                .find(|s| param_name(s) == name)
                .map(|s| s.get(name.len() + 1..).unwrap_or(""))
        };
        let (Some(ex), Some(sig)) = (param("ex"), param("sig")) else {
            return Err(MediaError::MissingSignature);
        };
        let sig = URL_SAFE_ANY_PAD
            .decode(sig)
            .map_err(|_| MediaError::InvalidSignature)?;
        let mut mac = self.hmac();
        mac.update(canonical(path, signed_segments(query).collect()).as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| MediaError::InvalidSignature)?;
        let expires_at: u64 = ex.parse().map_err(|_| MediaError::InvalidSignature)?;
        if now_unix_secs > expires_at {
            return Err(MediaError::ExpiredSignature);
        }
        Ok(())
    }

    /// Upstream's external-proxy signature: base64url_nopad(HMAC-SHA256(secret, proxy_path)), where
    /// `proxy_path` is `v2/{base64url(url)}`.
    pub fn sign_external(&self, proxy_path: &str) -> String {
        self.mac(proxy_path)
    }

    /// Checks an external-proxy signature in constant time (mismatch: 401, as upstream).
    pub fn verify_external(&self, proxy_path: &str, sig: &str) -> Result<(), MediaError> {
        let sig = URL_SAFE_ANY_PAD
            .decode(sig)
            .map_err(|_| MediaError::InvalidExternalSignature)?;
        let mut mac = self.hmac();
        mac.update(proxy_path.as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| MediaError::InvalidExternalSignature)
    }

    fn hmac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length; this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC accepts any key length")
    }

    fn mac(&self, message: &str) -> String {
        let mut mac = self.hmac();
        mac.update(message.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// The signed external-proxy path for `url`, relative to the proxy's mount, as upstream builds it:
/// `external/{sig}/v2/{base64url_nopad(url)}`.
pub fn external_path(signer: &UrlSigner, url: &str) -> String {
    let proxy_path = format!("v2/{}", URL_SAFE_NO_PAD.encode(url.trim().as_bytes()));
    format!(
        "external/{}/{proxy_path}",
        signer.sign_external(&proxy_path)
    )
}

/// The URL inside a `v2` external path segment.
pub(crate) fn decode_external_url(encoded: &str) -> Result<String, MediaError> {
    let bytes = URL_SAFE_ANY_PAD
        .decode(encoded)
        .map_err(|_| MediaError::InvalidExternalUrl("not base64url".into()))?;
    String::from_utf8(bytes).map_err(|_| MediaError::InvalidExternalUrl("not UTF-8".into()))
}

fn split_query(path_and_query: &str) -> (&str, &str) {
    path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""))
}

fn param_name(segment: &str) -> &str {
    segment.split_once('=').map_or(segment, |(k, _)| k)
}

/// The raw query segments the signature covers.
fn signed_segments(query: &str) -> impl Iterator<Item = &str> {
    query.split('&').filter(|s| {
        let name = param_name(s);
        !s.is_empty() && name != "sig" && !PRESENTATION_PARAMS.contains(&name)
    })
}

fn canonical(path: &str, mut segments: Vec<&str>) -> String {
    segments.sort_unstable();
    format!("{path}?{}", segments.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> UrlSigner {
        UrlSigner::new(b"test-secret".to_vec())
    }

    #[test]
    fn signed_path_verifies_until_expiry() {
        let s = signer();
        let url = s.signed_path("/attachments/1/2/a.png", 1000);
        assert!(url.starts_with("/attachments/1/2/a.png?ex=1000&sig="));
        assert_eq!(s.verify(&url, 999), Ok(()));
        assert_eq!(s.verify(&url, 1000), Ok(()));
        assert_eq!(s.verify(&url, 1001), Err(MediaError::ExpiredSignature));
    }

    #[test]
    fn presentation_params_are_free_others_are_bound() {
        let s = signer();
        let url = s.signed_path("/attachments/1/2/a.png?is=5", 1000);
        assert_eq!(s.verify(&format!("{url}&width=10&format=webp"), 0), Ok(()));
        let reordered = format!(
            "/attachments/1/2/a.png?{}&is=5",
            s.sign("/attachments/1/2/a.png?is=5", 1000)
        );
        assert_eq!(s.verify(&reordered, 0), Ok(()));
        assert_eq!(
            s.verify(&url.replace("is=5", "is=6"), 0),
            Err(MediaError::InvalidSignature)
        );
        assert_eq!(
            s.verify(&url.replace("ex=1000", "ex=9999"), 0),
            Err(MediaError::InvalidSignature)
        );
        assert_eq!(
            s.verify(&format!("{url}&ex=9999"), 0),
            Err(MediaError::InvalidSignature)
        );
    }

    #[test]
    fn missing_or_garbled_signatures() {
        let s = signer();
        assert_eq!(s.verify("/a", 0), Err(MediaError::MissingSignature));
        assert_eq!(s.verify("/a?ex=5", 0), Err(MediaError::MissingSignature));
        assert_eq!(
            s.verify("/a?ex=5&sig=!!", 0),
            Err(MediaError::InvalidSignature)
        );
        let other = UrlSigner::new(b"other".to_vec()).signed_path("/a", 10);
        assert_eq!(s.verify(&other, 0), Err(MediaError::InvalidSignature));
    }

    #[test]
    fn external_paths_round_trip() {
        let s = signer();
        let path = external_path(&s, "https://example.com/cat.png?x=1");
        let mut parts = path.splitn(4, '/');
        assert_eq!(parts.next(), Some("external"));
        let sig = parts.next().unwrap_or_default();
        assert_eq!(parts.next(), Some("v2"));
        let encoded = parts.next().unwrap_or_default();
        assert_eq!(s.verify_external(&format!("v2/{encoded}"), sig), Ok(()));
        assert_eq!(
            decode_external_url(encoded).as_deref(),
            Ok("https://example.com/cat.png?x=1")
        );
        assert_eq!(
            s.verify_external(&format!("v2/{encoded}A"), sig),
            Err(MediaError::InvalidExternalSignature)
        );
    }
}
