# NixFleet dashboard: one process serving agents (/ws), browsers and the API on port 8000; data in /data.
#   docker build -t nixfleet .                      (or: just build-image)
#   docker build --build-arg BASE_IMAGE=python:3.12-slim -t nixfleet .
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so this layer is rebuilt only when they change.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the source (see .dockerignore), installed without touching the dependencies again.
COPY README.md ./
COPY nixfleet ./nixfleet
RUN pip install --no-cache-dir --no-deps . \
    && rm -rf build ./*.egg-info

RUN groupadd --system --gid 10001 nixfleet \
    && useradd --system --uid 10001 --gid nixfleet --home-dir /data --no-create-home nixfleet \
    && mkdir -p /data \
    && chown nixfleet:nixfleet /data

# Numeric, so orchestrators can verify runAsNonRoot.
USER 10001:10001
ENV NIXFLEET_DATA_DIR=/data
# Run from the volume, so anything written relative to the working directory lands in /data, writable and kept.
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000

# /health answers 200 once the store is open (503 while starting); python's urllib, since slim images have no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('NIXFLEET_LISTEN', ':8000').rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4)"]

CMD ["nixfleet", "serve"]
