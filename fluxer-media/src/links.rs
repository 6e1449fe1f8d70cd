//! The media service as the use-cases see it: the [`Media`] port of `fluxer-core`, which sniffs uploads
//! and builds the signed URLs clients fetch stored objects at.

use fluxer_core::ports::{Media, MediaInfo};

use crate::proxy::{UrlSigner, external_path, probe_image};

/// Sniffs uploads and signs links into a media proxy mounted at `base` (`https://chat.example.com/media`).
///
/// A link is valid for between `ttl_secs` and `ttl_secs` + one hour: expiries are rounded up to the
/// hour, so every response built within the same hour carries the same URL (and caches keep working).
#[derive(Debug, Clone)]
pub struct MediaLinks {
    signer: UrlSigner,
    base: String,
    ttl_secs: u64,
}

impl MediaLinks {
    /// Links signed by `signer` under `base` (a trailing `/` is dropped), valid for at least
    /// `ttl_secs` seconds.
    pub fn new(signer: UrlSigner, base: impl Into<String>, ttl_secs: u64) -> Self {
        MediaLinks {
            signer,
            base: base.into().trim_end_matches('/').to_owned(),
            ttl_secs,
        }
    }
}

/// Types the image decoder does not cover, by their magic numbers.
fn sniff_other(bytes: &[u8]) -> &'static str {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return if &bytes[8..12] == b"qt  " {
            "video/quicktime"
        } else {
            "video/mp4"
        };
    }
    if starts(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return "video/webm";
    }
    if starts(b"OggS") {
        return "audio/ogg";
    }
    if starts(b"ID3") || starts(&[0xFF, 0xFB]) || starts(&[0xFF, 0xF3]) {
        return "audio/mpeg";
    }
    if starts(b"RIFF") && bytes.len() >= 12 && &bytes[8..12] == b"WAVE" {
        return "audio/wav";
    }
    if starts(b"fLaC") {
        return "audio/flac";
    }
    if starts(b"%PDF-") {
        return "application/pdf";
    }
    if starts(b"PK\x03\x04") {
        return "application/zip";
    }
    if starts(&[0x1F, 0x8B]) {
        return "application/gzip";
    }
    let head = &bytes[..bytes.len().min(4096)];
    if !head.contains(&0) && std::str::from_utf8(head).is_ok() {
        // Never text/html: an uploaded page must not render in our origin.
        return "text/plain; charset=utf-8";
    }
    "application/octet-stream"
}

impl Media for MediaLinks {
    fn inspect(&self, bytes: &[u8]) -> MediaInfo {
        match probe_image(bytes) {
            Ok(info) => MediaInfo {
                content_type: info.content_type,
                width: Some(info.width),
                height: Some(info.height),
                animated: info.animated,
            },
            Err(_) => MediaInfo {
                content_type: sniff_other(bytes).to_owned(),
                width: None,
                height: None,
                animated: false,
            },
        }
    }

    fn public_url(&self, key: &str) -> String {
        let now = crate::unix_now_secs();
        let expires = (now + self.ttl_secs).div_ceil(3600) * 3600;
        let path = format!("/{}", key.trim_start_matches('/'));
        format!("{}{}", self.base, self.signer.signed_path(&path, expires))
    }

    /// Through `/external/...` (signed, no expiry, as upstream); a URL already on the media proxy,
    /// or that is no http(s) URL, is left alone.
    fn external_url(&self, url: &str) -> Option<String> {
        let parsed = url::Url::parse(url.trim()).ok()?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return None;
        }
        if url.starts_with(&format!("{}/", self.base)) {
            return Some(url.to_owned());
        }
        Some(format!(
            "{}/{}",
            self.base,
            external_path(&self.signer, parsed.as_str())
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_and_sniffing_ignores_names() {
        let signer = UrlSigner::new(b"k".to_vec());
        let links = MediaLinks::new(signer.clone(), "http://x.test/media/", 86_400);
        let url = links.public_url("attachments/1/2/cat.png");
        let rel = url.strip_prefix("http://x.test/media").unwrap();
        assert!(rel.starts_with("/attachments/1/2/cat.png?ex="));
        assert!(signer.verify(rel, 1_700_000_000).is_ok());
        assert!(
            signer
                .verify(&rel.replace("cat", "dog"), 1_700_000_000)
                .is_err()
        );

        assert_eq!(
            links.inspect(b"<html><script>").content_type,
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            links.inspect(b"%PDF-1.7 ...").content_type,
            "application/pdf"
        );
        let mp4 = b"\0\0\0\x20ftypisom\0\0\x02\0";
        assert_eq!(links.inspect(mp4).content_type, "video/mp4");
        assert_eq!(
            links.inspect(&[0, 159, 146, 150]).content_type,
            "application/octet-stream"
        );
    }

    #[test]
    fn external_urls_go_through_the_proxy_signed() {
        let signer = UrlSigner::new(b"k".to_vec());
        let links = MediaLinks::new(signer.clone(), "http://x.test/media", 86_400);
        let proxied = links.external_url("https://Example.com/a.png").unwrap();
        let path = proxied
            .strip_prefix("http://x.test/media/external/")
            .unwrap();
        let (sig, proxy_path) = path.split_once('/').unwrap();
        assert!(signer.verify_external(proxy_path, sig).is_ok());
        assert_eq!(
            crate::proxy::signing::decode_external_url(proxy_path.strip_prefix("v2/").unwrap())
                .unwrap(),
            "https://example.com/a.png"
        );
        let own = "http://x.test/media/attachments/1/2/a.png";
        assert_eq!(links.external_url(own).as_deref(), Some(own));
        assert_eq!(links.external_url("javascript:alert(1)"), None);
    }
}
