"""One formatter for the CLI and the GUI: binary units for sizes, exact or short counts (no Qt)."""

from inspector.core.checkpoint.entry_tree import natural_key
from inspector.core.formatting import format_bytes, format_count, format_count_short, format_shape


def test_sizes_use_binary_units_with_three_digits():
    assert format_bytes(512) == "512 B"
    assert format_bytes(1023) == "1023 B"
    assert format_bytes(1024) == "1.00 KiB"
    assert format_bytes(2_048_000) == "1.95 MiB"  # the CLI said "1.95 MB"
    assert format_bytes(4_915_200) == "4.69 MiB"
    assert format_bytes(18_432) == "18.0 KiB"
    assert format_bytes(1023 * 1024) == "1.00 MiB"  # never "1023 KiB" (four digits)
    assert format_bytes(45 * 1024**2 + 1) == "45.0 MiB"
    assert format_bytes(3 * 1024**3) == "3.00 GiB"


def test_counts_and_shapes():
    assert format_count(1234567) == "1,234,567"
    assert format_count_short(24_380) == "24.4k" and format_count_short(11_689_512) == "11.7M"
    assert format_count_short(999) == "999"
    assert format_shape((64, 3, 3, 3)) == "64×3×3×3" and format_shape(()) == "scalar"
    assert sorted(["layer10", "layer2", "Layer1"], key=natural_key) == ["Layer1", "layer2", "layer10"]


def test_cli_list_prints_binary_units(tmp_path, capsys):
    import torch

    from inspector.cli import main

    path = tmp_path / "big.pth"
    torch.save({"w": torch.zeros(512_000)}, path)  # 2,048,000 bytes
    assert main(["list", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1.95 MiB" in out and " MB" not in out


def test_plural_is_singular_for_one_only():
    from inspector.core.formatting import plural

    assert plural(1, "buffer") == "1 buffer" and plural(0, "buffer") == "0 buffers"
    assert plural(2, "shape mismatch", "shape mismatches") == "2 shape mismatches"
    assert plural(1, "shape mismatch", "shape mismatches") == "1 shape mismatch"
    assert plural(1200, "parameter", shown="1.2k") == "1.2k parameters"
