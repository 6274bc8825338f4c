"""The child process that holds the llama.cpp model.

llama.cpp is native code: on a CPU or virtual machine it was not built for, it can die
with SIGSEGV or SIGILL, and a model can run out of memory. Run in this process, that
would take the whole batch (and a test run) with it. So the local backend starts
``python -m extract.backends.llama_worker`` and talks to it over two pipes, one JSON
object per line:

* the first line the parent sends is the configuration; the worker loads the model and
  answers ``{"ready": true, ...}`` (with the CPU features llama.cpp was built for) or
  ``{"error": "..."}``;
* then each line is a request (``{"op": "chat", "kwargs": {...}}`` or ``{"op": "probe"}``)
  and each answer is ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``.

A chat request is not handed to llama-cpp-python's chat handlers: the prompt is built here
as token ids, in the model's own turn format (:mod:`extract.backends.chat_templates`), with
the messages' text tokenized as plain text, so an article cannot write a control token.

The protocol runs on a private copy of the stdout descriptor; the real descriptor 1 is
pointed at stderr, so that nothing native code prints can corrupt an answer. The worker
exits when its input closes, and asks the kernel to kill it if the parent dies first, so
it never outlives the run.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
from typing import IO, Any

from extract.backends import chat_templates
from extract.backends.chat_templates import Resolved
from extract.core.errors import ConfigError

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this process when the parent exits (a no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _write(out: IO[bytes], message: dict[str, Any]) -> None:
    out.write(json.dumps(message, ensure_ascii=True).encode("ascii") + b"\n")
    out.flush()


def _system_info(llama_cpp: Any) -> str:
    try:
        info = llama_cpp.llama_print_system_info()
    except Exception:  # an old or unusual build: the features are then unknown
        return ""
    return (info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)).strip()


def _plain_buffers(low_level: Any) -> bool:
    """Load weights into plain buffers: no repacking into "extra" buffer types.

    A second line of defence behind the portable build. llama.cpp repacks weights for
    AMX and similar kernels, which fault on hosts that report AMX but forbid its use;
    plain buffers cost little for a model this size. ``Llama`` takes no argument for
    it, so the default-parameters function is wrapped, in this child process only.
    Returns whether the switch exists in this llama-cpp-python.
    """
    fields = {name for name, *_ in getattr(low_level.llama_model_params, "_fields_", [])}
    if "use_extra_bufts" not in fields:
        return False
    original = low_level.llama_model_default_params

    def defaults() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    low_level.llama_model_default_params = defaults
    return True


def _load(config: dict[str, Any]) -> Any:
    import llama_cpp.llama_cpp as low_level
    from llama_cpp import Llama

    if not config.get("use_extra_bufts", False):
        _plain_buffers(low_level)
    options: dict[str, Any] = {
        "model_path": config["model_path"],
        "n_ctx": config["n_ctx"],
        "n_threads": config["n_threads"],
        "seed": config["seed"],
        "verbose": config["verbose"],
    }
    if config.get("lora_path"):
        options["lora_path"] = config["lora_path"]
    return Llama(**options)


def prompt_tokens(llm: Any, resolved: Resolved, messages: list[dict[str, Any]]) -> list[int]:
    """The prompt as token ids: markup with control tokens parsed, message text as plain text."""
    bos = llm.token_bos()
    bos_text = llm.detokenize([bos], special=True).decode("utf-8", "replace") if bos >= 0 else ""
    eos = llm.token_eos()
    eos_text = llm.detokenize([eos], special=True).decode("utf-8", "replace") if eos >= 0 else ""
    tokens: list[int] = [bos] if resolved.adds_bos and bos >= 0 else []
    for segment in resolved.segments(messages, bos_text=bos_text, eos_text=eos_text):
        tokens += llm.tokenize(segment.text.encode("utf-8"), add_bos=False, special=segment.special)
    return tokens


def _grammar(schema: Any) -> Any:
    from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

    if schema is None:
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
    return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)


def chat(llm: Any, resolved: Resolved, kwargs: dict[str, Any]) -> dict[str, Any]:
    """One chat completion from our own prompt tokens, in the OpenAI response shape.

    The reply is constrained by the request's JSON schema (``response_format``) or, in tools
    mode, by the first tool's parameters, and given back as content or as that tool's call.
    """
    tools = kwargs.get("tools") or []
    function = tools[0].get("function", {}) if tools else None
    response_format = kwargs.get("response_format") or {}
    grammar = None
    if function is not None:
        grammar = _grammar(function.get("parameters"))
    elif response_format.get("type") == "json_object":
        grammar = _grammar(response_format.get("schema"))
    tokens = prompt_tokens(llm, resolved, list(kwargs["messages"]))
    out = llm.create_completion(
        prompt=tokens,
        max_tokens=kwargs.get("max_tokens"),
        temperature=float(kwargs.get("temperature", 0.0)),
        seed=kwargs.get("seed"),
        stop=kwargs.get("stop"),
        grammar=grammar,
    )
    choice = out["choices"][0]
    text = choice["text"]
    finish = choice.get("finish_reason") or "stop"
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if function is not None:
        call = {
            "id": f"call_{out['id']}",
            "type": "function",
            "function": {"name": function["name"], "arguments": text},
        }
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        finish = "tool_calls" if finish == "stop" else finish
    return {
        "id": out["id"],
        "object": "chat.completion",
        "created": out["created"],
        "model": out["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": out["usage"],
    }


def _crash_if_asked(config: dict[str, Any], document_id: str) -> None:
    """Test hook: die by the configured signal on the named documents, as native code would."""
    crash_on = config.get("crash_on") or []
    if document_id and document_id in crash_on:
        os.kill(os.getpid(), int(config.get("crash_signal") or signal.SIGSEGV))


def serve(config: dict[str, Any], requests: IO[bytes], out: IO[bytes]) -> None:
    import llama_cpp

    started = time.perf_counter()
    try:
        llm = _load(config)
        resolved = chat_templates.resolve(config.get("chat_format"), llm.metadata)
    except ConfigError as exc:  # a chat format this model cannot use: the user's choice to correct
        _write(out, {"error": exc.message, "hint": exc.hint, "config_error": True})
        return
    except Exception as exc:  # a bad file, too little memory: said once, in the parent
        _write(out, {"error": f"{type(exc).__name__}: {exc}"})
        return
    _write(
        out,
        {
            "ready": True,
            "pid": os.getpid(),
            "system_info": _system_info(llama_cpp),
            "llama_cpp_version": getattr(llama_cpp, "__version__", ""),
            "load_seconds": round(time.perf_counter() - started, 3),
            "extra_buffers": bool(config.get("use_extra_bufts", False)),
            "chat_format": resolved.name,
            "chat_format_source": resolved.source,
        },
    )
    for line in requests:
        if not line.strip():
            continue
        request = json.loads(line)
        _crash_if_asked(config, str(request.get("document_id") or ""))
        try:
            if request.get("op") == "probe":
                begun = time.perf_counter()
                reply = llm.create_completion(request.get("prompt", "The"), max_tokens=int(request.get("tokens", 8)))
                result: Any = {"reply": reply, "seconds": round(time.perf_counter() - begun, 3)}
            else:
                result = chat(llm, resolved, request["kwargs"])
        except Exception as exc:  # a Python-level error: the parent decides what it means
            _write(out, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            continue
        _write(out, {"ok": True, "result": result})


def main() -> None:
    parent = os.getppid()
    _die_with_parent(parent)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever native code prints goes to stderr, never into the protocol
    requests = sys.stdin.buffer
    first = requests.readline()
    if not first:
        return
    serve(json.loads(first), requests, out)


if __name__ == "__main__":
    main()
