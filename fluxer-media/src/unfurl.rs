//! Link previews: [`LinkPreviews`] implements the core's [`Unfurler`] port with the media proxy's
//! SSRF-safe fetcher (public addresses only, checked on every redirect, bounded in size and time).
//!
//! A page yields a `link` embed from its OpenGraph and Twitter card tags (`<title>` and
//! `description` as fallbacks), its oEmbed provider and author when it links one, and its first
//! image as the thumbnail, measured so clients can lay it out. A direct image link yields an
//! `image` embed, a video a `video` embed. Titles are cut at 70 characters and descriptions at 350,
//! as upstream.

use std::net::IpAddr;

use async_trait::async_trait;
use fluxer_core::model::Embed;
use fluxer_core::ports::{RemoteMedia, Unfurler};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::proxy::external::{Agent, fetch_as};
use crate::proxy::{ExternalConfig, MediaError, probe_image};

/// How the previewer introduces itself to sites.
const AGENT: Agent = Agent {
    user_agent: "Mozilla/5.0 (compatible; Fluxerbot/1.0)",
    accept: "text/html,application/xhtml+xml,image/*,video/*;q=0.9,*/*;q=0.5",
};
/// How much of a page is read for its tags.
const HTML_BYTES: usize = 1 << 20;
/// Largest page, image or video fetched for a preview.
const MEDIA_BYTES: u64 = 8 << 20;
/// Largest oEmbed document.
const OEMBED_BYTES: u64 = 256 << 10;
const TITLE_CHARS: usize = 70;
const DESCRIPTION_CHARS: usize = 350;
const NAME_CHARS: usize = 256;
/// Embed media flag: animated.
const ANIMATED: u32 = 1 << 5;

/// Fetches pages and media to preview links (see the module docs).
#[derive(Debug, Clone)]
pub struct LinkPreviews {
    page: ExternalConfig,
    image: ExternalConfig,
    oembed: ExternalConfig,
}

impl LinkPreviews {
    /// Previews that fetch public addresses only, and also `allow_addresses` (a test hook: leave
    /// it empty in production).
    pub fn new(allow_addresses: Vec<IpAddr>) -> Self {
        let config = |types: &[&str], max_bytes: u64| ExternalConfig {
            enabled: true,
            max_bytes,
            allowed_content_types: types.iter().map(|t| (*t).to_owned()).collect(),
            allow_addresses: allow_addresses.clone(),
            ..ExternalConfig::default()
        };
        LinkPreviews {
            page: config(
                &["text/html", "application/xhtml+xml", "image/*", "video/*"],
                MEDIA_BYTES,
            ),
            image: config(&["image/*"], MEDIA_BYTES),
            oembed: config(
                &["application/json", "text/json", "application/json+oembed"],
                OEMBED_BYTES,
            ),
        }
    }

    async fn preview(&self, url: &str) -> Result<Vec<Embed>, MediaError> {
        let page = fetch_as(&self.page, url, AGENT).await?;
        let final_url = page.final_url.clone();
        let content_type = page.content_type.as_str();
        if content_type.starts_with("image/") {
            let thumbnail = image_media(&final_url, &page.bytes)?;
            return Ok(vec![Embed {
                kind: Some("image".to_owned()),
                url: Some(final_url),
                thumbnail: Some(thumbnail),
                ..Embed::default()
            }]);
        }
        if content_type.starts_with("video/") {
            return Ok(vec![Embed {
                kind: Some("video".to_owned()),
                url: Some(final_url.clone()),
                video: Some(json!({ "url": final_url, "content_type": content_type })),
                ..Embed::default()
            }]);
        }
        let text = String::from_utf8_lossy(&page.bytes[..page.bytes.len().min(HTML_BYTES)]);
        let tags = PageTags::scan(&text);
        Ok(self
            .page_preview(&final_url, &tags)
            .await
            .into_iter()
            .collect())
    }

