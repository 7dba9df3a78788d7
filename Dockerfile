# The service's image, built from the lock files (docs/operations.md, Docker).
#
# Base image: Python 3.11 on Debian 13 (trixie), as the python:3.11-slim used before, pinned by
# its full version tag and by the digest of its multi-platform index (as published for this tag;
# no registry is reachable from the machines this was written on). Both stages use the same one.
# To move it: `docker buildx imagetools inspect python:3.11.X-slim-trixie` prints the digest.
FROM python:3.11.16-slim-trixie@sha256:1042b61448fef4ba92d16a8c7eb4996d027568ce64792a7877fd88511e0af7c6 AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src
# The dependencies first, in a layer of their own: only a change of a lock file rebuilds it, not a
# change of app/. Every file downloaded is checked against the lock's hashes, and nothing outside
# the lock is installed (--no-deps; `pip check` below proves the lock complete). Releases that
# ship no wheel (ratelimit) are built with the locked setuptools, not with whatever is newest.
COPY requirements.lock requirements-build.lock ./
RUN pip install --require-hashes --no-deps -r requirements-build.lock \
    && pip wheel --require-hashes --no-deps --no-build-isolation --wheel-dir /tmp/wheels \
        -r requirements.lock \
    && python -m venv --without-pip /opt/assistcal \
    && pip --python /opt/assistcal/bin/python install --no-deps --no-index /tmp/wheels/*.whl

# Then the service itself: its wheel built the same way, installed without dependencies. The
# virtualenv holds no pip nor setuptools: the builder's own pip installs into it.
COPY pyproject.toml README.md ./
COPY app ./app
COPY migrations ./migrations
RUN pip wheel --no-deps --no-build-isolation --no-index --wheel-dir /tmp/dist . \
    && pip --python /opt/assistcal/bin/python install --no-deps --no-index /tmp/dist/assistcal-*.whl \
    && pip --python /opt/assistcal/bin/python check


# What runs: the base image and the virtualenv, none of the build's tools or files.
FROM python:3.11.16-slim-trixie@sha256:1042b61448fef4ba92d16a8c7eb4996d027568ce64792a7877fd88511e0af7c6

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/assistcal/bin:$PATH \
    ASSISTCAL_DATABASE_URL=sqlite:////data/assistcal.db

# WeasyPrint (GET /calendar.pdf) draws text with Pango (1.44 or later) and needs fonts:
# Debian's, with nothing recommended beside them.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
        libharfbuzz-subset0 fonts-dejavu-core fonts-liberation \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --no-create-home assistcal \
    && mkdir -p /data && chown assistcal /data
COPY --from=builder /opt/assistcal /opt/assistcal

WORKDIR /srv/assistcal
USER assistcal
VOLUME ["/data"]
EXPOSE 8000
# Ready once the database answers at the latest migration; serve applies the migrations first,
# which on a large database may take a while: failures in the first minute do not count.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=3)"
CMD ["assistcal", "serve", "--host", "0.0.0.0", "--port", "8000"]
