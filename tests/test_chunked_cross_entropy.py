"""`chunked_cross_entropy` gives `cross_entropy`'s loss and gradients without the vocabulary-wide logits."""
import pytest
import torch
from conftest import run_tool, tiny_training_command
from test_distributed import losses

from biogpt_fairseq.criterions.chunked_cross_entropy import linear_cross_entropy
from biogpt_fairseq.runtime.safe_checkpoint import load

PAD = 1


def reference(features, weight, bias, target):
    logits = torch.nn.functional.linear(features, weight, bias).float()
    return torch.nn.functional.cross_entropy(logits, target, ignore_index=PAD, reduction="sum")


@pytest.mark.fast
@pytest.mark.parametrize("chunk_tokens,block_tokens", [(1, 1), (7, 7), (7, 30), (64, 64), (16, 1000), (1000, 1000)])
@pytest.mark.parametrize("with_bias", [False, True])
def test_loss_and_gradients_equal_cross_entropy(chunk_tokens, block_tokens, with_bias):
    torch.manual_seed(0)
    features = torch.randn(150, 32, requires_grad=True)
    weight = (torch.randn(500, 32) * 0.3).requires_grad_()
    bias = torch.randn(500, requires_grad=True) if with_bias else None
    target = torch.randint(0, 500, (150,))
    target[::5] = PAD  # padding and the source positions of a prompt model count for nothing
    inputs = [t for t in (features, weight, bias) if t is not None]

    expected = reference(features, weight, bias, target)
    expected_grads = torch.autograd.grad(expected * 0.5, inputs)  # a scale, as fairseq's loss scaling
    loss = linear_cross_entropy(features, weight, bias, target, PAD, chunk_tokens, block_tokens)
    grads = torch.autograd.grad(loss * 0.5, inputs)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-4)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert grads[0][::5].abs().max() == 0  # no gradient from the ignored positions
    with torch.no_grad():  # validation: the loss alone
        torch.testing.assert_close(linear_cross_entropy(features, weight, bias, target, PAD, chunk_tokens, block_tokens), expected,
                                   rtol=1e-5, atol=1e-4)


@pytest.mark.fast
def test_targets_with_vanishing_probability_keep_their_loss():
    # logits 200 apart: the target's softmax probability is 0 in float32, its loss about 200
    torch.manual_seed(0)
    features = torch.randn(40, 8, requires_grad=True)
    weight = (torch.randn(50, 8) * 30).requires_grad_()
    target = torch.randint(0, 50, (40,))
    expected = reference(features, weight, None, target)
    loss = linear_cross_entropy(features, weight, None, target, PAD, 8, 16)
    assert torch.isfinite(loss) and expected > 40 * 69  # most tokens take the path from the logits
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-3)
    for got, want in zip(torch.autograd.grad(loss, [features, weight]),
                         torch.autograd.grad(expected, [features, weight])):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.fast
def test_no_tokens_give_zero_loss_and_gradients():
    features = torch.randn(0, 8, requires_grad=True)
    weight, bias = torch.randn(20, 8, requires_grad=True), torch.randn(20, requires_grad=True)
    loss = linear_cross_entropy(features, weight, bias, torch.zeros(0, dtype=torch.long), PAD, 4, 8)
    loss.backward()
    assert loss == 0 and weight.grad.abs().max() == 0 and bias.grad.abs().max() == 0


@pytest.mark.fast
def test_bfloat16_features_keep_float32_softmax_and_sums():
    torch.manual_seed(0)
    features = torch.randn(96, 32).bfloat16().requires_grad_()
    weight = (torch.randn(300, 32) * 0.3).bfloat16().requires_grad_()
    target = torch.randint(2, 300, (96,))
    loss = linear_cross_entropy(features, weight, None, target, PAD, 16, 48)
    loss.backward()
    assert loss.dtype == torch.float32 and weight.grad.dtype == torch.bfloat16
    expected = reference(features.float(), weight.float(), None, target)
    torch.testing.assert_close(loss, expected, rtol=2e-2, atol=0)


@pytest.mark.parametrize("what", ["pretraining", "prompt fine-tuning"])
def test_fairseq_training_matches_cross_entropy(what, tiny_corpus, tiny_pretrained, pubmedqa_data, tmp_path):
    command = tiny_training_command(what, tiny_corpus, tiny_pretrained, pubmedqa_data)
    stock = run_tool(*command, "--criterion", "cross_entropy", "--save-dir", tmp_path / "stock")
    chunked = run_tool(*command, "--criterion", "chunked_cross_entropy", "--chunk-tokens", 48, "--block-tokens", 96,
                       "--save-dir", tmp_path / "chunked")
    stock_losses, chunked_losses = losses(stock), losses(chunked)
    assert sorted(stock_losses) == sorted(chunked_losses) == list(range(1, 7))
    assert all(abs(stock_losses[n] - chunked_losses[n]) <= 2e-3 for n in stock_losses), (stock_losses, chunked_losses)
    a, b = (load(tmp_path / d / "checkpoint_last.pt")["model"] for d in ("stock", "chunked"))
    # Adam divides each gradient by its own size, so where the true gradient is about zero the
    # rounding noise becomes steps of the learning rate's size: a key bias (no effect on
    # attention: all noise) and the odd weight only stay near each other.
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-4 if name.endswith("k_proj.bias") else 1e-5), name
