#!/usr/bin/env bash
# Stop the Kafka broker and Elasticsearch node started by up.sh (graceful, then SIGKILL).
# Stopping a service that is not running is not an error. Data dirs are left in place
# (under ${VIGIL_RUN_DIR:-/tmp/vigil-services}); the next start wipes them unless *_KEEP_DATA=1.
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
rc=0
"$DIR/elasticsearch.sh" stop || rc=1
"$DIR/kafka.sh" stop || rc=1
exit "$rc"
