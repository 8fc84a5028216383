"""Data-parallel evaluation across GPUs (and nodes), balanced by cost, with the same per-sample results.

How it works
------------
Every process (rank) runs the whole suite loop and the whole lm-eval pipeline.
The LM lm-eval sees is a :class:`ShardedLM`: it reports rank 0 of 1 (so lm-eval
builds every request on every rank) and, inside ``loglikelihood``,
``loglikelihood_rolling`` and ``generate_until``, splits the requests across the
ranks by estimated cost (``a*T + b*T^2``, plus decoding for generation; LPT;
:mod:`.balance` documents the constants), keeping requests with the same context
on one rank and calling the inner LM in chunks that do not depend on the number
of ranks (so results are bit-identical for 1 or N), and all-gathers the results
back into the original order on every rank. Rank 0
alone writes records, after the gather, so a unit on disk is always whole.

Launch
------
::

    accelerate launch --num_processes 8 -m evalsuite.cli run SUITE.yaml
    torchrun --nproc_per_node 8 -m evalsuite.cli run SUITE.yaml
    # two nodes of 8 GPUs; run on each node with its --node_rank, the same address and port
    torchrun --nnodes 2 --nproc_per_node 8 --node_rank 0 --master_addr 10.0.0.1 --master_port 29500 \\
        -m evalsuite.cli run SUITE.yaml
    # models too large for one GPU: 4 ranks of 2 GPUs each (evalsuite.models.placement)
    EVALSUITE_GPUS_PER_RANK=2 torchrun --nproc_per_node 4 -m evalsuite.cli run SUITE.yaml
    # the speedup figure (1 vs 8 processes, identical-records check)
    python -m evalsuite.lab.bench.data_parallel SUITE.yaml --nproc 8

Multi-node: only rank 0 reads and writes ``results/``; resume decisions are
broadcast from it (:meth:`DistributedRun.decide`), so other nodes need the model
and data files but not the results folder. A plain ``python -m evalsuite.cli run``
is one process and every hook below is a no-op. ``NCCL_NVLS_ENABLE=0``,
``TORCH_SYMM_MEM_DISABLE_MULTICAST=1`` and ``NVSHMEM_DISABLE_NVLS=1`` are set
(``setdefault``) before the group starts: multicast stays off.

Runner integration
------------------
The one suite loop, :func:`evalsuite.run.runner.run_suite`, calls these hooks for one process and for many
(:func:`distributed_run_hooks` is its first line; every hook is a no-op in one process)::

    dist = distributed_run_hooks()                       # starts the group from the launcher's env, or no-op
    loaded = load(spec.source, device=dist.device(spec.device), ...)   # this rank's GPU
    lm = dist.wrap(lm) if dist.active else lm            # one process keeps the adapter's own numbers
    if dist.decide(lambda: verified_complete(...)): ...  # resume decided on rank 0, the same answer everywhere
    if dist.runs_unit(tspec.kind):                       # lm_eval units on every rank, diagnostics on rank 0
        with dist.unit_scope(): unit = _run_unit(...)    # LOCAL_RANK reads 0 for lm-eval; barrier at exit
    if dist.is_main: write_unit(run_dir, unit)           # one writer, after the gather

``_model_info`` keeps ``spec.device`` (not the rank's ``cuda:N``): unit hashes do not depend on the world size.
N processes agree with one to float rounding (~1e-7 relative: one process scores a unit in one call, ranks
in cost-balanced chunks); wrapping at world size 1 too would move one-process numbers (a SCORING_VERSION bump).

``EvalsuiteError`` raised in a unit is raised on every rank alike (ShardedLM ships
an error from any rank to all), so the runner's ``except EvalsuiteError`` branch
runs everywhere and the ranks stay in step; only rank 0 records it.

Interruption
------------
A rank that dies makes torchrun stop the others; a killed job stops everywhere.
Records are per unit and written by rank 0 only after the gather (samples, then
``metrics.json`` last, each atomically), so at most the units in flight are lost
and the rerun (with any number of processes) skips the finished ones.
"""

from evalsuite.engine.cost import CostModel
from evalsuite.run.distributed.balance import ShardPlan, lpt_assign, plan_shards
from evalsuite.run.distributed.hooks import DistributedRun, distributed_run_hooks
from evalsuite.run.distributed.process import (
    MULTICAST_OFF,
    barrier,
    init_distributed,
    is_main,
    shutdown,
)
from evalsuite.run.distributed.sharded_lm import ShardedLM, ShardFailedError

__all__ = [
    "MULTICAST_OFF", "CostModel", "DistributedRun", "ShardFailedError", "ShardPlan", "ShardedLM",
    "barrier", "distributed_run_hooks", "init_distributed", "is_main", "lpt_assign", "plan_shards", "shutdown",
]
