// Broadcasting a built receipt, confirming its inclusion, and giving jobs up.

package receipts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openledger/openledger/provider/chainclient"
	"github.com/openledger/openledger/provider/follower"
	"github.com/openledger/openledger/provider/store"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// pending returns the journaled receipt tx of a job, if any.
func (s *Service) pending(id uint64) (store.PendingTx, bool, error) {
	txs, err := s.st.PendingTxs()
	if err != nil {
		return store.PendingTx{}, false, err
	}
	for _, p := range txs {
		if p.Note == Note(id) {
			return p, true, nil
		}
	}
	return store.PendingTx{}, false, nil
}

// post: receipt_built → receipt_sent. A journaled receipt tx (broadcast before a
// crash, its fate unknown) is resumed instead of posting a new one.
func (s *Service) post(ctx context.Context, j store.Job) (store.State, error) {
	if p, ok, err := s.pending(j.ID); err != nil {
		return "", err
	} else if ok {
		s.log.Info("resuming a journaled receipt tx", "job", j.ID, "tx", p.Hash)
		_, rerr := s.chain.Resume(ctx, p.Hash, p.Body)
		var txErr *chainclient.TxError
		switch {
		case rerr == nil:
			return s.markIncluded(j.ID, p.Hash)
		case errors.As(rerr, &txErr) && txErr.Included:
			return s.failedInBlock(j.ID, txErr)
		case errors.As(rerr, &txErr):
			// Refused on re-broadcast and forgotten: it will never land. Post anew
			// below unless the chain has our receipt.
			s.log.Warn("journaled receipt tx refused on re-broadcast", "job", j.ID, "tx", p.Hash, "err", rerr)
		default:
			return "", retry{fmt.Errorf("resuming receipt tx %s: %w", p.Hash, rerr)}
		}
	}
	_, _, ok, to, err := s.chainState(ctx, j)
	if !ok {
		return to, err
	}
	var rc store.Receipt
	if err := s.st.View(func(tx *store.Tx) error { var e error; rc, e = tx.Receipt(j.ID); return e }); err != nil {
		return "", err
	}
	msg := &inferencetypes.MsgSubmitReceipt{}
	if err := msg.Unmarshal(rc.Msg); err != nil {
		return "", fmt.Errorf("stored receipt msg of job %d: %w", j.ID, err)
	}
	sub, err := s.chain.Submit(ctx, Note(j.ID), msg)
	if err != nil {
		var txErr *chainclient.TxError
		if errors.As(err, &txErr) {
			return "", retry{fmt.Errorf("receipt tx refused: %w", err)}
		}
		// Outcome unknown: the tx stays journaled and is resumed next round.
		return "", retry{fmt.Errorf("broadcasting the receipt: %w", err)}
	}
	s.stats.Submitted.Add(1)
	if _, err := s.st.Transition(j.ID, store.StateReceiptSent, func(sj *store.Job) { sj.ReceiptTxHash = sub.Hash }); err != nil {
		return "", err
	}
	s.log.Info("receipt sent", "job", j.ID, "tx", sub.Hash, "output", msg.OutputCid)
	return store.StateReceiptSent, nil
}

// confirm: receipt_sent → included, or back to receipt_built when the tx is
// known never to land.
func (s *Service) confirm(ctx context.Context, j store.Job) (store.State, error) {
	if _, has, err := s.ourReceipt(ctx, j.ID); err != nil {
		return "", retry{err}
	} else if has {
		return s.markIncluded(j.ID, j.ReceiptTxHash)
	}
	p, journaled, err := s.pending(j.ID)
	if err != nil {
		return "", err
	}
	var txErr *chainclient.TxError
	if journaled {
		_, err = s.chain.Resume(ctx, p.Hash, p.Body)
	} else {
		_, err = s.chain.WaitTx(ctx, j.ReceiptTxHash)
	}
	switch {
	case err == nil:
		return s.markIncluded(j.ID, j.ReceiptTxHash)
	case errors.As(err, &txErr) && txErr.Included:
		return s.failedInBlock(j.ID, txErr)
	case errors.As(err, &txErr), !journaled && errors.Is(err, chainclient.ErrInclusionTimeout):
		// Refused, or gone without a trace and no longer journaled: re-post.
		if _, has, rerr := s.ourReceipt(ctx, j.ID); rerr != nil {
			return "", retry{rerr}
		} else if has {
			return s.markIncluded(j.ID, j.ReceiptTxHash)
		}
		s.log.Warn("receipt tx will not land; re-posting", "job", j.ID, "tx", j.ReceiptTxHash, "err", err)
		if _, err := s.st.Transition(j.ID, store.StateReceiptBuilt, func(sj *store.Job) { sj.ReceiptTxHash = "" }); err != nil {
			return "", err
		}
		return store.StateReceiptBuilt, nil
	default:
		return "", retry{fmt.Errorf("waiting for receipt tx %s: %w", j.ReceiptTxHash, err)}
	}
}

