use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::PortResult;

/// Which GIF service a provider speaks for. The API serves each under its own prefix (`/tenor/...`,
/// `/klipy/...`), as upstream does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum GifProviderKind {
    /// Google's Tenor (API v2).
    Tenor,
    /// KLIPY (its Tenor-compatible API v2).
    Klipy,
}

impl GifProviderKind {
    /// The name in routes, configuration and `/.well-known/fluxer` (`tenor`, `klipy`).
    pub const fn as_str(self) -> &'static str {
        match self {
            GifProviderKind::Tenor => "tenor",
            GifProviderKind::Klipy => "klipy",
        }
    }
}

/// One GIF (or short clip) as a provider describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderGif {
    /// The provider's ID of the item (KLIPY: its slug), what a share is registered with.
    pub id: String,
    /// Its title or description; may be empty.
    pub title: String,
    /// The item's page on the provider's site.
    pub url: String,
    /// The media file clients play (an `http(s)` URL).
    pub src: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// A category the picker offers before anything is typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GifCategory {
    /// The search term it stands for.
    pub name: String,
    /// Its preview image (an `http(s)` URL).
    pub image: String,
}

/// Where a request comes from, which providers use to tune results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GifAudience<'a> {
    /// The language, as providers spell it (`en_US`).
    pub locale: &'a str,
    /// The country, two upper-case letters (`US`).
    pub country: &'a str,
}

/// A GIF search service (Tenor, KLIPY). The domain validates input, caches answers and adds the
/// proxied media URLs; an implementation asks the service and reads its answer.
///
/// An implementation never reaches a private, loopback or link-local address (unless its operator
/// allowed one explicitly, as tests do). A service that cannot be reached, or answers with an error
/// or something unreadable, is an error; items it describes without a usable media file are left
/// out.
#[async_trait]
pub trait GifProvider: Send + Sync {
    /// Which service this is.
    fn kind(&self) -> GifProviderKind;
    /// At most `limit` GIFs matching `query`, best first.
    async fn search(
        &self,
        query: &str,
        audience: GifAudience<'_>,
        limit: u32,
    ) -> PortResult<Vec<ProviderGif>>;
    /// At most `limit` GIFs the service features now (what is trending).
    async fn featured(&self, audience: GifAudience<'_>, limit: u32)
    -> PortResult<Vec<ProviderGif>>;
    /// The featured categories, each with a preview image.
    async fn categories(&self, audience: GifAudience<'_>) -> PortResult<Vec<GifCategory>>;
    /// At most `limit` search terms completing or related to `query`.
    async fn suggest(
        &self,
        query: &str,
        audience: GifAudience<'_>,
        limit: u32,
    ) -> PortResult<Vec<String>>;
    /// Tells the service that the item `id`, found by searching `query` (may be empty), was sent.
    async fn register_share(
        &self,
        id: &str,
        query: &str,
        audience: GifAudience<'_>,
    ) -> PortResult<()>;
}
