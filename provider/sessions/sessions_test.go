package sessions_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"

	sdkmath "cosmossdk.io/math"
	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/inference/batchrecord"
	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/sessions"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

const (
	chainID  = "openledger-test"
	operator = "open1provider"
	denom    = "uopen"
)

// fakeChain is the chain at the process boundary.
type fakeChain struct {
	mu       sync.Mutex
	sessions map[uint64]*sessions.Info
	height   int64
	compute  int64
	settled  []*inferencetypes.MsgSettleSession
	fail     error
	// settlements per session, as x/inference lists them (Settle adds a
	// PENDING one; tests decide them).
	settlements map[uint64][]sessions.Settlement
}

func (c *fakeChain) Settlements(_ context.Context, id uint64) ([]sessions.Settlement, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.sessions[id]; !ok {
		return nil, fmt.Errorf("%w: %d", sessions.ErrUnknownSession, id)
	}
	return append([]sessions.Settlement(nil), c.settlements[id]...), nil
}

// decide sets the status of every settlement of session id.
func (c *fakeChain) decide(id uint64, st inferencetypes.SettlementStatus) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.settlements[id] {
		c.settlements[id][i].Status = st
	}
}

// setOpen opens or closes session id.
func (c *fakeChain) setOpen(id uint64, open bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sessions[id].Open = open
}

func (c *fakeChain) Session(_ context.Context, id uint64) (sessions.Info, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sessions[id]
	if !ok {
		return sessions.Info{}, fmt.Errorf("%w: %d", sessions.ErrUnknownSession, id)
	}
	return *s, nil
}

func (c *fakeChain) Height(context.Context) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.height, nil
}

func (c *fakeChain) ComputePrice(context.Context, uint64) (sdk.Coin, error) {
	return sdk.NewInt64Coin(denom, c.compute), nil
}

func (c *fakeChain) Settle(_ context.Context, msg *inferencetypes.MsgSettleSession) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return c.fail
	}
	s := c.sessions[msg.SessionId]
	if msg.Voucher.Sequence <= s.LastSequence {
		return inferencetypes.ErrStaleVoucher
	}
	if msg.Voucher.CumulativeAmount.GT(s.Deposit.Amount) {
		return inferencetypes.ErrExceedsDeposit
	}
	s.LastSequence = msg.Voucher.Sequence
	c.settled = append(c.settled, msg)
	if c.settlements == nil {
		c.settlements = map[uint64][]sessions.Settlement{}
	}
	c.settlements[msg.SessionId] = append(c.settlements[msg.SessionId], sessions.Settlement{
		ID: uint64(len(c.settled)), RecordCID: msg.RecordCid, Status: inferencetypes.SETTLEMENT_STATUS_PENDING,
	})
	return nil
}

// memRecords keeps what is added, by CID, until it is unpinned.
type memRecords struct {
	mu       sync.Mutex
	blobs    map[string][]byte
	unpinned []string
	// unpinFail fails every Unpin while set.
	unpinFail error
}

func (r *memRecords) Unpin(_ context.Context, cid string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unpinFail != nil {
		return r.unpinFail
	}
	delete(r.blobs, cid) // not pinned (any more): done
	r.unpinned = append(r.unpinned, cid)
	return nil
}

func (r *memRecords) Add(_ context.Context, b []byte) (string, error) {
	cid := sessions.RawCID(b)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.blobs == nil {
		r.blobs = map[string][]byte{}
	}
	r.blobs[cid] = append([]byte(nil), b...)
	return cid, nil
}

func (r *memRecords) get(cid string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.blobs[cid]
	return b, ok
}

type env struct {
	t       *testing.T
	dir     string
	chain   *fakeChain
	records *memRecords
	key     libp2pcrypto.PrivKey
	sk      ed25519.PrivateKey
	m       *sessions.Manager
	cfg     sessions.Config
	client  *client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	pub, sk, _ := ed25519.GenerateKey(rand.Reader)
	key, _, err := libp2pcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{
		t: t, dir: t.TempDir(), key: key, sk: sk, records: &memRecords{},
		chain: &fakeChain{height: 100, compute: 2000, sessions: map[uint64]*sessions.Info{
			1: {ID: 1, Requester: "open1req", Provider: operator, DeploymentID: 7, Deposit: sdk.NewInt64Coin(denom, 1_000_000),
				Royalty: sdkmath.NewInt(500), PubKey: pub, Open: true, ExpiryHeight: 1000},
		}},
		cfg: sessions.Config{ChainID: chainID, Operator: operator, NoSync: true, Threshold: sdkmath.NewInt(1 << 40)},
	}
	e.client = &client{sk: sk, price: sessions.Price{Compute: sdkmath.NewInt(2000), Royalty: sdkmath.NewInt(500)}}
	e.open()
	return e
}

