//! The [`Unfurler`] conformance suite: what every link previewer must refuse. (What a preview
//! holds depends on the page, and is each implementation's own test.)

use std::sync::Arc;

use crate::ports::Unfurler;

/// Generates one test per [`Unfurler`] case; see [`crate::testing`]. The factory builds a
/// previewer with its production settings (no address allowed beyond the public ones).
#[macro_export]
macro_rules! unfurl_conformance_tests {
    ($($factory:tt)+) => {
        $crate::__conformance_tests!(unfurl, unfurl_conformance, [$($factory)+], [
            non_http_urls_yield_nothing,
            private_addresses_are_never_fetched,
        ]);
    };
}

/// Other schemes, and what is no URL at all, give no embeds (and no error).
pub async fn non_http_urls_yield_nothing(unfurler: Arc<dyn Unfurler>) {
    for url in [
        "ftp://example.com/file",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:text/html,<title>x</title>",
        "not a url",
        "",
    ] {
        assert!(unfurler.unfurl(url).await.is_empty(), "{url}");
    }
}

/// Loopback, private, link-local (cloud metadata) and unspecified addresses are refused, also
/// written as IPv6 or IPv4-mapped IPv6: previews of them are empty. A listener on loopback sees no
/// connection.
pub async fn private_addresses_are_never_fetched(unfurler: Arc<dyn Unfurler>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let urls = [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/page"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://0.0.0.0:{port}/"),
        "http://[::1]/".to_owned(),
        "http://10.0.0.1/".to_owned(),
        "http://192.168.1.1/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ];
    for url in &urls {
        assert!(unfurler.unfurl(url).await.is_empty(), "{url}");
    }
    let accepted =
        tokio::time::timeout(std::time::Duration::from_millis(200), listener.accept()).await;
    assert!(accepted.is_err(), "a private address was connected to");
}
