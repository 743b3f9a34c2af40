#!/usr/bin/env bash
# Benchmarks the landing pages (results go in benchmarks/landing.md):
#   1. the success page of an already-fulfilled order at a fixed rate (default 1,000 req/s),
#      alternating with /healthz (a trivial actix handler on the same server) as the baseline;
#   2. first visits: each request a different paid, unfulfilled session, so the page runs
#      fulfill_checkout with the simulator answering.
# Release builds of `landing`, `stripe-sim` and `landing-bench`; Postgres at 127.0.0.1:5432
# (scripts/ensure-services).
# Runs are short on purpose: the machine is shared.
set -euo pipefail
cd "$(dirname "$0")/.."

PG=${BENCH_PG:-postgres://postgres:postgres@127.0.0.1:5432}
DB=landing_bench
SIM_PORT=${SIM_PORT:-12191}
LANDING_PORT=${LANDING_PORT:-18082}
RATE=${RATE:-1000}          # requests per second, fulfilled page and baseline
SECS=${SECS:-10}            # measured seconds per round
ROUNDS=${ROUNDS:-3}         # rounds of (baseline, fulfilled page)
FIRST_RATE=${FIRST_RATE:-50}
FIRST_SECS=${FIRST_SECS:-10}
LANDING_URL=http://127.0.0.1:$LANDING_PORT

# The measured binaries are built on their own, with the features they ship with; the bench
# tool (which shares the test harness's dependencies) in a second build.
cargo build --release -p landing -p stripe-sim
cargo build --release -p bench --bin landing-bench
psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
}
trap cleanup EXIT

target/release/stripe-sim serve --port "$SIM_PORT" >"$work/sim.log" 2>&1 &
pids+=($!)
# The per-client budgets are raised: every request comes from one address here. The Stripe
# client's own limit is raised too, since the simulator has none (with real Stripe it caps
# page-triggered fulfillments per process; see the notes).
APP_DATABASE__URL="$PG/$DB" \
APP_STRIPE__API_BASE="http://127.0.0.1:$SIM_PORT" \
APP_STRIPE__SECRET_KEY=sk_test_landing_bench \
APP_STRIPE__RATE_LIMIT_PER_SEC=1000 \
APP_LANDING__HOST=127.0.0.1 \
APP_LANDING__PORT="$LANDING_PORT" \
APP_LANDING__PUBLIC_BASE_URL="$LANDING_URL" \
APP_LANDING__SUCCESS_RATE_PER_MINUTE=1000000000 \
APP_LANDING__CHECKOUT_RATE_PER_MINUTE=1000000000 \
  target/release/landing >"$work/landing.log" 2>&1 &
landing_pid=$!
pids+=($landing_pid)

for _ in $(seq 50); do
  curl -fsS "$LANDING_URL/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done

load=target/release/landing-bench
ticks_per_sec=$(getconf CLK_TCK)
# CPU time the landing process spent (user + system), in clock ticks: a cost per request that
# other load on the machine does not distort the way it distorts latency.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$landing_pid/stat"; }
# measure LABEL ARGS...: one `landing-bench run`, then the landing CPU per request sent.
measure() {
  local label=$1; shift
  local before after
  before=$(cpu_ticks)
  $load run --label "$label" "$@"
  after=$(cpu_ticks)
  awk -v t=$(( after - before )) -v hz="$ticks_per_sec" -v n="$REQUESTS" \
    'BEGIN { printf "  landing CPU: %.0f us per request (warm-up included)\n", t / hz * 1e6 / n }'
}
first_count=$(( FIRST_RATE * (FIRST_SECS + 2) ))
$load prepare --landing "$LANDING_URL" --sim "http://127.0.0.1:$SIM_PORT" \
  --database-url "$PG/$DB" --count 1 --out "$work/fulfilled.txt"
$load prepare --landing "$LANDING_URL" --sim "http://127.0.0.1:$SIM_PORT" \
  --database-url "$PG/$DB" --count "$first_count" --out "$work/first.txt"
# The first visit fulfills it; every later one renders from Postgres.
curl -fsS "$(cat "$work/fulfilled.txt")" | grep -q "Thanks for your order"

echo "# $(date -u +%FT%TZ) rate=$RATE/s secs=$SECS rounds=$ROUNDS"
REQUESTS=$(( RATE * (SECS + 2) ))
for round in $(seq "$ROUNDS"); do
  measure "baseline /healthz r$round" --url "$LANDING_URL/healthz" \
    --rate "$RATE" --duration-secs "$SECS"
  measure "fulfilled success page r$round" --urls-file "$work/fulfilled.txt" \
    --rate "$RATE" --duration-secs "$SECS"
done
REQUESTS=$(( FIRST_RATE * (FIRST_SECS + 2) ))
measure "first visit (fulfills)" --urls-file "$work/first.txt" --each-once \
  --rate "$FIRST_RATE" --duration-secs "$FIRST_SECS"
fulfilled=$(psql -qtA "$PG/$DB" -c "SELECT count(*) FROM checkout_orders WHERE state = 'fulfilled' AND fulfilled_by = 'landing'")
echo "orders fulfilled by the page: $fulfilled (expected $(( first_count + 1 )))"
