//! The HTTP client the OTLP exporter sends with: hyper's HTTP/1.1 client (already built for the
//! media proxy) over a plain or TLS (fluxer-media's rustls setup) connection, one connection per export.
//!
//! The SDK exports from its own threads, outside any tokio runtime, so each request runs as a task
//! on the server's runtime and the exporting thread waits for its answer. Every request is bounded
//! by the export timeout, connecting included: a collector that is down or silent costs a failed
//! export, never a stuck thread.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_http::{HttpClient, HttpError};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

/// A collector's answer is a small protobuf message (partial success counts); more is refused.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Sends OTLP requests on `runtime`, each within `timeout`.
#[derive(Debug, Clone)]
pub(crate) struct HyperClient {
    runtime: tokio::runtime::Handle,
    timeout: Duration,
}

impl HyperClient {
    pub(crate) fn new(runtime: tokio::runtime::Handle, timeout: Duration) -> HyperClient {
        HyperClient { runtime, timeout }
    }
}

#[async_trait::async_trait]
impl HttpClient for HyperClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let timeout = self.timeout;
        let task = self.runtime.spawn(async move {
            match tokio::time::timeout(timeout, send(request)).await {
                Ok(answer) => answer,
                Err(_) => Err(format!("no answer within {} ms", timeout.as_millis()).into()),
            }
        });
        task.await?
    }
}

async fn send(request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
    let uri = request.uri().clone();
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(format!("not an http(s) URL: {uri}").into()),
    };
    let host = uri
        .host()
        .ok_or("the collector URL has no host")?
        .to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    // `[::1]` in a URL is `::1` to connect to.
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let tcp = TcpStream::connect((bare.as_str(), port)).await?;
    let _ = tcp.set_nodelay(true);
    let (mut parts, body) = request.into_parts();
    // HTTP/1.1 needs a Host header; the exporter sets an absolute URI and no Host.
    if !parts.headers.contains_key(hyper::header::HOST) {
        let authority = uri.authority().map_or(host.clone(), |a| a.to_string());
        parts
            .headers
            .insert(hyper::header::HOST, authority.parse()?);
    }
    // The request line carries the path only.
    parts.uri = uri.path_and_query().map_or("/", |p| p.as_str()).parse()?;
    let request = Request::from_parts(parts, Full::new(body));
    if https {
        let name = rustls::pki_types::ServerName::try_from(bare)?;
        let tls = tokio_rustls::TlsConnector::from(tls_config()?)
            .connect(name, tcp)
            .await?;
        exchange(TokioIo::new(tls), request).await
    } else {
        exchange(TokioIo::new(tcp), request).await
    }
}

async fn exchange<IO>(io: IO, request: Request<Full<Bytes>>) -> Result<Response<Bytes>, HttpError>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    let driver = tokio::spawn(connection);
    let result = async {
        let response = sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await?
            .to_bytes();
        Ok::<_, HttpError>(Response::from_parts(parts, body))
    }
    .await;
    driver.abort();
    result
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, HttpError> {
    fluxer_media::client_tls_config().map_err(|e| format!("TLS setup: {e}").into())
}
