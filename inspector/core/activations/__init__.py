"""What a model does to an input: every layer's output in one pass (capture) and channel ablation."""
