#!/usr/bin/env bash
# Install and run a throwaway PostgreSQL cluster on 127.0.0.1 (tests, local use).
#
#   scripts/postgres.sh install              apt-get install postgresql unless initdb exists
#   scripts/postgres.sh start DATA_DIR PORT  initdb if needed, then start; silent on success
#   scripts/postgres.sh stop DATA_DIR        fast shutdown
#
# The Debian package's own "main" cluster (port 5432, down without systemd) is never used.
set -euo pipefail

die() { echo "postgres.sh: $*" >&2; exit 1; }

pg_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [[ -n "$dir" && -x "$dir/initdb" ]] && echo "$dir"
}

# initdb and postgres refuse to run as root; anyone else runs them as themselves.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd_install() {
  pg_bindir >/dev/null && return 0
  [[ $(id -u) -eq 0 ]] || die "PostgreSQL is not installed and installing it needs root: apt-get install postgresql"
  local log; log=$(mktemp)
  if ! { apt-get update && DEBIAN_FRONTEND=noninteractive \
         apt-get install -y --no-install-recommends postgresql; } >"$log" 2>&1; then
    tail -n 20 "$log" >&2; rm -f "$log"
    die "apt-get install postgresql failed (output above)"
  fi
  rm -f "$log"
  pg_bindir >/dev/null || die "postgresql was installed but no initdb is under /usr/lib/postgresql/*/bin"
}

cmd_start() {
  local dir=${1:?usage: postgres.sh start DATA_DIR PORT} port=${2:?usage: postgres.sh start DATA_DIR PORT}
  local bin; bin=$(pg_bindir) || die "no initdb under /usr/lib/postgresql/*/bin; run: $0 install"
  mkdir -p "$dir/sock"
  dir=$(cd "$dir" && pwd)   # the server resolves relative paths from its own working directory
  if [[ $(id -u) -eq 0 ]]; then
    chown -R postgres:postgres "$dir"
    # Every parent folder must let the postgres user through, or initdb fails obscurely.
    runuser -u postgres -- test -w "$dir" \
      || die "user postgres cannot write $dir: choose a DATA_DIR whose parents it can enter (e.g. under /tmp)"
  fi
  if [[ ! -f "$dir/data/PG_VERSION" ]]; then
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 || { tail -n 20 "$dir/initdb.log" >&2; die "initdb failed in $dir/data"; }
  fi
  # Durability is not wanted for a throwaway cluster: fsync and friends off for speed.
  local opts="-p $port -c listen_addresses=127.0.0.1 -k $dir/sock"
  opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -o "$opts" start >/dev/null 2>&1; then
    tail -n 20 "$dir/server.log" >&2 2>/dev/null || true
    die "PostgreSQL did not start on 127.0.0.1:$port (server log: $dir/server.log)"
  fi
}

cmd_stop() {
  local dir=${1:?usage: postgres.sh stop DATA_DIR}
  local bin; bin=$(pg_bindir) || die "no pg_ctl under /usr/lib/postgresql/*/bin"
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
}

case "${1:-}" in
  install) cmd_install ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) die "usage: postgres.sh install | start DATA_DIR PORT | stop DATA_DIR" ;;
esac
