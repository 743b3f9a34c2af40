#!/bin/sh
# The services' container entrypoint: secrets as files. For every variable APP_<NAME>_FILE it
# exports APP_<NAME> with that file's content (trailing newlines dropped), the convention of
# Docker and Kubernetes secrets, so a secret never has to sit in the environment of the compose
# file or in `docker inspect`:
#
#   APP_STRIPE__SECRET_KEY_FILE=/run/secrets/stripe_secret_key  →  APP_STRIPE__SECRET_KEY
#
# Setting both APP_<NAME> (non-empty) and APP_<NAME>_FILE is refused (which one would win is a
# guess), as is a file that cannot be read. An empty APP_<NAME> counts as unset, so a compose
# override can blank a base value it replaces with a file (deploy/compose.secrets.yml). Then it runs the command (`ingress`, `worker run`, …) in its place.
#
# The image starts it as root, and it runs the command as the image's `app` user (uid 10001):
# outside Swarm, compose bind-mounts secret files with the host's owner and mode, so a file an
# operator made with `umask 077` is readable by root alone. Read as root, the secrets reach a
# process that holds no privilege. Started as another user (a platform that forbids root), it
# reads the files as that user and stays that user.
set -eu

for file_var in $(env | sed -n 's/^\(APP_[A-Za-z0-9_]*_FILE\)=.*/\1/p'); do
  name=${file_var%_FILE}
  path=$(printenv "$file_var")
  if [ -n "$(printenv "$name" || true)" ]; then
    echo "entrypoint: both $name and $file_var are set; keep one" >&2
    exit 64
  fi
  if [ ! -r "$path" ]; then
    echo "entrypoint: $file_var=$path is not a readable file" >&2
    exit 66
  fi
  value=$(cat "$path")
  export "$name=$value"
  unset "$file_var"
done

if [ "$(id -u)" = 0 ] && id app >/dev/null 2>&1; then
  exec setpriv --reuid=app --regid=app --clear-groups --inh-caps=-all --bounding-set=-all -- "$@"
fi
exec "$@"
