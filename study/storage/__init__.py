"""Where a study's folder is kept, and who may write it.

- ``remote``: ``--storage`` as given: a folder, or a storage URI (``s3://``, ``gs://``)
  resolved with pyarrow's file systems, the ones Ray Tune uses; this machine's
  working folder of a URI;
- ``mirror``: the working folder uploaded as the study runs;
- ``transfer``: downloads of a study from its URI, a report uploaded;
- ``lock``: one writer per folder; ``trust``: whether a folder may be resumed.

May import: study.errors, experiment_folder; never Ray.
"""

from study.storage.mirror import Mirror, Uploads
from study.storage.remote import (
    CACHE_ENV,
    FORMS,
    Place,
    Remote,
    cache_root,
    check,
    is_uri,
    place,
    reason,
    resolve,
    working_root,
)
from study.storage.transfer import discard, download, key_parts, snapshot, upload_report

__all__ = [
    "CACHE_ENV",
    "FORMS",
    "Mirror",
    "Place",
    "Remote",
    "Uploads",
    "cache_root",
    "check",
    "discard",
    "download",
    "is_uri",
    "key_parts",
    "place",
    "reason",
    "resolve",
    "snapshot",
    "upload_report",
    "working_root",
]
