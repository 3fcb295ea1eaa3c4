package keeper_test

import (
	"encoding/hex"
	"strings"
	"testing"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/datanet/types"
)

func TestSubmitContribution(t *testing.T) {
	e := newEnv(t)
	base := tk.Branch(e.Ctx)
	id := e.CreateDatanet(base, e.collecting())
	other := e.CreateDatanet(base, e.collecting())
	archived := e.CreateDatanet(base, e.collecting())
	if _, err := e.Msg.ArchiveDatanet(base, &types.MsgArchiveDatanet{Owner: e.owner, DatanetId: archived}); err != nil {
		t.Fatal(err)
	}
	expensive := e.collecting()
	expensive.ContributionDeposit = tk.Deposit(tk.DefaultBalance + 1)
	costly := e.CreateDatanet(base, expensive)
	pending := e.Submit(base, e.bob, id, "already pending")
	rejected := e.Submit(base, e.bob, id, "rejected once")
	e.Review(base, e.curA, rejected, types.REVIEW_DECISION_REJECT)
	e.Review(base, e.curB, rejected, types.REVIEW_DECISION_REJECT)

	submit := func(mut func(m *types.MsgSubmitContribution)) func(ctx sdk.Context) error {
		return func(ctx sdk.Context) error {
			m := tk.SubmitMsg(e.alice, id, "a proverb")
			mut(m)
			_, err := e.Msg.SubmitContribution(ctx, m)
			return err
		}
	}
	sha, cidV0, cidV1 := tk.ContentV0("a dag-pb file")
	nextID := pending + 2
	cases := []msgCase{
		{name: "ok: PENDING, deposit escrowed, queued until the deadline", run: submit(func(*types.MsgSubmitContribution) {}),
			check: func(t *testing.T, ctx sdk.Context) {
				c := e.Contribution(ctx, nextID)
				msg := tk.SubmitMsg(e.alice, id, "a proverb")
				if c.Status != types.CONTRIBUTION_STATUS_PENDING || c.Contributor != e.alice || c.DatanetId != id || c.Cid != msg.Cid ||
					c.Sha256 != msg.Sha256 || c.SizeBytes != msg.SizeBytes || c.RecordCount != 1 || c.MediaType != "text/plain" ||
					c.Deposit.Amount.Int64() != deposit || c.SubmittedHeight != 2 || c.ReviewDeadline != 2+window {
					t.Fatalf("stored contribution %+v", c)
				}
				if got := e.Balance(base, e.alice).Sub(e.Balance(ctx, e.alice)); got.Int64() != deposit {
					t.Fatalf("contributor paid %s", got)
				}
				if got := e.Escrow(ctx).Sub(e.Escrow(base)); got.Int64() != deposit {
					t.Fatalf("escrow grew by %s", got)
				}
				if has, _ := e.K.ExpiryQueue.Has(ctx, collections.Join(c.ReviewDeadline, c.Id)); !has {
					t.Fatal("not in the expiry queue")
				}
				if d := e.Datanet(ctx, id); d.Stats.PendingContributions != 2 {
					t.Fatalf("pending counter %d", d.Stats.PendingContributions)
				}
			}},
		{name: "ok: CIDv0 stored as CIDv1 base32, upper-case digest stored lower-case", run: submit(func(m *types.MsgSubmitContribution) {
			m.Cid, m.Sha256 = cidV0, strings.ToUpper(sha)
		}), check: func(t *testing.T, ctx sdk.Context) {
			c := e.Contribution(ctx, nextID)
			if c.Cid != cidV1 || !strings.HasPrefix(c.Cid, "bafy") || c.Sha256 != sha {
				t.Fatalf("cid %s (want %s), sha256 %s", c.Cid, cidV1, c.Sha256)
			}
		}},
		{name: "ok: a CIDv1 in base58 is stored in base32", run: func(ctx sdk.Context) error {
			m := tk.SubmitMsg(e.alice, id, "base58")
			_, v1 := tk.Content("base58")
			b58, err := toBase58(v1)
			if err != nil {
				t.Fatal(err)
			}
			m.Cid = b58
			_, err = e.Msg.SubmitContribution(ctx, m)
			return err
		}, check: func(t *testing.T, ctx sdk.Context) {
			if _, v1 := tk.Content("base58"); e.Contribution(ctx, nextID).Cid != v1 {
				t.Fatalf("cid %s", e.Contribution(ctx, nextID).Cid)
			}
		}},
		{name: "ok: the same content in another datanet", run: submit(func(m *types.MsgSubmitContribution) {
			*m = *tk.SubmitMsg(e.alice, other, "already pending")
		})},
		{name: "ok: content rejected before may be submitted again", run: submit(func(m *types.MsgSubmitContribution) {
			*m = *tk.SubmitMsg(e.alice, id, "rejected once")
		})},
		{name: "ok: size at the maximum", run: submit(func(m *types.MsgSubmitContribution) { m.SizeBytes = types.DefaultParams().MaxContributionBytes })},
		{name: "contributor empty", run: submit(func(m *types.MsgSubmitContribution) { m.Contributor = "" }), err: types.ErrInvalidAddress, contains: "contributor"},
		{name: "contributor malformed", run: submit(func(m *types.MsgSubmitContribution) { m.Contributor = e.alice[:len(e.alice)-1] + "x" }), err: types.ErrInvalidAddress, contains: "contributor"},
		{name: "contributor upper-cased", run: submit(func(m *types.MsgSubmitContribution) { m.Contributor = strings.ToUpper(e.alice) }), err: types.ErrInvalidAddress, contains: "contributor"},
		{name: "unknown datanet", run: submit(func(m *types.MsgSubmitContribution) { m.DatanetId = 77 }), err: types.ErrDatanetNotFound},
		{name: "datanet id zero", run: submit(func(m *types.MsgSubmitContribution) { m.DatanetId = 0 }), err: types.ErrDatanetNotFound},
		{name: "CID empty", run: submit(func(m *types.MsgSubmitContribution) { m.Cid = "" }), err: types.ErrInvalidCID, contains: "cid"},
		{name: "CID malformed", run: submit(func(m *types.MsgSubmitContribution) { m.Cid = "bafkreinotacid" }), err: types.ErrInvalidCID, contains: "cid"},
		{name: "CID too long", run: submit(func(m *types.MsgSubmitContribution) { m.Cid = "b" + strings.Repeat("a", 600) }), err: types.ErrInvalidCID, contains: "cid"},
		{name: "digest short", run: submit(func(m *types.MsgSubmitContribution) { m.Sha256 = "abcd" }), err: types.ErrInvalidDigest, contains: "sha256"},
		{name: "digest not hex", run: submit(func(m *types.MsgSubmitContribution) { m.Sha256 = strings.Repeat("zz", 32) }), err: types.ErrInvalidDigest, contains: "sha256"},
		{name: "size zero", run: submit(func(m *types.MsgSubmitContribution) { m.SizeBytes = 0 }), err: types.ErrInvalidSize, contains: "size_bytes"},
		{name: "size over the maximum", run: submit(func(m *types.MsgSubmitContribution) { m.SizeBytes = types.DefaultParams().MaxContributionBytes + 1 }), err: types.ErrInvalidSize, contains: "size_bytes"},
		{name: "record_count zero", run: submit(func(m *types.MsgSubmitContribution) { m.RecordCount = 0 }), err: types.ErrInvalidField, contains: "record_count"},
		{name: "record_count above the size", run: submit(func(m *types.MsgSubmitContribution) { m.RecordCount = m.SizeBytes + 1 }), err: types.ErrInvalidField, contains: "record_count"},
		{name: "media_type empty", run: submit(func(m *types.MsgSubmitContribution) { m.MediaType = "" }), err: types.ErrInvalidField, contains: "media_type"},
		{name: "media_type too long", run: submit(func(m *types.MsgSubmitContribution) { m.MediaType = strings.Repeat("m", 65) }), err: types.ErrInvalidField, contains: "media_type"},
		{name: "archived datanet", run: submit(func(m *types.MsgSubmitContribution) { m.DatanetId = archived }), err: types.ErrWrongStatus},
		{name: "duplicate of pending content", run: submit(func(m *types.MsgSubmitContribution) { *m = *tk.SubmitMsg(e.alice, id, "already pending") }), err: types.ErrDuplicateContent},
		{name: "duplicate of pending content, digest upper-cased", run: submit(func(m *types.MsgSubmitContribution) {
			*m = *tk.SubmitMsg(e.alice, id, "already pending")
			m.Sha256 = strings.ToUpper(m.Sha256)
		}), err: types.ErrDuplicateContent},
		{name: "duplicate of accepted content", setup: func(ctx sdk.Context) {
			e.Review(ctx, e.curA, pending, types.REVIEW_DECISION_APPROVE)
			e.Review(ctx, e.curB, pending, types.REVIEW_DECISION_APPROVE)
		}, run: submit(func(m *types.MsgSubmitContribution) { *m = *tk.SubmitMsg(e.alice, id, "already pending") }), err: types.ErrDuplicateContent},
		{name: "insufficient funds for the deposit", run: submit(func(m *types.MsgSubmitContribution) { m.DatanetId = costly }), err: types.ErrInsufficientFunds, contains: "deposit"},
	}
	e.runCases(t, base, cases)
}

