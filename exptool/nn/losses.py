"""Loss functions the template shipped."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["cross_entropy2d"]

TEMPLATE_IGNORE_INDEX = 20  # the template's default ignore_index (exptool uses PyTorch's -100)
_checked_device_call = False


def _out_of_range(input: torch.Tensor, target: torch.Tensor, ignore_index: int) -> ValueError | None:
    """A clear error when the target holds class indices the logits do not have (None when it does not)."""
    classes = input.shape[1]
    valid = target[target != ignore_index]
    if valid.numel() == 0:
        return None
    low, high = int(valid.min()), int(valid.max())
    if 0 <= low and high < classes:
        return None
    bad = high if high >= classes else low
    message = (f"cross_entropy2d: the target holds class index {bad}, but the logits have {classes} classes "
               f"(0..{classes - 1}).")
    if bad == TEMPLATE_IGNORE_INDEX or (target == TEMPLATE_IGNORE_INDEX).any():
        message += (f" The template's cross_entropy2d ignored {TEMPLATE_IGNORE_INDEX} by default; exptool's "
                    f"ignores {ignore_index} (PyTorch's default). Pass ignore_index={TEMPLATE_IGNORE_INDEX} "
                    "to keep the template's behaviour.")
    return ValueError(message)


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
    global _checked_device_call
    if target.device.type != "cpu" and not _checked_device_call:
        # On a GPU an out-of-range index is a device-side assert that kills the process: check the
        # first call (one synchronisation), where a template port meets the changed ignore_index.
        _checked_device_call = True
        error = _out_of_range(input, target, ignore_index)
        if error is not None:
            raise error
    try:
        return F.cross_entropy(input, target, weight=weight, ignore_index=ignore_index, reduction=reduction,
                               label_smoothing=label_smoothing)
    except (IndexError, RuntimeError) as exc:
        error = _out_of_range(input, target, ignore_index)
        if error is not None:
            raise error from exc
        raise
