"""``inspector filters`` and ``inspector diff``, run in-process: PNG content, JSON interface, table, errors."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from inspector.cli import main
from inspector.core import render


def run_cli(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    """torchvision's resnet18 with random init (no download), as a plain state dict."""
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("resnet") / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    return path


def test_resnet18_conv1_png_has_64_readable_rgb_tiles(resnet18_file, tmp_path, capsys):
    out = tmp_path / "conv1.png"
    code, text, err = run_cli(capsys, "filters", resnet18_file, "--tensor", "conv1.weight", "--out", out)
    assert code == 0, err
    assert "64 filters" in text and "8x8 tiles" in text and "RGB composite" in text
    with Image.open(out) as img:
        assert img.mode == "RGB"
        png = np.asarray(img)
    weight = torch.load(resnet18_file, weights_only=True)["conv1.weight"]
    grid = render.filter_grid(weight, min_tile_px=render.READABLE_TILE_PX, max_side=render.PNG_MAX_SIDE)
    assert grid.tile_h >= 28 and (grid.rows, grid.cols) == (8, 8)
    figure = render.grid_figure(grid, "conv1.weight", "resnet18.pth")
    np.testing.assert_array_equal(png, figure.rgb)  # the title and the colour bar around ...
    rgb = figure.picture()
    np.testing.assert_array_equal(rgb, grid.to_rgb())  # ... the mosaic, pixel for pixel
    tiles = 0
    for r in range(8):
        for c in range(8):
            y, x = grid.tile_origin(r, c)
            block = rgb[y : y + grid.tile_h, x : x + grid.tile_w]
            assert not (block == render.BACKGROUND_RGB).all(axis=-1).any()  # no padding inside a tile
            assert len(np.unique(block.reshape(-1, 3), axis=0)) > 10  # colour structure, not a flat square
            tiles += 1
    assert tiles == 64
    assert (rgb[: grid.padding] == render.BACKGROUND_RGB).all()


def test_filters_options(tmp_path, capsys):
    torch.save({"conv.weight": torch.randn(6, 4, 3, 3)}, tmp_path / "c.pth")
    code, text, _ = run_cli(capsys, "filters", tmp_path / "c.pth", "--tensor", "conv.weight",
                            "--out", tmp_path / "g.png", "--normalize", "global", "--channel", "2")  # fmt: skip
    assert code == 0 and "input channel 2" in text and "global normalisation" in text
    code, text, _ = run_cli(
        capsys, "filters", tmp_path / "c.pth", "--tensor", "conv.weight", "--out", tmp_path / "a.png"
    )
    assert code == 0 and "one row per filter" in text and "in 6x4 tiles" in text  # 6 filters x 4 channels


@pytest.mark.parametrize(
    ("tensor", "extra", "message"),
    [
        ("nope", [], "no tensor named 'nope'; run 'inspector list FILE' to see names"),
        ("conv.weight", ["--channel", "9"], "conv.weight has 3 input channels (0-2), not 9; pick --channel 0..2"),
        ("conv.weight", ["--channel", "-1"], "conv.weight has 3 input channels (0-2), not -1; pick --channel 0..2"),
        ("conv.weight", ["--channel", "red"],
         "--channel takes an input channel number, 'all' or 'rgb', not 'red'; pick --channel 0..2, all or rgb"),
        ("conv4.weight", ["--channel", "rgb"],
         "conv4.weight has 4 input channels (0-3) and --channel rgb needs 3; pick --channel 0..3 or all"),
        ("depthwise.weight", ["--channel", "1"],
         "depthwise.weight has 1 input channel (0), not 1; pick --channel 0"),
        ("fc.weight", ["--channel", "1"],
         "fc.weight [3, 4] is drawn as a heatmap, which has no input channels; leave out --channel 1"),
        ("fc.bias", ["--channel", "0"],
         "fc.bias [3] is drawn as a bar plot, which has no input channels; leave out --channel 0"),
        ("empty", [], "empty is a 1-D tensor [0] with no elements; there is nothing to draw"),
        ("step", ["--channel", "0"], "step is a 0-D tensor [] holding one value; 'inspector stats' prints it"),
    ],
)  # fmt: skip
def test_filters_errors_are_one_sentence(tmp_path, capsys, tensor, extra, message):
    """Each refusal is the file, then one sentence: no "'conv.weight' is input channel 9 does not exist"."""
    path = tmp_path / "m.pth"
    torch.save({"conv.weight": torch.randn(2, 3, 3, 3), "conv4.weight": torch.randn(2, 4, 3, 3),
                "depthwise.weight": torch.randn(4, 1, 3, 3), "fc.weight": torch.zeros(3, 4), "fc.bias": torch.zeros(3),
                "empty": torch.zeros(0), "step": torch.tensor(3)}, path)  # fmt: skip
    code, out, err = run_cli(capsys, "filters", path, "--tensor", tensor, "--out", tmp_path / "x.png", *extra)
    assert (code, out) == (1, "")
    assert err == f"error: {path}: {message.replace('FILE', str(path))}\n"
    assert not (tmp_path / "x.png").exists()


