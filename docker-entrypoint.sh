#!/bin/sh
# web: apply migrations, then serve. worker: run the arq expiry sweeper.
set -eu
case "${1:-web}" in
  web)
    python -m app.db.migrate
    # --no-access-log: our own access log (app/web/accesslog.py) redacts ids and tokens.
    exec uvicorn --factory app.web.app:create_served_app --host 0.0.0.0 --port 8000 \
      --workers "${WEB_CONCURRENCY:-2}" --no-proxy-headers --no-server-header --no-access-log \
      --loop uvloop --http httptools
    ;;
  worker)
    exec python -m app.worker
    ;;
  migrate)
    exec python -m app.db.migrate
    ;;
  *)
    exec "$@"
    ;;
esac
