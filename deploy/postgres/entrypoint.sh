#!/bin/sh
# Runs before the postgres image's own entrypoint (docker-compose.yml mounts it). Outside Swarm,
# compose bind-mounts secret files with the host's owner and mode, and the postgres image reads
# POSTGRES_PASSWORD_FILE only after dropping to its postgres user: a file an operator made with
# `umask 077` cannot be read there, and the database never initialises. As root, this hands the
# postgres user a private copy (0400, in a 0700 directory of its own) and points the image at it.
set -eu

if [ -n "${POSTGRES_PASSWORD_FILE:-}" ] && [ "$(id -u)" = 0 ]; then
  dir=${POSTGRES_SECRETS_DIR:-/run/postgres-secrets}
  mkdir -p "$dir"
  chown postgres:postgres "$dir"
  chmod 700 "$dir"
  install -o postgres -g postgres -m 0400 "$POSTGRES_PASSWORD_FILE" "$dir/password"
  export POSTGRES_PASSWORD_FILE="$dir/password"
fi

exec ${POSTGRES_NEXT_ENTRYPOINT:-docker-entrypoint.sh} "$@"
