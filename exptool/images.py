"""Images: any common array in, HWC ``uint8`` pixels, grids of a batch, PNG bytes and file names out.

Used by :meth:`exptool.tracking.Logger.log_image` (through :func:`prepare_image`) and by
:func:`image_grid`. numpy, Pillow and torch are imported inside the functions that need them.

Inputs: numpy arrays, torch tensors (any device, with or without grad), PIL images (palette, LA,
CMYK, ... converted to RGB/RGBA) and, for batches, lists of same-shaped images. Channels: 1
(grayscale), 3 (RGB) or 4 (RGBA). When an axis of size 1, 3 or 4 could be the channels at either
end, tensors are read channels-first (torch's convention) and arrays channels-last (numpy/PIL's).

Pixel values, one rule for every function here (:func:`to_uint8`):

* ``uint8`` is kept; booleans are black (False) and white (True).
* Floats are read on a 0..1 scale and integers on a 0..255 scale; when a batch's finite values fall
  outside that scale, it is widened just enough to take them in (so nothing is clipped: floats in
  0..255 or -1..1 come out right). The scale is then mapped linearly to 0..255 and rounded.
* NaN and -inf are black, +inf is white.

:func:`image_grid` can replace the scale with a fixed ``value_range`` or each image's own min..max.
"""

from __future__ import annotations

import io
import math
import os
import re
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._atomic import atomic_write_bytes
from .errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

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
        return encode_png(self.array, compress_level=1)


# ------------------------------------------------------------------------------ arrays and layouts


def _to_numpy(image: Any, what: str) -> tuple[np.ndarray, bool]:
    """The pixels as a numpy array, and whether they came from torch (channels first is likelier)."""
    import numpy as np  # noqa: PLC0415

    if hasattr(image, "detach") and hasattr(image, "cpu"):  # a torch tensor; torch is already loaded
        tensor = image.detach().cpu()
        if tensor.dtype.is_floating_point and tensor.dtype.itemsize < 4:
            tensor = tensor.float()  # float16/bfloat16 have no (or no exact) numpy twin
        return tensor.numpy(), True
    if isinstance(image, (list, tuple)):
        if not image:
            raise UsageError(f"{what} got an empty batch.")
        items = [_to_numpy(item, what) for item in image]
        shapes = {a.shape for a, _ in items}
        if len(shapes) > 1:
            raise UsageError(f"{what} needs images of one shape; got {sorted(shapes)}.")
        return np.stack([a for a, _ in items]), items[0][1]
    mode = getattr(image, "mode", None)
    if isinstance(mode, str) and hasattr(image, "convert") and not _PIL_AS_IS.fullmatch(mode):
        # Palette, LA, CMYK, ... images: their raw array is indices or odd channels, not colours.
        has_alpha = "A" in mode or "transparency" in getattr(image, "info", {})
        image = image.convert("RGBA" if has_alpha else "RGB")
    return np.asarray(image), False


def _batch_to_nhwc(arr: np.ndarray, from_torch: bool, channels_last: bool | None, what: str) -> np.ndarray:
    """A 4-D batch as (N, H, W, C): the axis of size 1, 3 or 4 holds the channels (see the module doc)."""
    first, last = arr.shape[1] in _CHANNELS, arr.shape[3] in _CHANNELS
    if channels_last is None:
        if not (first or last):
            raise UsageError(f"{what}: cannot find a channel axis of size 1, 3 or 4 in shape {tuple(arr.shape)}.")
        channels_last = last and not (first and from_torch)
    if not channels_last:
        arr = arr.transpose(0, 2, 3, 1)
    if arr.shape[3] not in _CHANNELS:
        raise UsageError(f"{what}: images need 1, 3 or 4 channels, got {arr.shape[3]} (shape {tuple(arr.shape)}).")
    return arr


def _tile(images: np.ndarray, ncols: int, padding: int = 2, pad_value: int = 0) -> np.ndarray:
    """Lay (N, H, W, C) images out in rows of ``ncols``, ``padding`` pixels of ``pad_value`` around each."""
    import numpy as np  # noqa: PLC0415

    n, h, w, c = images.shape
    nrows = math.ceil(n / ncols)
    grid = np.full((nrows * (h + padding) + padding, ncols * (w + padding) + padding, c), pad_value, images.dtype)
    for i in range(n):
        row, col = divmod(i, ncols)
        top, left = padding + row * (h + padding), padding + col * (w + padding)
        grid[top : top + h, left : left + w] = images[i]
    return grid


