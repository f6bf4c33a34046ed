"""Decoding in reduced precision, a named option: fp32 (the original's) by default.

`bf16` casts a model's weights, and so its activations, to bfloat16 for generation; the scores stay
fp32 (fairseq normalises in fp32). A decoding step of one row reads every weight once, so memory
bandwidth sets its pace: half the bytes made a greedy search of one sentence with BioGPT's 24 x 1024
1.4x faster on the project's CPU of 2026-11-30. That CPU (AVX2) has no bf16 instructions, so products
of many rows (a long prompt's prefill, batches, beams) are emulated there: 1.3x (5 rows) to 6x (a
prefill's thousands) slower than fp32's. On 2026-12-02's (AVX-512 BF16) fp32's packed oneDNN products
were the faster for one sentence (bf16 0.73x) and bf16 1.08x over 16 (bench/RESULTS.md).

`int8` keeps fp32 activations and stores every linear map's weights (the layers' and the output
projection's) in int8, weight-only (runtime/int8_weights.py): a quarter of fp32's bytes a token.
Measured effect of both: README's "Differences from the original" and bench/RESULTS.md.
(torch is imported where used: the command-line tools list the choices without it.)
"""
from typing import Iterable

# Each option's name, and the torch dtype its activations run in.
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "int8": "float32"}


def torch_dtype(dtype: str):
    """The torch dtype of an option's activations ("fp32", "bf16", "fp16" or "int8")."""
    import torch

    if dtype not in DTYPES:
        raise ValueError(f"decoding dtype {dtype!r}: choose from {', '.join(DTYPES)}")
    return getattr(torch, DTYPES[dtype])


def cast(models: Iterable, dtype: str) -> None:
    """The models' parameters and buffers in `dtype`'s activations; for int8, their linear maps'
    weights quantized. A model already quantized takes no other dtype."""
    from biogpt_fairseq.runtime import int8_weights

    for model in models:
        quantized = int8_weights.quantized(model)
        if quantized and dtype != "int8":
            raise ValueError(f"decoding dtype {dtype!r}: this model's weights are already int8; load it again")
        model.to(torch_dtype(dtype))
        if dtype == "int8" and not quantized:
            int8_weights.quantize(model)


def of(model) -> str:
    """The option a model runs in."""
    from biogpt_fairseq.runtime import int8_weights

    if int8_weights.quantized(model):
        return "int8"
    dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    return next((key for key, value in DTYPES.items() if value == dtype), dtype)
