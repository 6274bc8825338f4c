"""The core: schema, prompts, grounding, the backend contract and the one-document pipeline.

Nothing in this package imports a backend, the batch runner or the CLI (enforced by
the import-linter contract in pyproject.toml).
"""

from importlib import metadata

try:
    EXTRACTOR_VERSION = metadata.version("incident-extract")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    EXTRACTOR_VERSION = "0+unknown"
