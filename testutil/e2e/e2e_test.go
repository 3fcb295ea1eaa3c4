package e2e_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/openledger/openledger/testutil/e2e"
)

type coin struct {
	Denom  string `json:"denom"`
	Amount string `json:"amount"`
}

// settlementRecordJSON is `query rewards record inference ID` as JSON.
type settlementRecordJSON struct {
	Record struct {
		ProtocolFee coin `json:"protocol_fee"`
		Compute     coin `json:"compute"`
		Developer   coin `json:"developer"`
		Direct      coin `json:"direct"`
		Pooled      coin `json:"pooled"`
	} `json:"record"`
}

func balance(t *testing.T, c *e2e.Chain, addr string) int64 {
	t.Helper()
	var res struct {
		Balance coin `json:"balance"`
	}
	c.MustQuery(&res, "bank", "balance", addr, e2e.Denom)
	n, err := strconv.ParseInt(res.Balance.Amount, 10, 64)
	if err != nil {
		t.Fatalf("balance %q: %v", res.Balance.Amount, err)
	}
	return n
}

func TestBankSend(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a chain")
	}
	c := e2e.StartChain(t)
	bob := c.Address("bob")
	before := balance(t, c, bob)
	c.MustTx("alice", "bank", "send", "alice", bob, "1234567uopen")
	if after := balance(t, c, bob); after != before+1234567 {
		t.Fatalf("bob's balance: got %d, want %d", after, before+1234567)
	}
	// A send of more than the balance is refused and changes nothing.
	if _, err := c.Tx("carol", "bank", "send", "carol", bob, "999999999999999uopen"); err == nil ||
		!strings.Contains(err.Error(), "insufficient funds") {
		t.Fatalf("overspend: want insufficient funds, got %v", err)
	}
}

// content returns record bytes with their sha256 and CIDv1 (raw leaf, sha2-256).
func content(t *testing.T, s string) (string, string, string) {
	t.Helper()
	sum := sha256.Sum256([]byte(s))
	hash, err := mh.Encode(sum[:], mh.SHA2_256)
	if err != nil {
		t.Fatal(err)
	}
	return s, hex.EncodeToString(sum[:]), cid.NewCidV1(cid.Raw, hash).String()
}

type datanetJSON struct {
	Datanet struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Stats  struct {
			AcceptedContributions string `json:"accepted_contributions"`
			DistinctContributors  string `json:"distinct_contributors"`
		} `json:"stats"`
		MerkleRoot string `json:"merkle_root"`
	} `json:"datanet"`
}

