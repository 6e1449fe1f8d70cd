//! GIF search at Tenor (API v2) and KLIPY (its Tenor-compatible API v2): [`GifApi`] implements the
//! core's [`GifProvider`] port over the media proxy's SSRF-safe fetcher (public addresses only,
//! bounded in size and time), reading the answers as upstream does.
//!
//! Both services are asked with the instance's key and `client_key=fluxer`, safe-search `low`, and
//! web-friendly media (`webm`, and `mp4` at Tenor). From a Tenor result the first usable format
//! is taken in upstream's order of preference (`webm`, `mp4`, `tinywebm`, `tinymp4`, `webp`, `gif`,
//! `tinygif`, `nanogif`, then any); from a KLIPY result its `webm`, with the item's slug as its ID
//! and its page as `https://klipy.com/{gifs|clips}/{slug}`. KLIPY's categories come without
//! images: each one's preview is the first GIF a search for it finds.

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use fluxer_core::error::StoreError;
use fluxer_core::ports::{
    GifAudience, GifCategory, GifProvider, GifProviderKind, PortResult, ProviderGif,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde_json::Value;

use crate::proxy::external::{Agent, fetch_as};
use crate::proxy::{ExternalConfig, MediaError};

/// How the instance introduces itself to GIF services.
const AGENT: Agent = Agent {
    user_agent: "Mozilla/5.0 (compatible; Fluxer/1.0)",
    accept: "application/json",
};
/// Tenor's API.
pub const TENOR_API: &str = "https://tenor.googleapis.com/v2";
/// KLIPY's API.
pub const KLIPY_API: &str = "https://api.klipy.com/v2";
/// Who asks, as both services want it named.
const CLIENT_KEY: &str = "fluxer";
/// Largest answer read.
const MAX_ANSWER_BYTES: u64 = 4 << 20;
/// Attempts at one request; a failed one is tried again after [`RETRY_DELAY`] (doubling).
const ATTEMPTS: u32 = 2;
const RETRY_DELAY: Duration = Duration::from_millis(300);
/// Tenor formats by preference (upstream's order).
const TENOR_FORMATS: &[&str] = &[
    "webm", "mp4", "tinywebm", "tinymp4", "webp", "gif", "tinygif", "nanogif",
];
/// Categories previewed at once at KLIPY.
const PREVIEW_CONCURRENCY: usize = 8;
/// `encodeURIComponent`'s set: everything but `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// A client of Tenor's or KLIPY's API (see the module docs).
#[derive(Debug, Clone)]
pub struct GifApi {
    kind: GifProviderKind,
    base: String,
    key: String,
    fetch: ExternalConfig,
}

impl GifApi {
    /// Tenor, with the instance's API key.
    pub fn tenor(api_key: impl Into<String>) -> Self {
        GifApi::new(GifProviderKind::Tenor, TENOR_API, api_key.into())
    }

    /// KLIPY, with the instance's API key.
    pub fn klipy(api_key: impl Into<String>) -> Self {
        GifApi::new(GifProviderKind::Klipy, KLIPY_API, api_key.into())
    }

    fn new(kind: GifProviderKind, base: &str, key: String) -> Self {
        GifApi {
            kind,
            base: base.to_owned(),
            key,
            fetch: ExternalConfig {
                enabled: true,
                max_bytes: MAX_ANSWER_BYTES,
                timeout: Duration::from_secs(10),
                allowed_content_types: vec!["application/json".into(), "text/json".into()],
                allow_addresses: Vec::new(),
            },
        }
    }

    /// Asks the API at `base` (`https://api.example.com/v2`) instead of the service's own.
    pub fn with_base_url(mut self, base: impl Into<String>) -> Self {
        self.base = base.into().trim_end_matches('/').to_owned();
        self
    }

    /// Lets the client reach these non-public addresses all the same (a test hook: leave it empty
    /// in production).
    pub fn with_allow_addresses(mut self, addresses: Vec<IpAddr>) -> Self {
        self.fetch.allow_addresses = addresses;
        self
    }

    fn adapter(&self) -> &'static str {
        self.kind.as_str()
    }

    /// The URL of `endpoint` with the key, the defaults and `params` (empty values left out).
    fn url(&self, endpoint: &str, params: &[(&str, &str)]) -> PortResult<String> {
        let mut url = url::Url::parse(&format!("{}/{endpoint}", self.base)).map_err(|e| {
            StoreError::backend_while(self.adapter(), format!("the API URL {}", self.base), e)
        })?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("key", &self.key);
            query.append_pair("client_key", CLIENT_KEY);
            let defaults: &[(&str, &str)] = match self.kind {
                GifProviderKind::Klipy => &[("contentfilter", "low"), ("media_filter", "webm")],
                _ => &[],
            };
            for (name, value) in defaults.iter().chain(params) {
                if !value.is_empty() {
                    query.append_pair(name, value);
                }
            }
        }
        Ok(url.into())
    }

    /// The answer of `endpoint`, as JSON. A failure that may pass (the service unreachable, slow
    /// or answering an error) is tried again; a refused address or answer is not.
    async fn get(&self, endpoint: &str, params: &[(&str, &str)]) -> PortResult<Value> {
        let url = self.url(endpoint, params)?;
        let mut delay = RETRY_DELAY;
        let mut attempt = 1;
        let answer = loop {
            match fetch_as(&self.fetch, &url, AGENT).await {
                Err(MediaError::ExternalFetch(_) | MediaError::ExternalTimeout)
                    if attempt < ATTEMPTS =>
                {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                Err(e) => {
                    return Err(StoreError::backend_while(
                        self.adapter(),
                        format!("asking {endpoint}"),
                        e,
                    ));
                }
                Ok(answer) => break answer,
            }
        };
        serde_json::from_slice(&answer.bytes).map_err(|e| {
            StoreError::backend_while(self.adapter(), format!("reading {endpoint}"), e)
        })
    }

    /// The first `limit` usable GIFs of an answer's `results` (a service may send more).
    fn gifs(&self, answer: &Value, limit: usize) -> Vec<ProviderGif> {
        results(answer)
            .iter()
            .filter_map(|item| match self.kind {
                GifProviderKind::Klipy => klipy_gif(item),
                _ => tenor_gif(item),
            })
            .take(limit)
            .collect()
    }
}

