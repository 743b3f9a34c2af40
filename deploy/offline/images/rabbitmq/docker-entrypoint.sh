#!/bin/sh
# The official rabbitmq image's start-up contract, in the part our compose file uses: as root,
# give /var/lib/rabbitmq to the rabbitmq user (uid 999) and run again as that user; write the
# Erlang cookie from RABBITMQ_ERLANG_COOKIE (every node of a cluster needs the same one); then
# exec the command.
set -eu

if [ "${1:-}" = rabbitmq-server ] && [ "$(id -u)" = 0 ]; then
  find /var/lib/rabbitmq \! -user rabbitmq -exec chown rabbitmq:rabbitmq '{}' +
  exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "$0" "$@"
fi

if [ -n "${RABBITMQ_ERLANG_COOKIE:-}" ]; then
  cookie=/var/lib/rabbitmq/.erlang.cookie
  umask 077
  printf '%s' "$RABBITMQ_ERLANG_COOKIE" >"$cookie.new"
  mv "$cookie.new" "$cookie"
  unset RABBITMQ_ERLANG_COOKIE
fi

exec "$@"
