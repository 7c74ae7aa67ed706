"""Privacy jobs. Each owns its transaction and is safe to run twice."""
from __future__ import annotations

from langjourney.db import utcnow
from langjourney.extensions import db
from langjourney.privacy import services

# A first run over a long backlog takes a while (300,000 rows: some 35 s on PostgreSQL, each batch of
# 1,000 committed within a second); later daily runs take well under a second. Enqueue with this.
PRUNE_JOB_TIMEOUT = 30 * 60


def prune() -> dict[str, int]:
    """The retention prune (see :mod:`langjourney.privacy.services`), committing after each batch;
    returns the counts. Meant to run daily from the periodic mechanism."""
    counts = services.prune(utcnow(), between_batches=db.session.commit)
    db.session.commit()
    return counts.as_dict()
