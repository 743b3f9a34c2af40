#!/usr/bin/env bash
# Two ingress binaries against each other, alternated in the same minutes: CPU per accepted
# webhook at saturation and at a fixed rate, with the log format production uses (JSON).
#
#   bench/ingress-ab.sh OLD_BINARY NEW_BINARY [rounds, default 4] [seconds per run, default 6]
#
# Each round runs OLD then NEW (the order flips every round, so neither always follows the
# other): a closed loop of 256 connections, then an open loop at RATE (default 1000) req/s.
# One line per run: requests answered 200, throughput, ingress CPU µs per request (from
# /proc/PID/stat), ack p50/p99. Needs RabbitMQ on 127.0.0.1:5672 and a release `stripe-sim`
# and `ingress-bench` (cargo build --release -p stripe-sim -p bench --bin ingress-bench).
set -euo pipefail
cd "$(dirname "$0")/.."

OLD=$1 NEW=$2 ROUNDS=${3:-4} SECS=${4:-6}
RATE=${RATE:-1000}
OUT=target/ingress-ab
mkdir -p "$OUT"
# shellcheck source=bench/ingress-common.sh
source bench/ingress-common.sh

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
field() { sed -n "s/.*\"$2\": \([0-9.]*\).*/\1/p" "$1" | head -1; }

run() { # label binary: one saturation run and one paced run of a fresh ingress
    local label=$1 binary=$2
    start_ingress 18082 "$OUT/$label.log" "$binary"
    for load in "--concurrency 256" "--rate $RATE"; do
        local t0 t1 ok
        t0=$(ticks "$SERVER")
        "$BIN/stripe-sim" load --secret $SECRET --duration "$SECS" \
            --target http://127.0.0.1:18082/webhook $load --json "$OUT/run.json" >/dev/null
        t1=$(ticks "$SERVER")
        ok=$(field "$OUT/run.json" 200)
        printf '%-4s %-18s %8s ok %9.0f/s %7.1f µs/request  p50 %6.2f ms  p99 %6.2f ms\n' \
            "$label" "$load" "$ok" "$(field "$OUT/run.json" ok_per_sec)" \
            "$(echo "($t1 - $t0) * 10000 / $ok" | bc -l)" \
            "$(field "$OUT/run.json" p50)" "$(field "$OUT/run.json" p99)"
        purge
    done
    stop_ingress
}

for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then run old "$OLD"; run new "$NEW"; else run new "$NEW"; run old "$OLD"; fi
done
