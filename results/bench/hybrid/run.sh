#!/usr/bin/env bash
# The GPU run behind results/bench/hybrid/hybrid.json: a random paper-shaped (~1.7B) Qwen3.5-style hybrid in bf16,
# HellaSwag (first 2,000 validation items, 0-shot) and one RULER NIAH sample at 32K, evalsuite vs stock lm-eval hf
# (batch size 64) on the same model object. Prepared on the CPU host:
#   mkdir -p .carry/19 && git archive HEAD evalsuite tasks pyproject.toml | tar -x -C .carry/19
#   rm -f .carry/19/evalsuite/assets/zoo/*/model.safetensors
#   (mkdir -p data/hellaswag && head -2000 $EVALSUITE_DATA/hellaswag/hellaswag_val.jsonl > data/hellaswag/hellaswag_val.jsonl
#    && tar -czf .carry/19/data.tgz data)
# and run on the device with carry [".carry/19", ".whl"]:
cd .carry/19
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site ../../.whl/*.whl
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
tar -xzf data.tgz -C /tmp
python3 -m evalsuite.lab.bench.hybrid --data /tmp/data --out "$OUT" --hellaswag 2000 --ruler-length 32768
