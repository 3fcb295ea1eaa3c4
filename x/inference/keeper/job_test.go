package keeper_test

import (
	"errors"
	"strings"
	"testing"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	sdkerrors "github.com/cosmos/cosmos-sdk/types/errors"

	tk "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/inference/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

func TestCreateJob(t *testing.T) {
	m := newMarket(t)
	_, cidV0Sha := tk.Content("x")
	maxOK, _ := sdkmath.NewIntFromString(strings.Repeat("9", types.MaxPriceDigits))
	big, _ := sdkmath.NewIntFromString(strings.Repeat("9", types.MaxPriceDigits+1))
	cases := []struct {
		name string
		edit func(*types.MsgCreateJob)
		want error
	}{
		{"valid", func(*types.MsgCreateJob) {}, nil},
		{"uppercase sha", func(msg *types.MsgCreateJob) { msg.InputSha256 = strings.ToUpper(msg.InputSha256) }, nil},
		{"free compute", func(msg *types.MsgCreateJob) { msg.MaxComputePricePerThousandTokens = mktCoin(0) }, nil},
		{"bad requester", func(msg *types.MsgCreateJob) { msg.Requester = "x" }, types.ErrInvalidAddress},
		{"unknown deployment", func(msg *types.MsgCreateJob) { msg.DeploymentId = 999 }, types.ErrDeploymentMismatch},
		{"bad cid", func(msg *types.MsgCreateJob) { msg.InputCid = "notacid" }, types.ErrInvalidField},
		{"sha is a cid", func(msg *types.MsgCreateJob) { msg.InputSha256 = cidV0Sha }, types.ErrInvalidField},
		{"zero tokens", func(msg *types.MsgCreateJob) { msg.MaxTokens = 0 }, types.ErrInvalidField},
		{"too many tokens", func(msg *types.MsgCreateJob) { msg.MaxTokens = m.params.MaxJobTokens + 1 }, types.ErrInvalidField},
		{"wrong price denom", func(msg *types.MsgCreateJob) { msg.MaxComputePricePerThousandTokens = sdk.NewInt64Coin("uatom", 1) }, types.ErrInvalidAmount},
		{"negative price", func(msg *types.MsgCreateJob) {
			msg.MaxComputePricePerThousandTokens = sdk.Coin{Denom: tk.Denom, Amount: sdkmath.NewInt(-5)}
		}, types.ErrInvalidAmount},
		{"31-digit price", func(msg *types.MsgCreateJob) { msg.MaxComputePricePerThousandTokens = sdk.NewCoin(tk.Denom, big) }, types.ErrInvalidAmount},
		{"30-digit price beyond funds", func(msg *types.MsgCreateJob) { msg.MaxComputePricePerThousandTokens = sdk.NewCoin(tk.Denom, maxOK) }, sdkerrors.ErrInsufficientFunds},
		{"short window", func(msg *types.MsgCreateJob) { msg.BidWindowBlocks = m.params.MinBidWindowBlocks - 1 }, types.ErrInvalidField},
		{"long window", func(msg *types.MsgCreateJob) { msg.BidWindowBlocks = m.params.MaxBidWindowBlocks + 1 }, types.ErrInvalidField},
		{"short execution", func(msg *types.MsgCreateJob) { msg.ExecutionBlocks = 0 }, types.ErrInvalidField},
		{"long execution", func(msg *types.MsgCreateJob) { msg.ExecutionBlocks = m.params.MaxExecutionBlocks + 1 }, types.ErrInvalidField},
		{"hot temperature", func(msg *types.MsgCreateJob) { msg.Params.TemperatureMilli = types.MaxTemperatureMilli + 1 }, types.ErrInvalidField},
		{"top p above 1", func(msg *types.MsgCreateJob) { msg.Params.TopPPpm = types.MaxTopPPpm + 1 }, types.ErrInvalidField},
		{"too many stops", func(msg *types.MsgCreateJob) { msg.Params.Stop = make([]string, types.MaxStopSequences+1) }, types.ErrInvalidField},
		{"empty stop", func(msg *types.MsgCreateJob) { msg.Params.Stop = []string{""} }, types.ErrInvalidField},
		{"long stop", func(msg *types.MsgCreateJob) {
			msg.Params.Stop = []string{strings.Repeat("s", types.MaxStopSequenceLength+1)}
		}, types.ErrInvalidField},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tk.Branch(m.ctx)
			msg := m.jobMsg(mktRequester)
			tc.edit(msg)
			before := m.balance(ctx, mktRequester)
			res, err := m.f.Msg.CreateJob(ctx, msg)
			mktWantErr(t, err, tc.want)
			m.invariants(ctx)
			if tc.want != nil {
				return
			}
			// ⌈max_tokens × (max + royalty) / 1,000⌉
			num := sdkmath.NewInt(mktMaxTokens).Mul(msg.MaxComputePricePerThousandTokens.Amount.AddRaw(tk.InferenceRoyalty))
			want := num.AddRaw(999).QuoRaw(1000)
			if !res.Escrow.Amount.Equal(want) || !before.Sub(m.balance(ctx, mktRequester)).Equal(want) {
				t.Fatalf("escrow %s, want %s", res.Escrow, want)
			}
			j := m.job(ctx, res.JobId)
			if j.Status != types.JOB_STATUS_OPEN || j.Auctions != 1 || j.BidCloseHeight != ctx.BlockHeight()+mktWindow ||
				!j.RoyaltyPerThousandTokens.Equal(m.f.Royalty) || j.ModelId != m.f.ModelID || j.ModelVersion != m.f.ModelVersion ||
				j.InputSha256 != strings.ToLower(msg.InputSha256) {
				t.Fatalf("job %+v", j)
			}
			if has, _ := m.f.K.BidCloseQueue.Has(ctx, collections.Join(j.BidCloseHeight, j.Id)); !has {
				t.Fatal("not queued for the bid close")
			}
		})
	}
	// Escrow rounds up: 1 token at 1 + 200 per 1,000 → 1.
	ctx := tk.Branch(m.ctx)
	msg := m.jobMsg(mktRequester)
	msg.MaxTokens, msg.MaxComputePricePerThousandTokens = 1, mktCoin(1)
	res, err := m.f.Msg.CreateJob(ctx, msg)
	if err != nil || res.Escrow.Amount.Int64() != 1 {
		t.Fatalf("escrow %v %v", res, err)
	}
}

