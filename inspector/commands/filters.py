"""``inspector filters FILE --tensor NAME --out PNG [--normalize filter|global] [--channel N|all|rgb]``.

Renders every filter of a conv weight as one mosaic PNG (see :func:`inspector.core.render.filter_grid`), with
tiles upscaled so a person can read them: a resnet18 ``conv1.weight`` (64x3x7x7) becomes 8x8 RGB tiles of
49 px. The PNG is exactly what the GUI's filter grid draws. A tensor that the GUI draws as a heatmap (a matrix, or
any tensor without conv-sized kernels) is written as that heatmap instead, so that every picture of the
Weights tab but the 1-D plots can be made headless.
"""

from __future__ import annotations

from inspector.commands.common import add_file_argument, load_or_fail


def add_parser(sub) -> None:
    p = sub.add_parser("filters", help="render a conv weight's filters as a PNG grid (a matrix: a heatmap)")
    add_file_argument(p)
    p.add_argument(
        "--tensor", required=True, metavar="NAME", help="the conv weight (or matrix), e.g. conv1.weight"
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
    from inspector.core.errors import InspectorError
    from inspector.core.render import (
        PNG_MAX_SIDE,
        READABLE_TILE_PX,
        filter_grid,
        image_format,
        save_image,
        suggest_view,
        view_kind,
    )

    image_format(args.out)  # an unsupported suffix is refused before the file is read
    ckpt = load_or_fail(args.file, trust=args.trust, resolve=False)
    entry = ckpt.entry(args.tensor)
    shape = tuple(entry.shape)
    if view_kind(shape) in ("empty", "scalar"):
        raise InspectorError(f"{args.file}: {suggest_view(shape, entry.key)}")
    options = channel_options(args.channel, args.file, entry.key, shape)
    if view_kind(shape) == "heatmap":
        return write_heatmap(ckpt, entry, args.out)
    try:
        grid = filter_grid(
            ckpt.tensor(entry), normalize=args.normalize, min_tile_px=READABLE_TILE_PX, max_side=PNG_MAX_SIDE,
            name=entry.key, **options,
        )  # fmt: skip
    except InspectorError as exc:
        raise InspectorError(f"{args.file}: {exc.message}") from None
    rgb = grid.to_rgb()
    save_image(rgb, args.out)
    what = "RGB composite" if grid.composite else (f"input channel {grid.channel}" if grid.channel is not None
                                                   else "one row per filter, one column per input channel")  # fmt: skip
    print(
        f"wrote {args.out}: {rgb.shape[1]}x{rgb.shape[0]} px, {grid.filters_shown} filters of "
        f"{entry.key} {list(entry.shape)} in {grid.rows}x{grid.cols} tiles of {grid.tile_h}x{grid.tile_w} px, "
        f"{what}, {args.normalize} normalisation (max |w| {grid.value_range[1]:.4g})"
    )
    if grid.note:
        print(f"note: {grid.note}")
    return 0


def write_heatmap(ckpt, entry, out) -> int:
    """A matrix (or a tensor read as one) as the GUI's heatmap, upscaled to be readable."""
    from inspector.core.render import heatmap_array, matrix_shape, save_image, upscale

    matrix_rows_cols = matrix_shape(tuple(entry.shape))
    heat = heatmap_array(ckpt.tensor(entry).reshape(matrix_rows_cols))
    rgb = upscale(heat.to_rgb())
    save_image(rgb, out)
    drawn = "x".join(map(str, heat.values.shape))
    how = "exact" if heat.method == "exact" else f"{heat.method} of {heat.factor[0]}x{heat.factor[1]} blocks"
    print(
        f"wrote {out}: {rgb.shape[1]}x{rgb.shape[0]} px, heatmap of {entry.key} {list(entry.shape)} "
        f"drawn as {drawn} ({how}), colours saturate beyond ±{heat.clip or heat.vmax:.4g}"
    )
    return 0
