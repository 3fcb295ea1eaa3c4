package keeper_test

import (
	"strings"
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/datanet/types"
)

// fuzzCall runs call on a branch of base: it must not panic, must succeed or return
// a registered datanet error, must leave the stores untouched when it fails, and
// must keep the invariants either way.
func fuzzCall(t *testing.T, e *env, base sdk.Context, call func(ctx sdk.Context) error) {
	ctx := tk.Branch(base)
	parent := e.T
	e.T = t
	defer func() { e.T = parent }()
	before := e.Snapshot(ctx)
	if err := call(ctx); err != nil {
		if !registered(err) {
			t.Fatalf("unregistered error: %v", err)
		}
		if after := e.Snapshot(ctx); !equalSnapshots(before, after) {
			t.Fatalf("rejected msg changed state (%v)", err)
		}
	}
	if err := e.K.EscrowInvariant(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.K.StatsInvariant(ctx); err != nil {
		t.Fatal(err)
	}
}

// pick returns a valid account address when sel is even, raw otherwise.
func (e *env) pick(sel uint8, raw string) string {
	if sel%2 == 0 {
		return e.Addr(int(sel/2) % len(e.Accounts))
	}
	return raw
}

func FuzzSubmitContribution(f *testing.F) {
	e := newEnv(f)
	base := tk.Branch(e.Ctx)
	e.CreateDatanet(base, e.collecting()) // 1: collecting
	archived := e.CreateDatanet(base, e.collecting())
	if _, err := e.Msg.ArchiveDatanet(base, &types.MsgArchiveDatanet{Owner: e.owner, DatanetId: archived}); err != nil {
		f.Fatal(err)
	}
	costly := e.collecting()
	costly.ContributionDeposit = tk.Deposit(tk.DefaultBalance * 2)
	e.CreateDatanet(base, costly) // 3: deposit above every balance
	e.Submit(base, e.alice, 1, "taken")

	sha, cidV1 := tk.Content("fuzz")
	_, cidV0, _ := tk.ContentV0("fuzz v0")
	takenSha, takenCid := tk.Content("taken")
	f.Add(uint8(6), "", uint64(1), cidV1, sha, uint64(10), uint64(1), "text/plain")
	f.Add(uint8(8), "", uint64(1), cidV0, strings.ToUpper(sha), uint64(1<<32), uint64(1<<32), "application/x-ndjson")
	f.Add(uint8(1), "OPEN1XYZ", uint64(1), cidV1, sha, uint64(10), uint64(1), "text/plain")
	f.Add(uint8(6), "", uint64(2), cidV1, sha, uint64(10), uint64(1), "text/plain")
	f.Add(uint8(6), "", uint64(3), cidV1, sha, uint64(10), uint64(1), "text/plain")
	f.Add(uint8(6), "", uint64(1), takenCid, takenSha, uint64(10), uint64(1), "text/plain")
	f.Add(uint8(6), "", uint64(1), "bafy", "zz", uint64(0), uint64(0), "")
	f.Add(uint8(4), "", uint64(1<<63), "", "", ^uint64(0), ^uint64(0), "\x00")
	f.Fuzz(func(t *testing.T, sel uint8, contributor string, datanet uint64, cid, sha string, size, records uint64, media string) {
		fuzzCall(t, e, base, func(ctx sdk.Context) error {
			res, err := e.Msg.SubmitContribution(ctx, &types.MsgSubmitContribution{
				Contributor: e.pick(sel, contributor), DatanetId: datanet, Cid: cid, Sha256: sha,
				SizeBytes: size, RecordCount: records, MediaType: media,
			})
			if err == nil {
				c := e.Contribution(ctx, res.ContributionId)
				if norm, nerr := types.NormalizeCID("cid", c.Cid); nerr != nil || norm != c.Cid || c.Status != types.CONTRIBUTION_STATUS_PENDING {
					t.Fatalf("accepted contribution stored as %+v", c)
				}
			}
			return err
		})
	})
}

func FuzzCreateDatanet(f *testing.F) {
	e := newEnv(f)
	base := tk.Branch(e.Ctx)
	_, meta := tk.Content("meta")
	f.Add(uint8(0), "", "name", "desc", meta, "MIT", "a,b", uint8(2), uint32(1), uint64(10), "uopen", int64(1000))
	f.Add(uint8(1), "open1", "", "", "", "", "", uint8(0), uint32(0), uint64(0), "", int64(-1))
	f.Add(uint8(2), "", strings.Repeat("é", 40), "line\nline", "Qm", "CC BY", "x,x", uint8(17), uint32(17), uint64(1_000_000), "stake", int64(1<<62))
	f.Add(uint8(4), "", "n", "\x7f", "", "L", strings.Repeat("t,", 12), uint8(3), uint32(3), uint64(9), "uopen", int64(999))
	f.Fuzz(func(t *testing.T, sel uint8, owner, name, desc, meta, license, tags string, curators uint8, quorum uint32, window uint64, denom string, amount int64) {
		var tagList []string
		if tags != "" {
			tagList = strings.Split(tags, ",")
		}
		var curatorList []string
		for i := 0; i < int(curators%20); i++ {
			curatorList = append(curatorList, e.Addr(i%len(e.Accounts)))
		}
		fuzzCall(t, e, base, func(ctx sdk.Context) error {
			res, err := e.Msg.CreateDatanet(ctx, &types.MsgCreateDatanet{
				Owner: e.pick(sel, owner), Name: name, Description: desc, MetadataCid: meta, License: license, Tags: tagList,
				Curation:            types.Curation{Curators: curatorList, ApprovalQuorum: quorum, ReviewWindowBlocks: window},
				ContributionDeposit: sdk.Coin{Denom: denom, Amount: sdkmath.NewInt(amount)},
			})
			if err == nil {
				d := e.Datanet(ctx, res.DatanetId)
				if d.Status != types.DATANET_STATUS_COLLECTING && d.Status != types.DATANET_STATUS_READY {
					t.Fatalf("created datanet is %s", d.Status)
				}
				if err := types.CheckText("name", d.Name, types.DefaultParams().MaxNameLength, true); err != nil {
					t.Fatalf("stored an invalid name: %v", err)
				}
			}
			return err
		})
	})
}
