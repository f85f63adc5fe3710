"""Images: every layout and dtype the logger accepts, saved as PNG under visualizations/."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from exptool.errors import UsageError
from exptool.images import image_filename, prepare_image
from exptool.tracking import Logger
from exptool.workspace import Workspace

CASES = {
    "hwc_uint8": (np.full((8, 6, 3), 200, np.uint8), (8, 6, 3), 200),
    "chw_float": (np.full((3, 8, 6), 0.5, np.float32), (8, 6, 3), 128),
    "hw_gray_float": (np.ones((8, 6), np.float64), (8, 6, 1), 255),
    "hwc1_gray": (np.full((8, 6, 1), 7, np.uint8), (8, 6, 1), 7),
    "chw1_gray": (np.full((1, 8, 6), 0.0, np.float32), (8, 6, 1), 0),
    "rgba": (np.full((8, 6, 4), 9, np.uint8), (8, 6, 4), 9),
    "bhwc": (np.full((4, 8, 6, 3), 1.0, np.float32), (2 * 10 + 2, 2 * 8 + 2, 3), 255),
    "bchw": (np.full((2, 3, 8, 6), 255, np.uint8), (1 * 10 + 2, 2 * 8 + 2, 3), 255),
    "bool_mask": (np.ones((8, 6), bool), (8, 6, 1), 255),
    "float_out_of_range": (np.full((8, 6), 7.5), (8, 6, 1), 255),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_layouts_and_dtypes(case):
    image, shape, pixel = CASES[case]
    data = prepare_image(image)
    assert data.array.dtype == np.uint8 and data.array.shape == shape
    assert data.array[3, 3, 0] == pixel
    decoded = np.asarray(Image.open(__import__("io").BytesIO(data.png)))
    assert decoded.shape[:2] == shape[:2]


def test_tensor_images_any_dtype():
    import torch

    data = prepare_image(torch.rand(3, 5, 4, dtype=torch.bfloat16))
    assert data.array.shape == (5, 4, 3)  # a tensor that fits CHW and HWC is read as CHW
    assert prepare_image(np.zeros((3, 5, 4))).array.shape == (3, 5, 4)  # an array as HWC


@pytest.mark.parametrize("shape", [(2, 3, 5, 5, 3), (4, 5, 2, 2), ()])
def test_bad_shapes_are_clear_errors(shape):
    with pytest.raises(UsageError, match="shape|empty"):
        prepare_image(np.zeros(shape))


def test_file_names():
    assert image_filename("prediction", 120) == "prediction_step000120.png"
    assert image_filename("prediction.png", 120) == "prediction_step000120.png"
    assert image_filename("val/pred ../x", 3) == "val_pred_.._x_step000003.png"
    assert image_filename("", None) == "image.png"


def test_logger_saves_png_under_visualizations(ws):
    run = Workspace.find().run("img", "r")
    run.create()
    with Logger(run=run) as logger:
        path = logger.log_image("prediction.png", np.random.rand(2, 16, 16, 3), 120)
        logger.log({"x": 1.0}, 121)
        default_step = logger.log_image("sample", np.zeros((4, 4)))
    assert path == run.visualizations_dir / "prediction_step000120.png"
    assert Image.open(path).size == (2 * 18 + 2, 1 * 18 + 2)
    assert default_step.name == "sample_step000121.png"


def test_pil_images_of_every_mode_keep_their_colours():
    """Palette and LA images used to be logged as their raw indices / as a bogus channels-first array."""
    palette = Image.new("P", (6, 4))
    palette.putpalette([255, 0, 0] * 256)
    rgb = prepare_image(palette).array
    assert rgb.shape == (4, 6, 3) and rgb[1, 1].tolist() == [255, 0, 0]
    gray_alpha = prepare_image(Image.new("LA", (6, 4), (100, 200))).array
    assert gray_alpha.shape == (4, 6, 4) and gray_alpha[1, 1].tolist() == [100, 100, 100, 200]
    assert prepare_image(Image.new("CMYK", (6, 4), (0, 0, 0, 0))).array[1, 1].tolist() == [255, 255, 255]
    assert prepare_image(Image.new("L", (6, 4), 7)).array.shape == (4, 6, 1)
    assert prepare_image(Image.new("RGBA", (6, 4), (1, 2, 3, 4))).array[1, 1].tolist() == [1, 2, 3, 4]
