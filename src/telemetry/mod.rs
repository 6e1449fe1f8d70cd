//! OpenTelemetry export (`telemetry` in the configuration): traces and metrics over OTLP/HTTP in
//! protobuf to `{otlp_endpoint}/v1/traces` and `{otlp_endpoint}/v1/metrics`.
//!
//! - **Traces** come from `tracing` spans (through `tracing-opentelemetry`): one server span per
//!   HTTP request named `{method} {route template}`, child spans for database, search, blob and
//!   outbound HTTP calls, and the gateway's IDENTIFY, RESUME and dispatches. Kept traces:
//!   parent-based, trace-ID ratio `trace_sampling_ratio`.
//! - **Metrics** come from [`fluxer_core::telemetry`]'s measurements, recorded into instruments
//!   built once ([`Instruments`]) and read every `metric_export_interval_ms`.
//!
//! Nothing here runs unless `telemetry.enabled` is set: no exporter, no layer, no recorder, and
//! the measuring sites cost one atomic load. Export runs on the SDK's own threads, through bounded
//! queues; what cannot be delivered is dropped and counted (`fluxer.telemetry.dropped`).

mod client;
mod export;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use fluxer_core::telemetry::{CacheKind, JobOutcome, Recorder};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter, MeterProvider, UpDownCounter};
use opentelemetry::trace::{TraceContextExt, TracerProvider};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::config;

/// Spans waiting for export at most; more are dropped and counted.
const SPAN_QUEUE: usize = 4096;
/// Spans sent in one export request at most.
const SPAN_BATCH: usize = 512;
/// Traces are sent at least this often (sooner when the metric interval is shorter).
const SPAN_DELAY: Duration = Duration::from_secs(5);
/// How long stopping waits for the last export.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// The running export. Dropping it sends what is still queued (within a few seconds) and stops.
#[must_use = "dropping it stops the export"]
pub struct Telemetry {
    tracer: SdkTracerProvider,
    meter: SdkMeterProvider,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

impl Telemetry {
    /// Starts the exporters on `runtime` (their HTTP requests run there) and installs the metrics
    /// recorder ([`fluxer_core::telemetry::install`]). The caller adds [`Telemetry::layer`] to its
    /// `tracing` subscriber.
    pub fn start(
        config: &config::Telemetry,
        runtime: tokio::runtime::Handle,
    ) -> Result<Telemetry, String> {
        let base = config.otlp_endpoint.trim_end_matches('/');
        let timeout = Duration::from_millis(config.export_timeout);
        let interval = Duration::from_millis(config.metric_export_interval_ms);
        let client = client::HyperClient::new(runtime, timeout);
        let mut headers = HashMap::new();
        if !config.api_key.is_empty() {
            headers.insert(
                "authorization".to_owned(),
                format!("Bearer {}", config.api_key),
            );
        }
        let resource = Resource::builder()
            .with_service_name(config.service_name.clone())
            .with_attributes([
                KeyValue::new("deployment.environment.name", config.environment.clone()),
                KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            ])
            .build();
        let losses = Arc::new(export::Losses::default());

        let spans = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client.clone())
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(format!("{base}/v1/traces"))
            .with_timeout(timeout)
            .with_headers(headers.clone())
            .build()
            .map_err(|e| format!("telemetry: the trace exporter: {e}"))?;
        let batch = BatchSpanProcessor::builder(export::CountedSpans {
            inner: spans,
            losses: losses.clone(),
        })
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(SPAN_QUEUE)
                .with_max_export_batch_size(SPAN_BATCH)
                .with_scheduled_delay(SPAN_DELAY.min(interval))
                .build(),
        )
        .build();
        let tracer = SdkTracerProvider::builder()
            .with_span_processor(export::Bounded::new(batch, SPAN_QUEUE, losses.clone()))
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                config.trace_sampling_ratio,
            ))))
            .with_resource(resource.clone())
            .build();

        let metrics = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(format!("{base}/v1/metrics"))
            .with_timeout(timeout)
            .with_headers(headers)
            .build()
            .map_err(|e| format!("telemetry: the metric exporter: {e}"))?;
        let reader = PeriodicReader::builder(export::CountedMetrics {
            inner: metrics,
            losses: losses.clone(),
        })
        .with_interval(interval)
        .build();
        let meter = SdkMeterProvider::builder()
            .with_reader(reader)
            .with_resource(resource)
            .build();

        let instruments = Instruments::new(&meter.meter("fluxer"), losses);
        let ignored = config.ignore_incoming_paths.clone();
        fluxer_core::telemetry::install(Box::new(OtelRecorder {
            instruments,
            ignored,
        }));
        Ok(Telemetry { tracer, meter })
    }

    /// The `tracing` layer that turns spans into OpenTelemetry spans: the spans of fluxer's crates
    /// that declare an `otel.kind` (debug level and above: the request, database, search, blob,
    /// outbound HTTP and gateway spans, not the process-long `service` span), with warnings and
    /// errors as their events.
    pub fn layer<S>(&self) -> impl Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.tracer.tracer("fluxer"))
            .with_filter(
                tracing_subscriber::filter::filter_fn(|meta| {
                    if meta.is_span() {
                        meta.target().starts_with("fluxer")
                            && *meta.level() <= tracing::Level::DEBUG
                            && meta.fields().field("otel.kind").is_some()
                    } else {
                        *meta.level() <= tracing::Level::WARN
                    }
                })
                .with_max_level_hint(tracing::level_filters::LevelFilter::DEBUG),
            )
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        let _ = self.tracer.shutdown_with_timeout(SHUTDOWN_WAIT);
        let _ = self.meter.shutdown_with_timeout(SHUTDOWN_WAIT);
    }
}