func TestWithdrawContribution(t *testing.T) {
	e := newEnv(t)
	base := tk.Branch(e.Ctx)
	id := e.CreateDatanet(base, e.collecting())
	pending := e.Submit(base, e.alice, id, "to withdraw")
	accepted := e.accept(base, e.bob, id, "accepted")
	withdraw := func(contributor string, cid uint64) func(ctx sdk.Context) error {
		return func(ctx sdk.Context) error {
			_, err := e.Msg.WithdrawContribution(ctx, &types.MsgWithdrawContribution{Contributor: contributor, ContributionId: cid})
			return err
		}
	}
	cases := []msgCase{
		{name: "ok: WITHDRAWN, refunded, dequeued, content free again", run: withdraw(e.alice, pending), check: func(t *testing.T, ctx sdk.Context) {
			c := e.Contribution(ctx, pending)
			if c.Status != types.CONTRIBUTION_STATUS_WITHDRAWN || c.DecidedHeight != 2 {
				t.Fatalf("contribution %+v", c)
			}
			if got := e.Balance(ctx, e.alice).Sub(e.Balance(base, e.alice)); got.Int64() != deposit {
				t.Fatalf("refund %s", got)
			}
			if has, _ := e.K.ExpiryQueue.Has(ctx, collections.Join(c.ReviewDeadline, c.Id)); has {
				t.Fatal("still in the expiry queue")
			}
			if d := e.Datanet(ctx, id); d.Stats.PendingContributions != 0 || d.Stats.RejectedContributions != 0 {
				t.Fatalf("stats %+v", d.Stats)
			}
			e.Submit(ctx, e.alice, id, "to withdraw")
		}},
		{name: "not the contributor", run: withdraw(e.bob, pending), err: types.ErrUnauthorized, contains: "contributor"},
		{name: "contributor not an address", run: withdraw("x", pending), err: types.ErrInvalidAddress, contains: "contributor"},
		{name: "not pending", run: withdraw(e.bob, accepted), err: types.ErrWrongStatus},
		{name: "withdrawn twice", setup: func(ctx sdk.Context) {
			if err := withdraw(e.alice, pending)(ctx); err != nil {
				t.Fatal(err)
			}
		}, run: withdraw(e.alice, pending), err: types.ErrWrongStatus},
		{name: "unknown contribution", run: withdraw(e.alice, 1234), err: types.ErrContributionNotFound},
	}
	e.runCases(t, base, cases)
}

