"""Teaching the bundled model the task: training data, rendering, LoRA training, the GGUF adapter.

Everything here but :mod:`extract.training.reserved` and the source converters needs the ``train``
extra (torch, transformers, peft); those imports happen inside the functions that use them.
"""
