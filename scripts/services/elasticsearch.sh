#!/usr/bin/env bash
# A real single-node Elasticsearch 8.19 on 127.0.0.1, without Docker, from the minimal
# "integ-test-zip" distribution on Maven Central (modules: transport-netty4, x-pack-core,
# x-pack-security, apm - so no ingest pipelines, ILM, data streams or painless).
#
#   scripts/services/elasticsearch.sh fetch    download + unzip into the cache (idempotent)
#   scripts/services/elasticsearch.sh start    fetch if needed, start daemonised, wait for yellow health
#   scripts/services/elasticsearch.sh stop     SIGTERM, SIGKILL after ES_STOP_TIMEOUT s
#   scripts/services/elasticsearch.sh status   exit 0 iff the node is running and its health is >= yellow
#   scripts/services/elasticsearch.sh logs [-f] print (or follow) the node log
#
# Elasticsearch refuses to run as root: when run as root, the node runs as the system user
# ES_USER (default vigil-es, created on demand). The distribution is staged into the run dir
# as hard links (falls back to a copy), because the cache usually sits under /root (mode 700).
#
# Environment:
#   ES_VERSION (8.19.21)  ES_PORT (9200)  ES_USER (vigil-es)  ES_KEEP_DATA=1 (keep data on start)
#   ES_HEAP (512m)  ES_START_TIMEOUT (120)  ES_STOP_TIMEOUT (60)
#   ES_EXTRA_JAVA_OPTS (-XX:TieredStopAtLevel=1: C1-only JIT starts ~30% faster on 2 cores;
#                       set it to "" for full JIT, e.g. for benchmarks)
#   VIGIL_CACHE (~/.cache/vigil)  VIGIL_RUN_DIR (/tmp/vigil-services)  VIGIL_JAVA_HOME (JDK 17)
set -euo pipefail
SERVICE_NAME=elasticsearch
# shellcheck source-path=SCRIPTDIR
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

ES_VERSION="${ES_VERSION:-8.19.21}"
ES_PORT="${ES_PORT:-9200}"
ES_USER="${ES_USER:-vigil-es}"
ES_HEAP="${ES_HEAP:-512m}"
ES_START_TIMEOUT="${ES_START_TIMEOUT:-120}"
ES_STOP_TIMEOUT="${ES_STOP_TIMEOUT:-60}"
ES_DIST="$VIGIL_CACHE/elasticsearch-$ES_VERSION"
RUN="$VIGIL_RUN_DIR/elasticsearch"
PIDFILE="$RUN/es.pid"
STARTUP_LOG="$RUN/startup.log"
NODE_LOG="$RUN/logs/vigil-test.log"
MAIN_CLASS="org.elasticsearch.bootstrap.Elasticsearch"
BASE_URL="http://127.0.0.1:$ES_PORT"

fetch() {
  if [[ -f "$ES_DIST/.complete" ]]; then
    log "elasticsearch $ES_VERSION already in cache ($ES_DIST)"
    return 0
  fi
  log "fetching elasticsearch integ-test-zip $ES_VERSION from Maven Central into $ES_DIST"
  mkdir -p "$VIGIL_CACHE"
  local tmp zip
  tmp="$(mktemp -d "$VIGIL_CACHE/.es-fetch.XXXXXX")"
  cp "$SERVICES_DIR/elasticsearch-pom.xml" "$tmp/pom.xml"
  mvn_run "$tmp" "$MAVEN_DEPENDENCY_PLUGIN:copy-dependencies" \
    -Des.version="$ES_VERSION" -DoutputDirectory="$tmp/zip"
  zip="$tmp/zip/elasticsearch-$ES_VERSION.zip"
  [[ -f "$zip" ]] || die "fetch did not produce $(basename "$zip")"
  log "unpacking $(du -h "$zip" | cut -f1) zip"
  if command -v unzip >/dev/null 2>&1; then
    unzip -q "$zip" -d "$tmp/x"
  else
    # No unzip (apt-get install -y unzip): the JDK's jar tool works but drops the exec bits.
    mkdir -p "$tmp/x"
    (cd "$tmp/x" && "$(dirname "$(java_bin)")/jar" xf "$zip")
    chmod +x "$tmp/x/elasticsearch-$ES_VERSION/bin/"*
  fi
  [[ -x "$tmp/x/elasticsearch-$ES_VERSION/bin/elasticsearch" ]] || die "unexpected zip layout"
  rm -rf "$ES_DIST"
  mv -T "$tmp/x/elasticsearch-$ES_VERSION" "$ES_DIST"
  touch "$ES_DIST/.complete"
  rm -rf "$tmp"
  # The unpacked tree is what we use; drop Maven's 100 MB copy of the zip.
  rm -f "$VIGIL_MAVEN_REPO/org/elasticsearch/distribution/integ-test-zip/elasticsearch/$ES_VERSION/"*.zip
  log "elasticsearch $ES_VERSION cached: modules: $(find "$ES_DIST/modules" -mindepth 1 -maxdepth 1 -printf "%f ")($(du -sh "$ES_DIST" | cut -f1))"
}

