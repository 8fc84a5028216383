"""device_map placement: the arguments, and the one loader's checks under it (the load itself needs GPUs and is not run on CPU)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from evalsuite.models.placement import GiB, GpuGroup, from_pretrained_kwargs, gpu_group, kv_cache_bytes
from evalsuite.errors import DistributedSetupError

H200 = 139 * GiB
PAPER_1P7B = SimpleNamespace(num_attention_heads=16, num_key_value_heads=8, head_dim=128, hidden_size=2048,
                             num_hidden_layers=28)


def test_kv_cache_of_the_paper_model_at_128k() -> None:
    # 2 (K, V) x 28 layers x 8 KV heads x 128 x 131072 positions x 2 bytes = 15.0 GB
    assert kv_cache_bytes(PAPER_1P7B, 131072) == 2 * 28 * 8 * 128 * 131072 * 2
    no_head_dim = SimpleNamespace(num_attention_heads=4, hidden_size=64, num_hidden_layers=2)
    assert kv_cache_bytes(no_head_dim, 10, bytes_per_value=4) == 2 * 2 * 4 * 16 * 10 * 4  # MHA: kv = q heads


def test_rank_groups_own_consecutive_gpus_and_hold_back_the_cache() -> None:
    kv = kv_cache_bytes(PAPER_1P7B, 131072)
    g = gpu_group(gpu_total_bytes=[H200] * 8, rank_on_node=1, gpus_in_group=2, reserve_bytes=kv,
                  activation_reserve_bytes=4 * GiB)
    assert g.gpus == (2, 3) and g.first == "cuda:2"
    assert g.max_memory == {2: H200 - 4 * GiB - kv // 2, 3: H200 - 4 * GiB - kv // 2}
    kwargs = from_pretrained_kwargs(g, dtype=torch.bfloat16)
    assert kwargs == {"device_map": "auto", "max_memory": g.max_memory, "dtype": torch.bfloat16,
                      "attn_implementation": "sdpa", "trust_remote_code": False}
    assert "cpu" not in kwargs["max_memory"]  # never offloaded to the host


def test_impossible_groups_are_refused_with_the_numbers(monkeypatch) -> None:
    with pytest.raises(DistributedSetupError, match="needs GPUs 6..7 but 4 are visible"):
        gpu_group(gpu_total_bytes=[H200] * 4, rank_on_node=3, gpus_in_group=2)
    with pytest.raises(DistributedSetupError, match="no room left"):
        gpu_group(gpu_total_bytes=[H200], rank_on_node=0, gpus_in_group=1, reserve_bytes=200 * GiB)
    monkeypatch.setenv("LOCAL_RANK", "2")
    monkeypatch.setenv("EVALSUITE_GPUS_PER_RANK", "4")  # read from the launcher's environment by default
    assert gpu_group(gpu_total_bytes=[H200] * 12).gpus == (8, 9, 10, 11)


@pytest.mark.parametrize("break_it, message", [
    (lambda f: _edit_config(f, model_type="evil", auto_map={"AutoModelForCausalLM": "modeling_evil.EvilModel"}),
     "needs remote code, which evalsuite never runs"),
    (lambda f: [p.unlink() for p in f.glob("*.safetensors")], "has no weight files"),
], ids=["remote-code", "no-weights"])
def test_a_sharded_load_keeps_every_check_of_the_one_loader(break_it, message, tiny_folder, tmp_path):
    """``placement=Sharded(...)`` is a parameter of the one loader, not a second one: a checkpoint it must refuse
    is refused the same way, before any GPU is asked for."""
    import shutil

    from evalsuite.errors import ModelLoadError
    from evalsuite.models import Sharded
    from evalsuite.models.loader import load
    from evalsuite.spec import SourceSpec

    folder = shutil.copytree(tiny_folder("none"), tmp_path / "ckpt")
    break_it(folder)
    group = GpuGroup(gpus=(0,), max_memory={0: 1 << 30})
    with pytest.raises(ModelLoadError, match=message):
        load(SourceSpec(path=str(folder)), placement=Sharded(max_tokens=1024, group=group), hash_weights=False)


def _edit_config(folder, **changes) -> None:
    import json

    path = folder / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
