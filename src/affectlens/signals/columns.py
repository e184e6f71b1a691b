"""The names of the per-face signal columns, in the order the tables write them (README, "Output columns")."""

MEASURED = ("yaw", "pitch", "roll", "eye_openness", "mouth_open", "mouth_width", "face_presence")
DERIVED = (
    "laugh",
    "smile",
    "gasp",
    "frown",
    "cry",
    "eyes_closed",
    "yawning",
    "looking_away",
    "blink",
    "expression_engagement",
    "attention",
    "engagement",
    "state",
    "state_reason",
)
