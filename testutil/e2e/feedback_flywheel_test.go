package e2e_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openledger/openledger/cmd/openledgerd/porcelain/demo"
)

// fwJob is `query inference job N`, the fields the flywheel reads.
type fwJob struct {
	Job struct {
		Status       string `json:"status"`
		WinningPrice coin   `json:"winning_price"`
		Royalty      coin   `json:"royalty_per_thousand_tokens"`
		Paid         coin   `json:"paid"`
		ModelVersion num    `json:"model_version"`
	} `json:"job"`
}

type fwReceipt struct {
	Receipt struct {
		OutputCid        string `json:"output_cid"`
		PromptTokens     num    `json:"prompt_tokens"`
		CompletionTokens num    `json:"completion_tokens"`
		SettlementID     num    `json:"settlement_id"`
	} `json:"receipt"`
}

// fwManifest is the part of a training manifest the flywheel reads.
type fwManifest struct {
	Kind       string  `json:"kind"`
	EvalLoss   float64 `json:"eval_loss"`
	TokensSeen int64   `json:"tokens_seen"`
	Base       struct {
		SHA256 string `json:"sha256"`
	} `json:"base"`
	TrainRecords int `json:"train_records"`
	EvalRecords  int `json:"eval_records"`
	Preference   *struct {
		Before struct{ Accuracy, Margin float64 } `json:"before"`
		After  struct{ Accuracy, Margin float64 } `json:"after"`
	} `json:"preference"`
	ParentEval *struct {
		BaseEvalLoss float64 `json:"base_eval_loss"`
		EvalLoss     float64 `json:"eval_loss"`
	} `json:"parent_eval"`
}

type fwVersion struct {
	Version struct {
		Kind             string `json:"kind"`
		UpstreamShareBps num    `json:"upstream_share_bps"`
		Parent           *struct {
			ModelID num `json:"model_id"`
			Version num `json:"version"`
		} `json:"parent"`
		DatasetVersions []struct {
			DatanetID num `json:"datanet_id"`
			Version   num `json:"version"`
		} `json:"dataset_versions"`
		Metrics struct {
			EvalLossMicro         num `json:"eval_loss_micro"`
			ParentEvalLossMicro   num `json:"parent_eval_loss_micro"`
			PreferenceAccuracyBps num `json:"preference_accuracy_bps"`
		} `json:"metrics"`
	} `json:"version"`
}

// TestFeedbackFlywheelLocalnet turns the flywheel once on the localnet with real
// components (runFlywheel), on three jobs: two preferred completions, one from
// each rater, and one rating. The long suite (-tags long) runs it on seven.
func TestFeedbackFlywheelLocalnet(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts the localnet and trains")
	}
	runFlywheel(t, 3, false)
}

