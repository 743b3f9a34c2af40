#!/bin/sh
# Renders alertmanager.yml (next to this script) with the operator's destinations, then runs the
# command it is given (Alertmanager, with --config.file pointing at the result):
#
#   ALERT_EMAIL_TO          who the on-call receiver mails (comma-separated addresses)
#   ALERT_EMAIL_FROM        the sender address
#   ALERT_SMTP_SMARTHOST    host:port of the mail server
#   ALERT_SMTP_USERNAME     SMTP login; empty: no authentication
#   ALERT_SMTP_PASSWORD     its password
#   ALERT_SMTP_REQUIRE_TLS  true (STARTTLS required, the default) or false
#   ALERT_HEARTBEAT_URL     the dead-man service's ping URL (the Watchdog alert goes there)
#
# Each can come from a file instead, named by the variable with _FILE appended (a secret that
# should not sit in the environment); the file must be readable by the user Alertmanager runs
# as. Alertmanager itself reads no environment variable in its configuration, hence this step.
# tests/tests/deploy/deploy_observability.rs runs this script to check the rendered file with amtool.
set -eu

here=$(dirname "$0")
source=${ALERTMANAGER_CONFIG_SOURCE:-$here/alertmanager.yml}
# Outside the read-only mount, and not on the data volume: the result may hold a password.
dir=${ALERTMANAGER_CONFIG_DIR:-/tmp/alertmanager}

log() { printf '[alertmanager-entrypoint] %s\n' "$*" >&2; }

# value NAME DEFAULT: the content of $NAME_FILE, else $NAME, else DEFAULT (with a warning when
# DEFAULT is a destination that delivers nothing).
value() {
  name=$1 default=$2
  eval "file=\${${name}_FILE:-}"
  eval "val=\${${name}:-}"
  if [ -n "$file" ]; then
    [ -r "$file" ] || { log "${name}_FILE: cannot read $file"; exit 1; }
    val=$(cat "$file")
  fi
  if [ -z "$val" ]; then
    val=$default
    case $default in
      *.invalid*) log "$name is not set: alerts sent there reach nobody (RUNBOOK.md, \"Where alerts go\")" ;;
    esac
  fi
  case $val in
    *"
"*) log "$name holds a line break"; exit 1 ;;
  esac
  # Rendered into a single-quoted YAML string, where a quote is written twice.
  printf '%s' "$val" | sed "s/'/''/g"
}

RENDER_ALERT_EMAIL_TO=$(value ALERT_EMAIL_TO "on-call@alerts-not-configured.invalid")
RENDER_ALERT_EMAIL_FROM=$(value ALERT_EMAIL_FROM "alertmanager@localhost")
RENDER_ALERT_SMTP_SMARTHOST=$(value ALERT_SMTP_SMARTHOST "smtp.alerts-not-configured.invalid:587")
RENDER_ALERT_SMTP_USERNAME=$(value ALERT_SMTP_USERNAME "")
RENDER_ALERT_SMTP_PASSWORD=$(value ALERT_SMTP_PASSWORD "")
RENDER_ALERT_SMTP_REQUIRE_TLS=$(value ALERT_SMTP_REQUIRE_TLS "true")
RENDER_ALERT_HEARTBEAT_URL=$(value ALERT_HEARTBEAT_URL "http://heartbeat-not-configured.invalid/")
case $RENDER_ALERT_SMTP_REQUIRE_TLS in
  true | false) ;;
  *) log "ALERT_SMTP_REQUIRE_TLS must be true or false, not $RENDER_ALERT_SMTP_REQUIRE_TLS"; exit 1 ;;
esac
export RENDER_ALERT_EMAIL_TO RENDER_ALERT_EMAIL_FROM RENDER_ALERT_SMTP_SMARTHOST \
  RENDER_ALERT_SMTP_USERNAME RENDER_ALERT_SMTP_PASSWORD RENDER_ALERT_SMTP_REQUIRE_TLS \
  RENDER_ALERT_HEARTBEAT_URL

umask 077
mkdir -p "$dir"
# Literal replacement (index/substr, not sub()): a value's '&' or '\' stays as it is. A
# placeholder this script does not fill is an error, not an empty string.
awk '
  {
    line = $0; out = ""
    while ((start = index(line, "${")) > 0) {
      len = index(substr(line, start), "}")
      if (len == 0) break
      name = substr(line, start + 2, len - 3)
      if (!(("RENDER_" name) in ENVIRON)) {
        printf "[alertmanager-entrypoint] %s line %d: unknown placeholder %s\n", FILENAME, NR, name > "/dev/stderr"
        failed = 1
      }
      out = out substr(line, 1, start - 1) ENVIRON["RENDER_" name]
      line = substr(line, start + len)
    }
    print out line
  }
  END { exit failed }
' "$source" >"$dir/alertmanager.yml.new"
mv "$dir/alertmanager.yml.new" "$dir/alertmanager.yml"
# The config names its templates relative to itself (templates/*.tmpl).
ln -sfn "$(cd "$(dirname "$source")" && pwd)/templates" "$dir/templates"

# Alertmanager needs none of these: they stay out of its environment.
unset RENDER_ALERT_EMAIL_TO RENDER_ALERT_EMAIL_FROM RENDER_ALERT_SMTP_SMARTHOST \
  RENDER_ALERT_SMTP_USERNAME RENDER_ALERT_SMTP_PASSWORD RENDER_ALERT_SMTP_REQUIRE_TLS \
  RENDER_ALERT_HEARTBEAT_URL ALERT_SMTP_PASSWORD ALERT_SMTP_PASSWORD_FILE
exec "$@"
