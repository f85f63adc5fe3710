"""Library side of plotting: smoothing, reading runs' metrics, figures saved as real PNGs, image grids."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest

from exptool.errors import NotFoundError, UsageError
from exptool.images import image_grid
from exptool.plotting import load_metrics, plot_metrics, smooth_curve
from exptool.workspace import Workspace

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's header, after checking it is a PNG."""
    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def write_metrics(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    """A metrics CSV in the documented format (step,wall_time,<metrics>...; empty cell = not logged)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def two_runs(ws):
    """Runs e/a (loss, acc) and e/b (loss only) with metrics on disk."""
    workspace = Workspace(ws)
    a, b = workspace.run("e", "a"), workspace.run("e", "b")
    a.create()
    b.create()
    write_metrics(
        a.metrics_path,
        ["step", "wall_time", "loss", "acc"],
        [[i, 1000.0 + i, 1.0 / (i + 1), None if i % 2 else i / 10] for i in range(10)],
    )
    write_metrics(b.metrics_path, ["step", "wall_time", "loss"], [[i, 1000.0 + i, 2.0 - i / 10] for i in range(5)])
    return a, b


# ------------------------------------------------------------------------------------- smoothing


def test_moving_average_is_trailing_mean_with_short_start():
    out = smooth_curve([1, 2, 3, 4, 5], 3)
    assert out.tolist() == pytest.approx([1.0, 1.5, 2.0, 3.0, 4.0])
    assert out.dtype == np.float64


def test_ema_matches_tensorboard_debiased_formula():
    values = [3.0, -1.0, 4.0, 1.0, 5.0, 9.0]
    w = 0.6
    expected, ema = [], 0.0
    for i, x in enumerate(values, start=1):
        ema = w * ema + (1 - w) * x
        expected.append(ema / (1 - w**i))
    assert smooth_curve(values, w).tolist() == pytest.approx(expected)
    assert smooth_curve(values, w)[0] == pytest.approx(3.0)  # debiased: the start is not pulled to 0


def test_constant_curve_stays_constant_and_length_is_kept():
    for k in (0.9, 7):
        out = smooth_curve([2.5] * 20, k)
        assert len(out) == 20
        assert out.tolist() == pytest.approx([2.5] * 20)


def test_no_smoothing_for_0_and_1():
    values = [1.0, 5.0, 2.0]
    assert smooth_curve(values, 0).tolist() == values
    assert smooth_curve(values, 1).tolist() == values
    assert smooth_curve([], 5).tolist() == []


def test_nonfinite_values_stay_in_place_and_out_of_the_average():
    out = smooth_curve([1.0, math.nan, 3.0, math.inf, 5.0], 2)
    assert out[0] == 1.0 and math.isnan(out[1]) and math.isinf(out[3])
    assert out[2] == pytest.approx(3.0)  # window {nan, 3}: nan skipped
    assert out[4] == pytest.approx(5.0)
    ema = smooth_curve([2.0, math.nan, 2.0], 0.5)
    assert ema[0] == pytest.approx(2.0) and math.isnan(ema[1]) and ema[2] == pytest.approx(2.0)


@pytest.mark.parametrize("k", [-1, 2.5, math.nan, math.inf, True])
def test_bad_smoothing_is_a_usage_error(k):
    with pytest.raises(UsageError):
        smooth_curve([1.0, 2.0], k)


# ---------------------------------------------------------------------------------- loading data


def test_load_metrics_sorts_steps_and_keeps_the_later_duplicate(tmp_path):
    csv = write_metrics(
        tmp_path / "m.csv",
        ["step", "wall_time", "loss"],
        [[0, 1, 1.0], [1, 2, 0.9], [2, 3, 0.8], [1, 4, 0.5], [2, 5, 0.4], [3, 6, 0.3]],  # resumed from step 1
    )
    data = load_metrics(csv)
    assert data == {"m": {"loss": [(0, 1.0), (1, 0.5), (2, 0.4), (3, 0.3)]}}


def test_load_metrics_from_runs_paths_and_mappings(two_runs):
    a, b = two_runs
    by_run = load_metrics([a, b])
    assert list(by_run) == ["e/a", "e/b"]
    assert list(by_run["e/a"]) == ["loss", "acc"]
    assert by_run["e/a"]["acc"] == [(0, 0.0), (2, 0.2), (4, 0.4), (6, 0.6), (8, 0.8)]
    by_path = load_metrics({"first": a.path, "second": b.metrics_path}, metrics="loss")
    assert list(by_path) == ["first", "second"] and list(by_path["second"]) == ["loss"]
    assert load_metrics(str(a.path)) == {"e/a": by_run["e/a"]}
    read = {"loss": [(1, 2.0), (0, 3.0)]}
    assert load_metrics(read) == {"run": {"loss": [(0, 3.0), (1, 2.0)]}}


def test_unknown_metric_lists_the_known_ones(two_runs):
    with pytest.raises(UsageError) as err:
        load_metrics(list(two_runs), ["loss", "acx"])
    assert "'acx'" in err.value.message
    assert "Known metrics: loss, acc" in err.value.hint
    assert "Did you mean 'acc'" in err.value.hint


def test_run_without_any_requested_metric_is_named(two_runs):
    with pytest.raises(UsageError, match="e/b has none of the metrics"):
        load_metrics(list(two_runs), "acc")


def test_run_without_metrics_is_not_found(ws):
    run = Workspace(ws).run("e", "empty")
    run.create()
    with pytest.raises(NotFoundError, match="Run e/empty has no metrics yet"):
        load_metrics(run)
    write_metrics(run.metrics_path, ["step", "wall_time", "loss"], [])  # header only
    with pytest.raises(NotFoundError, match="no values"):
        load_metrics(run)
    with pytest.raises(NotFoundError, match="does not exist"):
        load_metrics(ws / "nowhere.csv")


def test_metric_in_header_without_values(tmp_path):
    csv = write_metrics(tmp_path / "m.csv", ["step", "wall_time", "loss", "lr"], [[0, 1, 1.0, None]])
    with pytest.raises(UsageError, match="'lr' has no values yet"):
        load_metrics(csv, "lr")
    assert list(load_metrics(csv)["m"]) == ["loss"]  # all metrics: the empty one is left out


# --------------------------------------------------------------------------------------- figures


def test_single_metric_png_has_the_expected_size(two_runs, tmp_path):
    a, _ = two_runs
    out = tmp_path / "deep" / "folder" / "loss.png"
    fig = plot_metrics(a, "loss", out=out)
    assert png_size(out) == (500, 350)
    assert fig.axes[0].get_title() == "loss"
    assert not list(out.parent.glob(".*.tmp"))  # the atomic write left no temp file


def test_several_metrics_make_a_grid_and_the_png_reads_back(two_runs, tmp_path):
    import matplotlib.image as mpimg

    a, _ = two_runs
    data = {"loss": [(i, 1.0) for i in range(3)], "acc": [(0, 0.1)], "lr": [(0, 1e-3)]}
    out = tmp_path / "three.png"
    fig = plot_metrics(data, out=out, dpi=50)
    assert png_size(out) == (2 * 250, 2 * 175)  # 3 metrics: 2 columns x 2 rows
    pixels = mpimg.imread(out)
    assert pixels.shape[:2] == (350, 500)
    assert pixels.std() > 0  # something was drawn
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["loss", "acc", "lr"]


def test_several_runs_share_one_figure_one_line_each(two_runs, tmp_path):
    out = tmp_path / "cmp.png"
    fig = plot_metrics(list(two_runs), out=out)
    loss_ax, acc_ax = [ax for ax in fig.axes if ax.get_visible()]
    assert [line.get_label() for line in loss_ax.get_lines()] == ["e/a", "e/b"]
    assert [line.get_label() for line in acc_ax.get_lines()] == ["e/a"]  # b never logged acc
    assert [t.get_text() for t in loss_ax.get_legend().get_texts()] == ["e/a", "e/b"]
    assert png_size(out) == (1000, 350)


def test_smoothing_draws_raw_faintly_behind_the_smoothed_line(two_runs):
    a, _ = two_runs
    fig = plot_metrics(a, "loss", smooth=3)
    raw, smoothed = fig.axes[0].get_lines()
    raw_y = list(raw.get_ydata())
    assert raw_y == pytest.approx([1.0 / (i + 1) for i in range(10)])
    assert list(smoothed.get_ydata()) == pytest.approx(smooth_curve(raw_y, 3).tolist())
    assert raw.get_alpha() < 1 and smoothed.get_label() == "e/a"


def test_long_curves_are_thinned_but_keep_extremes_ends_and_gaps():
    n = 100_000
    values = [math.sin(i / 500) for i in range(n)]
    values[33_333] = 50.0  # a spike
    values[66_666] = -50.0
    values[70_000] = math.nan  # a gap
    fig = plot_metrics({"loss": list(enumerate(values))}, smooth=100)
    raw, smoothed = fig.axes[0].get_lines()
    x, y = raw.get_xdata(), raw.get_ydata()
    assert len(x) <= 4 * 500 + 10
    assert x[0] == 0 and x[-1] == n - 1
    assert list(x) == sorted(x)
    assert max(np.nan_to_num(y)) == 50.0 and min(np.nan_to_num(y)) == -50.0
    assert 70_000 in list(x) and math.isnan(y[list(x).index(70_000)])
    full = smooth_curve(values, 100)
    sx, sy = smoothed.get_xdata(), smoothed.get_ydata()
    assert len(sx) < 4 * 500 + 10
    assert sy == pytest.approx(full[sx.astype(int)], nan_ok=True)  # smoothed on all points, then thinned


def test_pdf_and_svg_by_suffix_and_unknown_suffix_refused(two_runs, tmp_path):
    a, _ = two_runs
    plot_metrics(a, out=tmp_path / "f.pdf")
    plot_metrics(a, out=tmp_path / "f.svg")
    assert (tmp_path / "f.pdf").read_bytes()[:5] == b"%PDF-"
    assert b"<svg" in (tmp_path / "f.svg").read_bytes()[:2000]
    with pytest.raises(UsageError, match="unknown file type"):
        plot_metrics(a, out=tmp_path / "f.jpg")
    assert not (tmp_path / "f.jpg").exists()


def test_existing_plot_is_replaced_whole(two_runs, tmp_path):
    a, b = two_runs
    out = tmp_path / "p.png"
    plot_metrics(a, "loss", out=out)
    plot_metrics([a, b], out=out)
    assert png_size(out) == (1000, 350)


# ----------------------------------------------------------------------------------- image grids


@pytest.mark.parametrize(
    ("shape", "kwargs", "expected"),
    [
        ((5, 3, 8, 6), {"nrow": 2}, (3 * 10 + 2, 2 * 8 + 2, 3)),  # NCHW numpy, 3 rows of 2
        ((5, 8, 6, 3), {"nrow": 8}, (10 + 2, 5 * 8 + 2, 3)),  # NHWC, fewer images than nrow
        ((4, 1, 7, 7), {"nrow": 2, "padding": 0}, (14, 14)),  # one channel -> 2-D grayscale
        ((3, 28, 28), {"nrow": 4}, (30 + 2, 3 * 30 + 2)),  # (N, H, W) grayscale
        ((2, 4, 5, 5), {"nrow": 2, "padding": 1}, (7, 13, 4)),  # RGBA
    ],
)
def test_image_grid_shapes(shape, kwargs, expected):
    grid = image_grid(np.random.default_rng(0).random(shape), **kwargs)
    assert grid.shape == expected
    assert grid.dtype == np.uint8


def test_image_grid_places_images_and_padding():
    batch = np.stack([np.full((2, 3, 3), v, np.uint8) for v in (10, 20, 30)])  # NHWC, 2x3 images
    grid = image_grid(batch, nrow=2, padding=1, pad_value=255)
    assert grid.shape == (2 * 3 + 1, 2 * 4 + 1, 3)
    assert (grid[1:3, 1:4] == 10).all() and (grid[1:3, 5:8] == 20).all() and (grid[4:6, 1:4] == 30).all()
    assert (grid[0] == 255).all() and (grid[:, 4] == 255).all()
    assert (grid[4:6, 5:8] == 255).all()  # the empty slot is padding


def test_image_grid_value_scaling():
    assert image_grid(np.ones((1, 1, 2, 2)), padding=0).max() == 255  # [0, 1] floats scaled by 255
    half = image_grid(np.full((1, 2, 2), 0.5, np.float32), padding=0)
    assert (half == 128).all()
    stretched = image_grid(np.array([[[-3.0, 1.0]]]), padding=0)  # outside [0, 1]: min..max
    assert stretched.tolist() == [[0, 255]]
    ranged = image_grid(np.array([[[-1.0, 0.0, 1.0]]]), padding=0, value_range=(-1, 1))
    assert ranged.tolist() == [[0, 128, 255]]
    each = image_grid(np.array([[[0.0, 2.0]], [[10.0, 20.0]]]), nrow=2, padding=0, scale_each=True)
    assert each.tolist() == [[0, 255, 0, 255]]
    assert image_grid(np.array([[[np.nan, 1.0]]]), padding=0).tolist() == [[0, 255]]
    assert image_grid(np.array([[[0, 200]]], dtype=np.int64), padding=0).tolist() == [[0, 200]]
    assert image_grid(np.array([[[True, False]]]), padding=0).tolist() == [[255, 0]]


def test_image_grid_torch_tensors_and_channel_layout():
    import torch

    t = torch.rand(6, 3, 4, 5, requires_grad=True)  # NCHW, with a graph attached
    assert image_grid(t, nrow=3, padding=0).shape == (8, 15, 3)
    assert image_grid(t.half(), nrow=3, padding=0).shape == (8, 15, 3)
    ambiguous = np.zeros((2, 3, 5, 3))  # both axis 1 and axis 3 could be channels
    assert image_grid(ambiguous, padding=0).shape == (3, 10, 3)  # numpy: channels last
    assert image_grid(torch.zeros(2, 3, 5, 3), padding=0).shape == (5, 6, 3)  # torch: channels first
    assert image_grid(ambiguous, padding=0, channels_last=False).shape == (5, 6, 3)
    assert image_grid([np.zeros((4, 4)), np.ones((4, 4))], nrow=2, padding=0).shape == (4, 8)


def test_image_grid_saves_a_png(tmp_path):
    from PIL import Image

    out = tmp_path / "vis" / "grid.png"
    grid = image_grid(np.random.default_rng(1).random((10, 3, 16, 16)), nrow=5, out=out)
    assert png_size(out) == (5 * 18 + 2, 2 * 18 + 2)
    assert (np.asarray(Image.open(out)) == grid).all()


@pytest.mark.parametrize(
    ("batch", "kwargs", "match"),
    [
        (np.zeros((0, 3, 4, 4)), {}, "empty"),
        (np.zeros((4, 4)), {}, "expects a batch"),
        (np.zeros((2, 2, 5, 5)), {}, "channel axis"),
        (np.zeros((2, 5, 5, 2)), {"channels_last": True}, "1, 3 or 4 channels"),
        (np.zeros((2, 3, 4, 4)), {"nrow": 0}, "nrow"),
        (np.zeros((2, 3, 4, 4)), {"pad_value": 300}, "pad_value"),
        ([np.zeros((4, 4)), np.zeros((5, 5))], {}, "one shape"),
    ],
)
def test_image_grid_bad_input(batch, kwargs, match):
    with pytest.raises(UsageError, match=match):
        image_grid(batch, **kwargs)
