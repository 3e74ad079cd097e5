"""The mining job: a project's questions encoded, candidate pairs searched, the best reranked,
everything committed chunk by chunk so a cancelled or crashed run resumes where it stopped.

Offers :class:`MiningJob` (a generator of :class:`Progress` events; cancel from any thread),
:class:`MiningParams` (what a run does; ``on_device`` and ``key``), :func:`encode_chunks` and
:func:`release_freed_memory` (the heap a stage freed, given back before the next reads every vector).

Modules: ``job`` (the pipeline), ``params`` (its parameters, progress events and chunks).
"""

from .job import MiningJob, release_freed_memory
from .params import MiningParams, Progress, encode_chunks

__all__ = ["MiningJob", "MiningParams", "Progress", "encode_chunks", "release_freed_memory"]