    async fn page_preview(&self, page_url: &str, tags: &PageTags) -> Option<Embed> {
        let base = url::Url::parse(page_url).ok()?;
        let title = tags
            .meta("og:title")
            .or(tags.title.as_deref())
            .or_else(|| tags.meta("title"))
            .map(|t| cut(&decode_entities(t), TITLE_CHARS))
            .filter(|t| !t.is_empty());
        let description = tags
            .meta("og:description")
            .or_else(|| tags.meta("description"))
            .map(|d| cut(&decode_entities(d), DESCRIPTION_CHARS))
            .filter(|d| !d.is_empty());
        let color = tags.meta("theme-color").and_then(parse_color);
        let oembed = match tags.oembed.as_deref().and_then(|h| base.join(h).ok()) {
            Some(href) => self.oembed(href.as_str()).await,
            None => Map::new(),
        };
        let text = |key: &str| oembed.get(key).and_then(Value::as_str).map(str::to_owned);
        let site_name = text("provider_name")
            .or_else(|| tags.meta("og:site_name").map(str::to_owned))
            .or_else(|| tags.meta("application-name").map(str::to_owned))
            .map(|n| cut(&decode_entities(&n), NAME_CHARS))
            .filter(|n| !n.is_empty());
        let provider = site_name.map(|name| {
            let url = text("provider_url")
                .filter(|u| is_http(u))
                .unwrap_or_else(|| base.origin().ascii_serialization());
            json!({ "name": name, "url": url })
        });
        let author = text("author_name").map(|name| {
            let mut author = json!({ "name": cut(&name, NAME_CHARS) });
            if let Some(url) = text("author_url").filter(|u| is_http(u)) {
                author["url"] = json!(url);
            }
            author
        });
        let thumbnail = match [
            "og:image",
            "og:image:secure_url",
            "twitter:image:src",
            "image",
        ]
        .iter()
        .find_map(|k| tags.meta(k))
        .and_then(|src| base.join(decode_entities(src).trim()).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        {
            Some(src) => self.page_image(src.as_str(), tags).await,
            None => None,
        };
        let video = ["og:video", "og:video:url", "og:video:secure_url"]
            .iter()
            .find_map(|k| tags.meta(k))
            .and_then(|src| base.join(decode_entities(src).trim()).ok())
            .filter(|u| u.scheme() == "https" || u.scheme() == "http")
            .map(|src| {
                let mut video = json!({ "url": src.as_str() });
                for (key, field) in [("og:video:width", "width"), ("og:video:height", "height")] {
                    if let Some(n) = tags.meta(key).and_then(|v| v.trim().parse::<u32>().ok()) {
                        video[field] = json!(n);
                    }
                }
                video
            });
        if title.is_none() && description.is_none() && thumbnail.is_none() && video.is_none() {
            return None;
        }
        Some(Embed {
            kind: Some("link".to_owned()),
            url: Some(page_url.to_owned()),
            title,
            description,
            color,
            provider,
            author,
            thumbnail,
            video,
            ..Embed::default()
        })
    }

    /// A page's image, measured by fetching it; when it cannot be fetched, the size its tags
    /// state, if they state one.
    async fn page_image(&self, src: &str, tags: &PageTags) -> Option<Value> {
        let mut media = match fetch_as(&self.image, src, AGENT).await {
            Ok(fetched) => image_media(src, &fetched.bytes).ok()?,
            Err(_) => {
                let size = |k: &str| tags.meta(k).and_then(|v| v.trim().parse::<u32>().ok());
                let (width, height) = (size("og:image:width")?, size("og:image:height")?);
                json!({ "url": src, "width": width, "height": height, "flags": 0 })
            }
        };
        if let Some(alt) = tags.meta("og:image:alt") {
            media["description"] = json!(cut(&decode_entities(alt), 4096));
        }
        Some(media)
    }

    async fn oembed(&self, href: &str) -> Map<String, Value> {
        match fetch_as(&self.oembed, href, AGENT).await {
            Ok(doc) => serde_json::from_slice(&doc.bytes).unwrap_or_default(),
            Err(_) => Map::new(),
        }
    }
}

#[async_trait]
impl Unfurler for LinkPreviews {
    async fn unfurl(&self, url: &str) -> Vec<Embed> {
        match self.preview(url).await {
            Ok(embeds) => embeds,
            Err(e) => {
                tracing::debug!(url, error = %e, "no link preview");
                Vec::new()
            }
        }
    }

