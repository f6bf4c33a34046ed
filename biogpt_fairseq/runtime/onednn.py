"""Matrix products through oneDNN, for fp32 on CPU.

torch's `linear` and `mm` on CPU call MKL, which on this project's AMD machine reaches
about 220 GFLOP/s on a 2048^2 product; oneDNN 490 to 540 across runs (bench/training.py
prints both). Decoding (sequence_generator.py) and the chunked criterion make many small products
with the same large matrix, packed once for oneDNN, where the gap is widest (3 to 7x for
a decoding step's few rows); `linear_maps()` sends a model's own linear maps there in
training, forward and backward (2 to 2.3x for a layer of the tiny model).
"""
import contextlib

import torch
from torch import Tensor


def applies(*tensors: Tensor) -> bool:
    return torch.backends.mkldnn.is_available() and all(
        t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)


def pack(weight: Tensor, rows: int) -> Tensor:
    """`weight` (out x in, as nn.Linear holds it) in oneDNN's layout for products of about `rows` rows."""
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), rows)


def linear(x: Tensor, weight: Tensor, bias=None) -> Tensor:
    """x @ weight.T (+ bias) over the last dimension of `x`; `weight` packed by `pack`, or plain
    with any strides."""
    rows = x.reshape(-1, x.size(-1)).contiguous()
    return torch.ops.mkldnn._linear_pointwise(rows, weight, bias, "none", [], "").view(*x.shape[:-1], -1)


def weight_gradient(grad: Tensor, rows: Tensor) -> Tensor:
    """grad^T @ rows, a linear map's weight gradient from its input rows and their output's
    gradient, made as the faster of the two products: the one with fewer rows and more columns
    (for a 42,384 x 256 weight, transposed, 2x MKL; the other way round 0.7x)."""
    if grad.size(1) <= rows.size(1):
        return linear(grad.t(), rows.t())
    return linear(rows.t(), grad.t()).t()


@contextlib.contextmanager
def linear_maps():
    """Within it, `torch.nn.functional.linear` (what nn.Linear and torch's multi-head attention
    call) runs on oneDNN, forward and backward, for fp32 CPU tensors; other calls are unchanged."""
    stock = torch.nn.functional.linear

    def linear_map(x, weight, bias=None):
        if x.dim() < 2 or x.numel() == 0 or not applies(x, weight, *([] if bias is None else [bias])):
            return stock(x, weight, bias)
        return _Linear.apply(x, weight, bias)

    torch.nn.functional.linear = linear_map
    try:
        yield
    finally:
        torch.nn.functional.linear = stock


class _Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x.reshape(-1, x.size(-1)), weight)
        ctx.input_shape, ctx.has_bias = x.shape, bias is not None
        return linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad):
        rows, weight = ctx.saved_tensors
        grad = grad.reshape(-1, weight.size(0))
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = linear(grad, weight.t()).view(ctx.input_shape)
        if ctx.needs_input_grad[1]:
            grad_weight = weight_gradient(grad, rows)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad.sum(dim=0)
        return grad_x, grad_weight, grad_bias
