#!/usr/bin/env bash
# Makes sure Redis answers on 127.0.0.1:6379 for the production profile (config.prod.yml) and its tests:
# succeeds at once when it does; otherwise installs Debian's redis-server (scripts/apt-install.sh) and
# starts it on loopback only.
# Usage: scripts/ensure-redis.sh
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=127.0.0.1
PORT=6379

answers() {
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(redis-cli -h "$HOST" -p "$PORT" ping 2>/dev/null)" = "PONG" ]
  else
    (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
  fi
}

if answers; then
  echo "redis: answering on $HOST:$PORT, nothing to do"
  exit 0
fi
if ! command -v redis-server >/dev/null 2>&1; then
  scripts/apt-install.sh "the production profile's sessions and rate limits" redis-server
fi
echo "redis: starting redis-server on $HOST:$PORT"
if ! { command -v service >/dev/null 2>&1 && service redis-server start >/dev/null 2>&1 && sleep 1 && answers; }; then
  redis-server --bind "$HOST" --port "$PORT" --daemonize yes --save "" --appendonly no >/dev/null
fi
for _ in $(seq 1 20); do
  if answers; then
    echo "redis: answering on $HOST:$PORT"
    exit 0
  fi
  sleep 0.5
done
echo "redis: still not answering on $HOST:$PORT" >&2
exit 1
