package types_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	errorsmod "cosmossdk.io/errors"
	sdkmath "cosmossdk.io/math"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/cosmos/cosmos-sdk/codec"
	codectypes "github.com/cosmos/cosmos-sdk/codec/types"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/datanet/types"
)

const testAddr = "cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu"

func content(s string) (string, string) {
	sum := sha256.Sum256([]byte(s))
	h, _ := mh.Encode(sum[:], mh.SHA2_256)
	return hex.EncodeToString(sum[:]), cid.NewCidV1(cid.Raw, h).String()
}

// validGenesis has one datanet with a pending, an accepted and a rejected
// contribution, a review, a version and its tree (structure only: Validate does
// not recompute hashes, InitGenesis does).
func validGenesis() types.GenesisState {
	gs := *types.DefaultGenesis()
	gs.NextDatanetId, gs.NextContributionId = 2, 4
	coin := sdk.NewCoin("uopen", sdkmath.NewInt(1000))
	gs.Datanets = []types.Datanet{{
		Id: 1, Owner: testAddr, Name: "d", License: "MIT", Status: types.DATANET_STATUS_READY, ContributionDeposit: coin,
		Curation: types.Curation{Curators: []string{testAddr}, ApprovalQuorum: 1, ReviewWindowBlocks: 10},
		Stats:    types.DatanetStats{AcceptedContributions: 1, PendingContributions: 1, RejectedContributions: 1, Versions: 1, DistinctContributors: 1, AcceptedBytes: 5, AcceptedShares: 5},
	}}
	for i, st := range []types.ContributionStatus{types.CONTRIBUTION_STATUS_ACCEPTED, types.CONTRIBUTION_STATUS_PENDING, types.CONTRIBUTION_STATUS_REJECTED} {
		sha, c := content(st.String())
		gs.Contributions = append(gs.Contributions, types.Contribution{
			Id: uint64(i + 1), DatanetId: 1, Contributor: testAddr, Cid: c, Sha256: sha, SizeBytes: 5, RecordCount: 1,
			MediaType: "text/plain", Status: st, Deposit: coin, ReviewDeadline: 20,
		})
		if st == types.CONTRIBUTION_STATUS_ACCEPTED {
			gs.Contributions[i].Shares = 5
		}
	}
	gs.Reviews = []types.Review{{ContributionId: 1, Curator: testAddr, Decision: types.REVIEW_DECISION_APPROVE}}
	gs.DatasetVersions = []types.DatasetVersion{{DatanetId: 1, Version: 1, LeafCount: 1, TotalBytes: 5, TotalShares: 5, Root: strings.Repeat("ab", 32)}}
	gs.MerkleNodes = []types.MerkleNode{{DatanetId: 1, Level: 0, Index: 0, Hash: strings.Repeat("ab", 32)}}
	gs.ContributorCounts = []types.ContributorCount{{DatanetId: 1, Contributor: testAddr, Accepted: 1}}
	gs.ExpiryQueue = []types.ExpiryEntry{{Deadline: 20, ContributionId: 2}}
	return gs
}

