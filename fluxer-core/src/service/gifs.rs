//! GIF search for the picker, through Tenor or KLIPY (`/tenor/*`, `/klipy/*`), as upstream: search,
//! search suggestions, the featured page (one featured GIF and the categories), trending GIFs, and
//! registering a share. The instance talks to the provider with its own key; a provider it has no
//! key for answers `MISSING_ACCESS`. Answers are cached for a few minutes in the [`Cache`] port,
//! per provider, query, language and country; media URLs go out twice, as the provider gave them
//! (`src`) and through the media proxy (`proxy_src`), so clients need not reach the provider's CDN.
//!
//! [`Cache`]: crate::ports::Cache

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Actor, Fluxer};
use crate::error::{Error, Result};
use crate::ports::{GifAudience, GifCategory, GifProvider, GifProviderKind, ProviderGif};
use crate::validation::Validator;

/// How long a provider's answer is reused (upstream: 5 minutes).
const CACHE_TTL: Duration = Duration::from_secs(300);
/// GIFs in one search or trending answer (upstream's number).
const RESULTS: u32 = 50;
/// GIFs on the featured page (upstream's number: the page shows categories).
const FEATURED_GIFS: u32 = 1;
/// Suggestions in one answer (upstream's number for Tenor).
const SUGGESTIONS: u32 = 20;
/// Categories on the featured page, at most (upstream's schema).
const CATEGORIES: usize = 100;
/// The languages clients may ask in (upstream's `Locale`), the first the default.
const LOCALES: &[&str] = &[
    "en-US", "ar", "bg", "cs", "da", "de", "el", "en-GB", "es-ES", "es-419", "fi", "fr", "he",
    "hi", "hr", "hu", "id", "it", "ja", "ko", "lt", "nl", "no", "pl", "pt-BR", "ro", "ru", "sv-SE",
    "th", "tr", "uk", "vi", "zh-CN", "zh-TW",
];

/// A GIF as clients get it (upstream's `TenorGifResponse` / `KlipyGifResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gif {
    /// The provider's ID (KLIPY: the slug).
    pub id: String,
    /// Title or description; may be empty.
    pub title: String,
    /// Its page on the provider's site.
    pub url: String,
    /// The media file, at the provider.
    pub src: String,
    /// The media file through this instance's media proxy.
    pub proxy_src: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// A category on the featured page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GifCategoryPreview {
    /// The search term.
    pub name: String,
    /// Its preview, at the provider.
    pub src: String,
    /// Its preview through the media proxy.
    pub proxy_src: String,
}

/// `GET /{provider}/featured`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GifFeatured {
    /// What the provider features now.
    pub gifs: Vec<Gif>,
    /// The categories to browse.
    pub categories: Vec<GifCategoryPreview>,
}

/// The query of `GET /{provider}/search`, `/suggest` (`q` and `locale`) and of `/featured`,
/// `/trending-gifs` (`locale` alone).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GifSearchQuery {
    /// What to look for, 1 to 256 characters once trimmed.
    #[serde(default)]
    pub q: Option<String>,
    /// One of upstream's locales (`en-US` when absent).
    #[serde(default)]
    pub locale: Option<String>,
}

/// `POST /{provider}/register-share`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GifShare {
    /// The item sent, 1 to 64 characters.
    #[serde(default)]
    pub id: Option<String>,
    /// The search that found it, up to 256 characters.
    #[serde(default)]
    pub q: Option<String>,
    /// One of upstream's locales (`en-US` when absent).
    #[serde(default)]
    pub locale: Option<String>,
}

/// A validated language and country, as providers want them.
struct Audience {
    locale: String,
    country: String,
}

impl Audience {
    /// The request's language (checked into `v`) and country.
    fn checked(v: &mut Validator, language: Option<&str>, from_country: Option<&str>) -> Self {
        Audience {
            locale: locale(v, language),
            country: country(from_country),
        }
    }

    fn as_port(&self) -> GifAudience<'_> {
        GifAudience {
            locale: &self.locale,
            country: &self.country,
        }
    }
}

/// Checks `locale` into `v` and turns it into the providers' spelling (`en-US` to `en_US`).
fn locale(v: &mut Validator, locale: Option<&str>) -> String {
    let locale = locale.map(str::trim).unwrap_or(LOCALES[0]);
    if !LOCALES.contains(&locale) {
        v.error(
            "locale",
            "INVALID_ENUM_VALUE",
            "Not a supported locale (en-US, fr, pt-BR, ...).",
        );
    }
    locale.replacen('-', "_", 1)
}