# ------------------------------------------------------------------------------------ pixel values


def to_uint8(
    images: np.ndarray, value_range: tuple[float, float] | None = None, scale_each: bool = False
) -> np.ndarray:
    """Pixels of a batch (N, ...) as uint8, by the module's rule (see its docstring).

    Args:
        images: a numpy array whose first axis is the batch.
        value_range: map this (low, high) to 0..255 instead, clipping what lies outside.
        scale_each: map each image's own min..max to 0..255 instead.

    Raises:
        UsageError: a dtype that is not boolean, integer or floating point.
    """
    import numpy as np  # noqa: PLC0415

    if images.dtype == np.bool_:
        return images.astype(np.uint8) * 255
    floating = np.issubdtype(images.dtype, np.floating)
    if not (floating or np.issubdtype(images.dtype, np.integer)):
        raise UsageError(f"Cannot turn an image of dtype {images.dtype} into pixels.")
    fixed = value_range is not None or scale_each
    if images.dtype == np.uint8 and not fixed:
        return images
    if not floating and not fixed and (images.size == 0 or (images.min() >= 0 and images.max() <= 255)):
        return images.astype(np.uint8)
    x = images.astype(np.float64 if images.dtype.itemsize > 4 else np.float32)
    finite = np.isfinite(x)
    per_image = (x.shape[0],) + (1,) * (x.ndim - 1)
    if value_range is not None:
        lo, hi = np.full(per_image, float(value_range[0])), np.full(per_image, float(value_range[1]))
    elif scale_each:
        masked = np.where(finite, x, np.nan)
        with np.errstate(all="ignore"):
            axes = tuple(range(1, x.ndim))
            lo = np.nan_to_num(np.nanmin(masked, axis=axes, keepdims=True))
            hi = np.nan_to_num(np.nanmax(masked, axis=axes, keepdims=True))
    else:
        values = x[finite]
        lo = min(0.0, float(values.min())) if values.size else 0.0
        hi = max(1.0 if floating else 255.0, float(values.max())) if values.size else 1.0
    span = hi - lo
    with np.errstate(all="ignore"):
        scaled = np.where(span > 0, (x - lo) / np.where(span > 0, span, 1.0), 0.0)
    scaled = np.where(finite, np.clip(scaled, 0.0, 1.0), np.isposinf(x))
    return np.rint(scaled * 255.0).astype(np.uint8)


# -------------------------------------------------------------------------------------- public API


def prepare_image(image: Any, name: str = "image") -> ImageData:
    """One image (HW, HWC, CHW) or a batch (BHW, BHWC, BCHW: tiled near-square) as :class:`ImageData`.

    Raises:
        UsageError: an empty image, an unsupported shape or dtype.
    """
    import numpy as np  # noqa: PLC0415

    if isinstance(image, ImageData):
        return image
    what = f"Image {name!r}"
    arr, from_torch = _to_numpy(image, what)
    if arr.size == 0:
        raise UsageError(f"{what} is empty (shape {tuple(arr.shape)}).")
    batch = arr.ndim == 4
    if arr.ndim == 2:
        arr = arr[None, :, :, None]
    elif arr.ndim == 3:
        first, last = arr.shape[0] in _CHANNELS, arr.shape[-1] in _CHANNELS
        if first and (from_torch or not last):
            arr = arr.transpose(1, 2, 0)[None]
        elif last:
            arr = arr[None]
        else:  # a batch of grayscale images (B, H, W)
            arr, batch = arr[..., None], True
    elif batch:
        arr = _batch_to_nhwc(arr, from_torch, None, what)
    else:
        raise UsageError(
            f"{what} has shape {tuple(arr.shape)}; expected HW, HWC, CHW, BHWC or BCHW with 1, 3 or 4 channels."
        )
    pixels = to_uint8(arr)
    pixels = _tile(pixels, math.ceil(math.sqrt(len(pixels)))) if batch else pixels[0]
    return ImageData(np.ascontiguousarray(pixels))


