//! Request paths as the routes expect them. Clients may percent-encode characters that need no
//! encoding (`@discordjs/rest` sends `/users/%40me`); routing compares paths byte for byte, so such
//! paths are decoded before routing. Characters that would change the path's structure (`/`, `?`,
//! `#`, `%`) and non-ASCII bytes stay encoded.

use axum::http::Uri;
use axum::http::uri::PathAndQuery;

/// `uri` with every needlessly percent-encoded path character decoded (`%40me` becomes `@me`);
/// `None` when there is nothing to decode. Hosts that serve [`crate::router`] with their own
/// listener call it on each request before routing, as `fluxer::runtime` does.
///
/// ```
/// use axum::http::Uri;
///
/// let uri: Uri = "/api/v1/users/%40me/guilds?limit=2".parse().unwrap();
/// let decoded = fluxer_api::canonical_uri(&uri).unwrap();
/// assert_eq!(decoded, "/api/v1/users/@me/guilds?limit=2");
/// // A slash stays encoded: it would add a path segment.
/// assert!(fluxer_api::canonical_uri(&"/a%2Fb".parse().unwrap()).is_none());
/// ```
pub fn canonical_uri(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    if !path.contains('%') {
        return None;
    }
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(c) = bytes.get(i + 1..i + 3).and_then(decode_pair)
            && decodable(c)
        {
            out.push(char::from(c));
            changed = true;
            i += 3;
            continue;
        }
        out.push(char::from(bytes[i]));
        i += 1;
    }
    if !changed {
        return None;
    }
    let path_and_query = match uri.query() {
        Some(q) => format!("{out}?{q}"),
        None => out,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(path_and_query).ok()?);
    Uri::from_parts(parts).ok()
}

/// The byte two hex digits name (`pair` holds at least two bytes).
pub(crate) fn decode_pair(pair: &[u8]) -> Option<u8> {
    let hex = |b: u8| char::from(b).to_digit(16);
    u8::try_from(hex(pair[0])? * 16 + hex(pair[1])?).ok()
}

/// Unreserved characters and the sub-delimiters a path segment may hold as they are.
fn decodable(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(s: &str) -> Option<String> {
        canonical_uri(&s.parse().unwrap()).map(|u| u.to_string())
    }

    #[test]
    fn decodes_only_what_keeps_the_path_shape() {
        assert_eq!(decoded("/users/%40me").as_deref(), Some("/users/@me"));
        assert_eq!(
            decoded("/users/%40Me%2d%5F").as_deref(),
            Some("/users/@Me-_")
        );
        assert_eq!(decoded("/plain/path"), None);
        assert_eq!(decoded("/a%2Fb%3F%23%25"), None);
        assert_eq!(decoded("/emoji/%F0%9F%91%8D"), None);
        assert_eq!(decoded("/bad%4"), None);
        assert_eq!(decoded("/bad%zz%40").as_deref(), Some("/bad%zz@"));
        assert_eq!(
            decoded("http://h/x/%40me?q=%40").as_deref(),
            Some("http://h/x/@me?q=%40")
        );
    }
}
