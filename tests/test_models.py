"""The choice of device and dtype from what torch reports (pipelines/models.py)."""

from __future__ import annotations

import pytest

from pipelines.models import Accelerators, choose_device

CPU_ONLY = Accelerators()
MAC = Accelerators(mps=True)
AMPERE = Accelerators(cuda_count=2, cuda_bf16=True)
TURING = Accelerators(cuda_count=1, cuda_bf16=False)


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        (AMPERE, ("cuda", "bfloat16")),
        (TURING, ("cuda", "float16")),  # no bfloat16 before Ampere
        (Accelerators(cuda_count=1, mps=True), ("cuda", "float16")),
        (MAC, ("mps", "float32")),
        (CPU_ONLY, ("cpu", "float32")),
    ],
)
def test_auto_picks_cuda_then_mps_then_cpu_with_a_dtype_that_works_there(
    found: Accelerators, expected: tuple[str, str]
) -> None:
    assert choose_device("auto", "auto", found) == expected


def test_explicit_choices_are_kept_where_the_machine_has_them() -> None:
    assert choose_device("mps", "auto", MAC) == ("mps", "float32")
    assert choose_device("mps", "float16", MAC) == ("mps", "float16")
    assert choose_device("cuda:1", "auto", AMPERE) == ("cuda:1", "bfloat16")
    assert choose_device("cpu", "auto", AMPERE) == ("cpu", "float32")
    assert choose_device("cpu", "bfloat16", CPU_ONLY) == ("cpu", "bfloat16")


@pytest.mark.parametrize(
    ("device", "dtype", "found", "message"),
    [
        ("mps", "auto", CPU_ONLY, "LOOKALIKE_DEVICE='mps': this machine has no MPS"),
        ("cuda", "auto", MAC, "LOOKALIKE_DEVICE='cuda': this machine has 0 CUDA"),
        ("cuda:2", "auto", AMPERE, "has 2 CUDA device"),
        ("mps:0", "auto", MAC, "expected auto, cpu, mps, cuda or cuda:N"),
        ("tpu", "auto", AMPERE, "expected auto, cpu, mps"),
        ("cpu", "float8", CPU_ONLY, "LOOKALIKE_DTYPE='float8'"),
    ],
)
def test_unusable_choices_name_the_setting(
    device: str, dtype: str, found: Accelerators, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        choose_device(device, dtype, found)
