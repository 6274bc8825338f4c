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
import uuid
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


class _Constraint:
    """A grammar asked about the model's own choice first, and applied to the whole vocabulary only if it refuses.

    Gemma's vocabulary has 262,144 tokens, and applying a grammar matches every one of them against
    it: about two thirds of the time of each generated token. At temperature 0 the token chosen
    under the grammar is the highest-scoring token the grammar allows, so when the grammar allows
    the highest-scoring token of all (most steps: the model has learnt the format) that token is the
    answer, found by one check instead of 262,144. Otherwise, and when sampling at a temperature,
    the grammar filters every token, as llama.cpp does by default. Same tokens, fewer checks.
    """

    def __init__(self, llm: Any, grammar: Any) -> None:
        import llama_cpp.llama_cpp as low_level

        self._low = low_level
        self._sampler = low_level.llama_sampler_init_grammar(
            llm._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
        )
        if not self._sampler:
            raise ValueError("llama.cpp could not build the grammar")
        self._one = (low_level.llama_token_data * 1)()
        self._one_array = low_level.llama_token_data_array(data=self._one, size=1, selected=-1, sorted=False)

    def allows(self, token: int) -> bool:
        self._one[0] = self._low.llama_token_data(token, 0.0, 0.0)
        self._one_array.size, self._one_array.selected = 1, -1
        self._low.llama_sampler_apply(self._sampler, self._low.byref(self._one_array))
        return bool(self._one[0].logit != float("-inf"))

    def apply(self, candidates: Any) -> None:
        self._low.llama_sampler_apply(self._sampler, self._low.byref(candidates.candidates))

    def accept(self, token: int) -> None:
        self._low.llama_sampler_accept(self._sampler, token)

    def close(self) -> None:
        if self._sampler:
            self._low.llama_sampler_free(self._sampler)
            self._sampler = None


class RepeatStop:
    """Ends an answer's list at the first item that repeats an earlier item's value of ``key``.

    A small model can fall into a loop: the same incident again and again, with the same summary,
    until ``max_tokens`` cuts it off mid-item (three of the bundled adapter's first five answers did).
    Each repeat is a false incident, and the tokens spent on it are most of the article's time. Fed
    the answer as it is generated, this notices the repeated value as soon as its string closes,
    and gives back the answer up to the item before it, with its open lists and objects closed:
    complete, valid JSON. Anything it cannot close into valid JSON, it leaves alone.
    """

    def __init__(self, list_key: str, key: str) -> None:
        self.list_key, self.key = list_key, key
        self.text = ""
        self._stack: list[dict[str, Any]] = []  # open containers: kind, the key being read, item start
        self._string: list[str] | None = None  # the string being read, if any
        self._escaped = False
        self._seen: set[str] = set()

    def feed(self, more: str) -> str | None:
        """Read ``more`` of the answer; the answer cut before a repeated item, or None."""
        at = len(self.text)
        self.text += more
        for offset, char in enumerate(more, start=at):
            if self._string is not None:
                if self._escaped:
                    self._escaped = False
                elif char == "\\":
                    self._escaped = True
                elif char == '"':
                    cut = self._string_closed("".join(self._string), offset)
                    if cut is not None:
                        return cut
                    continue
                self._string.append(char)
            elif char == '"':
                self._string = []
            elif char in "{[":
                self._open(char, offset)
            elif char in "}]":
                if self._stack:
                    self._stack.pop()
                self._value_done()
            elif char == ":" and self._stack:
                self._stack[-1]["state"] = "value"
            elif char == "," and self._stack and self._stack[-1]["kind"] == "{":
                self._stack[-1]["state"] = "key"
        return None

    def _open(self, kind: str, start: int) -> None:
        parent = self._stack[-1] if self._stack else None
        is_list = kind == "[" and parent is not None and len(self._stack) == 1 and parent.get("key") == self.list_key
        is_item = kind == "{" and parent is not None and parent.get("is_list", False)
        self._stack.append(
            {"kind": kind, "state": "key", "key": None, "is_list": is_list, "is_item": is_item, "start": start}
        )

    def _value_done(self) -> None:
        if self._stack and self._stack[-1]["kind"] == "{":
            self._stack[-1]["state"] = "after"

    def _string_closed(self, value: str, end: int) -> str | None:
        """A string ended at ``end``: a key, or a value that may be a repeat (then the answer cut before its item)."""
        self._string = None
        top = self._stack[-1] if self._stack else None
        if top is None or top["kind"] != "{":
            return None
        if top["state"] == "key":
            top["key"] = value
            return None
        self._value_done()
        if not (top["is_item"] and top["key"] == self.key):
            return None
        if value not in self._seen:
            self._seen.add(value)
            return None
        cut = self.text[: top["start"]].rstrip().rstrip(",")
        cut += "".join("}" if c["kind"] == "{" else "]" for c in reversed(self._stack[:-1]))
        try:
            json.loads(cut)
        except ValueError:
            return None
        self.text = self.text[: end + 1]  # what was read, up to the repeated value
        return cut


