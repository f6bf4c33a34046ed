"""`chunked_cross_entropy`: fairseq's `cross_entropy`, without the vocabulary-wide logits.

For a 42,384-type vocabulary the logits of one batch of 2,048 tokens are 347 MB, written
by the output projection and read and written again by log-softmax, its backward and
the loss: the largest share of a training step's time on CPU after the three projection
products themselves. This criterion takes the decoder's features instead and, a few
rows at a time, makes the logits, the loss and the softmax gradient while that chunk is
still in cache, and multiplies it into the gradients of the features and of the
projection. On CPU in fp32 the products with the projection go through oneDNN, its
matrix packed once per batch (biogpt_fairseq/onednn.py). The loss and the gradients are
those of `cross_entropy` to float rounding (tests/test_chunked_cross_entropy.py). Models
it can't take apart this way (an adaptive softmax) get `cross_entropy` itself.
"""
from dataclasses import dataclass, field

import torch
from fairseq.criterions import register_criterion
from fairseq.criterions.cross_entropy import CrossEntropyCriterion, CrossEntropyCriterionConfig

from biogpt_fairseq import onednn


@dataclass
class ChunkedCrossEntropyConfig(CrossEntropyCriterionConfig):
    chunk_tokens: int = field(
        default=64, metadata={"help": "tokens whose logits are made at a time (64 x 42,384 floats: 11 MB)"}
    )


@register_criterion("chunked_cross_entropy", dataclass=ChunkedCrossEntropyConfig)
class ChunkedCrossEntropyCriterion(CrossEntropyCriterion):
    def __init__(self, task, sentence_avg, chunk_tokens=64):
        super().__init__(task, sentence_avg)
        self.chunk_tokens = chunk_tokens

    def forward(self, model, sample, reduce=True):
        decoder = getattr(model, "decoder", None)
        projection = getattr(decoder, "output_projection", None)
        if not reduce or projection is None or getattr(decoder, "adaptive_softmax", None) is not None:
            return super().forward(model, sample, reduce=reduce)
        features, extra = model(**sample["net_input"], features_only=True)
        target = model.get_targets(sample, (features, extra)).reshape(-1)
        loss = linear_cross_entropy(features.reshape(-1, features.size(-1)), projection.weight, projection.bias,
                                    target, self.padding_idx, self.chunk_tokens)
        sample_size = sample["target"].size(0) if self.sentence_avg else sample["ntokens"]
        logging_output = {"loss": loss.data, "ntokens": sample["ntokens"], "nsentences": sample["target"].size(0),
                          "sample_size": sample_size}
        return loss, sample_size, logging_output


def linear_cross_entropy(features, weight, bias, target, ignore_index: int, chunk_tokens: int):
    """sum over tokens whose target isn't `ignore_index` of -log softmax(features @ weight.T + bias)[target]."""
    if torch.is_grad_enabled() and (features.requires_grad or weight.requires_grad
                                    or (bias is not None and bias.requires_grad)):
        return _LinearCrossEntropy.apply(features, weight, bias, target, ignore_index, chunk_tokens)
    return _chunks(features, weight, bias, target, ignore_index, chunk_tokens, gradients=False)[0]


def _products(features, weight, bias, gradients: bool, rows: int):
    """rows -> logits, and (for the features' gradient) d logits -> d rows."""
    if onednn.applies(features, weight):
        packed = onednn.pack(weight, rows)
        transposed = onednn.pack(weight.t(), rows) if gradients else None
        return (lambda x: onednn.linear(x, packed, bias)), (lambda g: onednn.linear(g, transposed))
    return (lambda x: torch.nn.functional.linear(x, weight, bias)), (lambda g: torch.mm(g, weight))


def _chunks(features, weight, bias, target, ignore_index, chunk_tokens, gradients: bool):
    project, project_back = _products(features, weight, bias, gradients, chunk_tokens)
    loss = features.new_zeros((), dtype=torch.float32)
    if gradients:
        grad_features = features.new_empty(features.shape)
        grad_weight = torch.zeros_like(weight, dtype=torch.float32)  # summed over chunks in fp32
        grad_bias = None if bias is None else torch.zeros_like(bias, dtype=torch.float32)
    for start in range(0, features.size(0), chunk_tokens):
        rows, targets = features[start:start + chunk_tokens], target[start:start + chunk_tokens]
        logits = project(rows).float()
        normaliser = logits.logsumexp(dim=1, keepdim=True)
        counted = targets.ne(ignore_index)
        picked = targets.masked_fill(~counted, 0).unsqueeze(1)
        loss += ((normaliser - logits.gather(1, picked)).squeeze(1) * counted).sum()
        if gradients:
            # d loss / d logits = softmax - one-hot, for the counted rows
            grad_logits = logits.sub_(normaliser).exp_()
            grad_logits.scatter_add_(1, picked, grad_logits.new_full(picked.shape, -1.0))
            grad_logits.mul_(counted.unsqueeze(1))
            grad_logits = grad_logits.to(features.dtype)
            grad_features[start:start + chunk_tokens] = project_back(grad_logits)
            if grad_weight.dtype == rows.dtype:
                grad_weight.addmm_(grad_logits.t(), rows)
            else:
                grad_weight.add_(torch.mm(grad_logits.t(), rows))
            if grad_bias is not None:
                grad_bias.add_(grad_logits.sum(dim=0))
    if not gradients:
        return loss, None, None, None
    return (loss, grad_features, grad_weight.to(weight.dtype),
            None if grad_bias is None else grad_bias.to(bias.dtype))


class _LinearCrossEntropy(torch.autograd.Function):
    """The gradients are made with the loss, chunk by chunk; backward only scales them."""

    @staticmethod
    def forward(ctx, features, weight, bias, target, ignore_index, chunk_tokens):
        loss, *gradients = _chunks(features, weight, bias, target, ignore_index, chunk_tokens, gradients=True)
        ctx.gradients = gradients
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        grad_features, grad_weight, grad_bias = (None if g is None else g * grad_loss.to(g.dtype)
                                                 for g in ctx.gradients)
        ctx.gradients = None
        return grad_features, grad_weight, grad_bias, None, None, None
