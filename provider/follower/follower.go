// Package follower follows the chain's events for the provider daemon.
//
// It walks blocks strictly in height order. New blocks arrive over the CometBFT
// websocket (NewBlock, which carries the block's FinalizeBlock results: every tx's
// events and the block-level BeginBlock/EndBlock events, where auctions close);
// when the websocket is down or silent for longer than StallTimeout, the follower
// polls BlockResults height by height instead, and it fills any gap the same way.
//
// Delivery is exactly-once by construction:
//
//  1. A block's matching events and the new processed height are written to the
//     store's inbox in one committed transaction (store.AcceptBlock): a block is
//     accepted whole or not at all, and never twice, across restarts.
//  2. Inbox events are handed to the Handler in chain order and removed (acked)
//     once it returns nil. A handler that acks inside its own store transaction
//     (store.Tx.AckEvent) makes its effect and the ack one atomic step, so even a
//     crash inside the handler cannot deliver an event twice.
//
// After a restart the follower resumes from the stored height and first
// delivers what the inbox still holds.
package follower

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/cosmos/gogoproto/proto"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/provider/store"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// DefaultTypes are the x/inference events a provider acts on.
var DefaultTypes = []string{
	proto.MessageName(&inferencetypes.EventJobCreated{}),
	proto.MessageName(&inferencetypes.EventBidPlaced{}),
	proto.MessageName(&inferencetypes.EventJobAwarded{}),
	proto.MessageName(&inferencetypes.EventJobReauctioned{}),
	proto.MessageName(&inferencetypes.EventJobClosed{}),
	proto.MessageName(&inferencetypes.EventReceiptSubmitted{}),
	proto.MessageName(&inferencetypes.EventJobFinalized{}),
	proto.MessageName(&inferencetypes.EventSessionOpened{}),
	proto.MessageName(&inferencetypes.EventSessionToppedUp{}),
	proto.MessageName(&inferencetypes.EventSessionClosed{}),
	proto.MessageName(&inferencetypes.EventProviderSlashed{}),
	proto.MessageName(&inferencetypes.EventProviderStatusChanged{}),
}

// Event is one delivered chain event.
type Event struct {
	Key store.EventKey
	// TxHash of the emitting tx (empty for BeginBlock/EndBlock events).
	TxHash string
	// Type is the ABCI event type (for typed events, the proto message name).
	Type string
	// Raw is the ABCI event.
	Raw abci.Event
	// Msg is the typed event (sdk.ParseTypedEvent), nil for untyped events.
	Msg proto.Message
}

// Handler receives each event once, in chain order. Returning an error keeps the
// event in the inbox to be retried (up to Config.MaxAttempts).
type Handler func(ctx context.Context, ev Event) error

// Config configures a Follower.
type Config struct {
	// RPCAddr is the CometBFT RPC endpoint, e.g. tcp://127.0.0.1:26657.
	RPCAddr string
	// Types are the ABCI event types to accept (default DefaultTypes).
	Types []string
	// StartHeight is the first height processed when the store has none;
	// 0 starts at the chain's latest height.
	StartHeight int64
	// PollInterval between polls when not fed by the websocket (default 1 s).
	PollInterval time.Duration
	// StallTimeout: with no websocket block for this long, poll (default 5 s).
	StallTimeout time.Duration
	// MaxBlocksPerRound bounds the blocks caught up before the inbox is served
	// again (default 100).
	MaxBlocksPerRound int
	// MaxAttempts of a failing handler before the event is dropped with an
	// error log (default 10).
	MaxAttempts uint32
	// PollOnly disables the websocket (the polling fallback alone).
	PollOnly bool
}

// Follower follows the chain. Create with New, run with Run.
type Follower struct {
	cfg     Config
	st      *store.Store
	handle  Handler
	log     *slog.Logger
	types   map[string]bool
	rpc     *rpchttp.HTTP
	next    int64 // next height to accept
	lastWS  time.Time
	retryAt time.Time // earliest next delivery attempt after a handler failure
}

