package verifier

import (
	"fmt"
	"strings"
	"time"

	"github.com/openledger/openledger/ml/generate"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// Status is the outcome of one check of a receipt's claim.
type Status int

const (
	// Unknown: the claim could not be checked (an artifact unavailable, an
	// engine this binary does not run). Neither a pass nor a mismatch.
	Unknown Status = iota
	// Pass: the recomputation agrees with the claim.
	Pass
	// Fail: the recomputation contradicts the claim.
	Fail
)

func (s Status) String() string {
	switch s {
	case Pass:
		return "ok"
	case Fail:
		return "MISMATCH"
	default:
		return "unknown"
	}
}

// Check is the outcome of one claim: what the receipt claims, what the
// recomputation found, and why it passed or failed.
type Check struct {
	Status     Status
	Claimed    string
	Recomputed string
	Reason     string
}

// Methods of checking the output.
const (
	// MethodReexecute: the built-in engine ran the job again bit-exactly.
	MethodReexecute = "re-execution"
	// MethodScore: an external engine's claimed output was scored under the
	// model (teacher-forced log-likelihood) against a threshold.
	MethodScore = "scoring"
)

// Verdict is the verifier's finding on one job receipt, or on one request of
// a session settlement (JobID 0, Request its sequence).
type Verdict struct {
	JobID    uint64
	Request  uint64
	Provider string
	// Method is MethodReexecute or MethodScore ("" when the output could not
	// be checked at all).
	Method string

	// The three claims a challenge can dispute (x/inference: output
	// mismatch, attribution mismatch, usage over-count).
	Output      Check
	Attribution Check
	Usage       Check

	// What the recomputation found: the output digest (re-execution; the
	// claimed output's when scored), the token counts (re-execution: the
	// engine's; scoring: the model tokenizer's recount) and the summary of
	// the recomputed attribution record of the claimed output.
	RecomputedSHA256           string
	RecomputedPromptTokens     uint64
	RecomputedCompletionTokens uint64
	RecomputedSummary          rewardstypes.AttributionSummary
	// RecomputedRecord is the recomputed attribution record's canonical
	// bytes (or pool-only statement), nil when it was not recomputed.
	RecomputedRecord []byte
	// The receipt's claims.
	ClaimedSHA256                                string
	ClaimedPromptTokens, ClaimedCompletionTokens uint64
	ClaimedSummary                               rewardstypes.AttributionSummary
	// Score is the claimed output's score (MethodScore only).
	Score *generate.Score
	// Engine is the time spent in the engine (generation or scoring); Total
	// the whole verification.
	Engine, Total time.Duration
}

// Established returns what this verification holds the target's output
// digest and token counts to be, in the form a committee vote's result
// carries them (x/inference compares a result with the target's, "" and 0
// meaning "not recomputed"): after a re-execution, the recomputed values;
// after scoring, the claimed digest when the output passes ("" otherwise:
// the true output is unknown) and the claimed counts when they are within
// the recount's tolerance (the recount otherwise) — another engine's
// tokenisation is not this one's, so an honest receipt must not read as
// contradicted. Unchecked claims give "" and 0.
func (v Verdict) Established() (outputSHA256 string, prompt, completion uint64) {
	if v.Method == MethodReexecute {
		return v.RecomputedSHA256, v.RecomputedPromptTokens, v.RecomputedCompletionTokens
	}
	if v.Output.Status == Pass {
		outputSHA256 = v.ClaimedSHA256
	}
	switch v.Usage.Status {
	case Pass:
		prompt, completion = v.ClaimedPromptTokens, v.ClaimedCompletionTokens
	case Fail:
		prompt, completion = v.RecomputedPromptTokens, v.RecomputedCompletionTokens
	}
	return outputSHA256, prompt, completion
}

// OK reports whether every claim passed.
func (v Verdict) OK() bool {
	return v.Output.Status == Pass && v.Attribution.Status == Pass && v.Usage.Status == Pass
}

// Mismatch reports whether some claim failed (a challengeable receipt).
func (v Verdict) Mismatch() bool {
	return v.Output.Status == Fail || v.Attribution.Status == Fail || v.Usage.Status == Fail
}

// Checks returns the three checks in order with their names.
func (v Verdict) Checks() []NamedCheck {
	return []NamedCheck{{"output", v.Output}, {"attribution", v.Attribution}, {"usage", v.Usage}}
}

// NamedCheck is a check and the claim it is about.
type NamedCheck struct {
	Name string
	Check
}

// String is a one-line account: "job 7: output ok, attribution MISMATCH (…), usage ok".
func (v Verdict) String() string {
	var parts []string
	for _, c := range v.Checks() {
		s := c.Name + " " + c.Status.String()
		if c.Status != Pass && c.Reason != "" {
			s += " (" + c.Reason + ")"
		}
		parts = append(parts, s)
	}
	what := fmt.Sprintf("job %d", v.JobID)
	if v.JobID == 0 && v.Request > 0 {
		what = fmt.Sprintf("request %d", v.Request)
	}
	return fmt.Sprintf("%s: %s", what, strings.Join(parts, ", "))
}

// SummaryString renders a summary compactly: its record digest (when set),
// top contributions and pools; "no attribution" for an empty one.
func SummaryString(s rewardstypes.AttributionSummary) string {
	var parts []string
	if d := s.RecordSha256; d != "" {
		if len(d) > 16 {
			d = d[:16] + "…"
		}
		parts = append(parts, "record "+d)
	}
	if len(s.Top) > 0 {
		var b strings.Builder
		b.WriteString("top")
		for _, t := range s.Top {
			fmt.Fprintf(&b, " %d/%d/%d:%d", t.DatanetId, t.Version, t.ContributionId, t.Ppm)
		}
		parts = append(parts, b.String())
	}
	if len(s.Pools) > 0 {
		var b strings.Builder
		b.WriteString("pools")
		for _, p := range s.Pools {
			fmt.Fprintf(&b, " %d/%d:%d", p.DatanetId, p.Version, p.Ppm)
		}
		parts = append(parts, b.String())
	}
	if len(parts) == 0 {
		return "no attribution"
	}
	return strings.Join(parts, "; ")
}

// summaryDiff names the first difference (credits before the record digest) between a claimed and a recomputed
// summary ("" when equal).
func summaryDiff(claimed, got rewardstypes.AttributionSummary) string {
	if len(claimed.Top) != len(got.Top) {
		return fmt.Sprintf("%d top entries, recomputed %d", len(claimed.Top), len(got.Top))
	}
	for i := range claimed.Top {
		c, g := claimed.Top[i], got.Top[i]
		if c.DatanetId != g.DatanetId || c.Version != g.Version || c.ContributionId != g.ContributionId || c.Ppm != g.Ppm {
			return fmt.Sprintf("top entry %d credits %d/%d/%d with %d ppm, recomputed %d/%d/%d with %d ppm",
				i, c.DatanetId, c.Version, c.ContributionId, c.Ppm, g.DatanetId, g.Version, g.ContributionId, g.Ppm)
		}
	}
	if len(claimed.Pools) != len(got.Pools) {
		return fmt.Sprintf("%d pools, recomputed %d", len(claimed.Pools), len(got.Pools))
	}
	for i := range claimed.Pools {
		c, g := claimed.Pools[i], got.Pools[i]
		if c.DatanetId != g.DatanetId || c.Version != g.Version || c.Ppm != g.Ppm {
			return fmt.Sprintf("pool %d credits %d/%d with %d ppm, recomputed %d/%d with %d ppm",
				i, c.DatanetId, c.Version, c.Ppm, g.DatanetId, g.Version, g.Ppm)
		}
	}
	if claimed.RecordSha256 != got.RecordSha256 {
		return fmt.Sprintf("record sha256 %s, recomputed %s", claimed.RecordSha256, got.RecordSha256)
	}
	return ""
}
