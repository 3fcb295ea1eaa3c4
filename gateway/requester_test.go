package gateway_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/gateway"
	"github.com/openledger/openledger/provider/openai/openaitest"
)

// ownedChain opens sessions for one account and says who opened a session.
type ownedChain struct {
	*fakeChain
	who  string
	fail error // SessionRequester fails with it
}

func (o *ownedChain) OpenSession(_ context.Context, provider string, dep uint64, deposit sdk.Coin, pub ed25519.PublicKey) (uint64, sdk.Coin, error) {
	o.mu.Lock()
	o.opened++
	o.mu.Unlock()
	return o.c.OpenSession(o.who, provider, dep, deposit.Amount.Int64(), royalty, pub), sdk.NewInt64Coin(openaitest.Denom, royalty), nil
}

func (o *ownedChain) SessionRequester(_ context.Context, id uint64) (string, error) {
	if o.fail != nil {
		return "", o.fail
	}
	info, ok := o.c.Info(id)
	if !ok {
		return "", errors.New("no such session")
	}
	return info.Requester, nil
}

func ownedGateway(t *testing.T, home string, c *ownedChain) (*gateway.Gateway, error) {
	return gateway.New(gateway.Config{
		Home: home, Budget: sdk.NewInt64Coin(openaitest.Denom, 100_000_000), Deposit: sdkmath.NewInt(1_000_000),
		Aliases: map[string]uint64{"tiny": deployment}, Requester: c.who,
	}, c, nil)
}

func stateOf(t *testing.T, home string, id string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(home, "gateway", "sessions", id+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSessionsBelongToTheirRequester: under one home, a gateway run with
// another key opens its own session instead of spending the first key's; a
// state file from before requesters were recorded is adopted by the account
// the chain says opened it, or refused with a clear message when the chain
// cannot say.
func TestSessionsBelongToTheirRequester(t *testing.T) {
	w := newWorld(t)
	w.addProvider("open1cheap", 1000, nil, nil)
	home := t.TempDir()
	alice := &ownedChain{fakeChain: w.gc, who: "open1alice"}
	bob := &ownedChain{fakeChain: w.gc, who: "open1bob"}
	infer := func(g *gateway.Gateway) uint64 {
		t.Helper()
		res, err := g.Infer(context.Background(), gateway.InferRequest{Model: "tiny", Prompt: "a b c", MaxTokens: 2}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.SessionID
	}
	ga, err := ownedGateway(t, home, alice)
	if err != nil {
		t.Fatal(err)
	}
	if s := infer(ga); s != 1 {
		t.Fatalf("alice's session %d", s)
	}
	if r := stateOf(t, home, "1")["requester"]; r != "open1alice" {
		t.Fatalf("session 1 requester %v", r)
	}
	gb, err := ownedGateway(t, home, bob)
	if err != nil {
		t.Fatal(err)
	}
	if gb.HasSession(deployment) {
		t.Fatal("bob sees alice's session as his")
	}
	if s := infer(gb); s != 2 || w.gc.opened != 2 {
		t.Fatalf("bob used session %d (%d opened): alice's was reused", s, w.gc.opened)
	}

	// Old state: no requester in session 1's file.
	p := filepath.Join(home, "gateway", "sessions", "1.json")
	m := stateOf(t, home, "1")
	delete(m, "requester")
	b, _ := json.Marshal(m)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = ownedGateway(t, home, &ownedChain{fakeChain: w.gc, who: "open1alice", fail: errors.New("node down")})
	if err == nil || !strings.Contains(err.Error(), "predates requester tracking") {
		t.Fatalf("old state with no chain: %v", err)
	}
	ga, err = ownedGateway(t, home, alice)
	if err != nil {
		t.Fatal(err)
	}
	if r := stateOf(t, home, "1")["requester"]; r != "open1alice" {
		t.Fatalf("adopted session 1 requester %v", r)
	}
	if s := infer(ga); s != 1 || w.gc.opened != 2 {
		t.Fatalf("alice used session %d (%d opened), want her session 1 again", s, w.gc.opened)
	}
}
