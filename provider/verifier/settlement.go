package verifier

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/openledger/openledger/attribution"
	"github.com/openledger/openledger/attribution/record"
	"github.com/openledger/openledger/inference/batchrecord"
	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/executor"
	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/storage"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// VerifySettlement checks a session settlement from the batch record its
// provider published at record_cid (inference/batchrecord):
//
//  1. structure: the record fetched (at most Config.MaxBatchRecordBytes), its
//     sha256 the settlement summary's record_sha256 (when the summary is not
//     empty), decoded strictly, of the settlement's session and voucher
//     sequence, every receipt naming the chain and the provider, and the
//     prior accumulator plus
//     the receipts giving the settlement's receipts root. A record that
//     fails any of these does not substantiate the settlement: the
//     attribution claim fails (output and usage are unknown). A record that
//     cannot be fetched leaves all three unknown.
//  2. each request: its generation replayed from the recorded endpoint, body
//     and max_tokens (provider/openai.ReplayGeneration), then re-executed on
//     the built-in engine on the receipt's model version, or its output
//     scored under the model for another engine — the job path's checks of
//     output, usage and attribution (see the package doc), with the recorded
//     output as the claimed one.
//  3. the merge: batchrecord.MergeSummaries of the requests' summaries (as
//     corrected by step 2) with the record's top_k must be the settlement's
//     summary (record_sha256 aside: step 1 checks it against the bytes).
//
// See SettlementVerdict for the settlement-level checks and what they
// establish in a committee vote.
func (v *Verifier) VerifySettlement(ctx context.Context, settlementID uint64) (SettlementVerdict, error) {
	start := time.Now()
	st, err := v.chain.Settlement(ctx, settlementID)
	if err != nil {
		return SettlementVerdict{}, fmt.Errorf("verifier: settlement %d: %w", settlementID, err)
	}
	sess, err := v.chain.Session(ctx, st.SessionId)
	if err != nil {
		return SettlementVerdict{}, fmt.Errorf("verifier: session %d of settlement %d: %w", st.SessionId, settlementID, err)
	}
	chainID, err := v.chain.ChainID(ctx)
	if err != nil {
		return SettlementVerdict{}, fmt.Errorf("verifier: %w", err)
	}
	sv := SettlementVerdict{SettlementID: st.Id, SessionID: st.SessionId, Sequence: st.Sequence, Provider: sess.Provider,
		DeploymentID: sess.DeploymentId, RecordCID: st.RecordCid, ClaimedRoot: hex.EncodeToString(st.ReceiptsRoot),
		ClaimedTokens: st.Tokens, ClaimedSummary: st.Summary, ChallengeEndHeight: st.ChallengeEndHeight, Status: st.Status}
	if err := v.settlement(ctx, st, sess, chainID, &sv); err != nil {
		return SettlementVerdict{}, fmt.Errorf("verifier: settlement %d: %w", settlementID, err)
	}
	sv.Total = time.Since(start)
	v.log.Info("settlement verified", "settlement", st.Id, "session", st.SessionId, "provider", sess.Provider,
		"requests", len(sv.Requests), "verdict", sv.String(), "elapsed", sv.Total)
	return sv, nil
}

