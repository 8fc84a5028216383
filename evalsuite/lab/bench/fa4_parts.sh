# Sourced on the device machine, from the repository root (h200.sh, device_call.sh): FlashAttention-4
# arriving in parts (evalsuite/tools/build_fa4_parts.sh), one carried part per call to one warm machine, which keeps
# /tmp between calls. Adds the carried part (.fa4/partK/) to /tmp/fa4-parts; once every part of the MANIFEST is
# there and checks, unpacks the set to /tmp/fa4-site. Sets FA4 to the PYTHONPATH entries to put first ("" while
# parts are missing, or with NO_FA4=1), _fallback/ (cuda-bindings, einops) only where the image lacks one of them.
if compgen -G ".fa4/part*/fa4.part*" > /dev/null; then
  mkdir -p /tmp/fa4-parts && cp .fa4/part*/* /tmp/fa4-parts/
fi
if [ -f /tmp/fa4-parts/MANIFEST ] && [ ! -d /tmp/fa4-site ]; then
  if (cd /tmp/fa4-parts && sha256sum --quiet -c MANIFEST > /dev/null 2>&1); then
    mkdir -p /tmp/fa4-site.tmp && cat /tmp/fa4-parts/fa4.part? | xz -dc | tar -x -C /tmp/fa4-site.tmp \
      && mv /tmp/fa4-site.tmp /tmp/fa4-site && echo "FlashAttention-4 unpacked"
  else
    echo "FlashAttention-4: $(ls /tmp/fa4-parts | grep -c '^fa4.part') of $(wc -l < /tmp/fa4-parts/MANIFEST) parts here"
  fi
fi
FA4=""
if [ -d /tmp/fa4-site ] && [ "${NO_FA4:-}" != 1 ]; then
  # On PYTHONPATH (not a site dir, so its .pth is not read): the package and the DSL's own packages.
  FA4=/tmp/fa4-site:/tmp/fa4-site/nvidia_cutlass_dsl/dsl_packages:
  python3 -c "import cuda.bindings, einops" 2> /dev/null || FA4=$FA4/tmp/fa4-site/_fallback:
fi
