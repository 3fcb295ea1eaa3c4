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
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/provider/sessions"
)

// Offer is a provider's offer for a deployment, with what the gateway needs to
// reach and check it.
type Offer struct {
	Operator string
	PeerID   string
	APIURL   string
	Compute  sdk.Coin // per 1,000 tokens
	Royalty  sdk.Coin // the deployment's, per 1,000 tokens
}

// Chain is the chain at the process boundary.
type Chain interface {
	ChainID() string
	// Offers lists the active offers of a deployment.
	Offers(ctx context.Context, deploymentID uint64) ([]Offer, error)
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
	if c.IdleFinal <= 0 {
		c.IdleFinal = time.Minute
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 5 * time.Minute, MaxIdleConnsPerHost: 16}}
	}
}

// providerStats is what the gateway measured of a provider.
type providerStats struct {
	latency  time.Duration // EWMA time to the response headers
	lastOK   time.Time
	failures int
	dropped  string // why, when dropped
}

// Gateway is the local endpoint.
type Gateway struct {
	cfg   Config
	chain Chain
	log   *slog.Logger

	mu       sync.Mutex
	spent    sdkmath.Int // deposits escrowed so far (this process and persisted sessions)
	sessions map[uint64]*liveSession
	stats    map[string]*providerStats
}

type liveSession struct {
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
	g := &Gateway{cfg: cfg, chain: chain, log: log, spent: sdkmath.ZeroInt(), sessions: map[uint64]*liveSession{}, stats: map[string]*providerStats{}}
	ss, err := loadSessions(cfg.Home)
	if err != nil {
		return nil, err
	}
	for _, s := range ss {
		if s.Denom == cfg.Budget.Denom {
			g.spent = g.spent.Add(s.deposit())
		}
		if !s.Final {
			g.sessions[s.ID] = &liveSession{s: s, lastUsed: time.Now()}
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

// Handler is the OpenAI-compatible handler.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", g.models)
	mux.HandleFunc("POST /v1/completions", func(w http.ResponseWriter, r *http.Request) { g.serve(w, r, "/v1/completions") })
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) { g.serve(w, r, "/v1/chat/completions") })
	return mux
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	c := code
	_ = json.NewEncoder(w).Encode(openai.ErrorBody{Error: openai.ErrorDetail{Message: msg, Type: typ, Code: &c}})
}

func (g *Gateway) models(w http.ResponseWriter, _ *http.Request) {
	type m struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	out := struct {
		Object string `json:"object"`
		Data   []m    `json:"data"`
	}{Object: "list", Data: []m{}}
	names := make([]string, 0, len(g.cfg.Aliases))
	for a := range g.cfg.Aliases {
		names = append(names, a)
	}
	sort.Strings(names)
	for _, a := range names {
		out.Data = append(out.Data, m{ID: a, Object: "model", OwnedBy: "openledger"})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (g *Gateway) deployment(model string) (uint64, bool) {
	if id, ok := g.cfg.Aliases[model]; ok {
		return id, true
	}
	return openai.DeploymentOf(model)
}

// request is a prepared request.
type request struct {
	path       string
	body       []byte
	chat       bool
	stream     bool
	deployment uint64
	bound      uint64 // prompt bound
	maxTokens  uint64 // completion cap
}

func (r *request) total() uint64 { return r.bound + r.maxTokens }

func (g *Gateway) prepare(w http.ResponseWriter, r *http.Request, path string) (*request, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", err.Error())
		return nil, false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_json", "could not parse the JSON body: "+err.Error())
		return nil, false
	}
	var model string
	_ = json.Unmarshal(fields["model"], &model)
	dep, ok := g.deployment(model)
	if !ok {
		writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found", fmt.Sprintf("the model %q is neither a deployment id nor an alias", model))
		return nil, false
	}
	fields["model"], _ = json.Marshal(strconv.FormatUint(dep, 10))
	if fields["max_tokens"] == nil && fields["max_completion_tokens"] == nil {
		fields["max_tokens"], _ = json.Marshal(g.cfg.DefaultMaxTokens)
	}
	body, _ = json.Marshal(fields)
	var q openai.Request
	if err := json.Unmarshal(body, &q); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_value", err.Error())
		return nil, false
	}
	chat := path == "/v1/chat/completions"
	prompt := ""
	if !chat {
		if prompt, err = q.PromptText(); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_value", err.Error())
			return nil, false
		}
	}
	return &request{
		path: path, body: body, chat: chat, stream: q.Stream, deployment: dep,
		bound: openai.PromptBound(chat, prompt, q.Messages), maxTokens: q.Completion(g.cfg.DefaultMaxTokens),
	}, true
}

