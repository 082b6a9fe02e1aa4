"""Runnable modules: architecture matching, the demo network, resolution from a file, device policy, summary."""
