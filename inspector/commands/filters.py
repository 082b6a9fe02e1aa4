"""``inspector filters FILE --tensor NAME --out PNG [--normalize filter|global] [--channel N|all|rgb]``.

Renders every filter of a conv weight as one mosaic (see :func:`inspector.core.render.filter_grid`), with
tiles upscaled so a person can read them: a resnet18 ``conv1.weight`` (64x3x7x7) becomes 8x8 RGB tiles of
49 px, exactly what the GUI's filter grid draws. A tensor that the GUI draws as a heatmap (a matrix, or any
tensor without conv-sized kernels) is written as that heatmap, a vector (a bias) as its bar plot (a line beyond
256 values), so that every picture of the Weights tab can be made headless. Each picture is a figure
(:mod:`inspector.core.render.tensor_figures`): a title with the file, tensor, shape and what is shown, and a
colour bar. The format is the one ``--out``'s suffix names (.png, .jpg, .jpeg). A quantized weight is drawn
dequantized: the title says so, the line under it and the printed summary name the scale and zero point.
"""

from __future__ import annotations

import os

from inspector.commands.common import add_file_argument, load_or_fail


def add_parser(sub) -> None:
    p = sub.add_parser(
        "filters", help="render a conv weight's filters as a PNG grid (a matrix: a heatmap; a vector: bars)"
    )
    add_file_argument(p)
    p.add_argument(
        "--tensor",
        required=True,
        metavar="NAME",
        help="the conv weight (or matrix, or vector), e.g. conv1.weight",
    )
    p.add_argument(
        "--out", required=True, metavar="PNG",
        help="where to write the picture; the suffix names the format: .png, .jpg or .jpeg",
    )  # fmt: skip
    p.add_argument(
        "--normalize", choices=("filter", "global"), default="filter",
        help="scale each filter by its own max |w| (default) or all by the weight's max |w|",
    )  # fmt: skip
    p.add_argument(
        "--channel", default="auto", metavar="N|all|rgb",
        help="input channel to show; 'all': one row per filter; 'rgb': composite of 3 channels "
        "(default: rgb when there are 3 input channels, else all)",
    )  # fmt: skip
    p.set_defaults(run=run)


def channel_options(text: str, file: str, name: str, shape: tuple[int, ...]) -> dict:
    """``filter_grid`` keywords for ``--channel TEXT``, checked against the weight's shape before it is read.

    Every refusal is one sentence in the words of the command line ("conv1.weight has 3 input channels (0-2),
    not 5; pick --channel 0..2").
    """
    from inspector.core.errors import InspectorError
    from inspector.core.render import channel_range, view_kind

    if text == "auto":
        return {}
    kind = view_kind(shape)
    if kind != "filters":
        raise InspectorError(
            f"{file}: {name} {list(shape)} is drawn as a {'bar plot' if kind == 'bars' else kind}, which has no "
            f"input channels; leave out --channel {text}"
        )
    cin = shape[1]
    pick = "--channel 0" if cin == 1 else f"--channel 0..{cin - 1}"
    if text == "all":
        return {"composite": False}
    if text == "rgb":
        if cin != 3:
            raise InspectorError(
                f"{file}: {name} has {channel_range(cin)} and --channel rgb needs 3; pick {pick} or all"
            )
        return {"composite": True}
    try:
        channel = int(text)
    except ValueError:
        raise InspectorError(
            f"{file}: --channel takes an input channel number, 'all' or 'rgb', not '{text}'; pick {pick}, all or rgb"
        ) from None
    if not 0 <= channel < cin:
        raise InspectorError(f"{file}: {name} has {channel_range(cin)}, not {channel}; pick {pick}")
    return {"channel": channel}


def run(args) -> int:
    from inspector.core.checkpoint.packed_params import dequantized_note
    from inspector.core.errors import InspectorError
    from inspector.core.render import image_format, save_image, suggest_view, view_kind

    image_format(args.out)  # an unsupported suffix is refused before the file is read
    ckpt = load_or_fail(args.file, trust=args.trust, resolve=False)
    entry = ckpt.entry(args.tensor)
    shape = tuple(entry.shape)
    kind = view_kind(shape)
    if kind in ("empty", "scalar"):
        raise InspectorError(f"{args.file}: {suggest_view(shape, entry.key)}")
    options = channel_options(args.channel, args.file, entry.key, shape)
    draw = {"heatmap": draw_heatmap, "bars": draw_series}.get(kind, draw_grid)
    options["values_note"] = dequantized_note(entry.dtype, entry.quantization) if entry.quantized else ""
    try:
        fig, what, note = draw(
            ckpt.tensor(entry), entry.key, shape, os.path.basename(args.file), args, options
        )
    except InspectorError as exc:
        raise InspectorError(f"{args.file}: {exc.message}") from None
    fmt = save_image(fig.rgb, args.out)
    height, width = fig.rgb.shape[:2]
    if options["values_note"]:
        what += f", values {options['values_note']}"
    print(f"wrote {args.out}: {fmt} {width}x{height} px, {what}")
    if note:
        print(f"note: {note}")
    return 0


def draw_grid(tensor, name, shape, source, args, options):
    """(figure, summary, note) of a conv weight's filter mosaic."""
    from inspector.core.formatting import plural
    from inspector.core.render import PNG_MAX_SIDE, READABLE_TILE_PX, filter_grid, grid_figure

    values_note = options.get("values_note", "")
    grid = filter_grid(
        tensor,
        normalize=args.normalize,
        min_tile_px=READABLE_TILE_PX,
        max_side=PNG_MAX_SIDE,
        name=name,
        **{k: v for k, v in options.items() if k != "values_note"},
    )
    what = "RGB composite" if grid.composite else (f"input channel {grid.channel}" if grid.channel is not None
                                                   else "one row per filter, one column per input channel")  # fmt: skip
    summary = (
        f"{plural(grid.filters_shown, 'filter')} of {name} {list(shape)} in {grid.rows}x{grid.cols} tiles of "
        f"{grid.tile_h}x{grid.tile_w} px, {what}, {args.normalize} normalisation (max |w| {grid.value_range[1]:.4g})"
    )
    return grid_figure(grid, name, source, values_note), summary, grid.note


def draw_heatmap(tensor, name, shape, source, args, options):
    """(figure, summary, note) of a matrix, or a tensor read as one, as the GUI's heatmap."""
    from inspector.core.render import heatmap_array, heatmap_figure, matrix_shape

    heat = heatmap_array(tensor.reshape(matrix_shape(shape)))
    drawn = "x".join(map(str, heat.values.shape))
    how = "exact" if heat.method == "exact" else f"{heat.method} of {heat.factor[0]}x{heat.factor[1]} blocks"
    summary = (
        f"heatmap of {name} {list(shape)} drawn as {drawn} ({how}), "
        f"colours saturate beyond ±{heat.clip or heat.vmax:.4g}"
    )
    return heatmap_figure(heat, name, source, shape, options.get("values_note", "")), summary, ""


def draw_series(tensor, name, shape, source, args, options):
    """(figure, summary, note) of a vector as the GUI's bar plot (a line beyond 256 values)."""
    from inspector.core.formatting import plural
    from inspector.core.render import series_1d, series_figure

    series = series_1d(tensor)
    how = "" if series.factor == 1 else f", each point the {series.method} of {series.factor} values"
    values = plural(series.length, "value")
    summary = f"{'bar' if series.style == 'bar' else 'line'} plot of {name} {list(shape)}: {values}{how}"
    return series_figure(series, name, source, shape, options.get("values_note", "")), summary, ""
