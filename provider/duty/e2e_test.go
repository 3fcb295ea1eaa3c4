package duty_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/p2p"
	"github.com/openledger/openledger/provider/backend"
	"github.com/openledger/openledger/provider/duty"
	"github.com/openledger/openledger/provider/executor"
	"github.com/openledger/openledger/provider/internal/chaintest"
	"github.com/openledger/openledger/provider/store"
	"github.com/openledger/openledger/provider/verifier/verifiertest"
	"github.com/openledger/openledger/testutil/e2e"
	"github.com/openledger/openledger/x/inference/types"
)

const stake = 10_000_000 // uopen bonded by each provider

// TestCommitteeDutyOnChain: a real chain (the openledgerd binary on loopback)
// with the verifier tests' tiny model published and deployed; erin wins a job
// and posts a receipt whose output is forged (honestly attributed, signed with
// her identity); alice challenges it (output mismatch). The committee drawn is
// frank and grace, whose committee duty (provider/duty over their own chain
// clients and stores, verifying on IPFS) re-executes the job, commits, reveals;
// the dispute is UPHELD, erin is slashed, the members are rewarded and not
// slashed. Then erin's honest receipt of a second job is challenged (usage
// over-count): REJECTED, the challenger loses its bond.
func TestCommitteeDutyOnChain(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a chain")
	}
	w, err := verifiertest.Build()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(w.Dir) })
	c := e2e.StartChainWithGenesis(t, func(app map[string]any) {
		p := app["inference"].(map[string]any)["params"].(map[string]any)
		p["challenge_window_blocks"] = "150"
		p["commit_blocks"], p["reveal_blocks"] = "25", "25"
		p["committee_size"], p["min_committee_size"] = json.Number("2"), json.Number("2")
		p["audit_bps"] = json.Number("0")
	})
	ctx := context.Background()
	for _, k := range []string{"dave", "erin", "frank", "grace", "gina"} {
		if _, err := c.Run("keys", "add", k, "--keyring-backend", "test", "--output", "json"); err != nil {
			t.Fatal(err)
		}
	}
	alice := c.Address("alice")
	c.MustTx("alice", "bank", "multi-send", "alice", c.Address("dave"), c.Address("erin"), c.Address("frank"),
		c.Address("grace"), c.Address("gina"), "50000000uopen")

	// A datanet version, the world's checkpoint published on it and deployed.
	res := c.MustTx("alice", "datanet", "create", "Fortunes", "CC-BY-4.0", "--curators", alice, "--quorum", "1",
		"--review-window", "500", "--deposit", "1000uopen", "--min-contributions", "1")
	dn := res.Attr("openledger.datanet.v1.EventDatanetCreated", "datanet_id")
	text := "A journey of a thousand miles begins with a single step.\n"
	digest, ccid := rawCID(t, []byte(text))
	res = c.MustTx("gina", "datanet", "submit", dn, ccid, digest, strconv.Itoa(len(text)), "1", "text/plain")
	c.MustTx("alice", "datanet", "review", res.Attr("openledger.datanet.v1.EventContributionSubmitted", "contribution_id"), "approve")
	c.MustTx("alice", "datanet", "create-version", dn)
	res = c.MustTx("dave", "models", "create", "Tiny fortunes", "text-generation", "MIT")
	model := res.Attr("openledger.models.v1.EventModelCreated", "model_id")
	v, err := w.Models.ModelVersion(ctx, 1, verifiertest.VNoAttrib)
	if err != nil {
		t.Fatal(err)
	}
	manSHA, manCID := rawCID(t, []byte(`{"manifest":"tiny fortunes"}`))
	c.MustTx("dave", "models", "publish", model, "pretrain", v.ArtifactCid, v.ArtifactSha256, strconv.FormatUint(v.ArtifactSize, 10),
		manCID, manSHA, checkpoint.EngineName, checkpoint.EngineVersion, "--dataset-versions", `{"datanet_id":"`+dn+`","version":"1"}`)
	res = c.MustTx("dave", "models", "deploy", model, "1", "100uopen", "3000", "7000")
	dep := res.Attr("openledger.models.v1.EventDeploymentCreated", "deployment_id")

	// Three providers with offers: erin serves, frank and grace sit on committees.
	dir := t.TempDir()
	identity := func(name string) string { return filepath.Join(dir, name, "identity.key") }
	for i, name := range []string{"erin", "frank", "grace"} {
		c.MustTx(name, "inference", "register-provider", "--stake", fmt.Sprintf("%duopen", stake),
			"--multiaddr", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 4301+i), "--engine", checkpoint.EngineName,
			"--accelerator", "cpu", "--count", "1", "--provider-name", name, "--identity", identity(name))
		c.MustTx(name, "inference", "set-offer", dep, "1000uopen", "--max-concurrency", "2")
	}

	// Committee duty of frank and grace: their own clients, stores and pools.
	members := map[string]*duty.Service{}
	for _, name := range []string{"frank", "grace"} {
		st, err := store.Open(t.TempDir(), nil, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		cl := chaintest.Client(t, c, name, st)
		s, err := duty.ForDaemon(duty.DaemonEnv{Client: cl, Store: st, IPFS: w.St, CacheDir: t.TempDir(),
			Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		members[name] = s
	}
	erinCl := chaintest.Client(t, c, "erin", nil)
	erinKey, err := p2p.LoadOrCreateIdentity(identity("erin"))
	if err != nil {
		t.Fatal(err)
	}
	// erin's executor: the built-in engine over the chain's model versions.
	erinPool, err := executor.New(executor.Config{CacheDir: t.TempDir()}, executor.Deps{Storage: w.St,
		Models: executor.ChainModels{Query: erinCl.Models()}, Backends: []backend.Backend{backend.NewBuiltin("")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer erinPool.Close()

	// A job for erin: gina posts the prompt (on IPFS already), erin alone bids.
	newJob := func(seed int) (string, types.Job) {
		res := c.MustTx("gina", "inference", "create-job", dep, "--input-cid", w.InputCID, "--input-sha256", w.InputSHA,
			"--max-tokens", "90", "--max-price", "2000uopen", "--bid-window", "15", "--execution-blocks", "100",
			"--temperature", "0.8", "--top-k", "40", "--seed", strconv.Itoa(seed))
		job := res.Attr("openledger.inference.v1.EventJobCreated", "job_id")
		c.MustTx("erin", "inference", "bid", job, "1000uopen")
		var j types.QueryJobResponse
		waitFor(t, "job "+job+" awarded", func() bool {
			r, err := erinCl.Inference().Job(ctx, &types.QueryJobRequest{JobId: mustUint(t, job)})
			if err != nil {
				t.Fatal(err)
			}
			j = *r
			return j.Job.Status == types.JOB_STATUS_AWARDED
		})
		return job, j.Job
	}
	// submit posts erin's receipt for a result, signed with her identity.
	submit := func(j types.Job, r executor.Result) {
		rc := verifiertest.ReceiptOf(j, r)
		rc.Provider = erinCl.Address()
		vr, err := voucher.SignReceipt(voucher.Receipt{ChainID: e2e.ChainID, Provider: rc.Provider, JobID: j.Id,
			OutputCID: rc.OutputCid, OutputSHA256: r.OutputSHA256, PromptTokens: rc.PromptTokens, CompletionTokens: rc.CompletionTokens,
			EngineName: rc.EngineName, EngineVersion: rc.EngineVersion, ModelID: j.ModelId, ModelVersion: j.ModelVersion,
			RecordCID: rc.RecordCid, Summary: types.VoucherSummary(rc.Summary)}, erinKey)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := erinCl.SubmitAndWait(ctx, "receipt", &types.MsgSubmitReceipt{Provider: rc.Provider, JobId: j.Id,
			OutputCid: rc.OutputCid, OutputSha256: rc.OutputSha256, PromptTokens: rc.PromptTokens, CompletionTokens: rc.CompletionTokens,
			EngineName: rc.EngineName, EngineVersion: rc.EngineVersion, RecordCid: rc.RecordCid, Summary: rc.Summary, Signature: vr.Signature,
		}); err != nil {
			t.Fatal(err)
		}
	}
	// resolve runs both members' duty until the dispute is decided.
	resolve := func(job string) types.Dispute {
		var d types.Dispute
		waitFor(t, "dispute on job "+job+" resolved", func() bool {
			for name, s := range members {
				if err := s.Step(ctx); err != nil {
					t.Logf("%s: %v", name, err)
				}
			}
			r, err := erinCl.Inference().DisputeByTarget(ctx, &types.QueryDisputeByTargetRequest{TargetKind: types.TARGET_KIND_JOB_RECEIPT, TargetId: mustUint(t, job)})
			if err != nil {
				return false
			}
			d = r.Dispute
			return d.Status == types.DISPUTE_STATUS_RESOLVED
		})
		return d
	}

	// 1. A forged output, attributed honestly, challenged for output mismatch.
	job, j := newJob(1)
	forged := []byte("Fortune favours whoever writes the receipt.")
	forgedCID, forgedSHA, err := w.AddBytes(forged)
	if err != nil {
		t.Fatal(err)
	}
	rec, summary, err := erinPool.AttributeOutput(ctx, verifiertest.ExecJob(j), forged, 16)
	if err != nil {
		t.Fatal(err)
	}
	recCID, _, err := w.AddBytes(rec)
	if err != nil {
		t.Fatal(err)
	}
	var outSum [32]byte
	copy(outSum[:], mustHex(t, forgedSHA))
	submit(j, executor.Result{OutputCID: forgedCID, OutputSHA256: outSum, Output: forged, PromptTokens: 20, CompletionTokens: 12,
		EngineName: checkpoint.EngineName, EngineVersion: checkpoint.EngineVersion, RecordCID: recCID, Summary: summary})
	c.MustTx("alice", "inference", "challenge", "job-receipt", job, "output-mismatch", "100000uopen")
	d := resolve(job)
	t.Logf("dispute %d: %s (%s), upheld %s / rejected %s, erin slashed %s, voters %s", d.Id, d.Outcome, d.Reason,
		d.UpheldWeight, d.RejectedWeight, d.ProviderSlashed, d.VoterRewards)
	if d.Outcome != types.DISPUTE_OUTCOME_UPHELD || !d.ProviderSlashed.IsPositive() || !d.VoterRewards.IsPositive() ||
		d.UpheldWeight.Int64() != 2*stake || len(d.Committee) != 2 {
		t.Fatalf("forged output: %+v", d)
	}
	votes, err := erinCl.Inference().Votes(ctx, &types.QueryVotesRequest{DisputeId: d.Id})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range votes.Votes {
		if !v.Revealed || !v.Vote.ClaimHolds || v.Vote.Result.OutputSha256 == forgedSHA || len(v.Vote.Result.OutputSha256) != 64 {
			t.Fatalf("vote %+v", v)
		}
	}
	for _, name := range []string{"frank", "grace"} {
		s, err := erinCl.Inference().ProviderSlashes(ctx, &types.QueryProviderSlashesRequest{Operator: c.Address(name)})
		if err != nil || len(s.Slashes) != 0 {
			t.Fatalf("%s slashed: %+v %v", name, s, err)
		}
	}

	// 2. An honest receipt challenged for usage over-count: rejected.
	job, j = newJob(2)
	honest, err := erinPool.Execute(ctx, verifiertest.ExecJob(j))
	if err != nil {
		t.Fatal(err)
	}
	submit(j, honest)
	c.MustTx("gina", "inference", "challenge", "job-receipt", job, "usage-overcount", "100000uopen")
	d = resolve(job)
	t.Logf("dispute %d: %s (%s), bond slashed %s", d.Id, d.Outcome, d.Reason, d.BondSlashed)
	if d.Outcome != types.DISPUTE_OUTCOME_REJECTED || !d.BondSlashed.IsPositive() || d.RejectedWeight.Int64() != 2*stake {
		t.Fatalf("honest receipt: %+v", d)
	}
}

func rawCID(t *testing.T, b []byte) (string, string) {
	t.Helper()
	sum := sha256.Sum256(b)
	hash, err := mh.Encode(sum[:], mh.SHA2_256)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(sum[:]), cid.NewCidV1(cid.Raw, hash).String()
}

func mustUint(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitFor polls cond every 300 ms for up to 3 minutes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 3 minutes", what)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
