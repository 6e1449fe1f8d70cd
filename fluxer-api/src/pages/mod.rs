//! Server-rendered HTML pages: the instance home page (upstream's `fluxer_marketing`) and the admin
//! panel (`fluxer_admin`). Rendered with maud, styled by one stylesheet inlined in each page and
//! allowed by its hash, with no script: every page answers with a Content-Security-Policy that
//! allows nothing else, and no third-party origin is named.

use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use sha2::{Digest, Sha256};

use crate::state::ApiState;

mod admin;
mod form;
mod home;

/// What the pages serve: whether there is a home page and where it shows.
#[derive(Debug, Clone, Default)]
pub struct PagesConfig {
    /// Serve the instance home page (`marketing.enabled`); its texts come from the instance
    /// config, which can also hide it.
    pub home: bool,
    /// Also serve the home page at `/` (no web app is configured).
    pub home_at_root: bool,
    /// Mark the admin panel's cookies `Secure` (the instance is served over HTTPS).
    pub secure_cookies: bool,
}

/// The home page's and the admin panel's routes.
pub(crate) fn routes(state: &ApiState) -> Router<ApiState> {
    let config = &state.config.pages;
    let mut router = Router::new().merge(admin::routes(state));
    if config.home {
        router = router.merge(home::routes(config.home_at_root));
    }
    router
}

/// The one stylesheet: readable on a phone (a single column under 40rem), dark mode from the system.
const CSS: &str = "\
:root{color-scheme:light dark;--fg:#1d1d1f;--bg:#fff;--muted:#5b5b66;--line:#d8d8df;--accent:#4641d9;--bad:#b3261e}\
@media(prefers-color-scheme:dark){:root{--fg:#ececf1;--bg:#17171b;--muted:#a5a5b3;--line:#34343c;--accent:#9d9bff;--bad:#ff8a80}}\
*{box-sizing:border-box}\
body{font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;color:var(--fg);background:var(--bg);margin:0}\
header,main,footer{max-width:64rem;margin:0 auto;padding:1rem}\
header{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center;border-bottom:1px solid var(--line)}\
header .brand{font-weight:700;font-size:1.2rem;color:inherit;text-decoration:none}\
nav ul{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;margin:0;padding:0}\
a{color:var(--accent)}\
a:focus,button:focus,input:focus,select:focus,textarea:focus{outline:3px solid var(--accent);outline-offset:2px}\
footer{color:var(--muted);font-size:.9rem;border-top:1px solid var(--line)}\
h1{font-size:1.8rem;line-height:1.2}\
.muted{color:var(--muted)}\
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(15rem,1fr));gap:1rem;list-style:none;padding:0}\
.card{border:1px solid var(--line);border-radius:.5rem;padding:1rem}\
.card h3{margin:.1rem 0}\
.stats{display:grid;grid-template-columns:repeat(auto-fill,minmax(11rem,1fr));gap:1rem;margin:0}\
.stats div{border:1px solid var(--line);border-radius:.5rem;padding:.75rem}\
.stats dt{color:var(--muted);font-size:.9rem}\
.stats dd{margin:0;font-size:1.6rem;font-weight:700}\
table{border-collapse:collapse;width:100%;display:block;overflow-x:auto}\
th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}\
form.stack{display:grid;gap:.75rem;max-width:26rem}\
label{display:grid;gap:.25rem;font-weight:600}\
input,select,textarea,button{font:inherit;padding:.45rem .6rem;border:1px solid var(--line);border-radius:.35rem;background:var(--bg);color:var(--fg)}\
button{background:var(--accent);border-color:var(--accent);color:#fff;cursor:pointer;font-weight:600}\
button.danger{background:var(--bad);border-color:var(--bad)}\
.inline{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end}\
.error{border-left:4px solid var(--bad);padding:.5rem .75rem;color:var(--bad)}\
.notice{border-left:4px solid var(--accent);padding:.5rem .75rem}\
.pager{display:flex;gap:1rem}\
svg.chart{width:100%;max-width:32rem;height:auto}\
pre.text{white-space:pre-wrap;font:inherit}\
code{font-family:ui-monospace,monospace;overflow-wrap:anywhere}\
";

/// `'sha256-…'` of [`CSS`], the only style the policy allows.
fn css_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let digest = Sha256::digest(CSS.as_bytes());
        format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    })
}

/// The policy of every page: no script at all, the inline stylesheet by hash, images from here and
/// `data:` (the charts are inline SVG), forms posting back here only, never framed.
fn policy() -> String {
    format!(
        "default-src 'none'; style-src {}; img-src 'self' data:; form-action 'self'; \
         base-uri 'none'; frame-ancestors 'none'",
        css_hash()
    )
}

/// A whole page: `title` in the tab, `header` above `body`, `footer` below it.
fn document(lang_title: &str, header: Markup, body: Markup, footer: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                // No favicon request (the instance has none to serve here).
                link rel="icon" href="data:,";
                title { (lang_title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header { (header) }
                main id="main" { (body) }
                footer { (footer) }
            }
        }
    }
}

/// An HTML response with the page headers: the policy, no framing, no sniffing, no caching.
fn respond(status: StatusCode, page: Markup) -> Response {
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        page.into_string(),
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(policy) = HeaderValue::try_from(policy()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// A compact bar chart of `values` (oldest first) as inline SVG, labelled for screen readers.
fn bar_chart(label: &str, values: &[u64]) -> Markup {
    let (width, height) = (320u64, 80u64);
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let n = values.len().max(1) as u64;
    let slot = width / n;
    let bar = slot.saturating_sub(2).max(1);
    html! {
        svg.chart viewBox={"0 0 " (width) " " (height + 2)} role="img" aria-label=(label) {
            title { (label) }
            @for (i, v) in values.iter().enumerate() {
                @let h = v * height / max;
                rect x=(i as u64 * slot) y=(height - h) width=(bar) height=(h.max(1)) fill="currentColor" {
                    title { (v) }
                }
            }
            line x1="0" y1=(height + 1) x2=(width) y2=(height + 1) stroke="currentColor" stroke-width="1" {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_stylesheet_hash_and_nothing_third_party() {
        let p = policy();
        assert!(p.contains("default-src 'none'"), "{p}");
        assert!(p.contains(css_hash()), "{p}");
        assert!(!p.contains("http"), "{p}");
        assert!(!p.contains("unsafe"), "{p}");
    }

    #[test]
    fn charts_scale_to_the_largest_value() {
        let svg = bar_chart("Messages per day", &[0, 5, 10]).into_string();
        assert!(svg.contains("aria-label=\"Messages per day\""), "{svg}");
        assert!(svg.contains("height=\"80\""), "{svg}");
        assert!(svg.contains("height=\"40\""), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 3);
    }
}
