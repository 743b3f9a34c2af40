#!/usr/bin/env bash
# The ingress benchmark, in one run (results and how to read them: benchmarks/ingress.md).
#
#   bench/ingress.sh [seconds per run, default 8] [saturation concurrency, default 256]
#
# Runs from the workspace root (wherever it is started), with RabbitMQ on 127.0.0.1:5672.
# Three things are loaded by `stripe-sim load` on this machine, one after the other:
#   1. the HTTP ceiling: an actix webhook endpoint that only reads the body and answers 200
#      (1b: the same plus signature verification and the envelope parse);
#   2. the broker ceiling: confirmed publishing straight from lapin, no HTTP, same concurrency
#      (2b: the same at the open-loop rates below: the broker's own latency at those loads);
#   3. the ingress (release build): saturation, then open loop at 500, 1,000 and 2,000 req/s,
#      and its peak RSS (VmHWM).
# Each run prints the CPU seconds the server, RabbitMQ and the generator used, so a missed
# target can be traced to whoever spent the cores. Every run is bounded in time, every socket is
# on loopback, and the bench topology (its own prefix) is purged between runs and deleted at the
# end. JSON reports go to target/ingress-bench/.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${1:-8}
CONCURRENCY=${2:-256}
CHANNELS=${CHANNELS:-4}
WORKERS=${WORKERS:-0}
FILTER=${FILTER:-info}
# The log format production runs with (docker-compose.yml): the JSON layer costs more per span.
FORMAT=${FORMAT:-json}
SECRET=whsec_bench_secret
OUT=target/ingress-bench
BIN=target/release
PREFIX="bench$$."
mkdir -p "$OUT"

# The measured binaries are built on their own, with the features they ship with; the bench
# tools (which share the test harness's dependencies) in a second build.
cargo build --release -q -p ingress -p stripe-sim
cargo build --release -q -p bench --bin ingress-bench

LOAD="$BIN/stripe-sim load --secret $SECRET --duration $SECS"
BEAM=$(pgrep -f beam.smp | head -1 || true)
SERVER=""
cleanup() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
    "$BIN/ingress-bench" cleanup --prefix "$PREFIX" >/dev/null 2>&1 || true
}
trap cleanup EXIT

ticks() { # pid: CPU ticks (user + system) so far, 0 if gone
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] && awk '{print $14 + $15}' "/proc/$1/stat" || echo 0
}
idle() { awk '/^cpu /{print $5}' /proc/stat; }

measured() { # command…: runs it, then prints the CPU seconds of the server and RabbitMQ
    local s0 b0 i0
    s0=$(ticks "$SERVER"); b0=$(ticks "$BEAM"); i0=$(idle)
    "$@"
    printf 'cpu seconds: server %.2f, rabbitmq %.2f, machine idle %.2f (of %d cores)\n' \
        "$(echo "($(ticks "$SERVER") - $s0) / 100" | bc -l)" \
        "$(echo "($(ticks "$BEAM") - $b0) / 100" | bc -l)" \
        "$(echo "($(idle) - $i0) / 100" | bc -l)" "$(nproc)"
}

start_server() { # url, command…: starts it in the background, waits (bounded) until it answers
    local url=$1; shift
    "$@" >"$OUT/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 1 100); do
        curl -s -o /dev/null -w '%{http_code}' "$url" 2>/dev/null | grep -q '^[2-5]' && return 0
        sleep 0.1
    done
    echo "no answer from $url" >&2
    exit 1
}

stop_server() {
    kill -TERM "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
}

echo "== machine"
nproc; free -g | head -2; lscpu | head -15; uptime

echo "== 1. HTTP ceiling (actix, body read, 200; no verification, no broker)"
start_server http://127.0.0.1:18080/webhook \
    "$BIN/ingress-bench" http-ceiling --port 18080 --workers "$WORKERS" --secret $SECRET
measured $LOAD --target http://127.0.0.1:18080/webhook --concurrency "$CONCURRENCY" --json "$OUT/http.json"
stop_server

echo "== 1b. HTTP + signature verification + envelope parse (no broker)"
start_server http://127.0.0.1:18080/webhook \
    "$BIN/ingress-bench" http-ceiling --port 18080 --workers "$WORKERS" --secret $SECRET --verify
measured $LOAD --target http://127.0.0.1:18080/webhook --concurrency "$CONCURRENCY" --json "$OUT/verify.json"
stop_server

# The broker ceiling publishes bodies of the size the generator sends.
BODY_BYTES=$(sed -n 's/.*"body_bytes": \([0-9]*\).*/\1/p' "$OUT/http.json")
echo "== 2. broker ceiling (lapin, confirmed publishing, no HTTP; $BODY_BYTES B bodies)"
measured "$BIN/ingress-bench" broker-ceiling --concurrency "$CONCURRENCY" --channels "$CHANNELS" \
    --duration "$SECS" --body-bytes "$BODY_BYTES"

for rate in 500 1000 2000; do
    echo "== 2b. broker alone, open loop at $rate msg/s (the latency floor under the ingress)"
    "$BIN/ingress-bench" broker-ceiling --concurrency "$CONCURRENCY" --channels "$CHANNELS" \
        --duration "$SECS" --body-bytes "$BODY_BYTES" --rate "$rate"
done

echo "== 3. ingress (release; log filter $FILTER, format $FORMAT, $CHANNELS confirm channels)"
export APP_BROKER__PREFIX="$PREFIX" APP_INGRESS__HOST=127.0.0.1 APP_INGRESS__PORT=18081 \
    APP_INGRESS__WORKERS="$WORKERS" APP_INGRESS__CONFIRM_CHANNELS="$CHANNELS" \
    APP_WEBHOOK__SECRETS=$SECRET APP_LOG__FILTER="$FILTER" APP_LOG__FORMAT="$FORMAT"
start_server http://127.0.0.1:18081/readyz "$BIN/ingress"
for _ in $(seq 1 100); do curl -fs -o /dev/null http://127.0.0.1:18081/readyz && break; sleep 0.1; done
curl -fs -o /dev/null http://127.0.0.1:18081/readyz

echo "-- saturation (closed loop, $CONCURRENCY connections)"
measured $LOAD --target http://127.0.0.1:18081/webhook --concurrency "$CONCURRENCY" \
    --json "$OUT/ingress-saturation.json"
"$BIN/ingress-bench" cleanup --prefix "$PREFIX" --purge
for rate in 500 1000 2000; do
    echo "-- open loop at $rate req/s"
    measured $LOAD --target http://127.0.0.1:18081/webhook --rate "$rate" --json "$OUT/ingress-$rate.json"
    "$BIN/ingress-bench" cleanup --prefix "$PREFIX" --purge
done
echo "-- memory"
grep -E 'VmHWM|VmRSS' "/proc/$SERVER/status"
stop_server
