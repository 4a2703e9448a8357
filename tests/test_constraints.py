"""constraints.txt pins one release of everything pyproject.toml asks for, inside its range."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def pins() -> dict[str, Version]:
    found: dict[str, Version] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, _, version = line.partition("==")
        assert version and " " not in line, f"not an exact pin: {line!r}"
        assert canonicalize_name(name) not in found, f"pinned twice: {name}"
        found[canonicalize_name(name)] = Version(version)
    return found


def test_every_dependency_is_pinned_inside_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert {"server", "pipelines", "test"} <= set(extras)
    declared = [*project["dependencies"], *(d for deps in extras.values() for d in deps)]
    pinned = pins()
    for spec in map(Requirement, declared):
        name = canonicalize_name(spec.name)
        if name == canonicalize_name(project["name"]):
            continue  # an extra that pulls in others ("test" pulls server and pipelines)
        assert name in pinned, f"{spec.name} is not in constraints.txt: add its pin"
        assert spec.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {spec.name}=={pinned[name]}, outside pyproject's {spec}"
        )


def test_the_gpu_benchmarks_wheels_are_pinned_too() -> None:
    """benchmarks/gpu-wheels.txt names packages; their versions come from the pins."""
    lines = (ROOT / "benchmarks" / "gpu-wheels.txt").read_text().splitlines()
    names = [canonicalize_name(n) for n in lines if n.strip() and not n.startswith("#")]
    assert names and set(names) <= set(pins()), set(names) - set(pins())
