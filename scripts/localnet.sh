#!/usr/bin/env bash
# Starts the whole local stack in the foreground: a single-validator OpenLedger chain with
# funded test keys, its IPFS node, the demo model (datanet → dataset version → tiny model →
# deployment; the trained model is cached in build/cache/demo), a provider daemon serving it
# (jobs, and the OpenAI-compatible API on 127.0.0.1:8088) and a gateway: an OpenAI-compatible
# endpoint on http://127.0.0.1:8787/v1 that pays the provider by session vouchers from the
# requester key.
# Usage: scripts/localnet.sh [--keep]   (--keep reuses the existing .localnet home)
# Environment: BIN (default build/openledgerd), LOCALNET_HOME (default .localnet),
#              DEMO_CACHE (default build/cache/demo).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-build/openledgerd}
HOME_DIR=${LOCALNET_HOME:-$PWD/.localnet}
DEMO_CACHE=${DEMO_CACHE:-$PWD/build/cache/demo}
CHAIN_ID=openledger-local-1
KEYS=(alice bob carol provider requester)
FUNDS=1000000000000uopen   # 1,000,000 OPEN each
STAKE=100000000000uopen    # 100,000 OPEN self-bonded by alice

if [[ ! -x "$BIN" ]]; then
  echo "error: $BIN not found; run 'make build' first" >&2
  exit 1
fi
for port in 26657 9090 5101 7101 8088 8787; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "error: 127.0.0.1:$port is in use: is another localnet running? stop it (Ctrl-C in its terminal) first" >&2
    exit 1
  fi
done

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
  # Short windows for a snappy demo: a 3-block challenge window for inference receipts;
  # governance periods of a minute so proposals can be tried locally.
  run demo genesis "$HOME_DIR/config/genesis.json" --challenge-window 3
  run genesis validate >/dev/null
  cfg="$HOME_DIR/config/config.toml"
  app="$HOME_DIR/config/app.toml"
  sed -i 's/^timeout_commit = .*/timeout_commit = "200ms"/; s/^timeout_propose = .*/timeout_propose = "1s"/' "$cfg"
  sed -i 's#^laddr = "tcp://0.0.0.0:26656"#laddr = "tcp://127.0.0.1:26656"#' "$cfg"
  sed -i 's/^prometheus = false/prometheus = true/; s#^prometheus_listen_addr = .*#prometheus_listen_addr = "127.0.0.1:26660"#' "$cfg"
  # Enable the REST API (with its OpenAPI description) on loopback.
  awk 'BEGIN{s=0} /^\[api\]/{s=1} /^\[/{if($0!="[api]")s=0} {if(s && $0 ~ /^enable = false/){print "enable = true"; next} print}' "$app" >"$app.tmp" && mv "$app.tmp" "$app"
  sed -i 's#^address = "tcp://localhost:1317"#address = "tcp://127.0.0.1:1317"#; s#^address = "localhost:9090"#address = "127.0.0.1:9090"#' "$app"
  # The built-in IPFS node: loopback-only swarm on a fixed port (the provider's node peers
  # with it), no DHT, local API and gateway.
  run ipfs init --swarm /ip4/127.0.0.1/tcp/4101 --swarm /ip4/127.0.0.1/udp/4101/quic-v1 --dht none \
    --api-addr 127.0.0.1:5101 --gateway-addr 127.0.0.1:8180 >/dev/null
fi

