# The database roles, made once: docker-compose.yml mounts this file into
# /docker-entrypoint-initdb.d, whose scripts the postgres image runs when it initialises an empty
# data directory, on a private server (Unix socket only) where POSTGRES_USER needs no password.
# It applies deploy/postgres/roles.sql (mounted beside it) with these variables of the container:
#
#   POSTGRES_MIGRATION_USER, POSTGRES_MIGRATION_PASSWORD (or _FILE)   the role `migrate` uses
#   POSTGRES_APP_USER,       POSTGRES_APP_PASSWORD (or _FILE)         the role worker and landing use
#
# The official image sources a non-executable *.sh there and runs an executable one; its offline
# stand-in (deploy/offline/images/postgres) always sources. So this file is not executable, works
# either way, and never calls `exit`: a failure returns non-zero, which stops the entrypoint
# (both run under `set -e`) and so the initialisation, with the reason on stderr.
# A data directory that already exists never runs it again: RUNBOOK.md, "Database roles".

# fulfillment_secret NAME VALUE FILE: VALUE, or the content of FILE (trailing newlines dropped,
# like every secret file of the stack); exactly one of them must be set, and not empty.
fulfillment_secret() {
  if [ -n "$2" ] && [ -n "$3" ]; then
    echo "initdb-roles: both $1 and ${1}_FILE are set; keep one" >&2
    return 1
  fi
  if [ -n "$3" ]; then
    cat "$3" || return 1
  elif [ -n "$2" ]; then
    printf '%s' "$2"
  else
    echo "initdb-roles: set $1 (or ${1}_FILE)" >&2
    return 1
  fi
}

fulfillment_init_roles() {
  local migration_password app_password
  if [ -z "${POSTGRES_MIGRATION_USER:-}" ] || [ -z "${POSTGRES_APP_USER:-}" ]; then
    echo "initdb-roles: set POSTGRES_MIGRATION_USER and POSTGRES_APP_USER" >&2
    return 1
  fi
  migration_password=$(fulfillment_secret POSTGRES_MIGRATION_PASSWORD \
    "${POSTGRES_MIGRATION_PASSWORD:-}" "${POSTGRES_MIGRATION_PASSWORD_FILE:-}") || return 1
  app_password=$(fulfillment_secret POSTGRES_APP_PASSWORD \
    "${POSTGRES_APP_PASSWORD:-}" "${POSTGRES_APP_PASSWORD_FILE:-}") || return 1
  if [ -z "$migration_password" ] || [ -z "$app_password" ]; then
    echo "initdb-roles: a role's password is empty" >&2
    return 1
  fi
  echo "initdb-roles: creating $POSTGRES_MIGRATION_USER and $POSTGRES_APP_USER"
  psql -X -q -v ON_ERROR_STOP=1 --no-password \
    --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}" \
    -v migration_role="$POSTGRES_MIGRATION_USER" -v migration_password="$migration_password" \
    -v app_role="$POSTGRES_APP_USER" -v app_password="$app_password" \
    -f "${FULFILLMENT_ROLES_SQL:-/usr/local/share/fulfillment/roles.sql}"
}

fulfillment_init_roles
