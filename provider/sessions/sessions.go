// Package sessions is the provider's side of interactive sessions
// (docs/openai-api.md): it verifies the voucher that comes with each request
// against the session on chain and what this provider already served, commits
// it to a crash-safe store before generation starts, records the signed
// per-request receipts in the session's Merkle accumulator, takes the
// requester's acknowledgement of the last receipt, and settles the
// latest voucher on chain (MsgSettleSession) when enough is unsettled,
// periodically, when the requester sends its final voucher, and before the
// session expires.
//
// State lives in its own bbolt file (<data dir>/sessions.db): provider/store
// has no generic bucket API and job state is kept apart from session state.
package sessions

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	sdkmath "cosmossdk.io/math"
	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	bolt "go.etcd.io/bbolt"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/internal/failpoint"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// FileName is the store's file in the data directory.
const FileName = "sessions.db"

var (
	bucketSessions = []byte("sessions")
	bucketReceipts = []byte("session_receipts")
)

// Info is what the chain says about a session.
type Info struct {
	ID           uint64
	Requester    string
	Provider     string
	DeploymentID uint64
	Deposit      sdk.Coin
	// Royalty is the royalty per 1,000 tokens snapshotted at opening.
	Royalty      sdkmath.Int
	PubKey       ed25519.PublicKey
	Open         bool
	ExpiryHeight int64
	// LastSequence is the sequence of the last settled voucher.
	LastSequence uint64
}

// Chain is the chain at the process boundary.
type Chain interface {
	// Session reads a session; ErrUnknownSession (wrapped) when there is none.
	Session(ctx context.Context, id uint64) (Info, error)
	// Height is the latest block height.
	Height(ctx context.Context) (int64, error)
	// ComputePrice is this provider's offer price per 1,000 tokens for a deployment.
	ComputePrice(ctx context.Context, deploymentID uint64) (sdk.Coin, error)
	// Settle submits the message and waits for its inclusion.
	Settle(ctx context.Context, msg *inferencetypes.MsgSettleSession) error
}

// Records stores a settlement's batch record (the daemon's IPFS node).
type Records interface {
	Add(ctx context.Context, data []byte) (cid string, err error)
}

// Config configures a Manager.
type Config struct {
	ChainID string
	// Operator is the provider's operator address (receipts, settlements).
	Operator string
	// ExpiryMargin: no request is accepted, and everything is settled, once the
	// height reaches expiry − margin (default 20 blocks).
	ExpiryMargin int64
	// Threshold settles a session once this much is unsettled (default 1,000,000
	// base units).
	Threshold sdkmath.Int
	// Interval settles anything unsettled this long after the last settlement or
	// the first unsettled voucher (default 10 min).
	Interval time.Duration
	// ScanInterval is the settlement loop's period (default 2 s).
	ScanInterval time.Duration
	// TopK bounds the aggregated summary's named contributions (default 16).
	TopK int
	// InfoTTL is how long a session's chain info is cached (default 1 min);
	// a voucher above the cached deposit re-reads it at once.
	InfoTTL time.Duration
	// PruneInterval is the retention pass's period (default 10 min; negative:
	// never): see Prune.
	PruneInterval time.Duration
	// NoSync disables fsync (tests and benchmarks only).
	NoSync bool
}

func (c *Config) setDefaults() {
	if c.ExpiryMargin <= 0 {
		c.ExpiryMargin = 20
	}
	if c.Threshold.IsNil() || !c.Threshold.IsPositive() {
		c.Threshold = sdkmath.NewInt(1_000_000)
	}
	if c.Interval <= 0 {
		c.Interval = 10 * time.Minute
	}
	if c.ScanInterval <= 0 {
		c.ScanInterval = 2 * time.Second
	}
	if c.TopK <= 0 {
		c.TopK = 16
	}
	if c.PruneInterval == 0 {
		c.PruneInterval = 10 * time.Minute
	}
	if c.InfoTTL <= 0 {
		c.InfoTTL = time.Minute
	}
}

