# shellcheck shell=bash disable=SC2034 # variables here are used by the scripts that source this file
# Shared helpers for scripts/services/*.sh. Source it; do not run it.
#
# Layout (all outside the repository):
#   ${VIGIL_CACHE:-$HOME/.cache/vigil}     downloaded artefacts (kept between runs)
#   ${VIGIL_RUN_DIR:-/tmp/vigil-services}  per-run config, data, logs and pid files

SERVICES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VIGIL_CACHE="${VIGIL_CACHE:-${HOME:-/root}/.cache/vigil}"
VIGIL_RUN_DIR="${VIGIL_RUN_DIR:-/tmp/vigil-services}"
# Maven's local repository lives in the cache too, so "empty cache" really means empty.
VIGIL_MAVEN_REPO="${VIGIL_MAVEN_REPO:-$VIGIL_CACHE/m2}"
# Pinned so that a fetch never depends on the host's default plugin version.
MAVEN_DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
# Both services run on the JDK 17 that Debian 12 ships as default.
VIGIL_JAVA_HOME="${VIGIL_JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"

log() { printf '[%s] %s\n' "${SERVICE_NAME:-services}" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

java_bin() {
  if [[ -x "$VIGIL_JAVA_HOME/bin/java" ]]; then
    printf '%s\n' "$VIGIL_JAVA_HOME/bin/java"
  elif command -v java >/dev/null 2>&1; then
    command -v java
  else
    die "no Java found (looked in VIGIL_JAVA_HOME=$VIGIL_JAVA_HOME and PATH)"
  fi
}

# mvn_run <dir-with-pom.xml> <args...>: run Maven quietly in batch mode against the cache repository.
mvn_run() {
  local dir="$1"
  shift
  command -v mvn >/dev/null 2>&1 || die "mvn not found (apt-get install -y maven)"
  local out
  out="$(mktemp)"
  if ! (cd "$dir" && JAVA_HOME="${JAVA_HOME:-$VIGIL_JAVA_HOME}" mvn -B -q --no-transfer-progress \
    -Dmaven.repo.local="$VIGIL_MAVEN_REPO" "$@") >"$out" 2>&1; then
    tail -n 40 "$out" >&2
    rm -f "$out"
    die "mvn $* failed (see above)"
  fi
  rm -f "$out"
}

# read_pid <pidfile>: print the pid if the file names a live process.
read_pid() {
  local f="$1" pid
  [[ -s "$f" ]] || return 1
  pid="$(tr -dc '0-9' <"$f")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  printf '%s\n' "$pid"
}

# pid_matches <pid> <pattern>: the process's command line contains <pattern> (guards against pid reuse).
pid_matches() {
  [[ -r "/proc/$1/cmdline" ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$2"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# rss_of <pid>: resident set size, human readable.
rss_of() {
  local kb
  kb="$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || true)"
  [[ -n "$kb" ]] && printf '%d MiB\n' "$((kb / 1024))" || printf 'unknown\n'
}

# stop_pid <pid> <name> [grace-seconds]: SIGTERM, wait, then SIGKILL.
stop_pid() {
  local pid="$1" name="$2" grace="${3:-30}" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < grace * 4; i++)); do
    kill -0 "$pid" 2>/dev/null || {
      log "$name (pid $pid) stopped"
      return 0
    }
    sleep 0.25
  done
  log "$name (pid $pid) still alive after ${grace}s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.25
  done
  die "$name (pid $pid) survived SIGKILL"
}

# show_log_tail <file> [lines]
show_log_tail() {
  local f="$1" n="${2:-60}"
  if [[ -s "$f" ]]; then
    log "---- last $n lines of $f ----"
    tail -n "$n" "$f" >&2
    log "---- end of $f ----"
  else
    log "(log $f is empty or missing)"
  fi
}
