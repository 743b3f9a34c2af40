#!/bin/sh
# Runs before the grafana image's own entrypoint (/run.sh; docker-compose.yml mounts this). With
# no admin password Grafana keeps its well-known default, `admin`, for anyone who reaches its
# port: like the services without their secrets, it does not start that way. The password comes
# from GF_SECURITY_ADMIN_PASSWORD (GRAFANA_ADMIN_PASSWORD in .env), or from the file
# GF_SECURITY_ADMIN_PASSWORD__FILE names (deploy/compose.secrets.yml), which /run.sh then reads
# itself. Grafana sets it on its first start only: RUNBOOK.md, "Grafana's admin password".
set -eu

refuse() {
  printf '[grafana-entrypoint] %s\n' "$*" >&2
  exit 1
}

password=${GF_SECURITY_ADMIN_PASSWORD:-}
file=${GF_SECURITY_ADMIN_PASSWORD__FILE:-}
if [ -n "$file" ]; then
  [ -z "$password" ] ||
    refuse "GF_SECURITY_ADMIN_PASSWORD and GF_SECURITY_ADMIN_PASSWORD__FILE are both set: keep one"
  # Grafana runs as uid 472: a secret file made with `umask 077` needs `chown 472`.
  [ -r "$file" ] ||
    refuse "GF_SECURITY_ADMIN_PASSWORD__FILE: cannot read $file as uid $(id -u) (chown it to that uid)"
  password=$(cat "$file")
  name="the file GF_SECURITY_ADMIN_PASSWORD__FILE names ($file)"
else
  name="GF_SECURITY_ADMIN_PASSWORD (GRAFANA_ADMIN_PASSWORD in .env)"
fi

case $password in
  "") refuse "GF_SECURITY_ADMIN_PASSWORD is not set: set GRAFANA_ADMIN_PASSWORD in .env, or GF_SECURITY_ADMIN_PASSWORD__FILE; without it Grafana's admin password would be \`admin\`" ;;
  admin) refuse "$name is \`admin\`, Grafana's well-known default: choose another" ;;
esac

exec ${GRAFANA_NEXT_ENTRYPOINT:-/run.sh} "$@"
