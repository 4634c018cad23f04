#!/usr/bin/env bash
# Install the careers site's browser-mode JavaScript (onnxruntime-web from npm) into a folder.
#
#   scripts/careers_js.sh [DIR]    default DIR: .cache/careers-js; prints the dist folder the site serves
#
# The site serves these files itself (`mldeploy example careers-site --js-dir ...`): no CDN, and the
# page makes no request after it has loaded. Already installed: nothing is downloaded.
set -euo pipefail

die() { echo "careers_js.sh: $*" >&2; exit 1; }

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-.cache/careers-js}
dist="$dir/node_modules/onnxruntime-web/dist"
if [[ ! -f "$dist/ort.wasm.min.js" ]]; then
  command -v npm >/dev/null || die "npm is not installed; install Node.js 18 or newer (apt-get install nodejs npm)"
  mkdir -p "$dir"
  cp "$here/careers-js/package.json" "$dir/package.json"
  log=$(mktemp)
  if ! (cd "$dir" && npm install --no-audit --no-fund --omit=dev) >"$log" 2>&1; then
    tail -n 20 "$log" >&2; rm -f "$log"
    die "npm install onnxruntime-web failed (output above)"
  fi
  rm -f "$log"
  [[ -f "$dist/ort.wasm.min.js" ]] || die "onnxruntime-web installed but $dist/ort.wasm.min.js is missing"
fi
cd "$dist" && pwd