// New returns a follower writing to st and delivering to h.
func New(cfg Config, st *store.Store, h Handler, log *slog.Logger) (*Follower, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if st == nil || h == nil {
		return nil, errors.New("follower: a store and a handler are required")
	}
	if cfg.RPCAddr == "" {
		return nil, errors.New("follower: RPC address is required")
	}
	if len(cfg.Types) == 0 {
		cfg.Types = DefaultTypes
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = 5 * time.Second
	}
	if cfg.MaxBlocksPerRound <= 0 {
		cfg.MaxBlocksPerRound = 100
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 10
	}
	types := map[string]bool{}
	for _, t := range cfg.Types {
		types[t] = true
	}
	return &Follower{cfg: cfg, st: st, handle: h, log: log.With("component", "follower"), types: types}, nil
}

// Run follows the chain until ctx ends (then returns nil) or the store fails.
func (f *Follower) Run(ctx context.Context) error {
	rpc, err := rpchttp.New(f.cfg.RPCAddr, "/websocket")
	if err != nil {
		return fmt.Errorf("follower: RPC client %s: %w", f.cfg.RPCAddr, err)
	}
	f.rpc = rpc
	if err := f.initHeight(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	f.log.Info("following the chain", "from_height", f.next, "rpc", f.cfg.RPCAddr)

	var blocks <-chan ctypes.ResultEvent
	wsRetry := time.Time{}
	defer func() {
		if f.rpc.IsRunning() {
			_ = f.rpc.Stop()
		}
	}()
	tick := time.NewTicker(f.cfg.PollInterval)
	defer tick.Stop()
	// While the chain is unreachable, polls back off exponentially from
	// PollInterval up to 10 × PollInterval.
	pollBackoff, pollAt := f.cfg.PollInterval, time.Time{}
	// reachable ends a back-off, on whichever path (a poll, or a block from a
	// resubscribed websocket) first reaches the chain again.
	reachable := func() {
		if !pollAt.IsZero() {
			f.log.Info("chain reachable again", "rpc", f.cfg.RPCAddr, "next_height", f.next)
		}
		pollBackoff, pollAt = f.cfg.PollInterval, time.Time{}
	}
	for {
		if err := f.deliver(ctx); err != nil {
			return err
		}
		if blocks == nil && !f.cfg.PollOnly && time.Now().After(wsRetry) {
			blocks = f.subscribe(ctx)
			if blocks == nil {
				wsRetry = time.Now().Add(10 * f.cfg.PollInterval)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case ev := <-blocks:
			data, ok := newBlock(ev.Data)
			if !ok {
				continue
			}
			f.lastWS = time.Now()
			if err := f.onNewBlock(ctx, data); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if errors.Is(err, errStore) {
					return err
				}
				f.log.Warn("processing a websocket block; will poll", "height", data.Block.Height, "err", err)
				continue
			}
			reachable()
		case <-tick.C:
			if blocks != nil && time.Since(f.lastWS) < f.cfg.StallTimeout {
				continue
			}
			if blocks != nil {
				f.log.Warn("websocket silent, polling and reconnecting", "silent_for", time.Since(f.lastWS).Round(time.Millisecond))
				if f.rpc.IsRunning() {
					_ = f.rpc.Stop()
				}
				if rpc, err := rpchttp.New(f.cfg.RPCAddr, "/websocket"); err == nil {
					f.rpc = rpc
				}
				blocks = nil
			}
			if time.Now().Before(pollAt) {
				continue
			}
			if err := f.catchUp(ctx, 0); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if errors.Is(err, errStore) {
					return err
				}
				f.log.Warn("chain unreachable, polling backs off", "rpc", f.cfg.RPCAddr, "next_height", f.next, "in", pollBackoff, "err", err)
				pollAt = time.Now().Add(pollBackoff)
				pollBackoff = min(pollBackoff*2, 10*f.cfg.PollInterval)
				continue
			}
			reachable()
		}
	}
}

// errStore marks store failures, which stop the follower.
var errStore = errors.New("store")

func storeErr(err error) error { return fmt.Errorf("%w: %w", errStore, err) }