func TestReviewContribution(t *testing.T) {
	e := newEnv(t)
	base := tk.Branch(e.Ctx)
	id := e.CreateDatanet(base, e.collecting())
	first := e.accept(base, e.alice, id, "first proverb")
	halfApproved := e.Submit(base, e.bob, id, "second proverb") // READY once accepted
	e.Review(base, e.curA, halfApproved, types.REVIEW_DECISION_APPROVE)
	halfRejected := e.Submit(base, e.alice, id, "spam")
	e.Review(base, e.curA, halfRejected, types.REVIEW_DECISION_REJECT)
	byCurator := e.Submit(base, e.curA, id, "the curator's own")
	fresh := e.Submit(base, e.alice, id, "fresh")

	review := func(curator string, cid uint64, d types.ReviewDecision) func(ctx sdk.Context) error {
		return func(ctx sdk.Context) error {
			_, err := e.Msg.ReviewContribution(ctx, &types.MsgReviewContribution{Curator: curator, ContributionId: cid, Decision: d, Reason: "ok"})
			return err
		}
	}
	cases := []msgCase{
		{name: "ok: first approval below the quorum stays PENDING, deposit escrowed", run: review(e.curB, fresh, types.REVIEW_DECISION_APPROVE),
			check: func(t *testing.T, ctx sdk.Context) {
				c := e.Contribution(ctx, fresh)
				if c.Status != types.CONTRIBUTION_STATUS_PENDING || c.Approvals != 1 || c.Rejections != 0 {
					t.Fatalf("contribution %+v", c)
				}
				if !e.Escrow(ctx).Equal(e.Escrow(base)) {
					t.Fatal("escrow changed")
				}
				r, err := e.K.Reviews.Get(ctx, collections.Join(fresh, sdk.MustAccAddressFromBech32(e.curB)))
				if err != nil || r.Decision != types.REVIEW_DECISION_APPROVE || r.Reason != "ok" || r.Height != 2 {
					t.Fatalf("review %+v %v", r, err)
				}
			}},
		{name: "ok: quorum accept refunds, appends the leaf, makes the datanet READY", run: review(e.curB, halfApproved, types.REVIEW_DECISION_APPROVE),
			check: func(t *testing.T, ctx sdk.Context) {
				c := e.Contribution(ctx, halfApproved)
				if c.Status != types.CONTRIBUTION_STATUS_ACCEPTED || c.Approvals != 2 || c.LeafIndex != 1 || c.DecidedHeight != 2 {
					t.Fatalf("contribution %+v", c)
				}
				if got := e.Balance(ctx, e.bob).Sub(e.Balance(base, e.bob)); got.Int64() != deposit {
					t.Fatalf("refund %s", got)
				}
				if got := e.Escrow(base).Sub(e.Escrow(ctx)); got.Int64() != deposit {
					t.Fatalf("escrow fell by %s", got)
				}
				d := e.Datanet(ctx, id)
				if d.Status != types.DATANET_STATUS_READY || d.ReadyHeight != 2 || d.Stats.AcceptedContributions != 2 ||
					d.Stats.DistinctContributors != 2 || d.Stats.AcceptedBytes != e.Contribution(ctx, first).SizeBytes+c.SizeBytes {
					t.Fatalf("datanet %s %+v", d.Status, d.Stats)
				}
				leaves := [][]byte{leafOf(t, e, ctx, first), leafOf(t, e, ctx, halfApproved)}
				want := types.NodeHash(leaves[0], leaves[1])
				if d.MerkleRoot != hex.EncodeToString(want) {
					t.Fatalf("root %s, want %x", d.MerkleRoot, want)
				}
				if has, _ := e.K.ExpiryQueue.Has(ctx, collections.Join(c.ReviewDeadline, c.Id)); has {
					t.Fatal("still queued")
				}
			}},
		{name: "ok: quorum reject sends the deposit to the community pool", run: review(e.curB, halfRejected, types.REVIEW_DECISION_REJECT),
			check: func(t *testing.T, ctx sdk.Context) {
				c := e.Contribution(ctx, halfRejected)
				if c.Status != types.CONTRIBUTION_STATUS_REJECTED || c.Rejections != 2 {
					t.Fatalf("contribution %+v", c)
				}
				if !e.Balance(ctx, e.alice).Equal(e.Balance(base, e.alice)) {
					t.Fatal("the rejected contributor was paid")
				}
				if got := e.CommunityPool(ctx).Sub(e.CommunityPool(base)); got.Int64() != deposit {
					t.Fatalf("community pool grew by %s", got)
				}
				if got := e.Escrow(base).Sub(e.Escrow(ctx)); got.Int64() != deposit {
					t.Fatalf("escrow fell by %s", got)
				}
				if d := e.Datanet(ctx, id); d.Stats.RejectedContributions != 1 || d.Stats.AcceptedContributions != 1 || d.Status != types.DATANET_STATUS_COLLECTING {
					t.Fatalf("datanet %s %+v", d.Status, d.Stats)
				}
			}},
		{name: "ok: one approval and one rejection of quorum 2 stays PENDING", run: review(e.curB, halfApproved, types.REVIEW_DECISION_REJECT),
			check: func(t *testing.T, ctx sdk.Context) {
				if c := e.Contribution(ctx, halfApproved); c.Status != types.CONTRIBUTION_STATUS_PENDING || c.Approvals != 1 || c.Rejections != 1 {
					t.Fatalf("contribution %+v", c)
				}
			}},
		{name: "ok: review on the deadline block", setup: func(ctx sdk.Context) {}, run: func(ctx sdk.Context) error {
			return review(e.curB, fresh, types.REVIEW_DECISION_APPROVE)(ctx.WithBlockHeight(e.Contribution(ctx, fresh).ReviewDeadline))
		}},
		{name: "not a curator", run: review(e.outsider, fresh, types.REVIEW_DECISION_APPROVE), err: types.ErrNotCurator, contains: "curator"},
		{name: "the owner is not a curator", run: review(e.owner, fresh, types.REVIEW_DECISION_APPROVE), err: types.ErrNotCurator},
		{name: "self-review", run: review(e.curA, byCurator, types.REVIEW_DECISION_APPROVE), err: types.ErrSelfReview},
		{name: "self-review with the address upper-cased", run: review(strings.ToUpper(e.curA), byCurator, types.REVIEW_DECISION_APPROVE), err: types.ErrInvalidAddress},
		{name: "repeated review", run: review(e.curA, halfApproved, types.REVIEW_DECISION_APPROVE), err: types.ErrAlreadyReviewed},
		{name: "repeated review with the other decision", run: review(e.curA, halfApproved, types.REVIEW_DECISION_REJECT), err: types.ErrAlreadyReviewed},
		{name: "not pending", run: review(e.curB, first, types.REVIEW_DECISION_APPROVE), err: types.ErrWrongStatus},
		{name: "review window closed", run: func(ctx sdk.Context) error {
			return review(e.curB, fresh, types.REVIEW_DECISION_APPROVE)(ctx.WithBlockHeight(e.Contribution(ctx, fresh).ReviewDeadline + 1))
		}, err: types.ErrWrongStatus, contains: "review window closed"},
		{name: "decision unspecified", run: review(e.curB, fresh, types.REVIEW_DECISION_UNSPECIFIED), err: types.ErrInvalidDecision, contains: "decision"},
		{name: "decision out of range", run: review(e.curB, fresh, types.ReviewDecision(9)), err: types.ErrInvalidDecision, contains: "decision"},
		{name: "reason with a control character", run: func(ctx sdk.Context) error {
			_, err := e.Msg.ReviewContribution(ctx, &types.MsgReviewContribution{Curator: e.curB, ContributionId: fresh, Decision: types.REVIEW_DECISION_APPROVE, Reason: "\x1b[31m"})
			return err
		}, err: types.ErrInvalidField, contains: "reason"},
		{name: "curator not an address", run: review("", fresh, types.REVIEW_DECISION_APPROVE), err: types.ErrInvalidAddress, contains: "curator"},
		{name: "unknown contribution", run: review(e.curB, 999, types.REVIEW_DECISION_APPROVE), err: types.ErrContributionNotFound},
	}
	e.runCases(t, base, cases)
}

