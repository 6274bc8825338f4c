"""LoRA training on the CPU: the loss on the answer only, a seeded order, checkpoints that survive a kill.

Needs the ``train`` extra (torch, transformers, peft, gguf). The base model is the GGUF the
adapter will be served on, loaded by transformers (dequantized), so the adapter learns
against the weights llama.cpp will use.

Each step is one example: the prompt and the answer in one sequence, logits computed only
for the answer's positions (``logits_to_keep``: the 262k-word output layer is most of the
cost), cross-entropy on the answer tokens. Gradients accumulate over ``grad_accum`` examples.
Examples are visited in an order drawn from ``seed`` and the epoch, so a run is repeatable and
a resumed run visits what the killed one had not. A checkpoint (LoRA weights, optimizer,
schedule, position, losses) is written atomically every ``checkpoint_every`` optimizer steps
and at the end of each epoch.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from extract.core.errors import ConfigError
from extract.training.tokens import TokenizedExample

TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TrainOptions:
    """How an adapter is trained. Everything here goes into the checkpoint's identity and the model card."""

    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    learning_rate: float = 2e-4
    epochs: int = 1
    grad_accum: int = 4
    warmup_steps: int = 8
    #: Examples longer than this many tokens (prompt + answer) are left out, and counted.
    max_tokens: int = 2560
    seed: int = 0
    checkpoint_every: int = 10
    target_modules: tuple[str, ...] = TARGET_MODULES
    #: bf16 autocast on the CPU (about twice as fast as f32 for these matrix sizes).
    bf16: bool = True

    def __post_init__(self) -> None:
        for name in ("rank", "epochs", "grad_accum", "max_tokens", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.learning_rate < 1:
            raise ConfigError(f"learning rate must be between 0 and 1, got {self.learning_rate}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass
class Progress:
    """Where a run is: for the progress bar and the checkpoint."""

    epoch: int = 0
    position: int = 0  # examples of this epoch done
    step: int = 0  # optimizer steps done
    seen: int = 0  # examples done in all
    losses: list[float] = field(default_factory=list)  # mean answer loss per optimizer step
    seconds: float = 0.0
    epochs_done: list[dict[str, Any]] = field(default_factory=list)


ProgressCallback = Callable[[Progress, int, float], None]  # (progress, total examples, last loss)
EpochCallback = Callable[[int, Any], dict[str, Any]]  # (epoch, peft model) -> dev figures


def load_base(model_path: str | Path) -> Any:
    """The GGUF's weights as a transformers model (float32)."""
    import torch
    from transformers import AutoModelForCausalLM

    path = Path(model_path)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    model.config.use_cache = False
    return model


def wrap_lora(base: Any, options: TrainOptions) -> Any:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=options.rank,
        lora_alpha=options.alpha,  # type: ignore[arg-type]  # a float works; the annotation says int
        lora_dropout=options.dropout,
        target_modules=list(options.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(base, config)


def lora_tensors(model: Any) -> dict[str, Any]:
    """The trained LoRA tensors by PEFT name (detached copies)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def answer_loss(model: Any, example: TokenizedExample, bf16: bool = True) -> Any:
    """Mean cross-entropy of the answer tokens given the prompt (logits only where they are needed)."""
    import torch
    import torch.nn.functional as F

    ids = torch.tensor([list(example.prompt) + list(example.answer)], dtype=torch.long)
    keep = len(example.answer) + 1
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = model(input_ids=ids, logits_to_keep=keep)
    logits = out.logits[0, :-1].float()
    target = torch.tensor(list(example.answer), dtype=torch.long)
    return F.cross_entropy(logits, target)


def _order(n: int, seed: int, epoch: int) -> list[int]:
    order = list(range(n))
    random.Random(f"{seed}:{epoch}").shuffle(order)
    return order


def _schedule(options: TrainOptions, total_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < options.warmup_steps:
            return (step + 1) / options.warmup_steps
        span = max(1, total_steps - options.warmup_steps)
        return max(0.0, 0.5 * (1 + math.cos(math.pi * min(1.0, (step - options.warmup_steps) / span))))

    return factor


def train(
    model: Any,
    examples: Sequence[TokenizedExample],
    options: TrainOptions,
    checkpoint: Path | None = None,
    *,
    identity: dict[str, Any] | None = None,
    on_progress: ProgressCallback | None = None,
    on_epoch: EpochCallback | None = None,
    stop_after: int | None = None,
) -> Progress:
    """Train the LoRA-wrapped ``model`` on ``examples``; resume from ``checkpoint`` when it matches.

    ``identity`` (the data hash and options) must equal the checkpoint's, or the run stops with
    a one-line error rather than mixing two trainings. ``stop_after`` ends the run after that
    many examples (tests use it to simulate a kill between checkpoints).
    """
    import torch

    torch.manual_seed(options.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=options.learning_rate, weight_decay=0.0)
    steps_per_epoch = math.ceil(len(examples) / options.grad_accum)
    total_steps = steps_per_epoch * options.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(options, total_steps))
    identity = {"options": asdict(options), **(identity or {})}
    progress = Progress()
    if checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False)
        if state.get("identity") != identity:
            raise ConfigError(
                f"{checkpoint} is from another training (other data or options)",
                hint="remove it to start again, or give the same data and options to resume",
            )
        named = dict(model.named_parameters())
        for name, tensor in state["lora"].items():
            named[name].data.copy_(tensor)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        progress = Progress(**state["progress"])
        torch.set_rng_state(state["rng"])

    def save() -> None:
        if checkpoint is None:
            return
        tmp = checkpoint.with_name(f".{checkpoint.name}.tmp")
        torch.save(
            {
                "identity": identity,
                "lora": lora_tensors(model),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "progress": asdict(progress),
                "rng": torch.get_rng_state(),
            },
            tmp,
        )
        os.replace(tmp, checkpoint)

    model.train()
    done_here = 0
    while progress.epoch < options.epochs:
        order = _order(len(examples), options.seed, progress.epoch)
        pending: list[float] = []
        while progress.position < len(order):
            started = time.perf_counter()
            loss = answer_loss(model, examples[order[progress.position]], options.bf16)
            (loss / options.grad_accum).backward()
            pending.append(float(loss.detach()))
            progress.position += 1
            progress.seen += 1
            done_here += 1
            boundary = progress.position % options.grad_accum == 0 or progress.position == len(order)
            if boundary:
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                progress.step += 1
                progress.losses.append(round(sum(pending) / len(pending), 5))
                pending = []
            progress.seconds += time.perf_counter() - started
            if on_progress is not None:
                on_progress(progress, len(examples) * options.epochs, float(loss.detach()))
            if boundary and progress.step % options.checkpoint_every == 0:
                save()
            if stop_after is not None and done_here >= stop_after:
                return progress
        figures = on_epoch(progress.epoch, model) if on_epoch is not None else {}
        progress.epochs_done.append({"epoch": progress.epoch + 1, **figures})
        progress.epoch += 1
        progress.position = 0
        save()
    model.eval()
    return progress