func (e *env) open() {
	m, err := sessions.Open(e.dir, e.cfg, e.chain, e.records, e.key, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.m = m
	e.t.Cleanup(func() { m.Close() })
}

func (e *env) reopen() {
	e.m.Close()
	e.open()
}

// client follows the voucher rule of docs/openai-api.md.
type client struct {
	sk     ed25519.PrivateKey
	price  sessions.Price
	seq    uint64
	tokens uint64
	served uint64
	acc    voucher.Accumulator
}

func (c *client) next(maxTokens uint64) voucher.Voucher {
	c.seq++
	c.tokens = sessions.Reserve(c.tokens, c.served, maxTokens)
	v, err := voucher.Sign(voucher.Voucher{
		ChainID: chainID, SessionID: 1, Sequence: c.seq, Denom: denom,
		CumulativeAmount: c.price.Cost(c.tokens), CumulativeTokens: c.tokens,
		ReceiptCount: c.acc.Len(), ReceiptsRoot: c.acc.Root(),
	}, c.sk)
	if err != nil {
		panic(err)
	}
	return v
}

func (c *client) take(r voucher.Receipt) {
	c.acc.Append(r.LeafHash())
	c.served += r.PromptTokens + r.CompletionTokens
}

func served(out string, p, n uint64) sessions.Served {
	return sessions.Served{
		OutputCID: sessions.RawCID([]byte(out)), OutputSHA256: sha256.Sum256([]byte(out)),
		PromptTokens: p, CompletionTokens: n, EngineName: "fake", ModelID: 1, ModelVersion: 1,
		Endpoint: batchrecord.EndpointCompletions, MaxTokens: max(n, 1),
		Body: fmt.Appendf(nil, `{"model":"7","prompt":"say %s","max_tokens":%d}`, out, max(n, 1)), Output: []byte(out),
	}
}

// request runs one accepted request end to end.
func (e *env) request(maxTokens, p, n uint64) voucher.Receipt {
	e.t.Helper()
	tk, err := e.m.Accept(context.Background(), e.client.next(maxTokens), sessions.Request{DeploymentID: 7, MaxTokens: maxTokens})
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := tk.Complete(served("hello", p, n))
	if err != nil {
		e.t.Fatal(err)
	}
	e.client.take(r)
	return r
}

func TestAcceptCompleteAndReceipts(t *testing.T) {
	e := newEnv(t)
	pid, _ := peer.IDFromPrivateKey(e.key)
	for i := range 5 {
		r := e.request(100, 10, 50)
		if r.RequestSeq != uint64(i+1) {
			t.Fatalf("request seq %d, want %d", r.RequestSeq, i+1)
		}
		if err := r.VerifyPeer(pid.String()); err != nil {
			t.Fatal(err)
		}
	}
	st, err := e.m.State(1)
	if err != nil {
		t.Fatal(err)
	}
	if st.ReceiptCount != 5 || st.ServedTokens != 300 || st.LastSequence != 5 || st.VoucherTokens != 340 {
		t.Fatalf("state %+v", st)
	}
	rs, err := e.m.Receipts(1, 2, 10)
	if err != nil || len(rs) != 3 || rs[0].RequestSeq != 3 {
		t.Fatalf("receipts from 2: %d %v", len(rs), err)
	}
}

func TestRejections(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.request(100, 10, 50)
	req := sessions.Request{DeploymentID: 7, MaxTokens: 100}

	// Replayed: the same voucher again.
	old := e.client.next(100)
	if _, err := e.m.Accept(ctx, old, req); err != nil {
		t.Fatal(err)
	}
	// Busy: a second request while the first is in flight.
	if _, err := e.m.Accept(ctx, e.client.next(100), req); !errors.Is(err, sessions.ErrSessionBusy) {
		t.Fatalf("in flight: %v", err)
	}
	e.reopen() // the in-flight request died with the process; its voucher was committed
	if _, err := e.m.Accept(ctx, old, req); !errors.Is(err, sessions.ErrReplayed) {
		t.Fatalf("replay: %v", err)
	}
	st, _ := e.m.State(1)
	if st.LastSequence != old.Sequence {
		t.Fatalf("the accepted voucher was not persisted: %+v", st)
	}

	// Insufficient: tokens below served + max.
	c := *e.client
	c.tokens = 0
	c.served = 0
	if _, err := e.m.Accept(ctx, c.next(100), req); !errors.Is(err, sessions.ErrInsufficient) {
		t.Fatalf("insufficient: %v", err)
	}
	// Bad signature.
	v := e.client.next(100)
	v.Signature[0] ^= 1
	if _, err := e.m.Accept(ctx, v, req); !errors.Is(err, sessions.ErrBadSignature) {
		t.Fatalf("bad signature: %v", err)
	}
	// Out of sync: the client forgot a receipt.
	c = *e.client
	c.acc = voucher.Accumulator{}
	if _, err := e.m.Accept(ctx, c.next(100), req); !errors.Is(err, sessions.ErrOutOfSync) {
		t.Fatalf("out of sync: %v", err)
	}
	// Exceeds the deposit, then a top-up makes it pass (re-read once).
	big := e.client.next(1_000_000)
	if _, err := e.m.Accept(ctx, big, sessions.Request{DeploymentID: 7, MaxTokens: 1_000_000}); !errors.Is(err, sessions.ErrExceedsDeposit) {
		t.Fatalf("deposit: %v", err)
	}
	e.chain.sessions[1].Deposit = sdk.NewInt64Coin(denom, 10_000_000)
	tk, err := e.m.Accept(ctx, e.client.next(1_000_000), sessions.Request{DeploymentID: 7, MaxTokens: 1_000_000})
	if err != nil {
		t.Fatalf("after top-up: %v", err)
	}
	tk.Abort()
	// Wrong deployment.
	if _, err := e.m.Accept(ctx, e.client.next(100), sessions.Request{DeploymentID: 8, MaxTokens: 100}); !errors.Is(err, sessions.ErrWrongDeployment) {
		t.Fatalf("deployment: %v", err)
	}
	// Near expiry: no new requests.
	e.m.SetHeight(990)
	if _, err := e.m.Accept(ctx, e.client.next(100), req); !errors.Is(err, sessions.ErrSessionClosed) {
		t.Fatalf("expiry: %v", err)
	}
	// Another chain.
	v = e.client.next(100)
	v.ChainID = "other"
	if _, err := e.m.Accept(ctx, v, req); !errors.Is(err, sessions.ErrInvalidVoucher) {
		t.Fatalf("chain: %v", err)
	}
}

func TestSettleThresholdFinalAndRestart(t *testing.T) {
	e := newEnv(t)
	e.cfg.Threshold = sdkmath.NewInt(500)
	e.reopen()
	ctx := context.Background()
	e.request(100, 10, 50) // voucher 1: 100 tokens = 250
	if n := e.m.SettleDue(ctx, false); n != 0 {
		t.Fatalf("settled %d below the threshold", n)
	}
	e.request(200, 10, 90) // voucher 2: 60+200 = 260 tokens = 650 ≥ 500
	if n := e.m.SettleDue(ctx, false); n != 1 {
		t.Fatalf("settled %d at the threshold", n)
	}
	if got := e.chain.settled[0]; got.Voucher.Sequence != 2 || got.Voucher.CumulativeAmount.Int64() != 650 || got.Voucher.ReceiptCount != 1 || got.RecordCid == "" {
		t.Fatalf("settlement %+v", got.Voucher)
	}
	// Nothing new: nothing settled.
	if n := e.m.SettleDue(ctx, true); n != 0 {
		t.Fatalf("settled %d twice", n)
	}
	// The final voucher: all receipts, no reservation; settled after a restart.
	c := e.client
	c.seq++
	c.tokens = max(c.tokens, c.served)
	fin, _ := voucher.Sign(voucher.Voucher{ChainID: chainID, SessionID: 1, Sequence: c.seq, Denom: denom,
		CumulativeAmount: c.price.Cost(c.tokens), CumulativeTokens: c.tokens, ReceiptCount: c.acc.Len(), ReceiptsRoot: c.acc.Root()}, c.sk)
	if err := e.m.Final(ctx, fin); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Accept(ctx, e.client.next(10), sessions.Request{DeploymentID: 7, MaxTokens: 10}); !errors.Is(err, sessions.ErrFinalised) {
		t.Fatalf("after final: %v", err)
	}
	e.reopen()
	if n := e.m.SettleDue(ctx, false); n != 1 {
		t.Fatalf("final not settled after restart: %d", n)
	}
	last := e.chain.settled[len(e.chain.settled)-1]
	if last.Voucher.ReceiptCount != 2 || last.Voucher.Sequence != fin.Sequence || last.Voucher.CumulativeTokens != 260 {
		t.Fatalf("final settlement %+v", last.Voucher)
	}
}

func TestSettleBeforeExpiryAndAfterLostAck(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.request(100, 10, 50)
	if n := e.m.SettleDue(ctx, false); n != 0 {
		t.Fatalf("settled early: %d", n)
	}
	// The chain saw the settlement but the provider crashed before recording it.
	e.chain.fail = inferencetypes.ErrStaleVoucher
	e.chain.sessions[1].LastSequence = 1
	e.m.SetHeight(985) // within the margin (20) of expiry 1000
	if n := e.m.SettleDue(ctx, false); n != 1 {
		t.Fatalf("lost ack not reconciled: %d", n)
	}
	if st, _ := e.m.State(1); st.SettledSeq != 1 {
		t.Fatalf("state %+v", st)
	}
	e.chain.fail = nil
	if len(e.chain.settled) != 0 {
		t.Fatal("settled twice")
	}
}

func TestCostMonotoneAndRoyaltyCovered(t *testing.T) {
	p := sessions.Price{Compute: sdkmath.NewInt(0), Royalty: sdkmath.NewInt(1500)}
	royalty := func(t uint64) sdkmath.Int { return sdkmath.NewIntFromUint64(t).MulRaw(1500).QuoRaw(1000) }
	for t1 := uint64(0); t1 < 50; t1++ {
		for t2 := t1; t2 < 50; t2++ {
			if p.Cost(t2).Sub(p.Cost(t1)).LT(royalty(t2).Sub(royalty(t1))) {
				t.Fatalf("cost(%d)-cost(%d) below the royalty increment", t2, t1)
			}
		}
	}
}
