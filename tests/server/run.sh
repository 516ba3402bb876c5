#!/usr/bin/env bash
# End-to-end tests of kvc-server (ctest label "server"): installs the official
# OpenAI Node SDK into tests/server/node_modules (npm ci), generates the tiny model
# into a temporary directory, and runs e2e.test.mjs, which starts the server.
# Usage: tests/server/run.sh KVC_SERVER_BINARY KVC_MKMODEL_BINARY
# Exit 77 (skipped) when node/npm are missing or the SDK cannot be installed.
set -euo pipefail
server=$(realpath "${1:?usage: run.sh KVC_SERVER KVC_MKMODEL}")
mkmodel=$(realpath "${2:?usage: run.sh KVC_SERVER KVC_MKMODEL}")
here=$(cd "$(dirname "$0")" && pwd)

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: '$tool' is not installed (scripts/deps installs nodejs)"
    exit 77
  fi
done
cd "$here"
if [ ! -f node_modules/openai/package.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  if ! npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>npm-ci.log; then
    cat npm-ci.log
    echo "SKIP: 'npm ci' could not install the openai SDK (offline?)"
    exit 77
  fi
fi

tmp=$(mktemp -d /tmp/kvc-server-e2e.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export KVC_CACHE_DIR="$tmp/kvc-cache"  # fingerprint memo stays out of ~/.cache
"$mkmodel" --shape tiny --type f16 --quiet --out "$tmp/tiny.gguf"

KVC_SERVER="$server" KVC_MODEL="$tmp/tiny.gguf" KVC_TMP="$tmp" \
  node --test --test-concurrency=1 e2e.test.mjs