// record is a session's persisted state.
type record struct {
	ID           uint64 `json:"id"`
	DeploymentID uint64 `json:"deployment_id"`
	Denom        string `json:"denom"`
	Compute      string `json:"compute"` // pinned at the first accepted voucher
	Royalty      string `json:"royalty"`
	ExpiryHeight int64  `json:"expiry_height"`
	// The last accepted voucher.
	Voucher string `json:"voucher"`
	LastSeq uint64 `json:"last_seq"`
	VTokens uint64 `json:"v_tokens"`
	VAmount string `json:"v_amount"`
	// What was served: tokens, receipts and their accumulator.
	Served uint64 `json:"served"`
	Count  uint64 `json:"count"`
	Acc    []byte `json:"acc"`
	Final  bool   `json:"final"`
	// The last settlement.
	SettledSeq    uint64    `json:"settled_seq"`
	SettledCount  uint64    `json:"settled_count"`
	SettledAmount string    `json:"settled_amount"`
	SettledAt     time.Time `json:"settled_at"`
	UnsettledAt   time.Time `json:"unsettled_at"`
	Closed        bool      `json:"closed"`
	// Pruned: the receipts and transcripts are deleted (see Prune).
	Pruned bool `json:"pruned,omitempty"`
}

func (r *record) price() Price {
	c, _ := sdkmath.NewIntFromString(r.Compute)
	ry, _ := sdkmath.NewIntFromString(r.Royalty)
	return Price{Compute: c, Royalty: ry}
}

func intOr0(s string) sdkmath.Int {
	if v, ok := sdkmath.NewIntFromString(s); ok {
		return v
	}
	return sdkmath.ZeroInt()
}

func (r *record) acc() (voucher.Accumulator, error) {
	var a voucher.Accumulator
	if len(r.Acc) == 0 {
		return a, nil
	}
	return a, a.UnmarshalBinary(r.Acc)
}

// live is a session's in-memory state.
type live struct {
	rec      record
	info     Info
	infoAt   time.Time
	verifier *voucher.Verifier
	inflight bool
}

// Manager accepts vouchers, records receipts and settles sessions. It is safe
// for concurrent use; one request per session is in flight at a time.
type Manager struct {
	cfg     Config
	db      *bolt.DB
	chain   Chain
	records Records
	key     libp2pcrypto.PrivKey
	log     *slog.Logger
	now     func() time.Time

	mu       sync.Mutex
	sessions map[uint64]*live
	height   atomic.Int64
	kick     chan struct{}
	stats    Stats
	// pruneFrom is the session id the next retention pass starts at.
	pruneFrom uint64
}

// Stats are counters for metrics and tests.
type Stats struct {
	Accepted, Rejected, Receipts, Settlements, SettleFailures, Pruned, Unpinned atomic.Uint64
}

// Open opens (or creates) the store in dir.
func Open(dir string, cfg Config, chain Chain, records Records, key libp2pcrypto.PrivKey, log *slog.Logger) (*Manager, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.setDefaults()
	if cfg.ChainID == "" || cfg.Operator == "" {
		return nil, errors.New("sessions: chain id and operator are required")
	}
	if key == nil {
		return nil, errors.New("sessions: the provider's identity key is required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sessions: data dir: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{Timeout: 5 * time.Second, NoSync: cfg.NoSync})
	if err != nil {
		return nil, fmt.Errorf("sessions: open store: %w", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketSessions, bucketReceipts, bucketTranscripts, bucketPublished, bucketUnpins} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("sessions: init store: %w", err)
	}
	return &Manager{
		cfg: cfg, db: db, chain: chain, records: records, key: key, log: log, now: time.Now,
		sessions: map[uint64]*live{}, kick: make(chan struct{}, 1),
	}, nil
}

// Close closes the store.
func (m *Manager) Close() error { return m.db.Close() }

// Stats returns the counters.
func (m *Manager) Stats() *Stats { return &m.stats }

// SetHeight records the latest chain height (the daemon's poller calls it).
func (m *Manager) SetHeight(h int64) { m.height.Store(h) }

func (m *Manager) currentHeight(ctx context.Context) (int64, error) {
	if h := m.height.Load(); h > 0 {
		return h, nil
	}
	h, err := m.chain.Height(ctx)
	if err != nil {
		return 0, err
	}
	m.height.Store(h)
	return h, nil
}

func sessionKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

func receiptKey(id, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, id), seq)
}

