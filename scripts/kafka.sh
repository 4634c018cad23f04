#!/usr/bin/env bash
# Install and run a single-node Apache Kafka broker (KRaft) on 127.0.0.1, from Maven Central only.
#
#   scripts/kafka.sh install              copy the broker's jars into .cache/kafka/libs (mvn), once
#   scripts/kafka.sh start DATA_DIR PORT  format DATA_DIR if new, start, wait until PORT accepts
#   scripts/kafka.sh stop DATA_DIR        SIGTERM the broker's java process, wait for it to exit
#
# A stopped broker restarts from the same DATA_DIR with its topics (same controller port).
# KAFKA_HOME (default REPO/.cache/kafka) holds the jars; KAFKA_HEAP (default 512m) caps the JVM;
# KAFKA_MAX_LIFETIME_S (default 14400) ends a broker its caller forgot to stop.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
home=${KAFKA_HOME:-$repo/.cache/kafka}
libs=$home/libs
stamp=$libs/.pom.sha256

die() { echo "kafka.sh: $*" >&2; exit 1; }

need_tools() {
  command -v java >/dev/null && command -v mvn >/dev/null && return 0
  [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null \
    || die "java 17+ and maven are needed: apt-get install openjdk-17-jre-headless maven"
  local log; log=$(mktemp)
  if ! { apt-get update && DEBIAN_FRONTEND=noninteractive \
         apt-get install -y --no-install-recommends openjdk-17-jre-headless maven; } >"$log" 2>&1; then
    tail -n 20 "$log" >&2; rm -f "$log"; die "apt-get install openjdk-17-jre-headless maven failed (output above)"
  fi
  rm -f "$log"
}

cmd_install() {
  local want; want=$(sha256sum "$here/kafka/pom.xml" | cut -d' ' -f1)
  [[ -f $stamp && $(cat "$stamp") == "$want" ]] && return 0
  need_tools
  rm -rf "$libs"; mkdir -p "$libs"
  local log; log=$(mktemp)
  # The pom is copied so Maven's target/ folder lands in the cache, not in scripts/.
  cp "$here/kafka/pom.xml" "$home/pom.xml"
  if ! mvn -B -q -f "$home/pom.xml" dependency:copy-dependencies \
        -DoutputDirectory="$libs" -DincludeScope=runtime >"$log" 2>&1; then
    tail -n 30 "$log" >&2; rm -f "$log"; die "mvn could not fetch Kafka's jars from Maven Central (output above)"
  fi
  rm -f "$log"
  ls "$libs"/kafka_2.13-*.jar >/dev/null 2>&1 || die "mvn ran but no kafka_2.13 jar is in $libs"
  echo "$want" >"$stamp"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_config() {
  local dir=$1 port=$2 cport=$3
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/kafka
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
}

is_running() { [[ -f $1/broker.pid ]] && kill -0 "$(cat "$1/broker.pid")" 2>/dev/null; }

cmd_start() {
  local dir=${1:?usage: kafka.sh start DATA_DIR PORT} port=${2:?usage: kafka.sh start DATA_DIR PORT}
  ls "$libs"/kafka_2.13-*.jar >/dev/null 2>&1 || die "Kafka is not installed in $libs; run: $0 install"
  mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
  is_running "$dir" && die "a broker from $dir is already running (pid $(cat "$dir/broker.pid")); stop it first"
  # The controller port is part of the formatted quorum: a restart must reuse it.
  [[ -f $dir/controller.port ]] || free_port >"$dir/controller.port"
  write_config "$dir" "$port" "$(cat "$dir/controller.port")"
  local java=(java "-Xmx${KAFKA_HEAP:-512m}" -Xss1m -XX:+UseSerialGC
              "-Dlog4j2.configurationFile=$here/kafka/log4j2.properties" -cp "$libs/*")
  if [[ ! -f $dir/kafka/meta.properties ]]; then
    # A cluster id is a url-safe base64 UUID; made here to spare a JVM start (StorageTool random-uuid).
    # Like Kafka's own Uuid.randomUuid, never one starting with "-": the format tool would read it as an option.
    local cid; cid=$(python3 -c '
import base64, uuid
cid = "-"
while cid.startswith("-"):
    cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
print(cid)')
    "${java[@]}" kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" >"$dir/format.log" 2>&1 \
      || { tail -n 20 "$dir/format.log" >&2; die "formatting $dir/kafka failed"; }
  fi
  # setsid: the broker outlives this script; timeout: it cannot outlive a forgetful caller for long.
  setsid nohup timeout "${KAFKA_MAX_LIFETIME_S:-14400}" "${java[@]}" kafka.Kafka "$dir/server.properties" \
    >>"$dir/broker.log" 2>&1 </dev/null &
  echo $! >"$dir/broker.pid"
  wait_for_port "$dir" "$port"
}

wait_for_port() {
  local dir=$1 port=$2 deadline=$((SECONDS + ${KAFKA_START_TIMEOUT_S:-90}))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if ! is_running "$dir"; then
      tail -n 30 "$dir/broker.log" >&2; rm -f "$dir/broker.pid"
      die "the broker exited before 127.0.0.1:$port accepted connections (log above: $dir/broker.log)"
    fi
    ((SECONDS < deadline)) || { cmd_stop "$dir"; die "127.0.0.1:$port did not accept connections in time (log: $dir/broker.log)"; }
    sleep 0.1
  done
}

cmd_stop() {
  local dir=${1:?usage: kafka.sh stop DATA_DIR}
  is_running "$dir" || { rm -f "$dir/broker.pid"; return 0; }
  local wrapper java_pid; wrapper=$(cat "$dir/broker.pid")
  java_pid=$(pgrep -P "$wrapper" java || true)
  kill -TERM "${java_pid:-$wrapper}" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$wrapper" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$wrapper" 2>/dev/null; then   # a broker that ignores SIGTERM for 30 s is stuck
    [[ -n $java_pid ]] && kill -KILL "$java_pid" 2>/dev/null || true
    kill -KILL "$wrapper" 2>/dev/null || true
  fi
  rm -f "$dir/broker.pid"
}

case "${1:-}" in
  install) cmd_install ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) die "usage: kafka.sh install | start DATA_DIR PORT | stop DATA_DIR" ;;
esac
