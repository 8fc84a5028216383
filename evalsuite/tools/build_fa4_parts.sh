#!/usr/bin/env bash
# FlashAttention-4 (CuTe DSL; its Hopper forward kernel) for the offline GPU image, split to fit the device
# tool's 64 MiB carry limit. The runtime (nvidia-cutlass-dsl's MLIR compiler, 230 MB unpacked) is larger
# than one carry, so it travels in N parts over N calls to one warm machine: each call appends its part to
# /tmp/fa4-parts, and evalsuite/lab/bench/fa4_parts.sh (sourced by h200.sh and lab/bench/device_call.sh) unpacks
# the set once all parts (checked by sha256) are there.
# Five parts by default: a part travels beside the tracked tree (48 MB at run 14), and four parts of 18.4 MB left
# 0.6 MB under the limit; five of 14.7 MB leave 4.3 MB for the records the next runs add.
# Usage: bash evalsuite/tools/build_fa4_parts.sh [DIR=.fa4] [N=5]
#   -> DIR/part1/ ... DIR/partN/ (carry one per call: `carry: [".fa4/part1", ...]`), DIR/MANIFEST
set -euo pipefail
out=${1:-.fa4}
n=${2:-5}
py=${PYTHON:-python3}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# cp312 manylinux wheels for the image's Python 3.12 and CUDA 13 (torch 2.11+cu130); protobuf and
# typing-extensions are on the image already (onnx and torch need them).
$py -m pip install -q --no-deps --no-compile --target "$stage/site" --python-version 3.12 --implementation cp \
  --only-binary=:all: --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_17_x86_64 --platform any \
  flash-attn-4==4.0.0b36 nvidia-cutlass-dsl==4.8.1 nvidia-cutlass-dsl-libs-base==4.8.1 \
  nvidia-cutlass-dsl-libs-core==4.8.1 nvidia-cutlass-dsl-libs-cu13==4.8.1 quack-kernels==0.6.5 \
  apache-tvm-ffi==0.1.15.post2 torch-c-dlpack-ext==0.1.5
# cuda-bindings (the DSL's runtime needs it) and einops (FA4 imports it) in a folder of their own, _fallback/:
# evalsuite/lab/bench/fa4_parts.sh puts it on the path only where the image's Python lacks one of them.
$py -m pip install -q --no-deps --no-compile --target "$stage/site/_fallback" --python-version 3.12 --implementation cp \
  --only-binary=:all: --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform any \
  "cuda-bindings==13.5.0" "einops==0.8.1"
rm -rf "$out" && mkdir -p "$out"
tar -C "$stage/site" -cf - . | xz -T0 -9 > "$stage/fa4.tar.xz"
size=$(stat -c %s "$stage/fa4.tar.xz")
split -n "$n" -d -a 1 "$stage/fa4.tar.xz" "$stage/fa4.part"
: > "$out/MANIFEST"
for i in $(seq 1 "$n"); do
  mkdir -p "$out/part$i"
  mv "$stage/fa4.part$((i - 1))" "$out/part$i/fa4.part$i"
  (cd "$out/part$i" && sha256sum "fa4.part$i") >> "$out/MANIFEST"
done
for i in $(seq 1 "$n"); do cp "$out/MANIFEST" "$out/part$i/MANIFEST"; done
echo "fa4.tar.xz: $size bytes in $n parts"
du -sh "$out"/part*
