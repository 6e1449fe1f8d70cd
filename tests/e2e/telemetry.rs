//! OpenTelemetry export (issue #21): a real OTLP/HTTP receiver on loopback (tests/e2e/otlp_receiver.py,
//! which decodes the protobuf with the official `opentelemetry-proto` package) gets the server's
//! traces and metrics after real traffic; the sampling ratio holds; a collector that is down or
//! silent costs requests nothing; with telemetry off nothing is sent.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Client, Server, on_postgres};
use crate::{create_guild, general_channel, post_message, register};

/// The receiver, killed when dropped.
struct Receiver {
    child: Child,
    port: u16,
}

impl Receiver {
    fn start(args: &[&str]) -> Receiver {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/e2e/otlp_receiver.py"
        );
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 must be installed to run the OTLP receiver");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!(
                "the OTLP receiver did not start (install opentelemetry-proto and protobuf: \
                 `pip install -r tests/requirements.txt`)"
            )
        });
        Receiver { child, port }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn summary(&self) -> Value {
        Client {
            addr: format!("127.0.0.1:{}", self.port),
            token: None,
            retry_on_429: false,
        }
        .get("/summary")
        .expect(200)
        .json()
    }

    /// Polls the summary until `done` holds for it (15 s at most); the last summary.
    fn wait_for(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let summary = self.summary();
            if done(&summary) {
                return summary;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {summary:#}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server's environment for exporting to `endpoint` every 300 ms, sampling `ratio`.
fn telemetry_env(endpoint: &str, ratio: &str) -> Vec<(&'static str, String)> {
    vec![
        ("FLUXER_CONFIG__TELEMETRY__ENABLED", "true".to_owned()),
        (
            "FLUXER_CONFIG__TELEMETRY__OTLP_ENDPOINT",
            endpoint.to_owned(),
        ),
        (
            "FLUXER_CONFIG__TELEMETRY__SERVICE_NAME",
            "fluxer-e2e".to_owned(),
        ),
        (
            "FLUXER_CONFIG__TELEMETRY__TRACE_SAMPLING_RATIO",
            ratio.to_owned(),
        ),
        (
            "FLUXER_CONFIG__TELEMETRY__METRIC_EXPORT_INTERVAL_MS",
            "300".to_owned(),
        ),
        (
            "FLUXER_CONFIG__TELEMETRY__EXPORT_TIMEOUT",
            "1000".to_owned(),
        ),
    ]
}

fn start_server(env: &[(&'static str, String)]) -> Server {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(&env)
}

fn spans(summary: &Value) -> &Vec<Value> {
    summary["spans"].as_array().unwrap()
}

fn span_named<'a>(summary: &'a Value, name: &str) -> Option<&'a Value> {
    spans(summary).iter().find(|s| s["name"] == name)
}

/// The sum over a metric's points whose attributes include `matching` (counts for histograms).
fn metric_total(summary: &Value, name: &str, matching: &Value) -> Option<f64> {
    let points = summary["metrics"][name].as_array()?;
    let total = points
        .iter()
        .filter(|p| {
            matching
                .as_object()
                .unwrap()
                .iter()
                .all(|(k, v)| &p["attributes"][k] == v)
        })
        .map(|p| p["count"].as_f64().or(p["value"].as_f64()).unwrap_or(0.0))
        .sum();
    Some(total)
}

const METRICS: [&str; 12] = [
    "http.server.request.duration",
    "db.client.operation.duration",
    "fluxer.cache.hits",
    "fluxer.cache.misses",
    "fluxer.gateway.connections",
    "fluxer.gateway.sessions",
    "fluxer.message.delivery.duration",
    "fluxer.queue.depth",
    "fluxer.jobs.run",
    "fluxer.jobs.failed",
    "fluxer.jobs.dead_lettered",
    "fluxer.telemetry.dropped",
];

#[test]
fn traces_and_metrics_reach_an_otlp_collector() {
    // The collector refuses the first trace export: those spans are dropped and counted, and
    // export carries on.
    let receiver = Receiver::start(&["--refuse-first-traces", "1"]);
    let mut env = telemetry_env(&receiver.endpoint(), "1");
    env.push(("FLUXER_CONFIG__LOG__LEVEL", "info".to_owned()));
    let server = start_server(&env);
    let anon = server.client();
    // The first export (refused) goes out with whatever the start traced.
    anon.get("/.well-known/fluxer").expect(200);
    receiver.wait_for("the refused export", |s| {
        s["requests"]["traces"].as_u64() >= Some(1)
    });

    let (alice, _) = register(&anon, "otel-alice@example.com", "otelalice");
    let guild = create_guild(&alice, "Observed");
    let channel = general_channel(&alice, &guild);
    let rt = crate::gateway::runtime();
    let mut ws = rt.block_on(crate::gateway::identify(
        &server.addr,
        alice.token.as_deref().unwrap(),
    ));
    let posted = post_message(&alice, &channel, "hello, collector");
    let delivered = rt.block_on(crate::gateway::next_dispatch(&mut ws, "MESSAGE_CREATE"));
    assert_eq!(delivered["d"]["id"], posted["id"]);
    anon.get("/_health").expect(200);

    let summary = receiver.wait_for("the traffic's spans and every metric", |s| {
        span_named(s, "POST /api/v1/channels/{channel_id}/messages").is_some()
            && span_named(s, "gateway IDENTIFY").is_some()
            && span_named(s, "dispatch MESSAGE_CREATE").is_some()
            && METRICS.iter().all(|m| s["metrics"].get(*m).is_some())
            && metric_total(s, "fluxer.message.delivery.duration", &json!({}))
                .is_some_and(|n| n >= 1.0)
            && metric_total(s, "fluxer.telemetry.dropped", &json!({"signal": "traces"}))
                .is_some_and(|n| n >= 1.0)
    });
    assert_eq!(summary["resources"], json!(["fluxer-e2e"]), "{summary:#}");
    assert_eq!(summary["requests"]["rejected"], 0, "protobuf only");

    // One server span per request, named by its route template, never by the raw path.
    let create = span_named(&summary, "POST /api/v1/channels/{channel_id}/messages").unwrap();
    let attributes = &create["attributes"];
    assert_eq!(
        attributes["http.route"],
        "/api/v1/channels/{channel_id}/messages"
    );
    assert_eq!(attributes["http.request.method"], "POST");
    assert_eq!(attributes["http.response.status_code"], 200);
    assert_eq!(attributes["user_agent.class"], "other");
    assert_eq!(create["kind"], 2, "SPAN_KIND_SERVER");
    assert_eq!(
        create["parent_span_id"], "",
        "a request is a trace of its own"
    );
    let guilds = span_named(&summary, "POST /api/v1/guilds").expect("the guild's creation");
    assert_eq!(guilds["attributes"]["http.response.status_code"], 200);
    for span in spans(&summary) {
        let name = span["name"].as_str().unwrap();
        assert!(
            !name.contains(channel.as_str()) && !name.contains(guild.as_str()),
            "an ID in a span name: {name}"
        );
    }
    // `/_health` is in `ignore_incoming_paths` by default: counted, not traced.
    assert!(span_named(&summary, "GET /_health").is_none());
    assert!(
        metric_total(
            &summary,
            "http.server.request.duration",
            &json!({"http.route": "/_health"})
        )
        .unwrap()
            >= 1.0
    );
    // Database calls are children in the request's trace, on either database.
    let system = if on_postgres() {
        "postgresql"
    } else {
        "sqlite"
    };
    let trace = create["trace_id"].as_str().unwrap();
    let db = spans(&summary)
        .iter()
        .find(|s| s["trace_id"] == trace && s["attributes"]["db.system.name"] == system)
        .unwrap_or_else(|| panic!("no database span in the request's trace: {summary:#}"));
    assert_eq!(db["kind"], 3, "SPAN_KIND_CLIENT");
    assert_ne!(db["parent_span_id"], "");
    assert!(
        metric_total(
            &summary,
            "db.client.operation.duration",
            &json!({"db.system.name": system})
        )
        .unwrap()
            >= 1.0
    );
    // The metrics carry the route templates, the gateway's live counts and the delivery time.
    assert!(
        metric_total(
            &summary,
            "http.server.request.duration",
            &json!({"http.route": "/api/v1/channels/{channel_id}/messages", "http.request.method": "POST", "http.response.status_code": 200})
        )
        .unwrap()
            >= 1.0,
        "{summary:#}"
    );
    assert_eq!(
        metric_total(&summary, "fluxer.gateway.connections", &json!({})),
        Some(1.0)
    );
    assert_eq!(
        metric_total(&summary, "fluxer.gateway.sessions", &json!({})),
        Some(1.0)
    );

    // The request's log lines carry its trace ID, so logs and traces join.
    let logged = server.log();
    assert!(
        logged.contains(&format!(
            "\"trace_id\":\"{}\"",
            create["trace_id"].as_str().unwrap()
        )),
        "no log line with the request's trace_id"
    );
    drop(ws);
}

#[test]
fn the_sampling_ratio_holds() {
    let receiver = Receiver::start(&[]);
    let server = start_server(&telemetry_env(&receiver.endpoint(), "0.25"));
    let anon = server.client();
    const REQUESTS: usize = 400;
    for _ in 0..REQUESTS {
        anon.get("/.well-known/fluxer").expect(200);
    }
    let route = json!({"http.route": "/.well-known/fluxer"});
    // Metrics count every request, sampled or not.
    receiver.wait_for("every request in the metrics", |s| {
        metric_total(s, "http.server.request.duration", &route) == Some(REQUESTS as f64)
    });
    // The last spans come in later batches (every 300 ms): count until the count has held for
    // two polls in a row, each a little longer than a batch's delay.
    let count = || {
        spans(&receiver.summary())
            .iter()
            .filter(|s| s["name"] == "GET /.well-known/fluxer")
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = vec![count()];
    let kept = loop {
        std::thread::sleep(Duration::from_millis(400));
        seen.push(count());
        if let &[.., a, b, c] = seen.as_slice()
            && a == b
            && b == c
        {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "the span count never settled: {seen:?}"
        );
    };
    // 400 draws at 1/4: 100 expected, standard deviation 8.7; ±35 is four of them.
    assert!(
        (65..=135).contains(&kept),
        "{kept} of {REQUESTS} requests traced at ratio 0.25"
    );
}

#[test]
fn a_collector_that_is_down_or_silent_costs_requests_nothing() {
    // One address refuses connections; the other accepts them and never answers.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    for endpoint in [
        format!("http://127.0.0.1:{closed}"),
        format!("http://127.0.0.1:{silent_port}"),
    ] {
        let server = start_server(&telemetry_env(&endpoint, "1"));
        let anon = server.client();
        let (alice, _) = register(&anon, "down@example.com", "downalice");
        let guild = create_guild(&alice, "Unobserved");
        let channel = general_channel(&alice, &guild);
        post_message(&alice, &channel, "is anyone there?");
        let started = Instant::now();
        for _ in 0..300 {
            anon.get("/.well-known/fluxer").expect(200);
        }
        // Several export intervals and timeouts passed meanwhile (every span is traced, every
        // export fails); no request waited on them.
        let took = started.elapsed();
        assert!(took < Duration::from_secs(20), "300 requests took {took:?}");
        alice.get("/api/v1/users/@me").expect(200);
        let log = server.log();
        assert!(!log.contains("panicked"), "{log}");
    }
    drop(silent);
}

#[test]
fn with_telemetry_off_nothing_is_sent() {
    let receiver = Receiver::start(&[]);
    let mut env = telemetry_env(&receiver.endpoint(), "1");
    env[0].1 = "false".to_owned();
    let server = start_server(&env);
    let anon = server.client();
    let (alice, _) = register(&anon, "quiet@example.com", "quiet");
    create_guild(&alice, "Quiet");
    std::thread::sleep(Duration::from_secs(1));
    let summary = receiver.summary();
    assert_eq!(
        summary["requests"],
        json!({"traces": 0, "metrics": 0, "rejected": 0})
    );
}
