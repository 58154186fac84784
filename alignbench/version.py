__version__ = "0.1.0"  # a leaf: the CLI reads it without importing the package's API
