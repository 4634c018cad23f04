#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (Playwright drives it; no browser download).
#
#   scripts/chromium.sh install    apt-get install chromium unless /usr/bin/chromium exists
set -euo pipefail

die() { echo "chromium.sh: $*" >&2; exit 1; }

case "${1:-}" in
  install)
    [[ -x /usr/bin/chromium ]] && exit 0
    [[ $(id -u) -eq 0 ]] || die "Chromium is not installed and installing it needs root: apt-get install chromium"
    log=$(mktemp)
    if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; } >"$log" 2>&1; then
      tail -n 20 "$log" >&2; rm -f "$log"
      die "apt-get install chromium failed (output above)"
    fi
    rm -f "$log"
    [[ -x /usr/bin/chromium ]] || die "chromium was installed but /usr/bin/chromium is missing"
    ;;
  *) die "usage: chromium.sh install" ;;
esac
