package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// State is where a job stands for this provider.
type State string

// Job states, in the order a successful job goes through them.
const (
	// StateSeen: the job was announced (EventJobCreated) and recorded.
	StateSeen State = "seen"
	// StateBid: a bid was decided and is being (or has been) sent.
	StateBid State = "bid"
	// StateAwarded: the auction closed with this provider as the winner.
	StateAwarded State = "awarded"
	// StateExecuting: the executor took the job.
	StateExecuting State = "executing"
	// StateOutputStored: the output is on IPFS (OutputCID, OutputSHA256 set).
	StateOutputStored State = "output_stored"
	// StateReceiptBuilt: the signed receipt is built and stored (Receipt bucket).
	StateReceiptBuilt State = "receipt_built"
	// StateReceiptSent: the MsgSubmitReceipt tx was broadcast (ReceiptTxHash set).
	StateReceiptSent State = "receipt_sent"
	// StateIncluded: the receipt is in a block. Final.
	StateIncluded State = "included"
	// StateGivenUp: the provider stopped pursuing the job (refused, lost the auction,
	// missed the deadline, input missing …; Reason says). Final.
	StateGivenUp State = "given_up"
)

// transitions lists the legal moves. Any non-final state may move to given_up.
// receipt_sent → receipt_built re-posts a receipt whose tx was dropped.
var transitions = map[State][]State{
	StateSeen:         {StateBid},
	StateBid:          {StateAwarded},
	StateAwarded:      {StateExecuting},
	StateExecuting:    {StateOutputStored},
	StateOutputStored: {StateReceiptBuilt},
	StateReceiptBuilt: {StateReceiptSent},
	StateReceiptSent:  {StateIncluded, StateReceiptBuilt},
}

// Final reports whether no transition leaves s.
func (s State) Final() bool { return s == StateIncluded || s == StateGivenUp }

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	_, ok := transitions[s]
	return ok || s.Final()
}

