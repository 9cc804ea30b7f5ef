"""Shared by every benchmark script: figures, timing, the --json/--quick convention, peers.

Standard library only, so the peer scripts in ``_peers/`` (run by the peers venv's Python,
where llmops is not installed) import it too.

A script builds its parser with :func:`parser`, records :class:`Figure` rows in a
:class:`Report`, and ends with ``report.finish()``: that prints the side-by-side table and,
with ``--json PATH``, writes the figures for ``run_all.py``. ``--quick`` asks for smaller
sizes (each script picks them). A script that cannot run here calls ``report.skip(reason)``.

Peers (MLflow, faiss, Arize Phoenix...) never enter the project's venv: :func:`peer_python`
creates ``~/.cache/llmops-bench/peers-venv`` on first use (``LLMOPS_BENCH_PEERS_VENV``
overrides the path), pip-installs the peer there, and scripts run the peer's measurement as a
subprocess of that venv (:func:`run_peer`). A peer that fails to install is remembered
(``.failed-NAME`` in the venv, with the reason) and its figures say "peer unavailable";
``LLMOPS_BENCH_RETRY_PEERS=1`` tries again, ``LLMOPS_BENCH_NO_PEERS=1`` installs nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEERS_DIR = HERE / "_peers"
PEERS_VENV = Path(
    os.environ.get(
        "LLMOPS_BENCH_PEERS_VENV", Path.home() / ".cache" / "llmops-bench" / "peers-venv"
    )
)
# pip requirement -> the module that proves it works
PEER_PACKAGES = {
    "mlflow": "mlflow",
    "faiss-cpu": "faiss",
    "arize-phoenix": "phoenix.server.main",
    "opentelemetry-sdk": "opentelemetry.sdk.trace",
    "chromadb": "chromadb",
}


@dataclass(frozen=True)
class Measurement:
    """Median of ``runs`` samples, with their min and max."""

    median: float
    low: float
    high: float
    runs: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_samples(cls, samples: list[float]) -> Measurement:
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        return cls(data["median"], data["low"], data["high"], data["runs"])


def measure(function: Callable[[], float], runs: int = 5, warmup: int = 0) -> Measurement:
    """Call ``function`` (which returns one sample: seconds per op, items/s...) ``runs``
    times after ``warmup`` untimed calls; the median and the min-max spread."""
    for _ in range(warmup):
        function()
    return Measurement.from_samples([function() for _ in range(runs)])


def interleave(steps: Sequence[Callable[[], object]], rounds: int) -> None:
    """Call each of ``steps`` once per round, in the given order on even rounds and reversed
    on odd ones, so load drift and warm caches hit every side alike (A B, B A, A B...)."""
    for index in range(rounds):
        for step in steps if index % 2 == 0 else list(reversed(steps)):
            step()


# two-sided 95% Student t quantiles by degrees of freedom; beyond 30 the normal's 1.96
_T95 = [12.71, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]
_T95 += [2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086]
_T95 += [2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def paired_ci(ours: Sequence[float], theirs: Sequence[float]) -> tuple[float, float] | None:
    """95% CI of the ratio ``ours / theirs`` over paired samples (taken in the same round of
    :func:`interleave`): a Student t interval of the mean log ratio, so a 10x and a 0.1x pair
    weigh alike. None below two pairs, where nothing can be resolved."""
    if len(ours) != len(theirs) or len(ours) < 2:
        return None
    logs = [math.log(a / b) for a, b in zip(ours, theirs, strict=True)]
    df = len(logs) - 1
    half = (_T95[df - 1] if df <= len(_T95) else 1.96) * statistics.stdev(logs) / len(logs) ** 0.5
    mean = statistics.fmean(logs)
    return math.exp(mean - half), math.exp(mean + half)


def resolved(ci: tuple[float, float] | None) -> bool:
    """Whether a :func:`paired_ci` excludes a ratio of 1 (the difference stands out of the
    spread)."""
    return ci is not None and (ci[0] > 1 or ci[1] < 1)


def ci_note(ci: tuple[float, float] | None) -> str:
    """The paired ratio's CI as a note, e.g. "paired ratio 95% CI 0.97-1.02x"."""
    if ci is None:
        return "one pair: difference not resolved"
    return f"paired ratio 95% CI {fmt(ci[0])}-{fmt(ci[1])}x"


