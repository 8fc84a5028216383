"""The model zoo: a small pretraining loop for the native gated Qwen3, and the mini replication it serves.

Train a baseline, a headwise-gated and an elementwise-gated model with the same
data order, initial weights (drawn per parameter name) and settings; write
them in the paper's on-disk format with a model card; record loss curves,
spikes, throughput and held-out perplexity. ``python -m evalsuite.lab.zoo train
--plan mini ...`` is the GPU run of issue 8; ``evalsuite/lab/zoo/gpu_mini.sh`` is
the whole device call (training, then the harness on tasks/suites/mini.yaml).

Modules, in pipeline order: ``config`` (shapes, TrainConfig), ``data``
(corpus, packing, held-out documents), ``init`` (name-seeded weights),
``train`` (the loop), ``evaluate`` (held-out NLL, paired test), ``curves``
(spikes, plots), ``export`` (paper format), ``card`` (provenance, model card),
``trio``, ``plans``, ``report``, ``cli``.
"""

from __future__ import annotations

from evalsuite.lab.zoo.config import MICRO, SHAPES, SMALL, TINY, ShapeConfig, TrainConfig
from evalsuite.lab.zoo.curves import SPIKE_THRESHOLD_NATS, SPIKE_WINDOW, spike_steps
from evalsuite.lab.zoo.data import PackedCorpus, TextTokenizer
from evalsuite.lab.zoo.export import export_checkpoint, write_zoo_tokenizer
from evalsuite.lab.zoo.init import count_parameters, init_weights
from evalsuite.lab.zoo.train import TrainRecord, build_model, lr_at, train_variant

__all__ = [
    "MICRO", "SHAPES", "SMALL", "SPIKE_THRESHOLD_NATS", "SPIKE_WINDOW", "TINY", "PackedCorpus", "ShapeConfig",
    "TextTokenizer", "TrainConfig", "TrainRecord", "build_model", "count_parameters", "export_checkpoint",
    "init_weights", "lr_at", "spike_steps", "train_variant", "write_zoo_tokenizer",
]
