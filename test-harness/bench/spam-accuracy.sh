#!/usr/bin/env bash
# The filter's accuracy on the held-out (odd) half of the SpamAssassin
# corpus, each message through the real milter path (filter and manager
# roles, a milter client), no network checks. Then the same for the
# training half, for comparison only: the model was trained on it.
# Env: CORPUS (the unpacked package), HALVES (default "odd").
set -euo pipefail
cd "$(dirname "$0")/../.."
corpus=$(scripts/spam-corpus)
cargo build --release --locked -q -p filter --example spam-accuracy
for half in ${HALVES:-odd}; do
  "${CARGO_TARGET_DIR:-target}/release/examples/spam-accuracy" "$corpus" "$half"
done
