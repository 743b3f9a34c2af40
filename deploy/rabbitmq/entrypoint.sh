#!/bin/sh
# Writes the definitions RabbitMQ imports at boot (rabbitmq.conf: load_definitions), then starts
# the broker through the image's own entrypoint:
#   00-access.json    the vhost "/" and five users:
#                     - the operators' management login (UI, HTTP API): RABBITMQ_USER and
#                       RABBITMQ_PASSWORD, tag administrator, every permission;
#                     - the ingress's: RABBITMQ_INGRESS_USER (fulfillment_ingress) and
#                       RABBITMQ_INGRESS_PASSWORD, no tag (no management access);
#                     - the worker's: RABBITMQ_WORKER_USER (fulfillment_worker) and
#                       RABBITMQ_WORKER_PASSWORD, no tag;
#                     - the notifier's: RABBITMQ_NOTIFIER_USER (fulfillment_notifier) and
#                       RABBITMQ_NOTIFIER_PASSWORD, no tag;
#                     - the operators' console's: RABBITMQ_CONSOLE_USER (fulfillment_console) and
#                       RABBITMQ_CONSOLE_PASSWORD, tag monitoring (it reads the queue counts and
#                       looks at dead letters through the HTTP API; it cannot change a definition
#                       there).
#                     Each password may come from a file instead (RABBITMQ_*_PASSWORD_FILE, a
#                     Docker secret). A missing one stops the broker here, naming the variable.
#   10-topology.json  deploy/rabbitmq/definitions.json, unchanged: generated from the services'
#                     topology and broker settings by `worker definitions` (RUNBOOK.md, "Change a
#                     queue argument on a running broker"), never edited by hand
# A definitions import replaces RabbitMQ's default user, so this is where the users come from.
# In a cluster (deploy/rabbitmq/cluster.yml) it also writes the Erlang cookie every node shares,
# from RABBITMQ_ERLANG_COOKIE or RABBITMQ_ERLANG_COOKIE_FILE, as the broker's own 0400 file:
# newer official images no longer take the variable, and a mounted file keeps the host's owner.
set -eu

# The defaults are the container's paths; deploy/rabbitmq/metric-names.sh reuses this script on a
# throwaway local node with its own.
dir=${RABBITMQ_DEFINITIONS_DIR:-/tmp/rabbitmq-definitions}
topology=${RABBITMQ_TOPOLOGY_FILE:-/etc/rabbitmq/topology.json}

# `secret NAME`: the value of $NAME, or the content of the file $NAME_FILE names (its trailing
# newlines dropped). Neither, or an empty one, stops the broker: a user with an empty password
# could not log in, and the service would only say "access refused".
secret() {
  eval "file=\${${1}_FILE:-}"
  eval "value=\${${1}:-}"
  if [ -n "$file" ]; then
    value=$(cat "$file") || { echo "entrypoint: cannot read ${1}_FILE ($file)" >&2; return 1; }
    [ -n "$value" ] || { echo "entrypoint: ${1}_FILE ($file) is empty" >&2; return 1; }
  fi
  [ -n "$value" ] || { echo "entrypoint: set ${1} or ${1}_FILE" >&2; return 1; }
  printf '%s' "$value"
}

admin=${RABBITMQ_USER:?set RABBITMQ_USER, the management login}
admin_password=$(secret RABBITMQ_PASSWORD) || exit 1
ingress=${RABBITMQ_INGRESS_USER:-fulfillment_ingress}
ingress_password=$(secret RABBITMQ_INGRESS_PASSWORD) || exit 1
worker=${RABBITMQ_WORKER_USER:-fulfillment_worker}
worker_password=$(secret RABBITMQ_WORKER_PASSWORD) || exit 1
notifier=${RABBITMQ_NOTIFIER_USER:-fulfillment_notifier}
notifier_password=$(secret RABBITMQ_NOTIFIER_PASSWORD) || exit 1
console=${RABBITMQ_CONSOLE_USER:-fulfillment_console}
console_password=$(secret RABBITMQ_CONSOLE_PASSWORD) || exit 1
# One definitions entry per name: two variables naming the same user would silently give it
# whichever permissions the import applied last.
if [ "$(printf '%s\n' "$admin" "$ingress" "$worker" "$notifier" "$console" | sort -u | wc -l)" -ne 5 ]; then
  echo "entrypoint: RABBITMQ_USER, RABBITMQ_INGRESS_USER, RABBITMQ_WORKER_USER," \
    "RABBITMQ_NOTIFIER_USER and RABBITMQ_CONSOLE_USER must differ" >&2
  exit 1
fi

