package verifier

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/rng"
	"github.com/openledger/openledger/provider/executor"
	"github.com/openledger/openledger/provider/verifier/verifiertest"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// honest runs a job on a provider's pool and returns the job and the receipt
// the daemon would post.
func honest(t *testing.T, w *verifiertest.World, version uint64) (inferencetypes.Job, inferencetypes.Receipt, executor.Result) {
	t.Helper()
	j := w.Job(version)
	res, err := w.NewPool(t).Execute(context.Background(), execJob(j))
	if err != nil {
		t.Fatal(err)
	}
	return j, receiptOf(j, res), res
}

// newVerifier is a committee member: its own pool and cache over the node.
func newVerifier(t *testing.T, w *verifiertest.World, j inferencetypes.Job, r inferencetypes.Receipt) *Verifier {
	t.Helper()
	v, err := New(w.NewPool(t), fakeChain(j, r), w.St, Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func verify(t *testing.T, w *verifiertest.World, j inferencetypes.Job, r inferencetypes.Receipt) Verdict {
	t.Helper()
	vd, err := newVerifier(t, w, j, r).VerifyJob(context.Background(), j.Id)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(vd.String())
	return vd
}

func want(t *testing.T, what string, c Check, st Status, reason string) {
	t.Helper()
	if c.Status != st || !strings.Contains(c.Reason, reason) {
		t.Fatalf("%s: %s %q (claimed %q, recomputed %q); want %s with %q", what, c.Status, c.Reason, c.Claimed, c.Recomputed, st, reason)
	}
}

func TestHonestReceiptPasses(t *testing.T) {
	w := getWorld(t)
	for _, version := range []uint64{vSpan, vNoAttrib, vLoRA} {
		j, r, res := honest(t, w, version)
		vd := verify(t, w, j, r)
		if !vd.OK() || vd.Mismatch() || vd.Method != MethodReexecute {
			t.Fatalf("version %d: %s (method %q)", version, vd, vd.Method)
		}
		if vd.RecomputedSHA256 != r.OutputSha256 || vd.RecomputedPromptTokens != res.PromptTokens ||
			vd.RecomputedCompletionTokens != res.CompletionTokens || summaryDiff(r.Summary, vd.RecomputedSummary) != "" ||
			vd.RecomputedSummary.RecordSha256 != r.Summary.RecordSha256 {
			t.Fatalf("version %d: recomputed %+v, receipt %+v", version, vd, r)
		}
		if sha, p, c := vd.Established(); sha != r.OutputSha256 || p != res.PromptTokens || c != res.CompletionTokens {
			t.Fatalf("version %d: established %s %d %d", version, sha, p, c)
		}
		if version == vSpan && len(r.Summary.Top) == 0 {
			t.Fatal("the span version's receipt credits no contribution: the attribution check is not exercised")
		}
		if vd.Engine <= 0 || vd.Total < vd.Engine {
			t.Fatalf("times: engine %s total %s", vd.Engine, vd.Total)
		}
	}
}

// A different output (its own CID and digest, attributed honestly) fails the
// output check alone.
func TestForgedOutputFails(t *testing.T) {
	w := getWorld(t)
	j, r, _ := honest(t, w, vSpan)
	forged := []byte("The answer is whatever the provider felt like writing.\n")
	cid, sha, err := w.AddBytes(forged)
	if err != nil {
		t.Fatal(err)
	}
	r.OutputCid, r.OutputSha256 = cid, sha
	// The record and summary of the forged output, as an honest attribution of it.
	rec, sum, err := w.NewPool(t).AttributeOutput(context.Background(), execJob(j), forged, len(r.Summary.Top))
	if err != nil {
		t.Fatal(err)
	}
	if r.RecordCid, _, err = w.AddBytes(rec); err != nil {
		t.Fatal(err)
	}
	r.Summary = sum
	vd := verify(t, w, j, r)
	want(t, "output", vd.Output, Fail, "different output")
	want(t, "attribution", vd.Attribution, Pass, "")
	want(t, "usage", vd.Usage, Pass, "")
	if !vd.Mismatch() || vd.RecomputedSHA256 == sha {
		t.Fatalf("verdict %s, recomputed %s", vd, vd.RecomputedSHA256)
	}
}

// The provider (also contributor 13 of the dataset version) rewrites the
// summary to credit itself.
func TestForgedAttributionFails(t *testing.T) {
	w := getWorld(t)
	j, r, _ := honest(t, w, vSpan)
	forgedRec := []byte("contribution 13 did everything")
	cid, _, err := w.AddBytes(forgedRec)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(forgedRec)
	r.RecordCid = cid
	r.Summary = rewardstypes.AttributionSummary{RecordSha256: hex.EncodeToString(d[:]),
		Top:   []rewardstypes.ContributionWeight{{DatanetId: 1, Version: 1, ContributionId: 13, Ppm: 900_000}},
		Pools: []rewardstypes.PoolWeight{{DatanetId: 1, Version: 1, Ppm: 100_000}}}
	vd := verify(t, w, j, r)
	want(t, "output", vd.Output, Pass, "")
	want(t, "usage", vd.Usage, Pass, "")
	want(t, "attribution", vd.Attribution, Fail, "top entry 0 credits 1/1/13 with 900000 ppm")

	// Only the record CID swapped: the summary is honest, the record is not.
	_, r2, _ := honest(t, w, vSpan)
	r2.RecordCid = cid
	vd = verify(t, w, j, r2)
	want(t, "attribution (record CID)", vd.Attribution, Fail, "holds other bytes")
}

func TestInflatedUsageFails(t *testing.T) {
	w := getWorld(t)
	j, r, _ := honest(t, w, vSpan)
	r.CompletionTokens += 10
	vd := verify(t, w, j, r)
	want(t, "usage", vd.Usage, Fail, "over-counted by 10 tokens")
	want(t, "output", vd.Output, Pass, "")
	want(t, "attribution", vd.Attribution, Pass, "")

	_, r, _ = honest(t, w, vSpan)
	r.PromptTokens--
	want(t, "usage (under-count)", verify(t, w, j, r).Usage, Pass, "under-counted by 1")
}

// A receipt of an external engine is not replayed: the claimed output is
// scored. The model's own sample passes; random bytes and another text fail.
func TestExternalEngineScoring(t *testing.T) {
	w := getWorld(t)
	j, r, res := honest(t, w, vSpan)
	r.EngineName, r.EngineVersion = "vllm", "0.6.3"
	vd := verify(t, w, j, r)
	if vd.Method != MethodScore || vd.Score == nil {
		t.Fatalf("method %q", vd.Method)
	}
	t.Logf("true output: %s", vd.Output.Recomputed)
	want(t, "output", vd.Output, Pass, "within the threshold")
	want(t, "attribution", vd.Attribution, Pass, "")
	want(t, "usage", vd.Usage, Pass, "")
	if vd.Score.Tokens == 0 || vd.Score.Z() > 2 {
		t.Fatalf("the true output scores %+v (z %.2f)", *vd.Score, vd.Score.Z())
	}
	honestZ := vd.Score.Z()
	// The recount differs from the engine's count by a few tokens; what the
	// vote establishes is the receipt's own values, so the honest receipt does
	// not read as contradicted on chain.
	if sha, p, c := vd.Established(); sha != r.OutputSha256 || p != r.PromptTokens || c != r.CompletionTokens {
		t.Fatalf("established %s %d %d for receipt %s %d %d", sha, p, c, r.OutputSha256, r.PromptTokens, r.CompletionTokens)
	}

	r2 := rng.New(5)
	junk := make([]byte, len(res.Output))
	for i := range junk {
		junk[i] = byte(' ' + r2.Intn(95))
	}
	for name, out := range map[string][]byte{
		"random printable bytes": junk,
		"another text":           []byte(strings.Repeat("zqxj vwkp ", len(res.Output)/10+1)),
	} {
		jr := r
		cid, sha, err := w.AddBytes(out)
		if err != nil {
			t.Fatal(err)
		}
		jr.OutputCid, jr.OutputSha256 = cid, sha
		vd := verify(t, w, j, jr)
		t.Logf("%s: %s", name, vd.Output.Recomputed)
		want(t, name, vd.Output, Fail, "would not produce this output")
		if sha, _, _ := vd.Established(); sha != "" {
			t.Fatalf("%s: established output %s: the true output is unknown", name, sha)
		}
		if vd.Score.Z() < honestZ+4 {
			t.Fatalf("%s: z %.2f, the true output's %.2f", name, vd.Score.Z(), honestZ)
		}
	}

	// The claimed digest is not the output CID's content.
	bad := r
	bad.OutputSha256 = strings.Repeat("0", 64)
	want(t, "digest", verify(t, w, j, bad).Output, Fail, "holds bytes with sha256")

	// Usage beyond the tolerance of the recount.
	infl := r
	infl.CompletionTokens += 20
	vd = verify(t, w, j, infl)
	want(t, "usage", vd.Usage, Fail, "over-counted")
	if _, p, c := vd.Established(); p != vd.RecomputedPromptTokens || c != vd.RecomputedCompletionTokens {
		t.Fatalf("established %d + %d, recounted %d + %d", p, c, vd.RecomputedPromptTokens, vd.RecomputedCompletionTokens)
	}
}

// A LoRA version's output (adapter over its parent's checkpoint) claimed by
// an external engine is scored with the adapter applied and passes.
func TestExternalEngineScoringLoRA(t *testing.T) {
	w := getWorld(t)
	j, r, _ := honest(t, w, vLoRA)
	r.EngineName, r.EngineVersion = "vllm", "0.6.3"
	vd := verify(t, w, j, r)
	if vd.Method != MethodScore || !vd.OK() {
		t.Fatalf("%s (method %q)", vd, vd.Method)
	}
	t.Logf("LoRA output under the adapter: %s", vd.Output.Recomputed)
}

// Another version of the built-in engine cannot replay bit-exactly: scored.
func TestOtherEngineVersionIsScored(t *testing.T) {
	w := getWorld(t)
	j, r, _ := honest(t, w, vSpan)
	r.EngineName, r.EngineVersion = checkpoint.EngineName, checkpoint.EngineVersion+"-other"
	vd := verify(t, w, j, r)
	if vd.Method != MethodScore || !vd.OK() {
		t.Fatalf("%s (method %q)", vd, vd.Method)
	}
}

func TestVerifyRejectsMismatchedInputs(t *testing.T) {
	w := getWorld(t)
	j, r, _ := honest(t, w, vSpan)
	v := newVerifier(t, w, j, r)
	other := r
	other.JobId = 8
	if _, err := v.Verify(context.Background(), j, other); err == nil {
		t.Fatal("a receipt of another job was verified")
	}
	other = r
	other.ModelVersion = vNoAttrib
	if _, err := v.Verify(context.Background(), j, other); err == nil {
		t.Fatal("a receipt of another model version was verified")
	}
	if _, err := v.VerifyJob(context.Background(), 99); err == nil {
		t.Fatal("a missing job was verified")
	}
	// An input that is not on IPFS: an error (cannot verify), not a verdict.
	missing := j
	missing.InputCid, missing.InputSha256, _ = w.AddBytes([]byte("unrelated"))
	missing.InputSha256 = strings.Repeat("ab", 32)
	if _, err := v.Verify(context.Background(), missing, r); err == nil || !strings.Contains(err.Error(), "digest mismatch") {
		t.Fatalf("an input with the wrong digest: %v", err)
	}
}
