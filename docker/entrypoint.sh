#!/bin/sh
# Container entry point. The web container applies database migrations before gunicorn starts
# (set MIGRATE_ON_START=0 to skip, e.g. with several web replicas and a separate migrate job);
# any other command (the Celery worker, manage.py ...) runs as given.
set -eu

if [ "${1:-}" = "gunicorn" ] && [ "${MIGRATE_ON_START:-1}" = "1" ]; then
    echo "entrypoint: applying database migrations" >&2
    python manage.py migrate --noinput
    python manage.py ensure_roles
fi

exec "$@"
