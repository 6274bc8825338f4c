"""The OpenAI chat-completions wire format, as the fake server and the mock backend speak it.

One builder of completion bodies for both, so that a scripted reply looks the same whether
it comes over HTTP or from the in-process mock.
"""

from __future__ import annotations

import re
import time
from typing import Any

from extract.testing.corpus import MARKER
from extract.testing.echo import asks_for_refs, echo_text

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
STATS_PATH = "/_fake/stats"

_ARTICLE = re.compile(r"<article([^>]*)>\n?(.*?)\n?</article>", re.DOTALL)
_ID_ATTR = re.compile(r'\bid="([^"]*)"')


def article_of(body: dict[str, Any]) -> tuple[str, str]:
    """The (attributes, text) of the ``<article>`` in the last user message that has one."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "user":
            continue
        match = _ARTICLE.search(_content_text(message.get("content")))
        if match:
            return match.group(1), match.group(2)
    return "", ""


def document_id_of(body: dict[str, Any]) -> str | None:
    """The document a request is about: ``<article id="...">`` if the prompt sets it, else a :func:`doc_marker`."""
    attrs, text = article_of(body)
    found = _ID_ATTR.search(attrs)
    if found and found.group(1):
        return found.group(1)
    marker = MARKER.search(text)
    return marker.group(1) if marker else None


def _content_text(content: Any) -> str:
    if isinstance(content, list):  # content parts
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def echo_extraction(body: dict[str, Any]) -> dict[str, Any]:
    """A valid extraction: one incident whose quote is the article's first sentence (no marker)."""
    _, text = article_of(body)
    return echo_text(
        MARKER.sub("", text), summary="Placeholder incident from the fake server.", refs=asks_for_refs(body)
    )


def completion_body(request: dict[str, Any], content: str, model: str) -> dict[str, Any]:
    """A chat.completion carrying ``content``: as a tool call if the request offered tools, else as text."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    finish = "stop"
    tools = request.get("tools") or []
    if tools:
        choice = request.get("tool_choice")
        name = (
            choice["function"]["name"]
            if isinstance(choice, dict) and "function" in choice
            else tools[0].get("function", {}).get("name", "Extraction")
        )
        call = {"id": "call_fake_0", "type": "function", "function": {"name": name, "arguments": content}}
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        finish = "tool_calls"
    prompt_chars = sum(len(_content_text(m.get("content"))) for m in request.get("messages") or [])
    prompt_tokens = prompt_chars // 4 + 1
    completion_tokens = len(content) // 4 + 1
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model") or model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def model_entry(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 0, "owned_by": "fake"}


def seconds_header(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