/// Every instrument, made once: recording is a lookup-free call on a field.
struct Instruments {
    http_duration: Histogram<f64>,
    db_duration: Histogram<f64>,
    cache_hits: Counter<u64>,
    cache_misses: Counter<u64>,
    connections: UpDownCounter<i64>,
    sessions: UpDownCounter<i64>,
    delivery: Histogram<f64>,
    queue_depth: Gauge<u64>,
    jobs_run: Counter<u64>,
    jobs_failed: Counter<u64>,
    jobs_dead: Counter<u64>,
    /// Held so its callback stays registered.
    _dropped: opentelemetry::metrics::ObservableCounter<u64>,
}

/// Latency buckets in seconds (OpenTelemetry's HTTP semantic conventions).
const SECONDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
/// Database operations are mostly sub-millisecond.
const DB_SECONDS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

impl Instruments {
    fn new(meter: &Meter, losses: Arc<export::Losses>) -> Instruments {
        let seconds = |name: &'static str, description: &'static str, buckets: &[f64]| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .with_boundaries(buckets.to_vec())
                .build()
        };
        let count = |name: &'static str, description: &'static str| {
            meter
                .u64_counter(name)
                .with_description(description)
                .build()
        };
        // Read at each export, so the counts cost nothing on the paths that drop.
        let dropped = meter
            .u64_observable_counter("fluxer.telemetry.dropped")
            .with_description("Telemetry dropped: spans that found the queue full or whose export failed, and failed metric exports.")
            .with_callback(move |observer| {
                observer.observe(
                    losses.spans.load(Ordering::Relaxed),
                    &[KeyValue::new("signal", "traces")],
                );
                observer.observe(
                    losses.metric_exports.load(Ordering::Relaxed),
                    &[KeyValue::new("signal", "metrics")],
                );
            })
            .build();
        let instruments = Instruments {
            http_duration: seconds(
                "http.server.request.duration",
                "Duration of HTTP server requests.",
                &SECONDS,
            ),
            db_duration: seconds(
                "db.client.operation.duration",
                "Duration of database client operations.",
                &DB_SECONDS,
            ),
            cache_hits: count("fluxer.cache.hits", "Cache lookups that found their entry."),
            cache_misses: count("fluxer.cache.misses", "Cache lookups that did not."),
            connections: meter
                .i64_up_down_counter("fluxer.gateway.connections")
                .with_description("Open gateway WebSocket connections.")
                .build(),
            sessions: meter
                .i64_up_down_counter("fluxer.gateway.sessions")
                .with_description("Live gateway sessions (attached or awaiting resume).")
                .build(),
            delivery: seconds(
                "fluxer.message.delivery.duration",
                "From a message's creation to its write on a recipient's socket.",
                &SECONDS,
            ),
            queue_depth: meter
                .u64_gauge("fluxer.queue.depth")
                .with_description("Jobs in the queue, by state (pending, in_flight, dead).")
                .build(),
            jobs_run: count("fluxer.jobs.run", "Job runs."),
            jobs_failed: count("fluxer.jobs.failed", "Job runs that failed."),
            jobs_dead: count(
                "fluxer.jobs.dead_lettered",
                "Jobs that failed their last attempt.",
            ),
            _dropped: dropped,
        };
        // Counters of rare events are exported at zero from the start: a dashboard shows 0, not
        // "no data".
        for cache in [CacheKind::Access, CacheKind::Shared] {
            let kind = [KeyValue::new("cache", cache.as_str())];
            instruments.cache_hits.add(0, &kind);
            instruments.cache_misses.add(0, &kind);
        }
        instruments.jobs_run.add(0, &[]);
        instruments.jobs_failed.add(0, &[]);
        instruments.jobs_dead.add(0, &[]);
        instruments.connections.add(0, &[]);
        instruments.sessions.add(0, &[]);
        instruments
    }
}

