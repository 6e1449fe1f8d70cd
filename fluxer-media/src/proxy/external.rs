//! The SSRF-safe fetcher behind `/external/...`: resolves names itself, refuses non-public addresses,
//! connects to the address it checked (no second resolution an attacker could rebind), re-checks every
//! redirect, and bounds size and time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};

use axum::http::{Request, StatusCode, Uri, header};
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use super::ExternalConfig;
use super::error::MediaError;
use super::video::{essence, is_video};

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;

/// Who the media proxy says it is.
const USER_AGENT: &str = "Mozilla/5.0 (compatible; FluxerMediaProxy/1.0)";

/// A fetched external resource.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub bytes: Bytes,
    pub content_type: String,
    /// Where it was found, after redirects.
    pub final_url: String,
}

/// How a fetch introduces itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Agent {
    /// The `User-Agent` header.
    pub user_agent: &'static str,
    /// The `Accept` header.
    pub accept: &'static str,
}

/// The media proxy's agent: images and videos wanted.
pub(crate) const MEDIA_AGENT: Agent = Agent {
    user_agent: USER_AGENT,
    accept: "image/*, video/*, */*;q=0.5",
};

/// Fetches `url` under `config`'s policy, within `config.timeout` for the whole exchange.
pub(crate) async fn fetch(config: &ExternalConfig, url: &str) -> Result<Fetched, MediaError> {
    fetch_as(config, url, MEDIA_AGENT).await
}

/// [`fetch`], introducing itself as `agent`.
#[tracing::instrument(level = "debug", name = "http.fetch", skip_all, fields(otel.kind = "client"))]
pub(crate) async fn fetch_as(
    config: &ExternalConfig,
    url: &str,
    agent: Agent,
) -> Result<Fetched, MediaError> {
    tokio::time::timeout(
        config.timeout,
        fetch_following_redirects(config, url, agent),
    )
    .await
    .unwrap_or(Err(MediaError::ExternalTimeout))
}

async fn fetch_following_redirects(
    config: &ExternalConfig,
    url: &str,
    agent: Agent,
) -> Result<Fetched, MediaError> {
    let mut target = Target::parse(url)?;
    for _ in 0..=MAX_REDIRECTS {
        let addresses = resolve(config, &target).await?;
        match fetch_once(config, &target, &addresses, agent).await? {
            Outcome::Redirect(location) => target = target.join(&location)?,
            Outcome::Done(mut fetched) => {
                fetched.final_url = target.url();
                return Ok(fetched);
            }
        }
    }
    Err(MediaError::TooManyRedirects)
}

/// Whether the proxy may connect to `ip`: a public unicast address, or one listed in
/// `allow_addresses` (a test hook).
pub(crate) fn address_allowed(config: &ExternalConfig, ip: IpAddr) -> bool {
    config.allow_addresses.contains(&ip) || is_public(ip)
}

/// Public unicast only: no loopback, private (RFC 1918, ULA), link-local (incl. cloud metadata
/// 169.254.169.254 and fd00:ec2::254), CGNAT, multicast, unspecified, reserved or documentation
/// ranges — also when an IPv4 address hides inside an IPv6 one (mapped, compatible, NAT64, 6to4).
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let forbidden = a == 0 // "this network", unspecified
        || a == 10 // private
        || a == 127 // loopback
        || (a == 100 && (64..128).contains(&b)) // CGNAT (also Alibaba's metadata 100.100.100.200)
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 168) // private
        || (a == 192 && b == 0 && (c == 0 || c == 2)) // IETF assignments, documentation
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224; // multicast, reserved, broadcast
    !forbidden
}

/// The IPv4 address carried by an IPv4-mapped, IPv4-compatible, NAT64 (64:ff9b::/96) or 6to4 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let from = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0; 6] && !(s[6] == 0 && s[7] <= 1) {
        return Some(from(s[6], s[7])); // ::a.b.c.d (but not :: or ::1, handled as v6)
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        return Some(from(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return Some(from(s[1], s[2]));
    }
    None
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // Global unicast is 2000::/3; this leaves out ::, ::1, fc00::/7 (ULA, incl. fd00:ec2::254),
    // fe80::/10, ff00::/8, 64:ff9b:1::/48, 100::/64.
    let global = s[0] & 0xe000 == 0x2000;
    let special = (s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8)) // IETF assignments (Teredo...), docs
        || s[0] & 0xfff0 == 0x3ff0; // 3fff::/20 documentation
    global && !special
}

