"""The few-shot page for small models: its worked examples must be answers the grammar could write.

Each example answer is checked against the strict schema built for its own example article: every
value that the schema offers as choices is one of them (the article's own names, dates, numbers and
sentence numbers), keys come in the order the grammar writes them (required first, then the others,
each group in declared order), lists stay within their bounds, and the answer validates. The
examples are invented: none of their names occurs in the seed articles.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from extract.core.candidates import find_candidates
from extract.core.evidence import answer_model
from extract.core.prompts import load_prompt

REPO = Path(__file__).resolve().parents[1]
PROMPT = load_prompt("incidents-fewshot-refs")
_EXAMPLE = re.compile(r"<article>\n(?P<article>.*?)\n</article>\nJSON:\n\n(?P<answer>\{.*?\})(?:\n|$)", re.DOTALL)
EXAMPLES = [(m.group("article"), json.loads(m.group("answer"))) for m in _EXAMPLE.finditer(PROMPT.system)]


def _sentences(article: str) -> list[str]:
    lines = article.splitlines()
    assert all(line.startswith(f"[{k + 1}] ") for k, line in enumerate(lines)), "numbered [1], [2], ... in order"
    return [line.split("] ", 1)[1] for line in lines]


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = {**defs[node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _check(value: Any, node: dict[str, Any], defs: dict[str, Any], path: str) -> None:
    """Fail when ``value`` is not something the grammar built from ``node`` could write."""
    node = _resolve(node, defs)
    if "anyOf" in node:
        options = [_resolve(o, defs) for o in node["anyOf"]]
        fitting = [o for o in options if (value is None) == (o.get("type") == "null")]
        assert fitting, f"{path}: {value!r} fits no option"
        _check(value, fitting[0], defs, path)
        return
    if "enum" in node:
        assert value in node["enum"], f"{path}: {value!r} is not one of the article's values"
    if isinstance(value, dict):
        props, required = node["properties"], node.get("required", [])
        assert set(value) <= set(props), f"{path}: keys {set(value) - set(props)} not in the schema"
        order = [k for k in props if k in required] + [k for k in props if k not in required]
        keys = list(value)
        assert keys == sorted(keys, key=order.index), f"{path}: keys {keys} not in the grammar's order {order}"
        assert set(required) <= set(value), f"{path}: missing {set(required) - set(value)}"
        for key, item in value.items():
            _check(item, props[key], defs, f"{path}.{key}")
    elif isinstance(value, list):
        assert len(value) <= node.get("maxItems", len(value)), f"{path}: more than {node['maxItems']} items"
        for k, item in enumerate(value):
            _check(item, node["items"], defs, f"{path}[{k}]")


def test_the_page_has_varied_examples() -> None:
    assert len(EXAMPLES) >= 4
    counts = [len(answer["incidents"]) for _, answer in EXAMPLES]
    assert 0 in counts and max(counts) >= 2  # an article without an incident, one with several
    types = {i["type"] for _, answer in EXAMPLES for i in answer["incidents"]}
    assert len(types) >= 4
    cited = {i["sentences"][0] for _, answer in EXAMPLES for i in answer["incidents"]}
    assert len(cited) >= 3  # the incidents are not always in the same sentence


@pytest.mark.parametrize(("article", "answer"), EXAMPLES, ids=[f"example-{k + 1}" for k in range(len(EXAMPLES))])
def test_each_example_answer_is_one_the_grammar_could_write(article: str, answer: dict[str, Any]) -> None:
    sentences = _sentences(article)
    found = find_candidates("\n".join(sentences), strict=True)
    model = answer_model("refs", len(sentences), compact=True, candidates=found)
    schema = model.model_json_schema()
    _check(answer, schema, schema.get("$defs", {}), "answer")
    model.model_validate(answer)


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_the_examples_name_nothing_from_the_seed_articles() -> None:
    seeds = " ".join(p.read_text(encoding="utf-8") for p in (REPO / "gold" / "articles").glob("*.txt")).lower()
    names = set()
    for article, answer in EXAMPLES:
        offered = find_candidates("\n".join(_sentences(article))).names
        names |= {s for s in _strings(answer) if s in offered}  # the names the answers give
    assert len(names) >= 8
    shared = sorted(n for n in names if re.search(rf"\b{re.escape(n.lower())}\b", seeds))
    assert shared == []
