#!/bin/sh
# Self-test of the oidc-provider test server (needs `npm ci --prefix tests/oidc-server` first).
set -e
cd "$(dirname "$0")"
exec node --test selftest.test.js
