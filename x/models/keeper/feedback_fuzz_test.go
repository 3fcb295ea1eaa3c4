package keeper_test

import (
	"testing"

	errorsmod "cosmossdk.io/errors"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/models/types"
)

// FuzzSubmitFeedbackSession throws arbitrary receipts and proofs at a real session
// settlement: the msg server never panics, fails with a models error, and accepts
// only the genuine receipt of a request of the settlement with its true proof.
func FuzzSubmitFeedbackSession(f *testing.F) {
	e := newFbEnv(f)
	sess, settlement, reqs, ctx := e.session(e.ctx, fbRequester, 5)
	for i, r := range reqs {
		var proof []byte
		for _, h := range r.proof {
			proof = append(proof, h...)
		}
		f.Add(r.receipt, proof, uint64(i))
	}
	f.Add([]byte("garbage"), make([]byte, 64), uint64(0))
	genuine := map[string]bool{}
	for _, r := range reqs {
		genuine[string(r.receipt)] = true
	}
	f.Fuzz(func(t *testing.T, receipt, proof []byte, settlementDelta uint64) {
		var hashes [][]byte
		for len(proof) > 0 {
			n := min(len(proof), 32)
			hashes, proof = append(hashes, proof[:n]), proof[n:]
		}
		msg := &types.MsgSubmitFeedback{
			Rater: e.addr(fbRequester), SessionId: sess, SettlementId: settlement + settlementDelta%3,
			Receipt: receipt, Proof: hashes, Rating: types.FEEDBACK_RATING_UP,
		}
		_, err := e.models.SubmitFeedback(tk.Branch(ctx), msg)
		if err == nil {
			if !genuine[string(receipt)] || msg.SettlementId != settlement {
				t.Fatalf("accepted a forged inclusion: receipt %x under settlement %d", receipt, msg.SettlementId)
			}
			return
		}
		if codespace, _, _ := errorsmod.ABCIInfo(err, false); codespace != types.ModuleName {
			t.Fatalf("error outside the models codespace: %v", err)
		}
	})
}
