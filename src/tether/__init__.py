"""tether: version datasets and model weights next to code."""

__version__ = "0.1.0"
