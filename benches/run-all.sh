#!/usr/bin/env bash
# Runs the whole benchmark suite with arguments that keep it within 15 minutes on a 2-core machine
# (after the builds, which it does first: the release `fluxer-server` and the bench binaries), prints
# each bench's table and the time the runs took. Needs NATS with JetStream on 127.0.0.1:4222 for the
# cross-node row and PostgreSQL on 127.0.0.1:5432 (or FLUXER_BENCH_POSTGRES_URL) for its history and
# search rows. Usage: bash benches/run-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fluxer-rs/target}"

cargo build --release -p fluxer-server
cargo bench -p fluxer --features cluster --no-run
started=$(date +%s)

# A bench that prints no row shows the end of its stderr instead, and the suite goes on.
run() {
  echo; echo "## $*"
  local err; err=$(mktemp)
  if ! cargo bench -q -p fluxer --features cluster --bench "$@" 2>"$err" | grep -E '^\||^[a-z]'; then
    echo "(no result; its stderr ends with:)"; tail -n 5 "$err"
  fi
  rm -f "$err"
}

run fanout -- --clients 1000 --messages 200 --rounds 3
run fanout -- --clients 10000 --messages 20 --rounds 3
run fanout -- --storm --clients 10000 --rounds 1
run rest_create -- --clients 64 --seconds 3 --rounds 3
run history -- --messages 20000 --clients 64 --seconds 3 --rounds 3
run history -- --backend sqlite --messages 1000000 --total 10000000 --clients 64 --seconds 3 --rounds 1
run history -- --backend postgres --messages 1000000 --total 2000000 --clients 64 --seconds 3 --rounds 1
run search -- --docs 100000 --rounds 3
run search_postgres -- --docs 100000 --rounds 1
run image_resize -- --thumbnails 12 --rounds 3
run soak -- --sessions 500 --seconds 60 --after 30
run nats_fanout -- --messages 20000 --subscribers 100 --rounds 5
run cold_start -- --runs 20
run idle_sessions -- --sessions 2000
echo
ls -l "$CARGO_TARGET_DIR/release/fluxer-server" | awk '{printf "binary size: %.1f MB\n", $5 / 1e6}'
echo "suite ran in $(( $(date +%s) - started )) s (builds excluded)"
