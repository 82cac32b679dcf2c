"""Hyper-parameter search: many short gankit runs, chosen by Optuna, pruned early.

``run_study`` is the whole of ``gankit tune``: a base config (a preset or a
config file), a search space over its fields (``space``), an objective measured
during training (``objective``) and a number of trials. Every trial is an
ordinary run folder in ``STUDY/trials/NNNN``; the study lives in an Optuna
storage (``STUDY/study.db`` by default), so re-running continues it; the report
(``study.md``, ``study.html``) and ``best.yaml`` are rewritten after each `gankit tune` command.
Follows Akiba et al. (2019), "Optuna: A Next-generation Hyperparameter
Optimization Framework" (TPE sampler, median pruning, heartbeats).

The submodules each own one step: ``space`` (the space file and defaults),
``objective`` (which metric, its caches), ``trial`` (one run for Optuna),
``storage`` (opening it, dead trials), ``workers`` (processes, sampler, pruner),
``report`` (the files a study leaves) and ``study`` (the order of it all).
"""

from gankit.tune.objective import OBJECTIVES
from gankit.tune.space import default_space, load_space
from gankit.tune.study import StudyResult, run_study

__all__ = ["OBJECTIVES", "StudyResult", "default_space", "load_space", "run_study"]
