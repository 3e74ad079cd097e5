"""Fine-tuning: the SPLADE SparseEncoder, the CrossEncoder and the dense reference, on Quora
pairs or a user's reviewed pairs, with sentence-transformers' trainers, losses and evaluators.

Offers the trainers (``train_sparse`` with :class:`SparseConfig`, ``distil_sparse``, ``train_cross`` with
:class:`CrossConfig`, ``train_dense`` with :class:`DenseConfig`; each returns a
:class:`TrainResult` and reports :class:`TrainEvent` as it goes), the data
(``read_pair_file``, ``pairs_from_store``, ``split_held_out``, ``check_pairs``,
``teacher_pairs``; :class:`LabelledPairs`, :class:`ScoredPairs`, :class:`TrainingError`),
the hard negatives (``hard_negatives``, ``swapped_comparisons``) and held-out metrics of any
model (``evaluate_sparse``, ``evaluate_dense``, ``evaluate_cross``, ``mining_eval``, ``mining_metrics``).

Modules: ``trainers`` (SPLADE and CrossEncoder), ``dense``, ``data`` (pair files, splits,
teachers), ``negatives``, ``events`` (progress and loss history for the Train tab),
``evaluate`` (held-out metrics of any model), ``splade_base`` (a SPLADE base from a dense model),
``distil`` (a shallower SPLADE taught by a deeper one: ``distil_sparse``, :class:`DistilConfig`,
``keep_layers``, which ``shallow_base`` uses too), ``distil_cross`` (a shallower CrossEncoder taught by
a deeper one: ``distil_cross``, :class:`CrossDistilConfig`).
"""

from .data import (
    LabelledPairs,
    ScoredPairs,
    TrainingError,
    check_pairs,
    pairs_from_store,
    read_pair_file,
    split_held_out,
    teacher_pairs,
)
from .dense import DENSE_LOSSES, DenseConfig, train_dense
from .distil import DistilConfig, distil_sparse, keep_layers
from .distil_cross import CrossDistilConfig, distil_cross
from .evaluate import (
    MiningMetrics,
    evaluate_cross,
    evaluate_dense,
    evaluate_sparse,
    mining_eval,
    mining_metrics,
)
from .events import TASK_LABELS, LossHistory, TrainEvent
from .negatives import hard_negatives, swapped_comparisons
from .trainers import (
    SPARSE_LOSSES,
    CrossConfig,
    SparseConfig,
    TrainResult,
    shallow_base,
    train_cross,
    train_sparse,
    write_card,
)

__all__ = ["MiningMetrics", "evaluate_cross", "evaluate_dense", "evaluate_sparse", "mining_eval", "mining_metrics",
           "DENSE_LOSSES", "SPARSE_LOSSES", "TASK_LABELS", "CrossConfig", "CrossDistilConfig", "DenseConfig", "DistilConfig", "LabelledPairs",
           "LossHistory", "ScoredPairs", "SparseConfig", "TrainEvent", "TrainResult", "TrainingError",
           "check_pairs", "distil_cross", "distil_sparse", "hard_negatives", "keep_layers", "pairs_from_store", "read_pair_file", "shallow_base",
           "split_held_out", "swapped_comparisons", "teacher_pairs", "train_cross", "train_dense",
           "train_sparse", "write_card"]
