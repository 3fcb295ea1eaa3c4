// Package duty serves the provider's committee duty (x/inference
// verification): it polls the chain for the disputes whose committee holds
// this provider, checks each target off-chain with provider/verifier, commits
// sha256 of its vote and a fresh salt, and reveals the vote in the reveal
// window.
//
// The vote and its salt are stored in the provider's store (committed and
// fsynced) before the commitment is broadcast, so a daemon restarted at any
// point reveals exactly what it committed; every step is idempotent against
// the chain (a commitment or reveal already on chain counts as done).
//
// A vote says whether the dispute's claim holds — for an audit, whether any
// claim fails — and carries the member's recomputed result, in the chain's
// terms (verifier.Verdict.Established, verifier.SettlementVerdict.Established):
//
//   - a job receipt: the output digest, token counts and attribution summary,
//     and the recomputed record added to IPFS when the attribution does not
//     hold, so that the chain can adopt it;
//   - a session settlement (verifier.VerifySettlement, from the batch record
//     its provider published at record_cid): the hex receipts root (or the
//     digest of the recomputed outputs when some request's output is
//     contradicted), the settlement's tokens less the over-counts, and its
//     summary and record CID — or, when the attribution does not hold, the
//     corrected batch record's, which is added to IPFS with the recomputed
//     per-request records it names before the vote is stored and committed.
//
// A claim the verifier could not check is voted as not holding (the status
// quo) with what was recomputed, and so is a target that still cannot be
// verified (an artifact unavailable) CommitMargin blocks before the commit
// window ends — except a settlement whose batch record cannot be fetched by
// then: the provider must keep its record available while its settlement can
// be disputed (the record is the only evidence of what it settled), so the
// member votes that the claim HOLDS, with an empty result. Before that
// deadline an unavailable record is retried at every poll.
package duty

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/ipfs/boxo/files"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/provider/store"
	"github.com/openledger/openledger/provider/verifier"
	"github.com/openledger/openledger/storage"
	"github.com/openledger/openledger/x/inference/types"
)

// Chain is what duty needs from the chain.
type Chain interface {
	// MemberDisputes lists the VOTING disputes whose committee holds member.
	MemberDisputes(ctx context.Context, member string) ([]types.Dispute, error)
	// Dispute returns one dispute (an error wrapping a not-found status when
	// it does not exist).
	Dispute(ctx context.Context, id uint64) (types.Dispute, error)
	// MemberState reports whether member committed and revealed on a dispute.
	MemberState(ctx context.Context, disputeID uint64, member string) (committed, revealed bool, err error)
	// Height is the latest block height.
	Height(ctx context.Context) (int64, error)
	// SubmitAndWait signs, broadcasts and waits for the inclusion of a tx.
	SubmitAndWait(ctx context.Context, note string, msgs ...sdk.Msg) (*sdk.TxResponse, error)
}

// Verifier checks a job receipt or a session settlement
// (provider/verifier.Verifier).
type Verifier interface {
	VerifyJob(ctx context.Context, jobID uint64) (verifier.Verdict, error)
	VerifySettlement(ctx context.Context, settlementID uint64) (verifier.SettlementVerdict, error)
}

// errRecordUnavailable: a settlement's batch record cannot be fetched (yet).
var errRecordUnavailable = errors.New("the settlement's batch record is unavailable")

// Config configures the service.
type Config struct {
	// Operator is the provider's operator address (the voter).
	Operator string
	// PollInterval is the period of the chain polls (default 3 s).
	PollInterval time.Duration
	// CommitMargin: when the target still cannot be verified this many
	// blocks before the commit window ends, the status quo is voted (default 3).
	CommitMargin int64
}

// Service serves committee duty.
type Service struct {
	cfg   Config
	chain Chain
	ver   Verifier
	st    *store.Store
	ipfs  storage.API
	log   *slog.Logger
}

// New returns the service; ipfs is where recomputed records are added.
func New(cfg Config, chain Chain, ver Verifier, st *store.Store, ipfs storage.API, log *slog.Logger) (*Service, error) {
	if cfg.Operator == "" || chain == nil || ver == nil || st == nil || ipfs == nil {
		return nil, errors.New("duty: operator, chain, verifier, store and IPFS node are required")
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 3 * time.Second
	}
	if cfg.CommitMargin <= 0 {
		cfg.CommitMargin = 3
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, chain: chain, ver: ver, st: st, ipfs: ipfs, log: log.With("component", "duty")}, nil
}

