package bidder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/provider/chainclient"
	"github.com/openledger/openledger/provider/follower"
	"github.com/openledger/openledger/provider/internal/failpoint"
	"github.com/openledger/openledger/provider/store"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// Chain is what the service needs of the chain client (*chainclient.Client).
type Chain interface {
	Address() string
	LatestHeight(ctx context.Context) (int64, error)
	Submit(ctx context.Context, note string, msgs ...sdk.Msg) (chainclient.Submitted, error)
}

// busy are the states that hold a slot: bid on (it may be won) or won and not
// finished.
var busy = []store.State{
	store.StateBid, store.StateAwarded, store.StateExecuting, store.StateOutputStored,
	store.StateReceiptBuilt, store.StateReceiptSent,
}

// Service turns follower events into bids. Handle is its follower.Handler; Run
// re-sends bids recorded but not broadcast (after a crash or a chain outage).
type Service struct {
	policy Policy
	st     *store.Store
	chain  Chain
	log    *slog.Logger
	// RetryInterval of Run's pass over unsent bids (default 5 s).
	RetryInterval time.Duration

	// mu serialises job decisions (Handle and Run's retries).
	mu sync.Mutex
}

// NewService returns a bidder service.
func NewService(p Policy, st *store.Store, chain Chain, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{policy: p, st: st, chain: chain, log: log.With("component", "bidder"), RetryInterval: 5 * time.Second}
}

// Handle is the follower.Handler: it acts on job events and acks each event in
// the same store transaction as its effect.
func (s *Service) Handle(ctx context.Context, ev follower.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch m := ev.Msg.(type) {
	case *inferencetypes.EventJobCreated:
		return s.onCreated(ctx, ev, m)
	case *inferencetypes.EventJobAwarded:
		err := s.ack(ev, func(tx *store.Tx) error {
			if err := forgetBid(tx, m.JobId); err != nil {
				return err
			}
			return s.onAwarded(tx, m)
		})
		if err == nil && m.Winner == s.chain.Address() {
			failpoint.Hit("bid.awarded")
		}
		return err
	case *inferencetypes.EventJobClosed:
		return s.ack(ev, func(tx *store.Tx) error {
			if err := forgetBid(tx, m.JobId); err != nil {
				return err
			}
			return s.giveUp(tx, m.JobId, "job closed: "+m.Status.String(), store.StateSeen, store.StateBid)
		})
	case *inferencetypes.EventJobReauctioned:
		return s.ack(ev, func(tx *store.Tx) error {
			if err := forgetBid(tx, m.JobId); err != nil {
				return err
			}
			reason := "re-auctioned"
			if m.Defaulted == s.chain.Address() {
				reason = "missed the deadline; re-auctioned"
			}
			return s.giveUp(tx, m.JobId, reason, store.StateSeen, store.StateBid, store.StateAwarded, store.StateExecuting,
				store.StateOutputStored, store.StateReceiptBuilt, store.StateReceiptSent)
		})
	default:
		return s.ack(ev, nil)
	}
}

// ack runs fn (may be nil) and acks ev in one transaction.
func (s *Service) ack(ev follower.Event, fn func(*store.Tx) error) error {
	return s.st.Update(func(tx *store.Tx) error {
		if fn != nil {
			if err := fn(tx); err != nil {
				return err
			}
		}
		return tx.AckEvent(ev.Key)
	})
}

