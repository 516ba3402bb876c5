#!/usr/bin/env bash
# End-to-end tests of kvc-server (ctest label "server"): installs the official
# OpenAI Node SDK into tests/server/node_modules (npm ci), generates the tiny model
# into a temporary directory, and runs TEST_FILE (default e2e.test.mjs), which
# starts the server.
# Usage: tests/server/run.sh KVC_SERVER_BINARY KVC_MKMODEL_BINARY [TEST_FILE [KVC_CLI_BINARY]]
#   e2e.test.mjs    ctest server_e2e
#   crash.test.mjs  ctest server_crash (kill -9 under load; needs the kvc CLI, passed
#                   as KVC_CLI_BINARY or in the environment as KVC_CLI)
# Exit 77 (skipped) when node/npm are missing or the SDK cannot be installed.
set -euo pipefail
usage="usage: run.sh KVC_SERVER KVC_MKMODEL [TEST_FILE [KVC_CLI]]"
server=$(realpath "${1:?$usage}")
mkmodel=$(realpath "${2:?$usage}")
test_file=${3:-e2e.test.mjs}
if [ -n "${4:-}" ]; then
  KVC_CLI=$(realpath "$4")
  export KVC_CLI
fi
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -f "$here/$test_file" ]; then
  echo "$usage: no test file '$test_file' in $here" >&2
  exit 2
fi

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
if [ -n "${KVC_KEEP_TMP:-}" ]; then
  echo "run.sh: keeping $tmp (KVC_KEEP_TMP)"
else
  trap 'rm -rf "$tmp"' EXIT
fi
export KVC_CACHE_DIR="$tmp/kvc-cache"  # fingerprint memo stays out of ~/.cache
"$mkmodel" --shape tiny --type f16 --quiet --out "$tmp/tiny.gguf"

KVC_SERVER="$server" KVC_MODEL="$tmp/tiny.gguf" KVC_TMP="$tmp" \
  node --test --test-concurrency=1 "$test_file"