// runFlywheel turns the flywheel once on the localnet with real components:
// jobs served by the provider daemon (built-in engine) → their requesters rate
// them and submit preferred completions (`feedback rate|prefer`) → the
// deployment owner curates the feedback datanet and freezes a version → a DPO
// fine-tune of the deployed chain version on that dataset version (`model train
// --kind dpo --base M/V --dataset-version FD/1`) → published (parent from the
// manifest's base, the feedback version as data, half the data share upstream)
// → `tx models update-deployment --new-version` passes the quality gate, while a
// regressing fine-tune is refused → a later paid job on the new version credits
// the raters and the original contributors, each exactly what the share table,
// the settlement and the pool rule give. The last of the jobs is only rated.
// With badBases, `model train --base` is also shown versions it must refuse: a
// LoRA adapter, and a version whose recorded sha256 is not its artifact's.
func runFlywheel(t *testing.T, jobs int, badBases bool) {
	start := time.Now()
	logf := func(format string, args ...any) {
		t.Helper()
		t.Logf("[%3ds] "+format, append([]any{int(time.Since(start).Seconds())}, args...)...)
	}
	n := startLocalnet(t)
	var st demo.State
	bz, err := os.ReadFile(filepath.Join(n.home, demo.StateFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(bz, &st); err != nil {
		t.Fatal(err)
	}
	dep, model := strconv.FormatUint(st.DeploymentID, 10), strconv.FormatUint(st.ModelID, 10)
	base := fmt.Sprintf("%d/%d", st.ModelID, st.ModelVersion)

	// A second rater, funded by alice.
	n.must("keys", "add", "rater", "--keyring-backend", "test", "--output", "json")
	rater := n.address("rater")
	n.mustTx("alice", "tx", "bank", "send", "alice", rater, "10000000000uopen")

	// 1. Jobs through the provider daemon: the prompts are the start of fortunes of
	// the corpus; each rater will prefer the fortune's real ending.
	_, file, _, _ := runtime.Caller(0)
	corpus, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "ml", "testdata", "corpus", "fortunes.txt"))
	if err != nil {
		t.Fatal(err)
	}
	type item struct {
		from, prompt, chosen string
		job                  uint64
	}
	var items []item
	for _, f := range strings.Split(string(corpus), "\n%\n") {
		w := strings.Fields(f)
		if len(items) == jobs || strings.Contains(f, "\n") || len(w) < 6 || len(f) > 80 {
			continue
		}
		from := "requester"
		if len(items)%2 == 1 {
			from = "rater"
		}
		items = append(items, item{from: from, prompt: strings.Join(w[:3], " "), chosen: " " + strings.Join(w[3:], " ") + "\n%\n"})
	}
	runJob := func(from, prompt string, seed int) uint64 {
		res := n.mustTx(from, "tx", "inference", "create-job", dep, "--input-text", prompt, "--max-tokens", "24",
			"--max-price", "5000uopen", "--bid-window", "5", "--execution-blocks", "60", "--seed", strconv.Itoa(seed))
		id, err := strconv.ParseUint(res.Attr("openledger.inference.v1.EventJobCreated", "job_id"), 10, 64)
		if err != nil {
			t.Fatalf("job id: %v", err)
		}
		return id
	}
	for i := range items {
		items[i].job = runJob(items[i].from, items[i].prompt, i+1)
	}
	jobStatus := func(id uint64) string {
		var j fwJob
		n.q(&j, "inference", "job", strconv.FormatUint(id, 10))
		return j.Job.Status
	}
	logf("1. %d jobs posted on deployment %s (model %s)", len(items), dep, base)
	// Feedback needs a paid job: a receipt (PENDING) is enough.
	var servedTokens int64
	for _, it := range items {
		job := strconv.FormatUint(it.job, 10)
		n.waitFor("the receipt of job "+job, 3*time.Minute, func() bool {
			_, err := n.run("query", "inference", "receipt", job)
			return err == nil
		})
		var r fwReceipt
		n.q(&r, "inference", "receipt", job)
		servedTokens += int64(r.Receipt.PromptTokens + r.Receipt.CompletionTokens)
	}
	logf("1. the provider daemon served them: receipts for %d tokens", servedTokens)

	// 2. Feedback: the last job is only rated; on the others each requester
	// prefers the real ending (the served output is the rejected side).
	last := items[len(items)-1]
	items = items[:len(items)-1]
	n.mustTx(last.from, "feedback", "rate", strconv.FormatUint(last.job, 10), "+1")
	contributions := map[uint64]string{} // contribution → rater address
	var fdn uint64
	for _, it := range items {
		res := n.mustTx(it.from, "feedback", "prefer", strconv.FormatUint(it.job, 10), "--text", it.chosen)
		c, err := strconv.ParseUint(res.Attr("openledger.models.v1.EventFeedbackSubmitted", "contribution_id"), 10, 64)
		if err != nil || c == 0 {
			t.Fatalf("prefer on job %d made no contribution: %v", it.job, err)
		}
		contributions[c] = n.address(it.from)
	}
	// On the real chain: once per inference, and only by its requester.
	_, err = n.tx(last.from, "feedback", "rate", strconv.FormatUint(last.job, 10), "down") // "-1" would parse as a flag
	n.refused("a second feedback on a job", err, "already has feedback")
	_, err = n.tx("rater", "feedback", "rate", strconv.FormatUint(items[0].job, 10), "+1")
	n.refused("feedback by a non-requester", err, "only the requester")
	var d struct {
		Deployment struct {
			FeedbackDatanetID num `json:"feedback_datanet_id"`
			DeveloperBps      num `json:"developer_bps"`
			Version           num `json:"version"`
		} `json:"deployment"`
	}
	n.q(&d, "models", "deployment", dep)
	fdn = uint64(d.Deployment.FeedbackDatanetID)
	if fdn == 0 {
		t.Fatal("the deployment has no feedback datanet")
	}
	var counts struct {
		Counts struct {
			Up, Down, Records num
		} `json:"counts"`
	}
	n.q(&counts, "models", "feedback-counts", dep)
	logf("2. feedback: %d preferred completions (ratings -1) and 1 rating +1 → feedback datanet %d; counts up %d down %d records %d",
		len(items), fdn, counts.Counts.Up, counts.Counts.Down, counts.Counts.Records)

	// 3. The deployment owner curates and freezes feedback version 1.
	ids := slices.Sorted(maps.Keys(contributions))
	for _, c := range ids {
		n.mustTx("alice", "tx", "datanet", "review", strconv.FormatUint(c, 10), "approve")
	}
	fdv := fmt.Sprintf("%d/1", fdn)
	n.mustTx("alice", "tx", "datanet", "create-version", strconv.FormatUint(fdn, 10))
	var ver struct {
		Version struct {
			LeafCount   num `json:"leaf_count"`
			TotalShares num `json:"total_shares"`
		} `json:"version"`
	}
	n.q(&ver, "datanet", "version", strconv.FormatUint(fdn, 10), "1")
	logf("3. alice accepted %d records and froze dataset version %s: %d leaves, %d shares", len(contributions), fdv, ver.Version.LeafCount, ver.Version.TotalShares)

	// 4. Fine-tunes of the deployed version on the feedback version: an honest DPO
	// step at a small learning rate, and one at a learning rate that damages it.
	// Bad references are refused before any training.
	work := t.TempDir()
	train := func(name string, extra ...string) (fwManifest, string) {
		out := filepath.Join(work, name)
		args := append([]string{"model", "train", "--kind", "dpo", "--base", base, "--dataset-version", fdv, "--out", out,
			"--batch", "4", "--warmup", "2", "--min-lr", "1e-6", "--workers", "2"}, extra...)
		tStart := time.Now()
		n.must(args...)
		var m fwManifest
		raw, err := os.ReadFile(filepath.Join(out, "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if m.Kind != "dpo" || m.ParentEval == nil || m.Preference == nil {
			t.Fatalf("%s: manifest lacks kind/parent_eval/preference: %s", name, raw)
		}
		logf("4. %s: %d pairs trained, %d held out, %d tokens seen, %s; parent held-out loss %.4f → %.4f; held-out preference accuracy %.3f → %.3f, margin %+.3f → %+.3f nats",
			name, m.TrainRecords, m.EvalRecords, m.TokensSeen, time.Since(tStart).Round(100*time.Millisecond), m.ParentEval.BaseEvalLoss, m.ParentEval.EvalLoss,
			m.Preference.Before.Accuracy, m.Preference.After.Accuracy, m.Preference.Before.Margin, m.Preference.After.Margin)
		return m, filepath.Join(out, "manifest.json")
	}
	_, err = n.run("model", "train", "--kind", "dpo", "--base", base, "--dataset-version", fmt.Sprintf("%d/2", fdn), "--out", filepath.Join(work, "x"))
	n.refused("training on a dataset version not frozen", err, "is not frozen")
	_, err = n.run("model", "train", "--kind", "dpo", "--base", model+"/99", "--dataset-version", fdv, "--out", filepath.Join(work, "y"))
	n.refused("training on an unknown base version", err, "no such model version")
	honest, honestPath := train("honest", "--steps", "10", "--lr", "3e-5")
	if p := honest.Preference; p.After.Margin <= p.Before.Margin {
		t.Fatalf("the honest DPO run did not raise the held-out chosen-over-rejected margin: %+.4f → %+.4f nats", p.Before.Margin, p.After.Margin)
	}
	bad, badPath := train("regressing", "--steps", "20", "--lr", "3e-3")

	// 5. Publish both (the parent is the version whose checkpoint is the run's base).
	publish := func(path string) uint64 {
		res := n.mustTx("alice", "tx", "models", "publish-version", model, "--manifest", path, "--dataset-version", fdv, "--upstream-share-bps", "5000")
		v, err := strconv.ParseUint(res.Attr("openledger.models.v1.EventVersionPublished", "version"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	honestV, badV := publish(honestPath), publish(badPath)
	micro := func(x float64) int64 { return int64(math.Round(x * 1e6)) }
	for _, c := range []struct {
		v uint64
		m fwManifest
	}{{honestV, honest}, {badV, bad}} {
		var v fwVersion
		n.q(&v, "models", "version", model, strconv.FormatUint(c.v, 10))
		vv := v.Version
		if vv.Kind != "VERSION_KIND_DPO" || vv.Parent == nil || fmt.Sprintf("%d/%d", vv.Parent.ModelID, vv.Parent.Version) != base ||
			len(vv.DatasetVersions) != 1 || uint64(vv.DatasetVersions[0].DatanetID) != fdn || vv.UpstreamShareBps != 5000 {
			t.Fatalf("version %d: %+v", c.v, vv)
		}
		if int64(vv.Metrics.EvalLossMicro) != micro(c.m.EvalLoss) || int64(vv.Metrics.ParentEvalLossMicro) != micro(c.m.ParentEval.EvalLoss) ||
			int64(vv.Metrics.PreferenceAccuracyBps) != int64(math.Round(c.m.Preference.After.Accuracy*1e4)) {
			t.Fatalf("version %d metrics %+v; manifest eval_loss %v, parent_eval.eval_loss %v, preference.after.accuracy %v",
				c.v, vv.Metrics, c.m.EvalLoss, c.m.ParentEval.EvalLoss, c.m.Preference.After.Accuracy)
		}
		logf("5. version %s/%d: %s, parent %s, data %s + upstream 5000 bps; eval_loss_micro %d, parent_eval_loss_micro %d, preference_accuracy_bps %d",
			model, c.v, vv.Kind, base, fdv, vv.Metrics.EvalLossMicro, vv.Metrics.ParentEvalLossMicro, vv.Metrics.PreferenceAccuracyBps)
	}

	// 6. The gate: the regressing version is refused, the honest one replaces version 1.
	var mp struct {
		Params struct {
			QualityToleranceBps num `json:"quality_tolerance_bps"`
		} `json:"params"`
	}
	n.q(&mp, "models", "params")
	var parent fwVersion
	n.q(&parent, "models", "version", model, strconv.FormatUint(st.ModelVersion, 10))
	_, err = n.tx("alice", "tx", "models", "update-deployment", dep, "--new-version", strconv.FormatUint(badV, 10))
	n.refused("switching to a regressing version", err, "regress")
	n.mustTx("alice", "tx", "models", "update-deployment", dep, "--new-version", strconv.FormatUint(honestV, 10))
	n.q(&d, "models", "deployment", dep)
	if uint64(d.Deployment.Version) != honestV {
		t.Fatalf("deployment on version %d, want %d", d.Deployment.Version, honestV)
	}
	logf("6. gate (tolerance %d bps) against parent eval_loss_micro %d: version %d (%d µ on the parent's held-out set) refused; version %d (%d µ) deployed",
		mp.Params.QualityToleranceBps, parent.Version.Metrics.EvalLossMicro, badV, micro(bad.ParentEval.EvalLoss), honestV, micro(honest.ParentEval.EvalLoss))

	if badBases {
		checkBadBases(t, n, model, st.ModelVersion, fdv, filepath.Join(work, "bad-base"))
		logf("6. model train --base refused a LoRA version and a version whose sha256 is not its artifact's")
	}

	var shares struct {
		DataShares []struct {
			DatanetID num `json:"datanet_id"`
			Version   num `json:"version"`
			Bps       num `json:"bps"`
		} `json:"data_shares"`
	}
	n.q(&shares, "models", "data-shares", dep)
	if len(shares.DataShares) != 2 {
		t.Fatalf("share table %+v", shares.DataShares)
	}
	for _, s := range shares.DataShares {
		if s.Bps != 5000 || !(uint64(s.DatanetID) == st.DatanetID && uint64(s.Version) == st.DatasetVersion || uint64(s.DatanetID) == fdn && s.Version == 1) {
			t.Fatalf("share table %+v", shares.DataShares)
		}
	}

	// 7. A later paid job on the new version, and the credits it makes.
	type holder struct {
		addr          string
		datanet, ver  uint64
		contribution  uint64
		shares        int64
		before, after int64
	}
	var holders []*holder
	for _, c := range st.Contributions {
		holders = append(holders, &holder{addr: n.address(c.Contributor), datanet: st.DatanetID, ver: st.DatasetVersion, contribution: c.ID})
	}
	for _, c := range ids {
		holders = append(holders, &holder{addr: contributions[c], datanet: fdn, ver: 1, contribution: c})
	}
	for _, h := range holders {
		var c struct {
			Contribution struct {
				Shares num `json:"shares"`
			} `json:"contribution"`
		}
		n.q(&c, "datanet", "contribution", strconv.FormatUint(h.contribution, 10))
		h.shares = int64(c.Contribution.Shares)
	}
	snapshot := func(set func(h *holder, v int64)) {
		byAddr := map[string]pending{}
		for _, h := range holders {
			p, ok := byAddr[h.addr]
			if !ok {
				n.q(&p, "attribution", "rewards", h.addr)
				byAddr[h.addr] = p
			}
			set(h, p.pooled(h.contribution))
		}
	}
	totalSharesOf := map[uint64]int64{fdn: int64(ver.Version.TotalShares)}
	var orig struct {
		Version struct {
			TotalShares num `json:"total_shares"`
		} `json:"version"`
	}
	n.q(&orig, "datanet", "version", strconv.FormatUint(st.DatanetID, 10), strconv.FormatUint(st.DatasetVersion, 10))
	totalSharesOf[st.DatanetID] = int64(orig.Version.TotalShares)
	// The earlier jobs' payments land first.
	for _, it := range append(items, last) {
		n.waitFor(fmt.Sprintf("job %d finalised", it.job), 3*time.Minute, func() bool { return jobStatus(it.job) == "JOB_STATUS_FINALIZED" })
	}
	poolsBefore := map[uint64]versionPool{st.DatanetID: n.pool(st.DatanetID, st.DatasetVersion), fdn: n.pool(fdn, 1)}
	snapshot(func(h *holder, v int64) { h.before = v })
	for _, h := range holders { // never collected: the cursor is 0
		if want := owedAt(bigInt(t, poolsBefore[h.datanet].RewardPerShare), h.shares); h.before != want {
			t.Fatalf("contribution %d: pending %d before, the pool rule gives %d", h.contribution, h.before, want)
		}
	}

	job := runJob("requester", "A gift of", 99)
	n.waitFor(fmt.Sprintf("job %d finalised", job), 3*time.Minute, func() bool { return jobStatus(job) == "JOB_STATUS_FINALIZED" })
	var j fwJob
	n.q(&j, "inference", "job", strconv.FormatUint(job, 10))
	if uint64(j.Job.ModelVersion) != honestV {
		t.Fatalf("job %d ran version %d, want %d", job, j.Job.ModelVersion, honestV)
	}
	var r fwReceipt
	n.q(&r, "inference", "receipt", strconv.FormatUint(job, 10))
	output := n.must("ipfs", "cat", r.Receipt.OutputCid)
	tokens := int64(r.Receipt.PromptTokens + r.Receipt.CompletionTokens)
	atoi := func(s string) int64 {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("amount %q", s)
		}
		return v
	}
	var rp struct {
		Params struct {
			ProtocolFeeBps num `json:"protocol_fee_bps"`
		} `json:"params"`
	}
	n.q(&rp, "rewards", "params")
	// The split, from the written rules (ADR-003), not read back from the chain.
	compute := tokens * atoi(j.Job.WinningPrice.Amount) / 1000
	royalty := tokens * atoi(j.Job.Royalty.Amount) / 1000
	fee := (compute + royalty) * int64(rp.Params.ProtocolFeeBps) / 10_000
	feeCompute := compute * int64(rp.Params.ProtocolFeeBps) / 10_000
	royaltyNet := royalty - (fee - feeCompute)
	developer := royaltyNet * int64(d.Deployment.DeveloperBps) / 10_000
	data := royaltyNet - developer
	perVersion := make([]int64, len(shares.DataShares))
	given := int64(0)
	for i, s := range shares.DataShares {
		perVersion[i] = data * int64(s.Bps) / 10_000
		given += perVersion[i]
	}
	perVersion[0] += data - given
	if paid := atoi(j.Job.Paid.Amount); paid != compute+royalty {
		t.Fatalf("job %d paid %d, want compute %d + royalty %d", job, paid, compute, royalty)
	}
	var rec settlementRecordJSON
	n.q(&rec, "rewards", "record", "inference", strconv.FormatInt(int64(r.Receipt.SettlementID), 10))
	amt := func(c coin) int64 {
		if c.Amount == "" {
			return 0
		}
		return atoi(c.Amount)
	}
	if amt(rec.Record.ProtocolFee) != fee || amt(rec.Record.Compute) != compute-feeCompute || amt(rec.Record.Developer) != developer ||
		amt(rec.Record.Direct) != 0 || amt(rec.Record.Pooled) != data {
		t.Fatalf("settlement record %+v; want fee %d, compute %d, developer %d, direct 0, pooled %d", rec.Record, fee, compute-feeCompute, developer, data)
	}
	logf("7. job %d on version %d: %q → %d tokens; paid %d = compute %d + royalty %d; fee %d, provider %d, developer %d, data %d → %s %d + %s %d (pools: the version has no span index)",
		job, honestV, output, tokens, compute+royalty, compute, royalty, fee, compute-feeCompute, developer, data,
		fmt.Sprintf("%d/%d", shares.DataShares[0].DatanetID, shares.DataShares[0].Version), perVersion[0],
		fmt.Sprintf("%d/%d", shares.DataShares[1].DatanetID, shares.DataShares[1].Version), perVersion[1])

	// Each pool grew by the rule, and each contribution's pending credit by its shares.
	rpsAfter := map[uint64]string{}
	for i, s := range shares.DataShares {
		id := uint64(s.DatanetID)
		wantRPS, wantCarry := depositInto(t, poolsBefore[id], totalSharesOf[id], perVersion[i])
		got := n.pool(id, uint64(s.Version))
		if got.RewardPerShare != wantRPS.String() || got.Carry != wantCarry.String() {
			t.Fatalf("pool %d/%d: reward_per_share %s carry %s; the deposit of %d gives %s and %s", id, s.Version, got.RewardPerShare, got.Carry, perVersion[i], wantRPS, wantCarry)
		}
		rpsAfter[id] = got.RewardPerShare
	}
	snapshot(func(h *holder, v int64) { h.after = v })
	credited := map[uint64]int64{}
	for _, h := range holders {
		want := owedAt(bigInt(t, rpsAfter[h.datanet]), h.shares) - owedAt(bigInt(t, poolsBefore[h.datanet].RewardPerShare), h.shares)
		got := h.after - h.before
		if got != want || want <= 0 {
			t.Fatalf("contribution %d (%d shares of %d in %d/%d): credited %d, want %d", h.contribution, h.shares, totalSharesOf[h.datanet], h.datanet, h.ver, got, want)
		}
		credited[h.datanet] += got
		logf("   contribution %d of %d/%d (%s…): %d of %d shares → +%d uopen (pending %d → %d)",
			h.contribution, h.datanet, h.ver, h.addr[:12], h.shares, totalSharesOf[h.datanet], got, h.before, h.after)
	}
	var dust []string
	for i, sh := range shares.DataShares {
		dust = append(dust, fmt.Sprintf("%d/%d: %d", sh.DatanetID, sh.Version, perVersion[i]-credited[uint64(sh.DatanetID)]))
	}
	logf("8. the raters were credited %d uopen in all and the original contributors %d uopen (rounding left in the pools' carry: %s); flywheel in %s",
		credited[fdn], credited[st.DatanetID], strings.Join(dust, ", "), time.Since(start).Round(time.Second))
}
