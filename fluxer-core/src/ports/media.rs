/// What the server learned about a file by reading its bytes (never from the client's claims).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaInfo {
    /// The sniffed MIME type; `application/octet-stream` when unknown.
    pub content_type: String,
    /// Pixel width, for images whose header gives it; `None` otherwise.
    pub width: Option<u32>,
    /// Pixel height, for images whose header gives it; `None` otherwise.
    pub height: Option<u32>,
    /// An animated GIF or WebP.
    pub animated: bool,
}

impl MediaInfo {
    /// Whether the sniffed type is an image (`image/*`).
    pub fn is_image(&self) -> bool {
        self.content_type.starts_with("image/")
    }
}

/// What the use-cases need from the media service: sniffing uploads, and the URLs clients fetch
/// stored objects at (the media proxy signs them; see `fluxer_media`). Synchronous: both are pure
/// computations on bytes and keys.
pub trait Media: Send + Sync {
    /// Sniffs the type and reads image dimensions from the header (no full decode).
    fn inspect(&self, bytes: &[u8]) -> MediaInfo;
    /// The public URL of the stored object `key` (`attachments/1/2/cat.png`), signed and valid for a
    /// while: responses carry fresh URLs each time they are built.
    fn public_url(&self, key: &str) -> String;
    /// The URL clients load an external image or video at (`proxy_url` in embeds): through the
    /// media proxy, signed. `None` (the default) serves embeds without one.
    fn external_url(&self, url: &str) -> Option<String> {
        let _ = url;
        None
    }
}