func TestCancelJob(t *testing.T) {
	m := newMarket(t)
	ctx := tk.Branch(m.ctx)
	id := m.createJob(ctx, mktRequester)
	m.mustBid(ctx, mktProvA, id, 500)
	_, err := m.f.Msg.CancelJob(ctx, &types.MsgCancelJob{Requester: m.addr(mktStranger), JobId: id})
	mktWantErr(t, err, types.ErrUnauthorized)
	_, err = m.f.Msg.CancelJob(ctx, &types.MsgCancelJob{Requester: m.addr(mktRequester), JobId: 999})
	mktWantErr(t, err, types.ErrJobNotFound)
	before := m.balance(ctx, mktRequester)
	res, err := m.f.Msg.CancelJob(ctx, &types.MsgCancelJob{Requester: m.addr(mktRequester), JobId: id})
	mktWantErr(t, err, nil)
	j := m.job(ctx, id)
	if j.Status != types.JOB_STATUS_CANCELLED || !res.Refunded.Equal(j.Escrow) || !m.balance(ctx, mktRequester).Sub(before).Equal(j.Escrow.Amount) {
		t.Fatalf("cancel: %s refunded %s", j.Status, res.Refunded)
	}
	if has, _ := m.f.K.BidCloseQueue.Has(ctx, collections.Join(j.BidCloseHeight, id)); has {
		t.Fatal("queue key left")
	}
	if has, _ := m.f.K.Bids.Has(ctx, collections.Join(id, m.acc(mktProvA))); has {
		t.Fatal("bid left")
	}
	m.invariants(ctx)
	_, err = m.f.Msg.CancelJob(ctx, &types.MsgCancelJob{Requester: m.addr(mktRequester), JobId: id})
	mktWantErr(t, err, types.ErrWrongJobStatus)
	// An awarded job cannot be cancelled.
	aw, actx := m.awardTo(tk.Branch(m.ctx), mktProvA, 500)
	_, err = m.f.Msg.CancelJob(actx, &types.MsgCancelJob{Requester: m.addr(mktRequester), JobId: aw})
	mktWantErr(t, err, types.ErrWrongJobStatus)
}

