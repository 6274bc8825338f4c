"""How a corpus flows through the one-document pipeline.

- ``local`` (the default): one process, one asyncio event loop, ``concurrency``
  documents in flight (:mod:`extract.engines.local`, which is :mod:`extract.runner`).
- ``ray``: Ray Data on a Ray cluster or a local Ray instance; documents stream
  through an actor pool, each actor holding one backend client and its own
  in-flight limit (:mod:`extract.engines.ray`; needs ``incident-extract[ray]``).

Both take one :class:`~extract.engines.config.RunConfig` (``run_corpus(source, config)`` in each
module), write the same records to the same JSON Lines run file, resume the same way
and write the same failure records; neither reaches inside
:func:`extract.core.pipeline.aextract_document`.
"""

from __future__ import annotations

ENGINES = ("local", "ray")
DEFAULT_ENGINE = "local"

__all__ = ["DEFAULT_ENGINE", "ENGINES"]
