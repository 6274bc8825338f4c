"""Prompt and completion tokens per article: quotes against refs, full against compact schema, and LangExtract.

    .venv/bin/python benchmarks/bench_prompt_tokens.py                 # the five seed articles
    .venv/bin/python benchmarks/bench_prompt_tokens.py --no-langextract

Every request goes to the fake OpenAI-compatible server on 127.0.0.1, which keeps the request
bodies; the tokens are counted afterwards with one tokenizer, the bundled Gemma 3 GGUF's (llama.cpp,
``vocab_only``): the text of every message, plus the tool or ``response_format`` definition as compact
JSON. Chat-template tokens (a few per message) are left out for every variant alike. Hosted APIs render
tool definitions in their own format, so absolute figures differ from what a provider bills; the
ratios between variants are the point.

Variants of this project: ``--evidence quotes|refs`` x ``--schema full|compact``, the ``openai``
backend in ``tools`` mode, one request per article (the seeds are shorter than ``--chunk-chars``).

LangExtract (``pip install langextract`` into the venv; not a project dependency) runs with its
default settings (``max_char_buffer=1000``, one pass, JSON output, its own prompt template) through
its OpenAI provider. It needs a task description and examples from its user: the description is this
project's own system prompt (the same instructions), and there is one invented example article
(not a seed) with one extraction per kind of value.

Completion tokens come from scripted answers: each seed's gold incidents as the model's answer, as
quotes (quotes mode) and as the numbers of the sentences holding each quote (refs mode), with ``null``
and empty values left out in both. They measure the answer format, not a model.

Values from the article (``--candidates``): for each seed, the number of candidate names and
numbers, the tokens of the compact refs schema with and without them, and the size of the GBNF
grammar llama.cpp builds from each (the local backend's schema, with its length and range limits
removed), as characters and rules.

Nothing is asserted; the figures go to ``benchmarks/results/prompt_tokens.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from bench_batch import RESULTS, environment

from extract.backends.openai_compat import OpenAIBackend
from extract.core.candidates import find_candidates
from extract.core.evidence import EvidenceMode, answer_model
from extract.core.grounding import Grounder
from extract.core.pipeline import ExtractConfig, aextract_document
from extract.core.prompts import load_prompt, load_prompt_for
from extract.core.records import Document
from extract.core.schema import Incident
from extract.core.sentences import split_sentences
from extract.scoring.gold import load_gold
from extract.testing import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = (("quotes", "full"), ("quotes", "compact"), ("refs", "full"), ("refs", "compact"))


class Tokenizer:
    """The bundled Gemma 3 GGUF's tokenizer (vocabulary only: no weights are loaded)."""

    def __init__(self) -> None:
        from llama_cpp import Llama

        from extract.backends.local import bundled_model_path

        path = bundled_model_path()
        self.name = path.name
        self._llm = Llama(model_path=str(path), vocab_only=True, verbose=False)

    def count(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)) if text else 0


def request_tokens(body: dict[str, Any], tok: Tokenizer, definitions: bool = True) -> int:
    """Tokens of the messages and (with ``definitions``) of the tool or response-format schema."""
    total = 0
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        total += tok.count(content or "")
    for key in ("tools", "response_format") if definitions else ():
        if body.get(key) and body[key] != {"type": "json_object"}:
            total += tok.count(json.dumps(body[key], separators=(",", ":"), ensure_ascii=False))
    return total


def _drop_empty(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _drop_empty(v) for k, v in data.items() if v not in (None, [], {})}
    if isinstance(data, list):
        return [_drop_empty(v) for v in data]
    return data


def _to_refs(data: Any, grounder: Grounder, sentences: list[Any]) -> Any:
    if isinstance(data, list):
        return [_to_refs(v, grounder, sentences) for v in data]
    if not isinstance(data, dict):
        return data
    out = {k: _to_refs(v, grounder, sentences) for k, v in data.items() if k != "quote"}
    if "quote" in data:
        span = grounder.locate(data["quote"])
        start, end = span.start or 0, span.end or 0
        out["sentences"] = [s.number for s in sentences if s.start < end and start < s.end] or [1]
    return out


def _incident_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k in Incident.model_fields}  # no gold-only keys


