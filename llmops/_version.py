"""The package version, in core so that any layer may read it (``llmops`` itself is the facade
above every layer)."""

__version__ = "0.1.0"
