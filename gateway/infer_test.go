package gateway_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	sdkmath "cosmossdk.io/math"

	"github.com/openledger/openledger/gateway"
	"github.com/openledger/openledger/provider/sessions"
)

func TestInferStreamsAndReusesTheSession(t *testing.T) {
	w := newWorld(t)
	w.addProvider("open1only", 1000, nil, nil)
	g, _ := w.gateway(t.TempDir())
	price := sessions.Price{Compute: sdkmath.NewInt(1000), Royalty: sdkmath.NewInt(royalty)}
	for i, in := range []gateway.InferRequest{
		{Model: "tiny", Prompt: "one two three four", MaxTokens: 8},
		{Model: "7", Prompt: "alpha beta gamma", Chat: true},
	} {
		var pieces []string
		res, err := g.Infer(context.Background(), in, func(p string) { pieces = append(pieces, p) })
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		want := in.Prompt + " "
		if len(pieces) != len(strings.Fields(in.Prompt)) || strings.Join(pieces, "") != want || res.Text != want {
			t.Fatalf("request %d: pieces %q, text %q", i, pieces, res.Text)
		}
		if res.Receipt.OutputSHA256 != sha256.Sum256([]byte(want)) || res.Receipt.RequestSeq != uint64(i+1) || res.SessionID != 1 || res.Provider != "open1only" {
			t.Fatalf("request %d: %+v", i, res)
		}
		if !res.Amount.Equal(price.Cost(res.Receipt.PromptTokens+res.Receipt.CompletionTokens)) || res.Denom != "uopen" {
			t.Fatalf("request %d: amount %s%s", i, res.Amount, res.Denom)
		}
	}
	if w.gc.opened != 1 {
		t.Fatalf("%d sessions opened", w.gc.opened)
	}
}

func TestInferErrors(t *testing.T) {
	w := newWorld(t)
	w.addProvider("open1only", 1000, nil, nil)
	g, _ := w.gateway(t.TempDir())
	for _, tc := range []struct {
		model  string
		status int
		code   string
	}{
		{"no-such-alias", 404, "model_not_found"},
		{"99", 502, "no_provider"}, // run with no offers on the fake chain
	} {
		if tc.model == "99" {
			w.gc.mu.Lock()
			saved := w.gc.offers
			w.gc.offers = nil
			w.gc.mu.Unlock()
			defer func() { w.gc.mu.Lock(); w.gc.offers = saved; w.gc.mu.Unlock() }()
		}
		_, err := g.Infer(context.Background(), gateway.InferRequest{Model: tc.model, Prompt: "x"}, nil)
		var ie *gateway.InferError
		if !errors.As(err, &ie) || ie.Status != tc.status || ie.Code != tc.code {
			t.Fatalf("model %s: %v, want %d %s", tc.model, err, tc.status, tc.code)
		}
	}
}

func TestLockHome(t *testing.T) {
	home := t.TempDir()
	unlock, err := gateway.LockHome(home)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gateway.LockHome(home); err == nil || !strings.Contains(err.Error(), "another") {
		t.Fatalf("second lock: %v", err)
	}
	unlock()
	unlock2, err := gateway.LockHome(home)
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
}
