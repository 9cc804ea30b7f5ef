""" "Did you mean": the one helper every unknown-name error uses (prompts, models, indexes,
suites, config keys, template variables)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = ["closest", "did_you_mean", "did_you_mean_file"]


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name most like ``name`` (difflib's ratio at least 0.6), else None."""
    import difflib

    candidates = [str(item) for item in known if str(item) != name]
    found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if not found:  # a different case only ("QA" for "qa") is still the likely intent
        found = [item for item in candidates if item.lower() == name.lower()][:1]
    return found[0] if found else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, or an empty string."""
    match = closest(name, known)
    return f" (did you mean '{match}'?)" if match is not None else ""


def did_you_mean_file(path: Path) -> str:
    """`` (did you mean 'evals/qa.yaml'?)`` for a typo'd file name: the closest sibling with
    the same suffix (a suite, a pipeline, a prompt file)."""
    try:
        siblings = [p.name for p in path.parent.iterdir() if p.suffix == path.suffix]
    except OSError:
        return ""
    match = closest(path.name, siblings)
    return f" (did you mean '{path.parent / match}'?)" if match is not None else ""
