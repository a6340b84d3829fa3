"""annlab: how activations and initialisations behave in deep fully-connected networks."""

__version__ = "0.1.0"