    async fn fetch_media(&self, url: &str, max_bytes: u64) -> Option<RemoteMedia> {
        let config = ExternalConfig {
            max_bytes,
            allowed_content_types: ["image/*", "video/*", "audio/*"]
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
            ..self.image.clone()
        };
        match fetch_as(&config, url, AGENT).await {
            Ok(f) => Some(RemoteMedia {
                bytes: f.bytes.to_vec(),
                content_type: f.content_type,
                final_url: f.final_url,
            }),
            Err(e) => {
                tracing::debug!(url, error = %e, "remote media not fetched");
                None
            }
        }
    }
}

/// An embed media object for an image: its URL, size, type, hash and animation flag.
fn image_media(url: &str, bytes: &[u8]) -> Result<Value, MediaError> {
    let info = probe_image(bytes)?;
    let hash: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(json!({
        "url": url,
        "width": info.width,
        "height": info.height,
        "content_type": info.content_type,
        "content_hash": hash,
        "flags": if info.animated { ANIMATED } else { 0 },
    }))
}

fn is_http(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

/// `#rgb` or `#rrggbb` as a number (upstream reads `#abc` as 0xabc, not 0xaabbcc; so do we).
fn parse_color(value: &str) -> Option<u32> {
    let hex = value.trim().strip_prefix('#')?;
    if !(hex.len() == 3 || hex.len() == 6) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok()
}

/// At most `max` characters, the last three `...` when cut.
fn cut(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(3)).collect();
    out.truncate(out.trim_end().len());
    out.push_str("...");
    out
}

/// HTML character references: the common named ones and numeric ones.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest
            .as_bytes()
            .iter()
            .take(11)
            .position(|b| *b == b';')
            .and_then(|end| {
                let name = &rest[1..end];
                let c = match name {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" | "#39" => Some('\''),
                    "nbsp" => Some('\u{a0}'),
                    _ => name
                        .strip_prefix("#x")
                        .or_else(|| name.strip_prefix("#X"))
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                        .and_then(char::from_u32),
                }?;
                Some((c, end + 1))
            });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// What a page says about itself in its markup.
#[derive(Debug, Default)]
struct PageTags {
    /// `<meta property|name=... content=...>`, by lower-cased key, in document order.
    metas: Vec<(String, String)>,
    /// `<title>`'s text.
    title: Option<String>,
    /// `<link type="application/json+oembed" href=...>`.
    oembed: Option<String>,
}

impl PageTags {
    fn scan(html: &str) -> PageTags {
        let mut tags = PageTags::default();
        let lower = html.to_ascii_lowercase();
        let mut at = 0;
        while let Some(open) = lower[at..].find('<').map(|i| at + i) {
            let rest = &lower[open..];
            if rest.starts_with("<!--") {
                at = rest.find("-->").map_or(html.len(), |e| open + e + 3);
                continue;
            }
            let name_len = rest[1..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == ':'))
                .unwrap_or(rest.len() - 1);
            let name = &rest[1..1 + name_len];
            let Some(close) = tag_end(&html[open..]).map(|e| open + e) else {
                break;
            };
            let attrs = attributes(&html[open + 1 + name_len..close]);
            at = close + 1;
            match name {
                "meta" => {
                    let key = attr(&attrs, "property").or_else(|| attr(&attrs, "name"));
                    if let (Some(key), Some(content)) = (key, attr(&attrs, "content")) {
                        tags.metas
                            .push((key.to_ascii_lowercase(), content.to_owned()));
                    }
                }
                "title" if tags.title.is_none() => {
                    let end = lower[at..].find("</title").map_or(html.len(), |e| at + e);
                    tags.title = Some(decode_entities(html[at..end].trim()));
                    at = end;
                }
                "link" => {
                    let oembed = attr(&attrs, "type")
                        .is_some_and(|t| t.eq_ignore_ascii_case("application/json+oembed"));
                    if oembed && tags.oembed.is_none() {
                        tags.oembed = attr(&attrs, "href").map(decode_entities);
                    }
                }
                // Script and style bodies are not markup.
                "script" | "style" => {
                    let closing = format!("</{name}");
                    at = lower[at..].find(&closing).map_or(html.len(), |e| at + e);
                }
                _ => {}
            }
        }
        tags
    }

