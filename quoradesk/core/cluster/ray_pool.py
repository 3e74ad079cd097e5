"""Mining's neural stages on a Ray cluster: one actor per node (per GPU where a node has them),
each loading the models once and taking chunks of questions to encode or pairs to rerank.

Usage::

    from quoradesk.core.cluster.ray_pool import RayPool

    pool = RayPool("local")             # or "auto", "host:6379", "ray://head:10001"
    pool.connect()                      # refuses an unreachable address (ClusterError)
    model = pool.ship("sparse", splade_dir)
    pool.warm(model)                    # optional: every worker loads it now, not at its first chunk
    for result in pool.map_unordered("encode", [(model, key, texts, 32) ...], cancelled):
        ...                             # (key, node id, CSR rows, seconds), or None while waiting
    pool.close()

The models travel through Ray's object store, not a shared filesystem: the driver reads a
model folder into memory once (``ship``), and a worker writes it to its own node's temporary
folder the first time it needs it, under the model's content key, so later runs on that node
reuse it. The results come back to the driver, which commits them to the project exactly as a
local run does; a worker holds no project state, so a lost worker costs only its chunk.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..cluster import ClusterError, check_ray_address, check_ray_reachable, require

# Tasks queued per worker: one running, one waiting, so a worker never idles between chunks.
QUEUED_PER_WORKER = 2
# Seconds between heartbeats while waiting on the workers: the caller checks its cancel flag.
WAIT_SECONDS = 0.25


def pack_model(path: str | Path) -> dict[str, bytes]:
    """Every file of a model folder, by path relative to it."""
    root = Path(path)
    return {str(f.relative_to(root)): f.read_bytes() for f in sorted(root.rglob("*"))
            if f.is_file() and not f.name.startswith(".")}


def unpack_model(files: dict[str, bytes], folder: Path) -> Path:
    """``files`` written under ``folder`` (once: an existing folder is the same content, as it
    is named after the model's content key); returns ``folder``."""
    if folder.is_dir():
        return folder
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    for name, data in files.items():
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    try:
        staging.rename(folder)  # atomic: two workers on one node may unpack at once
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


class MiningWorker:
    """A Ray actor's state: its device, its threads, and the models it has loaded.

    ``model`` arguments are ``[ObjectRef of pack_model's dict, content key, kind]``, nested in
    a list so that Ray hands over the reference and the worker fetches the bytes only when it
    first needs that model.
    """

    def __init__(self, int8: bool, encode: dict | None = None):
        import ray
        import torch

        from .. import models

        context = ray.get_runtime_context()
        self.node = context.get_node_id()
        self.device = "cuda" if ray.get_gpu_ids() else "cpu"
        cpus = context.get_assigned_resources().get("CPU", 1)
        torch.set_num_threads(max(1, int(cpus)))
        self.int8 = int8 and self.device == "cpu"
        # The run's fast encoding paths, as this node's own device and CPU allow them (the rule
        # a local run's MiningParams.on_device applies): encode_batches' bf16, int8 and int8_body.
        self.precision = models.encoding_paths(self.device, **{k: bool(v) for k, v in (encode or {}).items()})
        self.models: dict[str, object] = {}
        self.cache = Path(tempfile.gettempdir()) / "quoradesk-ray-models"
        self.cache.mkdir(exist_ok=True)

    def _load(self, model):
        import ray

        from .. import models

        ref, key, kind = model
        if key not in self.models:
            folder = unpack_model(ray.get(ref), self.cache / key)
            if kind == "sparse":
                self.models[key] = models.shared_sparse_encoder(folder, self.device)
            else:
                self.models[key] = models.shared_reranker(folder, self.device, int8=self.int8)[0]
        return self.models[key]

    def load(self, model) -> str:
        """Load ``model`` now (RayPool.warm), so the first chunk finds it; returns the node id."""
        self._load(model)
        return self.node

    def encode(self, model, key, texts: list[str], batch_size: int, vocabulary=None):
        """``(key, node id, SPLADE rows of texts, seconds spent encoding them)``: the batches a
        local run cuts from them (``vocabulary``: the project's, for the int8 encoder). The
        seconds leave out loading the model: the run's note gives each node's encoding rate
        from them."""
        import time

        from ..models.encode import encode_batches, rows_in_order

        encoder = self._load(model)
        started = time.perf_counter()
        rows = rows_in_order(list(encode_batches(encoder, texts, batch_size, vocabulary=vocabulary, **self.precision)))
        return key, self.node, rows, time.perf_counter() - started

    def rerank(self, model, key, pairs: list[tuple[str, str]], batch_size: int):
        """``(key, node id, CrossEncoder scores of pairs)``, in their order."""
        from ..models.rerank import rerank_scores

        return key, self.node, rerank_scores(self._load(model), pairs, batch_size)


class RayPool:
    """A connection to Ray and the mining workers started on it (see the module's docstring)."""

    def __init__(self, address: str, *, int8: bool = True, encode: dict | None = None):
        self.address = check_ray_address(address)
        self.int8 = int8
        self.encode = dict(encode or {})  # MiningWorker's fast encoding paths, asked for
        self.actors: list = []
        self._connected = False
        self._owns_ray = False
        self._shipped: dict[tuple, list] = {}
        self._warming: list = []  # warm's calls, held so Ray does not drop them unrun
        self.nodes = 0  # nodes with a worker

    # ------------------------------------------------------------ connection

    def connect(self) -> None:
        """Join (or, for ``local``, start) Ray; ClusterError if it cannot be reached. A TCP
        check comes first: Ray retries an unreachable GCS address without end."""
        ray = require("ray", "Mining on Ray")
        if ray.is_initialized():  # a caller (a notebook, a test) already set Ray up: use it
            self._connected = True
            return
        check_ray_reachable(self.address)
        options = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        try:
            if self.address == "local":
                # Bound to loopback: this instance serves this process only.
                ray.init(address="local", num_cpus=os.cpu_count() or 1, _node_ip_address="127.0.0.1",
                         **options)
            else:
                # The cluster's nodes may not have this package: ship it with the job.
                import quoradesk

                ray.init(address=self.address, runtime_env={"py_modules": [str(Path(quoradesk.__file__).parent)]},
                         **options)
        except Exception as exc:  # ConnectionError, RuntimeError, AuthenticationError...
            hint = ""
            if self.address != "local" and os.environ.get("RAY_AUTH_MODE") != "token":
                hint = (" (a cluster started with 'ray start' may ask for its token: set RAY_AUTH_MODE=token, "
                        "with the cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN)")
            raise ClusterError(f"Ray at {self.address} refused the connection: {_first_line(exc)}{hint}") from exc
        self._connected = self._owns_ray = True

    def describe(self) -> str:
        return f"Ray {self.address}: {len(self.actors)} worker(s) on {self.nodes} node(s)"

    @staticmethod
    def _nodes() -> list[dict]:
        import ray

        return [n for n in ray.nodes() if n.get("Alive")]

    # ------------------------------------------------------------ workers

    def start_workers(self) -> None:
        """One actor per CPU node, using all its CPUs; one per GPU on GPU nodes."""
        if self.actors:
            return
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        worker = ray.remote(MiningWorker)
        for node in self._nodes():
            started = len(self.actors)
            resources = node.get("Resources", {})
            cpus, gpus = int(resources.get("CPU", 0)), int(resources.get("GPU", 0))
            place = NodeAffinitySchedulingStrategy(node_id=node["NodeID"], soft=False)
            if gpus:
                self.actors += [worker.options(num_cpus=min(1, cpus), num_gpus=1, scheduling_strategy=place)
                                .remote(self.int8, self.encode) for _ in range(gpus)]
            elif cpus:
                self.actors.append(worker.options(num_cpus=cpus, scheduling_strategy=place).remote(self.int8, self.encode))
            self.nodes += len(self.actors) > started
        if not self.actors:
            raise ClusterError(f"The Ray cluster at {self.address} has no node with a CPU or GPU to work on")

    def ship(self, kind: str, path: str | Path) -> list:
        """The model folder at ``path`` put in Ray's object store (once per pool), as the
        ``model`` argument MiningWorker's methods take. Its key (the folder a worker unpacks it
        into, and keeps) covers every file, not only the weights' content key: a folder that
        gained a file (an active vocabulary) is unpacked anew, not served from a node's cache."""
        import hashlib

        from .. import models

        asked = (kind, str(Path(path).resolve()), models.model_key(path))
        if asked not in self._shipped:
            import ray

            files = pack_model(path)
            digest = hashlib.sha256()
            for name in sorted(files):
                digest.update(name.encode() + b"\0" + files[name])
            key = f"{kind}-{asked[2]}-{digest.hexdigest()[:12]}"
            self._shipped[asked] = [ray.put(files), key, kind]
        return self._shipped[asked]

    def warm(self, model: list) -> None:
        """Start the workers and have each load ``model`` (``ship``'s answer) without waiting:
        an actor runs its calls in order, so the first chunk queues behind the load, and the
        workers' start and loading overlap what the caller does meanwhile (opening the run,
        reading the questions)."""
        self.start_workers()
        self._warming = [actor.load.remote(model) for actor in self.actors]

    def map_unordered(self, method: str, items: Iterable[tuple], cancelled: Callable[[], bool]
                      ) -> Iterator[tuple | None]:
        """Call ``method`` of the workers on each of ``items`` (argument tuples), a few queued
        per worker (Ray's ActorPool balances them), and yield each result as it comes, or None
        every WAIT_SECONDS while none has (the caller reports progress and checks its cancel
        flag). Stops submitting once ``cancelled()``; what is still running is dropped."""
        import ray
        from ray.util import ActorPool

        self.start_workers()
        pool = ActorPool(self.actors)
        items = iter(items)

        def submit(item):
            pool.submit(lambda actor, args: getattr(actor, method).remote(*args), item)

        in_flight = 0
        for item in itertools.islice(items, QUEUED_PER_WORKER * len(self.actors)):
            submit(item)
            in_flight += 1
        while in_flight and not cancelled():
            try:
                result = pool.get_next_unordered(timeout=WAIT_SECONDS)
            except TimeoutError:
                yield None
                continue
            except ray.exceptions.RayError as exc:
                raise ClusterError(f"A Ray worker failed: {_first_line(exc)}") from exc
            in_flight -= 1
            for item in itertools.islice(items, 1):
                submit(item)
                in_flight += 1
            yield result

    def close(self) -> None:
        """Stop the workers; leave Ray (a ``local`` instance stops with it)."""
        if not self._connected:
            return
        import ray

        for actor in self.actors:
            try:
                ray.kill(actor)
            except Exception:  # already gone with its node
                pass
        self.actors, self._warming = [], []
        if self._owns_ray:
            ray.shutdown()
        self._connected = self._owns_ray = False


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip().splitlines()
    return text[-1] if text else type(cause).__name__
