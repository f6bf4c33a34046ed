"""Matrix products through oneDNN, for fp32 weights on CPU packed once and used many times.

torch's `linear` and `mm` on CPU call MKL, which on this project's AMD machine reaches
about 220 GFLOP/s on a 2048^2 product; oneDNN, with the weight packed for it, 490 to 540
across runs (bench/training.py prints both). Decoding (prefill.py) and the chunked criterion make many
small products with the same large matrix, where the gap is widest (3 to 7x for a
decoding step's few rows).
"""
import torch
from torch import Tensor


def applies(*tensors: Tensor) -> bool:
    return torch.backends.mkldnn.is_available() and all(
        t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)


def pack(weight: Tensor, rows: int = 16) -> Tensor:
    """`weight` (out x in, as nn.Linear holds it) in oneDNN's layout for products of about `rows` rows."""
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), rows)


def linear(x: Tensor, packed: Tensor, bias=None) -> Tensor:
    """x @ weight.T (+ bias) for 2-d `x`, with the packed weight."""
    return torch.ops.mkldnn._linear_pointwise(x.contiguous(), packed, bias, "none", [], "")
