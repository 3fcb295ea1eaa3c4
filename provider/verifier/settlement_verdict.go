package verifier

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/openledger/openledger/inference/voucher"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// SettlementOutputsDomain starts the digest a vote carries as a settlement's
// output when some request's output is contradicted (see
// SettlementVerdict.Established).
const SettlementOutputsDomain = "openledger/settlement-outputs/v1"

// SettlementVerdict is the verifier's finding on a session settlement: one
// Verdict per covered request (in sequence order) and the three claims a
// challenge of the settlement can dispute, settlement-wide.
type SettlementVerdict struct {
	SettlementID, SessionID, Sequence uint64
	Provider                          string
	DeploymentID                      uint64
	RecordCID                         string
	ChallengeEndHeight                int64
	Status                            inferencetypes.SettlementStatus
	// TopK is the batch record's top_k (0 when it was not decoded).
	TopK int
	// RecordUnavailable: the batch record could not be fetched, or a
	// settlement that pays something names none (all three checks are
	// Unknown).
	RecordUnavailable bool

	// Requests are the per-request findings (empty when the record could not
	// be fetched or does not substantiate the settlement).
	Requests []Verdict

	// Output holds when every request's output does; Usage when no request
	// over-counts; Attribution when every request's attribution does and
	// their merge is the settlement's summary (and fails when the record
	// does not substantiate the settlement).
	Output      Check
	Attribution Check
	Usage       Check

	// The settlement's claims.
	ClaimedRoot    string // hex receipts root
	ClaimedTokens  uint64
	ClaimedSummary rewardstypes.AttributionSummary

	// Correction is the recomputed attribution when Attribution fails and
	// every request's attribution could be recomputed (nil otherwise).
	Correction *Correction

	// Engine is the time spent in the engine over all requests; Total the
	// whole verification.
	Engine, Total time.Duration
}

// Correction is a committee member's corrected batch record of a settlement
// whose attribution does not hold: the provider's record with Corrections
// for the requests whose attribution was wrong (their recomputed record CIDs
// and summaries), its merged summary (batchrecord.MergeSummaries over the
// corrected attributions with the record's top_k) whose record_sha256 is the
// sha256 of Record, and Record's CID. x/inference adopts Summary and
// RecordCID when it replaces the settlement's attribution.
type Correction struct {
	Record    []byte
	RecordCID string // CID of Record under the default import settings
	Summary   rewardstypes.AttributionSummary
	// Artifacts are the recomputed per-request attribution records the
	// corrections name: they, and Record, must be added to IPFS (default
	// import settings) before a vote carrying the correction is committed.
	Artifacts [][]byte
}

// requestsWhere names the requests whose check (picked by of) failed, with
// its reason, and those whose check is unknown.
func (sv SettlementVerdict) requestsWhere(of func(Verdict) Check) (failed, unknown []string) {
	for _, vd := range sv.Requests {
		switch c := of(vd); c.Status {
		case Fail:
			failed = append(failed, fmt.Sprintf("request %d: %s", vd.Request, c.Reason))
		case Unknown:
			unknown = append(unknown, fmt.Sprintf("request %d (%s)", vd.Request, c.Reason))
		}
	}
	return failed, unknown
}

// outputCheck is the settlement's output claim from its requests'.
func (sv SettlementVerdict) outputCheck() Check {
	c := Check{Claimed: "receipts root " + sv.ClaimedRoot}
	failed, unknown := sv.requestsWhere(func(vd Verdict) Check { return vd.Output })
	switch {
	case len(failed) > 0:
		c.Status, c.Reason = Fail, joinFirst(failed, 3)
		c.Recomputed = "outputs digest " + sv.outputsDigest()
	case len(unknown) > 0:
		c.Status, c.Reason = Unknown, "not checked: "+joinFirst(unknown, 3)
	default:
		c.Status, c.Recomputed = Pass, "receipts root "+sv.ClaimedRoot
		c.Reason = fmt.Sprintf("every request's output (%d) holds", len(sv.Requests))
	}
	return c
}