// CanMove reports whether from → to is legal.
func CanMove(from, to State) bool {
	if !from.Valid() || !to.Valid() || from.Final() {
		return false
	}
	if to == StateGivenUp {
		return true
	}
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Job is what the provider knows and decided about one chain job. Coins are
// strings such as "12uopen" so that the store does not depend on the chain's types.
type Job struct {
	ID             uint64 `json:"id"`
	DeploymentID   uint64 `json:"deployment_id"`
	Requester      string `json:"requester,omitempty"`
	MaxTokens      uint64 `json:"max_tokens,omitempty"`
	MaxPrice       string `json:"max_price,omitempty"`
	BidCloseHeight int64  `json:"bid_close_height,omitempty"`
	State          State  `json:"state"`
	// BidPrice is the price bid per 1,000 tokens.
	BidPrice string `json:"bid_price,omitempty"`
	// BidTxHash is the hash of the MsgBid tx.
	BidTxHash string `json:"bid_tx_hash,omitempty"`
	// DeadlineHeight is the receipt deadline once awarded.
	DeadlineHeight int64  `json:"deadline_height,omitempty"`
	OutputCID      string `json:"output_cid,omitempty"`
	OutputSHA256   string `json:"output_sha256,omitempty"`
	ReceiptTxHash  string `json:"receipt_tx_hash,omitempty"`
	// Reason explains StateGivenUp (or the last failure).
	Reason   string `json:"reason,omitempty"`
	Attempts uint32 `json:"attempts,omitempty"`
	// History records each state entered, oldest first.
	History   []Step    `json:"history"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Step is one entry in a job's history.
type Step struct {
	State State     `json:"state"`
	At    time.Time `json:"at"`
}

// AddJob records a newly seen job in StateSeen. A job already recorded is
// ErrExists (the caller saw the event before: nothing to do).
func (t *Tx) AddJob(j Job) (Job, error) {
	if j.ID == 0 {
		return Job{}, fmt.Errorf("add job: id must be set")
	}
	b := t.tx.Bucket(bucketJobs)
	if b.Get(u64(j.ID)) != nil {
		return Job{}, fmt.Errorf("job %d: %w", j.ID, ErrExists)
	}
	j.State = StateSeen
	j.CreatedAt, j.UpdatedAt = t.now, t.now
	j.History = []Step{{State: StateSeen, At: t.now}}
	return j, putJSON(b, u64(j.ID), j)
}

// Job returns a job.
func (t *Tx) Job(id uint64) (Job, error) {
	var j Job
	ok, err := getJSON(t.tx.Bucket(bucketJobs), u64(id), &j)
	if err != nil {
		return Job{}, err
	}
	if !ok {
		return Job{}, fmt.Errorf("job %d: %w", id, ErrNotFound)
	}
	return j, nil
}

// Transition moves a job to state `to`, applying edit (may be nil) to the record
// in the same transaction. An illegal move is ErrIllegalTransition and changes
// nothing.
func (t *Tx) Transition(id uint64, to State, edit func(*Job)) (Job, error) {
	j, err := t.Job(id)
	if err != nil {
		return Job{}, err
	}
	if !CanMove(j.State, to) {
		return j, fmt.Errorf("job %d: %s → %s: %w", id, j.State, to, ErrIllegalTransition)
	}
	if edit != nil {
		edit(&j)
	}
	j.ID = id
	j.State = to
	j.UpdatedAt = t.now
	j.History = append(j.History, Step{State: to, At: t.now})
	return j, putJSON(t.tx.Bucket(bucketJobs), u64(id), j)
}

// EditJob changes a job's fields without changing its state (e.g. Attempts).
func (t *Tx) EditJob(id uint64, edit func(*Job)) (Job, error) {
	j, err := t.Job(id)
	if err != nil {
		return Job{}, err
	}
	state, hist := j.State, j.History
	edit(&j)
	j.ID, j.State, j.History, j.UpdatedAt = id, state, hist, t.now
	return j, putJSON(t.tx.Bucket(bucketJobs), u64(id), j)
}

// DeleteJob forgets a job (pruning finished jobs).
func (t *Tx) DeleteJob(id uint64) error { return t.tx.Bucket(bucketJobs).Delete(u64(id)) }

// Jobs returns the jobs in the given states (all when none given), by id.
func (t *Tx) Jobs(states ...State) ([]Job, error) {
	want := map[State]bool{}
	for _, s := range states {
		want[s] = true
	}
	var out []Job
	err := t.tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
		var j Job
		if err := json.Unmarshal(v, &j); err != nil {
			return fmt.Errorf("%w: job %x: %v", ErrCorrupt, k, err)
		}
		if len(want) == 0 || want[j.State] {
			out = append(out, j)
		}
		return nil
	})
	return out, err
}

// CountJobs counts jobs by state.
func (t *Tx) CountJobs() (map[State]int, error) {
	jobs, err := t.Jobs()
	if err != nil {
		return nil, err
	}
	out := map[State]int{}
	for _, j := range jobs {
		out[j.State]++
	}
	return out, nil
}

// AddJob records a newly seen job (one committed transaction).
func (s *Store) AddJob(j Job) (out Job, err error) {
	err = s.Update(func(t *Tx) error { out, err = t.AddJob(j); return err })
	return out, err
}

// Job returns a job.
func (s *Store) Job(id uint64) (out Job, err error) {
	err = s.View(func(t *Tx) error { out, err = t.Job(id); return err })
	return out, err
}

// Transition moves a job to a new state (one committed transaction).
func (s *Store) Transition(id uint64, to State, edit func(*Job)) (out Job, err error) {
	err = s.Update(func(t *Tx) error { out, err = t.Transition(id, to, edit); return err })
	return out, err
}

// Jobs lists jobs in the given states (all when none given).
func (s *Store) Jobs(states ...State) (out []Job, err error) {
	err = s.View(func(t *Tx) error { out, err = t.Jobs(states...); return err })
	return out, err
}
