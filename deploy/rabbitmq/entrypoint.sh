#!/bin/sh
# Writes the definitions RabbitMQ imports at boot (rabbitmq.conf: load_definitions), then starts
# the broker through the image's own entrypoint:
#   00-access.json    the vhost "/" and the application user, from RABBITMQ_USER and
#                     RABBITMQ_PASSWORD (or RABBITMQ_PASSWORD_FILE, a Docker secret)
#   10-topology.json  deploy/rabbitmq/definitions.json, unchanged
# A definitions import replaces RabbitMQ's default user, so this is where the user comes from.
set -eu

# The defaults are the container's paths; deploy/rabbitmq/metric-names.sh reuses this script on a
# throwaway local node with its own.
dir=${RABBITMQ_DEFINITIONS_DIR:-/tmp/rabbitmq-definitions}
topology=${RABBITMQ_TOPOLOGY_FILE:-/etc/rabbitmq/topology.json}
user=${RABBITMQ_USER:?set RABBITMQ_USER}
if [ -n "${RABBITMQ_PASSWORD_FILE:-}" ]; then
  password=$(cat "$RABBITMQ_PASSWORD_FILE")
else
  password=${RABBITMQ_PASSWORD:?set RABBITMQ_PASSWORD or RABBITMQ_PASSWORD_FILE}
fi

# JSON string escaping for the two characters that need it in a user name or password.
json_string() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"; }

mkdir -p "$dir"
umask 077
cat >"$dir/00-access.json" <<JSON
{
  "vhosts": [{ "name": "/" }],
  "users": [{ "name": $(json_string "$user"), "password": $(json_string "$password"), "tags": "administrator" }],
  "permissions": [{ "user": $(json_string "$user"), "vhost": "/", "configure": ".*", "write": ".*", "read": ".*" }]
}
JSON
cp "$topology" "$dir/10-topology.json"
# The broker drops to the rabbitmq user; it must be able to read what root wrote here.
if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1; then chown -R rabbitmq:rabbitmq "$dir"; fi

exec ${RABBITMQ_NEXT_ENTRYPOINT:-docker-entrypoint.sh} "$@"