// outputsDigest is hex sha256(SettlementOutputsDomain ‖ for each covered
// request in order: the 32-byte sha256 of its recomputed output — of its
// claimed output when it was not re-executed).
func (sv SettlementVerdict) outputsDigest() string {
	h := sha256.New()
	h.Write([]byte(SettlementOutputsDomain))
	for _, vd := range sv.Requests {
		d := vd.ClaimedSHA256
		if vd.Method == MethodReexecute {
			d = vd.RecomputedSHA256
		}
		b, err := hex.DecodeString(d)
		if err != nil || len(b) != sha256.Size {
			b = make([]byte, sha256.Size)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// overCount is Σ over the requests whose usage fails of claimed − recomputed
// tokens.
func (sv SettlementVerdict) overCount() uint64 {
	var over uint64
	for _, vd := range sv.Requests {
		if vd.Usage.Status != Fail {
			continue
		}
		claimed := vd.ClaimedPromptTokens + vd.ClaimedCompletionTokens
		if got := vd.RecomputedPromptTokens + vd.RecomputedCompletionTokens; claimed > got {
			over += claimed - got
		}
	}
	return over
}

// usageCheck is the settlement's usage claim from its requests'.
func (sv SettlementVerdict) usageCheck(receipts []voucher.Receipt) Check {
	var sum uint64
	for _, rc := range receipts {
		sum += rc.PromptTokens + rc.CompletionTokens
	}
	c := Check{Claimed: fmt.Sprintf("%d tokens settled (the receipts count %d)", sv.ClaimedTokens, sum)}
	failed, unknown := sv.requestsWhere(func(vd Verdict) Check { return vd.Usage })
	switch {
	case len(failed) > 0:
		over := sv.overCount()
		c.Status, c.Reason = Fail, fmt.Sprintf("over-counted by %d tokens: %s", over, joinFirst(failed, 3))
		c.Recomputed = fmt.Sprintf("%d tokens", sv.ClaimedTokens-min(over, sv.ClaimedTokens))
	case len(unknown) > 0:
		c.Status, c.Reason = Unknown, "not recounted: "+joinFirst(unknown, 3)
	default:
		c.Status, c.Recomputed = Pass, fmt.Sprintf("%d tokens", sv.ClaimedTokens)
		c.Reason = "no request over-counts"
	}
	return c
}

// Established returns what this verification holds the settlement to be, in
// the terms of a committee vote's result (x/inference compares it with the
// settlement: output = hex receipts root, completion_tokens = the
// settlement's tokens, prompt tokens 0, record_cid + summary; "", 0 and an
// empty summary mean "not recomputed"):
//
//   - output: the settlement's hex receipts root when every request's output
//     holds; when some request's output is contradicted, hex sha256 of
//     SettlementOutputsDomain followed by each covered request's recomputed
//     output sha256 (its claimed one where it was not re-executed) — never
//     the root; "" when unknown.
//   - tokens: the settlement's tokens when no request's usage fails; when
//     some over-count, the settlement's tokens minus the sum of the
//     over-counts, saturating at 0 — a 0 reads on chain as "not recomputed",
//     so when the over-counts reach the settlement's tokens the vote's claim
//     alone carries the finding; 0 when unknown.
//   - attribution: the settlement's own record CID and summary when it
//     holds; the Correction's when it fails and could be recomputed; empty
//     otherwise.
func (sv SettlementVerdict) Established() (output string, tokens uint64, recordCID string, summary rewardstypes.AttributionSummary) {
	switch sv.Output.Status {
	case Pass:
		output = sv.ClaimedRoot
	case Fail:
		output = sv.outputsDigest()
	}
	switch sv.Usage.Status {
	case Pass:
		tokens = sv.ClaimedTokens
	case Fail:
		if over := sv.overCount(); over < sv.ClaimedTokens {
			tokens = sv.ClaimedTokens - over
		}
	}
	switch {
	case sv.Attribution.Status == Pass:
		recordCID, summary = sv.RecordCID, sv.ClaimedSummary
	case sv.Attribution.Status == Fail && sv.Correction != nil:
		recordCID, summary = sv.Correction.RecordCID, sv.Correction.Summary
	}
	return output, tokens, recordCID, summary
}

// Result is Established as a vote's result.
func (sv SettlementVerdict) Result() inferencetypes.VerificationResult {
	out, tokens, cid, sum := sv.Established()
	return inferencetypes.VerificationResult{OutputSha256: out, CompletionTokens: tokens, RecordCid: cid, Summary: sum}
}

// OK reports whether every claim passed.
func (sv SettlementVerdict) OK() bool {
	return sv.Output.Status == Pass && sv.Attribution.Status == Pass && sv.Usage.Status == Pass
}

// Mismatch reports whether some claim failed (a challengeable settlement).
func (sv SettlementVerdict) Mismatch() bool {
	return sv.Output.Status == Fail || sv.Attribution.Status == Fail || sv.Usage.Status == Fail
}

// Checks returns the three checks in order with their names.
func (sv SettlementVerdict) Checks() []NamedCheck {
	return []NamedCheck{{"output", sv.Output}, {"attribution", sv.Attribution}, {"usage", sv.Usage}}
}

// Verdict is the settlement's checks in the form of a receipt's verdict
// (what duty.ClaimHolds reads).
func (sv SettlementVerdict) Verdict() Verdict {
	return Verdict{Provider: sv.Provider, Output: sv.Output, Attribution: sv.Attribution, Usage: sv.Usage}
}

// String is a one-line account: "settlement 12 (session 3, 4 requests):
// output ok, attribution MISMATCH (…), usage ok".
func (sv SettlementVerdict) String() string {
	var parts []string
	for _, c := range sv.Checks() {
		s := c.Name + " " + c.Status.String()
		if c.Status != Pass && c.Reason != "" {
			s += " (" + c.Reason + ")"
		}
		parts = append(parts, s)
	}
	return fmt.Sprintf("settlement %d (session %d, %d requests): %s", sv.SettlementID, sv.SessionID, len(sv.Requests), strings.Join(parts, ", "))
}

// joinFirst joins the first n items and says how many more there are.
func joinFirst(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(items[:n], "; "), len(items)-n)
}
