#!/usr/bin/env bash
# Installs matrix-nio, pinned, into a virtual environment at the repository root
# (.venv-nio/, ignored by git), from PyPI only. matrix-nio 0.26 decrypts and imports
# sessions through the `vodozemac` Python bindings (a wheel on PyPI, pulled in by the
# `e2e` extra): its real `Olm.import_keys` path runs here, no libolm needed.
# Idempotent: prints the venv's python on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
NIO_VERSION=0.26.0
VENV=.venv-nio
if [ ! -x "$VENV/bin/python" ]; then
  echo "nio/setup.sh: creating $VENV" >&2
  python3 -m venv "$VENV" >&2
fi
if ! "$VENV/bin/python" -c "import nio, vodozemac, importlib.metadata as m; assert m.version('matrix-nio') == '$NIO_VERSION'" 2>/dev/null; then
  echo "nio/setup.sh: installing matrix-nio[e2e]==$NIO_VERSION" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "matrix-nio[e2e]==$NIO_VERSION" >&2
fi
echo "$PWD/$VENV/bin/python"
