package keeper_test

import (
	"encoding/hex"
	"strings"
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	sdkerrors "github.com/cosmos/cosmos-sdk/types/errors"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/datanet/types"
)

func TestCreateDatanet(t *testing.T) {
	e := newEnv(t)
	_, metaV0, metaV1 := tk.ContentV0("metadata")
	create := func(mut func(m *types.MsgCreateDatanet)) func(ctx sdk.Context) error {
		return func(ctx sdk.Context) error {
			m := e.collecting()
			mut(m)
			_, err := e.Msg.CreateDatanet(ctx, m)
			return err
		}
	}
	manyCurators := make([]string, 17)
	for i := range manyCurators {
		manyCurators[i] = tk.Accounts(20)[i].Bech32
	}
	cases := []msgCase{
		{name: "ok: COLLECTING with every field stored, metadata CIDv0 normalised", run: func(ctx sdk.Context) error {
			m := e.collecting()
			m.MetadataCid = metaV0
			res, err := e.Msg.CreateDatanet(ctx, m)
			if err == nil && res.DatanetId != 1 {
				t.Errorf("first datanet id = %d, want 1", res.DatanetId)
			}
			return err
		}, check: func(t *testing.T, ctx sdk.Context) {
			d := e.Datanet(ctx, 1)
			want := e.collecting()
			if d.Owner != e.owner || d.Name != want.Name || d.Description != want.Description || d.License != want.License ||
				strings.Join(d.Tags, ",") != "text,en" || d.Requirements != want.Requirements ||
				d.Curation.ApprovalQuorum != 2 || len(d.Curation.Curators) != 2 || !d.ContributionDeposit.Equal(want.ContributionDeposit) {
				t.Fatalf("stored datanet differs from the msg: %+v", d)
			}
			if d.Status != types.DATANET_STATUS_COLLECTING || d.CreatedHeight != 2 || d.ReadyHeight != 0 {
				t.Fatalf("status %s created %d ready %d", d.Status, d.CreatedHeight, d.ReadyHeight)
			}
			if d.MetadataCid != metaV1 {
				t.Fatalf("metadata_cid = %s, want CIDv1 %s", d.MetadataCid, metaV1)
			}
			if d.MerkleRoot != hex.EncodeToString(types.EmptyRoot()) {
				t.Fatalf("merkle root of an empty datanet = %s", d.MerkleRoot)
			}
		}},
		{name: "ok: no requirements is READY at once", run: create(func(m *types.MsgCreateDatanet) { m.Requirements = types.Requirements{} }),
			check: func(t *testing.T, ctx sdk.Context) {
				if d := e.Datanet(ctx, 1); d.Status != types.DATANET_STATUS_READY || d.ReadyHeight != 2 {
					t.Fatalf("status %s ready height %d", d.Status, d.ReadyHeight)
				}
			}},
		{name: "ok: deposit at the minimum", run: create(func(m *types.MsgCreateDatanet) {
			m.ContributionDeposit = types.DefaultParams().MinDeposit
		})},
		{name: "owner empty", run: create(func(m *types.MsgCreateDatanet) { m.Owner = "" }), err: types.ErrInvalidAddress, contains: "owner"},
		{name: "owner not bech32", run: create(func(m *types.MsgCreateDatanet) { m.Owner = "open1xyz" }), err: types.ErrInvalidAddress, contains: "owner"},
		{name: "owner of another chain", run: create(func(m *types.MsgCreateDatanet) { m.Owner = "cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu" }), err: types.ErrInvalidAddress, contains: "owner"},
		{name: "owner upper-cased", run: create(func(m *types.MsgCreateDatanet) { m.Owner = strings.ToUpper(e.owner) }), err: types.ErrInvalidAddress, contains: "owner"},
		{name: "name empty", run: create(func(m *types.MsgCreateDatanet) { m.Name = "  " }), err: types.ErrInvalidField, contains: "name"},
		{name: "name too long", run: create(func(m *types.MsgCreateDatanet) { m.Name = strings.Repeat("n", 65) }), err: types.ErrInvalidField, contains: "name"},
		{name: "name with a control character", run: create(func(m *types.MsgCreateDatanet) { m.Name = "a\x00b" }), err: types.ErrInvalidField, contains: "name"},
		{name: "name not UTF-8", run: create(func(m *types.MsgCreateDatanet) { m.Name = "a\xffb" }), err: types.ErrInvalidField, contains: "name"},
		{name: "description too long", run: create(func(m *types.MsgCreateDatanet) { m.Description = strings.Repeat("d", 2049) }), err: types.ErrInvalidField, contains: "description"},
		{name: "metadata CID malformed", run: create(func(m *types.MsgCreateDatanet) { m.MetadataCid = "bafy-not-a-cid" }), err: types.ErrInvalidCID, contains: "metadata_cid"},
		{name: "license empty", run: create(func(m *types.MsgCreateDatanet) { m.License = "" }), err: types.ErrInvalidField, contains: "license"},
		{name: "license with a space", run: create(func(m *types.MsgCreateDatanet) { m.License = "CC BY" }), err: types.ErrInvalidField, contains: "license"},
		{name: "too many tags", run: create(func(m *types.MsgCreateDatanet) {
			m.Tags = strings.Split("a,b,c,d,e,f,g,h,i,j,k", ",")
		}), err: types.ErrInvalidField, contains: "tags"},
		{name: "duplicate tag", run: create(func(m *types.MsgCreateDatanet) { m.Tags = []string{"x", "x"} }), err: types.ErrInvalidField, contains: "tags"},
		{name: "empty tag", run: create(func(m *types.MsgCreateDatanet) { m.Tags = []string{""} }), err: types.ErrInvalidField, contains: "tags"},
		{name: "no curators", run: create(func(m *types.MsgCreateDatanet) { m.Curation.Curators = nil }), err: types.ErrInvalidCuration, contains: "curators"},
		{name: "curator not an address", run: create(func(m *types.MsgCreateDatanet) { m.Curation.Curators = []string{e.curA, "bob"} }), err: types.ErrInvalidCuration, contains: "curators[1]"},
		{name: "curator listed twice", run: create(func(m *types.MsgCreateDatanet) { m.Curation.Curators = []string{e.curA, e.curA} }), err: types.ErrInvalidCuration, contains: "curators[1]"},
		{name: "curator listed twice in another case", run: create(func(m *types.MsgCreateDatanet) {
			m.Curation.Curators = []string{e.curA, strings.ToUpper(e.curA)}
		}), err: types.ErrInvalidCuration, contains: "curators[1]"},
		{name: "more curators than max_curators", run: create(func(m *types.MsgCreateDatanet) { m.Curation.Curators = manyCurators }), err: types.ErrInvalidCuration, contains: "curators"},
		{name: "quorum zero", run: create(func(m *types.MsgCreateDatanet) { m.Curation.ApprovalQuorum = 0 }), err: types.ErrInvalidCuration, contains: "approval_quorum"},
		{name: "quorum above the curators", run: create(func(m *types.MsgCreateDatanet) { m.Curation.ApprovalQuorum = 3 }), err: types.ErrInvalidCuration, contains: "approval_quorum"},
		{name: "review window below the minimum", run: create(func(m *types.MsgCreateDatanet) { m.Curation.ReviewWindowBlocks = 9 }), err: types.ErrInvalidCuration, contains: "review_window_blocks"},
		{name: "review window above the maximum", run: create(func(m *types.MsgCreateDatanet) { m.Curation.ReviewWindowBlocks = 1_000_001 }), err: types.ErrInvalidCuration, contains: "review_window_blocks"},
		{name: "deposit in another denom", run: create(func(m *types.MsgCreateDatanet) { m.ContributionDeposit = sdk.NewInt64Coin("stake", 5000) }), err: types.ErrInvalidDeposit, contains: "contribution_deposit"},
		{name: "deposit below the minimum", run: create(func(m *types.MsgCreateDatanet) { m.ContributionDeposit = tk.Deposit(999) }), err: types.ErrInvalidDeposit, contains: "contribution_deposit"},
		{name: "deposit amount missing", run: create(func(m *types.MsgCreateDatanet) {
			m.ContributionDeposit = sdk.Coin{Denom: tk.Denom, Amount: sdkmath.Int{}}
		}), err: types.ErrInvalidDeposit, contains: "contribution_deposit"},
	}
	e.runCases(t, e.Ctx, cases)
}

