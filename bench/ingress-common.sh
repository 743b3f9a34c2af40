# Sourced by bench/ingress-ab.sh and bench/ingress-instructions.sh: the release binaries, a bench
# topology under its own prefix (removed on exit), and one ingress started and stopped on it.
BIN=target/release
SECRET=whsec_bench_secret
PREFIX="bench$$."
SERVER=""
cleanup() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
    "$BIN/ingress-bench" cleanup --prefix "$PREFIX" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# start_ingress PORT LOG COMMAND…: runs COMMAND (an ingress binary, possibly under valgrind) on
# PORT with JSON logs at info, as deployed, and waits until it is ready: at most 60 s, since
# valgrind starts it slowly.
start_ingress() {
    local port=$1 log=$2
    shift 2
    APP_BROKER__PREFIX="$PREFIX" APP_INGRESS__HOST=127.0.0.1 APP_INGRESS__PORT="$port" \
        APP_WEBHOOK__SECRETS=$SECRET APP_LOG__FORMAT=json APP_LOG__FILTER=info \
        "$@" >"$log" 2>&1 &
    SERVER=$!
    for _ in $(seq 1 600); do
        curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" && return 0
        sleep 0.1
    done
    echo "no ingress ready on port $port (log: $log)" >&2
    exit 1
}

stop_ingress() {
    kill -TERM "$SERVER"
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
}

# purge: empties the bench topology's queues between runs.
purge() {
    "$BIN/ingress-bench" cleanup --prefix "$PREFIX" --purge >/dev/null
}
