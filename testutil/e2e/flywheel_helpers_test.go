package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/openledger/openledger/testutil/e2e"
)

// Helpers of the feedback flywheel: a localnet (scripts/localnet.sh) driven
// through the real binary with its own home and the client config the script
// wrote (chain id, keyring backend, node on the fixed RPC port).

type flywheelNet struct {
	t    *testing.T
	bin  string
	home string
}

// startLocalnet runs scripts/localnet.sh in a temp home and waits until it is up;
// the script's children stop with the test. It skips when a fixed port is taken.
func startLocalnet(t *testing.T) *flywheelNet {
	t.Helper()
	ln := e2e.StartLocalnet(t, e2e.LocalnetOptions{})
	return &flywheelNet{t: t, bin: ln.Bin, home: ln.Home}
}

// run runs the binary with --home; stderr joins the error.
func (n *flywheelNet) run(args ...string) (string, error) {
	cmd := exec.Command(n.bin, append(args, "--home", n.home)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("openledgerd %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

func (n *flywheelNet) must(args ...string) string {
	n.t.Helper()
	out, err := n.run(args...)
	if err != nil {
		n.t.Fatal(err)
	}
	return out
}

// q runs `query ARGS -o json` and decodes the answer.
func (n *flywheelNet) q(out any, args ...string) {
	n.t.Helper()
	s := n.must(append(append([]string{"query"}, args...), "-o", "json")...)
	if err := json.Unmarshal([]byte(s), out); err != nil {
		n.t.Fatalf("query %v: %v: %s", args, err, s)
	}
}

// tx runs a command that broadcasts a tx from a key (ARGS include the group, e.g.
// "tx", "datanet", … or "feedback", …) and waits for its block; a refusal in
// CheckTx or DeliverTx is an error with the chain's log.
func (n *flywheelNet) tx(from string, args ...string) (e2e.TxResult, error) {
	out, err := n.run(append(args, "--from", from, "--gas", "600000", "--fees", "3000uopen", "-y", "-o", "json")...)
	if err != nil {
		return e2e.TxResult{}, err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var res e2e.TxResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		return res, fmt.Errorf("%v: decoding %q: %w", args, out, err)
	}
	if res.Code != 0 {
		return res, fmt.Errorf("%v refused in CheckTx (code %d): %s", args, res.Code, res.RawLog)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := n.run("query", "tx", res.TxHash, "-o", "json")
		if err == nil {
			var got e2e.TxResult
			if err := json.Unmarshal([]byte(s), &got); err != nil {
				return got, err
			}
			if got.Code != 0 {
				return got, fmt.Errorf("%v failed (code %d): %s", args, got.Code, got.RawLog)
			}
			return got, nil
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("%v: tx %s not in a block after 30 s", args, res.TxHash)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (n *flywheelNet) mustTx(from string, args ...string) e2e.TxResult {
	n.t.Helper()
	res, err := n.tx(from, args...)
	if err != nil {
		n.t.Fatal(err)
	}
	return res
}

// refused checks that err is a refusal whose text names want.
func (n *flywheelNet) refused(what string, err error, want string) {
	n.t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		n.t.Fatalf("%s: want a refusal naming %q, got %v", what, want, err)
	}
}

func (n *flywheelNet) address(key string) string {
	n.t.Helper()
	return strings.TrimSpace(n.must("keys", "show", key, "-a", "--keyring-backend", "test"))
}

func (n *flywheelNet) waitFor(what string, timeout time.Duration, cond func() bool) {
	n.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			n.t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// bigInt parses a decimal integer (a cosmos.Int in JSON).
func bigInt(t *testing.T, s string) *big.Int {
	t.Helper()
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		t.Fatalf("integer %q", s)
	}
	return v
}

// versionPool is `query rewards pool D V`.
type versionPool struct {
	TotalShares    num    `json:"total_shares"`
	RewardPerShare string `json:"reward_per_share"`
	Carry          string `json:"carry"`
	TotalDeposited string `json:"total_deposited"`
}

// pool reads a dataset version's reward pool (zero before its first deposit).
func (n *flywheelNet) pool(datanet, version uint64) versionPool {
	n.t.Helper()
	out, err := n.run("query", "rewards", "pool", fmt.Sprint(datanet), fmt.Sprint(version), "-o", "json")
	if err != nil {
		if strings.Contains(err.Error(), "not found") {
			return versionPool{RewardPerShare: "0", Carry: "0", TotalDeposited: "0"}
		}
		n.t.Fatal(err)
	}
	var p struct {
		Pool versionPool `json:"pool"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		n.t.Fatal(err)
	}
	for _, s := range []*string{&p.Pool.RewardPerShare, &p.Pool.Carry, &p.Pool.TotalDeposited} {
		if *s == "" {
			*s = "0"
		}
	}
	return p.Pool
}

// depositInto is x/rewards' pool deposit rule, computed here: reward_per_share
// grows by ⌊(amount × 10¹⁸ + carry) / total_shares⌋ and the remainder is the new carry.
func depositInto(t *testing.T, p versionPool, totalShares int64, amount int64) (rps, carry *big.Int) {
	scaled := new(big.Int).Mul(big.NewInt(amount), rpsScale)
	scaled.Add(scaled, bigInt(t, p.Carry))
	q, r := new(big.Int).QuoRem(scaled, big.NewInt(totalShares), new(big.Int))
	return q.Add(q, bigInt(t, p.RewardPerShare)), r
}

// owedAt is what a never-collected contribution of shares holds at reward_per_share rps.
func owedAt(rps *big.Int, shares int64) int64 {
	v := new(big.Int).Mul(rps, big.NewInt(shares))
	return v.Quo(v, rpsScale).Int64()
}

// checkBadBases publishes, with the explicit-CID command, versions of the model
// that `model train --base` must refuse before training: one of kind LoRA (an
// adapter is not a checkpoint) and one whose recorded artifact sha256 is not
// that of the bytes at its CID (the fetch fails the digest check).
func checkBadBases(t *testing.T, n *flywheelNet, model string, version uint64, fdv, out string) {
	t.Helper()
	var v struct {
		Version struct {
			ArtifactCid    string `json:"artifact_cid"`
			ArtifactSha256 string `json:"artifact_sha256"`
			ArtifactSize   num    `json:"artifact_size"`
			ManifestCid    string `json:"manifest_cid"`
			ManifestSha256 string `json:"manifest_sha256"`
		} `json:"version"`
	}
	n.q(&v, "models", "version", model, fmt.Sprint(version))
	dn, dv, _ := strings.Cut(fdv, "/")
	publish := func(kind, sha string) string {
		res := n.mustTx("alice", "tx", "models", "publish", model, kind, v.Version.ArtifactCid, sha, fmt.Sprint(v.Version.ArtifactSize),
			v.Version.ManifestCid, v.Version.ManifestSha256, "openledger-ml", "v1",
			"--parent", fmt.Sprintf(`{"model_id":"%s","version":"%d"}`, model, version), "--upstream-share-bps", "5000",
			"--dataset-versions", fmt.Sprintf(`{"datanet_id":"%s","version":"%s"}`, dn, dv), "--sign-mode", "amino-json")
		return res.Attr("openledger.models.v1.EventVersionPublished", "version")
	}
	lora := publish("lora", v.Version.ArtifactSha256)
	forged := publish("sft", strings.Repeat("ab", 32))
	train := func(ver string) error {
		_, err := n.run("model", "train", "--kind", "dpo", "--base", model+"/"+ver, "--dataset-version", fdv, "--out", out, "--steps", "1")
		return err
	}
	n.refused("training on a LoRA version", train(lora), "is a LoRA adapter")
	n.refused("training on a version whose sha256 is not its artifact's", train(forged), "digest mismatch")
}
