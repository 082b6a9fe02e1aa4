"""One module per CLI verb: ``add_parser(subparsers)`` registers it and sets ``run(args) -> int``."""
