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
// Crash testing: the internal package failpoint kills the daemon's own process
// with SIGKILL right after a named step is committed to the store ("bid.persisted",
// "bid.sent", "bid.awarded", "receipts.output_stored", "receipts.receipt_built",
// "receipts.receipt_sent", … one per state entered), so that no deferred cleanup
// runs, exactly as in a crash. It is for tests only and inert unless the
// environment variable OPENLEDGER_PROVIDER_FAILPOINT names a point;
// provider/daemon's kill test runs the real `openledgerd provider start` with it
// and restarts it without.
//
// Long-running components expose Run(ctx) error and are meant to run under one
// errgroup with a shared context; every component takes an injected *slog.Logger.
// The chain never imports this tree (app/layering_test.go).
package provider
