// Package gateway is the client side of interactive inference
// (docs/openai-api.md): a local OpenAI-compatible endpoint that any OpenAI
// client can point at. For each request it picks a provider of the requested
// deployment (cheapest, then fastest, preferring warm ones), opens and tops up
// sessions within a budget, signs the prepaid cumulative voucher, forwards the
// request (streams passed through), verifies the provider's receipt, and drops
// providers that over-charge or lie. Voucher state is persisted before each
// request is sent, so a kill -9 never pays twice.
package gateway

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/openledger/openledger/provider/p2pinfer"
)

// Offer is a provider's offer for a deployment, with what the gateway needs to
// reach and check it.
type Offer struct {
	Operator string
	PeerID   string
	APIURL   string
	// Multiaddrs are the provider's registered libp2p addresses (for the
	// /openledger/inference/1.0.0 protocol).
	Multiaddrs []string
	Compute    sdk.Coin // per 1,000 tokens
	Royalty    sdk.Coin // the deployment's, per 1,000 tokens
}

// Chain is the chain at the process boundary.
type Chain interface {
	ChainID() string
	// Offers lists the active offers of a deployment.
	Offers(ctx context.Context, deploymentID uint64) ([]Offer, error)
	// Deployments lists the deployments with at least one active offer.
	Deployments(ctx context.Context) ([]uint64, error)
	// OpenSession submits MsgOpenSession and returns the new session's id and
	// its royalty snapshot.
	OpenSession(ctx context.Context, provider string, deploymentID uint64, deposit sdk.Coin, pub ed25519.PublicKey) (id uint64, royalty sdk.Coin, err error)
	// TopUp submits MsgTopUpSession.
	TopUp(ctx context.Context, sessionID uint64, amount sdk.Coin) error
}

// Config configures a Gateway.
type Config struct {
	// Home holds session keys (<home>/sessions/) and voucher state (<home>/gateway/).
	Home string
	// Budget bounds the deposits the gateway escrows in total.
	Budget sdk.Coin
	// Deposit is each session's deposit (default: a tenth of the budget).
	Deposit sdkmath.Int
	// Aliases map model names to deployment ids.
	Aliases map[string]uint64
	// DefaultMaxTokens fills max_tokens when the application sends none (256).
	DefaultMaxTokens uint64
	// MaxBodyBytes bounds a request (1 MiB).
	MaxBodyBytes int64
	// Attempts is how many providers a request may try (3).
	Attempts int
	// IdleFinal sends the final voucher of a session idle this long (1 min).
	IdleFinal time.Duration
	// HTTPClient reaches providers (default: no overall timeout; streams may be long).
	HTTPClient *http.Client
	// P2P, when set, reaches providers over the libp2p protocol
	// /openledger/inference/1.0.0 (provider/p2pinfer) by their peer id and
	// registered multiaddrs: those whose offer has no api_url, or every one
	// with PreferP2P. Nil: HTTP only.
	P2P host.Host
	// PreferP2P uses libp2p even for providers with an api_url (needs P2P).
	PreferP2P bool
	// Requester is the account address that opens sessions (the --from key):
	// only its own sessions of this home are reused.
	Requester string
	// AddRecord adds bytes to IPFS (pinned with reason) and returns the CID:
	// the preference records of POST /v1/feedback. Nil: ratings only.
	AddRecord func(ctx context.Context, b []byte, reason string) (string, error)
	// FeedbackPoll is how often queued feedback is checked against the
	// chain's settlements (5 s).
	FeedbackPoll time.Duration
}

func (c *Config) setDefaults() {
	if c.Deposit.IsNil() || !c.Deposit.IsPositive() {
		c.Deposit = c.Budget.Amount.QuoRaw(10)
	}
	if c.DefaultMaxTokens == 0 {
		c.DefaultMaxTokens = 256
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.Attempts <= 0 {
		c.Attempts = 3
	}
	if c.FeedbackPoll <= 0 {
		c.FeedbackPoll = 5 * time.Second
	}
	if c.IdleFinal <= 0 {
		c.IdleFinal = time.Minute
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 5 * time.Minute, MaxIdleConnsPerHost: 16}}
	}
}