func (s *Service) onCreated(ctx context.Context, ev follower.Event, m *inferencetypes.EventJobCreated) error {
	if _, ok := s.policy.Deployments[m.DeploymentId]; !ok {
		return s.ack(ev, nil) // not ours: nothing recorded
	}
	height := ev.Key.Height
	if h, err := s.chain.LatestHeight(ctx); err == nil && h > height {
		height = h
	}
	job := Job{ID: m.JobId, DeploymentID: m.DeploymentId, Requester: m.Requester,
		MaxPrice: m.MaxComputePricePerThousandTokens, BidCloseHeight: m.BidCloseHeight}
	var (
		d       Decision
		already bool
	)
	// Decide and record in one transaction, acking the event with it: a crash
	// after this commit re-sends the bid from the store (Run), never re-decides.
	err := s.st.Update(func(tx *store.Tx) error {
		if _, err := tx.Job(m.JobId); err == nil {
			already = true
			return tx.AckEvent(ev.Key)
		}
		load, err := loadOf(tx)
		if err != nil {
			return err
		}
		d = Decide(s.policy, job, load, s.chain.Address(), height)
		if _, err := tx.AddJob(store.Job{
			ID: m.JobId, DeploymentID: m.DeploymentId, Requester: m.Requester, MaxTokens: m.MaxTokens,
			MaxPrice: m.MaxComputePricePerThousandTokens.String(), BidCloseHeight: m.BidCloseHeight,
		}); err != nil {
			return err
		}
		if d.Bid {
			_, err = tx.Transition(m.JobId, store.StateBid, func(j *store.Job) { j.BidPrice = d.Price.String() })
		} else {
			_, err = tx.Transition(m.JobId, store.StateGivenUp, func(j *store.Job) { j.Reason = d.Reason })
		}
		if err != nil {
			return err
		}
		return tx.AckEvent(ev.Key)
	})
	if err != nil || already {
		return err
	}
	s.log.Info("job seen", "job", m.JobId, "deployment", m.DeploymentId, "max_price", m.MaxComputePricePerThousandTokens.String(), "decision", d.String())
	if d.Bid {
		failpoint.Hit("bid.persisted")
		s.send(ctx, m.JobId, d.Price)
	}
	return nil
}

// send broadcasts a recorded bid and records its tx hash. Failures are logged:
// a refused bid gives the job up; an unreachable chain leaves it for Run.
func (s *Service) send(ctx context.Context, jobID uint64, price sdk.Coin) {
	msg := &inferencetypes.MsgBid{Provider: s.chain.Address(), JobId: jobID, Price: price}
	sub, err := s.chain.Submit(ctx, BidNote(jobID), msg)
	var txErr *chainclient.TxError
	switch {
	case err == nil:
		s.edit(jobID, func(j *store.Job) { j.BidTxHash = sub.Hash; j.Attempts++ })
		failpoint.Hit("bid.sent")
		s.log.Info("bid sent", "job", jobID, "price", price.String(), "tx", sub.Hash)
	case errors.As(err, &txErr):
		s.log.Warn("bid refused", "job", jobID, "err", err)
		if uerr := s.st.Update(func(tx *store.Tx) error {
			return s.giveUp(tx, jobID, "bid refused: "+txErr.Log, store.StateBid)
		}); uerr != nil {
			s.log.Error("recording a refused bid", "job", jobID, "err", uerr)
		}
	default:
		s.edit(jobID, func(j *store.Job) { j.Attempts++; j.Reason = err.Error() })
		s.log.Warn("bid not sent; will retry", "job", jobID, "err", err)
	}
}

func (s *Service) edit(jobID uint64, fn func(*store.Job)) {
	if err := s.st.Update(func(tx *store.Tx) error { _, err := tx.EditJob(jobID, fn); return err }); err != nil {
		s.log.Error("recording a bid", "job", jobID, "err", err)
	}
}

func (s *Service) onAwarded(tx *store.Tx, m *inferencetypes.EventJobAwarded) error {
	j, err := tx.Job(m.JobId)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if j.State != store.StateBid {
		return nil
	}
	if m.Winner == s.chain.Address() {
		_, err = tx.Transition(m.JobId, store.StateAwarded, func(j *store.Job) {
			j.DeadlineHeight = m.DeadlineHeight
			j.BidPrice = m.Price.String()
		})
		if err == nil {
			s.log.Info("job won", "job", m.JobId, "price", m.Price.String(), "deadline", m.DeadlineHeight)
		}
		return err
	}
	return s.giveUp(tx, m.JobId, "lost the auction to "+m.Winner, store.StateBid)
}

