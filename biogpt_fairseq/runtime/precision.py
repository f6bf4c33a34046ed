"""Decoding in reduced precision, a named option: fp32 (the original's) by default.

`bf16` casts a model's weights, and so its activations, to bfloat16 for generation; the scores stay
fp32 (fairseq normalises in fp32). A decoding step of one row reads every weight once, so memory
bandwidth sets its pace: half the bytes made a greedy search of one sentence with BioGPT's 24 x 1024
1.4x faster on this project's CPU. That CPU (AVX2) has no bf16 instructions, so products of many rows
(a long prompt's prefill, batches, beams) are emulated there: 1.3x (5 rows) to 6x (a prefill's
thousands) slower than fp32's. GPUs and CPUs with bf16 instructions run them natively. Measured
effect: README's "Differences from the original" and bench/RESULTS.md.
(torch is imported where used: the command-line tools list the choices without it.)
"""
from typing import Iterable

DTYPES = {"fp32": "float32", "bf16": "bfloat16"}  # the option's names: torch's


def torch_dtype(dtype: str):
    """The torch dtype of an option's name ("fp32" or "bf16")."""
    import torch

    if dtype not in DTYPES:
        raise ValueError(f"decoding dtype {dtype!r}: choose from {', '.join(DTYPES)}")
    return getattr(torch, DTYPES[dtype])


def cast(models: Iterable, dtype: str) -> None:
    """The models' parameters and buffers in `dtype` ("fp32" or "bf16")."""
    for model in models:
        model.to(torch_dtype(dtype))


def name(torch_dtype) -> str:
    """The option's name of a torch dtype."""
    return next((key for key, value in DTYPES.items() if value == str(torch_dtype).replace("torch.", "")),
                str(torch_dtype))
