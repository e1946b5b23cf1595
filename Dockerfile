# syntax=docker/dockerfile:1
#
# One image for every process of the service; the command picks the role:
#   integrations migrate | worker --queue general | worker --queue sftp | api | codec-server
#
#   docker build -t enterprise-integrations:local .
#   docker run --rm enterprise-integrations:local --help
#
# The container runs as an unprivileged user and writes nowhere but /tmp and the landing-zone
# volume, so it can run with a read-only root filesystem (docker-compose.yml does).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtualenv with the project and its pinned dependencies --------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# .dockerignore keeps .venv, .dev, .git, caches and secrets out of the context.
COPY . .

# Dependencies are pinned in pyproject.toml; the Temporal dev-server and test-server binaries
# are a dev extra, so the image (which talks to a real cluster) does not carry them.
# The migration runner reads the SQL files from <site-packages>/migrations (next to the
# installed `integrations` package), so they are shipped there.
RUN pip install . \
    && site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    && rm -rf "${site}/migrations" \
    && cp -r migrations "${site}/migrations" \
    && python -c "from stores.migrations import discover; print(len(discover()), 'migration(s) packaged')" \
    && integrations --help > /dev/null

# --- runtime: the virtualenv on a clean slim image, as a non-root user -------------------------
FROM ${PYTHON_IMAGE} AS runtime

# gnupg: the PGP activities drive the `gpg` binary through python-gnupg.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends gnupg \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 integrations \
    && useradd --system --uid 10001 --gid integrations --home-dir /tmp \
       --no-create-home --shell /usr/sbin/nologin integrations \
    && mkdir -p /var/lib/integrations/landing \
    && chown -R integrations:integrations /var/lib/integrations

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    GNUPGHOME=/tmp/gnupg \
    INTEGRATIONS_LANDING_ZONE_DIR=/var/lib/integrations/landing \
    INTEGRATIONS_API_HOST=0.0.0.0 \
    INTEGRATIONS_API_PORT=8080 \
    INTEGRATIONS_CODEC_SERVER_HOST=0.0.0.0 \
    INTEGRATIONS_CODEC_SERVER_PORT=8081

# An empty, root-owned working directory: nothing relative is ever written.
WORKDIR /app
VOLUME ["/var/lib/integrations/landing"]
# 8080 API, 8081 codec server, 9464 Prometheus metrics (workers, when INTEGRATIONS_METRICS_PORT).
EXPOSE 8080 8081 9464

USER 10001:10001
ENTRYPOINT ["integrations"]
CMD ["--help"]