func TestUpdateDatanet(t *testing.T) {
	e := newEnv(t)
	base := tk.Branch(e.Ctx)
	collecting := e.CreateDatanet(base, e.collecting())
	ready := e.CreateDatanet(base, e.collecting())
	e.accept(base, e.alice, ready, "a proverb")
	e.accept(base, e.bob, ready, "another proverb")
	if d := e.Datanet(base, ready); d.Status != types.DATANET_STATUS_READY {
		t.Fatalf("datanet %d is %s", ready, d.Status)
	}
	archived := e.CreateDatanet(base, e.collecting())
	if _, err := e.Msg.ArchiveDatanet(base, &types.MsgArchiveDatanet{Owner: e.owner, DatanetId: archived}); err != nil {
		t.Fatal(err)
	}
	update := func(id uint64, mut func(m *types.MsgUpdateDatanet)) func(ctx sdk.Context) error {
		return func(ctx sdk.Context) error {
			m := &types.MsgUpdateDatanet{Owner: e.owner, DatanetId: id}
			mut(m)
			_, err := e.Msg.UpdateDatanet(ctx, m)
			return err
		}
	}
	_, metaV0, metaV1 := tk.ContentV0("metadata 2")
	cases := []msgCase{
		{name: "ok: name, description, tags, license, metadata; the rest unchanged", run: update(collecting, func(m *types.MsgUpdateDatanet) {
			m.Name = &types.StringValue{Value: "renamed"}
			m.Description = &types.StringValue{Value: ""}
			m.Tags = &types.TagsValue{Values: []string{"new"}}
			m.License = &types.StringValue{Value: "MIT"}
			m.MetadataCid = &types.StringValue{Value: metaV0}
		}), check: func(t *testing.T, ctx sdk.Context) {
			d, was := e.Datanet(ctx, collecting), e.Datanet(base, collecting)
			if d.Name != "renamed" || d.Description != "" || strings.Join(d.Tags, ",") != "new" || d.License != "MIT" || d.MetadataCid != metaV1 {
				t.Fatalf("updated datanet %+v", d)
			}
			if d.Requirements != was.Requirements || d.Owner != was.Owner || !d.ContributionDeposit.Equal(was.ContributionDeposit) || d.Status != was.Status {
				t.Fatalf("fields not in the msg changed: %+v", d)
			}
		}},
		{name: "ok: metadata cleared by an empty value", setup: func(ctx sdk.Context) {
			if err := update(collecting, func(m *types.MsgUpdateDatanet) { m.MetadataCid = &types.StringValue{Value: metaV1} })(ctx); err != nil {
				t.Fatal(err)
			}
		}, run: update(collecting, func(m *types.MsgUpdateDatanet) { m.MetadataCid = &types.StringValue{} }),
			check: func(t *testing.T, ctx sdk.Context) {
				if d := e.Datanet(ctx, collecting); d.MetadataCid != "" {
					t.Fatalf("metadata_cid = %q", d.MetadataCid)
				}
			}},
		{name: "ok: requirements lowered while COLLECTING make it READY", run: update(collecting, func(m *types.MsgUpdateDatanet) {
			m.Requirements = &types.Requirements{}
		}), check: func(t *testing.T, ctx sdk.Context) {
			if d := e.Datanet(ctx, collecting); d.Status != types.DATANET_STATUS_READY || d.ReadyHeight != ctx.BlockHeight() {
				t.Fatalf("status %s ready height %d", d.Status, d.ReadyHeight)
			}
		}},
		{name: "ok: curation and deposit of a READY datanet", run: update(ready, func(m *types.MsgUpdateDatanet) {
			m.Curation = &types.Curation{Curators: []string{e.curA}, ApprovalQuorum: 1, ReviewWindowBlocks: 20}
			m.ContributionDeposit = &sdk.Coin{Denom: tk.Denom, Amount: sdkmath.NewInt(5000)}
		}), check: func(t *testing.T, ctx sdk.Context) {
			d := e.Datanet(ctx, ready)
			if d.Curation.ApprovalQuorum != 1 || d.Curation.ReviewWindowBlocks != 20 || d.ContributionDeposit.Amount.Int64() != 5000 {
				t.Fatalf("updated datanet %+v", d)
			}
		}},
		{name: "requirements frozen once READY", run: update(ready, func(m *types.MsgUpdateDatanet) {
			m.Requirements = &types.Requirements{MinAcceptedContributions: 100}
		}), err: types.ErrRequirementsFrozen},
		{name: "nothing to update", run: update(collecting, func(*types.MsgUpdateDatanet) {}), err: types.ErrInvalidField, contains: "nothing to update"},
		{name: "archived", run: update(archived, func(m *types.MsgUpdateDatanet) { m.Name = &types.StringValue{Value: "x"} }), err: types.ErrWrongStatus},
		{name: "not the owner", run: func(ctx sdk.Context) error {
			_, err := e.Msg.UpdateDatanet(ctx, &types.MsgUpdateDatanet{Owner: e.curA, DatanetId: collecting, Name: &types.StringValue{Value: "x"}})
			return err
		}, err: types.ErrUnauthorized, contains: "owner"},
		{name: "owner not an address", run: func(ctx sdk.Context) error {
			_, err := e.Msg.UpdateDatanet(ctx, &types.MsgUpdateDatanet{Owner: "nobody", DatanetId: collecting, Name: &types.StringValue{Value: "x"}})
			return err
		}, err: types.ErrInvalidAddress, contains: "owner"},
		{name: "unknown datanet", run: update(99, func(m *types.MsgUpdateDatanet) { m.Name = &types.StringValue{Value: "x"} }), err: types.ErrDatanetNotFound},
		{name: "invalid name", run: update(collecting, func(m *types.MsgUpdateDatanet) { m.Name = &types.StringValue{} }), err: types.ErrInvalidField, contains: "name"},
		{name: "invalid description", run: update(collecting, func(m *types.MsgUpdateDatanet) {
			m.Description = &types.StringValue{Value: "\x07"}
		}), err: types.ErrInvalidField, contains: "description"},
		{name: "invalid metadata CID", run: update(collecting, func(m *types.MsgUpdateDatanet) { m.MetadataCid = &types.StringValue{Value: "Qm123"} }), err: types.ErrInvalidCID, contains: "metadata_cid"},
		{name: "invalid license", run: update(collecting, func(m *types.MsgUpdateDatanet) { m.License = &types.StringValue{} }), err: types.ErrInvalidField, contains: "license"},
		{name: "invalid tags", run: update(collecting, func(m *types.MsgUpdateDatanet) { m.Tags = &types.TagsValue{Values: []string{"a b"}} }), err: types.ErrInvalidField, contains: "tags"},
		{name: "invalid curation", run: update(collecting, func(m *types.MsgUpdateDatanet) {
			m.Curation = &types.Curation{Curators: []string{e.curA}, ApprovalQuorum: 2, ReviewWindowBlocks: 20}
		}), err: types.ErrInvalidCuration, contains: "approval_quorum"},
		{name: "invalid deposit", run: update(collecting, func(m *types.MsgUpdateDatanet) {
			m.ContributionDeposit = &sdk.Coin{Denom: "stake", Amount: sdkmath.NewInt(5000)}
		}),
			err: types.ErrInvalidDeposit, contains: "contribution_deposit"},
		{name: "a valid field before an invalid one changes nothing", run: update(collecting, func(m *types.MsgUpdateDatanet) {
			m.Name = &types.StringValue{Value: "fine"}
			m.ContributionDeposit = &sdk.Coin{Denom: tk.Denom, Amount: sdkmath.NewInt(1)}
		}), err: types.ErrInvalidDeposit},
	}
	e.runCases(t, base, cases)
}

