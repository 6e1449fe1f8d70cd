//! What every server binary does the same way: logging set up from the configuration, the listener
//! loop with its defences against slow and greedy clients, and waiting for the signal to stop.

use std::collections::HashMap;
use std::future::Future;
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use fluxer_api::ratelimit::IpNet;
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::config::Config;

/// JSON logs on stderr (or human-readable on a terminal, or as `log.format` says), filtered by
/// `RUST_LOG` when set and `log.level` otherwise; and, with `telemetry.enabled`, the OpenTelemetry
/// export of traces and metrics (see [`crate::telemetry`]). Call it on the runtime the server runs
/// on, and keep what it returns for as long as the process serves: dropping it flushes the export.
pub fn init_logging(config: &Config) -> Result<Logging, String> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let json = match config.log.format.as_str() {
        "json" => true,
        "pretty" => false,
        _ => !std::io::stderr().is_terminal(),
    };
    #[cfg(feature = "telemetry")]
    if config.telemetry.enabled {
        let telemetry = crate::telemetry::Telemetry::start(
            &config.telemetry,
            tokio::runtime::Handle::current(),
        )?;
        init_logging_with(filter, json, Some(telemetry.layer()));
        return Ok(Logging {
            _telemetry: Some(telemetry),
        });
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder.init();
    }
    Ok(Logging {
        #[cfg(feature = "telemetry")]
        _telemetry: None,
    })
}

/// The log with the OpenTelemetry layer beside it; each has its own filter, so `log.level` does not
/// decide which spans are traced. Within a traced request the current span carries `trace_id`, which
/// the JSON log prints with every line.
#[cfg(feature = "telemetry")]
fn init_logging_with<L>(filter: tracing_subscriber::EnvFilter, json: bool, otel: Option<L>)
where
    L: tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync + 'static,
{
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let registry = tracing_subscriber::registry().with(otel);
    if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr)
                    .with_filter(filter),
            )
            .init();
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_filter(filter),
            )
            .init();
    }
}

/// What [`init_logging`] started: hold it while serving; dropping it sends the telemetry still
/// queued and stops the export.
#[must_use = "dropping it stops the telemetry export"]
#[derive(Debug)]
pub struct Logging {
    #[cfg(feature = "telemetry")]
    _telemetry: Option<crate::telemetry::Telemetry>,
}

/// Two glibc malloc settings that decide whether memory goes back to the system after load:
///
/// - Every thread that allocates gets its own arena (up to 8 per core); the blocking pool's threads
///   then leave freed memory spread over many arenas. Capping the arenas at the core count keeps
///   resident memory per idle gateway session near a bare WebSocket server's (see BENCHMARKS.md).
/// - Large blocks (an argon2 hash's 19 MiB, a decoded image) are mapped on their own and unmapped
///   when freed, but glibc raises that threshold to the largest block freed so far, after which
///   they come from the arenas and stay resident: a login flood left 600 MB behind. A fixed
///   threshold keeps every block of 1 MiB or more returnable.
///
/// `MALLOC_ARENA_MAX` and `MALLOC_MMAP_THRESHOLD_` in the environment still win. Call it first
/// thing in `main`, before any other thread exists; elsewhere than glibc it does nothing.
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    {
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            let cores = std::thread::available_parallelism().map_or(2, usize::from);
            let arenas = libc::c_int::try_from(cores).unwrap_or(2).max(2);
            // SAFETY: mallopt only sets a malloc tunable; called before any other thread exists.
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, arenas);
            }
        }
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            // SAFETY: as above.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
            }
        }
    }
}

/// Hands memory freed after a burst back to the system, every `every`, on the current runtime.
///
/// glibc returns freed memory only from the top of each heap; what a burst leaves free in the
/// middle (resume buffers drained, request buffers gone) stays resident until `malloc_trim` gives
/// those pages back. One call walks the arenas in well under a millisecond when little is free.
/// Elsewhere than glibc it does nothing.
pub fn trim_malloc_every(every: Duration) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            // SAFETY: malloc_trim only releases free memory; it is safe to call at any time.
            #[allow(unsafe_code)]
            let _ = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
        }
    });
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = every;
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// How [`serve`] treats connections: the defences against slow and greedy clients.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// A request's headers must arrive within this, or the connection is closed.
    pub header_read_timeout: Duration,
    /// A request body that sends nothing for this long fails (the handler sees a body error).
    pub body_read_timeout: Duration,
    /// Connections one IP may hold at once; 0 for no bound.
    pub max_connections_per_ip: usize,
    /// Peers exempt from that bound: the trusted reverse proxies, which carry many clients.
    pub exempt: Vec<IpNet>,
    /// After the stop signal, how long in-flight requests have to finish before the rest are closed.
    pub shutdown_timeout: Duration,
}

