package receipts

import (
	"testing"

	"github.com/openledger/openledger/provider/store"
)

// A crash after the receipt tx is sent, the tx landing meanwhile: the restart
// learns of the inclusion from the chain, and the journaled receipt tx is
// forgotten with it (it used to stay in the journal for good).
func TestIncludedForgetsTheJournaledReceiptTx(t *testing.T) {
	h := newHarness(t)
	h.award(t, 11, 200)
	if j := h.runUntil(t, h.service(t, Hooks{}), 11, store.StateReceiptSent); j.State != store.StateReceiptSent {
		t.Fatalf("stopped in %s", j.State)
	}
	if txs, _ := h.st.PendingTxs(); len(txs) != 1 {
		t.Fatalf("%d journaled txs at the crash, want the receipt tx", len(txs))
	}
	j := h.runUntil(t, h.service(t, Hooks{}), 11, "")
	if j.State != store.StateIncluded || len(h.chain.submits) != 1 {
		t.Fatalf("job %+v, %d submits\n%s", j, len(h.chain.submits), h.logs)
	}
	if txs, _ := h.st.PendingTxs(); len(txs) != 0 {
		t.Fatalf("journaled txs left after inclusion: %+v", txs)
	}
}