struct OtelRecorder {
    instruments: Instruments,
    ignored: Vec<String>,
}

impl Recorder for OtelRecorder {
    fn http_request(&self, route: &str, method: &str, status: u16, duration: Duration) {
        self.instruments.http_duration.record(
            duration.as_secs_f64(),
            &[
                KeyValue::new("http.route", route.to_owned()),
                KeyValue::new("http.request.method", method.to_owned()),
                KeyValue::new("http.response.status_code", i64::from(status)),
            ],
        );
    }

    fn db_operation(&self, system: &'static str, operation: &str, duration: Duration) {
        self.instruments.db_duration.record(
            duration.as_secs_f64(),
            &[
                KeyValue::new("db.system.name", system),
                KeyValue::new("db.operation.name", operation.to_owned()),
            ],
        );
    }

    fn cache_lookup(&self, cache: CacheKind, hit: bool) {
        let kind = [KeyValue::new("cache", cache.as_str())];
        if hit {
            self.instruments.cache_hits.add(1, &kind);
        } else {
            self.instruments.cache_misses.add(1, &kind);
        }
    }

    fn gateway_connections(&self, delta: i64) {
        self.instruments.connections.add(delta, &[]);
    }

    fn gateway_sessions(&self, delta: i64) {
        self.instruments.sessions.add(delta, &[]);
    }

    fn message_delivered(&self, duration: Duration) {
        self.instruments
            .delivery
            .record(duration.as_secs_f64(), &[]);
    }

    fn queue_depth(&self, pending: u64, in_flight: u64, dead: u64) {
        for (state, n) in [
            ("pending", pending),
            ("in_flight", in_flight),
            ("dead", dead),
        ] {
            self.instruments
                .queue_depth
                .record(n, &[KeyValue::new("state", state)]);
        }
    }

    fn job_finished(&self, kind: &str, outcome: JobOutcome) {
        let kind = [KeyValue::new("job.kind", kind.to_owned())];
        self.instruments.jobs_run.add(1, &kind);
        if matches!(outcome, JobOutcome::Failed | JobOutcome::DeadLettered) {
            self.instruments.jobs_failed.add(1, &kind);
        }
        if outcome == JobOutcome::DeadLettered {
            self.instruments.jobs_dead.add(1, &kind);
        }
    }

    fn traces(&self, path: &str) -> bool {
        !self.ignored.iter().any(|p| p == path)
    }

    fn trace_id(&self) -> Option<String> {
        let context = tracing::Span::current().context();
        let span = context.span();
        let span_context = span.span_context();
        span_context
            .is_valid()
            .then(|| span_context.trace_id().to_string())
    }
}
