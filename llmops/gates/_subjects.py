"""What a gate decides about: a prompt, model or index version (``kind:name@version``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmops._digits import ascii_int
from llmops._exceptions import InputError, NotFoundError
from llmops.gates._bundles import get_bundle
from llmops.store import GateToken, set_alias
from llmops.store import rollback_target as last_move

if TYPE_CHECKING:
    from llmops.store import Store

__all__ = [
    "Subject",
    "current_version",
    "move_alias",
    "parse_subject",
    "rollback_target",
    "split_subject",
]

_KINDS = ("prompt", "model", "index", "bundle")
_REF = re.compile(
    r"^(prompt|model|index|bundle):([A-Za-z0-9][A-Za-z0-9._/-]*)(?:@([A-Za-z0-9._-]+))?$"
)


@dataclass(frozen=True)
class Subject:
    """A resolved version of a prompt, model, RAG index, or a bundle of them.

    ``components`` maps each kind it pins to ``name@version``: one entry for a plain
    subject, up to three for a bundle.
    """

    kind: str
    name: str
    version: int
    components: tuple[tuple[str, str], ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def pins(self) -> dict[str, str]:
        return dict(self.components) if self.components else {self.kind: self.ref}

    def __str__(self) -> str:
        if self.kind == "bundle" and self.version == 0:  # what an alias points to now
            return " + ".join(f"{kind}:{ref}" for kind, ref in self.components)
        return f"{self.kind}:{self.ref}"


def split_subject(text: str) -> tuple[str, str, str]:
    """``kind:name@selector`` -> its parts (selector ``latest`` when absent)."""
    found = _REF.match(text.strip())
    if found is None:
        raise InputError(
            f"'{text}' is not a subject; write KIND:NAME@VERSION with KIND one of "
            f"{', '.join(_KINDS)} (e.g. prompt:qa@3, model:support@staging, index:docs@2)"
        )
    return found.group(1), found.group(2), found.group(3) or "latest"


def parse_subject(store: Store, text: str) -> Subject:
    """``prompt:qa@3``, ``model:support@staging`` or ``index:docs`` (latest) -> a version."""
    kind, name, selector = split_subject(text)
    if kind == "bundle":
        bundle = get_bundle(store, name, selector)
        return Subject(kind, name, bundle.version, tuple(sorted(bundle.components.items())))
    return Subject(kind, name, _resolve(store, kind, name, selector))


def _resolve(store: Store, kind: str, name: str, selector: str) -> int:
    # lazy, here and below: only the subject's own package loads (prompts, rag and registry
    # are heavy), so `import llmops.gates` stays light
    if kind == "prompt":
        from llmops.prompts import get_version, parse_ref

        _register_prompt_file(store, name)
        return get_version(store, name, parse_ref(f"{name}@{selector}")[1]).version
    if kind == "index":
        from llmops.rag import resolve_index

        return resolve_index(store, f"{name}@{selector}").version
    from llmops.registry import get_model_version

    number = ascii_int(selector)
    chosen: int | str = selector if number is None else number
    return get_model_version(store, name, chosen).version


def _register_prompt_file(store: Store, name: str) -> None:
    """The prompt file of ``name`` in prompts/, registered (idempotently) if there is one."""
    # lazy: as in _resolve, llmops.prompts loads only for a prompt subject
    from llmops.config import load_config
    from llmops.prompts import find_prompt_file, load_prompt_file, register_prompt

    try:
        path = find_prompt_file(load_config().path("prompts"), name)
    except NotFoundError:
        return
    register_prompt(store, load_prompt_file(path), message="registered by a gate")


def current_version(store: Store, kind: str, name: str, alias: str) -> int | None:
    """The version ``alias`` points to now, or None when it points nowhere yet."""
    try:
        return _resolve(store, kind, name, alias)
    except NotFoundError:
        return None


def load_owner(kind: str) -> None:
    """Import the package that owns ``kind``: it registers the kind with the alias service."""
    # imported here, not at the top, so `import llmops.gates` stays light
    if kind == "prompt":
        import llmops.prompts
    elif kind == "model":
        import llmops.registry
    elif kind == "index":
        import llmops.rag
    elif kind == "dataset":
        import llmops.evals  # noqa: F401


def move_alias(
    store: Store, subject: Subject, alias: str, *, reason: str, actor: str, gate: GateToken
) -> None:
    """Point ``alias`` of the subject at its version through the store's alias service, with
    the gate's token. A bundle moves the alias of each component in one transaction: all or
    none, each with the bundle's decision."""
    with store.write():
        for kind, ref in subject.pins.items():
            name, _, version = ref.rpartition("@")
            load_owner(kind)
            token = GateToken(gate.decision_id, f"{kind}:{ref}", alias)
            set_alias(
                store, kind, name, alias, int(version), reason=reason, actor=actor, gate=token
            )


def rollback_target(store: Store, kind: str, name: str, alias: str) -> Subject:
    """The version ``alias`` pointed to before its last move (what a rollback restores)."""
    if kind == "bundle":
        raise InputError(
            "a bundle's aliases roll back one component at a time: `llmops rollback "
            "prompt:NAME`, `model:NAME` or `index:NAME`"
        )
    load_owner(kind)
    previous = last_move(store, kind, name, alias).from_version
    assert previous is not None  # last_move refuses an alias with no earlier version
    return Subject(kind, name, previous)
