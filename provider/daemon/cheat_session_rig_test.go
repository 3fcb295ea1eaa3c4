package daemon_test

// Sessions on the verification e2e's rig (cheat_rig_test.go): gina runs
// `openledgerd infer` against a provider's deployment, the provider settles
// the session's voucher, and gina checks the settlement with `openledgerd
// verify settlement` and challenges it.

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openledger/openledger/provider/internal/chaintest"
	"github.com/openledger/openledger/testutil/e2e"
	"github.com/openledger/openledger/x/inference/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// inferExpiryBlocks is the expiry of the sessions infer opens. The provider
// settles a session once the height reaches its expiry less its margin (20
// blocks; the default threshold and interval are far off), so the session
// is settled about 40 blocks after it opens, and both requests of inferTwice
// have those 40 blocks to be served.
const inferExpiryBlocks = "60"

var inferReceiptRE = regexp.MustCompile(`receipt: provider (\S+) \(\S+\), session (\d+), request (\d+): (\d+) prompt \+ (\d+) completion tokens`)

// inferTwice runs `openledgerd infer` twice as gina on a provider's
// deployment (that provider offers it cheapest, so the gateway picks it) from
// the chain home, and returns the session the first call opened and the
// second reused. Each call acknowledges its receipt (a voucher naming it;
// infer sends no final voucher), so the settlement covers both requests and
// publishes their transcripts; one call would be settled as well. Each
// deployment gets its own session; the calls take the home's gateway lock, so
// they run one at a time. home holds the gateway's session state (the
// chain home unless a test wants a fresh session on a deployment used before).
func (r *cheatRig) inferTwice(t *testing.T, home, provider string, seed int) uint64 {
	t.Helper()
	id := r.infer(t, home, provider, seed, 1, 0)
	r.infer(t, home, provider, seed+100, 2, id)
	return id
}

// infer runs `openledgerd infer` once and checks the receipt names the
// provider and request seq of session want (0: any session). --max-tokens is
// above what the tiny model can generate (its context is 128 tokens), so the
// session-usage lie has room to inflate the count.
func (r *cheatRig) infer(t *testing.T, home, provider string, seed int, seq, want uint64) uint64 {
	t.Helper()
	cmd := exec.Command(r.c.Bin, "infer", "--home", home, "--keyring-dir", r.c.Home, "--keyring-backend", "test", "--from", "gina",
		"--chain-id", e2e.ChainID, "--node", chaintest.RPCAddr(r.c), "--grpc-addr", chaintest.GRPCAddr(t, r.c),
		"--budget", "10000000uopen", "--deposit", "1000000uopen", "--expiry-blocks", inferExpiryBlocks, "--transport", "http",
		"--deployment", r.dep[provider], "--max-tokens", "200", "--seed", strconv.Itoa(seed), "Patience is")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("infer on %s's deployment %s: %v\nstdout %q\nstderr %s", provider, r.dep[provider], err, stdout.String(), stderr.String())
	}
	m := inferReceiptRE.FindStringSubmatch(stderr.String())
	if m == nil || m[1] != r.addr[provider] || m[5] == "0" {
		t.Fatalf("infer on %s's deployment: receipt %q, want one by %s with a completion\nstderr %s", provider, m, r.addr[provider], stderr.String())
	}
	id, _ := strconv.ParseUint(m[2], 10, 64)
	if m[3] != strconv.FormatUint(seq, 10) || (want != 0 && id != want) {
		t.Fatalf("infer on %s's deployment: session %s request %s, want request %d of session %d (0: a new one)", provider, m[2], m[3], seq, want)
	}
	t.Logf("infer on %s's deployment %s: session %d request %s, %s prompt + %s completion tokens: %q", provider, r.dep[provider], id, m[3], m[4], m[5], stdout.String())
	return id
}

// settled waits until the session has a settlement on chain, by provider,
// and returns it.
func (r *cheatRig) settled(t *testing.T, session uint64, provider string) types.SessionSettlement {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(90 * time.Second)
	for {
		res, err := r.q.Inference().SessionSettlements(ctx, &types.QuerySessionSettlementsRequest{SessionId: session})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Settlements) > 0 {
			s, err := r.q.Inference().Session(ctx, &types.QuerySessionRequest{SessionId: session})
			if err != nil {
				t.Fatal(err)
			}
			st := res.Settlements[0]
			if s.Session.Provider != r.addr[provider] || len(res.Settlements) != 1 || !st.Amount.IsPositive() || st.Requests == 0 || st.RecordCid == "" {
				t.Fatalf("session %d (provider %s, want %s): settlements %+v", session, s.Session.Provider, provider, res.Settlements)
			}
			t.Logf("session %d settled by %s: settlement %d, %s for %d tokens in %d requests, record %s, window ends at %d",
				session, provider, st.Id, st.Amount, st.Tokens, st.Requests, st.RecordCid, st.ChallengeEndHeight)
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %d: no settlement in 90 s", session)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// settlementOf reads a settlement by its session and id.
func (r *cheatRig) settlementOf(t *testing.T, session, id uint64) types.SessionSettlement {
	t.Helper()
	res, err := r.q.Inference().SessionSettlements(context.Background(), &types.QuerySessionSettlementsRequest{SessionId: session})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range res.Settlements {
		if st.Id == id {
			return st
		}
	}
	t.Fatalf("session %d has no settlement %d", session, id)
	return types.SessionSettlement{}
}

// waitSettlement polls a settlement until its status is one of want.
func (r *cheatRig) waitSettlement(t *testing.T, session, id uint64, timeout time.Duration, want ...types.SettlementStatus) types.SessionSettlement {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := r.settlementOf(t, session, id)
		for _, w := range want {
			if st.Status == w {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("settlement %d of session %d is %s after %s, want one of %v", id, session, st.Status, timeout, want)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// verifySettlement runs `openledgerd verify settlement ID` as the requester
// would (the real binary, through her IPFS daemon) and returns its output and
// whether it exited 0.
func (r *cheatRig) verifySettlement(t *testing.T, id uint64) (string, bool) {
	t.Helper()
	out, err := exec.Command(r.c.Bin, "verify", "settlement", strconv.FormatUint(id, 10), "--home", r.c.Home,
		"--node", chaintest.RPCAddr(r.c)).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("verify settlement %d: %v\n%s", id, err, out)
	}
	return string(out), err == nil
}

// disputeOf waits until a target has a resolved dispute.
func (r *cheatRig) disputeOf(t *testing.T, kind types.TargetKind, id uint64) types.Dispute {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		res, err := r.q.Inference().DisputeByTarget(context.Background(), &types.QueryDisputeByTargetRequest{TargetKind: kind, TargetId: id})
		if err == nil && res.Dispute.Status == types.DISPUTE_STATUS_RESOLVED {
			return res.Dispute
		}
		if err != nil && status.Code(err) != codes.NotFound {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dispute of %s %d was not resolved in 3 minutes (%v)", kind, id, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// paidRecord is x/rewards' record of a paid settlement.
func (r *cheatRig) paidRecord(t *testing.T, id uint64) rewardstypes.SettlementRecord {
	t.Helper()
	res, err := r.q.Rewards().SettlementRecord(context.Background(), &rewardstypes.QuerySettlementRecordRequest{
		PayerModule: types.ModuleName, SettlementId: id})
	if err != nil {
		t.Fatalf("settlement %d's payment record: %v", id, err)
	}
	return res.Record
}
