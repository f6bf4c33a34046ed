"""The oneDNN products: the same numbers as torch's, to float rounding."""
import pytest
import torch

from biogpt_fairseq.runtime import onednn


@pytest.mark.parametrize("leading,inputs,outputs,with_bias", [
    ((10, 3), 64, 256, True),   # more outputs than inputs: d weight made transposed
    ((70,), 256, 64, False),    # fewer: d weight made directly
    ((4, 5, 6), 16, 16, True),
])
@pytest.mark.fast
def test_linear_maps_give_torch_linear_values_and_gradients(leading, inputs, outputs, with_bias):
    torch.manual_seed(0)
    x = torch.randn(*leading, inputs, requires_grad=True)
    weight = torch.randn(outputs, inputs, requires_grad=True)
    bias = torch.randn(outputs, requires_grad=True) if with_bias else None
    leaves = [t for t in (x, weight, bias) if t is not None]
    expected = torch.nn.functional.linear(x, weight, bias)
    expected_grads = torch.autograd.grad(expected.square().sum(), leaves)
    with onednn.linear_maps():
        got = torch.nn.functional.linear(x, weight, bias)
        assert got.grad_fn.name() == "_LinearBackward"  # oneDNN's, not torch's AddmmBackward
        grads = torch.autograd.grad(got.square().sum(), leaves)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-4)
    for g, want in zip(grads, expected_grads):
        torch.testing.assert_close(g, want, rtol=1e-5, atol=1e-3)


@pytest.mark.fast
def test_linear_maps_cover_nn_linear_and_attention_and_leave_others_alone():
    torch.manual_seed(0)
    layer, attention = torch.nn.Linear(8, 8), torch.nn.MultiheadAttention(8, 2)
    x = torch.randn(5, 2, 8)
    stock = torch.nn.functional.linear
    expected_layer, expected_attention = layer(x), attention(x, x, x, need_weights=False)[0]
    with onednn.linear_maps():
        assert layer(x).grad_fn.name() == "_LinearBackward"
        torch.testing.assert_close(attention(x, x, x, need_weights=False)[0], expected_attention)
        torch.testing.assert_close(layer(x), expected_layer)
        assert layer(x[:0]).shape == (0, 2, 8)  # no rows (oneDNN refuses them): torch's own
        double = layer.double()(x.double())  # not fp32: torch's own
        assert double.grad_fn.name() != "_LinearBackward"
    assert torch.nn.functional.linear is stock
    with pytest.raises(RuntimeError), onednn.linear_maps():
        raise RuntimeError("a failing step")
    assert torch.nn.functional.linear is stock