/// The country a request says it comes from (a proxy's `CF-IPCountry`), else `US`, as upstream.
fn country(country: Option<&str>) -> String {
    country
        .map(str::trim)
        .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
        .map_or_else(|| "US".to_owned(), str::to_ascii_uppercase)
}

/// Trims and checks a text field of 1 (or `min`) to `max` characters.
fn text(v: &mut Validator, path: &str, value: Option<&str>, min: usize, max: usize) -> String {
    let value = value.map(str::trim).unwrap_or_default();
    if value.is_empty() && min > 0 {
        v.error(path, "BASE_TYPE_REQUIRED", "This field is required.");
    } else {
        v.length(path, value, min, max);
    }
    value.to_owned()
}

impl Fluxer {
    /// Whether the instance can search GIFs at `kind` (it has a key for it).
    pub fn gif_provider_enabled(&self, kind: GifProviderKind) -> bool {
        self.ports().gif_providers.iter().any(|p| p.kind() == kind)
    }

    /// The provider of `kind`, or `MISSING_ACCESS` (upstream's answer without an API key), for a
    /// person (bots get `ACCESS_DENIED`).
    fn gif_provider(&self, actor: &Actor, kind: GifProviderKind) -> Result<Arc<dyn GifProvider>> {
        let provider = self
            .ports()
            .gif_providers
            .iter()
            .find(|p| p.kind() == kind)
            .cloned()
            .ok_or(Error::MissingAccess)?;
        actor.require_person("GIF search is for people.")?;
        Ok(provider)
    }

    /// `GET /{provider}/search`: up to 50 GIFs for `q`.
    pub async fn search_gifs(
        &self,
        actor: &Actor,
        kind: GifProviderKind,
        query: GifSearchQuery,
        from_country: Option<&str>,
    ) -> Result<Vec<Gif>> {
        let provider = self.gif_provider(actor, kind)?;
        let mut v = Validator::new();
        let q = text(&mut v, "q", query.q.as_deref(), 1, 256);
        let audience = Audience::checked(&mut v, query.locale.as_deref(), from_country);
        v.finish()?;
        let key = cache_key(kind, "search", &[&q, &audience.locale, &audience.country]);
        let found = self
            .cached(&key, || async {
                provider.search(&q, audience.as_port(), RESULTS).await
            })
            .await?;
        Ok(self.gifs_out(found))
    }

    /// `GET /{provider}/suggest`: up to 20 search terms for `q`.
    pub async fn suggest_gif_searches(
        &self,
        actor: &Actor,
        kind: GifProviderKind,
        query: GifSearchQuery,
    ) -> Result<Vec<String>> {
        let provider = self.gif_provider(actor, kind)?;
        let mut v = Validator::new();
        let q = text(&mut v, "q", query.q.as_deref(), 1, 256);
        // Upstream asks for suggestions without a country.
        let audience = Audience::checked(&mut v, query.locale.as_deref(), None);
        v.finish()?;
        let key = cache_key(kind, "suggest", &[&q, &audience.locale]);
        let mut terms: Vec<String> = self
            .cached(&key, || async {
                provider.suggest(&q, audience.as_port(), SUGGESTIONS).await
            })
            .await?;
        terms.truncate(SUGGESTIONS as usize);
        Ok(terms)
    }

    /// `GET /{provider}/featured`: the featured GIF and the categories to browse.
    pub async fn featured_gifs(
        &self,
        actor: &Actor,
        kind: GifProviderKind,
        query: GifSearchQuery,
        from_country: Option<&str>,
    ) -> Result<GifFeatured> {
        let provider = self.gif_provider(actor, kind)?;
        let mut v = Validator::new();
        let audience = Audience::checked(&mut v, query.locale.as_deref(), from_country);
        v.finish()?;
        let key = cache_key(kind, "featured", &[&audience.locale, &audience.country]);
        let (gifs, categories): (Vec<ProviderGif>, Vec<GifCategory>) = self
            .cached(&key, || async {
                let gifs = provider.featured(audience.as_port(), FEATURED_GIFS).await?;
                let mut categories = provider.categories(audience.as_port()).await?;
                categories.truncate(CATEGORIES);
                Ok((gifs, categories))
            })
            .await?;
        Ok(GifFeatured {
            gifs: self.gifs_out(gifs),
            categories: categories
                .into_iter()
                .map(|c| GifCategoryPreview {
                    proxy_src: self.proxied(&c.image),
                    name: c.name,
                    src: c.image,
                })
                .collect(),
        })
    }