func (m *Manager) loadRecord(id uint64) (record, bool, error) {
	var r record
	var found bool
	err := m.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions).Get(sessionKey(id))
		if b == nil {
			return nil
		}
		found = true
		return json.Unmarshal(b, &r)
	})
	return r, found, err
}

func putRecord(tx *bolt.Tx, r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketSessions).Put(sessionKey(r.ID), b)
}

// session returns the live state of a session, loading it from the store and
// the chain; m.mu is held.
func (m *Manager) session(ctx context.Context, id uint64, refresh bool) (*live, error) {
	l := m.sessions[id]
	if l != nil && !refresh && m.now().Sub(l.infoAt) < m.cfg.InfoTTL {
		return l, nil
	}
	info, err := m.chain.Session(ctx, id)
	if err != nil {
		return nil, err
	}
	if info.Provider != m.cfg.Operator {
		return nil, reject(ErrUnknownSession, "session %d is with provider %s", id, info.Provider)
	}
	if l == nil {
		rec, found, err := m.loadRecord(id)
		if err != nil {
			return nil, fmt.Errorf("sessions: load %d: %w", id, err)
		}
		if !found {
			rec = record{ID: id, DeploymentID: info.DeploymentID, Denom: info.Deposit.Denom, Royalty: info.Royalty.String()}
		}
		ver, err := voucher.NewVerifier(info.PubKey)
		if err != nil {
			return nil, reject(ErrInvalidVoucher, "session %d key: %v", id, err)
		}
		l = &live{rec: rec, verifier: ver}
		m.sessions[id] = l
	}
	l.info, l.infoAt = info, m.now()
	l.rec.ExpiryHeight = info.ExpiryHeight
	return l, nil
}

// Request is what Accept needs to know about a request.
type Request struct {
	DeploymentID uint64
	// MaxTokens is the request's maximum M = prompt bound + max_tokens.
	MaxTokens uint64
}

// Ticket is an accepted request: Complete records its receipt, Abort (or
// Complete) releases the session for the next request.
type Ticket struct {
	m         *Manager
	id        uint64
	seq       uint64 // the receipt's request seq
	maxTokens uint64
	done      bool
	Voucher   voucher.Voucher
}

// RequestSeq is the receipt's request_seq: the 1-based index of the request.
func (t *Ticket) RequestSeq() uint64 { return t.seq }

// Accept verifies a request's voucher (docs/openai-api.md, "The per-request
// voucher rule") and commits it to the store before returning.
func (m *Manager) Accept(ctx context.Context, v voucher.Voucher, req Request) (*Ticket, error) {
	t, err := m.accept(ctx, v, req.DeploymentID, req.MaxTokens, useRequest)
	if err != nil {
		m.stats.Rejected.Add(1)
		return nil, err
	}
	m.stats.Accepted.Add(1)
	return t, nil
}

// Acknowledge accepts a voucher that names every receipt issued so far and
// pays for no new request: the requester acknowledges the last receipt (a
// one-off call has no next request whose voucher would name it), so that
// receipt settles under a root the requester signed. The session stays open.
func (m *Manager) Acknowledge(ctx context.Context, v voucher.Voucher) error {
	if _, err := m.accept(ctx, v, 0, 0, useAck); err != nil {
		return err
	}
	m.mu.Lock()
	var rec record
	if l := m.sessions[v.SessionID]; l != nil {
		rec = l.rec
	}
	m.mu.Unlock()
	if m.due(&rec, m.now(), m.height.Load(), false) {
		m.Kick()
	}
	return nil
}

// Final accepts the requester's final voucher: all receipts, no reservation.
// The session takes no more requests and is settled at the next pass.
func (m *Manager) Final(ctx context.Context, v voucher.Voucher) error {
	if _, err := m.accept(ctx, v, 0, 0, useFinal); err != nil {
		return err
	}
	m.Kick()
	return nil
}

// use is what a voucher is accepted for.
type use int

