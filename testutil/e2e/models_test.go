package e2e_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/openledger/openledger/testutil/e2e"
)

type shareJSON struct {
	DatanetID string `json:"datanet_id"`
	Version   string `json:"version"`
	Bps       int    `json:"bps"`
}

// TestModelFactoryStory goes from a READY datanet with a frozen dataset version to
// an ACTIVE deployment: fetch the version's contributions from IPFS (verified against
// the chain), train a tiny model on them, publish it with the porcelain (pins the
// checkpoint and manifest on the node's IPFS repo), publish a fine-tune of it, deploy
// the fine-tune, and query lineage and data shares.
func TestModelFactoryStory(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a chain")
	}
	c := e2e.StartChain(t)
	alice, bob := c.Address("alice"), c.Address("bob")

	// A READY datanet with dataset version 1.
	res := c.MustTx("alice", "datanet", "create", "Proverbs", "CC-BY-4.0",
		"--curators", alice, "--quorum", "1", "--review-window", "500", "--deposit", "1000uopen", "--min-contributions", "1")
	dn := res.Attr("openledger.datanet.v1.EventDatanetCreated", "datanet_id")
	records := "A stitch in time saves nine.\nLook before you leap.\nMany hands make light work.\nStill waters run deep.\n"
	body, digest, cid := content(t, records)
	res = c.MustTx("bob", "datanet", "submit", dn, cid, digest, strconv.Itoa(len(body)), "4", "text/plain")
	c.MustTx("alice", "datanet", "review", res.Attr("openledger.datanet.v1.EventContributionSubmitted", "contribution_id"), "approve")
	c.MustTx("alice", "datanet", "create-version", dn)

	// The contributor's bytes are on an IPFS node (here the developer's own repo).
	dir := t.TempDir()
	data := filepath.Join(dir, "records.txt")
	if err := os.WriteFile(data, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Run("ipfs", "init"); err != nil {
		t.Fatalf("ipfs init: %v\n%s", err, out)
	}
	if out, err := c.Run("ipfs", "add", "-q", data); err != nil || strings.TrimSpace(out) != cid {
		t.Fatalf("ipfs add: %v %q, want %s", err, out, cid)
	}

	// Fetch the dataset version by CID, verified against the chain, and train on it.
	fetched := filepath.Join(dir, "dataset")
	trainArgs, err := c.Run("query", "models", "fetch-dataset", dn+"/1", "--out", fetched, "--node", "tcp://127.0.0.1:"+strconv.Itoa(c.RPCPort))
	if err != nil {
		t.Fatalf("fetch-dataset: %v", err)
	}
	if !strings.Contains(trainArgs, "--cid "+cid) {
		t.Fatalf("fetch-dataset printed %q", trainArgs)
	}
	base := filepath.Join(dir, "base")
	args := append([]string{"model", "train"}, strings.Fields(trainArgs)...)
	args = append(args, "--out", base, "--preset", "tiny", "--tokenizer", "byte", "--steps", "3", "--seq", "16", "--batch", "2")
	if out, err := c.Run(args...); err != nil {
		t.Fatalf("model train: %v\n%s", err, out)
	}
	// The same run in one command: `model train --dataset-version` fetches and verifies
	// the contributions itself, and gives the same checkpoint.
	direct := filepath.Join(dir, "direct")
	if out, err := c.Run("model", "train", "--dataset-version", dn+"/1", "--node", "tcp://127.0.0.1:"+strconv.Itoa(c.RPCPort),
		"--out", direct, "--preset", "tiny", "--tokenizer", "byte", "--steps", "3", "--seq", "16", "--batch", "2"); err != nil {
		t.Fatalf("model train --dataset-version: %v\n%s", err, out)
	}
	checkpointOf := func(run string) string {
		bz, err := os.ReadFile(filepath.Join(run, "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Inputs []struct {
				CID string `json:"cid"`
			} `json:"inputs"`
			Checkpoint struct {
				SHA256 string `json:"sha256"`
			} `json:"checkpoint"`
		}
		if err := json.Unmarshal(bz, &m); err != nil {
			t.Fatal(err)
		}
		if len(m.Inputs) != 1 || m.Inputs[0].CID != cid {
			t.Fatalf("%s manifest inputs: %+v", run, m.Inputs)
		}
		return m.Checkpoint.SHA256
	}
	if a, b := checkpointOf(base), checkpointOf(direct); a == "" || a != b {
		t.Fatalf("checkpoints differ: %s vs %s", a, b)
	}

	res = c.MustTx("bob", "models", "create", "Tiny proverbs", "text-generation", "MIT", "--description", "A tiny model of proverbs")
	model := res.Attr("openledger.models.v1.EventModelCreated", "model_id")
	if model != "1" {
		t.Fatalf("model id %q", model)
	}

	// Bad input is refused with a registered error naming the problem.
	if _, err := c.Tx("bob", "models", "publish-version", model, "--manifest", filepath.Join(base, "manifest.json"),
		"--dataset-version", dn+"/2"); err == nil || !strings.Contains(err.Error(), "dataset version") {
		t.Fatalf("unknown dataset version: want refusal, got %v", err)
	}
	if _, err := c.Tx("alice", "models", "publish-version", model, "--manifest", filepath.Join(base, "manifest.json"),
		"--dataset-version", dn+"/1"); err == nil || !strings.Contains(err.Error(), "owned by") {
		t.Fatalf("publishing to another's model: want refusal, got %v", err)
	}

	res = c.MustTx("bob", "models", "publish-version", model, "--manifest", filepath.Join(base, "manifest.json"),
		"--dataset-version", dn+"/1")
	if v := res.Attr("openledger.models.v1.EventVersionPublished", "version"); v != "1" {
		t.Fatalf("published version %q", v)
	}
	var ver struct {
		Version struct {
			Kind           string `json:"kind"`
			ArtifactCid    string `json:"artifact_cid"`
			ArtifactSha256 string `json:"artifact_sha256"`
			ManifestCid    string `json:"manifest_cid"`
			EngineName     string `json:"engine_name"`
			Metrics        struct {
				EvalLossMicro  string `json:"eval_loss_micro"`
				ParameterCount string `json:"parameter_count"`
			} `json:"metrics"`
		} `json:"version"`
	}
	c.MustQuery(&ver, "models", "version", model, "1")
	v := ver.Version
	if v.Kind != "VERSION_KIND_PRETRAIN" || !strings.HasPrefix(v.ArtifactCid, "bafy") || v.ManifestCid == "" ||
		v.EngineName == "" || v.Metrics.EvalLossMicro == "" || v.Metrics.ParameterCount == "" {
		t.Fatalf("version 1: %+v", v)
	}
	// The checkpoint is pinned on the node's IPFS repo under the recorded CID.
	out, err := c.Run("ipfs", "cat", v.ArtifactCid)
	if err != nil {
		t.Fatalf("ipfs cat of the published checkpoint: %v", err)
	}
	if len(out) < 1000 {
		t.Fatalf("checkpoint from IPFS is %d bytes", len(out))
	}

	// A LoRA fine-tune on the same data, published with the explicit-CID command:
	// half of its data share passes to version 1's lineage.
	res = c.MustTx("bob", "models", "publish", model, "lora", v.ArtifactCid, v.ArtifactSha256, "1000", v.ManifestCid,
		strings.Repeat("ab", 32), "openledger-ml", "v1",
		"--parent", `{"model_id":"1","version":"1"}`, "--upstream-share-bps", "5000",
		"--dataset-versions", `{"datanet_id":"`+dn+`","version":"1"}`, "--sign-mode", "amino-json")
	if got := res.Attr("openledger.models.v1.EventVersionPublished", "version"); got != "2" {
		t.Fatalf("fine-tune version %q", got)
	}
	var lineage struct {
		Entries []struct {
			Depth           int    `json:"depth"`
			ModelID         string `json:"model_id"`
			Version         string `json:"version"`
			Kind            string `json:"kind"`
			DatasetVersions []struct {
				DatanetID string `json:"datanet_id"`
			} `json:"dataset_versions"`
		} `json:"entries"`
		DataShares []shareJSON `json:"data_shares"`
	}
	c.MustQuery(&lineage, "models", "lineage", model, "2")
	if len(lineage.Entries) != 2 || lineage.Entries[0].Kind != "VERSION_KIND_LORA" || lineage.Entries[1].Version != "1" ||
		len(lineage.Entries[1].DatasetVersions) != 1 || lineage.Entries[1].DatasetVersions[0].DatanetID != dn {
		t.Fatalf("lineage: %+v", lineage)
	}

	// Deploy the fine-tune: ACTIVE, with its flattened data-share table.
	if _, err := c.Tx("bob", "models", "deploy", model, "2", "25uopen", "3000", "6000"); err == nil || !strings.Contains(err.Error(), "must sum to 10000") {
		t.Fatalf("bad split: want refusal, got %v", err)
	}
	res = c.MustTx("bob", "models", "deploy", model, "2", "25uopen", "3000", "7000")
	dep := res.Attr("openledger.models.v1.EventDeploymentCreated", "deployment_id")
	var d struct {
		Deployment struct {
			Status     string      `json:"status"`
			Owner      string      `json:"owner"`
			DataShares []shareJSON `json:"data_shares"`
		} `json:"deployment"`
	}
	c.MustQuery(&d, "models", "deployment", dep)
	if d.Deployment.Status != "DEPLOYMENT_STATUS_ACTIVE" || d.Deployment.Owner != bob ||
		len(d.Deployment.DataShares) != 1 || d.Deployment.DataShares[0].Bps != 10000 {
		t.Fatalf("deployment: %+v", d.Deployment)
	}
	var shares struct {
		DataShares []shareJSON `json:"data_shares"`
	}
	c.MustQuery(&shares, "models", "data-shares", dep)
	if len(shares.DataShares) != 1 || shares.DataShares[0].DatanetID != dn {
		t.Fatalf("data shares: %+v", shares)
	}

	// One command from a training run to an ACTIVE deployment of a new model: the
	// tx registers the model, publishes version 1 and deploys it, atomically.
	res = c.MustTx("alice", "models", "publish-version", "new", "--name", "Proverbs one-shot", "--license", "MIT",
		"--manifest", filepath.Join(base, "manifest.json"), "--dataset-version", dn+"/1", "--deploy", "10uopen", "--developer-bps", "2000")
	if m := res.Attr("openledger.models.v1.EventModelCreated", "model_id"); m != "2" {
		t.Fatalf("one-shot model id %q", m)
	}
	oneShot := res.Attr("openledger.models.v1.EventDeploymentCreated", "deployment_id")
	c.MustQuery(&d, "models", "deployment", oneShot)
	if d.Deployment.Status != "DEPLOYMENT_STATUS_ACTIVE" || d.Deployment.Owner != alice || len(d.Deployment.DataShares) != 1 {
		t.Fatalf("one-shot deployment: %+v", d.Deployment)
	}

	// A price change waits for the notice period; only the owner may make it.
	if _, err := c.Tx("alice", "models", "update-deployment", dep, "--status", "paused"); err == nil || !strings.Contains(err.Error(), "does not own") {
		t.Fatalf("non-owner update: want refusal, got %v", err)
	}
	res = c.MustTx("bob", "models", "update-deployment", dep, "--royalty-per-thousand-tokens", "30uopen")
	eff, err := strconv.ParseInt(res.Attr("openledger.models.v1.EventDeploymentPriceScheduled", "effective_height"), 10, 64)
	if err != nil || eff < 100 {
		t.Fatalf("effective height %d (%v)", eff, err)
	}
	var list struct {
		Deployments []json.RawMessage `json:"deployments"`
	}
	c.MustQuery(&list, "models", "deployments", "--owner", bob, "--status", "active")
	if len(list.Deployments) != 1 {
		t.Fatalf("bob's active deployments: %d", len(list.Deployments))
	}

	// The stopped node exports a genesis carrying the models state, and it validates.
	c.Stop()
	exported, err := c.Run("export")
	if err != nil {
		t.Fatal(err)
	}
	var gen struct {
		AppState struct {
			Models struct {
				Models      []json.RawMessage `json:"models"`
				Versions    []json.RawMessage `json:"versions"`
				Deployments []json.RawMessage `json:"deployments"`
				PriceQueue  []json.RawMessage `json:"price_queue"`
			} `json:"models"`
		} `json:"app_state"`
	}
	if err := json.Unmarshal([]byte(exported), &gen); err != nil {
		t.Fatalf("export is not JSON: %v", err)
	}
	m := gen.AppState.Models
	if len(m.Models) != 2 || len(m.Versions) != 3 || len(m.Deployments) != 2 || len(m.PriceQueue) != 1 {
		t.Fatalf("exported models state: %d models, %d versions, %d deployments, %d queued prices",
			len(m.Models), len(m.Versions), len(m.Deployments), len(m.PriceQueue))
	}
	path := filepath.Join(t.TempDir(), "exported.json")
	if err := os.WriteFile(path, []byte(exported), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Run("genesis", "validate", path); err != nil {
		t.Fatalf("exported genesis does not validate: %v %s", err, out)
	}
}
