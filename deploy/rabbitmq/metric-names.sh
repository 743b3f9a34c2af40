#!/usr/bin/env bash
# Boots a throwaway RabbitMQ node from this directory's configuration (rabbitmq.conf,
# enabled_plugins, entrypoint.sh + definitions.json: the same files the compose stack mounts),
# checks that the boot-time import produced the user and the topology, moves a few messages
# through the topology (publish, retry tier expiry, reject to the dead-letter queue, ack), and
# writes every metric name its Prometheus plugin exposes on /metrics and /metrics/detailed to
# deploy/prometheus/rabbitmq-metric-names.txt. The deploy tests check the dashboard's and the
# alert rules' rabbitmq_* names against that list.
#
# Needs the local rabbitmq-server package (scripts/ensure-services installs it) and root. The
# node uses its own name, ports (AMQP 5699, management 15698, Prometheus 15699) and data
# directory, so the development broker on 5672 is untouched.
#
#   deploy/rabbitmq/metric-names.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$here/../prometheus/rabbitmq-metric-names.txt
node=metricnames@localhost
tmp=$(mktemp -d /tmp/rabbitmq-metric-names.XXXXXX)
chmod 755 "$tmp"
user=fulfillment
password='pa"ss\word'   # a password with JSON-special characters proves entrypoint.sh escapes
api=http://127.0.0.1:15698/api
ctl() { runuser -u rabbitmq -- env HOME="$tmp" RABBITMQ_CONF_ENV_FILE="$tmp/env.conf" \
  /usr/lib/rabbitmq/bin/rabbitmqctl -n "$node" "$@"; }
cleanup() { ctl stop >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT

# The container's files, with this node's ports and paths.
sed -e "s#^load_definitions = .*#load_definitions = $tmp/definitions#" \
    -e 's#^prometheus.tcp.port = .*#prometheus.tcp.port = 15699#' \
    -e 's#^management.tcp.port = .*#management.tcp.port = 15698#' \
    "$here/rabbitmq.conf" >"$tmp/rabbitmq.conf"
echo 'listeners.tcp.default = 127.0.0.1:5699' >>"$tmp/rabbitmq.conf"
cp "$here/enabled_plugins" "$tmp/enabled_plugins"
: >"$tmp/env.conf"
RABBITMQ_USER=$user RABBITMQ_PASSWORD=$password RABBITMQ_DEFINITIONS_DIR="$tmp/definitions" \
  RABBITMQ_TOPOLOGY_FILE="$here/definitions.json" RABBITMQ_NEXT_ENTRYPOINT=true \
  sh "$here/entrypoint.sh"
chown -R rabbitmq:rabbitmq "$tmp"

runuser -u rabbitmq -- env HOME="$tmp" RABBITMQ_CONF_ENV_FILE="$tmp/env.conf" \
  RABBITMQ_NODENAME=$node RABBITMQ_NODE_PORT=5699 RABBITMQ_DIST_PORT=25699 \
  RABBITMQ_CONFIG_FILE="$tmp/rabbitmq" RABBITMQ_ENABLED_PLUGINS_FILE="$tmp/enabled_plugins" \
  RABBITMQ_MNESIA_BASE="$tmp/mnesia" RABBITMQ_LOG_BASE="$tmp/log" RABBITMQ_PID_FILE="$tmp/pid" \
  /usr/lib/rabbitmq/bin/rabbitmq-server -detached
for _ in $(seq 120); do ctl -q ping >/dev/null 2>&1 && break; sleep 1; done
ctl await_startup --timeout 120 >/dev/null || { cat "$tmp"/log/*.log >&2; exit 1; }

curl_api() { curl -fsS -u "$user:$password" -H 'content-type: application/json' "$@"; }
# The boot-time import: the user logs in, and every queue of definitions.json exists.
for queue in $(python3 -c 'import json,sys; print(" ".join(q["name"] for q in json.load(open(sys.argv[1]))["queues"]))' "$here/definitions.json"); do
  curl_api -o /dev/null "$api/queues/%2f/$queue"
done
publish() {  # exchange routing-key
  curl_api -o /dev/null -X POST "$api/exchanges/%2f/$1/publish" \
    -d "{\"properties\":{\"delivery_mode\":2},\"routing_key\":\"$2\",\"payload\":\"{}\",\"payload_encoding\":\"string\"}"
}
get() {  # queue ackmode
  curl_api -o /dev/null -X POST "$api/queues/%2f/$1/get" \
    -d "{\"count\":1,\"ackmode\":\"$2\",\"encoding\":\"auto\"}"
}
publish checkout.events checkout.session.completed
publish checkout.events checkout.session.completed
publish checkout.retry checkout.fulfillment.retry.1s
get checkout.fulfillment ack_requeue_false
get checkout.fulfillment reject_requeue_false      # dead-lettered to checkout.fulfillment.dead
for _ in $(seq 30); do                             # the 1 s tier expires back into the queue
  depth=$(curl_api "$api/queues/%2f/checkout.fulfillment" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("messages", 0))')
  [ "$depth" -ge 1 ] && break
  sleep 1
done
sleep 6   # the plugin's metrics are collected every 5 s

{
  curl -fsS http://127.0.0.1:15699/metrics
  curl -fsS 'http://127.0.0.1:15699/metrics/detailed?family=queue_coarse_metrics&family=queue_metrics&family=queue_consumer_count&family=exchange_metrics&family=queue_exchange_metrics'
} | grep -v '^#' | sed -e 's/[{ ].*//' | grep -E '^rabbitmq_' | sort -u >"$out.new"
mv "$out.new" "$out"
echo "wrote $(wc -l <"$out") names to $out"
