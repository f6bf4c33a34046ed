"""int8 weight-only linear maps: the `int8` decoding option (runtime/precision.py).

Each linear map's weight becomes int8 with one scale per output row (the row's largest magnitude
over 127, symmetric); its product is torch's own `_weight_int8pack_mm` kernel, which reads a quarter
of fp32's bytes. The rest of the model stays fp32: only each product's input is rounded to bf16, the
one input type for which that kernel is fast on this project's CPU (a 4096 x 1024 matrix, one row,
2 threads: 0.51 ms from bf16, 3.6 ms from fp32 or fp16). A whole model in bf16 was slower: torch
emulates bf16 attention on the AVX2 CPU this was measured on (2026-11-30), and its steps took 9 ms
more at 24 x 1024 (profiled).
"""
import torch

from biogpt_fairseq.runtime import onednn

# From this many rows a product dequantizes the weights and multiplies in the activations' dtype: the
# int8 kernel's time grows with the rows, and from about 64 rows it is the slower (a 4096 x 1024
# matrix: 1.1 ms at 8 rows against 12 dequantized, 10 against 10 at 64, 37 against 23 at 256); a
# demo model's prefills of whole abstracts took more than 10x fp32's time on it alone.
DEQUANTIZED_MIN_ROWS = 64


class Int8WeightLinear(torch.nn.Module):
    """A linear map with int8 weights and bf16 scales: `weight` (out x in, int8), `scales` (out),
    `bias` as the map had it. Below DEQUANTIZED_MIN_ROWS rows its input is rounded to bf16 for the
    int8 kernel; the result is in the input's dtype."""

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        weight = linear.weight.detach().float()
        # (the scales the kernel reads, rounded to bf16, are those the weights are rounded with)
        scales = (weight.abs().amax(dim=1) / 127).to(torch.bfloat16)
        steps = weight / scales.float().clamp(min=torch.finfo(torch.float32).tiny)[:, None]
        self.register_buffer("weight", torch.round(steps).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scales", scales)
        self.bias = linear.bias
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features)
        if rows.size(0) >= DEQUANTIZED_MIN_ROWS:
            weight = self.weight * self.scales.to(x.dtype)[:, None]  # (one pass, in x.dtype)
            out = onednn.linear(rows, weight) if onednn.applies(rows, weight) else rows @ weight.t()
        else:
            out = torch._weight_int8pack_mm(rows.to(self.scales.dtype), self.weight, self.scales).to(x.dtype)
        if self.bias is not None:
            out += self.bias
        return out.view(*x.shape[:-1], self.out_features)


def quantize(model: torch.nn.Module) -> None:
    """Every `nn.Linear` of `model` as an `Int8WeightLinear`, in place."""
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if type(child) is torch.nn.Linear:
                setattr(parent, name, Int8WeightLinear(child))
        if hasattr(parent, "_set_skip_embed_dim_check"):
            # fairseq's attention, without a cache, hands its projections' weights to torch's
            # multi-head attention; this, fairseq's own switch, makes it call the modules instead.
            parent._set_skip_embed_dim_check()


def quantized(model: torch.nn.Module) -> bool:
    return any(isinstance(m, Int8WeightLinear) for m in model.modules())
