"""The static review site: an index of documents, one page per document with its evidence
highlighted in the article, the gold diff, and the events across articles.

:func:`build_site` writes it; ``extract review`` is the command. :func:`build_matrix_site` writes
the site of an eval matrix (``extract eval --matrix --review``): a page comparing its cells, each
cell's run with its own site. Nothing in the package
imports this module (an import-linter contract says so): it only reads records, gold
verdicts and events.
"""

from extract.review.families import FAMILY_OF_FIELD, family
from extract.review.site import SiteSummary, build_matrix_site, build_site

__all__ = ["FAMILY_OF_FIELD", "SiteSummary", "build_matrix_site", "build_site", "family"]
