use async_trait::async_trait;

use crate::model::Embed;

/// Link previews: what a URL posted in a message looks like as embeds. The domain decides which
/// URLs, caches the answers and updates the message; an implementation fetches and reads the page.
///
/// An implementation must never fetch a private, loopback or link-local address (unless its
/// operator allowed one explicitly, as tests do), and never fails: a URL it cannot preview (an
/// error, a timeout, a type it does not read) yields no embeds.
#[async_trait]
pub trait Unfurler: Send + Sync {
    /// The embeds for `url` (an absolute `http`/`https` URL), in order; empty when there is no
    /// preview.
    async fn unfurl(&self, url: &str) -> Vec<Embed>;

    /// The image, video or sound at `url`, at most `max_bytes`, for a user to keep (saved media),
    /// under the same rules as previews. `None` when it cannot be had (the default: an
    /// implementation that only previews).
    async fn fetch_media(&self, url: &str, max_bytes: u64) -> Option<RemoteMedia> {
        let _ = (url, max_bytes);
        None
    }
}

/// A file fetched from another site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMedia {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its type, as the site declared it or as sniffed.
    pub content_type: String,
    /// Where it was found, after redirects.
    pub final_url: String,
}
