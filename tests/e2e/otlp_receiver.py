"""An OTLP/HTTP receiver for the telemetry end-to-end test.

Listens on 127.0.0.1 (an ephemeral port, printed as the first line of stdout), accepts
`POST /v1/traces` and `POST /v1/metrics` in protobuf, decodes them with the official
`opentelemetry-proto` definitions, and answers `GET /summary` with what it decoded, as JSON:

    {"requests": {"traces": N, "metrics": N, "rejected": N},
     "resources": [service.name, ...],
     "spans": [{"name", "kind", "trace_id", "span_id", "parent_span_id", "attributes"}, ...],
     "metrics": {name: [{"attributes": {...}, "value" | "count": ...}, ...]}}

With `--refuse-first-traces N` it refuses the first N trace exports with 400 (a refusal the
exporter does not retry): those spans are lost, which the server counts.
"""

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

LOCK = threading.Lock()
STATE = {
    "requests": {"traces": 0, "metrics": 0, "rejected": 0},
    "resources": [],
    "spans": [],
    "metrics": {},
}
REFUSE_FIRST_TRACES = 0


def value_of(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def attributes(kvs):
    return {kv.key: value_of(kv.value) for kv in kvs}


def note_resource(resource):
    name = attributes(resource.attributes).get("service.name")
    if name not in STATE["resources"]:
        STATE["resources"].append(name)


def take_traces(body):
    request = trace_service_pb2.ExportTraceServiceRequest()
    request.ParseFromString(body)
    for resource_spans in request.resource_spans:
        note_resource(resource_spans.resource)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                STATE["spans"].append(
                    {
                        "name": span.name,
                        "kind": span.kind,
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "attributes": attributes(span.attributes),
                    }
                )
    return trace_service_pb2.ExportTraceServiceResponse().SerializeToString()


def points_of(metric):
    kind = metric.WhichOneof("data")
    data = getattr(metric, kind)
    out = []
    for point in data.data_points:
        summary = {"attributes": attributes(point.attributes)}
        if kind == "histogram":
            summary["count"] = point.count
        else:
            summary["value"] = point.as_int if point.HasField("as_int") else point.as_double
        out.append(summary)
    return out


def take_metrics(body):
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    request.ParseFromString(body)
    for resource_metrics in request.resource_metrics:
        note_resource(resource_metrics.resource)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                # Cumulative temporality: the latest export holds the totals.
                STATE["metrics"][metric.name] = points_of(metric)
    return metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global REFUSE_FIRST_TRACES
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with LOCK:
            if self.headers.get("Content-Type") != "application/x-protobuf":
                STATE["requests"]["rejected"] += 1
                return self.answer(415, b"")
            if self.path == "/v1/traces":
                STATE["requests"]["traces"] += 1
                if REFUSE_FIRST_TRACES > 0:
                    REFUSE_FIRST_TRACES -= 1
                    return self.answer(400, b"")
                reply = take_traces(body)
            elif self.path == "/v1/metrics":
                STATE["requests"]["metrics"] += 1
                reply = take_metrics(body)
            else:
                STATE["requests"]["rejected"] += 1
                return self.answer(404, b"")
        self.answer(200, reply, "application/x-protobuf")

    def do_GET(self):
        with LOCK:
            reply = json.dumps(STATE).encode()
        self.answer(200, reply, "application/json")

    def answer(self, status, body, content_type="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    global REFUSE_FIRST_TRACES
    parser = argparse.ArgumentParser()
    parser.add_argument("--refuse-first-traces", type=int, default=0)
    REFUSE_FIRST_TRACES = parser.parse_args().refuse_first_traces
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