// BidNote is the journal note of a job's bid tx.
func BidNote(jobID uint64) string { return fmt.Sprintf("bid job %d", jobID) }

// forgetBid drops a job's journaled bid txs once its auction is decided (awarded,
// closed or re-auctioned): by then each bid is in a block or never will be (the
// chain refuses bids after the close). Without this the chain client's journal
// kept every sent bid until the next restart's resume, and `provider status`
// showed it as a pending tx.
func forgetBid(tx *store.Tx, jobID uint64) error {
	txs, err := tx.PendingTxs()
	if err != nil {
		return err
	}
	note := BidNote(jobID)
	for _, p := range txs {
		if p.Note != note {
			continue
		}
		if err := tx.DeletePendingTx(p.Hash); err != nil {
			return err
		}
	}
	return nil
}

// giveUp moves a job in one of the states `from` to given_up; others are left. The
// line is logged when the transition is made (the caller's transaction commits it).
func (s *Service) giveUp(tx *store.Tx, jobID uint64, reason string, from ...store.State) error {
	j, err := tx.Job(jobID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, f := range from {
		if j.State == f {
			if _, err := tx.Transition(jobID, store.StateGivenUp, func(j *store.Job) { j.Reason = reason }); err != nil {
				return err
			}
			s.log.Info("job given up", "job", jobID, "from", f, "reason", reason)
			return nil
		}
	}
	return nil
}

func loadOf(tx *store.Tx) (Load, error) {
	jobs, err := tx.Jobs(busy...)
	if err != nil {
		return Load{}, err
	}
	l := Load{ByDeployment: map[uint64]uint32{}}
	for _, j := range jobs {
		l.Running++
		l.ByDeployment[j.DeploymentID]++
	}
	return l, nil
}

// Load returns the current load from the store.
func (s *Service) Load() (l Load, err error) {
	err = s.st.View(func(tx *store.Tx) error { l, err = loadOf(tx); return err })
	return l, err
}

// Run re-sends recorded but unsent bids (state bid, no tx hash) whose auction is
// still open, every RetryInterval, until ctx ends (then it returns nil).
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.RetryInterval)
	defer t.Stop()
	for {
		if err := s.retryUnsent(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Service) retryUnsent(ctx context.Context) error {
	jobs, err := s.st.Jobs(store.StateBid)
	if err != nil {
		return fmt.Errorf("bidder: %w", err)
	}
	var height int64
	for _, j := range jobs {
		if j.BidTxHash != "" || ctx.Err() != nil {
			continue
		}
		if height == 0 {
			if height, err = s.chain.LatestHeight(ctx); err != nil {
				s.log.Warn("chain unreachable; bids wait", "err", err)
				return nil
			}
		}
		price, err := sdk.ParseCoinNormalized(j.BidPrice)
		if err != nil {
			return fmt.Errorf("bidder: job %d has bid price %q: %w", j.ID, j.BidPrice, err)
		}
		s.mu.Lock()
		if cur, err := s.st.Job(j.ID); err != nil || cur.State != store.StateBid || cur.BidTxHash != "" {
			s.mu.Unlock() // changed meanwhile (awarded, given up, sent)
			continue
		}
		if height > j.BidCloseHeight {
			if err := s.st.Update(func(tx *store.Tx) error {
				if err := forgetBid(tx, j.ID); err != nil {
					return err
				}
				return s.giveUp(tx, j.ID, "auction closed before the bid was sent", store.StateBid)
			}); err != nil {
				s.mu.Unlock()
				return fmt.Errorf("bidder: %w", err)
			}
		} else {
			s.send(ctx, j.ID, price)
		}
		s.mu.Unlock()
	}
	return nil
}