fn results(answer: &Value) -> &[Value] {
    answer
        .get("results")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn text<'a>(item: &'a Value, key: &str) -> Option<&'a str> {
    item.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn is_http(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

/// A media format `{url, dims: [w, h]}` with an http(s) URL.
fn media(format: &Value) -> Option<(String, u32, u32)> {
    let url = text(format, "url").filter(|u| is_http(u))?;
    let dims = format.get("dims")?.as_array()?;
    let [w, h] = dims.as_slice() else {
        return None;
    };
    let dim = |d: &Value| d.as_f64().filter(|d| d.is_finite() && *d >= 0.0);
    Some((url.to_owned(), dim(w)? as u32, dim(h)? as u32))
}

fn tenor_gif(item: &Value) -> Option<ProviderGif> {
    let id = match item.get("id")? {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let formats = item.get("media_formats")?.as_object()?;
    let (src, width, height) = TENOR_FORMATS
        .iter()
        .filter_map(|k| formats.get(*k))
        .chain(formats.values())
        .find_map(media)?;
    let title = text(item, "title")
        .or_else(|| text(item, "content_description"))
        .unwrap_or_default()
        .to_owned();
    let url = text(item, "itemurl")
        .or_else(|| text(item, "url"))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            format!(
                "https://tenor.com/view/{}",
                utf8_percent_encode(&id, COMPONENT)
            )
        });
    Some(ProviderGif {
        id,
        title,
        url,
        src,
        width,
        height,
    })
}

/// A KLIPY page URL's type (`gifs` or `clips`) and slug.
fn klipy_page(url: &str) -> Option<(&'static str, String)> {
    let url = url::Url::parse(url).ok()?;
    if !matches!(url.host_str()?, "klipy.com" | "www.klipy.com") {
        return None;
    }
    let mut segments = url.path_segments()?;
    let kind = match segments.next()?.to_ascii_lowercase().as_str() {
        "gif" | "gifs" => "gifs",
        "clip" | "clips" => "clips",
        _ => return None,
    };
    let slug = percent_decode_str(segments.next()?)
        .decode_utf8()
        .ok()?
        .trim()
        .to_owned();
    (!slug.is_empty()).then_some((kind, slug))
}

