package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// ----- committee votes (provider/duty) -----

var bucketVotes = []byte("committee_votes")

// Vote states.
const (
	// VoteCommitting: the vote and salt are stored; the commitment may or may
	// not have reached the chain.
	VoteCommitting = "committing"
	// VoteCommitted: the commitment is on chain; the vote waits for the reveal
	// window.
	VoteCommitted = "committed"
	// VoteRevealed: the vote is revealed.
	VoteRevealed = "revealed"
	// VoteMissed: a window closed before the step was done.
	VoteMissed = "missed"
)

// CommitteeVote is this provider's vote on a dispute, stored (salt included)
// before its commitment is broadcast so that a restart reveals exactly what
// was committed.
type CommitteeVote struct {
	DisputeID uint64 `json:"dispute_id"`
	// Vote is the protobuf encoding of the x/inference Vote committed.
	Vote []byte `json:"vote"`
	// Salt and Commitment as sent in MsgCommitVote.
	Salt       []byte `json:"salt"`
	Commitment []byte `json:"commitment"`
	// CommitEnd and RevealEnd are the dispute's windows (heights).
	CommitEnd int64  `json:"commit_end"`
	RevealEnd int64  `json:"reveal_end"`
	State     string `json:"state"`
	// Verdict is the verifier's one-line account (for the operator).
	Verdict   string    `json:"verdict,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// PutCommitteeVote stores (or replaces) a vote.
func (t *Tx) PutCommitteeVote(v CommitteeVote) error {
	if v.DisputeID == 0 || v.State == "" || (v.State != VoteMissed && (len(v.Salt) == 0 || len(v.Commitment) == 0)) {
		return fmt.Errorf("put committee vote: dispute id, state, and (unless missed) salt and commitment are required")
	}
	b, err := t.tx.CreateBucketIfNotExists(bucketVotes)
	if err != nil {
		return err
	}
	v.UpdatedAt = t.now
	return putJSON(b, u64(v.DisputeID), v)
}

// CommitteeVote returns the stored vote on a dispute (ok false: none).
func (t *Tx) CommitteeVote(disputeID uint64) (CommitteeVote, bool, error) {
	var v CommitteeVote
	b := t.tx.Bucket(bucketVotes)
	if b == nil {
		return v, false, nil
	}
	ok, err := getJSON(b, u64(disputeID), &v)
	return v, ok, err
}

// CommitteeVotes lists the stored votes by dispute id.
func (t *Tx) CommitteeVotes() ([]CommitteeVote, error) {
	b := t.tx.Bucket(bucketVotes)
	if b == nil {
		return nil, nil
	}
	var out []CommitteeVote
	err := b.ForEach(func(k, bz []byte) error {
		var v CommitteeVote
		if err := json.Unmarshal(bz, &v); err != nil {
			return fmt.Errorf("%w: committee vote %x: %v", ErrCorrupt, k, err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// DeleteCommitteeVote forgets a vote once its dispute is over.
func (t *Tx) DeleteCommitteeVote(disputeID uint64) error {
	b := t.tx.Bucket(bucketVotes)
	if b == nil {
		return nil
	}
	return b.Delete(u64(disputeID))
}
