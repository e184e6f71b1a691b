"""The emotion taxonomy: FER+ class order, folder-name synonyms and valence groups."""

from __future__ import annotations

#: The eight FER+ classes, in the order of the FER+ label files (and of every model we ship).
EMOTIONS: tuple[str, ...] = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
)

POSITIVE = frozenset({"happiness", "surprise"})
NEGATIVE = frozenset({"anger", "disgust", "fear", "sadness", "contempt"})

_SYNONYMS = {
    "neutral": "neutral",
    "calm": "neutral",
    "happy": "happiness",
    "happiness": "happiness",
    "joy": "happiness",
    "smile": "happiness",
    "surprise": "surprise",
    "surprised": "surprise",
    "sad": "sadness",
    "sadness": "sadness",
    "angry": "anger",
    "anger": "anger",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "scared": "fear",
    "afraid": "fear",
    "contempt": "contempt",
}


def canonical(name: str) -> str | None:
    """Map a folder or label name ('Happy', 'angry', '3_sad') to one of :data:`EMOTIONS`, or None."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key in _SYNONYMS:
        return _SYNONYMS[key]
    # tolerate numeric prefixes such as "3_sad" or "03-happy"
    tail = key.split("_", 1)[-1]
    return _SYNONYMS.get(tail)


def valence(label: str) -> str:
    """'positive', 'negative' or 'neutral' for an emotion label."""
    if label in POSITIVE:
        return "positive"
    if label in NEGATIVE:
        return "negative"
    return "neutral"
