package types

import (
	"math/bits"

	"github.com/openledger/openledger/inference/voucher"
)

// MaxProofHashes bounds a session request's inclusion proof (a tree of 2^64 leaves
// has audit paths of at most 64 hashes).
const MaxProofHashes = 64

// FeedbackMediaType is the media type of a feedback record contribution: JSON lines,
// one preference or instruction record per line (see ADR-005).
const FeedbackMediaType = "application/jsonl"

// FeedbackFields are a MsgSubmitFeedback's fields after the checks that need no state.
type FeedbackFields struct {
	Kind                   InferenceKind
	RecordCID              string
	RecordSHA256           string
	PreferredCompletionCID string
	ChosenCID              string
	RejectedCID            string
	Proof                  [][32]byte
}

// CheckFields checks every field of the msg that needs no state, and returns the CIDs
// normalised and the proof decoded. The rater's address is the keeper's check.
func (msg *MsgSubmitFeedback) CheckFields() (FeedbackFields, error) {
	var f FeedbackFields
	switch {
	case msg.JobId > 0 && msg.SessionId > 0:
		return f, ErrInvalidField.Wrap("job_id and session_id: set exactly one")
	case msg.JobId > 0:
		if msg.SettlementId != 0 || len(msg.Receipt) != 0 || len(msg.Proof) != 0 {
			return f, ErrInvalidField.Wrap("settlement_id, receipt and proof: only for a session request")
		}
		f.Kind = INFERENCE_KIND_JOB
	case msg.SessionId > 0:
		if msg.SettlementId == 0 {
			return f, ErrInvalidField.Wrap("settlement_id: required for a session request")
		}
		if len(msg.Receipt) == 0 || len(msg.Receipt) > voucher.MaxReceiptSize {
			return f, ErrInvalidProof.Wrapf("receipt: must be 1..%d bytes, got %d", voucher.MaxReceiptSize, len(msg.Receipt))
		}
		if len(msg.Proof) > MaxProofHashes {
			return f, ErrInvalidProof.Wrapf("proof: %d hashes exceeds %d", len(msg.Proof), MaxProofHashes)
		}
		f.Proof = make([][32]byte, len(msg.Proof))
		for i, h := range msg.Proof {
			if len(h) != 32 {
				return f, ErrInvalidProof.Wrapf("proof[%d]: must be 32 bytes, got %d", i, len(h))
			}
			copy(f.Proof[i][:], h)
		}
		f.Kind = INFERENCE_KIND_SESSION_REQUEST
	default:
		return f, ErrInvalidField.Wrap("job_id or session_id: one is required")
	}
	if msg.Rating != FEEDBACK_RATING_UP && msg.Rating != FEEDBACK_RATING_DOWN {
		return f, ErrInvalidField.Wrapf("rating: must be UP (+1) or DOWN (-1), got %d", msg.Rating)
	}
	var err error
	if msg.RecordCid != "" {
		if f.RecordCID, err = NormalizeCID("record_cid", msg.RecordCid); err != nil {
			return f, err
		}
		if f.RecordSHA256, err = NormalizeSHA256("record_sha256", msg.RecordSha256); err != nil {
			return f, err
		}
		if msg.RecordSize == 0 {
			return f, ErrInvalidSize.Wrap("record_size: must be at least 1 with a record")
		}
	} else if msg.RecordSha256 != "" || msg.RecordSize != 0 {
		return f, ErrInvalidField.Wrap("record_sha256 and record_size: only with record_cid")
	}
	if f.PreferredCompletionCID, err = NormalizeOptionalCID("preferred_completion_cid", msg.PreferredCompletionCid); err != nil {
		return f, err
	}
	if (msg.ChosenCid == "") != (msg.RejectedCid == "") {
		return f, ErrInvalidField.Wrap("chosen_cid and rejected_cid: set both or neither")
	}
	if f.ChosenCID, err = NormalizeOptionalCID("chosen_cid", msg.ChosenCid); err != nil {
		return f, err
	}
	if f.RejectedCID, err = NormalizeOptionalCID("rejected_cid", msg.RejectedCid); err != nil {
		return f, err
	}
	if f.ChosenCID != "" && f.ChosenCID == f.RejectedCID {
		return f, ErrInvalidField.Wrap("chosen_cid and rejected_cid: must differ")
	}
	return f, nil
}

// InferenceKey is the once-per-inference key of a feedback: (kind, job or session id,
// request seq (0 for a job)).
func (f Feedback) InferenceKey() (int32, uint64, uint64) {
	if f.Kind == INFERENCE_KIND_JOB {
		return int32(f.Kind), f.JobId, 0
	}
	return int32(f.Kind), f.SessionId, f.RequestSeq
}

// Add counts f into c.
func (c *FeedbackCounts) Add(f Feedback) {
	if f.Rating == FEEDBACK_RATING_UP {
		c.Up++
	} else {
		c.Down++
	}
	if f.ContributionId != 0 {
		c.Records++
	}
}

// QualityGate checks a candidate version's declared loss on its parent's held-out set
// against the parent's own eval loss: candidate ≤ parent × (10,000 + toleranceBps) /
// 10,000, computed exactly in 128-bit integers (no rounding: the comparison is
// candidate × 10,000 ≤ parent × (10,000 + toleranceBps)). Both losses must be reported
// (non-zero).
func QualityGate(parent, candidate Metrics, toleranceBps uint32) error {
	if parent.EvalLossMicro == 0 {
		return ErrQualityGate.Wrap("the parent declares no eval_loss_micro to compare with")
	}
	if candidate.ParentEvalLossMicro == 0 {
		return ErrQualityGate.Wrap("the version declares no parent_eval_loss_micro (its loss on the parent's held-out set)")
	}
	lhsHi, lhsLo := bits.Mul64(candidate.ParentEvalLossMicro, BpsScale)
	rhsHi, rhsLo := bits.Mul64(parent.EvalLossMicro, BpsScale+uint64(toleranceBps))
	if lhsHi > rhsHi || (lhsHi == rhsHi && lhsLo > rhsLo) {
		return ErrQualityGate.Wrapf("loss on the parent's held-out set %d µ exceeds the parent's %d µ by more than %d bps",
			candidate.ParentEvalLossMicro, parent.EvalLossMicro, toleranceBps)
	}
	return nil
}

// Validate checks the bounded metrics: preference_accuracy_bps is at most 10,000.
func (m Metrics) Validate() error {
	if m.PreferenceAccuracyBps > BpsScale {
		return ErrInvalidBps.Wrapf("metrics.preference_accuracy_bps: %d exceeds %d", m.PreferenceAccuracyBps, BpsScale)
	}
	return nil
}
