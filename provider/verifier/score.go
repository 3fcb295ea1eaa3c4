package verifier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/generate"
	"github.com/openledger/openledger/provider/executor"
)

// score checks a claim that cannot be replayed bit-exactly (another engine,
// or another version of the built-in one): the claimed output is fetched (or
// taken from the batch record), scored under the model version's weights at
// the subject's temperature after its prompt, recounted with the model's
// tokenizer, and attributed.
func (v *Verifier) score(ctx context.Context, sub subject, c claim, vd *Verdict) error {
	engine := fmt.Sprintf("%s %s", c.engineName, c.engineVersion)
	claimedOut := fmt.Sprintf("sha256 %s, CID %s", c.outputSHA256, c.outputCID)
	out, err := v.claimedOutput(ctx, c)
	if errors.Is(err, errOutputDigest) {
		vd.Output = Check{Status: Fail, Claimed: claimedOut, Reason: err.Error()}
		vd.Usage = Check{Status: Unknown, Reason: "no output to recount"}
		vd.Attribution = Check{Status: Unknown, Claimed: SummaryString(c.summary), Reason: "no output to attribute"}
		return nil
	}
	if err != nil {
		return err
	}
	vd.RecomputedSHA256 = c.outputSHA256 // the bytes scored

	// Attribution does not depend on the engine: any version the pool can
	// attribute is checked.
	if err := v.attributeClaimed(ctx, sub, c, out, vd); err != nil {
		return err
	}

	input, err := sub.prompt(ctx, v.pool)
	if err != nil {
		return err
	}
	w, release, err := v.pool.Weights(ctx, sub.job.ModelID, sub.job.ModelVersion)
	if errors.Is(err, executor.ErrInvalidJob) {
		why := fmt.Sprintf("the receipt's engine %s cannot be replayed and the model version is not a %s checkpoint to score with: %v", engine, checkpoint.EngineName, err)
		vd.Output = Check{Status: Unknown, Claimed: claimedOut, Reason: why}
		vd.Usage = Check{Status: Unknown, Reason: "no tokenizer to recount with"}
		return nil
	}
	if err != nil {
		return err
	}
	defer release()
	tok := w.Base.Tok
	prompt, completion := tok.Encode(input), tok.Encode(out)
	vd.RecomputedPromptTokens, vd.RecomputedCompletionTokens = uint64(len(prompt)), uint64(len(completion))
	slack := v.cfg.UsageSlackTokens + vd.RecomputedPromptTokens*v.cfg.UsageSlackPpm/1_000_000 + vd.RecomputedCompletionTokens*v.cfg.UsageSlackPpm/1_000_000
	vd.Usage = usageCheck(c, vd.RecomputedPromptTokens, vd.RecomputedCompletionTokens, slack)

	temp := sub.temperature()
	t0 := time.Now()
	s, err := generate.ScoreTokens(ctx, w.Base.Params, w.Adapter, prompt, completion, temp)
	vd.Engine = time.Since(t0)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		vd.Output = Check{Status: Unknown, Claimed: claimedOut, Reason: fmt.Sprintf("scoring: %v", err)}
		return nil
	}
	vd.Method, vd.Score = MethodScore, &s
	got := fmt.Sprintf("z %.2f: %.3f nats/token beyond the model's entropy (mean NLL %.3f over %d tokens", s.Z(), s.Excess(), s.MeanNLL(), s.Tokens)
	if s.Truncated > 0 {
		got += fmt.Sprintf(", %d past the context unscored", s.Truncated)
	}
	got += ")"
	vd.Output = Check{Status: Pass, Claimed: claimedOut + " by " + engine, Recomputed: got}
	switch {
	case s.Tokens == 0:
		vd.Output.Reason = "empty output: nothing to score"
	case s.Z() > v.cfg.MaxZ:
		vd.Output.Status = Fail
		vd.Output.Reason = fmt.Sprintf("the model would not produce this output: z %.2f > threshold %.2f", s.Z(), v.cfg.MaxZ)
	default:
		vd.Output.Reason = fmt.Sprintf("scores within the threshold z %.2f", v.cfg.MaxZ)
	}
	return nil
}
