package verifier

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/attribution"
	"github.com/openledger/openledger/inference/batchrecord"
	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/executor"
	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/provider/verifier/verifiertest"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

var (
	servedOnce sync.Once
	theServed  *verifiertest.Served
)

// served is the fixture's session: request 1 settled before, requests 2–4
// covered by the settlement (served once, copied per case).
func served(t *testing.T) *verifiertest.Served {
	w := getWorld(t)
	servedOnce.Do(func() { theServed = w.Serve(t, 3) })
	if theServed == nil {
		t.Fatal("serving the session failed")
	}
	return theServed.Clone()
}

// settle publishes the served requests' record and returns the settlement.
func settle(t *testing.T, s *verifiertest.Served) (inferencetypes.SessionSettlement, batchrecord.Record) {
	rec := s.Record(t)
	return getWorld(t).Settle(t, rec, verifiertest.Encode(t, rec)), rec
}

func verifySettlement(t *testing.T, s *verifiertest.Served, st inferencetypes.SessionSettlement) SettlementVerdict {
	t.Helper()
	w := getWorld(t)
	v, err := New(w.NewPool(t), s.SessionChain(st), w.St, Config{RecordFetchTimeout: 10 * time.Second}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sv, err := v.VerifySettlement(context.Background(), st.Id)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(sv.String())
	return sv
}

// forgeOutput replaces request 2+i's output with text the model did not
// write, attributed honestly (its record on IPFS), the token counts kept.
func forgeOutput(t *testing.T, s *verifiertest.Served, i int) {
	w := getWorld(t)
	forged := []byte("The answer is whatever the provider felt like writing.\n")
	cid, _, err := w.AddBytes(forged)
	if err != nil {
		t.Fatal(err)
	}
	rc := s.Receipts[i]
	rec, sum, err := w.NewPool(t).AttributeOutput(context.Background(),
		executor.Job{DeploymentID: 1, ModelID: rc.ModelID, ModelVersion: rc.ModelVersion}, forged, verifiertest.SessionTopK)
	if err != nil {
		t.Fatal(err)
	}
	if rc.RecordCID, _, err = w.AddBytes(rec); err != nil {
		t.Fatal(err)
	}
	rc.OutputCID, rc.OutputSHA256, rc.Summary = cid, sha256.Sum256(forged), inferencetypes.VoucherSummary(sum)
	s.Receipts[i] = s.Sign(t, rc)
	s.Requests[i].Output = forged
}

// honestMerge is the merge of the honest receipts' summaries.
func honestMerge(t *testing.T) rewardstypes.AttributionSummary {
	return batchrecord.MergeSummaries(served(t).Receipts, verifiertest.SessionTopK)
}

func wantSV(t *testing.T, sv SettlementVerdict, out, attr, usage Status, reason string) {
	t.Helper()
	got := []Status{sv.Output.Status, sv.Attribution.Status, sv.Usage.Status}
	if !slices.Equal(got, []Status{out, attr, usage}) {
		t.Fatalf("checks %v, want %v: %s", got, []Status{out, attr, usage}, sv)
	}
	if reason != "" && !strings.Contains(sv.String(), reason) {
		t.Fatalf("no %q in %s", reason, sv)
	}
}

func TestSettlementVerification(t *testing.T) {
	P, F, U := Pass, Fail, Unknown
	for _, c := range []struct {
		name string
		// forge changes the served requests before the record is built.
		forge func(t *testing.T, s *verifiertest.Served)
		// raw replaces the record's bytes.
		raw func(t *testing.T, rec batchrecord.Record) []byte
		// settle changes the settlement the provider posts.
		settle         func(st *inferencetypes.SessionSettlement)
		out, attr, use Status
		reason         string
		check          func(t *testing.T, st inferencetypes.SessionSettlement, sv SettlementVerdict)
	}{
		{name: "honest settlement holds", out: P, attr: P, use: P, check: func(t *testing.T, st inferencetypes.SessionSettlement, sv SettlementVerdict) {
			if len(sv.Requests) != 3 || len(st.Summary.Top) == 0 {
				t.Fatalf("%d requests, summary %s: the attribution is not exercised", len(sv.Requests), SummaryString(st.Summary))
			}
			for _, vd := range sv.Requests {
				if vd.Method != MethodReexecute || !vd.OK() {
					t.Fatalf("%s (%s)", vd, vd.Method)
				}
			}
			out, tokens, cid, sum := sv.Established()
			if out != hex.EncodeToString(st.ReceiptsRoot) || tokens != st.Tokens || cid != st.RecordCid || summaryDiff(sum, st.Summary) != "" ||
				sv.Correction != nil {
				t.Fatalf("established %s %d %s %s", out, tokens, cid, SummaryString(sum))
			}
		}},
		{name: "forged output of one request", forge: func(t *testing.T, s *verifiertest.Served) { forgeOutput(t, s, 1) },
			out: F, attr: P, use: P, reason: "request 3: re-execution", check: func(t *testing.T, st inferencetypes.SessionSettlement, sv SettlementVerdict) {
				h := sha256.New()
				h.Write([]byte(SettlementOutputsDomain))
				for _, rc := range served(t).Receipts {
					h.Write(rc.OutputSHA256[:])
				}
				out, tokens, _, _ := sv.Established()
				if out != hex.EncodeToString(h.Sum(nil)) || out == hex.EncodeToString(st.ReceiptsRoot) || tokens != st.Tokens {
					t.Fatalf("established output %s tokens %d", out, tokens)
				}
			}},
		{name: "usage over-count of one request", forge: func(t *testing.T, s *verifiertest.Served) {
			rc := s.Receipts[0]
			rc.CompletionTokens += 10
			s.Receipts[0] = s.Sign(t, rc)
		}, out: P, attr: P, use: F, reason: "over-counted by 10 tokens", check: func(t *testing.T, st inferencetypes.SessionSettlement, sv SettlementVerdict) {
			if out, tokens, _, _ := sv.Established(); tokens != st.Tokens-10 || out != hex.EncodeToString(st.ReceiptsRoot) {
				t.Fatalf("established %s, %d tokens of %d", out, tokens, st.Tokens)
			}
		}},
		{name: "a receipt credits its provider", forge: func(t *testing.T, s *verifiertest.Served) { getWorld(t).SelfCredit(t, s, 1) },
			out: P, attr: F, use: P, reason: "request 3: top entry 0 credits 1/1/13", check: wantCorrection([]uint64{3})},
		{name: "settlement summary credits the provider over honest receipts", settle: func(st *inferencetypes.SessionSettlement) {
			st.Summary = rewardstypes.AttributionSummary{RecordSha256: st.Summary.RecordSha256,
				Top: []rewardstypes.ContributionWeight{{DatanetId: 1, Version: 1, ContributionId: 13, Ppm: 1_000_000}}}
		}, out: P, attr: F, use: P, reason: "not the merge of its receipts'", check: wantCorrection(nil)},
		// The provider rotated its peer key after serving: the receipts are
		// bound by the root the requester signed, not by today's key.
		{name: "a receipt signed by a key the provider no longer registers", forge: func(t *testing.T, s *verifiertest.Served) {
			priv := ed25519.NewKeyFromSeed(sha256.New().Sum(nil))
			k, err := libp2pcrypto.UnmarshalEd25519PrivateKey(priv)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := voucher.SignReceipt(s.Receipts[2], k)
			if err != nil {
				t.Fatal(err)
			}
			s.Receipts[2] = rc
		}, out: P, attr: P, use: P},
		{name: "wrong receipts root", settle: func(st *inferencetypes.SessionSettlement) {
			d := sha256.Sum256([]byte("another voucher"))
			st.ReceiptsRoot = d[:]
		}, out: U, attr: F, use: U, reason: "its receipts give root", check: wantNothingEstablished},
		{name: "record sha256 is not the summary's", settle: func(st *inferencetypes.SessionSettlement) {
			st.Summary.RecordSha256 = strings.Repeat("0", 64)
		}, out: U, attr: F, use: U, reason: "the settlement's summary names 0000", check: wantNothingEstablished},
		{name: "record does not decode", raw: func(*testing.T, batchrecord.Record) []byte { return []byte(`{"format":"something else"}`) },
			out: U, attr: F, use: U, reason: "malformed record", check: wantNothingEstablished},
		{name: "record of another voucher", raw: func(t *testing.T, rec batchrecord.Record) []byte {
			rec.Sequence = 4
			return verifiertest.Encode(t, rec)
		}, out: U, attr: F, use: U, reason: "voucher 4; the settlement is of session 1 voucher 3", check: wantNothingEstablished},
		{name: "record unavailable", settle: func(st *inferencetypes.SessionSettlement) {
			art, err := attribution.ReaderArtifact(strings.NewReader("never added to IPFS"))
			if err != nil {
				panic(err)
			}
			st.RecordCid = art.Cid
		}, out: U, attr: U, use: U, reason: "the batch record is unavailable", check: func(t *testing.T, st inferencetypes.SessionSettlement, sv SettlementVerdict) {
			wantNothingEstablished(t, st, sv)
			if !sv.RecordUnavailable {
				t.Fatal("the record is not reported unavailable")
			}
		}},
		{name: "a paying settlement names no record", settle: func(st *inferencetypes.SessionSettlement) {
			st.RecordCid, st.Amount = "", sdk.NewInt64Coin("uopen", 10)
		}, out: U, attr: U, use: U, reason: "names no batch record", check: func(t *testing.T, st inferencetypes.SessionSettlement, sv SettlementVerdict) {
			wantNothingEstablished(t, st, sv)
			if !sv.RecordUnavailable {
				t.Fatal("a paying settlement without a record is not reported unavailable")
			}
		}},
		{name: "a settlement paying nothing names no record", settle: func(st *inferencetypes.SessionSettlement) {
			st.RecordCid, st.Summary, st.Amount = "", rewardstypes.AttributionSummary{}, sdk.NewInt64Coin("uopen", 0)
		}, out: U, attr: U, use: U, reason: "names no batch record", check: func(t *testing.T, st inferencetypes.SessionSettlement, sv SettlementVerdict) {
			wantNothingEstablished(t, st, sv)
			if sv.RecordUnavailable {
				t.Fatal("a settlement paying nothing is reported unavailable")
			}
		}},
		{name: "a request served by another model", forge: func(t *testing.T, s *verifiertest.Served) {
			rc := s.Receipts[2]
			rc.ModelID = 2
			s.Receipts[2] = s.Sign(t, rc)
		}, out: F, attr: U, use: U, reason: "request 4: the receipt names model 2; the session's deployment 1 serves model 1"},
		{name: "a request of an external engine is scored", forge: func(t *testing.T, s *verifiertest.Served) {
			rc := s.Receipts[1]
			rc.EngineName, rc.EngineVersion = "vllm", "0.6.3"
			s.Receipts[1] = s.Sign(t, rc)
		}, out: P, attr: P, use: P, check: func(t *testing.T, _ inferencetypes.SessionSettlement, sv SettlementVerdict) {
			if sv.Requests[1].Method != MethodScore || sv.Requests[0].Method != MethodReexecute {
				t.Fatalf("methods %s, %s", sv.Requests[0].Method, sv.Requests[1].Method)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := served(t)
			if c.forge != nil {
				c.forge(t, s)
			}
			rec := s.Record(t)
			raw := verifiertest.Encode(t, rec)
			if c.raw != nil {
				raw = c.raw(t, rec)
			}
			st := getWorld(t).Settle(t, rec, raw)
			if c.settle != nil {
				c.settle(&st)
			}
			sv := verifySettlement(t, s, st)
			wantSV(t, sv, c.out, c.attr, c.use, c.reason)
			if c.check != nil {
				c.check(t, st, sv)
			}
		})
	}
}

// wantNothingEstablished: the vote's result is empty (nothing recomputed).
func wantNothingEstablished(t *testing.T, _ inferencetypes.SessionSettlement, sv SettlementVerdict) {
	t.Helper()
	if out, tokens, cid, sum := sv.Established(); out != "" || tokens != 0 || cid != "" || !summaryEmpty(sum) || sv.Correction != nil {
		t.Fatalf("established %q %d %q %s", out, tokens, cid, SummaryString(sum))
	}
}

// wantCorrection: the vote carries a corrected record whose summary is the
// honest merge, with corrections for the given requests, its record_sha256
// the corrected record's.
func wantCorrection(requests []uint64) func(*testing.T, inferencetypes.SessionSettlement, SettlementVerdict) {
	return func(t *testing.T, st inferencetypes.SessionSettlement, sv SettlementVerdict) {
		t.Helper()
		c := sv.Correction
		if c == nil {
			t.Fatal("no correction")
		}
		honest := honestMerge(t)
		if summaryDiff(withoutSHA(c.Summary), honest) != "" || c.Summary.RecordSha256 != verifiertest.RecordSHA(c.Record) {
			t.Fatalf("corrected summary %s, honest merge %s", SummaryString(c.Summary), SummaryString(honest))
		}
		rec, err := batchrecord.Decode(c.Record)
		if err != nil {
			t.Fatal(err)
		}
		var got []uint64
		for _, k := range rec.Corrections {
			got = append(got, k.RequestSeq)
			// The recomputed record is the honest one: same CID.
			if want := served(t).Receipts[k.RequestSeq-2].RecordCID; k.RecordCID != want {
				t.Fatalf("correction of request %d names %s, the honest record is %s", k.RequestSeq, k.RecordCID, want)
			}
		}
		if !slices.Equal(got, requests) || len(c.Artifacts) != len(requests) {
			t.Fatalf("corrections of %v (%d artifacts), want %v", got, len(c.Artifacts), requests)
		}
		art, err := attribution.ReaderArtifact(strings.NewReader(string(c.Record)))
		if err != nil || art.Cid != c.RecordCID {
			t.Fatalf("record CID %s, bytes' %s (%v)", c.RecordCID, art.Cid, err)
		}
		if out, tokens, cid, sum := sv.Established(); out != hex.EncodeToString(st.ReceiptsRoot) || tokens != st.Tokens ||
			cid != c.RecordCID || summaryDiff(sum, c.Summary) != "" {
			t.Fatalf("established %s %d %s %s", out, tokens, cid, SummaryString(sum))
		}
	}
}

func withoutSHA(s rewardstypes.AttributionSummary) rewardstypes.AttributionSummary {
	s.RecordSha256 = ""
	return s
}

// RecomputeGeneration runs the version it is given, not the deployment's
// current one: deployment 1 serves the span version, yet a request's
// generation recomputed on the LoRA version gives what deployment 2 (the LoRA
// version) served for the same request, and differs from deployment 1's.
func TestRecomputeGenerationRunsTheNamedVersion(t *testing.T) {
	w := getWorld(t)
	ctx := context.Background()
	q := served(t).Requests[1]
	g, err := openai.ReplayGeneration(q.Endpoint, q.Body, q.MaxTokens)
	if err != nil {
		t.Fatal(err)
	}
	prov := w.NewPool(t)
	g2 := g
	g2.DeploymentID = 2
	lora, err := prov.Generate(ctx, g2)
	if err != nil {
		t.Fatal(err)
	}
	if lora.ModelVersion != verifiertest.VLoRA {
		t.Fatalf("deployment 2 ran version %d", lora.ModelVersion)
	}
	rc, err := w.NewPool(t).RecomputeGeneration(ctx, g, 1, verifiertest.VLoRA, verifiertest.SessionTopK)
	if err != nil {
		t.Fatal(err)
	}
	if rc.OutputSHA256 != lora.OutputSHA256 || rc.PromptTokens != lora.PromptTokens || rc.CompletionTokens != lora.CompletionTokens {
		t.Fatalf("recomputed on the LoRA version: %x %d+%d; deployment 2 served %x %d+%d", rc.OutputSHA256, rc.PromptTokens,
			rc.CompletionTokens, lora.OutputSHA256, lora.PromptTokens, lora.CompletionTokens)
	}
	if rc.OutputSHA256 == sha256.Sum256(q.Output) {
		t.Fatal("the LoRA version gives the span version's output: the test does not tell versions apart")
	}
	if rc.Engine <= 0 || rc.Total < rc.Engine {
		t.Fatalf("times: engine %s total %s", rc.Engine, rc.Total)
	}
}
