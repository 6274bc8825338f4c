"""The echo test double: one incident quoting (or, for numbered sentences, citing) a text's first sentence.

Grounded (the quote is in the text) but meaningless; it exercises the pipeline
(validation, grounding, writing) without a model, and says nothing about extraction
quality. Shared by the mock backend (``--backend mock --model echo``) and the fake server.
"""

from __future__ import annotations

import json
import re
from typing import Any

_FIRST_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
# An article shown as numbered sentences (evidence by reference): "[1] ...".
_NUMBERED = re.compile(r"^\[(\d+)\] \S")


def asks_for_refs(request: dict[str, Any]) -> bool:
    """Whether a request's schema asks for sentence numbers (evidence by reference) rather than quotes."""
    schema = json.dumps([request.get("tools"), request.get("response_format")])
    return '"sentences"' in schema and '"quote"' not in schema


def echo_text(
    text: str, summary: str = "Placeholder incident from the echo test double.", refs: bool | None = None
) -> dict[str, Any]:
    """The echo reply for ``text``: no incident if it has no words.

    ``refs``: answer with a sentence number (the request asks for evidence by reference); None
    decides from the text (numbered sentences).
    """
    text = text.strip()
    numbered = _NUMBERED.match(text)
    if numbered and refs is not False:  # cite the first sentence by its number instead of quoting it
        incident = {"type": "other_attack", "sentences": [int(numbered.group(1))], "summary": summary, "primary": True}
        return {"incidents": [incident]}
    first = _FIRST_SENTENCE.split(text, maxsplit=1)[0].strip() if text else ""
    if not re.search(r"\w", first):
        return {"incidents": []}
    return {"incidents": [{"type": "other_attack", "quote": first[:300], "summary": summary, "primary": True}]}
