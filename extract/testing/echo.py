"""The echo test double: one incident quoting (or, for numbered sentences, citing) a text's first sentence.

Grounded (the quote is in the text) but meaningless; it exercises the pipeline
(validation, grounding, writing) without a model, and says nothing about extraction
quality. Shared by the mock backend (``--backend mock --model echo``) and the fake server.
"""

from __future__ import annotations

import re
from typing import Any

_FIRST_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
# An article shown as numbered sentences (evidence by reference): "[1] ...".
_NUMBERED = re.compile(r"^\[(\d+)\] \S")


def echo_text(text: str, summary: str = "Placeholder incident from the echo test double.") -> dict[str, Any]:
    """The echo reply for ``text``: no incident if it has no words."""
    text = text.strip()
    numbered = _NUMBERED.match(text)
    if numbered:  # cite the first sentence by its number instead of quoting it
        incident = {"type": "other_attack", "sentences": [int(numbered.group(1))], "summary": summary, "primary": True}
        return {"incidents": [incident]}
    first = _FIRST_SENTENCE.split(text, maxsplit=1)[0].strip() if text else ""
    if not re.search(r"\w", first):
        return {"incidents": []}
    return {"incidents": [{"type": "other_attack", "quote": first[:300], "summary": summary, "primary": True}]}
