#!/usr/bin/env bash
# The official postgres image's start-up contract, in the part our compose file uses:
#   as root: own the data directory, then run again as postgres (uid 999);
#   as postgres: read POSTGRES_* (or POSTGRES_*_FILE — so a secret file must be readable by
#   uid 999, as with the official image), initialise an empty data directory, create the
#   database, run /docker-entrypoint-initdb.d/*.sh|*.sql once (docker-compose.yml mounts
#   deploy/postgres/initdb-roles.sh there), then exec the server.
set -Eeuo pipefail

# file_env VAR [DEFAULT]: VAR from itself or from the file VAR_FILE names; both set is an error.
file_env() {
  local var=$1 file_var="${1}_FILE" default=${2:-}
  if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
    echo "error: both $var and $file_var are set (but are exclusive)" >&2
    exit 1
  fi
  local value=$default
  if [ -n "${!var:-}" ]; then
    value=${!var}
  elif [ -n "${!file_var:-}" ]; then
    value=$(<"${!file_var}")
  fi
  export "$var"="$value"
  unset "$file_var"
}

if [ "${1:-}" = postgres ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA"
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

if [ "${1:-}" = postgres ]; then
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "$POSTGRES_PASSWORD" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != trust ]; then
      echo "error: database is uninitialized and superuser password is not specified." >&2
      echo "       set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE)" >&2
      exit 1
    fi
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
      --auth-local=trust --auth-host="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" \
      ${POSTGRES_INITDB_ARGS:-} >/dev/null
    echo "host all all all ${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >>"$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    # A private server (no TCP) for the one-time set-up, as the official image does.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    if [ "$POSTGRES_DB" != postgres ]; then
      psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -q \
        --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    # As the official image does: an executable *.sh runs as a program, any other is sourced
    # (so it sees this shell's variables and stops the initialisation when it fails).
    for f in /docker-entrypoint-initdb.d/*; do
      case "$f" in
        *.sh)
          if [ -x "$f" ]; then
            echo "running $f"; "$f"
          else
            echo "sourcing $f"; . "$f"
          fi
          ;;
        *.sql) echo "running $f"; psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$f" ;;
      esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "PostgreSQL init process complete; ready for start up."
  fi
  unset POSTGRES_PASSWORD
fi

exec "$@"