// settlement fills sv (see VerifySettlement); errors are failures to verify.
func (v *Verifier) settlement(ctx context.Context, st inferencetypes.SessionSettlement, sess inferencetypes.Session,
	chainID string, sv *SettlementVerdict,
) error {
	unknown := func(why string) {
		sv.Output = Check{Status: Unknown, Claimed: "receipts root " + sv.ClaimedRoot, Reason: why}
		sv.Usage = Check{Status: Unknown, Claimed: fmt.Sprintf("%d tokens", st.Tokens), Reason: why}
		sv.Attribution = Check{Status: Unknown, Claimed: SummaryString(st.Summary), Reason: why}
	}
	unsubstantiated := func(format string, a ...any) {
		unknown("the batch record does not substantiate the settlement")
		sv.Attribution.Status = Fail
		sv.Attribution.Reason = "the batch record does not substantiate the settlement: " + fmt.Sprintf(format, a...)
	}
	if st.RecordCid == "" {
		// x/inference requires a record with a positive amount; a settlement
		// that pays nothing may have none and has nothing to substantiate.
		unknown("the settlement names no batch record")
		sv.RecordUnavailable = !st.Amount.Amount.IsNil() && st.Amount.IsPositive()
		return nil
	}
	raw, tooLarge, err := v.fetchRecord(ctx, st.RecordCid)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case tooLarge:
		unsubstantiated("%s is larger than %d bytes", st.RecordCid, v.cfg.MaxBatchRecordBytes)
		return nil
	case err != nil:
		unknown(fmt.Sprintf("the batch record is unavailable: %v", err))
		sv.RecordUnavailable = true
		return nil
	}
	d := sha256.Sum256(raw)
	if !summaryEmpty(st.Summary) && hex.EncodeToString(d[:]) != st.Summary.RecordSha256 {
		unsubstantiated("%s has sha256 %x; the settlement's summary names %s", st.RecordCid, d, st.Summary.RecordSha256)
		return nil
	}
	rec, receipts, err := batchrecord.DecodeReceipts(raw)
	if err != nil {
		unsubstantiated("%v", err)
		return nil
	}
	if why := v.structure(st, sess, chainID, rec, receipts); why != "" {
		unsubstantiated("%s", why)
		return nil
	}
	sv.TopK = rec.TopK

	for i, q := range rec.Requests {
		vd, err := v.request(ctx, sess, receipts[i], q)
		if err != nil {
			return fmt.Errorf("request %d: %w", receipts[i].RequestSeq, err)
		}
		sv.Requests = append(sv.Requests, vd)
		sv.Engine += vd.Engine
	}
	sv.Output = sv.outputCheck()
	sv.Usage = sv.usageCheck(receipts)
	sv.Attribution, sv.Correction, err = v.attributionOf(rec, receipts, sv)
	return err
}

// structure checks that the record is the settlement's: its session and
// voucher, the provider's signed receipts, the settlement's receipts root.
// It returns why not ("" when it is).
func (v *Verifier) structure(st inferencetypes.SessionSettlement, sess inferencetypes.Session, chainID string, rec batchrecord.Record, receipts []voucher.Receipt,
) string {
	switch {
	case rec.SessionID != st.SessionId || rec.Sequence != st.Sequence:
		return fmt.Sprintf("it is the record of session %d voucher %d; the settlement is of session %d voucher %d",
			rec.SessionID, rec.Sequence, st.SessionId, st.Sequence)
	case st.Requests > 0 && rec.ReceiptCount != st.FirstRequest+st.Requests-1:
		return fmt.Sprintf("it ends at request %d; the settlement's voucher counts %d", rec.ReceiptCount, st.FirstRequest+st.Requests-1)
	}
	// The receipts' signatures are not checked against the provider's peer id
	// registered now: a provider may have rotated it since. The root below
	// binds them instead — the requester checked each signature before
	// signing a root over it, and the provider accepts only vouchers whose
	// root is its own accumulator's.
	for _, rc := range receipts {
		switch {
		case rc.ChainID != chainID:
			return fmt.Sprintf("request %d: the receipt is for chain %q, not %q", rc.RequestSeq, rc.ChainID, chainID)
		case rc.Provider != sess.Provider:
			return fmt.Sprintf("request %d: the receipt names provider %s, the session's is %s", rc.RequestSeq, rc.Provider, sess.Provider)
		}
	}
	prior, err := rec.PriorAccumulator()
	if err != nil {
		return err.Error()
	}
	if root := batchrecord.Root(prior, receipts); !bytes.Equal(root[:], st.ReceiptsRoot) {
		return fmt.Sprintf("its receipts give root %x; the settlement's voucher committed to %s", root, hex.EncodeToString(st.ReceiptsRoot))
	}
	return ""
}

