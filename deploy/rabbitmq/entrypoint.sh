#!/bin/sh
# Writes the definitions RabbitMQ imports at boot (rabbitmq.conf: load_definitions), then starts
# the broker through the image's own entrypoint:
#   00-access.json    the vhost "/" and the application user, from RABBITMQ_USER and
#                     RABBITMQ_PASSWORD (or RABBITMQ_PASSWORD_FILE, a Docker secret)
#   10-topology.json  deploy/rabbitmq/definitions.json, unchanged: generated from the services'
#                     topology and broker settings by `worker definitions` (RUNBOOK.md, "Change a
#                     queue argument on a running broker"), never edited by hand
# A definitions import replaces RabbitMQ's default user, so this is where the user comes from.
# In a cluster (deploy/rabbitmq/cluster.yml) it also writes the Erlang cookie every node shares,
# from RABBITMQ_ERLANG_COOKIE or RABBITMQ_ERLANG_COOKIE_FILE, as the broker's own 0400 file:
# newer official images no longer take the variable, and a mounted file keeps the host's owner.
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

if [ -n "${RABBITMQ_ERLANG_COOKIE_FILE:-}" ]; then
  cookie=$(cat "$RABBITMQ_ERLANG_COOKIE_FILE")
else
  cookie=${RABBITMQ_ERLANG_COOKIE:-}
fi
unset RABBITMQ_ERLANG_COOKIE RABBITMQ_ERLANG_COOKIE_FILE
if [ -n "$cookie" ]; then
  cookie_file=${RABBITMQ_COOKIE_PATH:-/var/lib/rabbitmq/.erlang.cookie}
  mkdir -p "$(dirname "$cookie_file")"
  rm -f "$cookie_file"
  printf '%s' "$cookie" >"$cookie_file"
  chmod 400 "$cookie_file"
  if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1; then chown rabbitmq:rabbitmq "$cookie_file"; fi
fi

exec ${RABBITMQ_NEXT_ENTRYPOINT:-docker-entrypoint.sh} "$@"
