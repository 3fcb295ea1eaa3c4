// Package failpoint lets a test kill the provider daemon's process at a named
// commit point, exactly as a crash would. It is inert unless the environment
// variable OPENLEDGER_PROVIDER_FAILPOINT names a point when the process starts.
//
// Points are named after the step just committed to the store: "bid.persisted",
// "bid.sent", "bid.awarded" (provider/bidder) and "receipts.<state>" for each
// settlement state entered, e.g. "receipts.output_stored" (provider/receipts).
// Interactive sessions (provider/sessions): "sessions.voucher_committed" (a
// request's voucher is in the store, generation not started),
// "sessions.generated" (the output streamed, its receipt not committed),
// "sessions.receipt_committed" (the receipt is in the store, not yet sent),
// "sessions.final_committed" (a final voucher is in the store),
// "sessions.settling" (the batch record is on IPFS, the settlement not sent) and
// "sessions.settled" (the settlement is in a block, not yet recorded).
package failpoint

import (
	"os"
	"time"
)

// Env is the environment variable naming the point to die at.
const Env = "OPENLEDGER_PROVIDER_FAILPOINT"

var armed = os.Getenv(Env)

// Hit kills the process with SIGKILL when name is the armed point: no deferred
// function runs, no file is closed, no log is flushed. It returns at once
// otherwise.
func Hit(name string) {
	if armed == "" || name != armed {
		return
	}
	p, err := os.FindProcess(os.Getpid())
	if err == nil {
		err = p.Kill() // SIGKILL on Unix
	}
	if err != nil {
		os.Exit(137) // as abrupt: no deferred function runs
	}
	// The signal is delivered asynchronously: never go on past the point.
	for {
		time.Sleep(time.Hour)
	}
}