def test_filters_writes_a_matrix_as_its_heatmap(tmp_path, capsys):
    weight = torch.zeros(3, 4)
    weight[0, 0], weight[2, 3] = 1.0, -1.0
    torch.save({"fc.weight": weight}, tmp_path / "m.pth")
    out = tmp_path / "fc.png"
    code, text, _ = run_cli(capsys, "filters", tmp_path / "m.pth", "--tensor", "fc.weight", "--out", out)
    assert code == 0 and "heatmap of fc.weight [3, 4] drawn as 3x4 (exact)" in text
    with Image.open(out) as img:
        png = np.asarray(img.convert("RGB"))
    figure = render.heatmap_figure(render.heatmap_array(weight), "fc.weight", "m.pth", (3, 4))
    np.testing.assert_array_equal(png, figure.rgb)
    rgb = figure.picture()
    height, width, _ = rgb.shape
    assert width / height == pytest.approx(4 / 3, rel=0.02)  # upscaled evenly, cells stay square
    top_left, bottom_right, middle = rgb[2, 2], rgb[-3, -3], rgb[height // 2, width // 2]
    assert top_left[0] > top_left[2] and bottom_right[2] > bottom_right[0]  # +1 red, -1 blue
    assert tuple(middle) == render.NEUTRAL_RGB  # zero is the neutral centre of the map


def colour_bar_column(figure) -> np.ndarray:
    """The middle column of the figure's colour bar, top to bottom, inside its border."""
    y, x, h, w = figure.colour_bar_box
    return figure.rgb[y + 1 : y + h - 1, x + w // 2]


def test_filters_png_has_a_title_and_the_guis_colour_bar(tmp_path, capsys):
    torch.save({"conv.weight": torch.randn(8, 4, 3, 3)}, tmp_path / "m.pth")
    out = tmp_path / "g.png"
    code, _, err = run_cli(capsys, "filters", tmp_path / "m.pth", "--tensor", "conv.weight", "--channel", "2",
                           "--normalize", "global", "--out", out)  # fmt: skip
    assert code == 0, err
    with Image.open(out) as img:
        png = np.asarray(img)
    grid = render.filter_grid(torch.load(tmp_path / "m.pth")["conv.weight"], "global", 2,
                              min_tile_px=render.READABLE_TILE_PX, max_side=render.PNG_MAX_SIDE)  # fmt: skip
    figure = render.grid_figure(grid, "conv.weight", "m.pth")
    np.testing.assert_array_equal(png, figure.rgb)
    y, x, h, w = figure.picture_box
    assert figure.colour_bar_box[1] > x + w  # right of the mosaic
    assert y > 30 and (png[:y] != 255).any(axis=-1).sum() > 200  # a title above the mosaic: ink, not paper
    bar = colour_bar_column(figure)
    assert len(bar) > 150
    assert tuple(bar[0]) == tuple(render.DIVERGING_LUT[-1]) and tuple(bar[-1]) == tuple(
        render.DIVERGING_LUT[0]
    )
    assert tuple(bar[(len(bar) - 1) // 2]) == render.NEUTRAL_RGB  # 0 in the middle, as in the GUI's bar
    title = render.tensor_title("m.pth", "conv.weight", (8, 4, 3, 3))
    assert title == "m.pth · conv.weight [8, 4, 3, 3]"
    description = render.tensor_figures.grid_description(grid)
    assert "input channel 2 of 4" in description and f"±{grid.value_range[1]:.4g}" in description


def test_filters_draws_a_bias_as_bars_and_a_long_vector_as_a_line(tmp_path, capsys):
    long = torch.zeros(5000)
    long[3500] = 4.0
    torch.save({"fc.bias": torch.tensor([1.0, -1.0, 0.5]), "emb.scale": long}, tmp_path / "m.pth")
    code, text, err = run_cli(
        capsys, "filters", tmp_path / "m.pth", "--tensor", "fc.bias", "--out", tmp_path / "b.png"
    )
    assert code == 0, err
    assert text == f"wrote {tmp_path / 'b.png'}: PNG " + text.split("PNG ")[1]
    assert "bar plot of fc.bias [3]: 3 values" in text
    with Image.open(tmp_path / "b.png") as img:
        rgb = np.asarray(img)
    red = np.argwhere((rgb == render.DIVERGING_LUT[-1]).all(axis=-1))  # +1: the full red end
    blue = np.argwhere((rgb == render.DIVERGING_LUT[0]).all(axis=-1))  # -1: the full blue end
    assert len(red) > 1000 and len(blue) > 1000
    assert red[:, 0].max() <= blue[:, 0].min()  # the positive bar above the negative one (they meet at 0) ...
    assert red[:, 1].max() < blue[:, 1].min()  # ... and left of it, in index order
    code, text, err = run_cli(
        capsys, "filters", tmp_path / "m.pth", "--tensor", "emb.scale", "--out", tmp_path / "l.png"
    )
    assert code == 0, err
    assert "line plot of emb.scale [5000]: 5000 values, each point the absmax of 2 values" in text
    with Image.open(tmp_path / "l.png") as img:
        rgb = np.asarray(img)
    line = np.argwhere((rgb == render.plots.LINE_RGB).all(axis=-1))
    peak_x = line[line[:, 0].argmin(), 1]  # the highest point of the line: the spike at 3500 of 5000
    assert (peak_x - line[:, 1].min()) / np.ptp(line[:, 1]) == pytest.approx(0.7, abs=0.01)


@pytest.fixture
def before_after(tmp_path):
    g = torch.Generator().manual_seed(1)
    a = {"big.weight": torch.randn(8, 8, generator=g), "small.weight": torch.randn(8, generator=g),
         "frozen.weight": torch.randn(5, generator=g), "grown": torch.zeros(3), "dropped": torch.ones(1)}  # fmt: skip
    b = dict(a)
    b["big.weight"] = a["big.weight"] * 2  # rel_l2 1.0
    b["small.weight"] = a["small.weight"] + 0.01
    b["grown"] = torch.zeros(4)
    del b["dropped"]
    b["added"] = torch.ones(2)
    torch.save(a, tmp_path / "a.pth")
    torch.save(b, tmp_path / "b.pth")
    return tmp_path / "a.pth", tmp_path / "b.pth"


def test_diff_json_interface(before_after, capsys):
    code, out, err = run_cli(capsys, "diff", *before_after, "--json")
    assert code == 1, err  # the files differ: exit 1, like diff(1)
    doc = json.loads(out)
    assert doc["identical"] is False
    assert {"tensors", "only_in_a", "only_in_b", "shape_mismatch"} <= set(doc)
    rows = {t["name"]: t for t in doc["tensors"]}
    assert all({"name", "changed", "max_abs", "rel_l2"} <= set(t) for t in doc["tensors"])
    assert rows["frozen.weight"] == {**rows["frozen.weight"], "changed": False, "max_abs": 0.0, "rel_l2": 0.0}
    assert rows["big.weight"]["changed"] and rows["big.weight"]["rel_l2"] == pytest.approx(1.0)
    assert rows["grown"]["shape_mismatch"] and rows["grown"]["rel_l2"] is None
    assert doc["only_in_a"] == ["dropped"] and doc["only_in_b"] == ["added"]
    assert doc["shape_mismatch"] == [{"name": "grown", "shape_a": [3], "shape_b": [4]}]


def test_diff_table_is_sorted_by_rel_l2(before_after, capsys):
    code, out, _ = run_cli(capsys, "diff", *before_after, "--sort", "rel_l2")  # the default: as the GUI reads
    assert code == 1
    lines = out.splitlines()
    names = [line.split()[0] for line in lines[3:7]]
    assert names == [
        "grown",
        "big.weight",
        "small.weight",
        "frozen.weight",
    ]  # shape mismatch first, unchanged last
    assert "SHAPE" in lines[3] and "3 vs 4" in lines[3]
    assert "4 tensors compared: 3 changed (1 shape mismatch), 1 unchanged; 1 only in A, 1 only in B" in out
    assert "only in A (1): dropped" in out and "only in B (1): added" in out
    code, out, _ = run_cli(capsys, "diff", *before_after, "--changed")
    assert code == 1 and "frozen.weight" not in out


def test_diff_of_a_bad_file_is_one_line(before_after, tmp_path, capsys):
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    code, out, err = run_cli(capsys, "diff", before_after[0], tmp_path / "bad.pth")
    assert code == 2 and err.startswith("error: ") and "bad.pth" in err and err.count("\n") == 1
    assert out == ""
    code, _, err = run_cli(capsys, "diff", before_after[0], tmp_path / "missing.pth")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1


def test_identical_files_exit_0_with_one_line(before_after, tmp_path, capsys):
    a = before_after[0]
    copy = tmp_path / "copy.pth"
    torch.save(torch.load(a, weights_only=True), copy)  # same tensors, different bytes on disk
    code, out, err = run_cli(capsys, "diff", a, copy)
    assert (code, err) == (0, "")
    assert out == f"identical: {a} and {copy}, 5 tensors equal\n"
    code, out, _ = run_cli(capsys, "diff", a, copy, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["identical"] is True and doc["summary"]["changed"] == 0
    assert len(doc["tensors"]) == 5 and not any(t["changed"] for t in doc["tensors"])  # keys kept


@pytest.mark.parametrize("change", ["only_in_b", "shape"])
def test_any_difference_exits_1(tmp_path, capsys, change):
    a = {"w": torch.ones(3)}
    b = {"w": torch.ones(3), "extra": torch.zeros(1)} if change == "only_in_b" else {"w": torch.ones(4)}
    torch.save(a, tmp_path / "a.pth")
    torch.save(b, tmp_path / "b.pth")
    code, out, _ = run_cli(capsys, "diff", tmp_path / "a.pth", tmp_path / "b.pth")
    assert code == 1 and "identical" not in out


def test_diff_help_states_the_exit_status(capsys):
    with pytest.raises(SystemExit):
        main(["diff", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "0 when every tensor is equal, 1 when something differs" in text and "2 on an error" in text


MAGIC = {"PNG": b"\x89PNG\r\n\x1a\n", "JPEG": b"\xff\xd8\xff"}


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("w.png", "PNG"), ("w.jpg", "JPEG"), ("w.jpeg", "JPEG"), ("W.JPG", "JPEG"), ("w.PNG", "PNG")],
)
@pytest.mark.parametrize("tensor", ["conv.weight", "fc.weight"])
def test_out_suffix_names_the_format(tmp_path, capsys, name, fmt, tensor):
    torch.save({"conv.weight": torch.randn(4, 3, 3, 3), "fc.weight": torch.randn(3, 4)}, tmp_path / "m.pth")
    out = tmp_path / name
    code, _, err = run_cli(capsys, "filters", tmp_path / "m.pth", "--tensor", tensor, "--out", out)
    assert code == 0, err
    assert out.read_bytes().startswith(MAGIC[fmt])
    with Image.open(out) as img:
        assert img.format == fmt and img.mode == "RGB"


@pytest.mark.parametrize("name", ["w.svg", "w.gif", "w"])
def test_unsupported_suffix_is_refused_before_reading(tmp_path, capsys, name):
    torch.save({"conv.weight": torch.randn(4, 3, 3, 3)}, tmp_path / "m.pth")
    out = tmp_path / name
    code, text, err = run_cli(capsys, "filters", tmp_path / "m.pth", "--tensor", "nope", "--out", out)
    assert (code, text) == (1, "") and err.count("\n") == 1
    assert err.startswith(f"error: {out}: pictures are written as .png, .jpg or .jpeg files, not as ")
    assert err.rstrip().endswith(
        "; name the output with one of those suffixes"
    )  # not "no tensor named 'nope'"
    assert not out.exists()


def test_rgb_composite_png_has_no_colour_bar_and_says_how_it_was_scaled(tmp_path, capsys):
    """Before: a grey colour bar beside the RGB composite, which reads no colour of it."""
    torch.save({"conv1.weight": torch.randn(6, 3, 5, 5)}, tmp_path / "m.pth")
    for normalize, scale_text in (("filter", "each filter scaled to ±1 by its own max |w|"),
                                  ("global", "one scale for all filters, ±")):  # fmt: skip
        out = tmp_path / f"{normalize}.png"
        code, text, err = run_cli(capsys, "filters", tmp_path / "m.pth", "--tensor", "conv1.weight",
                                  "--normalize", normalize, "--out", out)  # fmt: skip
        assert code == 0 and "RGB composite" in text, err
        grid = render.filter_grid(torch.load(tmp_path / "m.pth")["conv1.weight"], normalize,
                                  min_tile_px=render.READABLE_TILE_PX, max_side=render.PNG_MAX_SIDE)  # fmt: skip
        figure = render.grid_figure(grid, "conv1.weight", "m.pth")
        with Image.open(out) as img:
            np.testing.assert_array_equal(np.asarray(img), figure.rgb)
        assert figure.colour_bar_box is None
        y, x, h, w = figure.picture_box
        assert (figure.rgb[y:, x + w + 1 :] == 255).all()  # nothing but paper right of the mosaic
        assert scale_text in render.tensor_figures.grid_description(grid)
