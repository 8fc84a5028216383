#!/usr/bin/env bash
# Refresh the lock file that `make setup` installs from: a fresh venv under /tmp gets the CPU torch and
# evalsuite[dev,smollm] at the newest versions pyproject.toml allows, and `pip freeze` of it becomes the lock.
# After a refresh, run `make eval` and `make check`: the gate's summary names every library whose version
# moved, and the reference is refreshed only if the per-sample scores stay identical.
set -euo pipefail
cd "$(dirname "$0")/../.."
lock=${1:-evalsuite/tools/requirements.lock}
venv=$(mktemp -d /tmp/evalsuite-lock.XXXXXX)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install -q "torch==2.13.0" || "$venv/bin/pip" install -q torch --index-url https://download.pytorch.org/whl/cpu
"$venv/bin/pip" install -q ".[dev,smollm]"
{
  echo "# Exact versions of everything \`make setup\` installs (CPU build; $("$venv/bin/python" -V)), used as pip constraints:"
  echo "#   pip install -c evalsuite/tools/requirements.lock -e \".[dev,smollm]\""
  echo "# Refreshed $(date -u +%Y-%m-%d) by \`make lock\` (evalsuite/tools/refresh_lock.sh)."
  # torch's +cpu label is dropped so a GPU machine resolves the same release from its own index.
  "$venv/bin/pip" freeze --exclude-editable | grep -v '^evalsuite' | sed 's/^torch==\([0-9.]*\)+cpu$/torch==\1/'
} > "$lock.tmp"
mv "$lock.tmp" "$lock"
echo "wrote $lock ($(grep -vc '^#' "$lock") packages)"