// TestBid covers every way a bid is refused: from non-providers, inactive
// providers, without an offer, on the bidder's own job, by an excluded provider,
// after the window, above the max, twice, beyond the cap.
func TestBid(t *testing.T) {
	m := newMarket(t)
	base := tk.Branch(m.ctx)
	job := m.createJob(base, mktRequester)
	ownJob := m.createJob(base, mktProvA)
	closeH := m.job(base, job).BidCloseHeight
	cases := []struct {
		name  string
		setup func(ctx sdk.Context) sdk.Context
		who   int
		job   uint64
		price sdk.Coin
		want  error
	}{
		{"valid", nil, mktProvA, job, mktCoin(500), nil},
		{"at the max", nil, mktProvA, job, mktCoin(mktMaxPrice), nil},
		{"free", nil, mktProvA, job, mktCoin(0), nil},
		{"at the close height", func(ctx sdk.Context) sdk.Context { return ctx.WithBlockHeight(closeH) }, mktProvA, job, mktCoin(1), nil},
		{"non-provider", nil, mktStranger, job, mktCoin(500), types.ErrProviderNotFound},
		{"requester is no provider", nil, mktRequester, job, mktCoin(500), types.ErrProviderNotFound},
		{"unknown job", nil, mktProvA, 999, mktCoin(500), types.ErrJobNotFound},
		{"jailed provider", func(ctx sdk.Context) sdk.Context {
			if err := m.f.K.Jail(ctx, m.acc(mktProvA), "t"); err != nil {
				t.Fatal(err)
			}
			return ctx
		}, mktProvA, job, mktCoin(500), types.ErrProviderNotActive},
		{"no offer", func(ctx sdk.Context) sdk.Context {
			if _, err := m.f.Msg.RemoveOffer(ctx, &types.MsgRemoveOffer{Operator: m.addr(mktProvA), DeploymentId: m.f.DeploymentID}); err != nil {
				t.Fatal(err)
			}
			return ctx
		}, mktProvA, job, mktCoin(500), types.ErrOfferNotFound},
		{"own job", nil, mktProvA, ownJob, mktCoin(500), types.ErrSelfDealing},
		{"after the window", func(ctx sdk.Context) sdk.Context { return ctx.WithBlockHeight(closeH + 1) }, mktProvA, job, mktCoin(500), types.ErrBidWindowClosed},
		{"above max", nil, mktProvA, job, mktCoin(mktMaxPrice + 1), types.ErrBidTooHigh},
		{"wrong denom", nil, mktProvA, job, sdk.NewInt64Coin("uatom", 1), types.ErrInvalidAmount},
		{"negative", nil, mktProvA, job, sdk.Coin{Denom: tk.Denom, Amount: sdkmath.NewInt(-1)}, types.ErrInvalidAmount},
		{"twice", func(ctx sdk.Context) sdk.Context { m.mustBid(ctx, mktProvA, job, 700); return ctx }, mktProvA, job, mktCoin(500), types.ErrDuplicateBid},
		{"too many bids", func(ctx sdk.Context) sdk.Context {
			m.setParams(ctx, func(p *types.Params) { p.MaxBidsPerJob = 2 })
			m.mustBid(ctx, mktProvB, job, 700)
			m.mustBid(ctx, mktProvC, job, 700)
			return ctx
		}, mktProvA, job, mktCoin(500), types.ErrTooManyBids},
		{"job awarded", func(ctx sdk.Context) sdk.Context {
			m.mustBid(ctx, mktProvB, job, 700)
			return m.f.AdvanceTo(ctx, closeH+1)
		}, mktProvA, job, mktCoin(500), types.ErrWrongJobStatus},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tk.Branch(base)
			if tc.setup != nil {
				ctx = tc.setup(ctx)
			}
			_, err := m.f.Msg.Bid(ctx, &types.MsgBid{Provider: m.addr(tc.who), JobId: tc.job, Price: tc.price})
			mktWantErr(t, err, tc.want)
			m.invariants(ctx)
			if tc.want != nil {
				return
			}
			b, err := m.f.K.Bids.Get(ctx, collections.Join(tc.job, m.acc(tc.who)))
			if err != nil || !b.Price.Equal(tc.price) || b.Sequence == 0 || m.job(ctx, tc.job).BidCount != 1 {
				t.Fatalf("bid %+v %v", b, err)
			}
		})
	}
}

