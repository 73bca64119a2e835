"""git-batch: operator controls for registries fed by automated batches."""

__version__ = "0.1.0"
