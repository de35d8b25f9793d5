"""levil-edge: distil a small video action classifier from a vision-language model and ship it to the edge."""

__version__ = "0.1.0"