// TestAwardOrder: lowest price, then higher bonded stake, then the earlier bid;
// bids of providers no longer ACTIVE are skipped; no usable bid expires the job.
func TestAwardOrder(t *testing.T) {
	type bid struct {
		who   int
		price int64
		stake int64 // extra stake added before the award
	}
	cases := []struct {
		name   string
		bids   []bid
		jail   []int
		winner int // -1: expired
	}{
		{"lowest price", []bid{{mktProvA, 500, 0}, {mktProvB, 400, 0}, {mktProvC, 600, 0}}, nil, mktProvB},
		{"tie: higher stake", []bid{{mktProvA, 500, 0}, {mktProvB, 500, 10}, {mktProvC, 500, 5}}, nil, mktProvB},
		{"tie: earlier bid", []bid{{mktProvC, 500, 0}, {mktProvA, 500, 0}, {mktProvB, 500, 0}}, nil, mktProvC},
		{"price beats stake", []bid{{mktProvA, 501, 1_000_000}, {mktProvB, 500, 0}}, nil, mktProvB},
		{"stake beats order", []bid{{mktProvA, 500, 0}, {mktProvB, 500, 1}}, nil, mktProvB},
		{"jailed best skipped", []bid{{mktProvA, 100, 0}, {mktProvB, 500, 0}}, []int{mktProvA}, mktProvB},
		{"nobody active", []bid{{mktProvA, 100, 0}}, []int{mktProvA}, -1},
		{"no bids", nil, nil, -1},
	}
	m := newMarket(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tk.Branch(m.ctx)
			before := m.balance(ctx, mktRequester)
			id := m.createJob(ctx, mktRequester)
			for _, b := range tc.bids {
				m.mustBid(ctx, b.who, id, b.price)
				if b.stake > 0 {
					if _, err := m.f.Msg.AddStake(ctx, &types.MsgAddStake{Operator: m.addr(b.who), Amount: mktCoin(b.stake)}); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, who := range tc.jail {
				if err := m.f.K.Jail(ctx, m.acc(who), "t"); err != nil {
					t.Fatal(err)
				}
			}
			bids, err := m.f.Query.Bids(ctx, &types.QueryBidsRequest{JobId: id})
			if err != nil || len(bids.Bids) != len(tc.bids) {
				t.Fatalf("bids %v %v", bids, err)
			}
			ctx = m.f.AdvanceTo(ctx, m.job(ctx, id).BidCloseHeight+1)
			j := m.job(ctx, id)
			m.invariants(ctx)
			if tc.winner < 0 {
				if j.Status != types.JOB_STATUS_EXPIRED || !m.balance(ctx, mktRequester).Equal(before) || !j.Refunded.Equal(j.Escrow) {
					t.Fatalf("job %s refunded %s", j.Status, j.Refunded)
				}
				if n, _ := m.f.Query.Bids(ctx, &types.QueryBidsRequest{JobId: id}); len(n.Bids) != 0 {
					t.Fatal("bids kept after expiry")
				}
				return
			}
			if j.Status != types.JOB_STATUS_AWARDED || j.Winner != m.addr(tc.winner) {
				t.Fatalf("job %s won by %s, want %s", j.Status, j.Winner, m.addr(tc.winner))
			}
			if len(tc.jail) == 0 && bids.Bids[0].Provider != j.Winner {
				t.Fatalf("Bids query does not list the winner first: %v", bids.Bids)
			}
			if j.DeadlineHeight != j.AwardedHeight+mktExec {
				t.Fatalf("deadline %d awarded %d", j.DeadlineHeight, j.AwardedHeight)
			}
			if has, _ := m.f.K.DeadlineQueue.Has(ctx, collections.Join(j.DeadlineHeight, id)); !has {
				t.Fatal("not in the deadline queue")
			}
		})
	}
}

