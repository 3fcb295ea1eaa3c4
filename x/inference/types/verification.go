package types

import (
	"crypto/sha256"
	"encoding/binary"
)

// voteCommitmentDomain separates vote commitments from every other hash of the chain.
const voteCommitmentDomain = "openledger/inference/vote-commitment/v1"

// VoteCommitment is what MsgCommitVote carries: sha256 over the domain, the dispute
// id (8 bytes big-endian), then the voter address, the vote's protobuf encoding and
// the salt, each preceded by its length (8 bytes big-endian). Binding the voter means a
// commitment copied from another member can never be revealed by the copier; the salt
// hides the vote until the reveal.
func VoteCommitment(disputeID uint64, voter string, vote Vote, salt []byte) ([]byte, error) {
	bz, err := vote.Marshal()
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	var n [8]byte
	h.Write([]byte(voteCommitmentDomain))
	binary.BigEndian.PutUint64(n[:], disputeID)
	h.Write(n[:])
	for _, part := range [][]byte{[]byte(voter), bz, salt} {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	return h.Sum(nil), nil
}

// DisputeIsOpen reports whether a dispute still holds its bond and its target.
func DisputeIsOpen(s DisputeStatus) bool {
	return s == DISPUTE_STATUS_SELECTING || s == DISPUTE_STATUS_VOTING
}

// validateVerificationGenesis checks the disputes, votes and slashes of a genesis state.
func (gs GenesisState) validateVerificationGenesis() error {
	if gs.NextDisputeId == 0 {
		return ErrInvalidField.Wrap("genesis: next_dispute_id starts at 1")
	}
	type target struct {
		kind TargetKind
		id   uint64
	}
	disputes := make(map[uint64]Dispute, len(gs.Disputes))
	targets := make(map[target]bool, len(gs.Disputes))
	for i, d := range gs.Disputes {
		if d.Id == 0 || d.Id >= gs.NextDisputeId {
			return ErrInvalidField.Wrapf("disputes[%d]: id %d out of range [1, %d)", i, d.Id, gs.NextDisputeId)
		}
		if _, dup := disputes[d.Id]; dup {
			return ErrInvalidField.Wrapf("disputes[%d]: duplicate id %d", i, d.Id)
		}
		t := target{d.TargetKind, d.TargetId}
		if d.TargetKind == TARGET_KIND_UNSPECIFIED || targets[t] {
			return ErrInvalidField.Wrapf("disputes[%d]: target unspecified or disputed twice", i)
		}
		if d.Status == DISPUTE_STATUS_UNSPECIFIED || d.Claim == CLAIM_UNSPECIFIED {
			return ErrInvalidField.Wrapf("disputes[%d]: status or claim unspecified", i)
		}
		if d.Bond.Validate() != nil || d.BondReturned.Validate() != nil || d.BondSlashed.Validate() != nil ||
			d.CommitteeWeight.IsNil() || d.UpheldWeight.IsNil() || d.RejectedWeight.IsNil() {
			return ErrInvalidAmount.Wrapf("disputes[%d]: amounts must be valid", i)
		}
		for j, m := range d.Committee {
			if m.Weight.IsNil() || m.Weight.IsNegative() {
				return ErrInvalidAmount.Wrapf("disputes[%d].committee[%d]: weight must be >= 0", i, j)
			}
		}
		targets[t] = true
		disputes[d.Id] = d
	}
	type voteKey struct {
		id    uint64
		voter string
	}
	votes := make(map[voteKey]bool, len(gs.Votes))
	for i, v := range gs.Votes {
		d, ok := disputes[v.DisputeId]
		if !ok || votes[voteKey{v.DisputeId, v.Voter}] {
			return ErrInvalidField.Wrapf("votes[%d]: unknown dispute %d or duplicate vote", i, v.DisputeId)
		}
		member := false
		for _, m := range d.Committee {
			member = member || m.Operator == v.Voter
		}
		if !member || len(v.Commitment) != CommitmentLength {
			return ErrInvalidField.Wrapf("votes[%d]: voter not on the committee or bad commitment", i)
		}
		votes[voteKey{v.DisputeId, v.Voter}] = true
	}
	slashes := make(map[voteKey]bool, len(gs.VerificationSlashes))
	for i, s := range gs.VerificationSlashes {
		if _, ok := disputes[s.DisputeId]; !ok || slashes[voteKey{s.DisputeId, s.Operator}] || s.Amount.Validate() != nil {
			return ErrInvalidField.Wrapf("verification_slashes[%d]: unknown dispute, duplicate or bad amount", i)
		}
		slashes[voteKey{s.DisputeId, s.Operator}] = true
	}
	return nil
}