/// A parsed http(s) URL.
#[derive(Debug, Clone)]
struct Target {
    https: bool,
    /// Without brackets for IPv6 literals.
    host: String,
    port: u16,
    /// `host[:port]` as written, for the Host header.
    authority: String,
    path_and_query: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, MediaError> {
        let invalid = |why: &str| MediaError::InvalidExternalUrl(why.to_owned());
        let url = url.trim();
        // The fragment is the client's business, never sent.
        let url = url.split_once('#').map_or(url, |(u, _)| u);
        let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
        let https = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(invalid("only http and https URLs can be proxied")),
        };
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        if authority.as_str().is_empty() || authority.as_str().contains('@') {
            return Err(invalid(
                "URLs with credentials or without a host are refused",
            ));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        Ok(Target {
            https,
            host: host.to_ascii_lowercase(),
            port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
            authority: authority.as_str().to_owned(),
            path_and_query: uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned()),
        })
    }

    /// The URL again, as fetched.
    fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{}", self.authority, self.path_and_query)
    }

    /// The target of a `Location` header relative to this URL.
    fn join(&self, location: &str) -> Result<Self, MediaError> {
        let location = location.trim();
        let scheme = if self.https { "https" } else { "http" };
        let lower = location.to_ascii_lowercase();
        let absolute = if lower.starts_with("http://") || lower.starts_with("https://") {
            location.to_owned()
        } else if location.starts_with("//") {
            format!("{scheme}:{location}")
        } else if location.starts_with('/') {
            format!("{scheme}://{}{location}", self.authority)
        } else if lower.contains(':') && lower.split(':').next().is_some_and(is_scheme) {
            // Another scheme (ftp:, file:, data:, ...): refused by `parse`.
            location.to_owned()
        } else {
            let path = self.path_and_query.split('?').next().unwrap_or("/");
            let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
            format!("{scheme}://{}{dir}/{location}", self.authority)
        };
        Target::parse(&absolute)
    }
}

fn is_scheme(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// The target's addresses, all checked: one forbidden address refuses the host (a name that resolves
/// to both public and private addresses is not to be trusted).
async fn resolve(config: &ExternalConfig, target: &Target) -> Result<Vec<SocketAddr>, MediaError> {
    let addresses = resolve_any(target).await?;
    if let Some(bad) = addresses.iter().find(|a| !address_allowed(config, a.ip())) {
        return Err(MediaError::ForbiddenAddress(format!(
            "{} resolves to {}",
            target.host,
            bad.ip()
        )));
    }
    Ok(addresses)
}

/// The target's addresses, whatever they are.
async fn resolve_any(target: &Target) -> Result<Vec<SocketAddr>, MediaError> {
    let addresses: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, target.port)],
        Err(_) => tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|e| MediaError::ExternalFetch(format!("cannot resolve {}: {e}", target.host)))?
            .collect(),
    };
    if addresses.is_empty() {
        return Err(MediaError::ExternalFetch(format!(
            "{} has no address",
            target.host
        )));
    }
    Ok(addresses)
}

enum Outcome {
    Redirect(String),
    Done(Fetched),
}

/// A connection, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Connects to the first of `addresses` (all checked) that answers, with TLS for https.
async fn connect(target: &Target, addresses: &[SocketAddr]) -> Result<Box<dyn Io>, MediaError> {
    let mut last_error = None;
    let mut tcp = None;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => {
                tcp = Some(stream);
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }
    let Some(tcp) = tcp else {
        let why = last_error.map_or_else(String::new, |e| e.to_string());
        return Err(MediaError::ExternalFetch(format!(
            "cannot connect to {}: {why}",
            target.host
        )));
    };
    if !target.https {
        return Ok(Box::new(tcp));
    }
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|_| MediaError::InvalidExternalUrl("invalid host name".into()))?;
    let tls = tokio_rustls::TlsConnector::from(tls_config()?)
        .connect(name, tcp)
        .await
        .map_err(|e| MediaError::ExternalFetch(format!("TLS: {e}")))?;
    Ok(Box::new(tls))
}

async fn fetch_once(
    config: &ExternalConfig,
    target: &Target,
    addresses: &[SocketAddr],
    agent: Agent,
) -> Result<Outcome, MediaError> {
    let io = connect(target, addresses).await?;
    exchange(config, target, io, agent).await
}

/// A request to an API: its method, extra headers and body (type and bytes).
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub method: axum::http::Method,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<(&'static str, Bytes)>,
}

/// An API's answer, whatever its status.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub bytes: Bytes,
}