func TestDatanetStory(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a chain")
	}
	c := e2e.StartChain(t)
	alice, bob := c.Address("alice"), c.Address("bob")

	res := c.MustTx("alice", "datanet", "create", "English proverbs", "CC-BY-4.0",
		"--description", "Short English proverbs, one per line", "--tags", "text,english",
		"--curators", alice+","+bob, "--quorum", "1", "--review-window", "500",
		"--deposit", "1000uopen", "--min-contributions", "3", "--min-contributors", "2")
	id := res.Attr("openledger.datanet.v1.EventDatanetCreated", "datanet_id")
	if id != "1" {
		t.Fatalf("datanet id: got %q, want 1", id)
	}

	records := []struct{ from, text string }{
		{"bob", "A stitch in time saves nine.\nLook before you leap.\n"},
		{"bob", "Many hands make light work.\n"},
		{"carol", "Still waters run deep.\nThe early bird catches the worm.\n"},
	}
	var ids []string
	for _, r := range records {
		body, digest, c1 := content(t, r.text)
		lines := strconv.Itoa(strings.Count(body, "\n"))
		args := []string{"datanet", "submit", id, c1, digest, strconv.Itoa(len(body)), lines, "text/plain"}
		if r.from == "carol" {
			// Legacy amino-JSON, the sign mode of Ledger and Keplr, must work for every msg.
			args = append(args, "--sign-mode", "amino-json")
		}
		res := c.MustTx(r.from, args...)
		ids = append(ids, res.Attr("openledger.datanet.v1.EventContributionSubmitted", "contribution_id"))
	}
	if strings.Join(ids, ",") != "1,2,3" {
		t.Fatalf("contribution ids: %v", ids)
	}
	var deposits struct {
		Total []coin `json:"total"`
	}
	c.MustQuery(&deposits, "datanet", "pending-deposits")
	if len(deposits.Total) != 1 || deposits.Total[0].Amount != "3000" {
		t.Fatalf("pending deposits: %+v", deposits.Total)
	}

	// A curator never reviews their own contribution; the error names the rule.
	if _, err := c.Tx("bob", "datanet", "review", "1", "approve"); err == nil || !strings.Contains(err.Error(), "own contribution") {
		t.Fatalf("self-review: want refusal, got %v", err)
	}
	for i, cid := range ids {
		args := []string{"datanet", "review", cid, "approve", "--reason", "clean and on topic"}
		if i == 0 {
			args = append(args, "--sign-mode", "amino-json")
		}
		c.MustTx("alice", args...)
	}
	var d datanetJSON
	c.MustQuery(&d, "datanet", "datanet", id)
	if d.Datanet.Status != "DATANET_STATUS_READY" || d.Datanet.Stats.AcceptedContributions != "3" || d.Datanet.Stats.DistinctContributors != "2" {
		t.Fatalf("datanet after reviews: %+v", d.Datanet)
	}
	c.MustQuery(&deposits, "datanet", "pending-deposits")
	if len(deposits.Total) != 0 {
		t.Fatalf("deposits left in escrow: %+v", deposits.Total)
	}

	res = c.MustTx("alice", "datanet", "create-version", id)
	if v := res.Attr("openledger.datanet.v1.EventDatasetVersionCreated", "version"); v != "1" {
		t.Fatalf("version: got %q", v)
	}
	if root := res.Attr("openledger.datanet.v1.EventDatasetVersionCreated", "root"); root != d.Datanet.MerkleRoot {
		t.Fatalf("version root %s != datanet root %s", root, d.Datanet.MerkleRoot)
	}
	// Nothing new since version 1.
	if _, err := c.Tx("alice", "datanet", "create-version", id); err == nil || !strings.Contains(err.Error(), "no new accepted contributions") {
		t.Fatalf("empty version: want refusal, got %v", err)
	}

	proofPath := filepath.Join(t.TempDir(), "proof.json")
	out, err := c.Run("query", "datanet", "proof", id, "1", "2", "--node", fmt.Sprintf("tcp://127.0.0.1:%d", c.RPCPort), "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(proofPath, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	verified, err := c.Run("datanet", "verify-proof", proofPath)
	if err != nil || !strings.Contains(verified, "OK: contribution 2") {
		t.Fatalf("verify-proof: %v %s", err, verified)
	}
	// A proof whose contribution was altered must fail.
	tampered := strings.Replace(out, `"size_bytes": "28"`, `"size_bytes": "29"`, 1)
	if tampered == out {
		t.Fatalf("test setup: size_bytes not found in %s", out)
	}
	if err := os.WriteFile(proofPath, []byte(tampered), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run("datanet", "verify-proof", proofPath); err == nil {
		t.Fatal("verify-proof accepted a tampered proof")
	}

	// The stopped node exports a genesis that carries the datanet state and validates.
	c.Stop()
	exported, err := c.Run("export")
	if err != nil {
		t.Fatal(err)
	}
	var gen struct {
		AppState struct {
			Datanet struct {
				Datanets        []json.RawMessage `json:"datanets"`
				Contributions   []json.RawMessage `json:"contributions"`
				DatasetVersions []json.RawMessage `json:"dataset_versions"`
			} `json:"datanet"`
		} `json:"app_state"`
	}
	if err := json.Unmarshal([]byte(exported), &gen); err != nil {
		t.Fatalf("export is not JSON: %v", err)
	}
	dn := gen.AppState.Datanet
	if len(dn.Datanets) != 1 || len(dn.Contributions) != 3 || len(dn.DatasetVersions) != 1 {
		t.Fatalf("exported datanet state: %d datanets, %d contributions, %d versions", len(dn.Datanets), len(dn.Contributions), len(dn.DatasetVersions))
	}
	exportPath := filepath.Join(t.TempDir(), "exported.json")
	if err := os.WriteFile(exportPath, []byte(exported), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Run("genesis", "validate", exportPath); err != nil {
		t.Fatalf("exported genesis does not validate: %v %s", err, out)
	}
}

// TestInitGenesis checks that `init` writes a genesis denominated in uopen, with the
// OPEN display metadata, and no trace of the SDK's default "stake" denom.
func TestInitGenesis(t *testing.T) {
	bin := e2e.Binary(t)
	home := t.TempDir()
	out, err := exec.Command(bin, "init", "v", "--chain-id", e2e.ChainID, "--home", home).CombinedOutput()
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	bz, err := os.ReadFile(filepath.Join(home, "config", "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(bz), `"stake"`) {
		t.Fatal(`genesis still mentions the "stake" denom`)
	}
	var g struct {
		AppState struct {
			Staking struct {
				Params struct {
					BondDenom string `json:"bond_denom"`
				} `json:"params"`
			} `json:"staking"`
			Mint struct {
				Params struct {
					MintDenom string `json:"mint_denom"`
				} `json:"params"`
			} `json:"mint"`
			Gov struct {
				Params struct {
					MinDeposit []coin `json:"min_deposit"`
				} `json:"params"`
			} `json:"gov"`
			Bank struct {
				DenomMetadata []struct {
					Base       string `json:"base"`
					Display    string `json:"display"`
					DenomUnits []struct {
						Denom    string `json:"denom"`
						Exponent int    `json:"exponent"`
					} `json:"denom_units"`
				} `json:"denom_metadata"`
			} `json:"bank"`
		} `json:"app_state"`
	}
	if err := json.Unmarshal(bz, &g); err != nil {
		t.Fatal(err)
	}
	s := g.AppState
	if s.Staking.Params.BondDenom != "uopen" || s.Mint.Params.MintDenom != "uopen" ||
		len(s.Gov.Params.MinDeposit) != 1 || s.Gov.Params.MinDeposit[0].Denom != "uopen" {
		t.Fatalf("denoms: staking %q mint %q gov %+v", s.Staking.Params.BondDenom, s.Mint.Params.MintDenom, s.Gov.Params.MinDeposit)
	}
	md := s.Bank.DenomMetadata
	if len(md) != 1 || md[0].Base != "uopen" || md[0].Display != "OPEN" || len(md[0].DenomUnits) != 2 ||
		md[0].DenomUnits[1].Denom != "OPEN" || md[0].DenomUnits[1].Exponent != 6 {
		t.Fatalf("denom metadata: %+v", md)
	}
	app, err := os.ReadFile(filepath.Join(home, "config", "app.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(app), `minimum-gas-prices = "0.0025uopen"`) {
		t.Fatal("app.toml lacks the uopen minimum gas price")
	}
}
