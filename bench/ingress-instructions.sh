#!/usr/bin/env bash
# Instructions an ingress binary executes per accepted webhook, counted by callgrind: stable to a
# fraction of a percent from run to run on a noisy machine, where CPU time is not.
#
#   bench/ingress-instructions.sh BINARY [BINARY…]
#
# Each binary runs under `valgrind --tool=callgrind` with the log format production uses (JSON,
# `info`); 200 webhooks warm it up, the counters are zeroed, 1,000 more are sent at 100/s, and the
# counters are dumped. One line per binary: webhooks answered 200 and instructions per webhook
# (every thread of the process: actix workers, lapin's I/O thread, the runtime).
#
# Valgrind's CPU does not offer the SHA extensions, so the signature's SHA-256 runs in software
# here (about 72,000 instructions per 2 KB event) where the machine itself has SHA-NI: compare
# binaries with each other, not with the CPU time of a native run. Needs RabbitMQ on
# 127.0.0.1:5672 and release builds of `stripe-sim` and `ingress-bench`.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
OUT=target/ingress-instructions
mkdir -p "$OUT"
# shellcheck source=bench/ingress-common.sh
source bench/ingress-common.sh

load() { # seconds: webhooks at 100/s
    "$BIN/stripe-sim" load --secret $SECRET --duration "$1" --rate 100 \
        --target http://127.0.0.1:18085/webhook --json "$OUT/run.json" >/dev/null
}

for binary in "$@"; do
    rm -f "$OUT"/callgrind.*
    start_ingress 18085 "$OUT/server.log" \
        valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.%p" "$binary"
    load 2
    callgrind_control --zero "$SERVER" >/dev/null 2>&1
    load 10
    callgrind_control --dump "$SERVER" >/dev/null 2>&1
    stop_ingress
    ok=$(sed -n 's/.*"200": \([0-9]*\).*/\1/p' "$OUT/run.json" | head -1)
    # The dump taken after the 1,000 webhooks (the file named .1), not the one written at exit.
    instructions=$(callgrind_annotate "$(ls "$OUT"/callgrind.*.1)" |
        awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
    printf '%-40s %5s ok  %8d instructions per webhook\n' "$binary" "$ok" $((instructions / ok))
    purge
done