// Run polls until ctx ends. A failed step is logged and retried at the next
// poll (the windows, not the service, bound how long a dispute is tried).
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		if err := s.Step(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("committee duty step failed; retrying", "err", err, "in", s.cfg.PollInterval)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Step handles every dispute this provider sits on once: verify and commit,
// reveal, or record a missed window; then forgets the votes of disputes no
// longer voting.
func (s *Service) Step(ctx context.Context) error {
	h, err := s.chain.Height(ctx)
	if err != nil {
		return fmt.Errorf("duty: chain height: %w", err)
	}
	ds, err := s.chain.MemberDisputes(ctx, s.cfg.Operator)
	if err != nil {
		return fmt.Errorf("duty: disputes: %w", err)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].Id < ds[j].Id })
	voting := make(map[uint64]bool, len(ds))
	var errs []error
	for _, d := range ds {
		voting[d.Id] = true
		if err := s.handle(ctx, d, h); err != nil {
			errs = append(errs, fmt.Errorf("dispute %d: %w", d.Id, err))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if err := s.forget(ctx, voting); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// handle advances one dispute by as many steps as the height allows.
func (s *Service) handle(ctx context.Context, d types.Dispute, h int64) error {
	rec, ok, err := s.stored(d.Id)
	if err != nil {
		return err
	}
	if !ok {
		if h >= d.CommitEndHeight {
			// Too late to commit (a commitment would land after the window).
			return s.put(store.CommitteeVote{DisputeID: d.Id, CommitEnd: d.CommitEndHeight,
				RevealEnd: d.RevealEndHeight, State: store.VoteMissed, Verdict: "selected too late to commit"})
		}
		if rec, err = s.decide(ctx, d); err != nil {
			if h+s.cfg.CommitMargin < d.CommitEndHeight || ctx.Err() != nil {
				return err // retried at the next poll
			}
			if errors.Is(err, errRecordUnavailable) {
				// The provider did not keep its settlement's evidence
				// available: the claim holds (see the package doc).
				s.log.Warn("the settlement's batch record is still unavailable as the commit window closes; voting that the claim holds",
					"dispute", d.Id, "err", err)
				if rec, err = s.keep(d, types.Vote{ClaimHolds: true}, fmt.Sprintf("claim holds: %v", err)); err != nil {
					return err
				}
			} else {
				// The window is closing and the target still cannot be checked: a
				// status-quo vote costs less than absence (wrong_vote_slash_bps at
				// worst, against absence_slash_bps).
				s.log.Warn("cannot verify before the commit window closes; voting the status quo", "dispute", d.Id, "err", err)
				if rec, err = s.keep(d, types.Vote{}, fmt.Sprintf("status-quo vote: %v", err)); err != nil {
					return err
				}
			}
		}
	}
	if rec.State == store.VoteCommitting {
		if err := s.commit(ctx, &rec, h); err != nil {
			return err
		}
	}
	if rec.State == store.VoteCommitted && h >= rec.CommitEnd {
		return s.reveal(ctx, &rec, h)
	}
	return nil
}

// decide verifies the target, builds the vote and stores it (see keep).
func (s *Service) decide(ctx context.Context, d types.Dispute) (store.CommitteeVote, error) {
	var (
		vote types.Vote
		why  string
	)
	switch d.TargetKind {
	case types.TARGET_KIND_JOB_RECEIPT:
		vd, err := s.ver.VerifyJob(ctx, d.TargetId)
		if err != nil {
			return store.CommitteeVote{}, fmt.Errorf("verifying job %d: %w", d.TargetId, err)
		}
		if vote, err = s.voteOf(ctx, d, vd); err != nil {
			return store.CommitteeVote{}, err
		}
		why = vd.String()
	case types.TARGET_KIND_SESSION_SETTLEMENT:
		sv, err := s.ver.VerifySettlement(ctx, d.TargetId)
		if err != nil {
			return store.CommitteeVote{}, fmt.Errorf("verifying settlement %d: %w", d.TargetId, err)
		}
		if sv.RecordUnavailable {
			return store.CommitteeVote{}, fmt.Errorf("settlement %d: %w: %s", d.TargetId, errRecordUnavailable, sv.Attribution.Reason)
		}
		if vote, err = s.settlementVote(ctx, d, sv); err != nil {
			return store.CommitteeVote{}, err
		}
		why = sv.String()
	default:
		why = fmt.Sprintf("%s %d cannot be recomputed off-chain: status-quo vote", d.TargetKind, d.TargetId)
		s.log.Warn("voting the status quo on a target this provider cannot check", "dispute", d.Id, "target", d.TargetKind, "id", d.TargetId)
	}
	rec, err := s.keep(d, vote, why)
	if err != nil {
		return store.CommitteeVote{}, err
	}
	s.log.Info("committee vote decided", "dispute", d.Id, "claim", d.Claim, "claim_holds", vote.ClaimHolds, "verdict", why)
	return rec, nil
}

// keep draws a salt and stores the vote, its salt and its commitment (state
// committing) before anything is broadcast.
func (s *Service) keep(d types.Dispute, vote types.Vote, why string) (store.CommitteeVote, error) {
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return store.CommitteeVote{}, err
	}
	c, err := types.VoteCommitment(d.Id, s.cfg.Operator, vote, salt)
	if err != nil {
		return store.CommitteeVote{}, err
	}
	vb, err := vote.Marshal()
	if err != nil {
		return store.CommitteeVote{}, err
	}
	rec := store.CommitteeVote{DisputeID: d.Id, Vote: vb, Salt: salt, Commitment: c, CommitEnd: d.CommitEndHeight,
		RevealEnd: d.RevealEndHeight, State: store.VoteCommitting, Verdict: why}
	if err := s.put(rec); err != nil {
		return store.CommitteeVote{}, err
	}
	return rec, nil
}

// ClaimHolds is a member's answer to a dispute's claim from a verdict: the
// claimed check failed (an audit: any check failed). A check that could not
// be made does not hold (the status quo).
func ClaimHolds(claim types.Claim, vd verifier.Verdict) bool {
	switch claim {
	case types.CLAIM_OUTPUT_MISMATCH:
		return vd.Output.Status == verifier.Fail
	case types.CLAIM_ATTRIBUTION_MISMATCH:
		return vd.Attribution.Status == verifier.Fail
	case types.CLAIM_USAGE_OVERCOUNT:
		return vd.Usage.Status == verifier.Fail
	case types.CLAIM_AUDIT:
		return vd.Mismatch()
	}
	return false
}

// voteOf is the vote on d from a verdict, its result what the verdict
// establishes (Verdict.Established, the recomputed summary); the recomputed
// record is added to IPFS when the attribution does not hold (the chain may
// adopt it).
func (s *Service) voteOf(ctx context.Context, d types.Dispute, vd verifier.Verdict) (types.Vote, error) {
	sha, prompt, completion := vd.Established()
	v := types.Vote{ClaimHolds: ClaimHolds(d.Claim, vd), Result: types.VerificationResult{
		OutputSha256: sha, PromptTokens: prompt, CompletionTokens: completion, Summary: vd.RecomputedSummary,
	}}
	if vd.Attribution.Status == verifier.Fail && len(vd.RecomputedRecord) > 0 {
		cid, err := s.add(ctx, vd.RecomputedRecord, fmt.Sprintf("dispute %d recomputed attribution record sha256:%s", d.Id, vd.RecomputedSummary.RecordSha256))
		if err != nil {
			return types.Vote{}, err
		}
		v.Result.RecordCid = cid
	}
	return v, nil
}

// settlementVote is the vote on d from a settlement verdict, its result what
// the verdict establishes; a corrected batch record is added to IPFS with the
// per-request records it names (the chain may adopt it).
func (s *Service) settlementVote(ctx context.Context, d types.Dispute, sv verifier.SettlementVerdict) (types.Vote, error) {
	v := types.Vote{ClaimHolds: ClaimHolds(d.Claim, sv.Verdict()), Result: sv.Result()}
	if c := sv.Correction; c != nil && v.Result.RecordCid == c.RecordCID {
		for i, art := range c.Artifacts {
			if _, err := s.add(ctx, art, fmt.Sprintf("dispute %d recomputed attribution record %d of settlement %d", d.Id, i+1, d.TargetId)); err != nil {
				return types.Vote{}, err
			}
		}
		cid, err := s.add(ctx, c.Record, fmt.Sprintf("dispute %d corrected batch record of settlement %d sha256:%s", d.Id, d.TargetId, c.Summary.RecordSha256))
		if err != nil {
			return types.Vote{}, err
		}
		if cid != c.RecordCID {
			return types.Vote{}, fmt.Errorf("the corrected batch record was added as %s, the verifier computed %s", cid, c.RecordCID)
		}
	}
	return v, nil
}

// add adds b to IPFS (default import settings, pinned) and returns its CID.
func (s *Service) add(ctx context.Context, b []byte, reason string) (string, error) {
	r, err := s.ipfs.Add(ctx, files.NewBytesFile(b), storage.AddOptions{PinReason: reason, Name: "record"})
	if err != nil {
		return "", fmt.Errorf("adding to IPFS (%s): %w", reason, err)
	}
	return r.RootStr, nil
}

// commit broadcasts the stored commitment while the commit window is open.
func (s *Service) commit(ctx context.Context, rec *store.CommitteeVote, h int64) error {
	committed, _, err := s.chain.MemberState(ctx, rec.DisputeID, s.cfg.Operator)
	if err != nil {
		return err
	}
	if !committed {
		if h >= rec.CommitEnd {
			s.log.Warn("commit window closed before the commitment landed", "dispute", rec.DisputeID, "commit_end", rec.CommitEnd)
			rec.State = store.VoteMissed
			return s.put(*rec)
		}
		msg := &types.MsgCommitVote{Voter: s.cfg.Operator, DisputeId: rec.DisputeID, Commitment: rec.Commitment}
		if _, err := s.chain.SubmitAndWait(ctx, fmt.Sprintf("commit vote dispute %d", rec.DisputeID), msg); err != nil &&
			!errors.Is(err, types.ErrAlreadyCommitted) {
			return fmt.Errorf("committing: %w", err)
		}
		s.log.Info("vote committed", "dispute", rec.DisputeID, "reveal_from", rec.CommitEnd+1)
	}
	rec.State = store.VoteCommitted
	return s.put(*rec)
}

// reveal broadcasts the stored vote and salt while the reveal window is open.
func (s *Service) reveal(ctx context.Context, rec *store.CommitteeVote, h int64) error {
	_, revealed, err := s.chain.MemberState(ctx, rec.DisputeID, s.cfg.Operator)
	if err != nil {
		return err
	}
	if !revealed {
		if h >= rec.RevealEnd {
			s.log.Warn("reveal window closed before the reveal landed", "dispute", rec.DisputeID, "reveal_end", rec.RevealEnd)
			rec.State = store.VoteMissed
			return s.put(*rec)
		}
		var vote types.Vote
		if err := vote.Unmarshal(rec.Vote); err != nil {
			return fmt.Errorf("stored vote: %w", err)
		}
		msg := &types.MsgRevealVote{Voter: s.cfg.Operator, DisputeId: rec.DisputeID, Vote: vote, Salt: rec.Salt}
		if _, err := s.chain.SubmitAndWait(ctx, fmt.Sprintf("reveal vote dispute %d", rec.DisputeID), msg); err != nil &&
			!errors.Is(err, types.ErrAlreadyRevealed) {
			return fmt.Errorf("revealing: %w", err)
		}
		s.log.Info("vote revealed", "dispute", rec.DisputeID, "claim_holds", vote.ClaimHolds)
	}
	rec.State = store.VoteRevealed
	return s.put(*rec)
}

// forget deletes the stored votes of disputes that are no longer voting
// (resolved, or gone).
func (s *Service) forget(ctx context.Context, voting map[uint64]bool) error {
	var recs []store.CommitteeVote
	if err := s.st.View(func(tx *store.Tx) (err error) { recs, err = tx.CommitteeVotes(); return err }); err != nil {
		return err
	}
	for _, r := range recs {
		if voting[r.DisputeID] {
			continue
		}
		d, err := s.chain.Dispute(ctx, r.DisputeID)
		if err != nil {
			return fmt.Errorf("dispute %d: %w", r.DisputeID, err)
		}
		if types.DisputeIsOpen(d.Status) {
			continue // voting again at the next poll, or still drawing
		}
		if err := s.st.Update(func(tx *store.Tx) error { return tx.DeleteCommitteeVote(r.DisputeID) }); err != nil {
			return err
		}
		s.log.Info("dispute over", "dispute", d.Id, "outcome", d.Outcome, "our_vote", r.State)
	}
	return nil
}

func (s *Service) stored(id uint64) (store.CommitteeVote, bool, error) {
	var (
		v  store.CommitteeVote
		ok bool
	)
	err := s.st.View(func(tx *store.Tx) (err error) { v, ok, err = tx.CommitteeVote(id); return err })
	return v, ok, err
}

func (s *Service) put(v store.CommitteeVote) error {
	return s.st.Update(func(tx *store.Tx) error { return tx.PutCommitteeVote(v) })
}
