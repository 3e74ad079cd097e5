"""Mining past this process: Ray workers that encode and rerank, Milvus for the candidate
search, and the checks of their addresses before a run writes anything.

Offers :class:`ClusterError` and the checks (``check_ray_address``, ``check_milvus_uri``,
``check_addresses``, ``preflight``, ``collection_name``, ``require``) from ``addresses``.
``ray_pool`` (:class:`RayPool`) and ``milvus_index`` (:class:`MilvusIndex`) import the engines,
which are optional (``pip install 'quoradesk[cluster]'``): import them by name when a run asks.
"""

from .addresses import (
    EXTRA,
    ClusterError,
    check_addresses,
    check_milvus,
    check_milvus_uri,
    check_ray_address,
    check_ray_reachable,
    collection_name,
    milvus_endpoint,
    preflight,
    ray_endpoint,
    require,
)

__all__ = ["EXTRA", "ClusterError", "check_addresses", "check_milvus", "check_milvus_uri",
           "check_ray_address", "check_ray_reachable", "collection_name", "milvus_endpoint",
           "preflight", "ray_endpoint", "require"]
