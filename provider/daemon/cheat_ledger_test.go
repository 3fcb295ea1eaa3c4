package daemon_test

// The verification e2e's accounting: balances and stakes at a height, fees
// from the tx index, and each provider's earnings, slashes and voter shares
// from the chain's settlement records, slashes and disputes.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	grpctypes "github.com/cosmos/cosmos-sdk/types/grpc"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"

	"github.com/openledger/openledger/x/inference/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// worth is an account's spendable uopen and its provider stake at a height.
func (r *cheatRig) worth(t *testing.T, name string, height int64) (balance, stake int64) {
	t.Helper()
	ctx := metadata.AppendToOutgoingContext(context.Background(), grpctypes.GRPCBlockHeightHeader, strconv.FormatInt(height, 10))
	b, err := r.q.Bank().Balance(ctx, &banktypes.QueryBalanceRequest{Address: r.addr[name], Denom: "uopen"})
	// The latest block is stored a moment before its state is committed.
	for i := 0; i < 50 && err != nil && strings.Contains(err.Error(), "height in the future"); i++ {
		time.Sleep(100 * time.Millisecond)
		b, err = r.q.Bank().Balance(ctx, &banktypes.QueryBalanceRequest{Address: r.addr[name], Denom: "uopen"})
	}
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.q.Inference().Provider(ctx, &types.QueryProviderRequest{Operator: r.addr[name]})
	if err != nil {
		t.Fatal(err)
	}
	return b.Balance.Amount.Int64(), p.Provider.Stake.Amount.Int64()
}

// snapshot is frank's and grace's balance and stake at a height.
type snapshot struct {
	height         int64
	balance, stake map[string]int64
}

func (r *cheatRig) snapshot(t *testing.T) snapshot {
	t.Helper()
	h, err := r.q.LatestHeight(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := snapshot{height: h, balance: map[string]int64{}, stake: map[string]int64{}}
	for _, p := range []string{"frank", "grace"} {
		s.balance[p], s.stake[p] = r.worth(t, p, h)
	}
	return s
}

// fees sums the fees an account paid in blocks after height (failed txs pay
// theirs too), from the node's tx index.
func (r *cheatRig) fees(t *testing.T, name string, after int64) int64 {
	t.Helper()
	var out struct {
		Txs []struct {
			Tx struct {
				AuthInfo struct {
					Fee struct {
						Amount []struct {
							Denom  string `json:"denom"`
							Amount string `json:"amount"`
						} `json:"amount"`
					} `json:"fee"`
				} `json:"auth_info"`
			} `json:"tx"`
		} `json:"txs"`
	}
	r.c.MustQuery(&out, "txs", "--query", fmt.Sprintf("tx.fee_payer='%s' AND tx.height>%d", r.addr[name], after), "--limit", "100")
	if len(out.Txs) == 0 || len(out.Txs) == 100 {
		t.Fatalf("%s's txs after height %d: %d listed (none, or more than one page)", name, after, len(out.Txs))
	}
	var sum int64
	for _, tx := range out.Txs {
		for _, c := range tx.Tx.AuthInfo.Fee.Amount {
			n, err := strconv.ParseInt(c.Amount, 10, 64)
			if err != nil || c.Denom != "uopen" {
				t.Fatalf("fee %+v", c)
			}
			sum += n
		}
	}
	return sum
}

// ledger is what each provider earned (compute paid by settlements), was
// slashed and was rewarded (voter shares), read from the chain.
type ledger struct {
	earned, slashed, rewarded map[string]int64
	jobs                      map[string]int
}

func (r *cheatRig) ledger(t *testing.T, disputes []types.Dispute) ledger {
	t.Helper()
	ctx := context.Background()
	l := ledger{earned: map[string]int64{}, slashed: map[string]int64{}, rewarded: map[string]int64{}, jobs: map[string]int{}}
	name := map[string]string{}
	for n, a := range r.addr {
		name[a] = n
	}
	// Every settlement of the inference module, in id order, until a run of
	// missing ids: a voided session settlement keeps its id and pays nothing.
	for id, missing := uint64(1), 0; id <= 1000 && missing < 8; id++ {
		res, err := r.q.Rewards().SettlementRecord(ctx, &rewardstypes.QuerySettlementRecordRequest{PayerModule: types.ModuleName, SettlementId: id})
		if err != nil && strings.Contains(err.Error(), "settlement record not found") {
			missing++
			continue
		}
		missing = 0
		if err != nil {
			t.Fatal(err)
		}
		n := name[res.Record.Provider]
		l.earned[n] += res.Record.Compute.Amount.Int64()
		l.jobs[n]++
	}
	for _, p := range cheatProviders {
		res, err := r.q.Inference().ProviderSlashes(ctx, &types.QueryProviderSlashesRequest{Operator: r.addr[p]})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range res.Slashes {
			l.slashed[p] += s.Amount.Amount.Int64()
		}
	}
	// Voter shares: ⌊voter_rewards-pool × weight / majority weight⌋ — the
	// keeper's payVoters — recomputed from the dispute's pay-out and votes.
	for _, d := range disputes {
		votes, err := r.q.Inference().Votes(ctx, &types.QueryVotesRequest{DisputeId: d.Id})
		if err != nil {
			t.Fatal(err)
		}
		weight := map[string]int64{}
		for _, m := range d.Committee {
			weight[m.Operator] = m.Weight.Int64()
		}
		var majority []string
		var total int64
		for _, v := range votes.Votes {
			if v.Revealed && v.Vote.ClaimHolds == (d.Outcome == types.DISPUTE_OUTCOME_UPHELD) {
				majority = append(majority, v.Voter)
				total += weight[v.Voter]
			}
		}
		var paid int64
		shares := map[string]int64{}
		for _, v := range majority {
			shares[v] = d.VoterRewards.Amount.Int64() * weight[v] / total
			paid += shares[v]
		}
		// With equal weights (the usual case here) the shares are exact; with
		// unequal ones a share may differ from the keeper's by one uopen.
		if p := d.VoterRewards.Amount.Int64(); paid > p || p-paid >= int64(len(majority))+1 {
			t.Fatalf("dispute %d: voter shares %v sum to %d, the dispute paid %s", d.Id, shares, paid, d.VoterRewards)
		}
		for v, s := range shares {
			l.rewarded[name[v]] += s
		}
	}
	return l
}

// table prints the ledger: per provider, earned, slashed, rewarded, net.
func (l ledger) table(t *testing.T) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%-6s %5s %12s %12s %12s %12s\n", "", "jobs", "earned", "slashed", "rewarded", "net")
	for _, p := range cheatProviders {
		fmt.Fprintf(&b, "%-6s %5d %12d %12d %12d %+12d\n", p, l.jobs[p], l.earned[p], l.slashed[p], l.rewarded[p],
			l.earned[p]+l.rewarded[p]-l.slashed[p])
	}
	t.Logf("per provider, in uopen (earned: compute of settlements; slashed: verification slashes; rewarded: committee voter shares):\n%s", b.String())
}