# The IPFS daemon, the node and the provider daemon run together; all stop on Ctrl-C.
pids=()
stop() {
  trap - INT TERM
  if ((${#pids[@]})); then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap 'stop; exit 130' INT TERM
die() { echo "error: $*" >&2; stop; exit 1; }

"$BIN" ipfs daemon --home "$HOME_DIR" >"$HOME_DIR/ipfs.log" 2>&1 &
pids+=($!)
"$BIN" start --home "$HOME_DIR" >"$HOME_DIR/node.log" 2>&1 &
node_pid=$!
pids+=("$node_pid")
echo "Starting the chain (log $HOME_DIR/node.log) and its IPFS node (log $HOME_DIR/ipfs.log)..."
for _ in $(seq 1 150); do
  h=$(run status 2>/dev/null | grep -o '"latest_block_height":"[0-9]*"' | grep -o '[0-9]*' || true)
  [[ -n "$h" && "$h" -ge 2 ]] && break
  kill -0 "$node_pid" 2>/dev/null || die "the node exited; see $HOME_DIR/node.log:
$(tail -n 20 "$HOME_DIR/node.log")"
  sleep 0.2
done
[[ -n "${h:-}" && "$h" -ge 2 ]] || die "the chain produced no block in 30 s; see $HOME_DIR/node.log"

# The demo model and the provider's config (first run of this home).
if [[ ! -f "$HOME_DIR/demo.json" ]]; then
  echo "Building the demo model and deployment (log $HOME_DIR/setup.log)..."
  if ! run demo setup --cache "$DEMO_CACHE" >"$HOME_DIR/setup.log" 2>&1; then
    die "the demo setup failed; see $HOME_DIR/setup.log:
$(tail -n 20 "$HOME_DIR/setup.log")"
  fi
  grep -E '^(\[|  → |demo deployment)' "$HOME_DIR/setup.log" | sed 's/^/  /'
fi

# The provider serves the OpenAI-compatible API too ([api] enabled; it registers its URL on chain).
pcfg="$HOME_DIR/provider/provider.toml"
if grep -q '^\[api\]' "$pcfg"; then
  awk 'BEGIN{s=0} /^\[/{s=($0=="[api]")} {if(s && $0 ~ /^enabled = false/){print "enabled = true"; next} print}' "$pcfg" >"$pcfg.tmp"
  chmod 600 "$pcfg.tmp" && mv "$pcfg.tmp" "$pcfg"
else
  printf '\n[api]\nenabled = true\n' >>"$pcfg"
fi
"$BIN" provider start --home "$HOME_DIR" >"$HOME_DIR/provider.log" 2>&1 &
provider_pid=$!
pids+=("$provider_pid")
echo "Starting the provider daemon (log $HOME_DIR/provider.log)..."
for _ in $(seq 1 300); do
  grep -q '^provider is running' "$HOME_DIR/provider.log" 2>/dev/null && break
  kill -0 "$provider_pid" 2>/dev/null || die "the provider daemon exited; see $HOME_DIR/provider.log:
$(tail -n 20 "$HOME_DIR/provider.log")"
  sleep 0.2
done
grep -q '^provider is running' "$HOME_DIR/provider.log" || die "the provider daemon did not start in 60 s; see $HOME_DIR/provider.log"
operator=$(grep -m1 '^operator: ' "$HOME_DIR/provider.log" | cut -d' ' -f2)
peer=$(grep -m1 '^peer id: ' "$HOME_DIR/provider.log" | cut -d' ' -f3)
status_url=$(grep -m1 '^status: ' "$HOME_DIR/provider.log" | cut -d' ' -f2)
deployment=$(grep -o '"deployment_id": [0-9]*' "$HOME_DIR/demo.json" | grep -o '[0-9]*$')
api_url=$(grep -m1 '^api: ' "$HOME_DIR/provider.log" | cut -d' ' -f2)

# The gateway: an OpenAI-compatible endpoint paid from the requester's account.
"$BIN" gateway --home "$HOME_DIR" --from requester --budget 100000000uopen --listen 127.0.0.1:8787 \
  --alias demo="$deployment" --idle-final 30s >"$HOME_DIR/gateway.log" 2>&1 &
gateway_pid=$!
pids+=("$gateway_pid")
echo "Starting the gateway (log $HOME_DIR/gateway.log)..."
for _ in $(seq 1 100); do
  grep -q 'gateway listening' "$HOME_DIR/gateway.log" 2>/dev/null && break
  kill -0 "$gateway_pid" 2>/dev/null || die "the gateway exited; see $HOME_DIR/gateway.log:
$(tail -n 20 "$HOME_DIR/gateway.log")"
  sleep 0.2
done
grep -q 'gateway listening' "$HOME_DIR/gateway.log" || die "the gateway did not start in 20 s; see $HOME_DIR/gateway.log"
gateway_url=http://127.0.0.1:8787/v1

addr() { run keys show "$1" -a --keyring-backend test; }
cat <<MSG

OpenLedger localnet ($CHAIN_ID), home $HOME_DIR
  CometBFT RPC  http://127.0.0.1:26657
  REST (LCD)    http://127.0.0.1:1317   (OpenAPI: /swagger/ for SDK modules, /openapi/datanet.swagger.json)
  gRPC          127.0.0.1:9090
  Prometheus    http://127.0.0.1:26660/metrics
  IPFS gateway  http://127.0.0.1:8180/ipfs/<cid>   (API 127.0.0.1:5101; log $HOME_DIR/ipfs.log)
  Provider      operator $operator
                peer id  $peer
                $status_url   (metrics ${status_url%/status}/metrics; log $HOME_DIR/provider.log)
                serves demo deployment $deployment with the built-in engine
                OpenAI API ${api_url:-off}   (paid by session vouchers)
  Gateway       $gateway_url   (OpenAI-compatible, no key needed; model "$deployment" or "demo";
                pays from requester, budget 100 OPEN; log $HOME_DIR/gateway.log)
Keys (keyring-backend test): alice     $(addr alice)   (validator, curator, model developer)
                             bob       $(addr bob)   (contributor)
                             carol     $(addr carol)   (contributor)
                             provider  $(addr provider)   (the provider daemon's operator)
                             requester $(addr requester)   (posts jobs)
Logs: $HOME_DIR/node.log, ipfs.log, setup.log (every command that built the demo model), provider.log, gateway.log

Try, in another terminal (any OpenAI client works against the gateway):
  curl -s $gateway_url/chat/completions -H 'Content-Type: application/json' -d '{"model":"$deployment","messages":[{"role":"user","content":"Tell me a fortune"}],"max_tokens":32}'
  $BIN --home $HOME_DIR tx bank send alice $(addr bob) 1000000uopen --fees 500uopen -y
  $BIN --home $HOME_DIR tx datanet create "My first datanet" CC-BY-4.0 --from alice --fees 2000uopen -y
  $BIN --home $HOME_DIR tx datanet contribute 2 README.md --from bob --fees 2000uopen -y
  $BIN --home $HOME_DIR query datanet contributions --datanet-id 2
  $BIN --home $HOME_DIR provider status
Ctrl-C stops everything; 'make localnet' starts a fresh one (scripts/localnet.sh --keep resumes).

Next: make demo   (a job from prompt to paid contributors, each step with its command)

MSG
wait -n "${pids[@]}" || true
echo "a process of the localnet exited; stopping the others (logs in $HOME_DIR)" >&2
stop
