#!/usr/bin/env bash
# Builds the Python package (crates/megolm-backup-py) into a virtual environment at the
# repository root (.venv-py/, ignored by git) and runs its pytest suite and mypy --strict
# on its examples. The venv's tools come from PyPI only, pinned. A debug build by
# default (fast to compile); PY_RELEASE=1 builds with --release.
# Without python3 (>= 3.10) it skips, but fails under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
MATURIN_VERSION=1.16.0
PYTEST_VERSION=9.2.0
MYPY_VERSION=2.4.1
NIO_VERSION=0.26.0
VENV=.venv-py
PKG=crates/megolm-backup-py

if ! command -v python3 >/dev/null 2>&1 \
  || ! python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
  if [ "${CI:-}" = "true" ]; then
    echo "python.sh: python3 >= 3.10 is needed (CI=true: failing, not skipping)" >&2
    exit 1
  fi
  echo "python.sh: no python3 >= 3.10; skipping the Python package" >&2
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "python.sh: creating $VENV" >&2
  python3 -m venv "$VENV"
fi
PY="$PWD/$VENV/bin/python"
if ! "$PY" -c "import importlib.metadata as m; assert m.version('maturin') == '$MATURIN_VERSION'; assert m.version('pytest') == '$PYTEST_VERSION'; assert m.version('mypy') == '$MYPY_VERSION'" 2>/dev/null; then
  echo "python.sh: installing maturin, pytest, mypy (pinned) from PyPI" >&2
  "$PY" -m pip install --quiet --disable-pip-version-check \
    "maturin==$MATURIN_VERSION" "pytest==$PYTEST_VERSION" "mypy==$MYPY_VERSION"
fi
# matrix-nio with its e2e extra (vodozemac's wheel), for the nio scenarios (tests/test_nio_*.py).
if ! "$PY" -c "import nio, vodozemac, importlib.metadata as m; assert m.version('matrix-nio') == '$NIO_VERSION'" 2>/dev/null; then
  echo "python.sh: installing matrix-nio[e2e]==$NIO_VERSION from PyPI" >&2
  "$PY" -m pip install --quiet --disable-pip-version-check "matrix-nio[e2e]==$NIO_VERSION"
fi

# maturin develop builds with the workspace's target dir and installs into the venv.
release=()
if [ "${PY_RELEASE:-}" = "1" ]; then release=(--release); fi
echo "python.sh: building megolm_backup ${release[*]:-(debug)}" >&2
VIRTUAL_ENV="$PWD/$VENV" PATH="$PWD/$VENV/bin:$PATH" \
  "$VENV/bin/maturin" develop --quiet --manifest-path "$PKG/Cargo.toml" "${release[@]}" >&2

# The nio scenarios run against the shared Synapse (started if it is not; never stopped
# here) with Element's client library. Without them those tests skip, or fail under CI.
bash scripts/synapse.sh start >&2
if command -v npm >/dev/null 2>&1; then bash tools/element/setup.sh; fi

echo "python.sh: pytest" >&2
"$PY" -m pytest -q "$PKG/tests" "$@"

echo "python.sh: mypy --strict on the examples and the package" >&2
"$PY" -m mypy --strict --no-incremental --config-file "$PKG/examples/mypy.ini" \
  "$PKG/examples" "$PKG/python/megolm_backup"
