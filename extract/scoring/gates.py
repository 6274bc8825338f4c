"""Quality gates: minimum (or maximum) values for metrics of a JSON summary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from extract.core.errors import ConfigError

if TYPE_CHECKING:
    from extract.scoring.scorer import EvalReport

_MAX_PREFIX = "max_"


def resolve_metric(summary: Mapping[str, Any], path: str) -> float | None:
    """The value at a dotted metric path of a summary, e.g. ``fields.location.f1``.

    Keys may themselves contain dots (``subfields.location.place.f1``): at each level
    the longest run of path parts that is a key wins. Raises :class:`ConfigError` for
    a path that names nothing or names something that is not a number.
    """
    parts = path.split(".")
    node: Any = summary
    k = 0
    while k < len(parts):
        if not isinstance(node, Mapping):
            break
        for end in range(len(parts), k, -1):
            key = ".".join(parts[k:end])
            if key in node:
                node = node[key]
                k = end
                break
        else:
            break
    if k < len(parts):
        raise ConfigError(
            f"unknown metric {path!r}",
            hint='use a dotted path of the JSON summary, e.g. "incidents.f1", "slots.f1", "fields.location.f1"',
        )
    if node is not None and (isinstance(node, bool) or not isinstance(node, (int, float))):
        raise ConfigError(f"metric {path!r} is not a number", hint="point the gate at a value such as ...f1")
    return node


def check_gates(summary: Mapping[str, Any] | EvalReport, thresholds: Mapping[str, float]) -> list[str]:
    """Check a summary against gates; returns one line per failed gate (empty when all pass).

    A key is a dotted metric path whose value must be at least the threshold; a key
    ``max_<path>`` (``max_failures``, ``max_ungrounded``) sets a maximum instead. A metric
    with no value (nothing to score) fails a minimum gate. Every path is checked before
    any value is compared, so a misspelt gate is an error even when others fail.
    """
    if not isinstance(summary, Mapping):
        summary = summary.summary()
    checks = []
    for key, limit in thresholds.items():
        if isinstance(limit, bool) or not isinstance(limit, (int, float)):
            raise ConfigError(f"gate {key!r} needs a number, got {limit!r}", hint="write e.g. 0.8")
        is_max = key.startswith(_MAX_PREFIX)
        path = key[len(_MAX_PREFIX) :] if is_max else key
        checks.append((path, is_max, float(limit), resolve_metric(summary, path)))
    failed = []
    for path, is_max, limit, value in checks:
        if value is None:
            if not is_max:
                failed.append(f"{path} has no value (nothing to score), below the minimum {limit:g}")
        elif is_max and value > limit:
            failed.append(f"{path} = {value:g} is above the maximum {limit:g}")
        elif not is_max and value < limit:
            failed.append(f"{path} = {value:.3f} is below the minimum {limit:.3f}")
    return failed
