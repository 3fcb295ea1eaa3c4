package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cosmos/cosmos-sdk/codec"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/datanet/client/cli"
	"github.com/openledger/openledger/x/datanet/types"
)

// TestVerifyProofCmd checks `datanet verify-proof` on the JSON of a real
// InclusionProof query, from a file and from stdin, and on a tampered copy.
func TestVerifyProofCmd(t *testing.T) {
	f := tk.NewFixture(t, 4)
	owner, curator, contributor := f.Addr(0), f.Addr(1), f.Addr(2)
	id := f.CreateDatanet(f.Ctx, tk.CreateDatanetMsg(owner, []string{curator}, 1, 10, types.Requirements{}, 1000))
	for i := 0; i < 5; i++ {
		cid := f.Submit(f.Ctx, contributor, id, fmt.Sprintf("line %d", i))
		f.Review(f.Ctx, curator, cid, types.REVIEW_DECISION_APPROVE)
	}
	if _, err := f.Msg.CreateDatasetVersion(f.Ctx, &types.MsgCreateDatasetVersion{Creator: owner, DatanetId: id}); err != nil {
		t.Fatal(err)
	}
	proof, err := f.Query.InclusionProof(f.Ctx, &types.QueryInclusionProofRequest{DatanetId: id, Version: 1, ContributionId: 3})
	if err != nil {
		t.Fatal(err)
	}
	bz, err := codec.NewProtoCodec(nil).MarshalJSON(proof)
	if err != nil {
		t.Fatal(err)
	}
	run := func(stdin []byte, args ...string) (string, error) {
		cmd := cli.NewDatanetCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetIn(bytes.NewReader(stdin))
		cmd.SetArgs(append([]string{"verify-proof"}, args...))
		err := cmd.Execute()
		return out.String(), err
	}
	path := filepath.Join(t.TempDir(), "proof.json")
	if err := os.WriteFile(path, bz, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(nil, path)
	if err != nil || !strings.Contains(out, "OK: contribution 3") || !strings.Contains(out, "leaf 2 of 5") {
		t.Fatalf("file: %v\n%s", err, out)
	}
	if out, err := run(bz, "-"); err != nil || !strings.Contains(out, "OK:") {
		t.Fatalf("stdin: %v\n%s", err, out)
	}
	tampered := *proof
	tampered.Contribution.Sha256 = strings.Repeat("0", 64)
	tbz, err := codec.NewProtoCodec(nil).MarshalJSON(&tampered)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(tbz, "-"); err == nil {
		t.Fatal("tampered proof verified")
	}
	if _, err := run([]byte(`{"not":"a proof"`), "-"); err == nil {
		t.Fatal("garbage verified")
	}
	if _, err := run(nil, filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Fatal("missing file verified")
	}
}
