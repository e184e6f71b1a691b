"""Ad and content testing: a stimulus video, respondents' recordings, per-second aggregates and a report.

See ``docs/studies.md`` for the walk-through and the schema; the modules, each one job:
``models`` + ``migrations`` (schema), ``db`` (engines, migrations on open), ``locations`` (where a
study lives), ``store`` (all reads/writes, atomic claims), ``media`` (hashes, stimulus probing and
frames), ``worker`` / ``runner`` (processing), ``respondent`` / ``seconds`` / ``aggregate`` /
``stats`` (the maths, pure functions), ``privacy`` (consent, pseudonyms, erasure), ``invites`` /
``remote`` (remote respondents' links and live sessions), ``results`` (tables of a study), ``api``
(the Python API).
"""

from affectlens.studies.api import (
    add_recording,
    create_study,
    delete_study,
    erasures,
    export_study,
    find_invite,
    forget_respondent,
    invite,
    parse_tags,
    recordings,
    respondents,
    revoke,
    run_study,
    study_names,
    tables,
)

__all__ = [
    "add_recording",
    "create_study",
    "delete_study",
    "erasures",
    "export_study",
    "find_invite",
    "forget_respondent",
    "invite",
    "parse_tags",
    "recordings",
    "respondents",
    "revoke",
    "run_study",
    "study_names",
    "tables",
]
