package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/provider/sessions"
)

// HasSession reports whether the gateway holds an open session for the
// deployment (one it would reuse before opening another).
func (g *Gateway) HasSession(dep uint64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, ls := range g.sessions {
		if ls.s.DeploymentID == dep && !ls.s.Final && ls.s.Requester == g.cfg.Requester {
			return true
		}
	}
	return false
}

// session returns an open session with the provider, opening one if needed.
func (g *Gateway) session(ctx context.Context, o Offer, dep uint64, need sdkmath.Int) (*liveSession, error) {
	g.mu.Lock()
	var best *liveSession
	for _, ls := range g.sessions {
		if ls.s.Provider == o.Operator && ls.s.DeploymentID == dep && !ls.s.Final && ls.s.Requester == g.cfg.Requester {
			best = ls
			break
		}
	}
	g.mu.Unlock()
	if best != nil {
		return best, nil
	}
	if o.Compute.Denom != g.cfg.Budget.Denom {
		return nil, fmt.Errorf("provider %s prices in %s, the budget is in %s", o.Operator, o.Compute.Denom, g.cfg.Budget.Denom)
	}
	deposit := sdkmath.MaxInt(g.cfg.Deposit, need)
	if err := g.reserveBudget(deposit); err != nil {
		return nil, err
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := saveKey(g.cfg.Home, key, 0); err != nil { // before anything is sent, like `session open`
		return nil, fmt.Errorf("saving the session key: %w", err)
	}
	id, royalty, err := g.chain.OpenSession(ctx, o.Operator, dep, sdk.NewCoin(g.cfg.Budget.Denom, deposit), pub)
	if err != nil {
		g.releaseBudget(deposit)
		return nil, fmt.Errorf("opening a session with %s: %w", o.Operator, err)
	}
	s := &session{
		ID: id, Requester: g.cfg.Requester, Provider: o.Operator, PeerID: o.PeerID, APIURL: g.baseURL(o), DeploymentID: dep,
		Denom: g.cfg.Budget.Denom, Compute: o.Compute.Amount.String(), Royalty: royalty.Amount.String(),
		Deposit: deposit.String(), PubKey: hex.EncodeToString(pub), Amount: "0",
		key: key, path: sessionPath(g.cfg.Home, id),
	}
	if err := s.save(); err != nil {
		return nil, err
	}
	ls := &liveSession{s: s, lastUsed: time.Now()}
	g.mu.Lock()
	g.sessions[id] = ls
	g.mu.Unlock()
	g.log.Info("session opened", "session", id, "provider", o.Operator, "deployment", dep, "deposit", deposit)
	return ls, nil
}

func (g *Gateway) reserveBudget(amt sdkmath.Int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.spent.Add(amt).GT(g.cfg.Budget.Amount) {
		return fmt.Errorf("budget %s exhausted: %s%s escrowed, %s more needed", g.cfg.Budget, g.spent, g.cfg.Budget.Denom, amt)
	}
	g.spent = g.spent.Add(amt)
	return nil
}

func (g *Gateway) releaseBudget(amt sdkmath.Int) {
	g.mu.Lock()
	g.spent = g.spent.Sub(amt)
	g.mu.Unlock()
}

// nextVoucher signs the voucher for a request of maximum m (or the final one,
// m = 0 and final) and persists the state before returning it.
func (g *Gateway) nextVoucher(s *session, m uint64, final bool) (voucher.Voucher, error) {
	acc := s.acc()
	tokens := sessions.Reserve(s.Tokens, s.Served, m)
	v, err := voucher.Sign(voucher.Voucher{
		ChainID: g.chain.ChainID(), SessionID: s.ID, Sequence: s.Sequence + 1, Denom: s.Denom,
		CumulativeAmount: s.price().Cost(tokens), CumulativeTokens: tokens,
		ReceiptCount: acc.Len(), ReceiptsRoot: acc.Root(),
	}, s.key)
	if err != nil {
		return voucher.Voucher{}, err
	}
	prev := *s
	s.Sequence, s.Tokens, s.Amount, s.Final = v.Sequence, tokens, v.CumulativeAmount.String(), s.Final || final
	if err := s.save(); err != nil {
		*s = prev
		return voucher.Voucher{}, fmt.Errorf("persisting the voucher state: %w", err)
	}
	if final {
		_ = saveKey(g.cfg.Home, s.key, s.Sequence) // `session voucher` continues above it
	}
	return v, nil
}

func (g *Gateway) topUp(ctx context.Context, s *session, need sdkmath.Int) error {
	amt := sdkmath.MaxInt(need, g.cfg.Deposit)
	if err := g.reserveBudget(amt); err != nil {
		return err
	}
	if err := g.chain.TopUp(ctx, s.ID, sdk.NewCoin(s.Denom, amt)); err != nil {
		g.releaseBudget(amt)
		return fmt.Errorf("top-up of session %d: %w", s.ID, err)
	}
	s.Deposit = s.deposit().Add(amt).String()
	g.log.Info("session topped up", "session", s.ID, "amount", amt)
	return s.save()
}

// resync fetches receipts the provider issued that this gateway never saw
// (a crash on either side), checks and appends them.
// A receipt belongs to a request this gateway sent a voucher for, so with
// everything served before it, it fits in the covered tokens of those
// vouchers: a provider claiming more is lying.
func (g *Gateway) resync(ctx context.Context, s *session, covered uint64) error {
	for {
		acc := s.acc()
		url := fmt.Sprintf("%s/v1/openledger/sessions/%d/receipts?from=%d", s.APIURL, s.ID, acc.Len())
		hr, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := g.do(hr)
		if err != nil {
			return err
		}
		var page struct {
			Receipts []string `json:"receipts"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if len(page.Receipts) == 0 {
			return nil
		}
		for _, enc := range page.Receipts {
			rc, err := openai.DecodeReceipt(enc)
			if err != nil {
				return err
			}
			// Its RequestSHA256 cannot be checked: the body it was served from is not known here.
			cur := s.acc()
			if err := rc.VerifyPeer(s.PeerID); err != nil || rc.SessionID != s.ID || rc.RequestSeq != cur.Len()+1 {
				return fmt.Errorf("receipt %d of session %d does not check", rc.RequestSeq, s.ID)
			}
			if rc.ChainID != g.chain.ChainID() || rc.Provider != s.Provider || s.Served+rc.PromptTokens+rc.CompletionTokens > covered {
				return fmt.Errorf("receipt %d of session %d (%s/%s) claims %d tokens: with the %d served before it, more than the %d its vouchers covered",
					rc.RequestSeq, s.ID, rc.ChainID, rc.Provider, rc.PromptTokens+rc.CompletionTokens, s.Served, covered)
			}
			if err := g.receipts.Append(StoredReceipt{Session: s.ID, Seq: rc.RequestSeq, Receipt: rc.Marshal()}); err != nil {
				return err
			}
			g.record(s, rc)
			if err := s.save(); err != nil {
				return err
			}
			g.log.Warn("receipt recovered from the provider", "session", s.ID, "request", rc.RequestSeq)
		}
	}
}

// finalise sends the final voucher of a session and retires it; one the
// provider did not get (unreachable, a crash) is sent again when idle, at
// shutdown or after a restart.
func (g *Gateway) finalise(s *session) {
	g.mu.Lock()
	delete(g.sessions, s.ID)
	g.mu.Unlock()
	if s.Final && s.Delivered {
		return
	}
	delivered := false
	defer func() {
		if delivered {
			s.Delivered = true
			_ = s.save()
			return
		}
		g.mu.Lock()
		g.sessions[s.ID] = &liveSession{s: s}
		g.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for try := 0; try < 2; try++ {
		v, err := g.nextVoucher(s, 0, true)
		if err != nil {
			g.log.Warn("final voucher", "session", s.ID, "err", err)
			return
		}
		hr, _ := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/v1/openledger/sessions/%d/final", s.APIURL, s.ID), nil)
		hr.Header.Set(openai.HeaderVoucher, v.Encode())
		resp, err := g.do(hr)
		if err != nil {
			g.log.Warn("final voucher not delivered", "session", s.ID, "err", err)
			return
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode == http.StatusConflict && try == 0 {
			// Receipts this gateway never saw (a crash): fetch them, sign again.
			if err := g.resync(ctx, s, s.Tokens); err != nil {
				g.log.Warn("final voucher: resync", "session", s.ID, "err", err)
				delivered = true // given up: the provider serves receipts that do not check
				return
			}
			s.Final = false
			continue
		}
		if resp.StatusCode != http.StatusOK {
			// 402/404: the provider has a final voucher already, or the session is over.
			delivered = resp.StatusCode == http.StatusPaymentRequired || resp.StatusCode == http.StatusNotFound
			g.log.Warn("final voucher refused", "session", s.ID, "status", resp.StatusCode, "body", string(b))
			return
		}
		delivered = true
		g.log.Info("final voucher delivered", "session", s.ID, "sequence", v.Sequence, "amount", v.CumulativeAmount, "tokens", v.CumulativeTokens, "requests", v.ReceiptCount)
		return
	}
}

// acknowledge sends a voucher naming every receipt of the session and
// reserving nothing (POST …/voucher, docs/openai-api.md "The
// acknowledgement"): a one-off request's receipt is then under a root the
// requester signed, and the provider settles it with its attribution without
// waiting for a next request. The caller holds the live session's lock. A
// failure is logged, never the request's: the receipt is kept, and the next
// voucher (a request's or the final one) names it anyway.
func (g *Gateway) acknowledge(ctx context.Context, s *session) {
	if s.Final {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for try := 0; try < 2; try++ {
		v, err := g.nextVoucher(s, 0, false)
		if err != nil {
			g.log.Warn("acknowledgement voucher", "session", s.ID, "err", err)
			return
		}
		hr, _ := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/v1/openledger/sessions/%d/voucher", s.APIURL, s.ID), nil)
		hr.Header.Set(openai.HeaderVoucher, v.Encode())
		resp, err := g.do(hr)
		if err != nil {
			g.log.Warn("acknowledgement not delivered", "session", s.ID, "err", err)
			return
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode == http.StatusConflict && try == 0 {
			// Receipts this gateway never saw (a crash): fetch them, sign again.
			if err := g.resync(ctx, s, s.Tokens); err != nil {
				g.log.Warn("acknowledgement: resync", "session", s.ID, "err", err)
				return
			}
			continue
		}
		if resp.StatusCode != http.StatusOK {
			g.log.Warn("acknowledgement refused", "session", s.ID, "status", resp.StatusCode, "body", string(b))
			return
		}
		g.log.Info("receipts acknowledged", "session", s.ID, "sequence", v.Sequence, "requests", v.ReceiptCount)
		return
	}
}

// FinaliseIdle sends the final voucher of every session idle for IdleFinal
// (all: every session).
func (g *Gateway) FinaliseIdle(all bool) {
	g.mu.Lock()
	var idle []*liveSession
	for _, ls := range g.sessions {
		idle = append(idle, ls)
	}
	g.mu.Unlock()
	for _, ls := range idle {
		if !ls.mu.TryLock() {
			continue // in use
		}
		if all || time.Since(ls.lastUsed) >= g.cfg.IdleFinal {
			g.finalise(ls.s)
		}
		ls.mu.Unlock()
	}
}
