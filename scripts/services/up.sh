#!/usr/bin/env bash
# Fetch (if needed) and start the real Kafka broker and Elasticsearch node used by the
# integration tests, on 127.0.0.1, without Docker. Idempotent: running services are reused.
#
#   vars="$(scripts/services/up.sh)" && eval "$vars"    start both and export the variables below
#   (not `eval "$(scripts/services/up.sh)"`: eval returns 0 even when up.sh fails)
#   scripts/services/up.sh               start both; progress on stderr, variables on stdout:
#     export VIGIL_KAFKA_BROKERS=127.0.0.1:9092
#     export VIGIL_ES_URL=http://127.0.0.1:9200
#
# Exits non-zero (with the failing service's log tail on stderr) if either does not come up.
# Ports, versions and dirs: see the headers of kafka.sh and elasticsearch.sh.
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
t0=$SECONDS

step() {
  local script="$1" cmd="$2"
  if ! "$DIR/$script" "$cmd"; then
    echo "[up] ERROR: '$script $cmd' failed; services that did start are left running (scripts/services/down.sh stops them)" >&2
    exit 1
  fi
}

step kafka.sh fetch
step elasticsearch.sh fetch
step kafka.sh start
step elasticsearch.sh start

echo "[up] services ready in $((SECONDS - t0))s" >&2
echo "export VIGIL_KAFKA_BROKERS=127.0.0.1:${KAFKA_PORT:-9092}"
echo "export VIGIL_ES_URL=http://127.0.0.1:${ES_PORT:-9200}"
