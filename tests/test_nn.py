"""PointWiseLinear and cross_entropy2d: shapes, values against reference computations, gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from exptool.nn import PointWiseLinear, cross_entropy2d


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ----------------------------------------------------------------------------- PointWiseLinear
@pytest.mark.parametrize("leading", [(), (5,), (2, 3)])
def test_pointwise_linear_shapes(leading):
    layer = PointWiseLinear(in_features=4, out_features=6, num_points=7)
    out = layer(torch.randn(*leading, 7, 4))
    assert out.shape == (*leading, 7, 6)
    assert layer.weight.shape == (7, 6, 4) and layer.bias.shape == (7, 6)


def test_pointwise_linear_equals_one_linear_per_point():
    layer = PointWiseLinear(3, 2, num_points=4)
    x = torch.randn(5, 4, 3)
    out = layer(x)
    for n in range(4):
        expected = F.linear(x[:, n], layer.weight[n], layer.bias[n])
        assert torch.allclose(out[:, n], expected, atol=1e-6)


def test_pointwise_linear_without_bias_and_non_contiguous_input():
    layer = PointWiseLinear(3, 2, num_points=4, bias=False)
    assert layer.bias is None and "bias=False" in repr(layer)
    x = torch.randn(4, 5, 3).transpose(0, 1)  # [5, 4, 3], not contiguous
    assert not x.is_contiguous()
    out = layer(x)
    assert torch.allclose(out[:, 1], x[:, 1] @ layer.weight[1].T, atol=1e-6)


def test_pointwise_linear_gradients():
    layer = PointWiseLinear(3, 2, num_points=4, dtype=torch.float64)
    x = torch.randn(5, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))
    layer(x).sum().backward()
    assert layer.weight.grad.shape == layer.weight.shape and layer.bias.grad.shape == layer.bias.shape
    # each point's bias receives the batch size as gradient of the sum
    assert torch.allclose(layer.bias.grad, torch.full((4, 2), 5.0, dtype=torch.float64))
    assert x.grad.shape == x.shape


def test_pointwise_linear_initialised_like_linear():
    layer = PointWiseLinear(in_features=16, out_features=64, num_points=8)
    bound = 1 / math.sqrt(16)
    assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
    assert layer.weight.abs().max() > bound / 2  # not collapsed by counting out_features in the fan-in


def test_pointwise_linear_rejects_bad_shapes():
    layer = PointWiseLinear(3, 2, num_points=4)
    with pytest.raises(ValueError, match=r"\[\.\.\., 4, 3\]"):
        layer(torch.randn(5, 3, 3))
    with pytest.raises(ValueError):
        layer(torch.randn(3))
    with pytest.raises(ValueError):
        PointWiseLinear(0, 2, 4)


# ----------------------------------------------------------------------------- cross_entropy2d
def flat_reference(logits, target, **kwargs):
    c = logits.shape[1]
    return F.cross_entropy(logits.permute(0, 2, 3, 1).reshape(-1, c), target.reshape(-1), **kwargs)


def test_cross_entropy2d_equals_flattened_cross_entropy_with_gradients():
    logits = torch.randn(2, 5, 4, 3, requires_grad=True)
    target = torch.randint(0, 5, (2, 4, 3))
    loss = cross_entropy2d(logits, target)
    loss.backward()
    grad = logits.grad.clone()
    logits.grad = None
    reference = flat_reference(logits, target)
    reference.backward()
    assert loss.shape == ()
    assert torch.allclose(loss, reference) and torch.allclose(grad, logits.grad, atol=1e-7)


def test_cross_entropy2d_ignore_index_and_weights():
    logits = torch.randn(2, 4, 5, 5)
    target = torch.randint(0, 4, (2, 5, 5))
    target[0, :2] = 255
    weight = torch.tensor([1.0, 2.0, 0.5, 3.0])
    loss = cross_entropy2d(logits, target, weight=weight, ignore_index=255)
    assert torch.allclose(loss, flat_reference(logits, target, weight=weight, ignore_index=255))
    # ignored pixels do not count at all
    kept = target != 255
    manual = F.cross_entropy(logits.permute(0, 2, 3, 1)[kept], target[kept], weight=weight)
    assert torch.allclose(loss, manual)


def test_cross_entropy2d_reductions():
    logits = torch.randn(2, 3, 4, 4)
    target = torch.randint(0, 3, (2, 4, 4))
    per_pixel = cross_entropy2d(logits, target, reduction="none")
    assert per_pixel.shape == (2, 4, 4)
    assert torch.allclose(cross_entropy2d(logits, target, reduction="sum"), per_pixel.sum())


@pytest.mark.parametrize("target_size", [(8, 8), (8, 4), (4, 8)])
def test_cross_entropy2d_resizes_logits_to_the_target(target_size):
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    target = torch.randint(0, 3, (2, *target_size))
    loss = cross_entropy2d(logits, target)
    resized = F.interpolate(logits, size=target_size, mode="bilinear", align_corners=True)
    assert torch.allclose(loss, flat_reference(resized, target))
    loss.backward()
    assert logits.grad is not None and logits.grad.shape == logits.shape


def test_cross_entropy2d_rejects_bad_shapes():
    with pytest.raises(ValueError, match="logits"):
        cross_entropy2d(torch.randn(2, 3, 4), torch.randint(0, 3, (2, 4, 4)))
    with pytest.raises(ValueError, match="targets"):
        cross_entropy2d(torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4)))
    with pytest.raises(ValueError, match="batch"):
        cross_entropy2d(torch.randn(2, 3, 4, 4), torch.randint(0, 3, (3, 4, 4)))


def test_nn_package_exports():
    import exptool.nn as exnn

    assert set(exnn.__all__) == {"PointWiseLinear", "cross_entropy2d"}
    assert isinstance(exnn.PointWiseLinear(1, 1, 1), nn.Module)