// errDrop: the provider misbehaved; errRetry: try another provider.
var (
	errDrop  = errors.New("provider dropped")
	errRetry = errors.New("provider failed")
)

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, path string) {
	req, ok := g.prepare(w, r, path)
	if !ok {
		return
	}
	var lastErr error
	tried := map[string]bool{}
	for range g.cfg.Attempts {
		offer, err := g.pick(r.Context(), req.deployment, tried)
		if err != nil {
			if lastErr == nil {
				lastErr = err
			}
			break
		}
		tried[offer.Operator] = true
		err = g.attempt(w, r, req, offer)
		if err == nil {
			return
		}
		lastErr = err
		var pass *passthrough
		if errors.As(err, &pass) {
			return // already answered
		}
		g.log.Warn("provider attempt failed", "provider", offer.Operator, "err", err)
		if errors.Is(err, errDrop) {
			g.drop(offer.Operator, err.Error())
		} else {
			g.noteFailure(offer.Operator)
		}
		if r.Context().Err() != nil {
			return
		}
	}
	writeError(w, http.StatusBadGateway, "server_error", "no_provider", fmt.Sprintf("no provider could serve deployment %d: %v", req.deployment, lastErr))
}

// passthrough is an answer already sent to the application.
type passthrough struct{ err error }

func (p *passthrough) Error() string { return p.err.Error() }

