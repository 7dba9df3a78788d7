"""Start-up work that keeps the first requests and the slowest ones fast."""

import gc

from app.core import titles, vocab

_settled = False


def settle() -> None:
    """Load the lazy tables and compile the glossary now, then move every object alive to
    the collector's permanent generation.

    The vocabularies, glossary and libraries make a large, long-lived heap; without
    `gc.freeze()` each full collection walks all of it and stalls whichever request triggered
    it (about 60 ms here, the slowest submissions of the detection benchmark).  Objects made
    later are collected as usual.  Done once per process: a second application in the same
    process (tests) must not freeze the first one's garbage."""
    global _settled
    if _settled:
        return
    vocab.warm()
    titles.warm()
    gc.collect()
    gc.freeze()
    _settled = True