// Gateway is the local endpoint.
type Gateway struct {
	cfg   Config
	chain Chain
	log   *slog.Logger

	p2p *http.Client // over P2P (nil without)

	mu       sync.Mutex
	spent    sdkmath.Int // deposits escrowed so far (this process and persisted sessions)
	sessions map[uint64]*liveSession
	stats    map[string]*providerStats
	receipts *Receipts

	fbMu   sync.Mutex    // one feedback recorded at a time (once per request)
	fbKick chan struct{} // a feedback was queued
}

type liveSession struct {
	p2p *http.Client // over P2P (nil without)

	mu       sync.Mutex // one request at a time
	s        *session
	lastUsed time.Time
}

// New loads the persisted sessions and returns a gateway.
func New(cfg Config, chain Chain, log *slog.Logger) (*Gateway, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Home == "" {
		return nil, errors.New("gateway: home is required")
	}
	if cfg.Budget.Amount.IsNil() || !cfg.Budget.IsPositive() {
		return nil, errors.New("gateway: a positive budget is required")
	}
	cfg.setDefaults()
	if err := os.MkdirAll(stateDir(cfg.Home), 0o700); err != nil {
		return nil, err
	}
	var err error
	g := &Gateway{cfg: cfg, chain: chain, log: log, spent: sdkmath.ZeroInt(), sessions: map[uint64]*liveSession{}, stats: map[string]*providerStats{},
		fbKick: make(chan struct{}, 1)}
	if cfg.P2P != nil {
		g.p2p = &http.Client{Transport: &p2pinfer.Transport{Host: cfg.P2P}}
	} else if cfg.PreferP2P {
		return nil, errors.New("gateway: PreferP2P needs a libp2p host")
	}
	if g.receipts, err = OpenReceipts(cfg.Home); err != nil {
		return nil, err
	}
	ss, err := loadSessions(cfg.Home)
	if err != nil {
		return nil, err
	}
	for _, s := range ss {
		if s.Requester == "" {
			// A retired session is never reused: adopting it is best effort
			// (the chain may have pruned it).
			if err := g.adopt(s); err != nil && !(s.Final && s.Delivered) {
				return nil, err
			}
		}
		if s.Denom == cfg.Budget.Denom {
			g.spent = g.spent.Add(s.deposit())
		}
		if !s.Final {
			g.sessions[s.ID] = &liveSession{s: s, lastUsed: time.Now()}
		} else if !s.Delivered {
			g.sessions[s.ID] = &liveSession{s: s} // its final voucher is sent again at once
		}
	}
	return g, nil
}

// Spent is the total escrowed in sessions.
func (g *Gateway) Spent() sdkmath.Int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.spent
}

// Run finalises idle sessions and submits queued feedback until ctx ends,
// then finalises all.
func (g *Gateway) Run(ctx context.Context) error {
	t := time.NewTicker(max(g.cfg.IdleFinal/4, time.Second))
	defer t.Stop()
	fb := time.NewTicker(g.cfg.FeedbackPoll)
	defer fb.Stop()
	for {
		select {
		case <-ctx.Done():
			g.FinaliseIdle(true)
			return nil
		case <-t.C:
			g.FinaliseIdle(false)
		case <-fb.C:
			g.runFeedback(ctx)
		case <-g.fbKick:
			g.runFeedback(ctx)
		}
	}
}

func (g *Gateway) runFeedback(ctx context.Context) {
	if err := g.SubmitFeedback(ctx); err != nil && ctx.Err() == nil {
		g.log.Warn("feedback", "err", err)
	}
}

// adopt fills in the requester of a session persisted before sessions named
// theirs: the account that opened it on chain. A gateway whose chain cannot
// say (no Owners) adopts it as its own requester's.
func (g *Gateway) adopt(s *session) error {
	own, ok := g.chain.(Owners)
	if !ok {
		s.Requester = g.cfg.Requester
		return s.save()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := own.SessionRequester(ctx, s.ID)
	if err != nil {
		return fmt.Errorf("gateway state %s predates requester tracking and the chain could not say who opened session %d (%v): "+
			"start the gateway when the node is reachable, or move the file away if the session is over", s.path, s.ID, err)
	}
	s.Requester = r
	return s.save()
}

// Owners is what a chain tells of a session's owner.
type Owners interface {
	// SessionRequester returns the account that opened a session.
	SessionRequester(ctx context.Context, sessionID uint64) (string, error)
}
