// Package openaitest has fakes for testing provider/openai and the gateway: a
// chain at the process boundary, a scripted engine, and an in-process provider
// (a real sessions.Manager over a real store, the real HTTP API).
package openaitest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmath "cosmossdk.io/math"
	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/provider/sessions"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// Chain IDs and denoms of the fakes.
const (
	ChainID = "openledger-test"
	Denom   = "uopen"
)

// Chain is a fake chain shared by providers and gateways: sessions, heights,
// offers and the settlements submitted.
type Chain struct {
	mu       sync.Mutex
	sessions map[uint64]*sessions.Info
	nextID   uint64
	height   int64
	// Compute prices per provider operator.
	compute map[string]int64
	// Settled are the settlement messages accepted, in order.
	Settled []*inferencetypes.MsgSettleSession
}

// NewChain returns a chain at height 100.
func NewChain() *Chain {
	return &Chain{sessions: map[uint64]*sessions.Info{}, height: 100, compute: map[string]int64{}}
}

// SetCompute sets a provider's compute price per 1,000 tokens.
func (c *Chain) SetCompute(operator string, price int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.compute[operator] = price
}

// Compute returns a provider's compute price.
func (c *Chain) Compute(operator string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.compute[operator]
}

// OpenSession opens a session and returns its id.
func (c *Chain) OpenSession(requester, provider string, deployment uint64, deposit int64, royalty int64, pub ed25519.PublicKey) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	c.sessions[c.nextID] = &sessions.Info{
		ID: c.nextID, Requester: requester, Provider: provider, DeploymentID: deployment,
		Deposit: sdk.NewInt64Coin(Denom, deposit), Royalty: sdkmath.NewInt(royalty), PubKey: pub, Open: true,
		ExpiryHeight: c.height + 1000,
	}
	return c.nextID
}

// TopUp adds to a session's deposit.
func (c *Chain) TopUp(id uint64, amount int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sessions[id]
	s.Deposit = s.Deposit.AddAmount(sdkmath.NewInt(amount))
}

// Info returns a session.
func (c *Chain) Info(id uint64) (sessions.Info, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sessions[id]
	if !ok {
		return sessions.Info{}, false
	}
	return *s, true
}

// For returns the sessions.Chain view of one provider.
func (c *Chain) For(operator string) sessions.Chain { return providerChain{c, operator} }

type providerChain struct {
	c        *Chain
	operator string
}

func (p providerChain) Session(_ context.Context, id uint64) (sessions.Info, error) {
	s, ok := p.c.Info(id)
	if !ok {
		return sessions.Info{}, fmt.Errorf("%w: %d", sessions.ErrUnknownSession, id)
	}
	return s, nil
}

func (p providerChain) Height(context.Context) (int64, error) {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	return p.c.height, nil
}

func (p providerChain) ComputePrice(context.Context, uint64) (sdk.Coin, error) {
	return sdk.NewInt64Coin(Denom, p.c.Compute(p.operator)), nil
}

func (p providerChain) Settle(_ context.Context, msg *inferencetypes.MsgSettleSession) error {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sessions[msg.SessionId]
	switch {
	case s == nil || s.Provider != msg.Provider:
		return inferencetypes.ErrSessionNotFound
	case msg.Voucher.Sequence <= s.LastSequence:
		return inferencetypes.ErrStaleVoucher
	case msg.Voucher.CumulativeAmount.GT(s.Deposit.Amount):
		return inferencetypes.ErrExceedsDeposit
	}
	s.LastSequence = msg.Voucher.Sequence
	c.Settled = append(c.Settled, msg)
	return nil
}

// Engine is a scripted engine: it echoes the prompt's words back, one word per
// token and per streamed piece, up to max_tokens.
type Engine struct {
	IDs []uint64
	// Delay before each piece.
	Delay time.Duration
	// ExtraPromptTokens is added to the reported prompt tokens (an over-charger).
	ExtraPromptTokens uint64
	// Block, when set, is waited on before generating.
	Block chan struct{}
	// Fail makes Generate fail.
	Fail error
}

// Deployments implements openai.Engine.
func (e *Engine) Deployments(context.Context) ([]uint64, error) { return e.IDs, nil }

// Generate implements openai.Engine.
func (e *Engine) Generate(ctx context.Context, req openai.GenRequest, emit func(string) error) (openai.GenResult, error) {
	if e.Block != nil {
		select {
		case <-e.Block:
		case <-ctx.Done():
			return openai.GenResult{}, ctx.Err()
		}
	}
	if e.Fail != nil {
		return openai.GenResult{}, e.Fail
	}
	src := req.Prompt
	if req.Chat {
		src = req.Messages[len(req.Messages)-1].Content
	}
	words := strings.Fields(src)
	var out strings.Builder
	var n uint64
	finish := "stop"
	for _, w := range words {
		if n == req.MaxTokens {
			finish = "length"
			break
		}
		if e.Delay > 0 {
			time.Sleep(e.Delay)
		}
		piece := w + " "
		out.WriteString(piece)
		if err := emit(piece); err != nil {
			return openai.GenResult{}, err
		}
		n++
	}
	return openai.GenResult{
		Output: []byte(out.String()), PromptTokens: uint64(len(strings.Fields(req.Prompt))) + e.ExtraPromptTokens, CompletionTokens: n,
		FinishReason: finish, EngineName: "fake", EngineVersion: "1", ModelID: 1, ModelVersion: 1,
	}, nil
}

// Provider is an in-process provider: identity, sessions manager and API.
type Provider struct {
	Operator string
	PeerID   string
	Key      libp2pcrypto.PrivKey
	Sessions *sessions.Manager
	Server   *openai.Server
	HTTP     *httptest.Server
	Engine   *Engine
	Dir      string
}

// StartProvider starts a provider with the given operator, compute price and
// engine; dir "" picks a temporary directory.
func StartProvider(t testing.TB, chain *Chain, operator string, compute int64, eng *Engine, dir string) *Provider {
	t.Helper()
	return StartProviderWith(t, chain, operator, compute, eng, dir, sessions.Config{NoSync: true})
}

// StartProviderWith is StartProvider with a sessions configuration (ChainID and
// Operator are filled in).
func StartProviderWith(t testing.TB, chain *Chain, operator string, compute int64, eng *Engine, dir string, scfg sessions.Config) *Provider {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	key, err := loadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	chain.SetCompute(operator, compute)
	scfg.ChainID, scfg.Operator = ChainID, operator
	m, err := sessions.Open(dir, scfg, chain.For(operator), memRecords{}, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := openai.New(openai.Config{Operator: operator}, eng, m, nil)
	hs := httptest.NewServer(srv.Handler())
	p := &Provider{Operator: operator, PeerID: pid.String(), Key: key, Sessions: m, Server: srv, HTTP: hs, Engine: eng, Dir: dir}
	t.Cleanup(p.Stop)
	return p
}

// Stop stops the server and closes the store (idempotent).
func (p *Provider) Stop() {
	if p.HTTP != nil {
		p.HTTP.Close()
		p.HTTP = nil
		p.Sessions.Close()
	}
}

var keys sync.Map // dir → key: a restarted provider keeps its identity

func loadKey(dir string) (libp2pcrypto.PrivKey, error) {
	if k, ok := keys.Load(dir); ok {
		return k.(libp2pcrypto.PrivKey), nil
	}
	k, _, err := libp2pcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	keys.Store(dir, k)
	return k, nil
}

type memRecords struct{}

func (memRecords) Add(_ context.Context, b []byte) (string, error) { return sessions.RawCID(b), nil }