// pick chooses a provider: cheapest, then lowest measured latency, warm first.
func (g *Gateway) pick(ctx context.Context, dep uint64, tried map[string]bool) (Offer, error) {
	offers, err := g.chain.Offers(ctx, dep)
	if err != nil {
		return Offer{}, fmt.Errorf("offers of deployment %d: %w", dep, err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var cands []Offer
	for _, o := range offers {
		st := g.stats[o.Operator]
		if tried[o.Operator] || o.APIURL == "" || (st != nil && st.dropped != "") {
			continue
		}
		cands = append(cands, o)
	}
	if len(cands) == 0 {
		return Offer{}, fmt.Errorf("no usable provider offers deployment %d", dep)
	}
	now := time.Now()
	warm := func(o Offer) bool { st := g.stats[o.Operator]; return st != nil && now.Sub(st.lastOK) < 5*time.Minute }
	lat := func(o Offer) time.Duration {
		if st := g.stats[o.Operator]; st != nil {
			return st.latency + time.Duration(st.failures)*time.Second
		}
		return 0
	}
	sort.SliceStable(cands, func(i, j int) bool {
		pi, pj := cands[i].Compute.Amount.Add(cands[i].Royalty.Amount), cands[j].Compute.Amount.Add(cands[j].Royalty.Amount)
		if !pi.Equal(pj) {
			return pi.LT(pj)
		}
		if wi, wj := warm(cands[i]), warm(cands[j]); wi != wj {
			return wi
		}
		return lat(cands[i]) < lat(cands[j])
	})
	return cands[0], nil
}

func (g *Gateway) stat(op string) *providerStats {
	st := g.stats[op]
	if st == nil {
		st = &providerStats{}
		g.stats[op] = st
	}
	return st
}

func (g *Gateway) drop(op, why string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stat(op).dropped = why
	g.log.Warn("provider dropped", "provider", op, "reason", why)
}

// Dropped reports whether (and why) a provider was dropped.
func (g *Gateway) Dropped(op string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if st := g.stats[op]; st != nil {
		return st.dropped
	}
	return ""
}

func (g *Gateway) noteFailure(op string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stat(op).failures++
}

func (g *Gateway) noteOK(op string, d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.stat(op)
	if st.latency == 0 {
		st.latency = d
	} else {
		st.latency = (st.latency*4 + d) / 5
	}
	st.lastOK, st.failures = time.Now(), 0
}

// session returns an open session with the provider, opening one if needed.
func (g *Gateway) session(ctx context.Context, o Offer, dep uint64, need sdkmath.Int) (*liveSession, error) {
	g.mu.Lock()
	var best *liveSession
	for _, ls := range g.sessions {
		if ls.s.Provider == o.Operator && ls.s.DeploymentID == dep && !ls.s.Final {
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
		ID: id, Provider: o.Operator, PeerID: o.PeerID, APIURL: strings.TrimRight(o.APIURL, "/"), DeploymentID: dep,
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

// attempt runs the request on one provider.
func (g *Gateway) attempt(w http.ResponseWriter, r *http.Request, req *request, o Offer) error {
	ctx := r.Context()
	price := sessions.Price{Compute: o.Compute.Amount, Royalty: o.Royalty.Amount}
	ls, err := g.session(ctx, o, req.deployment, price.Cost(req.total()))
	if err != nil {
		return fmt.Errorf("%w: %v", errRetry, err)
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.lastUsed = time.Now()
	s := ls.s
	for try := 0; try < 3; try++ {
		if s.Final {
			return fmt.Errorf("%w: session %d was finalised", errRetry, s.ID)
		}
		// Top up when the next voucher would exceed the deposit.
		next := s.price().Cost(sessions.Reserve(s.Tokens, s.Served, req.total()))
		if next.GT(s.deposit()) {
			if err := g.topUp(ctx, s, next.Sub(s.deposit())); err != nil {
				return fmt.Errorf("%w: %v", errRetry, err)
			}
		}
		v, err := g.nextVoucher(s, req.total(), false)
		if err != nil {
			return err
		}
		start := time.Now()
		resp, err := g.send(ctx, s.APIURL+req.path, req.body, v)
		if err != nil {
			return fmt.Errorf("%w: %v", errRetry, err)
		}
		if resp.StatusCode == http.StatusOK {
			g.noteOK(o.Operator, time.Since(start))
			return g.relay(w, resp, req, s)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		var eb openai.ErrorBody
		_ = json.Unmarshal(body, &eb)
		code := ""
		if eb.Error.Code != nil {
			code = *eb.Error.Code
		}
		switch {
		case code == "receipts_out_of_sync" || code == "voucher_replayed":
			if err := g.resync(ctx, s); err != nil {
				return fmt.Errorf("%w: resync: %v", errDrop, err)
			}
			continue
		case code == "exceeds_deposit":
			continue // the top-up above runs again
		case code == "session_closed":
			g.finalise(s)
			return fmt.Errorf("%w: session %d closed: %s", errRetry, s.ID, eb.Error.Message)
		case code == "insufficient_voucher" || code == "invalid_signature":
			// Our vouchers follow the protocol at the agreed price.
			return fmt.Errorf("%w: refused a voucher at the agreed price: %s", errDrop, eb.Error.Message)
		case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
			return fmt.Errorf("%w: %d %s", errRetry, resp.StatusCode, eb.Error.Message)
		default: // the application's error (400, 404, 413): pass it on
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(resp.StatusCode)
			_, _ = w.Write(body)
			return &passthrough{fmt.Errorf("provider answered %d", resp.StatusCode)}
		}
	}
	return fmt.Errorf("%w: session %d did not resynchronise", errDrop, s.ID)
}

func (g *Gateway) send(ctx context.Context, url string, body []byte, v voucher.Voucher) (*http.Response, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set(openai.HeaderVoucher, v.Encode())
	return g.cfg.HTTPClient.Do(hr)
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

// verify checks a receipt against the request and the bytes received.
func (g *Gateway) verify(s *session, req *request, enc string, output []byte, usage *openai.Usage) (voucher.Receipt, error) {
	rc, err := openai.DecodeReceipt(enc)
	if err != nil {
		return rc, fmt.Errorf("%w: receipt: %v", errDrop, err)
	}
	acc := s.acc()
	switch {
	case rc.VerifyPeer(s.PeerID) != nil:
		return rc, fmt.Errorf("%w: receipt not signed by the provider's registered peer id %s", errDrop, s.PeerID)
	case rc.ChainID != g.chain.ChainID() || rc.Provider != s.Provider || rc.SessionID != s.ID:
		return rc, fmt.Errorf("%w: receipt for %s/%s/session %d", errDrop, rc.ChainID, rc.Provider, rc.SessionID)
	case rc.RequestSeq != acc.Len()+1:
		return rc, fmt.Errorf("%w: receipt request seq %d, want %d", errDrop, rc.RequestSeq, acc.Len()+1)
	case rc.OutputSHA256 != sha256.Sum256(output):
		return rc, fmt.Errorf("%w: the receipt's output digest does not match the %d bytes received", errDrop, len(output))
	case rc.PromptTokens > req.bound:
		return rc, fmt.Errorf("%w: over-charged: %d prompt tokens for a prompt bound of %d", errDrop, rc.PromptTokens, req.bound)
	case rc.CompletionTokens > req.maxTokens:
		return rc, fmt.Errorf("%w: over-charged: %d completion tokens, max_tokens %d", errDrop, rc.CompletionTokens, req.maxTokens)
	case usage != nil && (usage.PromptTokens != rc.PromptTokens || usage.CompletionTokens != rc.CompletionTokens):
		return rc, fmt.Errorf("%w: usage %d+%d differs from the receipt's %d+%d", errDrop, usage.PromptTokens, usage.CompletionTokens, rc.PromptTokens, rc.CompletionTokens)
	}
	return rc, nil
}

// record appends a verified receipt to the session. It is persisted with the
// next voucher (before that is sent): a receipt lost in a crash is recovered
// from the provider (resync), so no fsync is spent on it here.
func (g *Gateway) record(s *session, rc voucher.Receipt) error {
	acc := s.acc()
	acc.Append(rc.LeafHash())
	b, _ := acc.MarshalBinary()
	s.Acc = b
	s.Served += rc.PromptTokens + rc.CompletionTokens
	return nil
}

// relay answers the application from a 200 response and checks the receipt.
func (g *Gateway) relay(w http.ResponseWriter, resp *http.Response, req *request, s *session) error {
	defer resp.Body.Close()
	if !req.stream || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err != nil {
			return fmt.Errorf("%w: reading the response: %v", errRetry, err)
		}
		var out struct {
			Choices []struct {
				Text    string `json:"text"`
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
			Usage *openai.Usage `json:"usage"`
		}
		if err := json.Unmarshal(body, &out); err != nil || len(out.Choices) != 1 {
			return fmt.Errorf("%w: malformed response", errDrop)
		}
		text := out.Choices[0].Text + out.Choices[0].Message.Content
		rc, err := g.verify(s, req, resp.Header.Get(openai.HeaderReceipt), []byte(text), out.Usage)
		if err != nil {
			return err
		}
		if err := g.record(s, rc); err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		return nil
	}
	// Streamed: pass every event through as it arrives, strip the receipt.
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	var text bytes.Buffer
	var receipt string
	var usage *openai.Usage
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			out := line
			if data, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("data: ")); ok && !bytes.Equal(data, []byte("[DONE]")) {
				var ev struct {
					Choices []struct {
						Text  string `json:"text"`
						Delta struct {
							Content string `json:"content"`
						} `json:"delta"`
					} `json:"choices"`
					Usage      *openai.Usage     `json:"usage"`
					Openledger *openai.Extension `json:"openledger"`
				}
				if json.Unmarshal(data, &ev) == nil {
					for _, c := range ev.Choices {
						text.WriteString(c.Text)
						text.WriteString(c.Delta.Content)
					}
					if ev.Usage != nil {
						usage = ev.Usage
					}
					if ev.Openledger != nil {
						receipt = ev.Openledger.Receipt
						out = stripExtension(data)
					}
				}
			}
			_, _ = w.Write(out)
			if fl != nil && len(bytes.TrimSpace(line)) == 0 {
				fl.Flush()
			}
		}
		if err != nil {
			break
		}
	}
	if fl != nil {
		fl.Flush()
	}
	if receipt == "" {
		return &passthrough{fmt.Errorf("stream from %s ended without a receipt", s.Provider)}
	}
	rc, err := g.verify(s, req, receipt, text.Bytes(), usage)
	if err != nil {
		g.drop(s.Provider, err.Error())
		return &passthrough{err}
	}
	if err := g.record(s, rc); err != nil {
		return &passthrough{err}
	}
	return nil
}

func stripExtension(data []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return append(append([]byte("data: "), data...), '\n')
	}
	delete(m, "openledger")
	b, _ := json.Marshal(m)
	return append(append([]byte("data: "), b...), '\n')
}

// resync fetches receipts the provider issued that this gateway never saw
// (a crash on either side), checks and appends them.
func (g *Gateway) resync(ctx context.Context, s *session) error {
	for {
		acc := s.acc()
		url := fmt.Sprintf("%s/v1/openledger/sessions/%d/receipts?from=%d", s.APIURL, s.ID, acc.Len())
		hr, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := g.cfg.HTTPClient.Do(hr)
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
			cur := s.acc()
			if err := rc.VerifyPeer(s.PeerID); err != nil || rc.SessionID != s.ID || rc.RequestSeq != cur.Len()+1 {
				return fmt.Errorf("receipt %d of session %d does not check", rc.RequestSeq, s.ID)
			}
			if err := g.record(s, rc); err != nil {
				return err
			}
			if err := s.save(); err != nil {
				return err
			}
			g.log.Warn("receipt recovered from the provider", "session", s.ID, "request", rc.RequestSeq)
		}
	}
}

// finalise sends the final voucher of a session (best effort) and retires it.
func (g *Gateway) finalise(s *session) {
	g.mu.Lock()
	delete(g.sessions, s.ID)
	g.mu.Unlock()
	if s.Final {
		return
	}
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
		resp, err := g.cfg.HTTPClient.Do(hr)
		if err != nil {
			g.log.Warn("final voucher not delivered", "session", s.ID, "err", err)
			return
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode == http.StatusConflict && try == 0 {
			// Receipts this gateway never saw (a crash): fetch them, sign again.
			if err := g.resync(ctx, s); err != nil {
				g.log.Warn("final voucher: resync", "session", s.ID, "err", err)
				return
			}
			s.Final = false
			continue
		}
		if resp.StatusCode != http.StatusOK {
			g.log.Warn("final voucher refused", "session", s.ID, "status", resp.StatusCode, "body", string(b))
			return
		}
		g.log.Info("final voucher delivered", "session", s.ID, "sequence", v.Sequence, "amount", v.CumulativeAmount, "tokens", v.CumulativeTokens, "requests", v.ReceiptCount)
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

// Run finalises idle sessions until ctx ends, then finalises all.
func (g *Gateway) Run(ctx context.Context) error {
	t := time.NewTicker(max(g.cfg.IdleFinal/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			g.FinaliseIdle(true)
			return nil
		case <-t.C:
			g.FinaliseIdle(false)
		}
	}
}