const (
	// useRequest pays for a request: it reserves the request's maximum and
	// holds the session until the receipt (a Ticket).
	useRequest use = iota
	// useAck names every receipt issued and pays for nothing new.
	useAck
	// useFinal is the requester's last voucher: no request follows it.
	useFinal
)

func (m *Manager) accept(ctx context.Context, v voucher.Voucher, deploymentID, maxTokens uint64, u use) (*Ticket, error) {
	if v.ChainID != m.cfg.ChainID {
		return nil, reject(ErrInvalidVoucher, "voucher for chain %q, this is %q", v.ChainID, m.cfg.ChainID)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.session(ctx, v.SessionID, false)
	if err != nil {
		return nil, err
	}
	if l.inflight {
		return nil, reject(ErrSessionBusy, "session %d has a request in flight", v.SessionID)
	}
	refreshed := false
	for {
		err = m.check(ctx, l, v, deploymentID, maxTokens, u)
		if refreshed || !(errors.Is(err, ErrExceedsDeposit) || errors.Is(err, ErrSessionClosed)) {
			break
		}
		// A top-up may have raised the deposit or extended the expiry.
		if l, err = m.session(ctx, v.SessionID, true); err != nil {
			return nil, err
		}
		refreshed = true
	}
	if err != nil {
		return nil, err
	}
	rec := l.rec
	if rec.Compute == "" {
		c, err := m.chain.ComputePrice(ctx, rec.DeploymentID)
		if err != nil {
			return nil, fmt.Errorf("sessions: offer price of deployment %d: %w", rec.DeploymentID, err)
		}
		rec.Compute = c.Amount.String()
		// Re-check with the pinned price.
		l2 := *l
		l2.rec = rec
		if err := m.check(ctx, &l2, v, deploymentID, maxTokens, u); err != nil {
			return nil, err
		}
	}
	rec.Voucher, rec.LastSeq, rec.VTokens, rec.VAmount = v.Encode(), v.Sequence, v.CumulativeTokens, v.CumulativeAmount.String()
	rec.Final = u == useFinal
	if rec.UnsettledAt.IsZero() {
		rec.UnsettledAt = m.now().UTC()
	}
	if err := m.db.Update(func(tx *bolt.Tx) error { return putRecord(tx, &rec) }); err != nil {
		return nil, fmt.Errorf("sessions: persist voucher: %w", err)
	}
	l.rec = rec
	switch u {
	case useFinal:
		failpoint.Hit("sessions.final_committed")
		return nil, nil
	case useAck:
		failpoint.Hit("sessions.ack_committed")
		return nil, nil
	}
	failpoint.Hit("sessions.voucher_committed")
	l.inflight = true
	return &Ticket{m: m, id: v.SessionID, seq: rec.Count + 1, maxTokens: maxTokens, Voucher: v}, nil
}

// check applies the acceptance rules to a voucher; m.mu is held. The
// deployment and the expiry margin bind requests only: an acknowledgement or
// the final voucher pays for what was served.
func (m *Manager) check(ctx context.Context, l *live, v voucher.Voucher, deploymentID, maxTokens uint64, u use) error {
	info, rec := l.info, &l.rec
	if v.Denom != info.Deposit.Denom {
		return reject(ErrInvalidVoucher, "voucher denom %q, the session's is %q", v.Denom, info.Deposit.Denom)
	}
	if !info.Open || rec.Closed {
		return reject(ErrSessionClosed, "session %d is not open", info.ID)
	}
	if u == useRequest && deploymentID != info.DeploymentID {
		return reject(ErrWrongDeployment, "session %d is for deployment %d, not %d", info.ID, info.DeploymentID, deploymentID)
	}
	h, err := m.currentHeight(ctx)
	if err != nil {
		return fmt.Errorf("sessions: chain height: %w", err)
	}
	if u == useRequest && h >= info.ExpiryHeight-m.cfg.ExpiryMargin {
		return reject(ErrSessionClosed, "session %d expires at height %d (now %d): no new requests within %d blocks of it", info.ID, info.ExpiryHeight, h, m.cfg.ExpiryMargin)
	}
	if rec.Final {
		return reject(ErrFinalised, "session %d received its final voucher", info.ID)
	}
	if err := l.verifier.Verify(v); err != nil {
		return reject(ErrBadSignature, "%v", err)
	}
	if v.Sequence <= max(rec.LastSeq, info.LastSequence) {
		return reject(ErrReplayed, "sequence %d, the last accepted is %d", v.Sequence, max(rec.LastSeq, info.LastSequence))
	}
	acc, err := rec.acc()
	if err != nil {
		return err
	}
	if v.ReceiptCount != rec.Count || v.ReceiptsRoot != acc.Root() {
		return reject(ErrOutOfSync, "voucher covers %d receipts (root %x), this provider issued %d (root %x)", v.ReceiptCount, v.ReceiptsRoot[:6], rec.Count, acc.Root())
	}
	price := rec.price()
	need := rec.Served + maxTokens
	if rec.Compute == "" { // not pinned yet: checked again with the price
		price.Compute = sdkmath.ZeroInt()
	}
	if v.CumulativeTokens < need || v.CumulativeTokens < rec.VTokens {
		return reject(ErrInsufficient, "voucher tokens %d, required %d (served %d + this request's maximum %d), amount %s%s",
			v.CumulativeTokens, max(need, rec.VTokens), rec.Served, maxTokens, price.Cost(max(need, rec.VTokens)), v.Denom)
	}
	if cost := price.Cost(v.CumulativeTokens); v.CumulativeAmount.LT(cost) || v.CumulativeAmount.LT(intOr0(rec.VAmount)) {
		return reject(ErrInsufficient, "voucher amount %s for %d tokens, required %s%s", v.CumulativeAmount, v.CumulativeTokens, cost, v.Denom)
	}
	if v.CumulativeAmount.GT(info.Deposit.Amount) {
		return reject(ErrExceedsDeposit, "voucher amount %s exceeds the deposit %s", v.CumulativeAmount, info.Deposit)
	}
	return nil
}

// State is the provider's view of a session (GET /v1/openledger/sessions/{id}).
type State struct {
	SessionID     uint64 `json:"session_id,string"`
	LastSequence  uint64 `json:"last_sequence,string"`
	ReceiptCount  uint64 `json:"receipt_count,string"`
	ReceiptsRoot  string `json:"receipts_root"`
	ServedTokens  uint64 `json:"served_tokens,string"`
	VoucherTokens uint64 `json:"voucher_tokens,string"`
	VoucherAmount string `json:"voucher_amount"`
	Final         bool   `json:"final"`
	SettledSeq    uint64 `json:"settled_sequence,string"`
}

// State returns a session's state; ErrUnknownSession if this provider never
// accepted a voucher for it.
func (m *Manager) State(id uint64) (State, error) {
	m.mu.Lock()
	l := m.sessions[id]
	var rec record
	if l != nil {
		rec = l.rec
	}
	m.mu.Unlock()
	if l == nil {
		r, found, err := m.loadRecord(id)
		if err != nil {
			return State{}, err
		}
		if !found {
			return State{}, reject(ErrUnknownSession, "no voucher for session %d", id)
		}
		rec = r
	}
	return rec.state()
}

func (r *record) state() (State, error) {
	acc, err := r.acc()
	if err != nil {
		return State{}, err
	}
	root := acc.Root()
	return State{
		SessionID: r.ID, LastSequence: r.LastSeq, ReceiptCount: r.Count, ReceiptsRoot: fmt.Sprintf("%x", root),
		ServedTokens: r.Served, VoucherTokens: r.VTokens, VoucherAmount: intOr0(r.VAmount).String(), Final: r.Final,
		SettledSeq: r.SettledSeq,
	}, nil
}

// Receipts returns the session's receipts with request seq in (from, from+limit].
func (m *Manager) Receipts(id, from uint64, limit int) ([]voucher.Receipt, error) {
	var out []voucher.Receipt
	err := m.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketReceipts).Cursor()
		prefix := sessionKey(id)
		for k, v := c.Seek(receiptKey(id, from+1)); k != nil && len(out) < limit; k, v = c.Next() {
			if len(k) != 16 || string(k[:8]) != string(prefix) {
				break
			}
			r, err := voucher.UnmarshalReceipt(v)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}
