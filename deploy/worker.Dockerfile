# syntax=docker/dockerfile:1.7
# The GPU worker: diffusers generator + open_clip scorer, jobs in and results (pictures
# included) out on Redis streams. The pipelines alone: no web server, no shared volume.
# Build from the repository root:
#   docker build -f deploy/worker.Dockerfile -t lookalike/worker:0.1.0 .
# Run with a GPU (NVIDIA Container Toolkit): docker run --gpus all ...
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-runtime-ubuntu24.04

FROM ${CUDA_IMAGE} AS worker
# torch wheels for the same CUDA major.minor as the base image.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# tini as PID 1: SIGTERM reaches the worker, which finishes its batch before exiting.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 lookalike \
 && useradd --system --uid 10001 --gid lookalike --home-dir /app --shell /usr/sbin/nologin lookalike
# Ubuntu's Python is "externally managed" (PEP 668): install into a venv.
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# The CUDA build of torch first; pip then sees torch>=2.3 satisfied and keeps it.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --index-url ${TORCH_INDEX_URL} torch torchvision
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipelines/ pipelines/
# The `pipelines` extra only; nvidia-ml-py: the GPU utilisation gauge (pipelines/metrics.py
# reads NVML). The check fails the build if the worker needs the web server's packages.
RUN --mount=type=cache,target=/root/.cache/pip pip install ".[pipelines]" nvidia-ml-py \
 && python -c "import torch, diffusers, open_clip, pipelines.worker" \
 && python -c "import importlib.util as u; assert not u.find_spec('starlette'), 'web stack'"
COPY deploy/prefetch_models.py /app/prefetch_models.py
# Model weights live in the Hugging Face cache on a volume: downloaded once before the
# event (see deploy/README.md), kept across container restarts, read offline. /data is
# the worker's own scratch (tiny models when LOOKALIKE_MODELS=tiny), shared with no one:
# pictures go to the servers over the results stream.
RUN mkdir -p /data /models && chown 10001:10001 /data /models
ENV HF_HOME=/models/huggingface \
    HF_HUB_OFFLINE=1 \
    LOOKALIKE_DATA_DIR=/data \
    LOOKALIKE_WORKER_METRICS_HOST=0.0.0.0 \
    LOOKALIKE_WORKER_METRICS_PORT=9101
VOLUME ["/models"]
USER 10001:10001
EXPOSE 9101
# Metrics answer and the worker loop's heartbeat is fresh (0 while models load).
HEALTHCHECK --interval=20s --timeout=5s --start-period=300s --retries=3 \
  CMD ["python", "-m", "pipelines.metrics", "probe", "http://127.0.0.1:9101/metrics", "--max-heartbeat-age", "60"]
ENTRYPOINT ["tini", "--"]
CMD ["python", "-m", "pipelines.worker"]
