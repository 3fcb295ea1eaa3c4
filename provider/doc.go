// Package provider is the home of the GPU provider daemon (`openledgerd provider
// start`): the off-chain process that follows the chain, bids on inference jobs by a
// price policy, executes them and posts signed receipts (DESIGN §2).
//
// Each responsibility is its own sub-package, usable and tested on its own:
//
//   - config: the daemon's TOML configuration, defaults in code, every key documented.
//   - store: the embedded crash-safe state (bbolt): jobs in progress and their state
//     machine, receipts not yet included, pending txs, the follower's inbox and height.
//   - chainclient: gRPC queries and locally signed transactions through one sequence
//     manager.
//   - follower: the chain event follower (CometBFT websocket, polling fallback),
//     resuming from the stored height and delivering each event exactly once.
//   - bidder: the bid price policy (a pure function) and the service that bids on
//     jobs of the deployments the provider offers.
//
// Long-running components expose Run(ctx) error and are meant to run under one
// errgroup with a shared context; every component takes an injected *slog.Logger.
// The chain never imports this tree (app/layering_test.go).
package provider
