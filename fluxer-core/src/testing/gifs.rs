//! The [`GifProvider`] conformance suite: what every GIF service client answers, whatever the
//! service's wire format.
//!
//! The factory builds a provider over a catalogue that knows at least two GIFs matching `cat`, at
//! least one featured GIF, at least one featured category and at least one search suggestion for
//! `ca` (a fake of the service on loopback, say, which the provider is allowed to reach).

use std::sync::Arc;

use crate::ports::{GifAudience, GifProvider};

/// Generates one test per [`GifProvider`] case; see [`crate::testing`] and the module docs.
#[macro_export]
macro_rules! gif_provider_conformance_tests {
    ($($factory:tt)+) => {
        $crate::__conformance_tests!(gifs, gif_provider_conformance, [$($factory)+], [
            search_finds_playable_gifs,
            answers_respect_the_limit,
            featured_gifs_and_categories,
            suggestions_are_search_terms,
            shares_are_registered,
        ]);
    };
}

const AUDIENCE: GifAudience<'static> = GifAudience {
    locale: "en_US",
    country: "US",
};

fn is_http(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

/// A search yields distinct GIFs, each with an ID, a page and an http(s) media file.
pub async fn search_finds_playable_gifs(provider: Arc<dyn GifProvider>) {
    let found = provider.search("cat", AUDIENCE, 50).await.unwrap();
    assert!(found.len() >= 2, "{found:?}");
    for gif in &found {
        assert!(!gif.id.is_empty(), "{gif:?}");
        assert!(!gif.url.is_empty(), "{gif:?}");
        assert!(is_http(&gif.src), "{gif:?}");
    }
    let mut ids: Vec<&str> = found.iter().map(|g| g.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), found.len(), "IDs are distinct: {found:?}");
}

/// No answer holds more than was asked for.
pub async fn answers_respect_the_limit(provider: Arc<dyn GifProvider>) {
    assert_eq!(provider.search("cat", AUDIENCE, 1).await.unwrap().len(), 1);
    assert!(provider.featured(AUDIENCE, 1).await.unwrap().len() <= 1);
    assert!(provider.suggest("ca", AUDIENCE, 1).await.unwrap().len() <= 1);
}

/// The featured page: GIFs, and categories with a name and an http(s) preview.
pub async fn featured_gifs_and_categories(provider: Arc<dyn GifProvider>) {
    let featured = provider.featured(AUDIENCE, 50).await.unwrap();
    assert!(!featured.is_empty());
    assert!(featured.iter().all(|g| is_http(&g.src)), "{featured:?}");
    let categories = provider.categories(AUDIENCE).await.unwrap();
    assert!(!categories.is_empty());
    for category in &categories {
        assert!(!category.name.trim().is_empty(), "{category:?}");
        assert!(is_http(&category.image), "{category:?}");
    }
}

/// Suggestions are non-blank search terms.
pub async fn suggestions_are_search_terms(provider: Arc<dyn GifProvider>) {
    let terms = provider.suggest("ca", AUDIENCE, 20).await.unwrap();
    assert!(!terms.is_empty());
    assert!(terms.iter().all(|t| !t.trim().is_empty()), "{terms:?}");
}

/// Registering a share of a found GIF succeeds, with or without the query that found it.
pub async fn shares_are_registered(provider: Arc<dyn GifProvider>) {
    let gif = provider.search("cat", AUDIENCE, 1).await.unwrap().remove(0);
    provider
        .register_share(&gif.id, "cat", AUDIENCE)
        .await
        .unwrap();
    provider
        .register_share(&gif.id, "", AUDIENCE)
        .await
        .unwrap();
}
