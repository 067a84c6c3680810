# The Spyglass collector: receiver, REST API and pages on port 4318, SQLite in the /data volume
# (or PostgreSQL through SPYGLASS_DATABASE_URL). `docker compose up` builds and runs it; see
# docker-compose.yml.
#
# Two stages: `build` turns the source into a wheel (templates and migrations travel inside the
# app package), and the runtime stage installs the pinned dependencies, then that wheel. Neither
# the source nor the build backend ends up in the image, and a change to the source rebuilds only
# the last two layers.

# Pinned to a patch release, so that a rebuild gets the same Python. Bump it on purpose.
FROM python:3.12.15-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore


FROM base AS build
# The build backend, pinned like the dependencies (pyproject.toml asks for hatchling>=1.25).
RUN pip install --no-cache-dir \
        hatchling==1.33.0 packaging==26.4 pathspec==1.1.1 pluggy==1.7.0 tomlkit==0.15.3 \
        trove-classifiers==2026.9.21.13
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY templates ./templates
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --no-build-isolation --no-deps --wheel-dir /wheels .


FROM base
# A fixed uid, so that files in a bind-mounted /data can be given to it (chown 10001).
RUN groupadd --system --gid 10001 spyglass \
    && useradd --system --uid 10001 --gid spyglass --create-home --home-dir /home/spyglass \
        --shell /usr/sbin/nologin spyglass \
    && mkdir /data \
    && chown spyglass:spyglass /data

# Dependencies first: this layer is rebuilt only when docker/requirements.txt changes.
COPY docker/requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --requirement /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the collector itself. `pip check` fails the build if the pins no longer satisfy
# pyproject.toml's dependencies.
COPY --from=build /wheels/ /tmp/wheels/
RUN pip install --no-cache-dir --no-deps /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels \
    && pip check

# Listen on every interface of the container (publishing the port decides who can reach it),
# and keep the SQLite file in the volume.
ENV SPYGLASS_HOST=0.0.0.0 \
    SPYGLASS_PORT=4318 \
    SPYGLASS_DATA_DIR=/data
VOLUME /data
WORKDIR /home/spyglass
# By number, so that a platform can see it is not root without reading /etc/passwd.
USER 10001:10001
EXPOSE 4318

# The slim image has no curl: ask /healthz (which needs no token) with the standard library,
# on SPYGLASS_PORT if it was changed, and around any HTTP proxy set in the environment.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.build_opener(r.ProxyHandler({})).open('http://127.0.0.1:%s/healthz' % os.environ.get('SPYGLASS_PORT', '4318'), timeout=4)"]

# Settings come from the environment (SPYGLASS_*); see the README.
CMD ["spyglass", "serve"]