def image_grid(
    batch: Any,
    nrow: int = 8,
    padding: int = 2,
    pad_value: int = 0,
    *,
    value_range: tuple[float, float] | None = None,
    scale_each: bool = False,
    channels_last: bool | None = None,
    out: str | os.PathLike | None = None,
) -> np.ndarray:
    """Tile a batch of images into one image, like ``torchvision.utils.make_grid``, as a uint8 array.

    Args:
        batch: a numpy array or torch tensor (or a list of same-shaped images) of shape
            ``(N, C, H, W)``, ``(N, H, W, C)`` or ``(N, H, W)`` (grayscale), with 1, 3 or 4 channels.
            Add a batch axis to show a single image.
        nrow: images per row of the grid.
        padding: pixels between images and around the border.
        pad_value: grey level (0-255) of the padding.
        value_range: the (low, high) input values mapped to 0 and 255 (outside: clipped). By default
            the module's rule: uint8 kept, floats on a 0..1 scale and integers on 0..255, widened to
            take in the batch's lowest and highest value; NaN and -inf become 0, +inf 255.
        scale_each: stretch each image from its own min to its max instead.
        channels_last: the layout of a 4-D batch. By default the axis of size 1, 3 or 4 holds the
            channels; when both could, torch tensors are taken as ``NCHW`` and numpy arrays as ``NHWC``.
        out: also save the grid there as a PNG (atomically, creating folders).

    Returns:
        A uint8 array ``(H, W)`` for grayscale images, else ``(H, W, C)`` with C 3 (RGB) or 4 (RGBA),
        where ``H = rows * (h + padding) + padding`` and ``W = min(nrow, N) * (w + padding) + padding``.

    Raises:
        UsageError: an empty batch, a shape that is not a batch of images, or a bad ``nrow``/``padding``.
    """
    if isinstance(nrow, bool) or not isinstance(nrow, int) or nrow < 1:
        raise UsageError(f"image_grid: nrow must be a positive integer, got {nrow!r}.")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise UsageError(f"image_grid: padding must be an integer >= 0, got {padding!r}.")
    if not 0 <= pad_value <= 255:
        raise UsageError(f"image_grid: pad_value must be a grey level in 0-255, got {pad_value!r}.")
    arr, from_torch = _to_numpy(batch, "image_grid")
    if arr.ndim == 3:
        arr = arr[..., None]
    elif arr.ndim == 4:
        arr = _batch_to_nhwc(arr, from_torch, channels_last, "image_grid")
    else:
        raise UsageError(
            f"image_grid expects a batch (N, C, H, W), (N, H, W, C) or (N, H, W); got shape {tuple(arr.shape)}.",
            hint="For a single image, add a batch axis (image[None]).",
        )
    if len(arr) == 0:
        raise UsageError("image_grid got an empty batch.")
    grid = _tile(to_uint8(arr, value_range, scale_each), min(nrow, len(arr)), padding, int(pad_value))
    if grid.shape[2] == 1:
        grid = grid[..., 0]
    if out is not None:
        save_png(grid, out)
    return grid


def encode_png(pixels: np.ndarray, compress_level: int = 6) -> bytes:
    """PNG bytes of uint8 pixels (H, W) or (H, W, C) with C 1, 3 or 4."""
    from PIL import Image  # noqa: PLC0415 - Pillow comes with matplotlib; loaded only for images

    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def save_png(image: np.ndarray | ImageData, out: str | os.PathLike, *, fsync: bool = True) -> Path:
    """Write uint8 pixels (or an :class:`ImageData`) to ``out`` as a PNG, atomically, creating folders."""
    data = image.png if isinstance(image, ImageData) else encode_png(image)
    path = Path(out).expanduser().absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data, fsync=fsync)
    return path


def image_filename(name: str, step: int | None) -> str:
    """File name for an image: ``prediction_step000120.png`` (a trailing ``.png`` is not doubled)."""
    base = name[:-4] if name.lower().endswith(".png") else name
    base = _UNSAFE.sub("_", base).strip("._") or "image"
    return f"{base}.png" if step is None else f"{base}_step{step:06d}.png"
