#!/usr/bin/env bash
# Build the wheelhouse that lets evalsuite run on the offline GPU image (torch 2.11, transformers 5.17,
# accelerate, pandas, pyarrow, jinja2, scipy, matplotlib already there; lm-eval and datasets are not).
# Usage: bash evalsuite/tools/build_wheelhouse.sh DIR   (then carry DIR and, on the GPU machine:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site DIR/*.whl && export PYTHONPATH=/tmp/site:$PWD)
set -euo pipefail
out=${1:-.whl}
mkdir -p "$out"
py=${PYTHON:-python3}
plat=(--python-version 3.12 --implementation cp --only-binary=:all: --platform manylinux_2_28_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any)
# Pure-Python packages the GPU image lacks (pinned: one version of each, or the install stops).
$py -m pip download -q --no-deps "${plat[@]}" -d "$out" \
  lm-eval==0.4.13 datasets==5.2.0 dill==0.4.0 multiprocess==0.70.18 evaluate==0.4.6 more-itertools==10.8.0 \
  pytablewriter==1.2.1 DataProperty==1.1.0 mbstrdecoder==1.1.4 chardet==5.2.0 pathvalidate==3.3.1 \
  tabledata==1.3.4 tcolorpy==0.1.7 typepy==1.3.4 pytz==2025.2 nltk==3.9.2 defusedxml==0.7.1 \
  absl-py==2.3.1
# No wheels on PyPI for these: build them here from their sources.
$py -m pip wheel -q --no-deps -w "$out" rouge-score==0.1.2 sqlitedict==2.1.0 word2number==1.1
ls "$out" | sed 's/^/  /'
du -sh "$out"