    /// `GET /{provider}/trending-gifs`: up to 50 GIFs trending now.
    pub async fn trending_gifs(
        &self,
        actor: &Actor,
        kind: GifProviderKind,
        query: GifSearchQuery,
        from_country: Option<&str>,
    ) -> Result<Vec<Gif>> {
        let provider = self.gif_provider(actor, kind)?;
        let mut v = Validator::new();
        let audience = Audience::checked(&mut v, query.locale.as_deref(), from_country);
        v.finish()?;
        let key = cache_key(kind, "trending", &[&audience.locale, &audience.country]);
        let found = self
            .cached(&key, || async {
                provider.featured(audience.as_port(), RESULTS).await
            })
            .await?;
        Ok(self.gifs_out(found))
    }

    /// `POST /{provider}/register-share`: tells the provider which result was sent.
    pub async fn register_gif_share(
        &self,
        actor: &Actor,
        kind: GifProviderKind,
        share: GifShare,
        from_country: Option<&str>,
    ) -> Result<()> {
        let provider = self.gif_provider(actor, kind)?;
        let mut v = Validator::new();
        let id = text(&mut v, "id", share.id.as_deref(), 1, 64);
        let q = text(&mut v, "q", share.q.as_deref(), 0, 256);
        let audience = Audience::checked(&mut v, share.locale.as_deref(), from_country);
        v.finish()?;
        provider.register_share(&id, &q, audience.as_port()).await?;
        Ok(())
    }

    /// The answer under `key` in the cache, else `fetch`'s, kept for [`CACHE_TTL`]. A cache that
    /// fails is passed by (the provider answers), as the rate limiter does.
    async fn cached<T, F, Fut>(&self, key: &str, fetch: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = crate::ports::PortResult<T>>,
    {
        let cache = &self.ports().cache;
        if let Ok(Some(bytes)) = cache.get(key).await
            && let Ok(hit) = serde_json::from_slice(&bytes)
        {
            return Ok(hit);
        }
        let fresh = fetch().await?;
        if let Ok(bytes) = serde_json::to_vec(&fresh) {
            let _ = cache.set(key, &bytes, Some(CACHE_TTL)).await;
        }
        Ok(fresh)
    }

    fn gifs_out(&self, gifs: Vec<ProviderGif>) -> Vec<Gif> {
        gifs.into_iter()
            .map(|g| Gif {
                proxy_src: self.proxied(&g.src),
                id: g.id,
                title: g.title,
                url: g.url,
                src: g.src,
                width: g.width,
                height: g.height,
            })
            .collect()
    }

    /// `url` through the media proxy's external route, or as it is without a media service.
    fn proxied(&self, url: &str) -> String {
        self.ports()
            .media
            .as_ref()
            .and_then(|m| m.external_url(url))
            .unwrap_or_else(|| url.to_owned())
    }
}

/// A cache key of one provider's answer: the parts are hashed (queries can be long).
fn cache_key(kind: GifProviderKind, what: &str, parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    }
    let digest = crate::secret::to_hex(&hash.finalize()[..16]);
    format!("gifs:{}:{what}:{digest}", kind.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_and_countries_are_checked_and_spelled_for_providers() {
        let mut v = Validator::new();
        assert_eq!(locale(&mut v, None), "en_US");
        assert_eq!(locale(&mut v, Some("es-419")), "es_419");
        assert_eq!(locale(&mut v, Some("fr")), "fr");
        assert!(v.is_ok());
        locale(&mut v, Some("xx-YY"));
        assert!(!v.is_ok());
        assert_eq!(country(None), "US");
        assert_eq!(country(Some("de")), "DE");
        assert_eq!(country(Some("XX1")), "US");
        assert_ne!(
            cache_key(GifProviderKind::Tenor, "search", &["ab", "c"]),
            cache_key(GifProviderKind::Tenor, "search", &["a", "bc"])
        );
        assert_ne!(
            cache_key(GifProviderKind::Tenor, "search", &["a"]),
            cache_key(GifProviderKind::Klipy, "search", &["a"])
        );
    }
}
