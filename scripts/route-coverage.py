#!/usr/bin/env python3
"""Compares the REST routes we serve with upstream Fluxer's v1 OpenAPI document.

Usage: scripts/route-coverage.py <upstream openapi.json> [--missing] [--missing-admin]

Upstream's document is `fluxer_docs/api-reference/openapi.json` at commit ee1f27fe. The admin API
(`/admin/*`) is counted on its own line; the hosted-only billing routes are not counted.
"""

import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
METHODS = ("get", "post", "put", "patch", "delete")
# Hosted billing: Stripe checkout and webhooks, premium subscriptions, gifts, donations.
HOSTED = re.compile(r"^/(stripe|premium|gifts|donations|users/@me/gifts|users/@me/premium)(/|$)|visionary|/billing")


def normalize(path):
    """Turns every `{name}` into `{}` so parameter names do not matter."""
    return re.sub(r"\{[^}]+\}", "{}", path.rstrip("/") or "/")


def route_calls(text):
    """Yields the path and the handler text of every `.route("path", handlers)` call."""
    for start in (i for i in range(len(text)) if text.startswith(".route(", i)):
        depth, i = 0, start + len(".route")
        while True:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
            if depth == 0:
                break
        call = text[start + len(".route(") : i - 1]
        path, _, handlers = call.partition(",")
        yield path.strip().strip('"'), handlers


def ours():
    served = set()
    for source in (ROOT / "fluxer-api" / "src" / "routes").rglob("*.rs"):
        for path, handlers in route_calls(source.read_text()):
            for method in re.findall(r"(?:^|[\s.(])(get|post|put|patch|delete)\(", handlers):
                served.add((method.upper(), normalize(path)))
    return served


def upstream(spec_path, admin=False):
    """Upstream's operations: the admin API's when `admin`, else every other one in scope."""
    spec = json.loads(pathlib.Path(spec_path).read_text())
    ops = set()
    for path, item in spec["paths"].items():
        if path.startswith("/admin") != admin or HOSTED.search(path):
            continue
        for method in item:
            if method in METHODS:
                ops.add((method.upper(), normalize(path)))
    return ops


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    theirs = upstream(sys.argv[1])
    served = ours() & theirs
    missing = sorted(theirs - served, key=lambda op: (op[1], op[0]))
    print(f"{len(served)} of {len(theirs)} upstream operations served ({100 * len(served) / len(theirs):.0f}%)")
    if "--missing" in sys.argv:
        for method, path in missing:
            print(f"  {method:6} {path}")
    admin = upstream(sys.argv[1], admin=True)
    served_admin = ours() & admin
    print(f"admin API: {len(served_admin)} of {len(admin)} upstream operations served ({100 * len(served_admin) / len(admin):.0f}%)")
    if "--missing-admin" in sys.argv:
        for method, path in sorted(admin - served_admin, key=lambda op: (op[1], op[0])):
            print(f"  {method:6} {path}")


if __name__ == "__main__":
    main()
