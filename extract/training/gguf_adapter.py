"""LoRA weights written as a llama.cpp adapter (GGUF), and read back.

llama.cpp applies an adapter on the quantized base at load time (``Llama(lora_path=...)``), so
the project ships the adapter, not a merged model: merging into the weights and quantizing
again loses much of what was learned. The tensors are written as f32 (f16 halves prompt
speed on CPU), named as llama.cpp names the base model's tensors with ``.lora_a`` / ``.lora_b``
appended; PEFT's ``lora_A`` (rank x in) and ``lora_B`` (out x rank) are stored as they are.

The file also carries, under ``incident_extract.*`` keys, what the adapter was trained to
answer: the prompt, evidence mode, schema rendering and chat format it was taught with, and a
summary of its training. The local backend reads them, so an adapter is served the way it
was trained.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from extract.backends.local import SERVING_KEY, TRAINING_KEY, adapter_info

_PEFT_PREFIX = "base_model.model."


def _dest_name(peft_name: str, name_map: Any) -> tuple[str, str]:
    """(llama.cpp tensor name, "a" or "b") for a PEFT LoRA tensor name."""
    peft_name = re.sub(r"\.lora_([AB])\.[^.]+\.weight$", r".lora_\1.weight", peft_name)  # the adapter's name
    for part, which in ((".lora_A.weight", "a"), (".lora_B.weight", "b")):
        if peft_name.endswith(part):
            hf = peft_name[: -len(part)] + ".weight"
            if hf.startswith(_PEFT_PREFIX):
                hf = hf[len(_PEFT_PREFIX) :]
            dest = name_map.get_name(hf, try_suffixes=(".weight",))
            if dest is None:
                raise ValueError(f"no llama.cpp tensor for {hf}")
            return dest, which
    raise ValueError(f"not a LoRA tensor: {peft_name}")


def write_adapter(
    path: str | Path,
    tensors: dict[str, Any],
    *,
    alpha: float,
    n_layers: int,
    architecture: str = "gemma3",
    serving: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
) -> Path:
    """Write PEFT LoRA tensors (name -> torch tensor or array) as an f32 GGUF adapter; atomically."""
    import gguf
    import numpy as np

    arch = {v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}[architecture]
    name_map = gguf.get_tensor_name_map(arch, n_layers)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    writer = gguf.GGUFWriter(str(tmp), arch=architecture)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(alpha))
    if serving is not None:
        writer.add_string(SERVING_KEY, json.dumps(serving, sort_keys=True))
    if training is not None:
        writer.add_string(TRAINING_KEY, json.dumps(training, sort_keys=True))
    for name in sorted(tensors):
        dest, which = _dest_name(name, name_map)
        value = tensors[name]
        array = value.detach().float().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        writer.add_tensor(f"{dest}.lora_{which}", np.ascontiguousarray(array, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, path)
    return path


#: The adapter's keys and tensor count, read back (the local backend's reader: one reader for both).
read_metadata = adapter_info
