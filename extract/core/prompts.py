"""Prompt templates: files under ``prompts/``, loaded by one function, identified by hash.

A template file has two sections, introduced by a line ``[system]`` and a line
``[user]``. The user section must contain ``{{document}}``; it may contain
``{{document_id}}``. The article is inserted between ``<article>`` tags and any tag
inside the article that could close them is neutralised, so the article is always
data and never instructions. Look-alikes of the tags count as tags: fullwidth or
other compatibility brackets, zero-width characters inside, Cyrillic letters for
Latin ones (see :func:`extract.core.injection.normalize`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from extract.core.errors import ConfigError
from extract.core.injection import normalize

#: Where the templates that ship with the project live: the repository's prompts/
#: in a checkout, or the copy packed into the wheel.
_REPO_PROMPTS = Path(__file__).resolve().parents[2] / "prompts"
PROMPTS_DIR = _REPO_PROMPTS if _REPO_PROMPTS.is_dir() else Path(__file__).resolve().parents[1] / "_prompts"
DEFAULT_PROMPT = "incidents"

_SECTION = re.compile(r"^\[(system|user)\]\s*$", re.MULTILINE)
_ARTICLE_TAG = re.compile(r"<\s*/?\s*article\b[^>]*>", re.IGNORECASE)


@dataclass(frozen=True)
class PromptTemplate:
    """A loaded template. ``hash`` identifies its exact content."""

    name: str
    system: str
    user: str
    hash: str
    path: str

    def render(self, text: str, document_id: str = "") -> list[dict[str, str]]:
        """The chat messages for one document."""
        safe = neutralise_article_tags(text)
        user = self.user.replace("{{document_id}}", _attr(document_id)).replace("{{document}}", safe)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


def neutralise_article_tags(text: str) -> str:
    """``text`` with the opening bracket of every article tag, or look-alike of one, written as ``&lt;``."""
    plain, where = normalize(text)
    starts = [where[m.start()] for m in _ARTICLE_TAG.finditer(plain)]
    if not starts:
        return text
    out: list[str] = []
    last = 0
    for start in starts:
        out.append(text[last:start])
        out.append("&lt;")
        last = start + 1
    out.append(text[last:])
    return "".join(out)


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def prompt_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()[:16]


def load_prompt(name_or_path: str | Path = DEFAULT_PROMPT, directory: Path | None = None) -> PromptTemplate:
    """Load a template by name (``incidents`` -> ``prompts/incidents.prompt``) or by path."""
    candidate = Path(name_or_path)
    if candidate.suffix and candidate.exists():
        path = candidate
    else:
        path = (directory or PROMPTS_DIR) / f"{name_or_path}.prompt"
    if not path.is_file():
        available = sorted(p.stem for p in (directory or PROMPTS_DIR).glob("*.prompt"))
        raise ConfigError(
            f"prompt template {str(name_or_path)!r} not found at {path}",
            hint=f"available: {', '.join(available) or 'none'}; or pass a path to a .prompt file",
        )
    content = path.read_text(encoding="utf-8")
    sections = _split_sections(content, path)
    if "{{document}}" not in sections["user"]:
        raise ConfigError(
            f"{path}: the [user] section has no {{{{document}}}} placeholder", hint="add it where the article goes"
        )
    return PromptTemplate(
        name=path.stem, system=sections["system"], user=sections["user"], hash=prompt_hash(content), path=str(path)
    )


def _split_sections(content: str, path: Path) -> dict[str, str]:
    marks = list(_SECTION.finditer(content))
    found: dict[str, str] = {}
    for k, mark in enumerate(marks):
        end = marks[k + 1].start() if k + 1 < len(marks) else len(content)
        found[mark.group(1)] = content[mark.end() : end].strip("\n")
    missing = {"system", "user"} - found.keys()
    if missing:
        raise ConfigError(
            f"{path}: missing section(s) {', '.join(sorted(missing))}", hint="start each with a line [system] or [user]"
        )
    return found


def load_prompt_for(name_or_path: str | Path = DEFAULT_PROMPT, evidence: str = "quotes") -> PromptTemplate:
    """The template for an evidence mode: in refs mode, a named template's ``<name>-refs`` variant when there is one.

    The refs variant asks for sentence numbers instead of quotes; a path, or a name without a
    variant, is loaded as it is.
    """
    if evidence == "refs" and not Path(name_or_path).suffix:
        variant = PROMPTS_DIR / f"{name_or_path}-refs.prompt"
        if variant.is_file():
            return load_prompt(variant)
    return load_prompt(name_or_path)
