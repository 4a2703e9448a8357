# syntax=docker/dockerfile:1.7
# The web server: pages, GraphQL (HTTP and WebSocket), images, /metrics. No GPU stack.
# Build from the repository root:
#   docker build -f deploy/server.Dockerfile -t lookalike/server:0.1.0 .

# --- 1. the pages
FROM node:22-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci
COPY web/ ./
RUN npm run build

# --- 2. the server
FROM python:3.11-slim-bookworm AS server
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# tini as PID 1 forwards SIGTERM to the server so uvicorn can close WebSockets cleanly.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 lookalike \
 && useradd --system --uid 10001 --gid lookalike --home-dir /app --shell /usr/sbin/nologin lookalike
WORKDIR /app
# The server's run-time requirements only: pyproject's base and `server` extra, never the
# `pipelines` extra (torch & co.: gigabytes of CUDA wheels). tests/test_deploy.py keeps the
# list in step with pyproject, and the layer rule keeps torch out of server imports.
COPY deploy/requirements-server.txt /tmp/requirements-server.txt
RUN --mount=type=cache,target=/root/.cache/pip pip install -r /tmp/requirements-server.txt
COPY pyproject.toml README.md ./
COPY server/ server/
# The server speaks the pipelines' contract (pipelines.contract, .connection: plain Python);
# the check below fails the build if the GPU stack came along.
COPY pipelines/ pipelines/
# Editable, so the code runs from /app and finds web/dist beside it as in a checkout.
RUN --mount=type=cache,target=/root/.cache/pip pip install --no-deps --editable . \
 && python -c "import server.app, server.cli, pipelines.contract" \
 && python -c "import importlib.util as u; assert not u.find_spec('torch'), 'GPU stack'"
COPY --from=web /src/web/dist web/dist
RUN mkdir -p /data && chown 10001:10001 /data
ENV LOOKALIKE_DATA_DIR=/data
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-m", "server.metrics", "probe", "http://127.0.0.1:8000/healthz"]
ENTRYPOINT ["tini", "--"]
CMD ["lookalike", "serve", "--host", "0.0.0.0", "--port", "8000"]
