# Safe Share: multi-stage build, runs as a non-root user.
#   web:    docker run IMAGE                (applies migrations, then serves on :8000)
#   worker: docker run IMAGE worker         (the arq expiry sweeper; needs SAFE_SHARE_REDIS_URL)
FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY app ./app
# Install the dependencies only; the code itself runs from /srv/safe-share (PYTHONPATH).
RUN python -m venv /venv && /venv/bin/pip install --upgrade pip && /venv/bin/pip install . \
    && /venv/bin/pip uninstall -y safe-share

FROM python:3.11-slim AS runtime
ENV PATH=/venv/bin:$PATH PYTHONPATH=/srv/safe-share PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SAFE_SHARE_ENV=production
RUN groupadd --system safe && useradd --system --gid safe --home-dir /srv/safe-share --shell /usr/sbin/nologin safe
WORKDIR /srv/safe-share
COPY --from=build /venv /venv
COPY app ./app
COPY templates ./templates
COPY static ./static
COPY locales ./locales
COPY migrations ./migrations
COPY piccolo_conf.py docker-entrypoint.sh ./
RUN chmod 0555 docker-entrypoint.sh && chown -R root:root /srv/safe-share
USER safe
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
ENTRYPOINT ["./docker-entrypoint.sh"]
CMD ["web"]