def bootstrap_ci(
    items: Sequence[Any],
    statistic: Callable[[Sequence[Any]], float],
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile 95% bootstrap CI of ``statistic`` over ``items`` (seeded, so reruns agree)."""
    import random

    rng = random.Random(seed)
    values = sorted(
        statistic([items[rng.randrange(len(items))] for _ in items]) for _ in range(resamples)
    )
    return values[int(0.025 * (resamples - 1))], values[int(0.975 * (resamples - 1))]


def per_call(function: Callable[[], object], n: int) -> Callable[[], float]:
    """A sampler for :func:`measure`: seconds per call over a loop of ``n`` calls."""

    def sample() -> float:
        started = time.perf_counter()
        for _ in range(n):
            function()
        return (time.perf_counter() - started) / n

    return sample


@dataclass
class Figure:
    """One row of the table. ``value`` and ``peer_value`` are in ``unit``; the ratio is
    llmops / peer. ``peer`` names the peer or floor ("OTel SDK", "floor: raw sqlite3");
    ``peer_note`` says why a peer has no value ("peer unavailable: ...")."""

    name: str
    unit: str
    value: float | None
    higher_is_better: bool = False
    peer: str = ""
    peer_value: float | None = None
    peer_note: str = ""
    spread: tuple[float, float] | None = None
    spread_kind: str = "min-max"
    runs: int = 1
    note: str = ""
    # False when the measured spread cannot tell llmops from the peer (see paired_ci)
    resolved: bool = True

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.peer_value:
            return None
        return self.value / self.peer_value

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Figure:
        data = {k: v for k, v in data.items() if k != "ratio"}
        if data.get("spread") is not None:
            data["spread"] = tuple(data["spread"])
        return cls(**data)


def figure(
    name: str,
    unit: str,
    measured: Measurement | float | None,
    *,
    higher_is_better: bool = False,
    peer: str = "",
    peer_value: Measurement | float | None = None,
    peer_note: str = "",
    note: str = "",
    scale: float = 1.0,
    resolved: bool = True,
) -> Figure:
    """A :class:`Figure` from measurements; ``scale`` converts both (seconds -> us: 1e6)."""

    def value(m: Measurement | float | None) -> float | None:
        if m is None:
            return None
        return (m.median if isinstance(m, Measurement) else m) * scale

    spread, runs = None, 1
    if isinstance(measured, Measurement):
        spread, runs = (measured.low * scale, measured.high * scale), measured.runs
    return Figure(
        name,
        unit,
        value(measured),
        higher_is_better,
        peer,
        value(peer_value),
        peer_note,
        spread,
        "min-max",
        runs,
        note,
        resolved,
    )


def target(value: float, limit: float, *, at_most: bool, text: str) -> str:
    ok = value <= limit if at_most else value >= limit
    return f"target {text}: {'ok' if ok else 'MISSED'}"


def fmt(value: float | None) -> str:
    """Three significant digits, thousands separated; '-' for None."""
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude == 0:
        return "0"
    for bound, digits in ((100, 0), (10, 1), (1, 2), (0.1, 3), (0.01, 4)):
        if magnitude >= bound:
            return f"{value:.{digits}f}"
    return f"{value:.3g}"


def cells(f: Figure) -> list[str]:
    """figure, llmops, peer / floor, ratio, llmops is, spread, note: as text."""
    llmops = "-" if f.value is None else f"{fmt(f.value)} {f.unit}".strip()
    if f.peer_value is not None:
        peer = f"{f.peer}: {fmt(f.peer_value)} {f.unit}".strip()
    elif f.peer or f.peer_note:
        peer = f"{f.peer}: {f.peer_note}" if f.peer and f.peer_note else f.peer or f.peer_note
    else:
        peer = "-"
    ratio = "-" if f.ratio is None else f"{fmt(f.ratio)}x"
    verdict = "-"
    if not f.resolved:
        verdict = "not resolved"
    elif f.ratio is not None and f.ratio > 0:
        factor = f.ratio if f.higher_is_better else 1 / f.ratio
        if abs(factor - 1) < 0.005:
            verdict = "same"
        elif factor > 1:
            verdict = f"{fmt(factor)}x better"
        else:
            verdict = f"{fmt(1 / factor)}x worse"
    spread = "-"
    if f.spread is not None:
        kind = f"{f.spread_kind}, n={f.runs}" if f.spread_kind == "min-max" else f.spread_kind
        spread = f"{fmt(f.spread[0])}-{fmt(f.spread[1])} ({kind})"
    return [f.name, llmops, peer, ratio, verdict, spread, f.note]


HEADER = ["figure", "llmops", "peer / floor", "ratio", "llmops is", "spread", "note"]
LEGEND = (
    "ratio = llmops / peer or floor, as measured; 'llmops is' reads it with the figure's "
    "direction (time: lower is better; rates and quality: higher); 'not resolved' where the "
    "95% CI of the paired ratio over interleaved runs includes 1 (no difference). Spread: "
    "min-max over n runs unless it says otherwise."
)


def text_table(rows: list[list[str]], header: list[str] = HEADER) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    for row in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    return "\n".join(line.rstrip() for line in lines)


def parser(doc: str | None) -> argparse.ArgumentParser:
    """The common options: --json PATH and --quick."""
    result = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    result.add_argument("--json", type=Path, default=None, help="also write the figures here")
    result.add_argument("--quick", action="store_true", help="smaller sizes, for a quick look")
    return result


@dataclass
class Report:
    """The figures of one script."""

    script: str
    title: str = ""
    json_path: Path | None = None
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def start(cls, script_file: str, args: argparse.Namespace, title: str = "") -> Report:
        return cls(Path(script_file).stem, title, args.json)

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def _write(self, status: str, reason: str = "") -> None:
        if self.json_path is None:
            return
        payload = {
            "script": self.script,
            "title": self.title,
            "status": status,
            "reason": reason,
            "seconds": time.perf_counter() - self.started,
            "figures": [f.as_dict() for f in self.figures],
            "notes": self.notes,
        }
        self.json_path.parent.mkdir(parents=True, exist_ok=True)
        self.json_path.write_text(json.dumps(payload, indent=1))

    def skip(self, reason: str) -> None:
        """Say why this script cannot run here, record it, and exit 0 (a skip is no error)."""
        print(f"skipped: {reason}")
        self._write("skipped", reason)
        sys.exit(0)

    def finish(self) -> None:
        if self.title:
            print(self.title)
        print(text_table([cells(f) for f in self.figures]))
        for line in self.notes:
            print(line)
        self._write("ok")


# -- peers --------------------------------------------------------------------------------


class PeerUnavailable(Exception):
    """The peer could not be installed or run; str() says why."""


def _venv_python() -> Path:
    return PEERS_VENV / "bin" / "python"


def _imports(python: Path, module: str) -> bool:
    done = subprocess.run(
        [str(python), "-c", f"import {module}"], capture_output=True, timeout=300, check=False
    )
    return done.returncode == 0


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    import fcntl

    PEERS_VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(PEERS_VENV.parent / "peers-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _last_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")] or lines[-1:] or ["unknown"]
    return errors[0][:200]


_READY: dict[str, Path] = {}


def peer_python(requirement: str) -> Path:
    """The peers venv's Python with ``requirement`` installed (installing it on first use).

    Raises :class:`PeerUnavailable` with the reason when it cannot be had."""
    if requirement not in _READY:
        _READY[requirement] = _install(requirement)
    return _READY[requirement]


def _install(requirement: str) -> Path:
    module = PEER_PACKAGES.get(requirement, requirement.replace("-", "_"))
    if os.environ.get("LLMOPS_BENCH_NO_PEERS"):
        raise PeerUnavailable("LLMOPS_BENCH_NO_PEERS is set")
    python = _venv_python()
    failed = PEERS_VENV / f".failed-{requirement}"
    with _locked():
        if python.exists() and _imports(python, module):
            return python
        if failed.exists() and not os.environ.get("LLMOPS_BENCH_RETRY_PEERS"):
            raise PeerUnavailable(failed.read_text().strip())
        base = getattr(sys, "_base_executable", sys.executable)
        print(f"installing peer {requirement} into {PEERS_VENV} (once)...", file=sys.stderr)
        if not python.exists():
            created = subprocess.run(
                [base, "-m", "venv", str(PEERS_VENV)], capture_output=True, text=True, check=False
            )
            if created.returncode:
                raise PeerUnavailable(f"venv failed: {_last_error(created.stderr)}")
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", requirement],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        if done.returncode == 0 and _imports(python, module):
            failed.unlink(missing_ok=True)
            return python
        reason = (
            f"pip install {requirement} failed: {_last_error(done.stderr)}"
            if done.returncode
            else f"import {module} fails after install"
        )
        failed.write_text(reason)
        raise PeerUnavailable(reason)


def run_peer(requirement: str, script: str, *args: str, timeout: float = 1800) -> dict[str, Any]:
    """Run ``_peers/<script>`` with the peers venv's Python; it prints one JSON object last."""
    python = peer_python(requirement)
    done = subprocess.run(
        [str(python), str(PEERS_DIR / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONPATH": str(HERE)},
    )
    if done.returncode:
        raise PeerUnavailable(f"{script} failed: {_last_error(done.stderr)}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def peer_or_reason(requirement: str, script: str, *args: str) -> dict[str, Any] | str:
    """:func:`run_peer`'s result, or the reason it is unavailable as a string."""
    try:
        return run_peer(requirement, script, *args)
    except (PeerUnavailable, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        print(f"peer unavailable: {exc}", file=sys.stderr)
        return f"peer unavailable: {exc}"