func (f *Follower) initHeight(ctx context.Context) error {
	h, err := f.st.Height()
	if err != nil {
		return storeErr(err)
	}
	if h > 0 {
		f.next = h + 1
		return nil
	}
	if f.cfg.StartHeight > 0 {
		f.next = f.cfg.StartHeight
		return nil
	}
	backoff := f.cfg.PollInterval
	for {
		st, err := f.rpc.Status(ctx)
		if err == nil {
			f.next = st.SyncInfo.LatestBlockHeight
			return nil
		}
		f.log.Warn("chain unreachable, retrying", "rpc", f.cfg.RPCAddr, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// subscribe starts the websocket and subscribes to NewBlock; nil on failure.
func (f *Follower) subscribe(ctx context.Context) <-chan ctypes.ResultEvent {
	if !f.rpc.IsRunning() {
		if err := f.rpc.Start(); err != nil {
			f.log.Warn("websocket unavailable, polling", "err", err)
			return nil
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ch, err := f.rpc.Subscribe(sctx, "openledger-provider", cmttypes.QueryForEvent(cmttypes.EventNewBlock).String(), 64)
	if err != nil {
		f.log.Warn("websocket subscription failed, polling", "err", err)
		_ = f.rpc.Stop()
		if rpc, err := rpchttp.New(f.cfg.RPCAddr, "/websocket"); err == nil {
			f.rpc = rpc
		}
		return nil
	}
	f.lastWS = time.Now()
	f.log.Info("websocket subscribed", "query", "NewBlock")
	return ch
}

func newBlock(d cmttypes.TMEventData) (cmttypes.EventDataNewBlock, bool) {
	switch v := d.(type) {
	case cmttypes.EventDataNewBlock:
		return v, v.Block != nil
	case *cmttypes.EventDataNewBlock:
		if v == nil {
			return cmttypes.EventDataNewBlock{}, false
		}
		return *v, v.Block != nil
	}
	return cmttypes.EventDataNewBlock{}, false
}

func (f *Follower) onNewBlock(ctx context.Context, d cmttypes.EventDataNewBlock) error {
	h := d.Block.Height
	if h < f.next {
		return nil
	}
	if h > f.next {
		// Fill the gap from BlockResults first (bounded: the websocket block waits
		// for the next round if the gap is long).
		if err := f.catchUp(ctx, h-1); err != nil {
			return err
		}
		if h != f.next {
			return nil
		}
	}
	return f.accept(h, d.ResultFinalizeBlock.TxResults, d.ResultFinalizeBlock.Events, d.Block.Txs)
}

// catchUp accepts blocks from f.next up to `to` (0: the latest height), at most
// MaxBlocksPerRound of them.
func (f *Follower) catchUp(ctx context.Context, to int64) error {
	if to == 0 {
		st, err := f.rpc.Status(ctx)
		if err != nil {
			return fmt.Errorf("status: %w", err)
		}
		to = st.SyncInfo.LatestBlockHeight
	}
	for n := 0; f.next <= to && n < f.cfg.MaxBlocksPerRound; n++ {
		h := f.next
		res, err := f.rpc.BlockResults(ctx, &h)
		if err != nil {
			return fmt.Errorf("block results %d: %w", h, err)
		}
		var txs cmttypes.Txs
		if f.anyMatch(res.TxsResults) {
			blk, err := f.rpc.Block(ctx, &h)
			if err != nil {
				return fmt.Errorf("block %d: %w", h, err)
			}
			txs = blk.Block.Txs
		}
		if err := f.accept(h, res.TxsResults, res.FinalizeBlockEvents, txs); err != nil {
			return err
		}
	}
	return nil
}

func (f *Follower) anyMatch(results []*abci.ExecTxResult) bool {
	for _, r := range results {
		if r == nil {
			continue
		}
		for _, e := range r.Events {
			if f.types[e.Type] {
				return true
			}
		}
	}
	return false
}

// accept stores block h's matching events and advances the height atomically.
func (f *Follower) accept(h int64, results []*abci.ExecTxResult, blockEvents []abci.Event, txs cmttypes.Txs) error {
	var evs []store.InboxEvent
	add := func(txIndex int32, i int, e abci.Event, hash string) error {
		if !f.types[e.Type] {
			return nil
		}
		bz, err := e.Marshal()
		if err != nil {
			return err
		}
		evs = append(evs, store.InboxEvent{
			Key:    store.EventKey{Height: h, TxIndex: txIndex, EventIndex: int32(i)},
			TxHash: hash, Type: e.Type, ABCI: bz,
		})
		return nil
	}
	for i, e := range blockEvents {
		place := store.TxIndexBeginBlock
		if blockMode(e) == "EndBlock" {
			place = store.TxIndexEndBlock
		}
		if err := add(place, i, e, ""); err != nil {
			return err
		}
	}
	for ti, r := range results {
		if r == nil || r.Code != 0 {
			continue // a failed tx's events were reverted
		}
		hash := ""
		if ti < len(txs) {
			hash = fmt.Sprintf("%X", txs[ti].Hash())
		}
		for i, e := range r.Events {
			if err := add(int32(ti), i, e, hash); err != nil {
				return err
			}
		}
	}
	ok, err := f.st.AcceptBlock(h, evs)
	if err != nil {
		return storeErr(err)
	}
	if ok && len(evs) > 0 {
		f.log.Debug("block accepted", "height", h, "events", len(evs))
	}
	f.next = h + 1
	return nil
}

func blockMode(e abci.Event) string {
	for _, a := range e.Attributes {
		if a.Key == "mode" {
			return a.Value
		}
	}
	return ""
}

// deliver hands inbox events to the handler in order until the inbox is empty, a
// handler fails, or ctx ends.
func (f *Follower) deliver(ctx context.Context) error {
	if time.Now().Before(f.retryAt) {
		return nil
	}
	for ctx.Err() == nil {
		var batch []store.InboxEvent
		if err := f.st.View(func(tx *store.Tx) (err error) { batch, err = tx.Events(64); return err }); err != nil {
			return storeErr(err)
		}
		if len(batch) == 0 {
			return nil
		}
		for _, ie := range batch {
			ev, err := decode(ie)
			if err != nil {
				f.log.Error("undecodable inbox event dropped", "key", ie.Key.String(), "type", ie.Type, "err", err)
				if err := f.st.Update(func(tx *store.Tx) error { return tx.AckEvent(ie.Key) }); err != nil {
					return storeErr(err)
				}
				continue
			}
			if herr := f.handle(ctx, ev); herr != nil {
				if ctx.Err() != nil {
					return nil
				}
				if errors.Is(herr, store.ErrWriteFailed) {
					// The store cannot commit (full disk): the event stays in the
					// inbox, not counted as a handler failure nor dropped.
					f.log.Error("store write failed handling an event; stopping with the event kept", "key", ie.Key.String(), "type", ie.Type, "err", herr)
					return storeErr(herr)
				}
				var n uint32
				if err := f.st.Update(func(tx *store.Tx) (err error) { n, err = tx.NoteEventFailure(ie.Key); return err }); err != nil {
					return storeErr(err)
				}
				if n >= f.cfg.MaxAttempts {
					f.log.Error("handler keeps failing; event dropped", "key", ie.Key.String(), "type", ie.Type, "attempts", n, "err", herr)
					if err := f.st.Update(func(tx *store.Tx) error { return tx.AckEvent(ie.Key) }); err != nil {
						return storeErr(err)
					}
					continue
				}
				f.log.Warn("handler failed; will retry", "key", ie.Key.String(), "type", ie.Type, "attempt", n, "err", herr)
				f.retryAt = time.Now().Add(time.Duration(n) * f.cfg.PollInterval)
				return nil
			}
			if err := f.st.Update(func(tx *store.Tx) error { return tx.AckEvent(ie.Key) }); err != nil {
				return storeErr(err)
			}
		}
	}
	return nil
}

func decode(ie store.InboxEvent) (Event, error) {
	var raw abci.Event
	if err := raw.Unmarshal(ie.ABCI); err != nil {
		return Event{}, err
	}
	ev := Event{Key: ie.Key, TxHash: ie.TxHash, Type: raw.Type, Raw: raw}
	if proto.MessageType(raw.Type) != nil && strings.Contains(raw.Type, ".") {
		// Block-level events carry a "mode" attribute (BeginBlock/EndBlock) that is
		// not a field of the typed event (nor JSON): parse without it.
		typed := abci.Event{Type: raw.Type}
		for _, a := range raw.Attributes {
			if a.Key != "mode" {
				typed.Attributes = append(typed.Attributes, a)
			}
		}
		msg, err := sdk.ParseTypedEvent(typed)
		if err != nil {
			return Event{}, fmt.Errorf("typed event %s: %w", raw.Type, err)
		}
		ev.Msg = msg
	}
	return ev, nil
}

// Next returns the next height the follower will accept (for status and tests;
// not synchronised with Run).
func (f *Follower) Next() int64 { return f.next }