func TestSubmitReceipt(t *testing.T) {
	m := newMarket(t)
	id, awarded := m.awardTo(tk.Branch(m.ctx), mktProvA, 500)
	j := m.job(awarded, id)
	otherJob := m.createJob(awarded, mktRequester) // still OPEN
	cases := []struct {
		name  string
		setup func(ctx sdk.Context) sdk.Context
		msg   func(ctx sdk.Context) *types.MsgSubmitReceipt
		want  error
	}{
		{"valid", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt {
			return m.receiptMsg(ctx, mktProvA, id, 100, 200, mktProvA)
		}, nil},
		{"at the deadline", func(ctx sdk.Context) sdk.Context { return ctx.WithBlockHeight(j.DeadlineHeight) },
			func(ctx sdk.Context) *types.MsgSubmitReceipt {
				return m.receiptMsg(ctx, mktProvA, id, 100, 200, mktProvA)
			}, nil},
		{"all max tokens", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt {
			return m.receiptMsg(ctx, mktProvA, id, 1, mktMaxTokens-1, mktProvA)
		}, nil},
		{"non-winner", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt {
			return m.receiptMsg(ctx, mktProvB, id, 100, 200, mktProvB)
		}, types.ErrNotWinner},
		{"stranger", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt {
			return m.receiptMsg(ctx, mktStranger, id, 100, 200, mktStranger)
		}, types.ErrNotWinner},
		{"after the deadline", func(ctx sdk.Context) sdk.Context { return ctx.WithBlockHeight(j.DeadlineHeight + 1) },
			func(ctx sdk.Context) *types.MsgSubmitReceipt {
				return m.receiptMsg(ctx, mktProvA, id, 100, 200, mktProvA)
			}, types.ErrDeadlinePassed},
		{"tokens over max", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt {
			return m.receiptMsg(ctx, mktProvA, id, 1, mktMaxTokens, mktProvA)
		}, types.ErrTooManyTokens},
		{"tokens overflow", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt {
			msg := m.receiptMsg(ctx, mktProvA, id, 100, 200, -1)
			msg.PromptTokens, msg.CompletionTokens = 1<<63, 1<<63
			return msg
		}, types.ErrTooManyTokens},
		{"zero tokens", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt { return m.receiptMsg(ctx, mktProvA, id, 0, 0, mktProvA) }, types.ErrInvalidField},
		{"signed by another key", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt {
			return m.receiptMsg(ctx, mktProvA, id, 100, 200, mktProvB)
		}, types.ErrBadSignature},
		{"unsigned", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt { return m.receiptMsg(ctx, mktProvA, id, 100, 200, -1) }, types.ErrBadSignature},
		{"signature of other tokens", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt {
			msg := m.receiptMsg(ctx, mktProvA, id, 100, 200, mktProvA)
			msg.CompletionTokens = 201
			return msg
		}, types.ErrBadSignature},
		{"signature truncated", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt {
			msg := m.receiptMsg(ctx, mktProvA, id, 100, 200, mktProvA)
			msg.Signature = msg.Signature[:63]
			return msg
		}, types.ErrBadSignature},
		{"engine not declared", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt {
			msg := m.receiptMsg(ctx, mktProvA, id, 100, 200, -1)
			msg.EngineName = "vllm"
			msg.Signature = m.sign(ctx, msg, mktProvA)
			return msg
		}, types.ErrEngineNotSupported},
		{"bad output cid", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt {
			msg := m.receiptMsg(ctx, mktProvA, id, 100, 200, mktProvA)
			msg.OutputCid = "nope"
			return msg
		}, types.ErrInvalidField},
		{"bad output sha", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt {
			msg := m.receiptMsg(ctx, mktProvA, id, 100, 200, mktProvA)
			msg.OutputSha256 = "zz"
			return msg
		}, types.ErrInvalidField},
		{"no record cid", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt {
			msg := m.receiptMsg(ctx, mktProvA, id, 100, 200, mktProvA)
			msg.RecordCid = ""
			return msg
		}, types.ErrInvalidField},
		{"bad engine version", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt {
			msg := m.receiptMsg(ctx, mktProvA, id, 100, 200, mktProvA)
			msg.EngineVersion = "v 1"
			return msg
		}, types.ErrInvalidField},
		{"summary weights wrong", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt {
			msg := m.receiptMsg(ctx, mktProvA, id, 100, 200, mktProvA) // checked before the signature
			msg.Summary = rewardstypes.AttributionSummary{RecordSha256: m.f.Summary.RecordSha256, Pools: m.f.Summary.Pools}
			return msg
		}, types.ErrInvalidSummary},
		{"summary of a foreign contribution", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt {
			msg := m.receiptMsg(ctx, mktProvA, id, 100, 200, -1)
			s := m.f.Summary
			s.Top = []rewardstypes.ContributionWeight{{DatanetId: m.f.DatanetID, Version: m.f.DatasetVersion, ContributionId: 999, Ppm: s.Top[0].Ppm}}
			msg.Summary = s
			msg.Signature = m.sign(ctx, msg, mktProvA)
			return msg
		}, rewardstypes.ErrContributionNotInVersion},
		{"no summary hash", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt {
			msg := m.receiptMsg(ctx, mktProvA, id, 100, 200, mktProvA)
			msg.Summary.RecordSha256 = ""
			return msg
		}, types.ErrInvalidSummary},
		{"job not awarded", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt {
			return m.receiptMsg(ctx, mktProvA, otherJob, 100, 200, mktProvA)
		}, types.ErrWrongJobStatus},
		{"unknown job", nil, func(ctx sdk.Context) *types.MsgSubmitReceipt {
			return m.receiptMsg(ctx, mktProvA, 999, 100, 200, mktProvA)
		}, types.ErrJobNotFound},
		{"twice", func(ctx sdk.Context) sdk.Context {
			if _, err := m.f.Msg.SubmitReceipt(ctx, m.receiptMsg(ctx, mktProvA, id, 100, 200, mktProvA)); err != nil {
				t.Fatal(err)
			}
			return ctx
		}, func(ctx sdk.Context) *types.MsgSubmitReceipt {
			return m.receiptMsg(ctx, mktProvA, id, 10, 20, mktProvA)
		}, types.ErrReceiptExists},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tk.Branch(awarded)
			if tc.setup != nil {
				ctx = tc.setup(ctx)
			}
			msg := tc.msg(ctx)
			res, err := m.f.Msg.SubmitReceipt(ctx, msg)
			mktWantErr(t, err, tc.want)
			m.invariants(ctx)
			if tc.want != nil {
				if tc.want == rewardstypes.ErrContributionNotInVersion && !errors.Is(err, types.ErrInvalidSummary) {
					t.Fatalf("cause not wrapped in ErrInvalidSummary: %v", err)
				}
				return
			}
			got := m.job(ctx, id)
			r, err := m.f.K.Receipts.Get(ctx, id)
			if err != nil || got.Status != types.JOB_STATUS_PENDING || r.Status != types.SETTLEMENT_STATUS_PENDING ||
				r.ChallengeEndHeight != ctx.BlockHeight()+int64(m.params.ChallengeWindowBlocks) || res.ChallengeEndHeight != r.ChallengeEndHeight {
				t.Fatalf("job %s receipt %+v %v", got.Status, r, err)
			}
			if has, _ := m.f.K.DeadlineQueue.Has(ctx, collections.Join(j.DeadlineHeight, id)); has {
				t.Fatal("still in the deadline queue")
			}
			if has, _ := m.f.K.JobFinalizeQueue.Has(ctx, collections.Join(r.ChallengeEndHeight, id)); !has {
				t.Fatal("not in the finalize queue")
			}
		})
	}
}