fn klipy_gif(item: &Value) -> Option<ProviderGif> {
    let id = match item.get("id") {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let (src, width, height) = media(item.get("media_formats")?.get("webm")?)?;
    let item_url = text(item, "itemurl").unwrap_or_default();
    let page = klipy_page(item_url);
    let explicit = text(item, "slug").map(str::to_owned);
    let slug = explicit
        .clone()
        .or_else(|| page.as_ref().map(|(_, s)| s.clone()))
        .unwrap_or(id);
    if slug.is_empty() {
        return None;
    }
    let url = if page.is_some() || explicit.is_some() {
        let kind = page.as_ref().map_or("gifs", |(k, _)| k);
        format!(
            "https://klipy.com/{kind}/{}",
            utf8_percent_encode(&slug, COMPONENT)
        )
    } else {
        item_url.to_owned()
    };
    Some(ProviderGif {
        id: slug,
        title: item
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        url,
        src,
        width,
        height,
    })
}

#[async_trait]
impl GifProvider for GifApi {
    fn kind(&self) -> GifProviderKind {
        self.kind
    }

    async fn search(
        &self,
        query: &str,
        audience: GifAudience<'_>,
        limit: u32,
    ) -> PortResult<Vec<ProviderGif>> {
        let count = limit.to_string();
        let mut params = vec![
            ("q", query),
            ("country", audience.country),
            ("locale", audience.locale),
        ];
        if self.kind == GifProviderKind::Tenor {
            params.extend([("contentfilter", "low"), ("media_filter", "webm,mp4")]);
        }
        params.push(("limit", &count));
        let answer = self.get("search", &params).await?;
        Ok(self.gifs(&answer, limit as usize))
    }

    async fn featured(
        &self,
        audience: GifAudience<'_>,
        limit: u32,
    ) -> PortResult<Vec<ProviderGif>> {
        let count = limit.to_string();
        let mut params = vec![("country", audience.country), ("locale", audience.locale)];
        if self.kind == GifProviderKind::Tenor {
            params.extend([("contentfilter", "low"), ("media_filter", "webm,mp4")]);
        }
        params.push(("limit", &count));
        let answer = self.get("featured", &params).await?;
        Ok(self.gifs(&answer, limit as usize))
    }

    async fn categories(&self, audience: GifAudience<'_>) -> PortResult<Vec<GifCategory>> {
        let mut params = vec![("country", audience.country), ("locale", audience.locale)];
        if self.kind == GifProviderKind::Tenor {
            params.push(("contentfilter", "low"));
        }
        params.push(("type", "featured"));
        let answer = self.get("categories", &params).await?;
        let tags = answer
            .get("tags")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let terms = tags.iter().filter_map(|t| text(t, "searchterm"));
        if self.kind == GifProviderKind::Tenor {
            return Ok(tags
                .iter()
                .filter_map(|t| {
                    Some(GifCategory {
                        name: text(t, "searchterm")?.to_owned(),
                        image: text(t, "image").filter(|u| is_http(u))?.to_owned(),
                    })
                })
                .collect());
        }
        // KLIPY names categories only: preview each with its first search result.
        let terms: Vec<String> = terms.take(100).map(str::to_owned).collect();
        let mut previews = Vec::with_capacity(terms.len());
        for chunk in terms.chunks(PREVIEW_CONCURRENCY) {
            let mut lookups = tokio::task::JoinSet::new();
            for (i, term) in chunk.iter().enumerate() {
                let (api, term) = (self.clone(), term.clone());
                let (locale, country) = (audience.locale.to_owned(), audience.country.to_owned());
                lookups.spawn(async move {
                    let audience = GifAudience {
                        locale: &locale,
                        country: &country,
                    };
                    let first = api
                        .search(&term, audience, 1)
                        .await
                        .map(|g| g.into_iter().next());
                    (i, term, first)
                });
            }
            let mut done = Vec::with_capacity(chunk.len());
            while let Some(joined) = lookups.join_next().await {
                let (i, term, first) = joined.map_err(|e| {
                    StoreError::backend_while(self.adapter(), "previewing categories", e)
                })?;
                // A category whose search fails is left out, not the whole page.
                if let Ok(Some(gif)) = first {
                    done.push((
                        i,
                        GifCategory {
                            name: term,
                            image: gif.src,
                        },
                    ));
                }
            }
            done.sort_by_key(|(i, _)| *i);
            previews.extend(done.into_iter().map(|(_, c)| c));
        }
        Ok(previews)
    }

    async fn suggest(
        &self,
        query: &str,
        audience: GifAudience<'_>,
        limit: u32,
    ) -> PortResult<Vec<String>> {
        let count = limit.to_string();
        let answer = match self.kind {
            GifProviderKind::Klipy => {
                self.get("autocomplete", &[("q", query), ("locale", audience.locale)])
                    .await?
            }
            _ => {
                self.get(
                    "search_suggestions",
                    &[("q", query), ("locale", audience.locale), ("limit", &count)],
                )
                .await?
            }
        };
        Ok(results(&answer)
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .take(limit as usize)
            .map(str::to_owned)
            .collect())
    }

    async fn register_share(
        &self,
        id: &str,
        query: &str,
        audience: GifAudience<'_>,
    ) -> PortResult<()> {
        self.get(
            "registershare",
            &[
                ("id", id),
                ("country", audience.country),
                ("locale", audience.locale),
                ("q", query),
            ],
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tenor_results_take_the_preferred_format() {
        let item = json!({
            "id": "123", "title": " ", "content_description": "A cat",
            "itemurl": "https://tenor.com/view/cat-123",
            "media_formats": {
                "gif": {"url": "https://media.tenor.com/a.gif", "dims": [100, 50]},
                "mp4": {"url": "https://media.tenor.com/a.mp4", "dims": [200, 100]},
                "webm": {"url": "javascript:alert(1)", "dims": [1, 1]},
            }
        });
        let gif = tenor_gif(&item).unwrap();
        assert_eq!(gif.title, "A cat");
        assert_eq!(gif.src, "https://media.tenor.com/a.mp4");
        assert_eq!((gif.width, gif.height), (200, 100));
        assert_eq!(gif.url, "https://tenor.com/view/cat-123");
        let bare =
            json!({"id": "a b", "media_formats": {"x": {"url": "https://m/x", "dims": [1, 2]}}});
        assert_eq!(
            tenor_gif(&bare).unwrap().url,
            "https://tenor.com/view/a%20b"
        );
        assert!(tenor_gif(&json!({"id": "1", "media_formats": {}})).is_none());
        assert!(
            tenor_gif(
                &json!({"id": "1", "media_formats": {"gif": {"url": "https://m/x", "dims": [1]}}})
            )
            .is_none()
        );
    }

    #[test]
    fn klipy_results_are_named_by_slug() {
        let webm = json!({"webm": {"url": "https://static.klipy.com/a.webm", "dims": [320, 240]}});
        let from_page = json!({"id": 7, "title": "Hi", "itemurl": "https://klipy.com/clips/hello-there", "media_formats": webm});
        let gif = klipy_gif(&from_page).unwrap();
        assert_eq!(gif.id, "hello-there");
        assert_eq!(gif.url, "https://klipy.com/clips/hello-there");
        let explicit = json!({"id": 7, "slug": "wave hi", "title": "Hi", "itemurl": "https://example.com/x", "media_formats": webm});
        let gif = klipy_gif(&explicit).unwrap();
        assert_eq!(gif.id, "wave hi");
        assert_eq!(gif.url, "https://klipy.com/gifs/wave%20hi");
        let neither = json!({"id": "9", "title": "", "itemurl": "https://example.com/x", "media_formats": webm});
        let gif = klipy_gif(&neither).unwrap();
        assert_eq!(
            (gif.id.as_str(), gif.url.as_str()),
            ("9", "https://example.com/x")
        );
        assert!(klipy_gif(&json!({"id": "1", "media_formats": {"mp4": {"url": "https://x/y", "dims": [1, 1]}}})).is_none());
    }
}