func TestArchiveDatanet(t *testing.T) {
	e := newEnv(t)
	base := tk.Branch(e.Ctx)
	id := e.CreateDatanet(base, e.collecting())
	pending := e.Submit(base, e.alice, id, "pending before archive")
	archive := func(owner string, id uint64) func(ctx sdk.Context) error {
		return func(ctx sdk.Context) error {
			_, err := e.Msg.ArchiveDatanet(ctx, &types.MsgArchiveDatanet{Owner: owner, DatanetId: id})
			return err
		}
	}
	cases := []msgCase{
		{name: "ok: ARCHIVED; a pending contribution keeps its window and can still be accepted or withdrawn", run: archive(e.owner, id),
			check: func(t *testing.T, ctx sdk.Context) {
				if d := e.Datanet(ctx, id); d.Status != types.DATANET_STATUS_ARCHIVED {
					t.Fatalf("status %s", d.Status)
				}
				if _, err := e.Msg.SubmitContribution(ctx, tk.SubmitMsg(e.bob, id, "late")); !errorsIs(err, types.ErrWrongStatus) {
					t.Fatalf("submit to archived datanet: %v", err)
				}
				before := e.Balance(ctx, e.alice)
				if _, err := e.Msg.WithdrawContribution(ctx, &types.MsgWithdrawContribution{Contributor: e.alice, ContributionId: pending}); err != nil {
					t.Fatal(err)
				}
				if got := e.Balance(ctx, e.alice).Sub(before); got.Int64() != deposit {
					t.Fatalf("withdrawal from an archived datanet refunded %s", got)
				}
			}},
		{name: "ok: pending contribution accepted after archive", run: archive(e.owner, id), check: func(t *testing.T, ctx sdk.Context) {
			e.Review(ctx, e.curA, pending, types.REVIEW_DECISION_APPROVE)
			if st := e.Review(ctx, e.curB, pending, types.REVIEW_DECISION_APPROVE); st != types.CONTRIBUTION_STATUS_ACCEPTED {
				t.Fatalf("status %s", st)
			}
			if d := e.Datanet(ctx, id); d.Status != types.DATANET_STATUS_ARCHIVED || d.Stats.AcceptedContributions != 1 {
				t.Fatalf("archived datanet after acceptance: %s %+v", d.Status, d.Stats)
			}
		}},
		{name: "already archived", setup: func(ctx sdk.Context) {
			if err := archive(e.owner, id)(ctx); err != nil {
				t.Fatal(err)
			}
		}, run: archive(e.owner, id), err: types.ErrWrongStatus},
		{name: "not the owner", run: archive(e.curA, id), err: types.ErrUnauthorized, contains: "owner"},
		{name: "owner not an address", run: archive("", id), err: types.ErrInvalidAddress, contains: "owner"},
		{name: "unknown datanet", run: archive(e.owner, 42), err: types.ErrDatanetNotFound},
	}
	e.runCases(t, base, cases)
}

