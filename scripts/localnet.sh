#!/usr/bin/env bash
# Starts a single-validator OpenLedger chain in the foreground with funded test keys.
# Usage: scripts/localnet.sh [--keep]   (--keep reuses the existing .localnet home)
# Environment: BIN (default build/openledgerd), LOCALNET_HOME (default .localnet).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-build/openledgerd}
HOME_DIR=${LOCALNET_HOME:-$PWD/.localnet}
CHAIN_ID=openledger-local-1
KEYS=(alice bob carol)
FUNDS=1000000000000uopen   # 1,000,000 OPEN each
STAKE=100000000000uopen    # 100,000 OPEN self-bonded by alice

if [[ ! -x "$BIN" ]]; then
  echo "error: $BIN not found; run 'make build' first" >&2
  exit 1
fi

run() { "$BIN" "$@" --home "$HOME_DIR"; }

if [[ "${1:-}" != "--keep" || ! -f "$HOME_DIR/config/genesis.json" ]]; then
  rm -rf "$HOME_DIR"
  run init localnet --chain-id "$CHAIN_ID" >/dev/null 2>&1
  run config chain-id "$CHAIN_ID"
  run config keyring-backend test
  for k in "${KEYS[@]}"; do
    run keys add "$k" --keyring-backend test --output json >"$HOME_DIR/$k.json" 2>&1
    run genesis add-genesis-account "$k" "$FUNDS" --keyring-backend test
  done
  run genesis gentx alice "$STAKE" --chain-id "$CHAIN_ID" --keyring-backend test >/dev/null 2>&1
  run genesis collect-gentxs >/dev/null 2>&1
  # Short governance periods so proposals can be tried locally.
  python3 - "$HOME_DIR/config/genesis.json" <<'PY' 2>/dev/null || true
import json, sys
p = sys.argv[1]
g = json.load(open(p))
g["app_state"]["gov"]["params"]["voting_period"] = "60s"
g["app_state"]["gov"]["params"]["expedited_voting_period"] = "30s"
g["app_state"]["gov"]["params"]["max_deposit_period"] = "60s"
json.dump(g, open(p, "w"), indent=1)
PY
  run genesis validate >/dev/null
  cfg="$HOME_DIR/config/config.toml"
  app="$HOME_DIR/config/app.toml"
  sed -i 's/^timeout_commit = .*/timeout_commit = "200ms"/; s/^timeout_propose = .*/timeout_propose = "1s"/' "$cfg"
  sed -i 's#^laddr = "tcp://0.0.0.0:26656"#laddr = "tcp://127.0.0.1:26656"#' "$cfg"
  sed -i 's/^prometheus = false/prometheus = true/; s#^prometheus_listen_addr = .*#prometheus_listen_addr = "127.0.0.1:26660"#' "$cfg"
  # Enable the REST API (with its OpenAPI description) on loopback.
  awk 'BEGIN{s=0} /^\[api\]/{s=1} /^\[/{if($0!="[api]")s=0} {if(s && $0 ~ /^enable = false/){print "enable = true"; next} print}' "$app" >"$app.tmp" && mv "$app.tmp" "$app"
  sed -i 's#^address = "tcp://localhost:1317"#address = "tcp://127.0.0.1:1317"#; s#^address = "localhost:9090"#address = "127.0.0.1:9090"#' "$app"
  # The built-in IPFS node: loopback-only swarm, local API and gateway.
  run ipfs init --loopback --api-addr 127.0.0.1:5101 --gateway-addr 127.0.0.1:8180 >/dev/null
fi

addr() { run keys show "$1" -a --keyring-backend test; }
cat <<MSG

OpenLedger localnet ($CHAIN_ID), home $HOME_DIR
  CometBFT RPC  http://127.0.0.1:26657
  REST (LCD)    http://127.0.0.1:1317   (OpenAPI: /swagger/ for SDK modules, /openapi/datanet.swagger.json)
  gRPC          127.0.0.1:9090
  Prometheus    http://127.0.0.1:26660/metrics
  IPFS gateway  http://127.0.0.1:8180/ipfs/<cid>   (API 127.0.0.1:5101; log $HOME_DIR/ipfs.log)
Keys (keyring-backend test): alice $(addr alice)
                             bob   $(addr bob)
                             carol $(addr carol)

Try, in another terminal:
  $BIN --home $HOME_DIR tx bank send alice $(addr bob) 1000000uopen --fees 500uopen -y
  $BIN --home $HOME_DIR tx datanet create "My first datanet" CC-BY-4.0 --from alice --fees 2000uopen -y
  $BIN --home $HOME_DIR tx datanet contribute 1 README.md --from bob --fees 2000uopen -y
  $BIN --home $HOME_DIR query datanet contributions --datanet-id 1
Ctrl-C stops the chain; 'make localnet' starts a fresh one (scripts/localnet.sh --keep resumes).

MSG
# The IPFS daemon runs beside the node; both stop together on Ctrl-C.
"$BIN" ipfs daemon --home "$HOME_DIR" >"$HOME_DIR/ipfs.log" 2>&1 &
ipfs_pid=$!
"$BIN" start --home "$HOME_DIR" &
node_pid=$!
stop() {
  kill -TERM "$node_pid" "$ipfs_pid" 2>/dev/null || true
  wait "$node_pid" "$ipfs_pid" 2>/dev/null || true
}
trap stop INT TERM
wait -n "$node_pid" "$ipfs_pid" || true
stop
