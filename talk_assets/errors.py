"""The product's own errors: failures a user can fix. `talk-assets` prints them in a few lines
(what failed, why, what to change) and never with a traceback."""

from __future__ import annotations

import os


class UserError(Exception):
    """A failure the user can fix. `what` failed, `why` (the system's own answer where there is
    one), and `fix`: the variable, flag or command to change."""

    exit_code = 1

    def __init__(
        self,
        what: str,
        *,
        why: str | None = None,
        fix: str | None = None,
        exit_code: int | None = None,
        details: list[str] | None = None,
    ) -> None:
        super().__init__(what)
        self.what = what
        self.details = list(details or [])
        self.why = why
        self.fix = fix
        if exit_code is not None:
            self.exit_code = exit_code

    def lines(self) -> list[str]:
        out = [self.what]
        if self.why:
            out += [f"  why: {line}" for line in self.why.splitlines()]
        if self.fix:
            out += [f"  fix: {line}" for line in self.fix.splitlines()]
        return out + self.details

    def __str__(self) -> str:
        return "\n".join(self.lines())


class ConfigError(UserError):
    """The configuration is unusable; found before any request was sent."""

    exit_code = 2

    def __init__(self, problems: str | list[str], *, what: str = "configuration error") -> None:
        problems = [problems] if isinstance(problems, str) else list(problems)
        self.problems = problems
        super().__init__(what, why="\n".join(problems))

    def lines(self) -> list[str]:
        if len(self.problems) == 1:
            return [f"{self.what}: {self.problems[0]}"]
        return [f"{self.what}:", *(f"  {p}" for p in self.problems)]


def number_problem(name: str, *, whole: bool = True, minimum: float = 0) -> str | None:
    """Why the variable `name` is no valid number (None when unset or valid)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        return f"{name} must be {kind}, got {raw!r}"
    if value < minimum:
        return f"{name} must be at least {minimum:g}, got {raw!r}"
    return None


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    """A whole number from the environment; `ConfigError` naming the variable when it is not."""
    problem = number_problem(name, whole=True, minimum=minimum)
    if problem:
        raise ConfigError(problem)
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def env_float(name: str, default: float, *, minimum: float = 0) -> float:
    problem = number_problem(name, whole=False, minimum=minimum)
    if problem:
        raise ConfigError(problem)
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default