def complete(
    llm: Any,
    tokens: list[int],
    *,
    grammar: Any,
    max_tokens: int | None,
    temperature: float,
    seed: int | None,
    stop: list[str] | str | None,
    repeat_stop: RepeatStop | None = None,
) -> dict[str, Any]:
    """Greedy or sampled completion of ``tokens`` under ``grammar``, in llama-cpp-python's completion shape.

    It reuses the key-value cache of the prompt prefix it shares with the last request (the
    instructions every article has in common), as ``Llama.create_completion`` does, and chooses
    each token through :class:`_Constraint`. ``repeat_stop``, when given, reads the answer as it grows
    and may end it early (see :class:`RepeatStop`).
    """
    import llama_cpp.llama_cpp as low_level
    import numpy as np
    from llama_cpp._internals import LlamaTokenDataArray

    if len(tokens) >= llm.n_ctx():
        raise ValueError(f"Requested tokens ({len(tokens)}) exceed context window of {llm.n_ctx()}")
    room = llm.n_ctx() - len(tokens)
    limit = min(max_tokens, room) if max_tokens and max_tokens > 0 else room
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if seed is not None:
        llm.set_seed(seed)
    shared = 0
    for a, b in zip(llm.input_ids[: llm.n_tokens].tolist(), tokens[:-1], strict=False):
        if a != b:
            break
        shared += 1
    llm.n_tokens = shared  # Llama.eval drops the cache past n_tokens before it decodes
    llm.eval(tokens[shared:])

    chain = llm._init_sampler(temp=temperature)  # the samplers create_completion would use, after the grammar
    constraint = _Constraint(llm, grammar) if grammar is not None else None
    candidates = LlamaTokenDataArray(n_vocab=llm.n_vocab())
    vocab = llm._model.vocab
    out: list[int] = []
    finish = "length"
    pending = b""  # bytes of a character that is not complete yet
    cut: str | None = None
    try:
        while len(out) < limit:
            logits = np.ctypeslib.as_array(low_level.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(llm.n_vocab(),))
            token = int(np.argmax(logits)) if temperature == 0.0 else -1
            if token < 0 or (constraint is not None and not constraint.allows(token)):
                candidates.copy_logits(logits)
                if constraint is not None:
                    constraint.apply(candidates)
                low_level.llama_sampler_apply(chain.sampler, low_level.byref(candidates.candidates))
                token = int(candidates.candidates_data.id[candidates.candidates.selected])
            chain.accept(token)
            if constraint is not None:
                constraint.accept(token)
            if low_level.llama_vocab_is_eog(vocab, token):
                finish = "stop"
                break
            out.append(token)
            if repeat_stop is not None:
                pending += llm.detokenize([token])
                try:
                    more, pending = pending.decode("utf-8"), b""
                except UnicodeDecodeError:
                    more = ""
                cut = repeat_stop.feed(more)
                if cut is not None:
                    finish = "stop"
                    break
            if stops:
                text = llm.detokenize(out).decode("utf-8", "ignore")
                if any(s in text for s in stops):
                    finish = "stop"
                    break
            llm.eval([token])
    finally:
        chain.close()
        if constraint is not None:
            constraint.close()
    text = cut if cut is not None else llm.detokenize(out).decode("utf-8", "ignore")
    for s in stops:
        if s in text:
            text = text[: text.index(s)]
    return {
        "id": f"cmpl-{uuid.uuid4()}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": llm.model_path,
        "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
        "usage": {"prompt_tokens": len(tokens), "completion_tokens": len(out), "total_tokens": len(tokens) + len(out)},
    }


def chat(llm: Any, resolved: Resolved, kwargs: dict[str, Any], stop_repeats: list[str] | None = None) -> dict[str, Any]:
    """One chat completion from our own prompt tokens, in the OpenAI response shape.

    The reply is constrained by the request's JSON schema (``response_format``) or, in tools
    mode, by the first tool's parameters, and given back as content or as that tool's call.
    ``stop_repeats`` (a list's key and its items' key) ends that list at a repeated item.
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
    out = complete(
        llm,
        tokens,
        grammar=grammar,
        max_tokens=kwargs.get("max_tokens"),
        temperature=float(kwargs.get("temperature", 0.0)),
        seed=kwargs.get("seed"),
        stop=kwargs.get("stop"),
        repeat_stop=RepeatStop(*stop_repeats) if stop_repeats else None,
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
                result = chat(llm, resolved, request["kwargs"], request.get("stop_repeats"))
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
