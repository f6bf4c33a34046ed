"""`chunked_cross_entropy`: fairseq's `cross_entropy`, without the vocabulary-wide logits.

For a 42,384-type vocabulary the logits of one batch of 2,048 tokens are 347 MB, written
by the output projection and read and written again by log-softmax, its backward and
the loss: the largest share of a training step's time on CPU after the three projection
products themselves. This criterion takes the decoder's features instead and, 128 rows
at a time, makes the logits, the loss and the softmax gradient while that chunk is still
in cache, and multiplies it into the features' gradient; the projection's gradient is
one product per block of 1,024 rows. On CPU in fp32 the products go through oneDNN
(biogpt_fairseq/runtime/onednn.py): the projection's, its matrix packed once per batch, and,
while the model runs, its layers' linear maps. The loss and the gradients are those of
`cross_entropy` to float rounding (tests/test_chunked_cross_entropy.py). Models it can't
take apart this way (an adaptive softmax) get `cross_entropy` itself.
"""
import contextlib
import logging
from dataclasses import dataclass, field

import torch
from fairseq.criterions import register_criterion
from fairseq.criterions.cross_entropy import CrossEntropyCriterion, CrossEntropyCriterionConfig

from biogpt_fairseq.runtime import glibc_memory
from biogpt_fairseq.runtime import onednn

logger = logging.getLogger(__name__)


@dataclass
class ChunkedCrossEntropyConfig(CrossEntropyCriterionConfig):
    chunk_tokens: int = field(
        default=128, metadata={"help": "tokens whose logits are made at a time (128 x 42,384 floats: 22 MB)"}
    )
    block_tokens: int = field(
        default=1024, metadata={"help": "tokens whose softmax gradients are kept for one product into the "
                                        "projection's gradient (1,024 x 42,384 floats: 174 MB); larger is "
                                        "faster, up to a batch"}
    )
    return_freed_memory: bool = field(
        default=False, metadata={"help": "let glibc return freed blocks over 32 MB to the system, its default; "
                                         "otherwise they are kept for reuse (biogpt_fairseq/runtime/glibc_memory.py): a "
                                         "CPU step spends a quarter less time, memory stays at its peak"}
    )


@register_criterion("chunked_cross_entropy", dataclass=ChunkedCrossEntropyConfig)
class ChunkedCrossEntropyCriterion(CrossEntropyCriterion):
    def __init__(self, task, sentence_avg, chunk_tokens=128, block_tokens=1024, return_freed_memory=False):
        super().__init__(task, sentence_avg)
        self.chunk_tokens, self.block_tokens = chunk_tokens, block_tokens
        self.keep_freed_memory = not return_freed_memory

    def forward(self, model, sample, reduce=True):
        decoder = getattr(model, "decoder", None)
        projection = getattr(decoder, "output_projection", None)
        if not reduce or projection is None or getattr(decoder, "adaptive_softmax", None) is not None:
            return super().forward(model, sample, reduce=reduce)
        with contextlib.ExitStack() as scope:  # both restored when the loss is made
            if self.keep_freed_memory and projection.weight.device.type == "cpu":  # glibc's: the CPU's heap
                scope.enter_context(glibc_memory.kept_freed_memory())
            with onednn.linear_maps():  # the layers' products too, where they are fp32 on CPU
                features, extra = model(**sample["net_input"], features_only=True)
            target = model.get_targets(sample, (features, extra)).reshape(-1)
            loss = linear_cross_entropy(features.reshape(-1, features.size(-1)), projection.weight,
                                        projection.bias, target, self.padding_idx, self.chunk_tokens,
                                        self.block_tokens)
        sample_size = sample["target"].size(0) if self.sentence_avg else sample["ntokens"]
        logging_output = {"loss": loss.data, "ntokens": sample["ntokens"], "nsentences": sample["target"].size(0),
                          "sample_size": sample_size}
        return loss, sample_size, logging_output


def linear_cross_entropy(features, weight, bias, target, ignore_index: int, chunk_tokens: int, block_tokens: int):
    """sum over tokens whose target isn't `ignore_index` of -log softmax(features @ weight.T + bias)[target]."""
    if torch.is_grad_enabled() and (features.requires_grad or weight.requires_grad
                                    or (bias is not None and bias.requires_grad)):
        return _LinearCrossEntropy.apply(features, weight, bias, target, ignore_index, chunk_tokens, block_tokens)
    return _chunks(features, weight, bias, target, ignore_index, chunk_tokens, block_tokens, gradients=False)[0]