// TestDeadlineMissReauctionThenFail: the winner misses its deadline (slashed,
// excluded, job re-auctioned once), the second winner misses too (slashed, the job
// FAILED and refunded in full).
func TestDeadlineMissReauctionThenFail(t *testing.T) {
	m := newMarket(t)
	ctx := tk.Branch(m.ctx)
	supply := m.supply(ctx)
	requesterStart := m.balance(ctx, mktRequester)
	id, ctx := m.awardTo(ctx, mktProvA, 500)
	m.mustBid(ctx, mktProvC, m.createJob(ctx, mktStranger), 1) // unrelated traffic
	pool := m.f.CommunityPool(ctx)
	j := m.job(ctx, id)

	ctx = m.f.AdvanceTo(ctx, j.DeadlineHeight+1)
	j = m.job(ctx, id)
	a := m.provider(ctx, mktProvA)
	slashA := int64(mktStake) * int64(m.params.DeadlineSlashBps) / 10_000
	if j.Status != types.JOB_STATUS_OPEN || j.Auctions != 2 || j.Winner != "" || j.BidCount != 0 ||
		len(j.Excluded) != 1 || j.Excluded[0] != m.addr(mktProvA) {
		t.Fatalf("after the first miss: %+v", j)
	}
	if a.Stake.Amount.Int64() != mktStake-slashA || a.MissedDeadlines != 1 || a.SlashedTotal.Int64() != slashA {
		t.Fatalf("provider A: stake %s missed %d slashed %s", a.Stake, a.MissedDeadlines, a.SlashedTotal)
	}
	if got := m.f.CommunityPool(ctx).Sub(pool); got.Int64() != slashA {
		t.Fatalf("community pool +%s, want %d", got, slashA)
	}
	m.invariants(ctx)
	// The defaulter may not bid again; B wins the re-auction.
	mktWantErr(t, m.bid(ctx, mktProvA, id, 1), types.ErrExcludedProvider)
	m.mustBid(ctx, mktProvB, id, 600)
	ctx = m.f.AdvanceTo(ctx, j.BidCloseHeight+1)
	j = m.job(ctx, id)
	if j.Status != types.JOB_STATUS_AWARDED || j.Winner != m.addr(mktProvB) {
		t.Fatalf("re-auction: %s to %s", j.Status, j.Winner)
	}
	_, err := m.f.Msg.SubmitReceipt(ctx, m.receiptMsg(ctx, mktProvA, id, 1, 1, mktProvA))
	mktWantErr(t, err, types.ErrNotWinner)

	ctx = m.f.AdvanceTo(ctx, j.DeadlineHeight+1)
	j = m.job(ctx, id)
	if j.Status != types.JOB_STATUS_FAILED || len(j.Excluded) != 2 || !j.Refunded.Equal(j.Escrow) {
		t.Fatalf("after the second miss: %+v", j)
	}
	if b := m.provider(ctx, mktProvB); b.MissedDeadlines != 1 || b.Stake.Amount.Int64() != mktStake-slashA {
		t.Fatalf("provider B: %s missed %d", b.Stake, b.MissedDeadlines)
	}
	// The unrelated job is still open or awarded; the requester got its escrow back.
	if got := m.balance(ctx, mktRequester); !got.Equal(requesterStart) {
		t.Fatalf("requester %s, want %s", got, requesterStart)
	}
	if !m.supply(ctx).Equal(supply) {
		t.Fatal("supply changed")
	}
	m.invariants(ctx)
	if n, _ := m.f.Query.Bids(ctx, &types.QueryBidsRequest{JobId: id}); len(n.Bids) != 0 {
		t.Fatal("bids kept after failure")
	}
}

// TestJailAfterMisses jails a provider at jail_after_misses missed deadlines.
func TestJailAfterMisses(t *testing.T) {
	m := newMarket(t)
	ctx := tk.Branch(m.ctx)
	m.setParams(ctx, func(p *types.Params) { p.JailAfterMisses = 2; p.MaxReauctions = 0 })
	for miss := 1; miss <= 2; miss++ {
		id, c := m.awardTo(ctx, mktProvA, 500)
		ctx = m.f.AdvanceTo(c, m.job(c, id).DeadlineHeight+1)
		if j := m.job(ctx, id); j.Status != types.JOB_STATUS_FAILED {
			t.Fatalf("miss %d: job %s (max_reauctions 0)", miss, j.Status)
		}
		p := m.provider(ctx, mktProvA)
		if want := miss >= 2; (p.Status == types.PROVIDER_STATUS_JAILED) != want {
			t.Fatalf("miss %d: status %s", miss, p.Status)
		}
	}
	m.invariants(ctx)
}