func TestCreateDatasetVersion(t *testing.T) {
	e := newEnv(t)
	base := tk.Branch(e.Ctx)
	collecting := e.CreateDatanet(base, e.collecting())
	e.accept(base, e.alice, collecting, "only one")
	id := e.CreateDatanet(base, e.collecting())
	e.accept(base, e.alice, id, "v1 a")
	e.accept(base, e.bob, id, "v1 b")
	version := func(creator string, d uint64) func(ctx sdk.Context) error {
		return func(ctx sdk.Context) error {
			_, err := e.Msg.CreateDatasetVersion(ctx, &types.MsgCreateDatasetVersion{Creator: creator, DatanetId: d})
			return err
		}
	}
	checkVersion := func(t *testing.T, ctx sdk.Context, n, leaves uint64, creator string) {
		t.Helper()
		v, err := e.K.GetDatasetVersion(ctx, id, n)
		if err != nil {
			t.Fatal(err)
		}
		root, err := types.Root(nodes{e, ctx, id}, leaves)
		if err != nil {
			t.Fatal(err)
		}
		d := e.Datanet(ctx, id)
		if v.Version != n || v.LeafCount != leaves || v.Root != hex.EncodeToString(root) || v.Creator != creator ||
			v.DistinctContributors != d.Stats.DistinctContributors || v.TotalBytes != d.Stats.AcceptedBytes || v.Height != 2 ||
			v.TotalShares != d.Stats.AcceptedShares {
			t.Fatalf("version %+v; root %x; datanet %+v", v, root, d.Stats)
		}
		if d.Stats.Versions != n || d.MerkleRoot != v.Root {
			t.Fatalf("datanet versions %d root %s", d.Stats.Versions, d.MerkleRoot)
		}
	}
	cases := []msgCase{
		{name: "ok: version 1 by the owner, root equals types.Root", run: version(e.owner, id), check: func(t *testing.T, ctx sdk.Context) {
			checkVersion(t, ctx, 1, 2, e.owner)
		}},
		{name: "ok: version 2 by a curator after one more acceptance", setup: func(ctx sdk.Context) {
			if err := version(e.owner, id)(ctx); err != nil {
				t.Fatal(err)
			}
			e.accept(ctx, e.outsider, id, "v2 c")
		}, run: version(e.curB, id), check: func(t *testing.T, ctx sdk.Context) {
			checkVersion(t, ctx, 2, 3, e.curB)
			v1, err := e.K.GetDatasetVersion(ctx, id, 1)
			if err != nil || v1.LeafCount != 2 {
				t.Fatalf("version 1 changed: %+v %v", v1, err)
			}
		}},
		{name: "nothing new since the last version", setup: func(ctx sdk.Context) {
			if err := version(e.owner, id)(ctx); err != nil {
				t.Fatal(err)
			}
		}, run: version(e.owner, id), err: types.ErrNothingToVersion},
		{name: "not READY", run: version(e.owner, collecting), err: types.ErrWrongStatus},
		{name: "neither owner nor curator", run: version(e.alice, id), err: types.ErrUnauthorized, contains: "creator"},
		{name: "creator not an address", run: version("open1", id), err: types.ErrInvalidAddress, contains: "creator"},
		{name: "unknown datanet", run: version(e.owner, 50), err: types.ErrDatanetNotFound},
		{name: "archived", setup: func(ctx sdk.Context) {
			if _, err := e.Msg.ArchiveDatanet(ctx, &types.MsgArchiveDatanet{Owner: e.owner, DatanetId: id}); err != nil {
				t.Fatal(err)
			}
		}, run: version(e.owner, id), err: types.ErrWrongStatus},
	}
	e.runCases(t, base, cases)
}

