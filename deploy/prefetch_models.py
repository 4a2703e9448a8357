"""Download the generator's and the scorer's weights into the Hugging Face cache.

Run it where the worker will run, with the worker's settings and ``HF_HOME``, while the
machine still has internet (the day before the event), e.g.::

    docker compose run --rm -e HF_HUB_OFFLINE=0 worker python /app/prefetch_models.py

It reads ``LOOKALIKE_GENERATOR_MODEL``, ``LOOKALIKE_SCORER_MODEL`` and
``LOOKALIKE_SCORER_PRETRAINED`` with the worker's own settings (``pipelines.settings``),
so it fetches exactly what the worker will load. Running it again is cheap: cached files
are not fetched twice.
With ``LOOKALIKE_MODELS=tiny`` there is nothing to fetch.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from pipelines.settings import Settings, SettingsError

# The diffusers layout (one folder per component); not the single-file checkpoints
# that some repositories also carry at their root (sd-turbo: 5 GB more).
GENERATOR_FILES = ("model_index.json", "*/*.json", "*/*.txt", "*/*.model", "*/*.safetensors")


@dataclass(frozen=True)
class Plan:
    """What to fetch: a diffusers repository and an open_clip (model, pretrained tag)."""

    generator_repo: str | None
    scorer: tuple[str, str] | None


def plan(settings: Settings) -> Plan:
    """What the worker configured by ``settings`` will load from the hub."""
    if settings.models == "tiny":
        return Plan(generator_repo=None, scorer=None)
    generator = None if Path(settings.generator_model).exists() else settings.generator_model
    pretrained = settings.scorer_pretrained
    scorer = None if Path(pretrained).exists() else (settings.scorer_model, pretrained)
    return Plan(generator_repo=generator, scorer=scorer)


def fetch(todo: Plan) -> None:
    """Download what ``todo`` names into the Hugging Face cache (``HF_HOME``)."""
    if todo.generator_repo is not None:
        from huggingface_hub import snapshot_download

        path = snapshot_download(todo.generator_repo, allow_patterns=list(GENERATOR_FILES))
        print(f"generator {todo.generator_repo}: {path}")
    if todo.scorer is not None:
        import open_clip

        model, tag = todo.scorer
        cfg = open_clip.get_pretrained_cfg(model, tag)
        if not cfg:
            raise SystemExit(f"open_clip has no pretrained tag {tag!r} for model {model!r}")
        print(f"scorer {model}/{tag}: {open_clip.download_pretrained(cfg)}")


def main() -> int:
    """Fetch the weights named by the ``LOOKALIKE_*`` environment."""
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    todo = plan(settings)
    if todo == Plan(None, None):
        print("nothing to fetch (tiny models, or local paths)")
        return 0
    fetch(todo)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