// request checks one covered request like a job receipt: re-executed or
// scored from its replayed generation, its usage recounted, its output
// re-attributed.
func (v *Verifier) request(ctx context.Context, sess inferencetypes.Session, rc voucher.Receipt, q batchrecord.Request) (Verdict, error) {
	start := time.Now()
	vd := Verdict{Request: rc.RequestSeq, Provider: rc.Provider}
	s := subject{job: executor.Job{DeploymentID: sess.DeploymentId, ModelID: rc.ModelID, ModelVersion: rc.ModelVersion}}
	c := requestClaim(rc, q.Output)
	dep, known, err := v.pool.Deployment(ctx, sess.DeploymentId)
	if err != nil {
		return Verdict{}, fmt.Errorf("deployment %d: %w", sess.DeploymentId, err)
	}
	if known && dep.ModelId != rc.ModelID {
		// Not the deployed model (a version of another one): whatever it
		// computed, it is not what the session paid for.
		why := fmt.Sprintf("the receipt names model %d; the session's deployment %d serves model %d", rc.ModelID, sess.DeploymentId, dep.ModelId)
		return Verdict{Request: rc.RequestSeq, Provider: rc.Provider, ClaimedSHA256: c.outputSHA256,
			ClaimedPromptTokens: c.prompt, ClaimedCompletionTokens: c.completion, ClaimedSummary: c.summary,
			Output:      Check{Status: Fail, Claimed: fmt.Sprintf("sha256 %s by model %d version %d", c.outputSHA256, rc.ModelID, rc.ModelVersion), Reason: why},
			Usage:       Check{Status: Unknown, Reason: "not the deployed model"},
			Attribution: Check{Status: Unknown, Claimed: SummaryString(c.summary), Reason: "not the deployed model"},
			Total:       time.Since(start)}, nil
	}
	g, err := openai.ReplayGeneration(q.Endpoint, q.Body, q.MaxTokens)
	if err == nil && g.DeploymentID != sess.DeploymentId {
		err = fmt.Errorf("the request names deployment %d; the session is of deployment %d", g.DeploymentID, sess.DeploymentId)
	}
	if err == nil {
		s.gen = &g
		err = v.check(ctx, s, c, &vd)
		if err != nil && (ctx.Err() != nil || !(errors.Is(err, executor.ErrInvalidJob) || errors.Is(err, executor.ErrTooLong))) {
			return Verdict{}, err
		}
	}
	if err != nil {
		// The generation cannot be run again; the recorded output can still
		// be attributed.
		why := fmt.Sprintf("cannot run the request again: %v", err)
		vd = Verdict{Request: rc.RequestSeq, Provider: rc.Provider, ClaimedSHA256: c.outputSHA256,
			ClaimedPromptTokens: c.prompt, ClaimedCompletionTokens: c.completion, ClaimedSummary: c.summary,
			Output: Check{Status: Unknown, Claimed: fmt.Sprintf("sha256 %s, CID %s", c.outputSHA256, c.outputCID), Reason: why},
			Usage:  Check{Status: Unknown, Claimed: fmt.Sprintf("%d prompt + %d completion tokens", c.prompt, c.completion), Reason: why}}
		if err := v.attributeClaimed(ctx, s, c, q.Output, &vd); err != nil {
			if ctx.Err() != nil {
				return Verdict{}, err
			}
			vd.Attribution = Check{Status: Unknown, Claimed: SummaryString(c.summary), Reason: err.Error()}
		}
	}
	vd.Total = time.Since(start)
	return vd, nil
}

// requestClaim is what a session request's receipt claims, its output the
// record's.
func requestClaim(rc voucher.Receipt, output []byte) claim {
	return claim{outputSHA256: hex.EncodeToString(rc.OutputSHA256[:]), outputCID: rc.OutputCID, output: output,
		prompt: rc.PromptTokens, completion: rc.CompletionTokens, engineName: rc.EngineName, engineVersion: rc.EngineVersion,
		recordCID: rc.RecordCID, summary: RewardsSummary(rc.Summary)}
}