// nodes reads a datanet's Merkle nodes from the keeper (the tests' NodeStore).
type nodes struct {
	e   *env
	ctx sdk.Context
	id  uint64
}

func (n nodes) GetNode(level uint32, index uint64) ([]byte, error) {
	return n.e.K.MerkleNodes.Get(n.ctx, collections.Join3(n.id, level, index))
}

func (n nodes) SetNode(uint32, uint64, []byte) error { panic("read only") }

// leafOf is the leaf hash of a contribution, computed from its stored fields.
func leafOf(t *testing.T, e *env, ctx sdk.Context, id uint64) []byte {
	t.Helper()
	h, err := types.ContributionLeafHash(e.Contribution(ctx, id), e.K.AddressCodec())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestZeroDeposit covers a datanet without a deposit (governance set the minimum to
// zero): nothing is escrowed, and every outcome settles without moving money.
func TestZeroDeposit(t *testing.T) {
	e := newEnv(t)
	ctx := tk.Branch(e.Ctx)
	p := types.DefaultParams()
	p.MinDeposit = tk.Deposit(0)
	if _, err := e.Msg.UpdateParams(ctx, &types.MsgUpdateParams{Authority: e.Authority, Params: p}); err != nil {
		t.Fatal(err)
	}
	m := e.collecting()
	m.ContributionDeposit = tk.Deposit(0)
	id := e.CreateDatanet(ctx, m)
	pool, escrow, alice := e.CommunityPool(ctx), e.Escrow(ctx), e.Balance(ctx, e.alice)
	accepted := e.accept(ctx, e.alice, id, "free accepted")
	rejected := e.Submit(ctx, e.alice, id, "free rejected")
	e.Review(ctx, e.curA, rejected, types.REVIEW_DECISION_REJECT)
	e.Review(ctx, e.curB, rejected, types.REVIEW_DECISION_REJECT)
	expired := e.Submit(ctx, e.alice, id, "free expired")
	if err := e.K.EndBlocker(ctx.WithBlockHeight(e.Contribution(ctx, expired).ReviewDeadline + 1)); err != nil {
		t.Fatal(err)
	}
	for cid, want := range map[uint64]types.ContributionStatus{
		accepted: types.CONTRIBUTION_STATUS_ACCEPTED, rejected: types.CONTRIBUTION_STATUS_REJECTED, expired: types.CONTRIBUTION_STATUS_EXPIRED,
	} {
		if c := e.Contribution(ctx, cid); c.Status != want || !c.Deposit.IsZero() {
			t.Fatalf("contribution %d: %s deposit %s", cid, c.Status, c.Deposit)
		}
	}
	if !e.CommunityPool(ctx).Equal(pool) || !e.Escrow(ctx).Equal(escrow) || !e.Balance(ctx, e.alice).Equal(alice) {
		t.Fatal("money moved")
	}
	res, err := e.Query.PendingDeposits(ctx, &types.QueryPendingDepositsRequest{})
	if err != nil || !res.Total.IsZero() {
		t.Fatalf("pending deposits %+v %v", res, err)
	}
	e.CheckInvariants(ctx)
}
