"""Torch modules that PyTorch does not provide."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["PointWiseLinear"]


class PointWiseLinear(nn.Module):
    """A separate linear layer for each of ``num_points`` points.

    Maps ``[..., num_points, in_features]`` to ``[..., num_points, out_features]``: point ``n`` is
    multiplied by its own weight ``weight[n]`` (shape ``[out_features, in_features]``) and shifted by
    its own bias ``bias[n]``. Each point is initialised like ``nn.Linear(in_features, out_features)``.

    Args:
        in_features: size of each input vector.
        out_features: size of each output vector.
        num_points: number of points, each with its own weights.
        bias: learn an additive bias per point.
        device, dtype: where and how to allocate the parameters.
    """

    def __init__(self, in_features: int, out_features: int, num_points: int, bias: bool = True,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        for label, value in (("in_features", in_features), ("out_features", out_features),
                             ("num_points", num_points)):
            if value <= 0:
                raise ValueError(f"{label} must be positive, got {value}")
        self.in_features = in_features
        self.out_features = out_features
        self.num_points = num_points
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(num_points, out_features, in_features, **factory))
        if bias:
            self.bias = nn.Parameter(torch.empty(num_points, out_features, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise every point like ``nn.Linear``: uniform in +-1/sqrt(in_features)."""
        # nn.Linear's kaiming_uniform_(a=sqrt(5)) reduces to this bound; computing the fan-in from the
        # 3-D weight would wrongly count out_features too.
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply each point's linear map.

        Args:
            x: ``[..., num_points, in_features]`` (at least 2-D).

        Returns:
            ``[..., num_points, out_features]``.
        """
        if x.dim() < 2 or x.shape[-2] != self.num_points or x.shape[-1] != self.in_features:
            raise ValueError(f"PointWiseLinear expects input of shape [..., {self.num_points}, "
                             f"{self.in_features}], got {list(x.shape)}")
        out = torch.einsum("njk,...nk->...nj", self.weight, x)
        if self.bias is not None:
            out = out + self.bias
        return out

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"num_points={self.num_points}, bias={self.bias is not None}")
