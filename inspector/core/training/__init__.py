"""Fine-tuning: which tensors are frozen, the data to train on, the training loop as a job, and the new file.

``freeze`` decides what trains; ``datasets`` turns a ``--data`` spec into preprocessed tensors; ``loop`` is the
generator the CLI, the GUI and ``torchrun`` all drive; ``saving`` writes the result atomically.
"""