    /// The last value given for `key`, or for its `twitter:` twin (`og:title` and
    /// `twitter:title`), by `property` or `name`.
    fn meta(&self, key: &str) -> Option<&str> {
        let twin = key.strip_prefix("og:").map(|k| format!("twitter:{k}"));
        self.metas
            .iter()
            .rev()
            .find(|(k, _)| k == key || twin.as_deref() == Some(k.as_str()))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }
}

/// Where the tag that starts `s` ends (its `>`), quotes respected.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// A tag's attributes, names lower-cased, values with their quotes removed.
fn attributes(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        if rest.is_empty() {
            return out;
        }
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        rest = rest[name_end..].trim_start();
        let value = if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            match after.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let end = after[1..].find(q).map_or(after.len(), |e| e + 1);
                    let value = after[1..end].to_owned();
                    rest = after.get(end + 1..).unwrap_or("");
                    value
                }
                _ => {
                    let end = after.find(char::is_whitespace).unwrap_or(after.len());
                    let value = after[..end].to_owned();
                    rest = &after[end..];
                    value
                }
            }
        } else {
            String::new()
        };
        if !name.is_empty() {
            out.push((name, value));
        }
    }
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r##"<!doctype html><html><head>
        <title>Fallback &amp; title</title>
        <!-- <meta property="og:title" content="commented out"> -->
        <meta property="og:title" content="The &quot;real&quot; title">
        <meta name="description" content='Plain description'>
        <meta name=twitter:description content=Twitter>
        <meta property="og:image" content="/img/cover.png">
        <meta name="theme-color" content="#ff8800">
        <link rel="alternate" type="application/json+oembed" href="/oembed?url=x&amp;y=1">
        <script>var s = "<meta property='og:title' content='script'>";</script>
        </head><body></body></html>"##;

    #[test]
    fn pages_are_read_for_their_tags() {
        let tags = PageTags::scan(PAGE);
        assert_eq!(tags.meta("og:title"), Some("The &quot;real&quot; title"));
        assert_eq!(tags.title.as_deref(), Some("Fallback & title"));
        assert_eq!(tags.meta("og:description"), Some("Twitter"));
        assert_eq!(tags.meta("description"), Some("Plain description"));
        assert_eq!(tags.meta("og:image"), Some("/img/cover.png"));
        assert_eq!(tags.oembed.as_deref(), Some("/oembed?url=x&y=1"));
        assert_eq!(
            tags.meta("theme-color").and_then(parse_color),
            Some(0xff8800)
        );
    }

    #[test]
    fn text_is_decoded_and_cut_as_upstream() {
        assert_eq!(
            decode_entities("a &amp; b &#65;&#x42; &bogus; &"),
            "a & b AB &bogus; &"
        );
        assert_eq!(cut("  short  ", 70), "short");
        let long = "x".repeat(100);
        assert_eq!(cut(&long, 70).chars().count(), 70);
        assert!(cut(&long, 70).ends_with("..."));
    }
}
