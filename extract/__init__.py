"""incident-extract: schema-validated, evidence-grounded incident records from news articles."""

from extract.core import EXTRACTOR_VERSION as __version__

__all__ = ["__version__"]
