"""The mining job: a project's questions encoded, candidate pairs searched, the best reranked,
everything committed chunk by chunk so a cancelled or crashed run resumes where it stopped.

Offers :class:`MiningJob` (a generator of :class:`Progress` events; cancel from any thread),
:class:`MiningParams` (what a run does; ``on_device`` and ``key``) and :func:`encode_chunks`.

Modules: ``job`` (the pipeline), ``params`` (its parameters, progress events and chunks).
"""

from .job import MiningJob
from .params import MiningParams, Progress, encode_chunks

__all__ = ["MiningJob", "MiningParams", "Progress", "encode_chunks"]
