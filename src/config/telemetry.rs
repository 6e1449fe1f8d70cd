//! OpenTelemetry export (`telemetry`), upstream's keys and defaults.

use serde::Deserialize;

/// OpenTelemetry export (`telemetry`): traces and metrics over OTLP/HTTP (protobuf) to a collector.
/// Off by default; a build without the `telemetry` cargo feature refuses `enabled: true`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Telemetry {
    /// Export at all (`false`).
    pub enabled: bool,
    /// The collector's OTLP/HTTP base URL (`http://127.0.0.1:4318`); traces go to `/v1/traces`,
    /// metrics to `/v1/metrics` under it.
    pub otlp_endpoint: String,
    /// Sent as `Authorization: Bearer {api_key}` when set (hosted collectors).
    pub api_key: String,
    /// The `service.name` resource attribute (`fluxer`).
    pub service_name: String,
    /// The `deployment.environment.name` resource attribute (`development`).
    pub environment: String,
    /// The share of traces kept, 0 to 1 (`1`), decided once per trace from its ID: a kept
    /// request keeps its child spans (parent-based sampling).
    pub trace_sampling_ratio: f64,
    /// How long one export may take, in milliseconds (`30000`).
    pub export_timeout: u64,
    /// How often metrics are exported, in milliseconds (`60000`).
    pub metric_export_interval_ms: u64,
    /// Request paths that get no trace (`["/_health"]`); they are still counted in the metrics.
    pub ignore_incoming_paths: Vec<String>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            enabled: false,
            otlp_endpoint: String::new(),
            api_key: String::new(),
            service_name: "fluxer".to_owned(),
            environment: "development".to_owned(),
            trace_sampling_ratio: 1.0,
            export_timeout: 30_000,
            metric_export_interval_ms: 60_000,
            ignore_incoming_paths: vec!["/_health".to_owned()],
        }
    }
}

impl Telemetry {
    /// What is wrong with the section, as `(key, message)`.
    pub(crate) fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if !(0.0..=1.0).contains(&self.trace_sampling_ratio) {
            return Err(("telemetry.trace_sampling_ratio", "must be between 0 and 1"));
        }
        if self.export_timeout == 0 {
            return Err(("telemetry.export_timeout", "must be at least 1"));
        }
        if self.metric_export_interval_ms == 0 {
            return Err(("telemetry.metric_export_interval_ms", "must be at least 1"));
        }
        if !self.enabled {
            return Ok(());
        }
        if !cfg!(feature = "telemetry") {
            return Err((
                "telemetry.enabled",
                "this build has no OpenTelemetry export (the `telemetry` cargo feature)",
            ));
        }
        let url = self.otlp_endpoint.as_str();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err((
                "telemetry.otlp_endpoint",
                "must be the collector's http(s) URL when telemetry is enabled",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, String> {
        let env = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Config::load(None, env).map_err(|e| e.to_string())
    }

    #[test]
    fn upstreams_keys_and_defaults() {
        let c = load(&[]).unwrap().telemetry;
        assert!(!c.enabled);
        assert_eq!(c.service_name, "fluxer");
        assert_eq!(c.trace_sampling_ratio, 1.0);
        assert_eq!(c.ignore_incoming_paths, ["/_health"]);
        let c = load(&[
            (
                "FLUXER_CONFIG__TELEMETRY__OTLP_ENDPOINT",
                "http://127.0.0.1:4318",
            ),
            ("FLUXER_CONFIG__TELEMETRY__TRACE_SAMPLING_RATIO", "0.25"),
            (
                "FLUXER_CONFIG__TELEMETRY__METRIC_EXPORT_INTERVAL_MS",
                "1000",
            ),
        ])
        .unwrap()
        .telemetry;
        assert_eq!(c.trace_sampling_ratio, 0.25);
        assert_eq!(c.metric_export_interval_ms, 1000);
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        let err = load(&[("FLUXER_CONFIG__TELEMETRY__TRACE_SAMPLING_RATIO", "1.5")]).unwrap_err();
        assert!(err.contains("telemetry.trace_sampling_ratio"), "{err}");
        let err = load(&[("FLUXER_CONFIG__TELEMETRY__ENABLED", "true")]).unwrap_err();
        let key = if cfg!(feature = "telemetry") {
            "telemetry.otlp_endpoint"
        } else {
            "telemetry.enabled"
        };
        assert!(err.contains(key), "{err}");
    }
}
