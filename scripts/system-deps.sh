#!/usr/bin/env bash
# System packages the test suite uses: PostgreSQL server binaries for the store tests.
# Installed with apt when missing and when we can (root); otherwise those tests skip
# with a visible reason (and fail in CI, where LLMOPS_REQUIRE_POSTGRES=1).
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing PostgreSQL server binaries with apt-get" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
else
  echo "PostgreSQL server binaries not found; PostgreSQL store tests will be skipped" >&2
fi
