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
}
