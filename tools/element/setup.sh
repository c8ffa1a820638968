#!/usr/bin/env bash
# Installs Element's own code for the interop tests, from the npm registry only:
#  - matrix-js-sdk (with its Rust crypto, @matrix-org/matrix-sdk-crypto-wasm), pinned by
#    package-lock.json, with `npm ci`;
#  - Element's key-export code, lib/utils/MegolmExportEncryption.js of matrix-react-sdk
#    3.114.0 (the last release of the library Element Web was built from), taken out of the
#    package tarball after checking it against the integrity the registry published. The
#    whole package is not installed: its dependency tree is React and a web app's worth,
#    none of which this one file uses.
# Idempotent; everything goes under tools/element/ (node_modules/, .cache/), ignored by git.
set -euo pipefail
cd "$(dirname "$0")"
REACT_SDK=matrix-react-sdk@3.114.0
REACT_SDK_INTEGRITY='sha512-LeHJx54SksTAKtf53mXEpp9smrw9hiEyhGRJhV9I2ZN1gFewhfit9Ey8tnqCJnag//0giTm+l4RKl86XUiotRA=='

if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.mkb-installed-lock; then
  echo "element/setup.sh: npm ci (matrix-js-sdk)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  cp package-lock.json node_modules/.mkb-installed-lock
fi

EXPORT_JS=.cache/MegolmExportEncryption.js
if [ ! -f "$EXPORT_JS" ]; then
  echo "element/setup.sh: fetching Element's export code ($REACT_SDK)" >&2
  mkdir -p .cache/pack
  tarball=$(npm pack "$REACT_SDK" --pack-destination .cache/pack --loglevel=error | tail -1)
  got=$(node -e 'const c = require("node:crypto"), fs = require("node:fs");
    process.stdout.write("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"));' ".cache/pack/$tarball")
  if [ "$got" != "$REACT_SDK_INTEGRITY" ]; then
    echo "element/setup.sh: $REACT_SDK does not have the pinned integrity ($got)" >&2
    exit 1
  fi
  tar -xzf ".cache/pack/$tarball" -C .cache/pack package/lib/utils/MegolmExportEncryption.js
  mv .cache/pack/package/lib/utils/MegolmExportEncryption.js "$EXPORT_JS"
  rm -rf .cache/pack
fi