healthy() {
  curl -fsS -o /dev/null --max-time 5 "$BASE_URL/_cluster/health?wait_for_status=yellow&timeout=1s" 2>/dev/null
}

running_pid() {
  local pid
  pid="$(read_pid "$PIDFILE")" || return 1
  pid_matches "$pid" "$MAIN_CLASS" || return 1
  printf '%s\n' "$pid"
}

ensure_user() {
  ((EUID == 0)) || return 0
  if ! id -u "$ES_USER" >/dev/null 2>&1; then
    log "creating system user $ES_USER (Elasticsearch refuses to run as root)"
    useradd --system --user-group --no-create-home --home-dir "$RUN" --shell /usr/sbin/nologin "$ES_USER" ||
      id -u "$ES_USER" >/dev/null 2>&1 || die "could not create user $ES_USER"
  fi
}

prepare_run_dir() {
  mkdir -p "$RUN"
  if [[ "${ES_KEEP_DATA:-0}" != 1 ]]; then
    rm -rf "$RUN/data"
  fi
  # Stage the distribution where the node user can read it; hard links make this near-free.
  if [[ ! -f "$RUN/home/.complete" || "$(cat "$RUN/home/.version" 2>/dev/null)" != "$ES_VERSION" ]]; then
    rm -rf "${RUN:?}/home"
    cp -al "$ES_DIST" "$RUN/home" 2>/dev/null || {
      rm -rf "${RUN:?}/home"
      cp -a "$ES_DIST" "$RUN/home"
    }
    echo "$ES_VERSION" >"$RUN/home/.version"
    chmod -R a+rX "$RUN/home"
  fi
  # A fresh, writable config dir per start (the node writes its keystore there).
  rm -rf "$RUN/config" "$RUN/logs" "$RUN/tmp"
  cp -r "$ES_DIST/config" "$RUN/config"
  mkdir -p "$RUN/data" "$RUN/logs" "$RUN/tmp"
  cat >"$RUN/config/elasticsearch.yml" <<EOF
# Generated by scripts/services/elasticsearch.sh - single node for tests. Do not use in production.
cluster.name: vigil-test
node.name: vigil-es-1
discovery.type: single-node
network.host: 127.0.0.1
http.port: $ES_PORT
path.data: $RUN/data
path.logs: $RUN/logs
xpack.security.enabled: false
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
EOF
  # GC log and fatal-error files go to the logs dir instead of the process's working dir.
  cat >"$RUN/config/jvm.options.d/vigil.options" <<EOF
-Xlog:disable
-Xlog:all=warning:stderr:utctime,level,tags
-XX:ErrorFile=$RUN/logs/hs_err_pid%p.log
-XX:HeapDumpPath=$RUN/logs
EOF
  if ((EUID == 0)); then
    chmod 755 "$VIGIL_RUN_DIR" # in case a restrictive umask created it
    chown -R "$ES_USER:" "$RUN/config" "$RUN/data" "$RUN/logs" "$RUN/tmp"
    chown "$ES_USER:" "$RUN"
  fi
  rm -f "$PIDFILE"
}

fail_start() {
  show_log_tail "$STARTUP_LOG" 40
  show_log_tail "$NODE_LOG" 60
  die "$*"
}

wait_healthy() {
  local t0="$1" deadline=$(($1 + ES_START_TIMEOUT)) pid
  until healthy; do
    pid="$(running_pid)" || fail_start "elasticsearch is not running (it exited during startup)"
    ((SECONDS < deadline)) ||
      fail_start "elasticsearch did not reach yellow health on $BASE_URL within ${ES_START_TIMEOUT}s (pid $pid left running; 'elasticsearch.sh stop' to kill it)"
    sleep 1
  done
  pid="$(running_pid)" || fail_start "health answered but no live pid in $PIDFILE"
  log "elasticsearch $ES_VERSION ready on $BASE_URL (pid $pid, $((SECONDS - t0))s, RSS $(rss_of "$pid"))"
}

