"""Why a run failed, in a few lines: the root cause of each failed step (the `Failure`
description, or the innermost error of the cause chain rather than Dagster's wrapper), grouped
when several steps failed for the same reason, with what to change."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from talk_assets.systems import registry

OWN_ERRORS = {
    "ConfigError",
    "UserError",
    "AuthError",
    "ConfigurationError",
    "SystemUnavailable",
    "RequestFailed",
    "ApiError",
    "NotFound",
    "WriteRejected",
    "OutcomeUnknown",
    "ConnectorError",
}


@dataclass(frozen=True)
class StepFailure:
    step: str
    kind: str
    """The root cause's class (`AuthError`, `Failure`, ...)."""
    message: str
    system: str | None = None
    datatype: str | None = None
    writing: bool = False

    @property
    def what(self) -> str:
        if self.datatype and self.system:
            verb = "writing" if self.writing else "reading"
            return f"{verb} {self.system}.{self.datatype}"
        return f"step {self.step}"


def _root(error) -> tuple[str, str]:
    """(class name, message) of the innermost cause; our own errors win over wrappers."""
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause or error.context
    ours = [e for e in chain if (e.cls_name or "") in OWN_ERRORS]
    pick = ours[0] if ours else chain[-1]
    text = (pick.message or "").strip()
    # "package.module.Class: message" -> "message"
    text = re.sub(rf"^[\w.]*\b{re.escape(pick.cls_name or '')}: ", "", text, count=1)
    return pick.cls_name or "Error", text.strip()


def _place(step: str) -> tuple[str | None, str | None]:
    """(system, datatype) of a source step key `acme__widgets` or a datatype `acme.widgets`."""
    parts = step.replace(".", "__", 1).split("__")
    if len(parts) == 2 and parts[0] in registry.names():
        return parts[0], parts[1]
    return None, None


def _failed_sinks(user) -> dict[str, str]:
    """datatype key -> what happened, of a sync step whose sinks failed for some datatypes."""
    entry = (user.metadata or {}).get("failed_sinks") if user is not None else None
    value = getattr(entry, "value", None)
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def step_failures(result) -> list[StepFailure]:
    """The failed steps of an `execute_in_process` result (skipped steps are not failures)."""
    out = []
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        user = data.user_failure_data
        sinks = _failed_sinks(user)
        if sinks:
            out += [
                StepFailure(event.step_key or "?", "Failure", message, *_place(key), True)
                for key, message in sinks.items()
            ]
            continue
        if user is not None and user.description:
            kind, message = "Failure", user.description
        elif data.error is not None:
            kind, message = _root(data.error)
        else:
            kind, message = "Error", "failed"
        system, datatype = _place(event.step_key or "")
        out.append(StepFailure(event.step_key or "?", kind, message, system, datatype))
    return out


def _fix(f: StepFailure) -> str | None:
    spec = None
    if f.system:
        spec = registry.spec(f.system)
    urls = f"{spec.env_var('base_url')} and {spec.env_var('token_url')}" if spec else None
    if f.kind == "AuthError" and spec:
        creds = ", ".join(spec.env_var(a) for a in spec.credentials)
        return f"check {creds} (and {spec.env_var('token_url')}); `talk-assets check` tests them"
    if f.kind == "SystemUnavailable" and spec:
        return (
            f"check {urls}, and that {spec.title} is up there (for the emulators: "
            "`talk-assets emulate`); `talk-assets check` tests the connection"
        )
    if f.kind in ("ApiError", "NotFound") and spec and "HTTP 403" in f.message:
        return f"the credentials have no access to {f.system}.{f.datatype}: grant it to them"
    if f.kind == "RequestFailed":
        return "the system kept failing: try again later"
    if f.kind in ("Failure", "ConfigurationError"):
        return None  # their description says what to do
    return "see the log"


def explain(failures: Sequence[StepFailure]) -> list[str]:
    """A few lines: per distinct cause, what failed (systems, datatypes), why and what to change."""
    groups: dict[tuple[str, str], list[StepFailure]] = {}
    for f in failures:
        groups.setdefault((f.kind, f.message), []).append(f)
    lines = []
    for (_kind, message), group in groups.items():
        lines.append(_whats(group) if not lines else f"also: {_whats(group)}")
        lines.append(f"  why: {message}")
        fix = _fix(group[0])
        if fix:
            lines.append(f"  fix: {fix}")
    return lines or ["the run failed"]


def _whats(group: Iterable[StepFailure]) -> str:
    group = list(group)
    if len(group) == 1:
        return group[0].what
    systems = {f.system for f in group}
    if len(systems) == 1 and None not in systems and not any(f.writing for f in group):
        names = ", ".join(sorted(str(f.datatype) for f in group))
        return f"reading {group[0].system} ({names})"
    return ", ".join(f.what for f in group)


def summary(failures: Sequence[StepFailure]) -> str:
    """One line (`RunReport.error`): the first failed step and its cause."""
    if not failures:
        return "the run failed"
    f = failures[0]
    return f"{f.step}: {f.message}"