# The services' permissions, as regular expressions over the production names (no
# broker.prefix). RabbitMQ checks one regex per kind of access against the resource's name,
# whether it is an exchange or a queue:
#   configure  declare or delete it;
#   write      publish to an exchange; be the destination of a queue.bind; an exchange named as
#              a new queue's x-dead-letter-exchange ("" is checked as amq.default);
#   read       consume or basic.get from a queue; be the source exchange of a queue.bind; a
#              queue declared with a dead-letter exchange (only when it is created).
# Both services declare the whole topology at every connect (shared::queue::Topology::declare),
# so both configure all of it, write to every queue (the bindings) and read every exchange that
# is a binding's source. What differs is the rest:
#   ingress  publishes to checkout.events only. It reads no queue of its own: the topology it
#            redeclares already exists (the boot import, or the worker, created it), and a
#            redeclaration checks no dead-letter permission. checkout.unrouted and
#            orders.unrouted are each an exchange and a queue of the same name: reading the
#            exchange (a binding's source) cannot be told apart from reading the queue.
#   worker   consumes checkout.fulfillment; publishes to checkout.retry, checkout.dead, orders;
#            `worker redrive` reads the dead and unrouted queues and republishes to the default
#            exchange (amq.default), checkout.events and orders; and it creates a missing queue
#            with its dead-letter exchange (a new retry tier after a settings change).
#   notifier declares only its own part (Topology::declare_notifier): the orders exchange it
#            reads, notifier.orders bound to it, dead-lettering through notifier.dead into
#            notifier.orders.dead, and notifier.redrive bound to notifier.orders. It consumes
#            notifier.orders; a rejected announcement is dead-lettered by the broker, which
#            checks no permission of the consumer's. `notifier redrive` reads
#            notifier.orders.dead and publishes to notifier.redrive only: no write on the
#            default exchange, which would reach every queue.
#   console  runs the worker's redrive of dead letters (all, or the ones an operator chose): it
#            declares the topology as the worker does, reads checkout.fulfillment.dead (the HTTP
#            API's "get messages" is a basic.get too) and republishes to the default exchange.
#            It consumes nothing else and publishes nowhere else.
# The retry tiers are checkout.fulfillment.delay.<n><unit> (Topology::retry_queue).
topology_names='checkout\.(events|retry|dead|unrouted|fulfillment|fulfillment\.dead|fulfillment\.delay\.[0-9]+(ms|s|m|h))|orders|orders\.unrouted'
binding_queues='checkout\.(fulfillment|fulfillment\.dead|fulfillment\.delay\.[0-9]+(ms|s|m|h)|unrouted)|orders\.unrouted'
binding_sources='checkout\.(events|retry|dead|unrouted)|orders\.unrouted'
ingress_configure="^($topology_names)\$"
ingress_write="^(checkout\.events|$binding_queues)\$"
ingress_read="^($binding_sources)\$"
worker_configure="^($topology_names)\$"
worker_write="^(amq\.default|$topology_names)\$"
worker_read="^(checkout\.fulfillment|checkout\.fulfillment\.delay\.[0-9]+(ms|s|m|h)|checkout\.fulfillment\.dead|$binding_sources)\$"
console_configure="^($topology_names)\$"
console_write="^(amq\.default|$binding_queues)\$"
console_read="^(checkout\.fulfillment\.dead|$binding_sources)\$"
notifier_names='orders|notifier\.(dead|redrive|orders|orders\.dead)'
notifier_configure="^($notifier_names)\$"
notifier_write='^notifier\.(dead|redrive|orders|orders\.dead)$'
notifier_read="^($notifier_names)\$"

# A JSON string: backslash and double quote escaped, the two characters a user name, a password
# or a regex can hold that JSON does not take as they are.
json_string() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"; }
user() { # NAME PASSWORD TAGS
  printf '    { "name": %s, "password": %s, "tags": %s }' \
    "$(json_string "$1")" "$(json_string "$2")" "$(json_string "$3")"
}
permission() { # USER CONFIGURE WRITE READ
  printf '    { "user": %s, "vhost": "/", "configure": %s, "write": %s, "read": %s }' \
    "$(json_string "$1")" "$(json_string "$2")" "$(json_string "$3")" "$(json_string "$4")"
}

mkdir -p "$dir"
umask 077
cat >"$dir/00-access.json" <<JSON
{
  "vhosts": [{ "name": "/" }],
  "users": [
$(user "$admin" "$admin_password" administrator),
$(user "$ingress" "$ingress_password" ""),
$(user "$worker" "$worker_password" ""),
$(user "$notifier" "$notifier_password" ""),
$(user "$console" "$console_password" monitoring)
  ],
  "permissions": [
$(permission "$admin" ".*" ".*" ".*"),
$(permission "$ingress" "$ingress_configure" "$ingress_write" "$ingress_read"),
$(permission "$worker" "$worker_configure" "$worker_write" "$worker_read"),
$(permission "$notifier" "$notifier_configure" "$notifier_write" "$notifier_read"),
$(permission "$console" "$console_configure" "$console_write" "$console_read")
  ]
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
