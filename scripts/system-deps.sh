#!/usr/bin/env bash
# System packages the test suite uses: PostgreSQL server binaries for the store tests, and
# Debian's Chromium for the web UI's browser tests (Playwright drives /usr/bin/chromium; its own
# browser downloads are not needed). Installed with apt when missing and when we can (root);
# otherwise those tests skip with a visible reason (and fail in CI, where
# LLMOPS_REQUIRE_POSTGRES=1 and LLMOPS_REQUIRE_BROWSER=1).
set -euo pipefail
missing=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
if [ ! -x /usr/bin/chromium ]; then
  missing+=(chromium)
fi
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} with apt-get" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  for package in "${missing[@]}"; do
    case "$package" in
      postgresql) echo "PostgreSQL server binaries not found; PostgreSQL store tests will be skipped" >&2 ;;
      chromium) echo "/usr/bin/chromium not found; the web UI's browser tests will be skipped" >&2 ;;
    esac
  done
fi
