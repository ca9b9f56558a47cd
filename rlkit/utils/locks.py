"""Process-wide locks around libraries that are not safe to use from several threads."""

from __future__ import annotations

import threading

# orbax's checkpointers share background commit threads and temporary-directory handling
# across the process: two saves at once from different threads (the runners of
# `rlkit.experiments.run_seeds`, one per seed) fail on each other's files. Every orbax save
# and restore rlkit makes holds this lock.
ORBAX = threading.RLock()
