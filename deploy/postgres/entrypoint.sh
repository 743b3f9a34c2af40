#!/bin/sh
# Runs before the postgres image's own entrypoint (docker-compose.yml mounts it). Outside Swarm,
# compose bind-mounts secret files with the host's owner and mode, and the postgres image reads
# POSTGRES_PASSWORD_FILE only after dropping to its postgres user: a file an operator made with
# `umask 077` cannot be read there, and the database never initialises. The same goes for the
# two roles' passwords, which deploy/postgres/initdb-roles.sh reads as the postgres user. As
# root, this hands the postgres user a private copy of each (0400, in a 0700 directory of its
# own) and points the image at it.
set -eu

if [ "$(id -u)" = 0 ]; then
  dir=${POSTGRES_SECRETS_DIR:-/run/postgres-secrets}
  for name in POSTGRES_PASSWORD POSTGRES_MIGRATION_PASSWORD POSTGRES_APP_PASSWORD; do
    file=$(printenv "${name}_FILE" || true)
    [ -n "$file" ] || continue
    mkdir -p "$dir"
    chown postgres:postgres "$dir"
    chmod 700 "$dir"
    install -o postgres -g postgres -m 0400 "$file" "$dir/$name"
    export "${name}_FILE=$dir/$name"
  done
fi

exec ${POSTGRES_NEXT_ENTRYPOINT:-docker-entrypoint.sh} "$@"