start() {
  local t0=$SECONDS pid
  if pid="$(running_pid)"; then
    if healthy; then
      log "already running and healthy (pid $pid, $BASE_URL)"
      return 0
    fi
    log "already running (pid $pid) but not healthy yet; waiting"
    wait_healthy "$t0"
    return 0
  fi
  fetch
  port_open "$ES_PORT" && die "port 127.0.0.1:$ES_PORT is already in use by another process (not ours: no live pid in $PIDFILE)"
  command -v curl >/dev/null 2>&1 || die "curl is required for the health check"
  local java_home
  java_home="$(dirname "$(dirname "$(readlink -f "$(java_bin)")")")"
  ensure_user
  prepare_run_dir

  local who
  who="user $(id -un)"
  local cmd=(env ES_JAVA_HOME="$java_home" ES_PATH_CONF="$RUN/config" ES_TMPDIR="$RUN/tmp"
    ES_JAVA_OPTS="-Xms$ES_HEAP -Xmx$ES_HEAP ${ES_EXTRA_JAVA_OPTS--XX:TieredStopAtLevel=1}"
    "$RUN/home/bin/elasticsearch" -d -p "$PIDFILE")
  if ((EUID == 0)); then
    cmd=(runuser -u "$ES_USER" -- "${cmd[@]}")
    who="user $ES_USER"
  fi
  log "starting elasticsearch $ES_VERSION as $who, heap $ES_HEAP, JDK $java_home (logs: $RUN/logs)"
  # -d: the launcher normally returns once the node has started (or failed), leaving the node
  # daemonised. On a long-running host it was seen to linger after the node was up, waiting for a
  # pipe the node never closed, so it is not waited for: the node's pid file and health are. (Not
  # under `timeout` either: runuser, signalled, takes its whole session down, the node included.)
  (cd "$RUN" && exec setsid "${cmd[@]}" </dev/null >"$STARTUP_LOG" 2>&1) &
  local launcher=$!
  until pid="$(running_pid)"; do
    if ! kill -0 "$launcher" 2>/dev/null; then
      wait "$launcher" || fail_start "the elasticsearch launcher failed (exit $?)"
      running_pid >/dev/null || fail_start "the elasticsearch launcher exited but no node is running"
      break
    fi
    if ((SECONDS >= t0 + ES_START_TIMEOUT)); then
      # setsid made the launcher a session leader: the session is the launcher and any node it began.
      pkill -KILL -s "$launcher" 2>/dev/null || true
      fail_start "elasticsearch wrote no pid file within ${ES_START_TIMEOUT}s"
    fi
    sleep 1
  done
  wait_healthy "$t0"
  # Still there with the node healthy: it only holds the node's stderr pipe. Ending the launcher
  # (not runuser) leaves the node running.
  if kill -0 "$launcher" 2>/dev/null; then
    sleep 3
    if kill -0 "$launcher" 2>/dev/null; then
      log "the launcher did not return although the node is healthy; ending the launcher (the node stays)"
      end_launcher
    fi
  fi
}

# The launcher JVM of this run directory (its runuser parent exits with it).
end_launcher() {
  pkill -KILL -f -- "-Dcli.name=server .*-Dcli.script=$RUN/home/bin/elasticsearch" 2>/dev/null || true
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    log "not running"
    rm -f "$PIDFILE"
    return 0
  fi
  log "stopping elasticsearch (pid $pid)"
  stop_pid "$pid" elasticsearch "$ES_STOP_TIMEOUT"
  rm -f "$PIDFILE"
}

status() {
  local pid
  if ! pid="$(running_pid)"; then
    log "not running"
    return 1
  fi
  if ! healthy; then
    log "process $pid is alive but $BASE_URL is not healthy (yellow or better)"
    return 1
  fi
  log "running: pid $pid, $BASE_URL, elasticsearch $ES_VERSION, RSS $(rss_of "$pid")"
}

logs() {
  [[ -f "$NODE_LOG" ]] || die "no log at $NODE_LOG"
  if [[ "${1:-}" == "-f" ]]; then
    exec tail -n 50 -F "$NODE_LOG"
  fi
  tail -n "${LOG_LINES:-200}" "$NODE_LOG"
}

case "${1:-}" in
  fetch | start | stop | status) "$1" ;;
  logs) logs "${2:-}" ;;
  *)
    echo "usage: $0 fetch|start|stop|status|logs [-f]" >&2
    exit 2
    ;;
esac
