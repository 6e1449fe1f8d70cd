//! Bounded, counted export: spans wait in a queue of fixed size and whatever cannot be delivered
//! (the queue is full, the collector is down or slow) is dropped and counted in
//! `fluxer.telemetry.dropped`, so a missing collector costs memory that is bounded and never stalls
//! request handling.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};

/// What export lost, shared by the wrappers below and read by the `fluxer.telemetry.dropped`
/// instrument.
#[derive(Debug, Default)]
pub(crate) struct Losses {
    /// Spans ended but not yet exported (queued or in an export under way).
    pending_spans: AtomicUsize,
    /// Spans dropped: queue full, or their export failed.
    pub(crate) spans: AtomicU64,
    /// Metric exports that failed (the next export carries cumulative values again).
    pub(crate) metric_exports: AtomicU64,
}

/// Forwards ended spans to the batch processor while fewer than `capacity` are waiting; drops and
/// counts the rest. `capacity` is the batch processor's own queue size, so that queue never
/// overflows silently.
#[derive(Debug)]
pub(crate) struct Bounded<P> {
    inner: P,
    capacity: usize,
    losses: Arc<Losses>,
}

impl<P> Bounded<P> {
    pub(crate) fn new(inner: P, capacity: usize, losses: Arc<Losses>) -> Self {
        Bounded {
            inner,
            capacity,
            losses,
        }
    }
}

impl<P: SpanProcessor> SpanProcessor for Bounded<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        // Only sampled spans are queued for export (and released by `CountedSpans`).
        if !span.span_context.is_sampled() {
            self.inner.on_end(span);
            return;
        }
        if self.losses.pending_spans.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.losses.pending_spans.fetch_sub(1, Ordering::AcqRel);
            self.losses.spans.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Counts the spans of failed exports as dropped, and releases their places in the queue.
pub(crate) struct CountedSpans<E> {
    pub(crate) inner: E,
    pub(crate) losses: Arc<Losses>,
}

impl<E> fmt::Debug for CountedSpans<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CountedSpans")
    }
}

impl<E: SpanExporter> SpanExporter for CountedSpans<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len();
        let result = self.inner.export(batch).await;
        self.losses.pending_spans.fetch_sub(
            n.min(self.losses.pending_spans.load(Ordering::Acquire)),
            Ordering::AcqRel,
        );
        if result.is_err() {
            self.losses.spans.fetch_add(n as u64, Ordering::Relaxed);
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Counts failed metric exports.
pub(crate) struct CountedMetrics<E> {
    pub(crate) inner: E,
    pub(crate) losses: Arc<Losses>,
}

impl<E> fmt::Debug for CountedMetrics<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CountedMetrics")
    }
}

impl<E: PushMetricExporter> PushMetricExporter for CountedMetrics<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        if result.is_err() {
            self.losses.metric_exports.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}
