"""Examples as token ids, made by llama.cpp's own tokenizer, and checked against llama.cpp's own grammar.

The prompt's ids come from :func:`extract.backends.llama_worker.prompt_tokens`, the function the
local backend's model process prompts with: the same turn markup, the same plain-text
tokenization of the article. The answer is the example's JSON text followed by the token that
ends the model's turn. :func:`grammar_accepts` walks the answer's tokens through a grammar
sampler built from the request's schema, exactly as generation would, so a test can show that
every answer taught is one the grammar lets the model write.
"""

from __future__ import annotations

import ctypes
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extract.backends import chat_templates
from extract.backends.llama_worker import prompt_tokens
from extract.training.examples import Example


@dataclass(frozen=True)
class TokenizedExample:
    id: str
    prompt: tuple[int, ...]
    answer: tuple[int, ...]

    @property
    def length(self) -> int:
        return len(self.prompt) + len(self.answer)


class Vocab:
    """The tokenizer of a GGUF (no weights loaded), with the turn format the local backend would use."""

    def __init__(self, model_path: str | Path, chat_format: str | None = None):
        from llama_cpp import Llama

        self.path = Path(model_path)
        self.llm = Llama(model_path=str(self.path), vocab_only=True, verbose=False)
        self.resolved = chat_templates.resolve(chat_format, self.llm.metadata)
        self.end = self._end_token()

    def _end_token(self) -> int:
        """The token that ends the model's turn: the first of the assistant suffix when it is an end token."""
        import llama_cpp

        vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        if self.resolved.name in chat_templates.FORMATS:
            suffix = chat_templates.FORMATS[self.resolved.name].suffix.get("assistant", "")
            ids = self.llm.tokenize(suffix.encode(), add_bos=False, special=True) if suffix else []
            if ids and llama_cpp.llama_vocab_is_eog(vocab, ids[0]):
                return int(ids[0])
        return int(self.llm.token_eos())

    def tokenize(self, example: Example) -> TokenizedExample:
        prompt = prompt_tokens(self.llm, self.resolved, [dict(m) for m in example.messages])
        answer = self.llm.tokenize(example.answer.encode("utf-8"), add_bos=False, special=False)
        return TokenizedExample(example.id, tuple(prompt), (*answer, self.end))

    def close(self) -> None:
        self.llm.close()


def grammar_accepts(vocab: Vocab, schema: dict[str, Any], answer_ids: tuple[int, ...] | list[int]) -> str | None:
    """None when llama.cpp's grammar for ``schema`` lets a model write exactly these tokens and stop;
    otherwise a one-line reason naming the first token refused."""
    import llama_cpp
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    grammar = json_schema_to_gbnf(json.dumps(schema))
    lib_vocab = llama_cpp.llama_model_get_vocab(vocab.llm.model)
    sampler = llama_cpp.llama_sampler_init_grammar(lib_vocab, grammar.encode(), b"root")
    if not sampler:
        return "the grammar did not compile"
    try:
        data = (llama_cpp.llama_token_data * 1)()
        array = llama_cpp.llama_token_data_array(data=data, size=1, selected=-1, sorted=False)
        for k, token in enumerate(answer_ids):
            data[0].id = llama_cpp.llama_token(int(token))
            data[0].logit, data[0].p = 0.0, 0.0
            array.size, array.selected = 1, -1
            llama_cpp.llama_sampler_apply(sampler, ctypes.byref(array))
            if math.isinf(data[0].logit):
                piece = vocab.llm.detokenize([int(token)], special=True).decode("utf-8", "replace")
                return f"token {k} ({piece!r}) is not allowed by the grammar"
            if k < len(answer_ids) - 1:
                llama_cpp.llama_sampler_accept(sampler, int(token))
        return None
    finally:
        llama_cpp.llama_sampler_free(sampler)
