"""Each benchmark runs end to end at a tiny scale and prints its figures.

These are not timed assertions: the figures depend on the machine. They check that the
scripts work, so that the commands in benchmarks/README.md keep working.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(300)


def run_quick(module: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", module, "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_fanout_benchmark_compares_with_a_bare_websockets_broadcast() -> None:
    out = run_quick("benchmarks.fanout")
    assert "ours vs bare" in out
    for figure in ("last frame p99 (ms)", "throughput (frames/s)", "memory per subscriber (KB)"):
        assert figure in out
    assert "frames missed / screens lost" in out and "goals:" in out
    assert "uvicorn floor" in out and "general" in out


def test_the_submission_benchmark_compares_with_the_graphql_floor() -> None:
    out = run_quick("benchmarks.submit")
    assert "baseline { __typename }" in out
    assert "capacity: accepted submissions" in out and "x the baseline" in out
    assert "duplicate latency p50 / p99" in out
    assert "errors                                      none" in out
    assert "goals:" in out


def test_the_gpu_benchmark_says_what_it_ran_on() -> None:
    out = run_quick("benchmarks.gpu")
    assert "bare img/s" in out and "worker img/s" in out and "GPU busy" in out
    assert "original design (one at a time, PNG to a separate scorer)" in out
    if "NO CUDA GPU" in out:
        assert "not measured (no GPU)" in out
    assert "goals:" in out


def test_the_gpu_benchmark_builds_the_default_models_at_their_real_size() -> None:
    """The architectures in benchmarks/sd_turbo.json are SD-Turbo's (Stable Diffusion
    2.1's networks) and TAESD's: the parameter counts of the published checkpoints. Built
    on the meta device, so no memory is spent and nothing is initialised."""
    import torch

    from benchmarks.gpu import network

    with torch.device("meta"):
        networks = {name: network(name) for name in ("unet", "vae", "text_encoder", "taesd")}
    counts = {name: sum(p.numel() for p in net.parameters()) for name, net in networks.items()}
    assert counts == {
        "unet": 865_910_724,
        "vae": 83_653_863,
        "text_encoder": 340_387_840,
        "taesd": 2_445_063,
    }


def test_the_gpu_benchmark_counts_the_work_of_one_drawing() -> None:
    """TFLOP per 512x512 drawing, one step: the full VAE decoder costs three UNet passes,
    TAESD a sixth of one; the scorer is noise. (Counted on the meta device: shapes only.)"""
    from benchmarks.gpu import drawing_work

    full, tiny = drawing_work(taesd=False), drawing_work(taesd=True)
    assert list(full) == ["text encoder", "UNet", "VAE decoder", "scorer"]
    assert list(tiny) == ["text encoder", "UNet", "TAESD decoder", "scorer"]
    assert 0.7 < full["UNet"] < 0.9 and 2.3 < full["VAE decoder"] < 2.7
    assert tiny["TAESD decoder"] < full["UNet"] / 5 and full["scorer"] < 0.02
    assert full["text encoder"] == tiny["text encoder"] and full["UNet"] == tiny["UNet"]
