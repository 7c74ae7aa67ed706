"""What a serving process does once, after the app is built and before its first request."""
from __future__ import annotations

from threadpoolctl import threadpool_limits

from exercises import morph


def prepare_web_process() -> None:
    """Make a web worker ready for its first request.

    * BLAS runs on one thread. A request does a few small matrix products (the placement engine's
      item selection, some 0.05 ms each); extra BLAS threads do not speed these up, but they spin
      on the cores that the other workers and requests need.
    * EstNLTK's Vabamorf (the ``morph`` extra) is loaded now. Loading takes seconds, which
      otherwise the first learner in each worker to answer a gap item would wait.
    """
    threadpool_limits(limits=1, user_api="blas")
    morph.available()