def _products(features, weight, bias, gradients: bool, rows: int):
    """The three products with the projection: rows -> logits; d logits -> d rows; and
    (block of rows, d logits of the block) -> d weight."""
    if onednn.applies(features, weight):
        packed = onednn.pack(weight, rows)
        transposed = onednn.pack(weight.t(), rows) if gradients else None
        return (lambda x: onednn.linear(x, packed, bias), lambda g: onednn.linear(g, transposed),
                lambda x, g: onednn.weight_gradient(g, x))
    return (lambda x: torch.nn.functional.linear(x, weight, bias), lambda g: torch.mm(g, weight),
            lambda x, g: torch.mm(g.t(), x))


def _chunks(features, weight, bias, target, ignore_index, chunk_tokens, block_tokens, gradients: bool):
    project, project_back, weight_gradient = _products(features, weight, bias, gradients, chunk_tokens)
    tokens, dtype = features.size(0), features.dtype
    loss = features.new_zeros((), dtype=torch.float32)
    # softmax - one-hot of up to block_tokens rows, so that the projection's gradient is one
    # product with a long inner dimension (summing 64-row products into it took twice as long)
    block_tokens = block_tokens if gradients else chunk_tokens
    probabilities = features.new_empty((min(block_tokens, tokens), weight.size(0)), dtype=torch.float32)
    grad_weight = grad_bias = None
    grad_features = features.new_empty(features.shape) if gradients else None
    for block_start in range(0, tokens, block_tokens):
        block_end = min(tokens, block_start + block_tokens)
        for start in range(block_start, block_end, chunk_tokens):
            end = min(block_end, start + chunk_tokens)
            logits = project(features[start:end]).float()
            chunk = probabilities[start - block_start:end - block_start]
            torch.ops.aten._softmax.out(logits, 1, False, out=chunk)
            targets = target[start:end]
            counted = targets.ne(ignore_index)
            picked = targets.masked_fill(~counted, 0).unsqueeze(1)
            token_loss = chunk.gather(1, picked).log_().neg_().squeeze(1)
            vanished = (token_loss > _LARGEST_LOSS_FROM_PROBABILITY).nonzero().squeeze(1)
            if len(vanished):  # a probability too small for its log: from the logits instead
                token_loss[vanished] = (logits[vanished].logsumexp(dim=1)
                                        - logits[vanished].gather(1, picked[vanished]).squeeze(1))
            loss += (token_loss * counted).sum()
            if gradients:  # d loss / d logits = softmax - one-hot, for the counted rows
                chunk.index_fill_(0, (~counted).nonzero().squeeze(1), 0.0)
                chunk.scatter_add_(1, picked, -counted.unsqueeze(1).float())
                grad_features[start:end] = project_back(chunk.to(dtype))
        if gradients:
            block = probabilities[:block_end - block_start].to(dtype)
            part = weight_gradient(features[block_start:block_end], block)
            grad_weight = part.float() if grad_weight is None else grad_weight.add_(part)  # fp32 sum
            if bias is not None:
                part = block.sum(dim=0, dtype=torch.float32)
                grad_bias = part if grad_bias is None else grad_bias.add_(part)
    if not gradients:
        return loss, None, None, None
    if grad_weight is None:  # no tokens
        grad_weight, grad_bias = torch.zeros_like(weight), None if bias is None else torch.zeros_like(bias)
    return (loss, grad_features, grad_weight.to(weight.dtype).contiguous(),
            None if grad_bias is None else grad_bias.to(bias.dtype))


# -log p above this is taken from the logits: p would be below 1e-30, where float32 is short of digits
_LARGEST_LOSS_FROM_PROBABILITY = 69.0


class _LinearCrossEntropy(torch.autograd.Function):
    """The gradients are made with the loss, chunk by chunk; backward only scales them."""

    @staticmethod
    def forward(ctx, features, weight, bias, target, ignore_index, chunk_tokens, block_tokens):
        loss, *gradients = _chunks(features, weight, bias, target, ignore_index, chunk_tokens, block_tokens,
                                   gradients=True)
        ctx.gradients = gradients
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        gradients = [None if g is None else g.mul_(grad_loss.to(g.dtype)) for g in ctx.gradients]
        ctx.gradients = None
        return (*gradients, None, None, None, None)