func TestGenesisValidate(t *testing.T) {
	if err := types.DefaultGenesis().Validate(); err != nil {
		t.Fatalf("default genesis: %v", err)
	}
	if err := validGenesis().Validate(); err != nil {
		t.Fatalf("valid genesis: %v", err)
	}
	cases := []struct {
		name string
		mut  func(gs *types.GenesisState)
		err  error
	}{
		{"invalid params", func(gs *types.GenesisState) { gs.Params.MaxCurators = 0 }, types.ErrInvalidParams},
		{"next datanet id zero", func(gs *types.GenesisState) { gs.NextDatanetId = 0 }, types.ErrInvalidGenesis},
		{"datanet id at next id", func(gs *types.GenesisState) { gs.NextDatanetId = 1 }, types.ErrInvalidGenesis},
		{"duplicate datanet", func(gs *types.GenesisState) {
			gs.Datanets = append(gs.Datanets, gs.Datanets[0])
		}, types.ErrInvalidGenesis},
		{"datanet status unspecified", func(gs *types.GenesisState) { gs.Datanets[0].Status = 0 }, types.ErrInvalidGenesis},
		{"datanet status unknown", func(gs *types.GenesisState) { gs.Datanets[0].Status = 42 }, types.ErrInvalidGenesis},
		{"datanet name empty", func(gs *types.GenesisState) { gs.Datanets[0].Name = "" }, types.ErrInvalidGenesis},
		{"datanet deposit invalid", func(gs *types.GenesisState) { gs.Datanets[0].ContributionDeposit.Denom = "" }, types.ErrInvalidGenesis},
		{"contribution id at next id", func(gs *types.GenesisState) { gs.NextContributionId = 3 }, types.ErrInvalidGenesis},
		{"duplicate contribution", func(gs *types.GenesisState) { gs.Contributions[2].Id = 1 }, types.ErrInvalidGenesis},
		{"contribution of unknown datanet", func(gs *types.GenesisState) { gs.Contributions[0].DatanetId = 9 }, types.ErrInvalidGenesis},
		{"contribution status unknown", func(gs *types.GenesisState) { gs.Contributions[0].Status = 77 }, types.ErrInvalidGenesis},
		{"contribution CIDv0", func(gs *types.GenesisState) {
			gs.Contributions[0].Cid = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
		}, types.ErrInvalidGenesis},
		{"contribution digest upper-case", func(gs *types.GenesisState) {
			gs.Contributions[0].Sha256 = strings.ToUpper(gs.Contributions[0].Sha256)
		}, types.ErrInvalidGenesis},
		{"contribution size zero", func(gs *types.GenesisState) { gs.Contributions[0].SizeBytes = 0 }, types.ErrInvalidGenesis},
		{"accepted contribution without shares", func(gs *types.GenesisState) { gs.Contributions[0].Shares = 0 }, types.ErrInvalidGenesis},
		{"shares above the size", func(gs *types.GenesisState) { gs.Contributions[0].Shares = 6 }, types.ErrInvalidGenesis},
		{"pending contribution with shares", func(gs *types.GenesisState) { gs.Contributions[1].Shares = 1 }, types.ErrInvalidGenesis},
		{"version shares above its bytes", func(gs *types.GenesisState) { gs.DatasetVersions[0].TotalShares = 6 }, types.ErrInvalidGenesis},
		{"contribution deposit invalid", func(gs *types.GenesisState) { gs.Contributions[0].Deposit.Amount = sdkmath.NewInt(-1) }, types.ErrInvalidGenesis},
		{"review of unknown contribution", func(gs *types.GenesisState) { gs.Reviews[0].ContributionId = 99 }, types.ErrInvalidGenesis},
		{"review without decision", func(gs *types.GenesisState) { gs.Reviews[0].Decision = 0 }, types.ErrInvalidGenesis},
		{"duplicate review", func(gs *types.GenesisState) { gs.Reviews = append(gs.Reviews, gs.Reviews[0]) }, types.ErrInvalidGenesis},
		{"version of unknown datanet", func(gs *types.GenesisState) { gs.DatasetVersions[0].DatanetId = 3 }, types.ErrInvalidGenesis},
		{"version beyond the datanet's count", func(gs *types.GenesisState) { gs.DatasetVersions[0].Version = 2 }, types.ErrInvalidGenesis},
		{"version with more leaves than accepted", func(gs *types.GenesisState) { gs.DatasetVersions[0].LeafCount = 2 }, types.ErrInvalidGenesis},
		{"duplicate version", func(gs *types.GenesisState) {
			gs.DatasetVersions = append(gs.DatasetVersions, gs.DatasetVersions[0])
		}, types.ErrInvalidGenesis},
		{"merkle node of unknown datanet", func(gs *types.GenesisState) { gs.MerkleNodes[0].DatanetId = 4 }, types.ErrInvalidGenesis},
		{"merkle node not a hash", func(gs *types.GenesisState) { gs.MerkleNodes[0].Hash = "abcd" }, types.ErrInvalidGenesis},
		{"contributor count zero", func(gs *types.GenesisState) { gs.ContributorCounts[0].Accepted = 0 }, types.ErrInvalidGenesis},
		{"expiry queue missing an entry", func(gs *types.GenesisState) { gs.ExpiryQueue = nil }, types.ErrInvalidGenesis},
		{"expiry entry with the wrong deadline", func(gs *types.GenesisState) { gs.ExpiryQueue[0].Deadline = 21 }, types.ErrInvalidGenesis},
		{"expiry entry of a decided contribution", func(gs *types.GenesisState) { gs.ExpiryQueue[0].ContributionId = 1 }, types.ErrInvalidGenesis},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gs := validGenesis()
			tc.mut(&gs)
			if err := gs.Validate(); !errors.Is(err, tc.err) {
				t.Fatalf("error = %v, want %v", err, tc.err)
			}
		})
	}
}