def scripted_answers(gold_dir: Path) -> dict[str, dict[str, str]]:
    """For each document: the gold incidents as a quotes-mode and a refs-mode answer (JSON text)."""
    gold = load_gold(gold_dir)
    answers = {}
    for doc_id, doc in gold.documents.items():
        text = gold.articles[doc_id]
        incidents = [
            _drop_empty(
                Incident.model_validate(
                    {k: v for k, v in i.model_dump().items() if k in Incident.model_fields}
                ).model_dump(mode="json")
            )
            for i in doc.incidents
        ]
        quotes = {"incidents": incidents}
        refs = {"incidents": _to_refs(incidents, Grounder(text), list(split_sentences(text)))}
        answers[doc_id] = {
            "quotes": json.dumps(quotes, separators=(",", ":"), ensure_ascii=False),
            "refs": json.dumps(refs, separators=(",", ":"), ensure_ascii=False),
        }
    return answers


class Script:
    """The fake server's reply: the current document's scripted answer, in the mode the request asks for."""

    def __init__(self, answers: dict[str, dict[str, str]]):
        self.answers = answers
        self.current = ""

    def __call__(self, body: dict[str, Any]) -> str:
        if not body.get("tools"):  # LangExtract: its own JSON format; no extractions needed to count prompts
            return json.dumps({"extractions": []})
        mode = "refs" if '"sentences"' in json.dumps(body["tools"]) else "quotes"
        return self.answers[self.current][mode]


async def run_project(
    server: FakeOpenAIServer, script: Script, articles: dict[str, str], tok: Tokenizer
) -> dict[str, dict[str, Any]]:
    out = {}
    for evidence, style in VARIANTS:
        backend = OpenAIBackend("fake", base_url=server.base_url, mode="tools", timeout=60)
        await backend.check()
        config = ExtractConfig(
            backend=backend,
            prompt=load_prompt_for("incidents", evidence),
            evidence=EvidenceMode(evidence),
            compact_schema=style == "compact",
        )
        prompt, completion, valid = [], [], 0
        for doc_id, text in articles.items():
            script.current = doc_id
            before = len(server.chat_requests())
            result = await aextract_document(Document(id=doc_id, text=text), config)
            bodies = [r.body for r in server.chat_requests()[before:] if r.body]
            prompt.append(sum(request_tokens(b, tok) for b in bodies))
            completion.append(tok.count(script.answers[doc_id][evidence]) * len(bodies))
            valid += result.status.value == "ok" and len(bodies) == 1
        await backend.aclose()
        out[f"{evidence}/{style}"] = {
            "prompt_tokens": prompt,
            "prompt_total": sum(prompt),
            "completion_tokens": completion,
            "completion_total": sum(completion),
            "documents_answered_in_one_request": valid,
        }
    return out


#: A one-sentence task description, as LangExtract's own examples write them.
LANGEXTRACT_SHORT = (
    "Extract incidents (aircraft downings and losses, air and missile strikes, shelling, clashes, attacks) "
    "with their date, location, aircraft, perpetrators, weapon, casualties and sources, using exact text."
)

LANGEXTRACT_EXAMPLE = (
    "Militants shot down an army Mi-17 helicopter near the village of Dara on Tuesday, killing four soldiers, "
    "the defence ministry said. A group calling itself the Northern Front claimed the attack, saying its "
    "fighters used a heat-seeking missile."
)


def run_langextract(
    server: FakeOpenAIServer, articles: dict[str, str], tok: Tokenizer, description: str
) -> dict[str, Any]:
    import langextract as lx

    def ext(cls: str, text: str, **attrs: Any) -> Any:
        return lx.data.Extraction(extraction_class=cls, extraction_text=text, attributes=attrs)

    example = lx.data.ExampleData(
        text=LANGEXTRACT_EXAMPLE,
        extractions=[
            ext("incident", "shot down an army Mi-17 helicopter", type="aircraft_downing", primary="true"),
            ext("date", "Tuesday", precision="day"),
            ext("location", "near the village of Dara", near="Dara"),
            ext("aircraft", "Mi-17 helicopter", category="helicopter", operator="army"),
            ext("casualties", "killing four soldiers", kind="killed", count="4", qualifier="exact", who="soldiers"),
            ext("source", "the defence ministry", kind="government"),
            ext("perpetrator", "the Northern Front", status="claimed"),
            ext("weapon", "heat-seeking missile", category="manpads"),
        ],
    )
    prompt, messages_only, requests = [], [], []
    for text in articles.values():
        before = len(server.chat_requests())
        lx.extract(
            text,
            prompt_description=description,
            examples=[example],
            model_id="gpt-4o-mini",
            api_key="fake",
            model_url=server.base_url,
            show_progress=False,
            prompt_validation_level=lx.prompt_validation.PromptValidationLevel.OFF,
        )
        bodies = [r.body for r in server.chat_requests()[before:] if r.body]
        prompt.append(sum(request_tokens(b, tok) for b in bodies))
        messages_only.append(sum(request_tokens(b, tok, definitions=False) for b in bodies))
        requests.append(len(bodies))
    from importlib import metadata

    return {
        "version": metadata.version("langextract"),
        "prompt_tokens": prompt,
        "prompt_total": sum(prompt),
        # without the response_format schema LangExtract derives from the examples (sent with every request)
        "messages_only_total": sum(messages_only),
        "requests": requests,
    }


