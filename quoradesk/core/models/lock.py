"""The one lock every model is made under (see ``loading``): transformers' loading is not
thread-safe. Re-entrant, since making the int8 reranker loads its float32 source first."""

import threading

LOAD_LOCK = threading.RLock()
