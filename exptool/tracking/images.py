"""Images for the logger: any common layout in, one HWC ``uint8`` array and its PNG out.

Accepted: numpy arrays, torch tensors (any device) and PIL images, laid out as HW (grayscale),
HWC, CHW, or a batch BHWC / BCHW / BHW that is tiled into one grid. When a shape fits both
HWC and CHW, tensors are read as CHW and arrays as HWC. Channels: 1 (grayscale),
3 (RGB) or 4 (RGBA). Floating-point pixels are read as 0..1 and clipped; integers as 0..255;
booleans as black/white.
"""

from __future__ import annotations

import io
import math
import re
from functools import cached_property
from typing import Any

from ..errors import UsageError

_CHANNELS = (1, 3, 4)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_PIL_AS_IS = re.compile(r"1|L|RGBA?|F|I(;.*)?")  # PIL modes whose array already is HW or HWC pixels


class ImageData:
    """One image ready for writers: ``array`` (H, W, C) uint8 with C in 1/3/4, ``png`` its encoding."""

    def __init__(self, array: Any):
        self.array = array

    @property
    def height(self) -> int:
        return int(self.array.shape[0])

    @property
    def width(self) -> int:
        return int(self.array.shape[1])

    @property
    def channels(self) -> int:
        return int(self.array.shape[2])

    @cached_property
    def png(self) -> bytes:
        """The PNG encoding (computed once, shared by every writer)."""
        from PIL import Image  # noqa: PLC0415 - Pillow comes with matplotlib; loaded only for images

        arr = self.array[:, :, 0] if self.channels == 1 else self.array
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
        return buf.getvalue()


def _to_numpy(image: Any) -> tuple[Any, bool]:
    """The pixels as a numpy array, and whether channels-first is the likelier layout (tensors)."""
    import numpy as np  # noqa: PLC0415

    if hasattr(image, "detach") and hasattr(image, "cpu"):  # torch tensor, any device
        image = image.detach().cpu()
        if str(image.dtype) == "torch.bfloat16":
            image = image.float()
        return image.numpy(), True
    mode = getattr(image, "mode", None)
    if isinstance(mode, str) and hasattr(image, "convert") and not _PIL_AS_IS.fullmatch(mode):
        # Palette, LA, CMYK, ... images: their raw array is indices or odd channels, not colours.
        has_alpha = "A" in mode or "transparency" in getattr(image, "info", {})
        image = image.convert("RGBA" if has_alpha else "RGB")
    return np.asarray(image), False


def _tile(batch: Any) -> Any:
    """Lay a (B, H, W, C) batch out as a near-square grid with a 2-pixel black border."""
    import numpy as np  # noqa: PLC0415

    b, h, w, c = batch.shape
    cols = math.ceil(math.sqrt(b))
    rows = math.ceil(b / cols)
    pad = 2
    grid = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), dtype=batch.dtype)
    for i in range(b):
        r, col = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y : y + h, x : x + w] = batch[i]
    return grid


def _to_hwc(arr: Any, name: str, channels_first: bool) -> Any:
    """HW / HWC / CHW / BHW / BHWC / BCHW -> HWC. When both readings fit (e.g. 3x5x4), tensors are
    taken as channels-first (torch's convention) and arrays as channels-last (numpy/PIL's)."""
    import numpy as np  # noqa: PLC0415

    if arr.ndim == 2:
        return arr[:, :, None]
    if arr.ndim == 3:
        first, last = arr.shape[0] in _CHANNELS, arr.shape[-1] in _CHANNELS
        if first and (channels_first or not last):
            return np.transpose(arr, (1, 2, 0))
        if last:
            return arr
        return _tile(arr[:, :, :, None])  # a batch of grayscale images (B, H, W)
    if arr.ndim == 4:
        first, last = arr.shape[1] in _CHANNELS, arr.shape[-1] in _CHANNELS
        if first and (channels_first or not last):
            arr = np.transpose(arr, (0, 2, 3, 1))
        if arr.shape[-1] in _CHANNELS:
            return _tile(arr)
    raise UsageError(
        f"Image {name!r} has shape {tuple(arr.shape)}; expected HW, HWC, CHW, BHWC or BCHW "
        "with 1, 3 or 4 channels."
    )


def _to_uint8(arr: Any) -> Any:
    import numpy as np  # noqa: PLC0415

    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        arr = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        return (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        return np.clip(arr, 0, 255).astype(np.uint8)
    raise UsageError(f"Cannot log an image of dtype {arr.dtype}.")


def prepare_image(image: Any, name: str = "image") -> ImageData:
    """Convert ``image`` (see the module doc for layouts and dtypes) to :class:`ImageData`.

    Raises:
        UsageError: an unsupported shape or dtype.
    """
    import numpy as np  # noqa: PLC0415

    if isinstance(image, ImageData):
        return image
    arr, channels_first = _to_numpy(image)
    if arr.size == 0:
        raise UsageError(f"Image {name!r} is empty (shape {tuple(arr.shape)}).")
    arr = _to_uint8(_to_hwc(arr, name, channels_first))
    return ImageData(np.ascontiguousarray(arr))


def image_filename(name: str, step: int | None) -> str:
    """File name for an image: ``prediction_step000120.png`` (a trailing ``.png`` is not doubled)."""
    base = name[:-4] if name.lower().endswith(".png") else name
    base = _UNSAFE.sub("_", base).strip("._") or "image"
    return f"{base}.png" if step is None else f"{base}_step{step:06d}.png"