def candidate_sizes(articles: dict[str, str], tok: Tokenizer) -> dict[str, dict[str, int]]:
    """Candidate lists per document, and what they add to the schema and to the llama.cpp grammar."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from extract.backends.local import grammar_schema

    out = {}
    for doc_id, text in articles.items():
        found = find_candidates(text)
        n = len(split_sentences(text))
        row: dict[str, int] = {"names": len(found.names), "numbers": len(found.numbers), "sentences": n}
        for label, offered in (("plain", None), ("candidates", found)):
            schema = answer_model("refs", n, compact=True, candidates=offered).model_json_schema()
            grammar = json_schema_to_gbnf(json.dumps(grammar_schema(schema)))
            row[f"schema_tokens_{label}"] = tok.count(json.dumps(schema, separators=(",", ":"), ensure_ascii=False))
            row[f"grammar_chars_{label}"] = len(grammar)
            row[f"grammar_rules_{label}"] = sum(1 for line in grammar.splitlines() if "::=" in line)
        out[doc_id] = row
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", default=str(ROOT / "gold" / "articles"))
    parser.add_argument("--gold", default=str(ROOT / "gold"))
    parser.add_argument("--no-langextract", action="store_true", help="only this project's variants")
    parser.add_argument("--quick", action="store_true", help="accepted for run_all.py; the five seeds are quick")
    args = parser.parse_args(argv)
    if not args.no_langextract and importlib.util.find_spec("langextract") is None:
        print("langextract is not installed (.venv/bin/pip install langextract): only this project's variants")
        args.no_langextract = True

    env = environment()
    tok = Tokenizer()
    articles = {p.stem: p.read_text(encoding="utf-8") for p in sorted(Path(args.articles).glob("*.txt"))}
    script = Script(scripted_answers(Path(args.gold)))
    with FakeOpenAIServer(script) as server:
        project = asyncio.run(run_project(server, script, articles, tok))
        langextract = {}
        if not args.no_langextract:
            own = load_prompt("incidents").system
            langextract = {
                "same instructions": run_langextract(server, articles, tok, own),
                "short description": run_langextract(server, articles, tok, LANGEXTRACT_SHORT),
            }

    n = len(articles)
    print(f"prompt and completion tokens per article, {n} articles, tokenizer {tok.name}")
    print(f"load average at start {env['load_average_at_start']}")
    bases = {name: row["prompt_total"] for name, row in langextract.items()}
    head = "".join(f"{'vs LX ' + name:>26}" for name in bases)
    print(f"{'variant':<18}{'prompt/article':>16}{'completion/article':>20}{head}")
    for name, row in project.items():
        ratios = "".join(f"{row['prompt_total'] / b:>25.2f}x" for b in bases.values())
        print(f"{name:<18}{row['prompt_total'] / n:>16.0f}{row['completion_total'] / n:>20.0f}{ratios}")
    for name, row in langextract.items():
        print(
            f"langextract {row['version']} ({name}): {row['prompt_total'] / n:.0f} prompt tokens per article "
            f"in {sum(row['requests'])} requests ({row['messages_only_total'] / n:.0f} without its response_format)"
        )
    sizes = candidate_sizes(articles, tok)
    print("values from the article (refs mode, compact schema):")
    print(f"{'article':<24}{'names':>6}{'numbers':>8}{'schema tokens':>22}{'grammar chars':>22}{'grammar rules':>16}")
    for doc_id, row in sizes.items():
        print(
            f"{doc_id:<24}{row['names']:>6}{row['numbers']:>8}"
            f"{row['schema_tokens_plain']:>11} -> {row['schema_tokens_candidates']:<7}"
            f"{row['grammar_chars_plain']:>11} -> {row['grammar_chars_candidates']:<7}"
            f"{row['grammar_rules_plain']:>7} -> {row['grammar_rules_candidates']:<5}"
        )
    env["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.mkdir(exist_ok=True)
    record = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "environment": env,
        "tokenizer": tok.name,
        "articles": list(articles),
        "project": project,
        "langextract": langextract,
        "candidates": sizes,
    }
    (RESULTS / "prompt_tokens.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
