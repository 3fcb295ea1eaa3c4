package types_test

import (
	"errors"
	"testing"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/models/types"
)

const (
	fbCID   = "bafkreie2ckidrwnablwqz5vh5iczzjikqe2esbq2xb4erty2cpvp34z3fq"
	fbSHA   = "9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c"
	fbOther = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
)

func TestFeedbackCheckFields(t *testing.T) {
	hash := make([]byte, 32)
	session := func(edit func(*types.MsgSubmitFeedback)) *types.MsgSubmitFeedback {
		m := &types.MsgSubmitFeedback{SessionId: 1, SettlementId: 2, Receipt: []byte{1}, Proof: [][]byte{hash}, Rating: types.FEEDBACK_RATING_UP}
		edit(m)
		return m
	}
	job := func(edit func(*types.MsgSubmitFeedback)) *types.MsgSubmitFeedback {
		m := &types.MsgSubmitFeedback{JobId: 1, Rating: types.FEEDBACK_RATING_DOWN}
		edit(m)
		return m
	}
	none := func(*types.MsgSubmitFeedback) {}
	record := func(m *types.MsgSubmitFeedback) { m.RecordCid, m.RecordSha256, m.RecordSize = fbCID, fbSHA, 10 }
	cases := []struct {
		name string
		msg  *types.MsgSubmitFeedback
		want error
	}{
		{"job rating", job(none), nil},
		{"session rating", session(none), nil},
		{"job with record and comparison", job(func(m *types.MsgSubmitFeedback) { record(m); m.ChosenCid, m.RejectedCid = fbCID, fbOther }), nil},
		{"both job and session", job(func(m *types.MsgSubmitFeedback) { m.SessionId = 1 }), types.ErrInvalidField},
		{"neither", job(func(m *types.MsgSubmitFeedback) { m.JobId = 0 }), types.ErrInvalidField},
		{"job with a proof", job(func(m *types.MsgSubmitFeedback) { m.Proof = [][]byte{hash} }), types.ErrInvalidField},
		{"job with a settlement", job(func(m *types.MsgSubmitFeedback) { m.SettlementId = 1 }), types.ErrInvalidField},
		{"session without settlement", session(func(m *types.MsgSubmitFeedback) { m.SettlementId = 0 }), types.ErrInvalidField},
		{"session without receipt", session(func(m *types.MsgSubmitFeedback) { m.Receipt = nil }), types.ErrInvalidProof},
		{"short proof hash", session(func(m *types.MsgSubmitFeedback) { m.Proof = [][]byte{hash[:31]} }), types.ErrInvalidProof},
		{"proof too long", session(func(m *types.MsgSubmitFeedback) { m.Proof = make([][]byte, types.MaxProofHashes+1) }), types.ErrInvalidProof},
		{"no rating", job(func(m *types.MsgSubmitFeedback) { m.Rating = 0 }), types.ErrInvalidField},
		{"unknown rating", job(func(m *types.MsgSubmitFeedback) { m.Rating = 3 }), types.ErrInvalidField},
		{"bad record cid", job(func(m *types.MsgSubmitFeedback) { record(m); m.RecordCid = "nope" }), types.ErrInvalidCID},
		{"record without digest", job(func(m *types.MsgSubmitFeedback) { record(m); m.RecordSha256 = "" }), types.ErrInvalidDigest},
		{"record without size", job(func(m *types.MsgSubmitFeedback) { record(m); m.RecordSize = 0 }), types.ErrInvalidSize},
		{"digest without record", job(func(m *types.MsgSubmitFeedback) { m.RecordSha256 = fbSHA }), types.ErrInvalidField},
		{"chosen without rejected", job(func(m *types.MsgSubmitFeedback) { m.ChosenCid = fbCID }), types.ErrInvalidField},
		{"chosen equals rejected", job(func(m *types.MsgSubmitFeedback) { m.ChosenCid, m.RejectedCid = fbCID, fbCID }), types.ErrInvalidField},
		{"bad preferred completion", job(func(m *types.MsgSubmitFeedback) { m.PreferredCompletionCid = "x" }), types.ErrInvalidCID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.msg.CheckFields()
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzFeedbackCheckFields: CheckFields never panics, and what it accepts is well
// formed: exactly one inference, a defined rating, 32-byte proof hashes, a record
// with its digest and size.
func FuzzFeedbackCheckFields(f *testing.F) {
	f.Add(uint64(1), uint64(0), uint64(0), []byte{}, []byte{}, int32(1), fbCID, fbSHA, uint64(3), "", "", "")
	f.Add(uint64(0), uint64(2), uint64(3), []byte{1, 2}, make([]byte, 64), int32(2), "", "", uint64(0), fbCID, fbCID, fbOther)
	f.Fuzz(func(t *testing.T, job, session, settlement uint64, receipt, proof []byte, rating int32,
		recordCID, recordSHA string, size uint64, preferred, chosen, rejected string,
	) {
		var hashes [][]byte
		for len(proof) > 0 {
			n := min(len(proof), 32)
			hashes, proof = append(hashes, proof[:n]), proof[n:]
		}
		msg := &types.MsgSubmitFeedback{
			JobId: job, SessionId: session, SettlementId: settlement, Receipt: receipt, Proof: hashes,
			Rating: types.FeedbackRating(rating), RecordCid: recordCID, RecordSha256: recordSHA, RecordSize: size,
			PreferredCompletionCid: preferred, ChosenCid: chosen, RejectedCid: rejected,
		}
		got, err := msg.CheckFields()
		if err != nil {
			return
		}
		if (job > 0) == (session > 0) || (msg.Rating != types.FEEDBACK_RATING_UP && msg.Rating != types.FEEDBACK_RATING_DOWN) {
			t.Fatalf("accepted %+v", msg)
		}
		if len(got.Proof) != len(hashes) || (got.RecordCID != "") != (size > 0) || (got.ChosenCID == "") != (got.RejectedCID == "") {
			t.Fatalf("accepted %+v as %+v", msg, got)
		}
		if session > 0 && got.Kind != types.INFERENCE_KIND_SESSION_REQUEST || job > 0 && got.Kind != types.INFERENCE_KIND_JOB {
			t.Fatalf("kind %s for %+v", got.Kind, msg)
		}
	})
}

func TestQualityGate(t *testing.T) {
	parent := types.Metrics{EvalLossMicro: 2_000_000}
	cases := []struct {
		name      string
		candidate uint64
		tolerance uint32
		parent    types.Metrics
		ok        bool
	}{
		{"better", 1_999_999, 0, parent, true},
		{"equal", 2_000_000, 0, parent, true},
		{"one micro worse", 2_000_001, 0, parent, false},
		{"at a 50 bps tolerance", 2_010_000, 50, parent, true},
		{"beyond a 50 bps tolerance", 2_010_001, 50, parent, false},
		{"no candidate loss", 0, 10_000, parent, false},
		{"no parent loss", 1, 10_000, types.Metrics{}, false},
		// The products exceed 64 bits: the comparison is exact in 128.
		{"huge equal", ^uint64(0), 0, types.Metrics{EvalLossMicro: ^uint64(0)}, true},
		{"huge worse", ^uint64(0), 0, types.Metrics{EvalLossMicro: ^uint64(0) - 1}, false},
		{"huge with tolerance", ^uint64(0), 1, types.Metrics{EvalLossMicro: ^uint64(0) - 1}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := types.QualityGate(tc.parent, types.Metrics{ParentEvalLossMicro: tc.candidate}, tc.tolerance)
			if tc.ok != (err == nil) || err != nil && !errors.Is(err, types.ErrQualityGate) {
				t.Fatalf("got %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestFeedbackParams(t *testing.T) {
	cases := []struct {
		name string
		edit func(*types.Params)
		ok   bool
	}{
		{"default", func(*types.Params) {}, true},
		{"zero window", func(p *types.Params) { p.FeedbackWindowBlocks = 0 }, false},
		{"zero review window", func(p *types.Params) { p.FeedbackReviewWindowBlocks = 0 }, false},
		{"tolerance above 100%", func(p *types.Params) { p.QualityToleranceBps = 10_001 }, false},
		{"tolerance 100%", func(p *types.Params) { p.QualityToleranceBps = 10_000 }, true},
		{"payment in another denom", func(p *types.Params) { p.MinFeedbackPayment = sdk.NewInt64Coin("uatom", 1) }, false},
		{"zero payment floor", func(p *types.Params) { p.MinFeedbackPayment = sdk.NewInt64Coin(types.DefaultRoyaltyDenom, 0) }, true},
		{"requirement too large", func(p *types.Params) { p.FeedbackMinContributors = 1_000_001 }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := types.DefaultParams()
			tc.edit(&p)
			if err := p.Validate(); tc.ok != (err == nil) {
				t.Fatalf("got %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestMetricsValidate(t *testing.T) {
	if err := (types.Metrics{PreferenceAccuracyBps: 10_000}).Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (types.Metrics{PreferenceAccuracyBps: 10_001}).Validate(); !errors.Is(err, types.ErrInvalidBps) {
		t.Fatalf("got %v", err)
	}
}
