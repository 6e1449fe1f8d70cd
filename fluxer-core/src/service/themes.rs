//! Shared themes, as upstream: a user uploads custom CSS (`POST /users/@me/themes`), gets an ID to
//! share, and clients load `{media}/themes/{id}.css` from the media proxy when someone accepts it.
//! Themes are anonymous and never change: a new upload is a new ID.

use serde::Serialize;

use super::{Actor, Fluxer};
use crate::error::{Error, Result};
use crate::secret::random_hex;
use crate::validation::Validator;

/// Upstream's limit on one theme's CSS.
pub const MAX_THEME_CSS_BYTES: usize = 8 << 20;

/// `POST /users/@me/themes`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThemeCreated {
    /// 16 hex digits; the CSS is at `{media}/themes/{id}.css`.
    pub id: String,
}

/// Where a theme's CSS is stored.
pub fn theme_key(id: &str) -> String {
    format!("themes/{id}.css")
}

impl Fluxer {
    /// Stores custom CSS as a new shareable theme.
    pub async fn create_theme(&self, actor: &Actor, css: &str) -> Result<ThemeCreated> {
        actor.require_person("Bots cannot share themes.")?;
        let mut v = Validator::new();
        v.check(
            !css.is_empty(),
            "css",
            "BASE_TYPE_REQUIRED",
            "This field is required.",
        );
        v.finish()?;
        if css.len() > MAX_THEME_CSS_BYTES {
            return Err(Error::rejected(
                "FILE_SIZE_TOO_LARGE",
                format!("A theme may hold at most {MAX_THEME_CSS_BYTES} bytes of CSS."),
            ));
        }
        let (blobs, _) = self.upload_ports()?;
        let id = random_hex(8);
        blobs
            .put(
                &theme_key(&id),
                css.as_bytes().to_vec(),
                Some("text/css; charset=utf-8"),
            )
            .await?;
        Ok(ThemeCreated { id })
    }
}