func TestUpdateParams(t *testing.T) {
	e := newEnv(t)
	update := func(authority string, mut func(p *types.Params)) func(ctx sdk.Context) error {
		return func(ctx sdk.Context) error {
			p := types.DefaultParams()
			mut(&p)
			_, err := e.Msg.UpdateParams(ctx, &types.MsgUpdateParams{Authority: authority, Params: p})
			return err
		}
	}
	cases := []msgCase{
		{name: "ok", run: update(e.Authority, func(p *types.Params) { p.MaxCurators = 3; p.MaxExpiriesPerBlock = 7 }),
			check: func(t *testing.T, ctx sdk.Context) {
				p, err := e.K.Params.Get(ctx)
				if err != nil || p.MaxCurators != 3 || p.MaxExpiriesPerBlock != 7 {
					t.Fatalf("params %+v, %v", p, err)
				}
			}},
		{name: "wrong authority", run: update(e.owner, func(*types.Params) {}), err: sdkerrors.ErrUnauthorized},
		{name: "max_curators zero", run: update(e.Authority, func(p *types.Params) { p.MaxCurators = 0 }), err: types.ErrInvalidParams, contains: "max_curators"},
		{name: "review window bounds inverted", run: update(e.Authority, func(p *types.Params) { p.MaxReviewWindowBlocks = 5 }), err: types.ErrInvalidParams, contains: "max_review_window_blocks"},
		{name: "min review window zero", run: update(e.Authority, func(p *types.Params) { p.MinReviewWindowBlocks = 0 }), err: types.ErrInvalidParams, contains: "min_review_window_blocks"},
		{name: "max contribution bytes zero", run: update(e.Authority, func(p *types.Params) { p.MaxContributionBytes = 0 }), err: types.ErrInvalidParams, contains: "max_contribution_bytes"},
		{name: "max expiries per block zero", run: update(e.Authority, func(p *types.Params) { p.MaxExpiriesPerBlock = 0 }), err: types.ErrInvalidParams, contains: "max_expiries_per_block"},
		{name: "bad deposit denom", run: update(e.Authority, func(p *types.Params) { p.MinDeposit.Denom = "1x" }), err: types.ErrInvalidParams, contains: "min_deposit"},
		{name: "negative deposit", run: update(e.Authority, func(p *types.Params) { p.MinDeposit.Amount = sdkmath.NewInt(-1) }), err: types.ErrInvalidParams, contains: "min_deposit"},
	}
	e.runCases(t, e.Ctx, cases)
}