/// Sends `call` to `url` under `config`'s address policy and size bound, within
/// `config.timeout`, and returns the answer whatever its status. Redirects are not followed (an
/// API that moves is an error).
#[tracing::instrument(level = "debug", name = "http.call", skip_all, fields(otel.kind = "client"))]
pub(crate) async fn call_as(
    config: &ExternalConfig,
    url: &str,
    agent: Agent,
    call: Call,
) -> Result<Reply, MediaError> {
    call_with(config, url, agent, call, true).await
}

/// [`call_as`] to a server the operator named (an identity provider on the LAN), so any address
/// is reachable; size and time are still bounded.
pub(crate) async fn call_operator_server(
    config: &ExternalConfig,
    url: &str,
    agent: Agent,
    call: Call,
) -> Result<Reply, MediaError> {
    call_with(config, url, agent, call, false).await
}

async fn call_with(
    config: &ExternalConfig,
    url: &str,
    agent: Agent,
    call: Call,
    public_only: bool,
) -> Result<Reply, MediaError> {
    let send = async {
        let target = Target::parse(url)?;
        let addresses = if public_only {
            resolve(config, &target).await?
        } else {
            resolve_any(&target).await?
        };
        let io = connect(&target, &addresses).await?;
        let failed = |e: hyper::Error| MediaError::ExternalFetch(e.to_string());
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(failed)?;
        let connection = AbortOnDrop(tokio::spawn(connection));
        let mut request = Request::builder()
            .method(call.method)
            .uri(target.path_and_query.as_str())
            .header(header::HOST, target.authority.as_str())
            .header(header::USER_AGENT, agent.user_agent)
            .header(header::ACCEPT, agent.accept);
        for (name, value) in &call.headers {
            request = request.header(*name, value.as_str());
        }
        let body = match call.body {
            Some((content_type, bytes)) => {
                request = request.header(header::CONTENT_TYPE, content_type);
                bytes
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(body))
            .map_err(|e| MediaError::InvalidExternalUrl(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(failed)?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = response.into_body();
        let mut bytes = BytesMut::new();
        while let Some(frame) = body.frame().await {
            if let Some(data) = frame.map_err(failed)?.data_ref() {
                if (bytes.len() + data.len()) as u64 > config.max_bytes {
                    return Err(MediaError::SourceTooLarge {
                        limit: config.max_bytes,
                    });
                }
                bytes.extend_from_slice(data);
            }
        }
        drop(connection);
        Ok(Reply {
            status,
            headers,
            bytes: bytes.freeze(),
        })
    };
    tokio::time::timeout(config.timeout, send)
        .await
        .unwrap_or(Err(MediaError::ExternalTimeout))
}

/// One HTTP/1.1 request and its response over an established connection.
async fn exchange<S>(
    config: &ExternalConfig,
    target: &Target,
    io: S,
    agent: Agent,
) -> Result<Outcome, MediaError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let failed = |e: hyper::Error| MediaError::ExternalFetch(e.to_string());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(failed)?;
    let connection = AbortOnDrop(tokio::spawn(connection));
    let request = Request::get(target.path_and_query.as_str())
        .header(header::HOST, target.authority.as_str())
        .header(header::USER_AGENT, agent.user_agent)
        .header(header::ACCEPT, agent.accept)
        .body(Empty::<Bytes>::new())
        .map_err(|e| MediaError::InvalidExternalUrl(e.to_string()))?;
    let response = sender.send_request(request).await.map_err(failed)?;
    let status = response.status();
    if status.is_redirection() {
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| MediaError::ExternalFetch(format!("{status} without a Location")))?;
        return Ok(Outcome::Redirect(location.to_owned()));
    }
    if matches!(status, StatusCode::NOT_FOUND | StatusCode::GONE) {
        return Err(MediaError::ExternalNotFound);
    }
    if !status.is_success() {
        return Err(MediaError::ExternalFetch(format!(
            "origin answered {status}"
        )));
    }
    let declared = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(essence);
    // An origin that says nothing useful gets its bytes sniffed below; one that names a type is held to it.
    let sniff = declared
        .as_deref()
        .is_none_or(|ct| ct.is_empty() || ct == "application/octet-stream");
    if let Some(ct) = declared.as_deref().filter(|_| !sniff)
        && !content_type_allowed(&config.allowed_content_types, ct)
    {
        return Err(MediaError::ContentTypeNotAllowed(ct.to_owned()));
    }
    let too_large = MediaError::SourceTooLarge {
        limit: config.max_bytes,
    };
    let declared_length = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|len| len > config.max_bytes) {
        return Err(too_large);
    }
    let mut body = response.into_body();
    let mut bytes = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(failed)?;
        if let Some(data) = frame.data_ref() {
            if (bytes.len() + data.len()) as u64 > config.max_bytes {
                return Err(too_large);
            }
            bytes.extend_from_slice(data);
        }
    }
    drop(connection);
    let bytes = bytes.freeze();
    let content_type = match declared.filter(|_| !sniff) {
        Some(ct) => ct,
        None => {
            let sniffed = sniff_type(&bytes);
            if !content_type_allowed(&config.allowed_content_types, sniffed) {
                return Err(MediaError::ContentTypeNotAllowed(sniffed.to_owned()));
            }
            sniffed.to_owned()
        }
    };
    Ok(Outcome::Done(Fetched {
        bytes,
        content_type,
        final_url: String::new(),
    }))
}

