"""QuoraDesk: find duplicate questions in your own question file, offline."""

import os

# No model hub is reachable on a user's machine, and none is ever needed: models resolve
# from local folders. Setting these before transformers is imported makes that a guarantee.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# transformers 5.25 swaps layers for "hub kernels" fetched from the Hub by default
# (use_kernels): never wanted offline, and the bundle leaves the `kernels` package out.
os.environ.setdefault("USE_HUB_KERNELS", "NO")

__version__ = "0.1.0"
