"""Where mining runs past this process: a Ray address and a Milvus URI, checked up front.

Usage::

    from quoradesk.core.cluster import ClusterError, check_milvus_uri, check_ray_address

    check_ray_address("local")                   # a Ray instance started in this process
    check_ray_address("ray://head:10001")        # Ray Client; "auto" or "host:6379" join a cluster
    check_milvus_uri("vectors.db")               # Milvus Lite, embedded; or "http://host:19530"

Both engines are optional (``pip install 'quoradesk[cluster]'``): the desktop bundle does not
carry them, and nothing here imports them until a run asks for one. Every check raises
:class:`ClusterError` with a message a user can act on, before a mining run writes anything.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import socket
import warnings
from pathlib import Path
from urllib.parse import urlparse

EXTRA = "pip install 'quoradesk[cluster]'"
# Seconds to wait for a TCP connection to a Ray head or a Milvus server before refusing it:
# Ray itself retries an unreachable GCS address forever, and Ray Client for 30 s.
CONNECT_TIMEOUT = 5.0
MILVUS_SCHEMES = ("http", "https", "tcp", "grpc")


class ClusterError(Exception):
    """Ray or Milvus is missing, misaddressed, unreachable or refused; the project is untouched."""


def require(module: str, what: str):
    """``module`` imported, or a ClusterError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ClusterError(f"{what} needs the optional cluster packages, which are not installed "
                           f"here ({exc.name or module}): {EXTRA}") from exc


def check_ray_address(address: str) -> str:
    """``address`` stripped, if it is one Ray takes: ``local``, ``auto``, ``ray://host:port``
    (Ray Client) or ``host:port`` (a cluster's GCS address)."""
    address = (address or "").strip()
    if address in ("local", "auto"):
        return address
    host, port = _host_port(address.removeprefix("ray://"))
    if host is None:
        raise ClusterError(f"Ray address {address!r} is not one of: local, auto, ray://HOST:PORT, HOST:PORT")
    return address


def check_milvus_uri(uri: str) -> str:
    """``uri`` stripped, if it names Milvus Lite (a ``.db`` file in a writable folder) or a
    Milvus server (``http://host:port``)."""
    uri = (uri or "").strip()
    if uri.endswith(".db") and "://" not in uri:
        folder = Path(uri).expanduser().resolve().parent
        if not folder.is_dir():
            raise ClusterError(f"Milvus Lite file {uri}: folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise ClusterError(f"Milvus Lite file {uri}: folder {folder} is not writable")
        return uri
    parsed = urlparse(uri)
    if parsed.scheme in MILVUS_SCHEMES and parsed.hostname:
        return uri
    raise ClusterError(f"Milvus URI {uri!r} is neither a Milvus Lite file (ending in .db) "
                       f"nor a server address (http://HOST:19530)")


def _host_port(text: str) -> tuple[str | None, int | None]:
    match = re.fullmatch(r"\[?([A-Za-z0-9_.:-]+?)\]?:(\d{1,5})", text)
    if not match or not 0 < int(match.group(2)) < 65536:
        return None, None
    return match.group(1), int(match.group(2))


def check_reachable(host: str, port: int, what: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """A TCP connection to ``host:port`` opens within ``timeout`` seconds, or ClusterError."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise ClusterError(f"Cannot reach {what} at {host}:{port} ({why}); nothing was written, "
                           f"and the run can be resumed once it is reachable") from exc


def ray_endpoint(address: str) -> tuple[str, int] | None:
    """The host and port a Ray address connects to (None: ``local``, nothing to reach).
    ``auto`` is resolved as Ray resolves it (RAY_ADDRESS, then the last ``ray start``)."""
    if address == "local":
        return None
    if address == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address
        except ImportError:  # a Ray without the helper: ray.init says what it finds
            return None
        try:
            resolved = canonicalize_bootstrap_address("auto")
        except Exception as exc:  # Ray raises ConnectionError, ValueError...
            raise ClusterError(f"No running Ray cluster found for --ray auto: {exc}") from exc
        if resolved is None:
            raise ClusterError("No running Ray cluster found for --ray auto: start one with "
                               "'ray start --head', or set RAY_ADDRESS")
        address = resolved
    host, port = _host_port(address.removeprefix("ray://"))
    return (host, port) if host else None


def milvus_endpoint(uri: str) -> tuple[str, int] | None:
    """The host and port of a Milvus server URI (None: Milvus Lite, a local file)."""
    if "://" not in uri:
        return None
    parsed = urlparse(uri)
    return parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 19530)


def check_addresses(ray: str | None, milvus: str | None) -> None:
    """The addresses' form alone (no network, no imports): what the GUI checks on its thread."""
    if ray:
        check_ray_address(ray)
    if milvus:
        check_milvus_uri(milvus)


def check_ray_reachable(address: str) -> None:
    """A remote Ray head accepts a TCP connection (``local`` has nothing to reach)."""
    endpoint = ray_endpoint(address)
    if endpoint is not None:
        check_reachable(*endpoint, what="the Ray cluster")  # at HOST:PORT: the resolved address


def check_milvus(uri: str) -> str:
    """``uri`` checked as connect_milvus needs it: its form, the packages it needs, and for a
    server that it accepts a TCP connection. Returns it stripped."""
    uri = check_milvus_uri(uri)
    require("pymilvus", "Candidate search in Milvus")
    endpoint = milvus_endpoint(uri)
    if endpoint is not None:
        check_reachable(*endpoint, what="the Milvus server")
    else:
        with warnings.catch_warnings():  # Milvus Lite 2.5's own import of pkg_resources
            warnings.simplefilter("ignore", UserWarning)
            require("milvus_lite", "Milvus Lite (a .db file)")
    return uri


def preflight(ray: str | None, milvus: str | None) -> None:
    """What can be checked without connecting: the packages, the addresses' form, and that
    a remote Ray head or Milvus server accepts a TCP connection. The CLI runs it before it
    opens the project, so a refusal leaves no file behind."""
    check_addresses(ray, milvus)
    if ray:
        require("ray", "Mining on Ray")
        check_ray_reachable(ray.strip())
    if milvus:
        check_milvus(milvus)


def collection_name(project: Path, project_created: str, model_key: str, similarity: str) -> str:
    """The Milvus collection of a project's vectors from one model: named after the project
    (its file name, and its creation stamp so two projects of one name stay apart) and the
    model's content key, so a resumed or grown run finds and reuses it."""
    stem = re.sub(r"[^A-Za-z0-9_]", "_", Path(project).stem)[:80] or "project"
    tag = hashlib.sha1(f"{project_created}".encode()).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9_]", "_", f"quoradesk_{stem}_{tag}_{model_key[:12]}_{similarity}")
