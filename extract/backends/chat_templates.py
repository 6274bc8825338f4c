"""Chat formats for the local backend: each model prompted in the turn format it was trained on.

A prompt is built as a list of :class:`Segment` s: the template's own markup (turn
markers, the beginning-of-sequence token), which is tokenized with special tokens
parsed, and the messages' text (the article among it), which is tokenized as plain
text. So ``<end_of_turn>`` or ``<|im_start|>`` written inside an article are the
characters of those words, never the control tokens they spell; a string prompt
tokenized in one piece could not tell the two apart.

The format is chosen by name (``--chat-format``) or, with ``auto``, from the GGUF: its
own Jinja chat template when it has one, else the format its architecture was trained
with (the bundled Gemma 3 GGUF carries no template; llama-cpp-python would then fall
back to Llama-2's ``[INST]``, which Gemma never saw). A GGUF template is rendered with
a placeholder for each message's text and cut at the placeholders, so the template's
markup and the messages stay apart there too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from extract.core.errors import ConfigError

AUTO = "auto"
GGUF = "gguf"


@dataclass(frozen=True)
class Segment:
    """A piece of the prompt; ``special`` says whether control tokens in it are parsed."""

    text: str
    special: bool


@dataclass(frozen=True)
class ChatFormat:
    """A turn format written as prefixes and suffixes around each message's text.

    ``system="fold"`` is for models without a system role (Gemma): the system text opens the
    first user turn, separated by a blank line, as Gemma's own template does.
    """

    name: str
    prefix: Mapping[str, str]
    suffix: Mapping[str, str]
    generation: str
    bos: bool = True
    system: str = "own"  # or "fold"
    role_names: Mapping[str, str] | None = None

    def segments(self, messages: Sequence[Mapping[str, Any]]) -> list[Segment]:
        turns = _fold_system(messages) if self.system == "fold" else [(m["role"], _text(m)) for m in messages]
        out: list[Segment] = []
        for role, text in turns:
            if role not in self.prefix:
                raise ConfigError(f"chat format {self.name} has no {role!r} role", hint="use system, user or assistant")
            out.append(Segment(self.prefix[role], True))
            out.append(Segment(text, False))
            out.append(Segment(self.suffix[role], True))
        out.append(Segment(self.generation, True))
        return [s for s in out if s.text]


def _text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts: only text parts carry anything here
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return "" if content is None else str(content)


def _fold_system(messages: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    system = [_text(m) for m in messages if m["role"] == "system"]
    rest = [(str(m["role"]), _text(m)) for m in messages if m["role"] != "system"]
    if system:
        lead = "\n\n".join(system)
        if rest and rest[0][0] == "user":
            rest[0] = ("user", f"{lead}\n\n{rest[0][1]}")
        else:
            rest.insert(0, ("user", lead))
    return rest


_GEMMA = ChatFormat(
    name="gemma",
    prefix={"user": "<start_of_turn>user\n", "assistant": "<start_of_turn>model\n"},
    suffix={"user": "<end_of_turn>\n", "assistant": "<end_of_turn>\n"},
    generation="<start_of_turn>model\n",
    system="fold",
)
_CHATML = ChatFormat(
    name="chatml",
    prefix={r: f"<|im_start|>{r}\n" for r in ("system", "user", "assistant")},
    suffix={r: "<|im_end|>\n" for r in ("system", "user", "assistant")},
    generation="<|im_start|>assistant\n",
    bos=False,
)
_LLAMA3 = ChatFormat(
    name="llama-3",
    prefix={r: f"<|start_header_id|>{r}<|end_header_id|>\n\n" for r in ("system", "user", "assistant")},
    suffix={r: "<|eot_id|>" for r in ("system", "user", "assistant")},
    generation="<|start_header_id|>assistant<|end_header_id|>\n\n",
)
# Llama-2's format, kept to compare against: what llama-cpp-python falls back to without a template.
_LLAMA2 = ChatFormat(
    name="llama-2",
    prefix={"system": "[INST] <<SYS>>\n", "user": "[INST] ", "assistant": " "},
    suffix={"system": "\n<</SYS>>\n\n", "user": " [/INST]", "assistant": " </s>"},
    generation="",
)

# No turn markup at all: the messages as one document for the model to continue. For pretrained
# (not instruction-tuned) models, which never saw turn markers.
_PLAIN = ChatFormat(
    name="plain",
    prefix={"system": "", "user": "", "assistant": ""},
    suffix={"system": "\n\n", "user": "\n\n", "assistant": "\n\n"},
    generation="",
)

FORMATS: dict[str, ChatFormat] = {f.name: f for f in (_GEMMA, _CHATML, _LLAMA3, _LLAMA2, _PLAIN)}
#: GGUF ``general.architecture`` values whose trained turn format is known, for GGUFs without a template.
BY_ARCHITECTURE = {"gemma": "gemma", "gemma2": "gemma", "gemma3": "gemma", "qwen2": "chatml", "qwen3": "chatml"}
CHOICES = (AUTO, GGUF, *FORMATS)


@dataclass(frozen=True)
class Resolved:
    """The format a model is prompted in, and why (for provenance and ``extract doctor``)."""

    name: str
    source: str  # "option", "gguf template", "architecture gemma3"
    template: str = ""  # the GGUF's Jinja template, when that is the format

    def segments(self, messages: Sequence[Mapping[str, Any]], bos_text: str = "", eos_text: str = "") -> list[Segment]:
        if self.name == GGUF:
            return jinja_segments(self.template, messages, bos_text=bos_text, eos_text=eos_text)
        return FORMATS[self.name].segments(messages)

    @property
    def adds_bos(self) -> bool:
        """Whether the caller prepends the BOS token (a GGUF template writes its own)."""
        return self.name != GGUF and FORMATS[self.name].bos


def resolve(choice: str | None, metadata: Mapping[str, str]) -> Resolved:
    """Which format to use for a GGUF with this metadata, given ``--chat-format`` (or ``auto``)."""
    choice = choice or AUTO
    template = metadata.get("tokenizer.chat_template", "")
    if choice in FORMATS:
        return Resolved(choice, "option")
    if choice == GGUF:
        if not template:
            raise ConfigError("this GGUF has no chat template", hint=f"pass --chat-format {'|'.join(FORMATS)}")
        return Resolved(GGUF, "gguf template", template)
    if choice != AUTO:
        raise ConfigError(f"unknown chat format {choice!r}", hint=f"choose one of {', '.join(CHOICES)}")
    if template:
        return Resolved(GGUF, "gguf template", template)
    architecture = metadata.get("general.architecture", "")
    if architecture in BY_ARCHITECTURE:
        return Resolved(BY_ARCHITECTURE[architecture], f"architecture {architecture}")
    raise ConfigError(
        f"this GGUF has no chat template and its architecture ({architecture or 'unknown'}) has no known format",
        hint=f"pass --chat-format {'|'.join(FORMATS)}",
    )


# Placeholders from Unicode's private use area: a template passes them through untouched.
_MARK = "\ue000message-{}-text\ue001"


def jinja_segments(
    template: str, messages: Sequence[Mapping[str, Any]], *, bos_text: str = "", eos_text: str = ""
) -> list[Segment]:
    """Render a GGUF's Jinja chat template with placeholders, then cut it into segments.

    A template that alters the placeholders (slices or changes the message text) cannot be
    cut safely; that is an error asking for a named format instead.
    """
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(message: str) -> None:
        raise ConfigError(f"the GGUF's chat template refused the messages: {message}", hint="pass --chat-format")

    environment.globals["raise_exception"] = raise_exception
    placeholders = [{**m, "content": _MARK.format(k)} for k, m in enumerate(messages)]
    try:
        rendered = environment.from_string(template).render(
            messages=placeholders, bos_token=bos_text, eos_token=eos_text, add_generation_prompt=True
        )
    except TemplateError as exc:
        raise ConfigError(f"the GGUF's chat template does not render: {exc}", hint="pass --chat-format") from None
    out: list[Segment] = []
    rest = rendered
    for k, message in enumerate(messages):
        mark = _MARK.format(k)
        if rendered.count(mark) != 1 or mark not in rest:
            raise ConfigError(
                "the GGUF's chat template changes the message text, so it cannot be kept apart from the markup",
                hint=f"pass --chat-format {'|'.join(FORMATS)}",
            )
        before, rest = rest.split(mark, 1)
        out += [Segment(before, True), Segment(_text(message), False)]
    out.append(Segment(rest, True))
    return [s for s in out if s.text]