impl Default for ServeOptions {
    /// The defaults of `http.*`, no trusted proxy.
    fn default() -> Self {
        ServeOptions::from_http(&crate::config::Http::default(), Vec::new())
    }
}

impl ServeOptions {
    /// From `http.*` (and `proxy.trusted_proxies` for the exemption). The error names the key at fault.
    pub fn from_config(config: &Config) -> Result<ServeOptions, String> {
        let http = &config.http;
        for (key, value) in [
            ("header_read_timeout_ms", http.header_read_timeout_ms),
            ("body_read_timeout_ms", http.body_read_timeout_ms),
            ("shutdown_timeout_ms", http.shutdown_timeout_ms),
        ] {
            if value == 0 {
                return Err(format!("http.{key} must be above 0"));
            }
        }
        Ok(ServeOptions::from_http(http, config.trusted_proxies()?))
    }

    fn from_http(http: &crate::config::Http, exempt: Vec<IpNet>) -> ServeOptions {
        ServeOptions {
            header_read_timeout: Duration::from_millis(http.header_read_timeout_ms),
            body_read_timeout: Duration::from_millis(http.body_read_timeout_ms),
            max_connections_per_ip: http.max_connections_per_ip,
            exempt,
            shutdown_timeout: Duration::from_millis(http.shutdown_timeout_ms),
        }
    }
}

/// Serves `router` on `listener` (with each peer's address available to handlers as
/// `ConnectInfo<SocketAddr>`) until Ctrl-C or SIGTERM, then lets in-flight requests finish within
/// [`ServeOptions::shutdown_timeout`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    options: ServeOptions,
) -> std::io::Result<()> {
    serve_until(listener, router, options, shutdown_signal()).await
}

/// [`serve`] until `stop` resolves instead of a signal.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    options: ServeOptions,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let options = Arc::new(options);
    let (stopping, stopped) = watch::channel(false);
    let open = Arc::new(OpenConnections::default());
    let mut connections = JoinSet::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors, most likely: give the connections a moment to end.
                        tracing::warn!(error = %fluxer_core::error::chain(&e), "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Some(slot) = open.take(peer.ip(), &options) else {
                    tracing::debug!(peer = %peer.ip(), "refused: too many connections from this IP");
                    continue;
                };
                connections.spawn(serve_connection(
                    stream,
                    peer,
                    router.clone(),
                    Arc::clone(&options),
                    stopped.clone(),
                    slot,
                ));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stopping.send(true);
    let drained = tokio::time::timeout(options.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "shutdown: closing the connections whose requests did not finish in time"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Connections open per IP.
#[derive(Default)]
struct OpenConnections(Mutex<HashMap<IpAddr, usize>>);

/// One connection counted against its IP until dropped.
struct Slot {
    open: Arc<OpenConnections>,
    ip: Option<IpAddr>,
}

impl OpenConnections {
    fn take(self: &Arc<Self>, ip: IpAddr, options: &ServeOptions) -> Option<Slot> {
        let limit = options.max_connections_per_ip;
        if limit == 0 || options.exempt.iter().any(|net| net.contains(ip)) {
            return Some(Slot {
                open: Arc::clone(self),
                ip: None,
            });
        }
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(Slot {
            open: Arc::clone(self),
            ip: Some(ip),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(ip) = self.ip else { return };
        let mut open = self.open.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&ip);
            }
        }
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: axum::Router,
    options: Arc<ServeOptions>,
    mut stopped: watch::Receiver<bool>,
    _slot: Slot,
) {
    let _ = stream.set_nodelay(true);
    let body_timeout = options.body_read_timeout;
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(ConnectInfo(peer));
        if let Some(uri) = fluxer_api::canonical_uri(&parts.uri) {
            parts.uri = uri;
        }
        let body = axum::body::Body::new(IdleTimeout::new(body, body_timeout));
        router.clone().oneshot(Request::from_parts(parts, body))
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let connection = http
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(peer = %peer, error = %fluxer_core::error::chain(&e), "connection ended with an error");
            }
        }
        () = until_set(&mut stopped) => {
            // Finish the request in flight (if any), then close.
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Resolves once the flag is set (the guard `wait_for` returns is not `Send`: dropped here).
async fn until_set(flag: &mut watch::Receiver<bool>) {
    if flag.wait_for(|set| *set).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A request body that fails once no data has arrived for the timeout.
struct IdleTimeout {
    body: Incoming,
    timeout: Duration,
    idle: Pin<Box<tokio::time::Sleep>>,
}

impl IdleTimeout {
    fn new(body: Incoming, timeout: Duration) -> Self {
        IdleTimeout {
            body,
            timeout,
            idle: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl http_body::Body for IdleTimeout {
    type Data = bytes::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = tokio::time::Instant::now() + this.timeout;
                this.idle.as_mut().reset(next);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.idle.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err("the request body stalled".into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
