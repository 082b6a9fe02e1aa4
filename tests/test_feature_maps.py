"""Feature-map pictures as numbers: the mosaic layout, tracing a pixel back to its channel, and the colours."""

import numpy as np
import pytest
import torch

from inspector.core.render import DIVERGING_LUT, diverging_rgb
from inspector.core.render.colormap import BACKGROUND_RGB, NAN_RGB
from inspector.core.render.feature_maps import PAD, feature_mosaic


def test_tiles_are_laid_out_row_by_row_with_nan_padding():
    output = torch.arange(5 * 2 * 3, dtype=torch.float32).reshape(5, 2, 3)
    mosaic = feature_mosaic(output, aspect=2.0)
    assert (mosaic.rows, mosaic.cols) == (2, 3) and mosaic.values.shape == (2 * 2 + PAD, 3 * 3 + 2 * PAD)
    for c in range(5):
        y, x = mosaic.tile_origin(c)
        assert np.array_equal(mosaic.values[y : y + 2, x : x + 3], output[c].numpy())
        assert mosaic.channel_at(y + 1, x + 2) == (c, 1, 2)
    assert np.isnan(mosaic.values[2, :]).all() and np.isnan(mosaic.values[:, 3]).all()
    y, x = mosaic.tile_origin(5)  # the empty sixth cell
    assert np.isnan(mosaic.values[y:, x:]).all() and mosaic.channel_at(y, x) is None
    assert mosaic.channel_at(2, 0) is None and mosaic.channel_at(0, 3) is None


@pytest.mark.parametrize("normalize", ["shared", "channel"])
def test_colours_follow_the_scale_and_padding_is_dark(normalize):
    output = torch.zeros(2, 2, 2)
    output[0, 0, 0], output[0, 1, 1] = 4.0, -2.0
    output[1, 0, 0] = 1.0
    mosaic = feature_mosaic(output, normalize, aspect=4.0)  # one row: [c0 | c1]
    rgb = mosaic.rgb()
    assert rgb.shape == (*mosaic.values.shape, 3) and rgb.dtype == np.uint8 and rgb.flags.c_contiguous
    assert tuple(rgb[0, 0]) == tuple(DIVERGING_LUT[-1])  # +4 at the end of channel 0's scale
    assert tuple(rgb[1, 1]) == tuple(diverging_rgb(np.array([-2.0]), 4.0)[0])
    assert tuple(rgb[0, 2]) == BACKGROUND_RGB
    expected = 1.0 if normalize == "channel" else 0.25
    assert tuple(rgb[0, 3]) == tuple(diverging_rgb(np.array([expected]), 1.0)[0])
    assert np.nanmax(np.abs(mosaic.normalized())) == pytest.approx(1.0)


def test_nan_values_are_marked_and_do_not_set_the_scale():
    output = torch.ones(1, 2, 2)
    output[0, 0, 0] = float("nan")
    mosaic = feature_mosaic(output)
    assert mosaic.scales[0] == 1.0
    assert tuple(mosaic.rgb()[0, 0]) == NAN_RGB and tuple(mosaic.rgb()[1, 1]) == tuple(DIVERGING_LUT[-1])


def test_packed_colours_match_the_lut():
    values = np.linspace(-2, 2, 1001, dtype=np.float32).reshape(7, 11, 13)
    index = np.rint((np.clip(values / 1.5, -1, 1) + 1) * 128).astype(int)
    assert np.array_equal(diverging_rgb(values, 1.5), DIVERGING_LUT[index])


@pytest.mark.parametrize("normalize", ["shared", "channel"])
def test_the_scale_of_the_run_before_zeroing_is_kept(normalize):
    """An ablated run drawn with the unablated run's scale: the same value gets the same colour in both."""
    before = torch.zeros(2, 2, 2)
    before[0, 0, 0], before[1, 1, 1] = 4.0, 2.0
    after = before.clone()
    after[0] = 0.0  # channel 0 zeroed: alone, the shared scale would drop from 4 to 2
    own = feature_mosaic(after, normalize, aspect=4.0)
    kept = feature_mosaic(after, normalize, aspect=4.0, scale_from=before)
    expected = [4.0, 4.0] if normalize == "shared" else [4.0, 2.0]
    assert kept.scales.tolist() == expected and own.scales.tolist() != expected
    reference = feature_mosaic(before, normalize, aspect=4.0)
    y, x = kept.tile_origin(1)
    assert tuple(kept.rgb()[y + 1, x + 1]) == tuple(reference.rgb()[y + 1, x + 1])
