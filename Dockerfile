# streamer: the HTTP streaming service (Flask app, gunicorn with gevent workers).
#
#   docker build -t streamer .            # behind a TLS-intercepting proxy, add:
#       --secret id=pip_ca,src=/etc/ssl/certs/ca-certificates.crt
#   docker run --rm -p 8000:8000 streamer
#
# Configuration is environment variables only (PORT, WEB_CONCURRENCY, STREAMER_*,
# OPENAI_API_KEY, REDIS_URL, ...; see the README). The image holds no secret and no
# config file. Debian's python3 (3.11 on bookworm) runs the service from a venv built in
# a separate stage; the runtime stage has neither pip nor setuptools nor build tools.

FROM debian:bookworm-slim AS build

# Versions come from the bookworm release (security updates flow in on rebuild);
# the Python packages are the pinned part. Hence DL3008 is waived for the apt lines.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*

RUN python3 -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
# The pip_ca secret is an optional CA bundle for networks whose HTTPS is intercepted:
# mounted for this step only, never stored in a layer.
RUN --mount=type=secret,id=pip_ca \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
        -r /tmp/requirements.txt \
    && /opt/venv/bin/pip uninstall --yes --disable-pip-version-check pip setuptools


FROM debian:bookworm-slim

# A non-root user with a fixed uid/gid (10001, so runAsNonRoot-style checks can see it is
# not root) and a home of its own for tools that write under $HOME.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 streamer \
    && useradd --uid 10001 --gid streamer --create-home --home-dir /home/streamer \
        --shell /usr/sbin/nologin streamer

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Owned by root and read-only for the service user. .dockerignore lists what is sent.
COPY . /app/

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8000

USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

# gunicorn is PID 1: it handles SIGTERM gracefully and reaps its workers.
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
