#!/usr/bin/env bash
# Rebuilds TestToken.bin and TestToken.abi.json from TestToken.sol with a pinned solc (the npm
# package `solc`, i.e. solcjs, so no system compiler is needed). The outputs are committed; run
# this after changing the source and commit all three files together.
set -euo pipefail

SOLC_VERSION=0.8.28
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cd "$here"
npx --yes "solc@$SOLC_VERSION" --bin --abi --optimize --optimize-runs 200 \
  --output-dir "$out" TestToken.sol
# solcjs names outputs <file>_<contract>.<ext>, with the path mangled; take them by suffix.
bin=$(ls "$out"/*TestToken.bin)
abi=$(ls "$out"/*TestToken.abi)
tr -d '\n' < "$bin" > TestToken.bin
printf '\n' >> TestToken.bin
node -e 'process.stdout.write(JSON.stringify(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")), null, 2) + "\n")' \
  "$abi" > TestToken.abi.json
echo "built TestToken.bin ($(($(wc -c < TestToken.bin) / 2)) bytes) and TestToken.abi.json with solc $SOLC_VERSION"
