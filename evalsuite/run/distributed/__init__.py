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
    # models too large for one GPU: 4 ranks of 2 GPUs each (see .placement)
    EVALSUITE_GPUS_PER_RANK=2 torchrun --nproc_per_node 4 -m evalsuite.cli run SUITE.yaml
    # the speedup figure (1 vs 8 processes, identical-records check)
    python -m evalsuite.lab.bench.data_parallel SUITE.yaml --nproc 8

Multi-node: only rank 0 reads and writes ``results/``; resume decisions are
broadcast from it (:meth:`DistributedRun.decide`), so other nodes need the model
and data files but not the results folder. A plain ``python -m evalsuite.cli run``
is one process and every hook below is a no-op. ``NCCL_NVLS_ENABLE=0``,
``TORCH_SYMM_MEM_DISABLE_MULTICAST=1`` and ``NVSHMEM_DISABLE_NVLS=1`` are set
(``setdefault``) before the group starts: multicast stays off.

Runner integration (for ``evalsuite/run/runner.py`` and ``evalsuite/cli.py``)
-----------------------------------------------------------------------------
``evalsuite/run/distributed/_loop.py`` is this recipe in running form::

    from evalsuite.run.distributed import distributed_run_hooks
    dist = distributed_run_hooks()                       # run_suite(), first line: starts the group or no-op

    # _ModelCache.get: place the model on this rank's GPU, wrap the LM. The loop wraps at every world size,
    # 1 included (ShardedLM calls the adapter in world-size-independent chunks: 1 and N processes are
    # bit-identical). run_suite wraps only when several processes run, so its one-process records keep the
    # unwrapped adapter's numbers and N processes agree with them to float rounding (~1e-7 relative);
    # wrapping there at world size 1 too would need a SCORING_VERSION bump.
    loaded = load(model_source(spec), dtype=spec.dtype, device=dist.device(spec.device), ...)
    self.lm = dist.wrap(EvalsuiteLM.from_loaded(loaded.model, loaded.tokenizer, ...))
    # _model_info keeps spec.device (not the rank's cuda:N): unit hashes must not depend on the world size
    manifest.provenance["distributed"] = dist.provenance()

    # every write (run folder lock, manifest, _point_latest, write_unit, UnitFailure.record) only on rank 0:
    if dist.is_main: ...

    # resume check: decided on rank 0, the same answer everywhere
    if dist.decide(lambda: verified_complete(run_dir, mspec.name, tspec.task, unit_hash)): ... continue

    # the unit: lm_eval units on every rank (sharded inside), diagnostics on rank 0 only
    if dist.runs_unit(tspec.kind):
        with dist.unit_scope():                          # LOCAL_RANK reads 0 for lm-eval; barrier at exit
            unit = _run_unit(suite, mspec, tspec, loaded, lm, data_dir, unit_hash)
    else:
        dist.barrier()                                   # wait for rank 0's diagnostics unit
    if dist.is_main: write_unit(run_dir, unit); atomic_write_json(...)

    # cli.py, after run_suite: print the summary / publish on rank 0 only, then
    from evalsuite.run.distributed import shutdown; shutdown()

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
from evalsuite.models.placement import GpuGroup, gpu_group, kv_cache_bytes, load_sharded
from evalsuite.run.distributed.process import (
    MULTICAST_OFF,
    barrier,
    init_distributed,
    is_main,
    shutdown,
)
from evalsuite.run.distributed.sharded_lm import ShardedLM, ShardFailedError

__all__ = [
    "MULTICAST_OFF", "CostModel", "DistributedRun", "GpuGroup", "ShardFailedError", "ShardPlan", "ShardedLM",
    "barrier", "distributed_run_hooks", "gpu_group", "init_distributed", "is_main", "kv_cache_bytes",
    "load_sharded", "lpt_assign", "plan_shards", "shutdown",
]