func TestParamsValidate(t *testing.T) {
	if err := types.DefaultParams().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(p *types.Params){
		"max_curators above bound":  func(p *types.Params) { p.MaxCurators = 101 },
		"review window above bound": func(p *types.Params) { p.MaxReviewWindowBlocks = 10_000_001 },
		"contribution bytes bound":  func(p *types.Params) { p.MaxContributionBytes = 1<<40 + 1 },
		"shares cap bound":          func(p *types.Params) { p.MaxSharesPerContribution = 1<<40 + 1 },
		"tags above bound":          func(p *types.Params) { p.MaxTags = 65 },
		"name length zero":          func(p *types.Params) { p.MaxNameLength = 0 },
		"description length zero":   func(p *types.Params) { p.MaxDescriptionLength = 0 },
		"tag length zero":           func(p *types.Params) { p.MaxTagLength = 0 },
		"expiries above bound":      func(p *types.Params) { p.MaxExpiriesPerBlock = 10_001 },
		"deposit amount nil":        func(p *types.Params) { p.MinDeposit.Amount = sdkmath.Int{} },
		"deposit denom empty":       func(p *types.Params) { p.MinDeposit.Denom = "" },
	} {
		p := types.DefaultParams()
		mut(&p)
		if err := p.Validate(); !errors.Is(err, types.ErrInvalidParams) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestNormalize(t *testing.T) {
	sha, v1 := content("x")
	sum, _ := hex.DecodeString(sha)
	h, _ := mh.Encode(sum, mh.SHA2_256)
	v0 := cid.NewCidV0(h)
	got, err := types.NormalizeCID("cid", v0.String())
	if err != nil || got != cid.NewCidV1(cid.DagProtobuf, h).String() || !strings.HasPrefix(got, "bafy") {
		t.Fatalf("CIDv0 → %q, %v", got, err)
	}
	if got, err := types.NormalizeCID("cid", v1); err != nil || got != v1 {
		t.Fatalf("CIDv1 → %q, %v", got, err)
	}
	for _, bad := range []string{"", "not a cid", "bafy", strings.Repeat("b", 513)} {
		if _, err := types.NormalizeCID("cid", bad); !errors.Is(err, types.ErrInvalidCID) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	if got, err := types.NormalizeSHA256("sha256", strings.ToUpper(sha)); err != nil || got != sha {
		t.Fatalf("digest %q, %v", got, err)
	}
	for _, bad := range []string{"", sha[:63], sha + "0", strings.Repeat("g", 64)} {
		if _, err := types.NormalizeSHA256("sha256", bad); !errors.Is(err, types.ErrInvalidDigest) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	if err := types.CheckText("name", "two\nlines\tand tabs ✓", 64, true); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", " ", "a\rb", "del\x7f", "\xc3\x28"} {
		if err := types.CheckText("name", bad, 64, true); !errors.Is(err, types.ErrInvalidField) {
			t.Fatalf("text %q: %v", bad, err)
		}
	}
	for _, bad := range []string{"", "a b", "é", strings.Repeat("t", 65)} {
		if err := types.CheckToken("tag", bad, 64); !errors.Is(err, types.ErrInvalidField) {
			t.Fatalf("token %q: %v", bad, err)
		}
	}
}

// FuzzGenesisJSON decodes arbitrary JSON as a genesis state and validates it: no
// input may panic, and a rejected state must carry a registered datanet error.
func FuzzGenesisJSON(f *testing.F) {
	cdc := codec.NewProtoCodec(codectypes.NewInterfaceRegistry())
	for _, gs := range []types.GenesisState{*types.DefaultGenesis(), validGenesis()} {
		bz, err := cdc.MarshalJSON(&gs)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bz)
	}
	f.Add([]byte(`{"params":{"max_curators":1},"next_datanet_id":"1","next_contribution_id":"1","datanets":[{"id":"0"}]}`))
	f.Add([]byte(`{"expiry_queue":[{"deadline":"-1","contribution_id":"18446744073709551615"}]}`))
	f.Add([]byte(`{"datanets":[{"id":"1","status":"DATANET_STATUS_READY","contribution_deposit":{"denom":"uopen","amount":"-5"}}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, bz []byte) {
		var gs types.GenesisState
		if err := cdc.UnmarshalJSON(bz, &gs); err != nil {
			return
		}
		checkValidate(t, gs)
	})
}

// FuzzGenesisBinary does the same for the protobuf encoding.
func FuzzGenesisBinary(f *testing.F) {
	for _, gs := range []types.GenesisState{*types.DefaultGenesis(), validGenesis()} {
		bz, err := gs.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bz)
	}
	f.Fuzz(func(t *testing.T, bz []byte) {
		var gs types.GenesisState
		if err := gs.Unmarshal(bz); err != nil {
			return
		}
		checkValidate(t, gs)
	})
}

func checkValidate(t *testing.T, gs types.GenesisState) {
	t.Helper()
	err := gs.Validate()
	if err == nil {
		return
	}
	if space, _, _ := errorsmod.ABCIInfo(err, false); space != types.ModuleName {
		t.Fatalf("unregistered error from Validate: %v", err)
	}
}
