"""Inputs read from a data root the user names (MNIST in torchvision's layout)."""
