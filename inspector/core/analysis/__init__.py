"""Numbers about tensors: exact statistics and checkpoint diffs."""
