#!/usr/bin/env bash
# The worker benchmark, in one run (results and how to read them: benchmarks/worker.md).
#
#   bench/worker.sh [sessions for saturation, default 5000] [seconds at 500/s, default 6]
#
# Runs from the workspace root (wherever it is started), with Postgres on 127.0.0.1:5432 and
# RabbitMQ on 127.0.0.1:5672.
# One after the other, each bounded in time and size:
#   1. the database ceiling: the fulfillment's statements straight at Postgres (no Stripe, no
#      broker), at the concurrency the workers use in total;
#   2. the pipeline at saturation with 1, then 2 worker processes (release build): N paid
#      stripe-sim sessions, N completed events published to checkout.events, until all are
#      fulfilled;
#   3. the pipeline paced at 500 events/s with 1 and 2 workers: publish-to-fulfillment latency.
# Each run uses its own database and broker prefix and removes both. Everything is on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

SESSIONS=${1:-5000}
SECS=${2:-6}
PREFETCH=${PREFETCH:-32}
# 0: the worker sizes its pool from the prefetch (prefetch + 2 with the reconciler off).
POOL=${POOL:-0}
PACED=$((500 * SECS))
# Without TLS, as the compose deployment's Postgres runs (initdb's default: no `ssl`). Debian's
# cluster offers TLS, and sqlx's default `sslmode=prefer` would take it: about 0.1-0.2 ms of CPU
# per fulfillment that production does not pay (benchmarks/worker.md).
DATABASE=${DATABASE:-postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable}

# The worker is built on its own, with the features it ships with; the bench tool (which shares
# the test harness's dependencies) in a second build.
cargo build --release -q -p worker --bin worker
cargo build --release -q -p bench --bin worker-bench
BENCH=target/release/worker-bench

echo "== machine"; nproc; free -g | head -2; uptime
echo "== 1. database ceiling"
for c in 32 64; do
    timeout -s KILL 300 "$BENCH" --database "$DATABASE" ceiling --sessions "$SESSIONS" --concurrency "$c"
done
echo "== 2. saturation"
for w in 1 2; do
    timeout -s KILL 300 "$BENCH" --database "$DATABASE" pipeline --sessions "$SESSIONS" --workers "$w" \
        --prefetch "$PREFETCH" --pool "$POOL" 2>&1 | grep -v ' WARN '
done
echo "== 3. 500 events/s"
for w in 1 2; do
    timeout -s KILL 300 "$BENCH" --database "$DATABASE" pipeline --sessions "$PACED" --workers "$w" --rate 500 \
        --prefetch "$PREFETCH" --pool "$POOL" 2>&1 | grep -v ' WARN '
done
uptime