func (s *Service) failedInBlock(id uint64, txErr *chainclient.TxError) (store.State, error) {
	s.log.Error("receipt tx failed in its block", "job", id, "tx", txErr.Hash, "err", txErr)
	return s.giveUp(id, "receipt failed in its block: "+txErr.Log)
}

// markIncluded moves a job whose receipt is on chain to included.
func (s *Service) markIncluded(id uint64, hash string) (store.State, error) {
	var moved bool
	err := s.st.Update(func(tx *store.Tx) error {
		var err error
		moved, err = markIncluded(tx, id, hash)
		return err
	})
	if err != nil {
		return "", err
	}
	if moved {
		s.stats.Included.Add(1)
		s.log.Info("receipt included", "job", id, "tx", hash)
	}
	return store.StateIncluded, nil
}

func markIncluded(tx *store.Tx, id uint64, hash string) (bool, error) {
	j, err := tx.Job(id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	edit := func(sj *store.Job) {
		if hash != "" {
			sj.ReceiptTxHash = hash
		}
	}
	switch j.State {
	case store.StateReceiptBuilt:
		if _, err := tx.Transition(id, store.StateReceiptSent, edit); err != nil {
			return false, err
		}
	case store.StateReceiptSent:
	case store.StateAwarded, store.StateExecuting, store.StateOutputStored:
		// Our receipt is on chain but this store never built one: nothing to
		// post, ever. Close the job.
		_, err := tx.Transition(id, store.StateGivenUp, func(sj *store.Job) { sj.Reason = "receipt already on chain" })
		return false, err
	default:
		return false, nil
	}
	if _, err := tx.Transition(id, store.StateIncluded, edit); err != nil {
		return false, err
	}
	if err := forgetReceiptTxs(tx, id); err != nil {
		return false, err
	}
	return true, tx.DeleteReceipt(id)
}

// forgetReceiptTxs drops a job's journaled receipt txs once its receipt is on
// chain: each is that receipt's tx or one the chain refuses. Without this a
// receipt tx journaled before a crash stayed in the journal for good when the
// restarted daemon learnt of the inclusion from the chain (or the follower's
// event came before the wait for the tx), and `provider status` counted it as
// pending.
func forgetReceiptTxs(tx *store.Tx, id uint64) error {
	txs, err := tx.PendingTxs()
	if err != nil {
		return err
	}
	for _, p := range txs {
		if p.Note != Note(id) {
			continue
		}
		if err := tx.DeletePendingTx(p.Hash); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) giveUp(id uint64, reason string) (store.State, error) {
	var already store.State // the job ended already (e.g. the bidder gave it up first)
	err := s.st.Update(func(tx *store.Tx) error {
		j, err := tx.Job(id)
		if err != nil {
			return err
		}
		if j.State.Final() {
			already = j.State
			return nil
		}
		if _, err := tx.Transition(id, store.StateGivenUp, func(sj *store.Job) { sj.Reason = reason }); err != nil {
			return err
		}
		return tx.DeleteReceipt(id)
	})
	if err != nil {
		return "", err
	}
	if already != "" {
		// One give-up line and one count per job: whoever ended it logged why.
		return already, nil
	}
	s.stats.GivenUp.Add(1)
	s.log.Warn("job given up", "job", id, "reason", reason)
	return store.StateGivenUp, nil
}

// Handle consumes the follower's events that settlement owns: this provider's
// EventReceiptSubmitted marks its job included, acked in the same store
// transaction. It reports whether it took the event; other events are the
// caller's to hand on.
func (s *Service) Handle(_ context.Context, ev follower.Event) (bool, error) {
	m, ok := ev.Msg.(*inferencetypes.EventReceiptSubmitted)
	if !ok || m.Provider != s.chain.Address() {
		return false, nil
	}
	var moved bool
	err := s.st.Update(func(tx *store.Tx) error {
		var err error
		if moved, err = markIncluded(tx, m.JobId, strings.ToUpper(ev.TxHash)); err != nil {
			return err
		}
		return tx.AckEvent(ev.Key)
	})
	if err == nil && moved {
		s.stats.Included.Add(1)
		s.log.Info("receipt included", "job", m.JobId, "tx", ev.TxHash, "height", ev.Key.Height, "challenge_end", m.ChallengeEndHeight)
	}
	return true, err
}

// blockTime is the configured block time, else the chain's estimate (cached for
// a minute), else 5 s.
func (s *Service) blockTime(ctx context.Context) time.Duration {
	if s.cfg.BlockTime > 0 {
		return s.cfg.BlockTime
	}
	s.mu.Lock()
	bt, at := s.bt, s.btAt
	s.mu.Unlock()
	if bt > 0 && time.Since(at) < time.Minute {
		return bt
	}
	est, err := s.chain.BlockTime(ctx)
	if err != nil || est <= 0 {
		if bt > 0 {
			return bt
		}
		return 5 * time.Second
	}
	s.mu.Lock()
	s.bt, s.btAt = est, time.Now()
	s.mu.Unlock()
	return est
}
