"""How alike two titles are in meaning, whatever their languages: from the vectors of a
multilingual sentence-embedding model (app.findings.vectors computes and keeps them).

Raw cosine similarities of this model say little on their own: any two 1540 titles score about
0.84, a title and its Russian translation about 0.90.  Two steps make them usable:

- centring: each vector has the mean vector of its language's 1540 titles taken away, which
  removes what all titles of one language share (the language itself, the subject of
  non-proliferation) and leaves what tells one activity from another;
- calibration: the centred cosine is mapped onto 0..1 between `low` (what unrelated titles
  reach) and `high` (what translations of one title reach), so that it reads like the other
  title measure (app.core.titles) and the same thresholds apply.

Across languages, where words cannot meet, meaning counts fully.  In one language the words
are trusted and meaning may lift them by at most `lift`, and only for titles that describe 1540
work (app.core.matching): on the real conference listings, a free hand linked brand names that
share nothing but their frame ("Apidays London", "SREday London").

The centroids and the bounds are measured on the tuning part of the hand-labelled pairs
(tests/core/labelled/tuning.json) by benchmarks/calibrate_meaning.py and kept in
meaning_calibration.json beside this module.  Pure: vectors in, numbers out.
"""

import base64
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]

CALIBRATION_FILE = Path(__file__).with_name("meaning_calibration.json")


@dataclass(frozen=True)
class Calibration:
    model: str
    low: float
    high: float
    lift: float  # how far meaning may lift the words' measure of two titles in one language
    centroids: dict[str, Vector]
    overall: Vector  # for a language without a centroid of its own


def encode_vector(vector: Vector) -> str:
    return base64.b64encode(np.asarray(vector, dtype=np.float16).tobytes()).decode()


def decode_vector(text: str) -> Vector:
    return np.frombuffer(base64.b64decode(text), dtype=np.float16).astype(np.float32)


@cache
def calibration() -> Calibration:
    data = json.loads(CALIBRATION_FILE.read_text())
    return Calibration(
        model=data["model"],
        low=float(data["low"]),
        high=float(data["high"]),
        lift=float(data.get("lift", 0.0)),
        centroids={code: decode_vector(text) for code, text in data["centroids"].items()},
        overall=decode_vector(data["overall"]),
    )


def prepare(raw: Vector, language: str) -> Vector:
    """A model's vector of a text in `language`, centred and of length 1."""
    known = calibration()
    centroid = known.centroids.get(language.split("-")[0].lower(), known.overall)
    centred = np.asarray(raw, dtype=np.float32) - centroid
    norm = float(np.linalg.norm(centred))
    return centred / norm if norm else centred


def cosine(a: Vector, b: Vector) -> float:
    return float(a @ b)


def alike(a: Vector, b: Vector) -> float:
    """How alike two prepared vectors are, 0..1 on the scale of app.core.titles.similarity."""
    known = calibration()
    value = (cosine(a, b) - known.low) / (known.high - known.low)
    return round(min(1.0, max(0.0, value)), 4)
