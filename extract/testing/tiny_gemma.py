"""A tiny randomly initialised Gemma 3, as a transformers model and as a GGUF llama.cpp loads.

For tests of training and serving that must take seconds: the architecture and tokenizer of
the bundled Gemma 3 270M (its 262,144-word vocabulary, copied from the bundled GGUF) with a
hidden size of 64 and two layers. Needs the ``train`` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def tiny_config(vocab_size: int = 262_144) -> Any:
    from transformers import Gemma3TextConfig

    return Gemma3TextConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        max_position_embeddings=4096,
        sliding_window=512,
        # llama.cpp makes every sixth layer a global one (the rest slide): two sliding layers match it
        layer_types=["sliding_attention", "sliding_attention"],
        # llama.cpp scales queries by 1/sqrt(head_dim) for this size; transformers by this scalar
        query_pre_attn_scalar=32,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
    )


def tiny_model(seed: int = 0) -> Any:
    import torch
    from transformers import Gemma3ForCausalLM

    torch.manual_seed(seed)
    model = Gemma3ForCausalLM(tiny_config())
    model.config.use_cache = False
    return model


def write_base_gguf(model: Any, path: str | Path, tokenizer_gguf: str | Path) -> Path:
    """Write ``model`` as an f32 GGUF with the tokenizer (and its keys) of ``tokenizer_gguf``."""
    import gguf
    import numpy as np

    cfg = model.config
    reader = gguf.GGUFReader(str(tokenizer_gguf))
    writer = gguf.GGUFWriter(str(path), arch="gemma3")
    for key, fld in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        kind = fld.types[0]
        if kind == gguf.GGUFValueType.ARRAY:
            writer.add_array(key, fld.contents())
        elif kind == gguf.GGUFValueType.STRING:
            writer.add_string(key, fld.contents())
        else:
            writer.add_key_value(key, fld.contents(), kind)
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_key_length(cfg.head_dim)
    writer.add_value_length(cfg.head_dim)
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_rope_freq_base(float(cfg.rope_parameters["full_attention"]["rope_theta"]))
    writer.add_sliding_window(cfg.sliding_window)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA3, cfg.num_hidden_layers)
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":
            continue  # tied to the embeddings
        dest = name_map.get_name(name, try_suffixes=(".weight",))
        if dest is None:
            raise ValueError(f"no GGUF name for {name}")
        data = tensor.detach().float().numpy()
        if name.endswith("norm.weight"):
            data = data + 1.0  # llama.cpp's Gemma norm multiplies by the stored weight, transformers by 1 + weight
        writer.add_tensor(dest, np.ascontiguousarray(data, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(path)