/// Matches `image/png` against entries such as `image/*` or `image/png`. SVG is never matched by a
/// wildcard: served from our origin it could run script, so it must be listed explicitly.
pub(crate) fn content_type_allowed(allowed: &[String], content_type: &str) -> bool {
    let content_type = essence(content_type);
    allowed.iter().any(|pattern| {
        let pattern = pattern.trim().to_ascii_lowercase();
        match pattern.strip_suffix("/*") {
            Some(top) => {
                content_type.split_once('/').is_some_and(|(t, _)| t == top)
                    && content_type != "image/svg+xml"
            }
            None => pattern == content_type,
        }
    })
}

fn sniff_type(bytes: &[u8]) -> &'static str {
    if let Ok(format) = image::guess_format(bytes) {
        return format.to_mime_type();
    }
    if is_video(None, bytes) {
        return if bytes.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
            "video/webm"
        } else {
            "video/mp4"
        };
    }
    "application/octet-stream"
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, MediaError> {
    client_tls_config().map_err(|e| MediaError::ExternalFetch(format!("TLS setup: {e}")))
}

/// The TLS client setup of every outbound HTTPS call this instance makes (the fetcher here, and
/// a host's own clients such as the telemetry exporter): rustls on ring, the webpki roots,
/// HTTP/1.1. Built once.
pub fn client_tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        })
        .clone()
}

/// Ends the connection task with the request, even when the request is cancelled.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn address_policy() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2001:db8::1",
            "2001::1",
            "3fff::1",
        ] {
            assert!(!is_public(ip(bad)), "{bad} must be refused");
        }
        for good in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
            "64:ff9b::808:808",
            "2002:808:808::",
        ] {
            assert!(is_public(ip(good)), "{good} must be allowed");
        }
        let config = ExternalConfig {
            allow_addresses: vec![ip("127.0.0.1")],
            ..ExternalConfig::default()
        };
        assert!(address_allowed(&config, ip("127.0.0.1")));
        assert!(!address_allowed(&config, ip("127.0.0.2")));
    }

    #[test]
    fn parses_and_joins_urls() {
        let t = Target::parse("http://Example.com:8080/a/b.png?x=1#frag").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.https),
            ("example.com", 8080, false)
        );
        assert_eq!(t.path_and_query, "/a/b.png?x=1");
        let v6 = Target::parse("https://[::1]/").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 443));
        for bad in [
            "ftp://x/",
            "file:///etc/passwd",
            "http://user:pw@x/",
            "javascript:alert(1)",
            "/relative",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(t.join("c.png").unwrap().path_and_query, "/a/c.png");
        assert_eq!(t.join("/c.png").unwrap().authority, "Example.com:8080");
        assert_eq!(t.join("//other.org/x").unwrap().host, "other.org");
        assert!(t.join("https://h.org/").unwrap().https);
        assert!(t.join("file:///etc/passwd").is_err());
    }

    #[test]
    fn content_type_allow_list() {
        let allowed = vec!["image/*".to_owned(), "video/mp4".to_owned()];
        assert!(content_type_allowed(&allowed, "image/png"));
        assert!(content_type_allowed(&allowed, "Image/JPEG; charset=x"));
        assert!(content_type_allowed(&allowed, "video/mp4"));
        assert!(!content_type_allowed(&allowed, "video/webm"));
        assert!(!content_type_allowed(&allowed, "text/html"));
        assert!(!content_type_allowed(&allowed, "image/svg+xml"));
        assert!(!content_type_allowed(&allowed, "imagex/png"));
    }
}
