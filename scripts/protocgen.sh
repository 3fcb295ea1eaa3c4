#!/usr/bin/env bash
# Regenerates the Go code of proto/openledger with buf and the pinned plugins in
# build/tools (installed by `make proto-tools`). Offline: third-party .proto files
# are vendored under third_party/proto.
set -euo pipefail
cd "$(dirname "$0")/.."

# One generation at a time: the script works in shared build/ directories.
exec 9>build/.proto-gen.lock
flock 9

TOOLS=build/tools
"$TOOLS/buf" lint
rm -rf build/proto-gen
"$TOOLS/buf" generate --path proto/openledger
cp -r build/proto-gen/github.com/openledger/openledger/* ./
rm -rf build/proto-gen

# OpenAPI descriptions of the REST (grpc-gateway) routes, embedded by client/openapi.
rm -rf build/openapi
"$TOOLS/buf" generate --template buf.gen.swagger.yaml --path proto/openledger
for f in build/openapi/openledger/*/v1/query.swagger.json; do
  module=$(basename "$(dirname "$(dirname "$f")")")
  cp "$f" "client/openapi/$module.swagger.json"
done
rm -rf build/openapi