// attributionOf is the settlement's attribution check from its requests'
// and, when it fails and every request's attribution was recomputed, the
// correction (see Correction).
func (v *Verifier) attributionOf(rec batchrecord.Record, receipts []voucher.Receipt, sv *SettlementVerdict,
) (Check, *Correction, error) {
	corrected := rec
	corrected.Corrections = nil
	var (
		failed    []string
		unknown   []string
		artifacts [][]byte
	)
	for i, vd := range sv.Requests {
		switch vd.Attribution.Status {
		case Fail:
			failed = append(failed, fmt.Sprintf("request %d: %s", vd.Request, vd.Attribution.Reason))
			if len(vd.RecomputedRecord) == 0 {
				unknown = append(unknown, fmt.Sprintf("request %d", vd.Request))
				continue
			}
			art, err := attribution.ReaderArtifact(bytes.NewReader(vd.RecomputedRecord))
			if err != nil {
				return Check{}, nil, fmt.Errorf("the CID of request %d's recomputed record: %w", vd.Request, err)
			}
			corrected.Corrections = append(corrected.Corrections, batchrecord.Correction{
				RequestSeq: receipts[i].RequestSeq, RecordCID: art.Cid, Summary: inferencetypes.VoucherSummary(correctionSummary(vd, rec.TopK))})
			artifacts = append(artifacts, vd.RecomputedRecord)
		case Unknown:
			unknown = append(unknown, fmt.Sprintf("request %d (%s)", vd.Request, vd.Attribution.Reason))
		}
	}
	merged := batchrecord.MergeSummaries(corrected.Attributions(receipts), rec.TopK)
	claimed := sv.ClaimedSummary
	claimed.RecordSha256 = ""
	shown := merged // with the record's digest, which step 1 checked against its bytes
	if !summaryEmpty(merged) {
		shown.RecordSha256 = sv.ClaimedSummary.RecordSha256
	}
	c := Check{Claimed: SummaryString(sv.ClaimedSummary), Recomputed: SummaryString(shown)}
	mergeDiff := ""
	if len(unknown) == 0 {
		mergeDiff = summaryDiff(claimed, merged)
	}
	switch {
	case len(failed) > 0 || mergeDiff != "":
		c.Status = Fail
		if len(failed) > 0 {
			c.Reason = joinFirst(failed, 3)
		} else {
			c.Reason = "the settlement's summary is not the merge of its receipts': " + mergeDiff
		}
	case len(unknown) > 0:
		c.Status, c.Reason = Unknown, "not recomputed: "+joinFirst(unknown, 3)
		return c, nil, nil
	default:
		c.Status, c.Reason = Pass, fmt.Sprintf("every request's attribution recomputed, and their merge (top %d) is the settlement's summary", rec.TopK)
		return c, nil, nil
	}
	if len(unknown) > 0 {
		return c, nil, nil // some request's attribution cannot be recomputed: no correction
	}
	b, err := batchrecord.Encode(corrected)
	if err != nil {
		return Check{}, nil, fmt.Errorf("encoding the corrected record: %w", err)
	}
	art, err := attribution.ReaderArtifact(bytes.NewReader(b))
	if err != nil {
		return Check{}, nil, fmt.Errorf("the corrected record's CID: %w", err)
	}
	d := sha256.Sum256(b)
	if !summaryEmpty(merged) {
		merged.RecordSha256 = hex.EncodeToString(d[:])
	}
	c.Recomputed = SummaryString(merged)
	return c, &Correction{Record: b, RecordCID: art.Cid, Summary: merged, Artifacts: artifacts}, nil
}

// correctionSummary is a request's recomputed summary for a correction: the
// check summarised the recomputed record with the receipt's own K, which a
// forged receipt can make too small; the correction keeps at least the
// record's top_k entries (the merge folds the rest into pools anyway).
func correctionSummary(vd Verdict, topK int) rewardstypes.AttributionSummary {
	sum := vd.RecomputedSummary
	if topK <= len(sum.Top) {
		return sum
	}
	r, err := record.Decode(vd.RecomputedRecord)
	if err != nil {
		return sum // a pool-only statement: no named contributions
	}
	if wider, err := executor.Summarize(r, topK); err == nil {
		return wider
	}
	return sum
}

// fetchRecord reads a batch record from IPFS within RecordFetchTimeout;
// tooLarge reports one over MaxBatchRecordBytes.
func (v *Verifier) fetchRecord(ctx context.Context, cidStr string) (b []byte, tooLarge bool, err error) {
	id, err := storage.ParseCID(cidStr)
	if err != nil {
		return nil, false, fmt.Errorf("CID %q: %w", cidStr, err)
	}
	fctx, cancel := context.WithTimeout(ctx, v.cfg.RecordFetchTimeout)
	defer cancel()
	rc, err := v.st.Cat(fctx, id)
	if err != nil {
		return nil, false, fmt.Errorf("fetching %s: %w", cidStr, err)
	}
	defer rc.Close()
	b, err = io.ReadAll(io.LimitReader(rc, v.cfg.MaxBatchRecordBytes+1))
	if err != nil {
		return nil, false, fmt.Errorf("fetching %s: %w", cidStr, err)
	}
	return b, int64(len(b)) > v.cfg.MaxBatchRecordBytes, nil
}

// RewardsSummary converts a receipt's summary to the chain's form (nil
// slices stay nil).
func RewardsSummary(s voucher.Summary) rewardstypes.AttributionSummary {
	out := rewardstypes.AttributionSummary{RecordSha256: s.RecordSha256}
	for _, t := range s.Top {
		out.Top = append(out.Top, rewardstypes.ContributionWeight{DatanetId: t.DatanetID, Version: t.Version, ContributionId: t.ContributionID, Ppm: t.Ppm})
	}
	for _, p := range s.Pools {
		out.Pools = append(out.Pools, rewardstypes.PoolWeight{DatanetId: p.DatanetID, Version: p.Version, Ppm: p.Ppm})
	}
	return out
}

func summaryEmpty(s rewardstypes.AttributionSummary) bool {
	return s.RecordSha256 == "" && len(s.Top) == 0 && len(s.Pools) == 0
}
