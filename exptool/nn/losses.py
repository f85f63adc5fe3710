"""Loss functions the template shipped."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["cross_entropy2d"]


def cross_entropy2d(input: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                    ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0,
                    ) -> torch.Tensor:
    """Per-pixel cross-entropy for segmentation.

    Logits whose spatial size differs from the target's are first resized to it (bilinear,
    ``align_corners=True``), then the loss is ``F.cross_entropy`` over every pixel: the same as
    flattening the logits to ``[N*H*W, C]`` and the target to ``[N*H*W]``.

    Note:
        The template's default ``ignore_index`` was 20; here it is PyTorch's ``-100``. Pass
        ``ignore_index=20`` explicitly to keep the old behaviour.

    Args:
        input: logits ``[N, C, H, W]``.
        target: class indices ``[N, H', W']`` (integer tensor).
        weight: optional per-class weights ``[C]``.
        ignore_index: target value that contributes neither to the loss nor to the mean.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (then the result is ``[N, H', W']``).
        label_smoothing: as in ``F.cross_entropy``.

    Returns:
        The loss.
    """
    if input.dim() != 4:
        raise ValueError(f"cross_entropy2d expects logits [N, C, H, W], got shape {list(input.shape)}")
    if target.dim() != 3:
        raise ValueError(f"cross_entropy2d expects targets [N, H, W], got shape {list(target.shape)}")
    if input.shape[0] != target.shape[0]:
        raise ValueError(f"batch sizes differ: logits {input.shape[0]}, targets {target.shape[0]}")
    if input.shape[2:] != target.shape[1:]:
        # the template tested `h != ht and w != wt`, so a change in one dimension only slipped through
        input = F.interpolate(input, size=tuple(target.shape[1:]), mode="bilinear", align_corners=True)
    return F.cross_entropy(input, target, weight=weight, ignore_index=ignore_index, reduction=reduction,
                           label_smoothing=label_smoothing)
