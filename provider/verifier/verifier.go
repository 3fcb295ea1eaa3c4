// Package verifier checks a job receipt or a session settlement off-chain,
// as a committee member (or anyone about to challenge) does before voting.
// For a job receipt it fetches the job's input, the claimed output, the model
// version and its attribution artifacts from IPFS — through the provider
// executor's pool, so the loading, digest checks and caches are the
// executor's own — and recomputes the three claims a challenge can dispute:
//
//   - output: a receipt of the built-in engine (checkpoint.EngineName, same
//     EngineVersion) is re-executed bit-exactly with the job's parameters and
//     seed: same digest, same CID. A receipt of any other engine (vLLM,
//     llama.cpp…) cannot be replayed, so its claimed output is scored under the
//     model instead (ml/generate.ScoreTokens, teacher-forced at the job's
//     temperature) and passes when its surprise beyond the model's own entropy,
//     in standard deviations of a true sample's (Score.Z), is at most
//     Config.MaxZ: a sample of the model is about standard normal there
//     whatever the model's quality, text it did not produce grows with its
//     length.
//   - attribution: the attribution record of the claimed output is recomputed
//     with attribution/ exactly as the executor computes it, summarised with
//     the receipt's own K (its number of top entries), and compared with the
//     receipt's summary; the record CID must hold that record.
//   - usage: re-execution must give the claimed token counts or more; scoring
//     recounts with the model's tokenizer and tolerates Config.UsageSlack*
//     above the recount (an external engine tokenises by its own rules).
//
// A session settlement (VerifySettlement) is checked from the batch record
// its provider published at the settlement's record_cid
// (inference/batchrecord): the record must be the settlement's (sha256,
// session and voucher, receipts root), then each
// covered request is checked as above — its generation replayed from the
// recorded body (provider/openai.ReplayGeneration) and re-executed with
// Pool.RecomputeGeneration, or its recorded output scored — and the merge of
// the requests' summaries must be the settlement's. SettlementVerdict says
// what a committee vote establishes, and carries a corrected batch record
// when the attribution does not hold.
//
// A check is Pass, Fail (a challengeable mismatch) or Unknown (could not be
// checked: an engine version this binary does not run, an artifact missing).
// Failures to reach the chain or IPFS are errors, not verdicts.
package verifier

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/openledger/openledger/attribution"
	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/provider/executor"
	"github.com/openledger/openledger/storage"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// Config sets the thresholds of the checks that are not bit-exact.
type Config struct {
	// MaxZ is the scoring threshold: the most surprise beyond the model's
	// entropy a claimed output may have, in standard deviations of a true
	// sample's (generate.Score.Z; default 4: a true sample exceeds it about
	// 3 times in 100,000).
	MaxZ float64
	// UsageSlackTokens and UsageSlackPpm bound how far an external engine's
	// token counts may exceed the model tokenizer's recount: slack = tokens +
	// recount × ppm / 10^6 (defaults 4 and 50,000: 5 %).
	UsageSlackTokens uint64
	UsageSlackPpm    uint64
	// MaxOutputBytes bounds a claimed output or record fetched from IPFS
	// (default 4 MiB).
	MaxOutputBytes int64
	// MaxBatchRecordBytes bounds a settlement's batch record (default 64
	// MiB); a larger one is a failed attribution claim (see VerifySettlement).
	MaxBatchRecordBytes int64
	// RecordFetchTimeout bounds the fetch of a settlement's batch record
	// (default 2 min); past it the record is unavailable.
	RecordFetchTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.MaxZ <= 0 {
		c.MaxZ = 4
	}
	if c.UsageSlackTokens == 0 {
		c.UsageSlackTokens = 4
	}
	if c.UsageSlackPpm == 0 {
		c.UsageSlackPpm = 50_000
	}
	if c.MaxOutputBytes <= 0 {
		c.MaxOutputBytes = 4 << 20
	}
	if c.MaxBatchRecordBytes <= 0 {
		c.MaxBatchRecordBytes = 64 << 20
	}
	if c.RecordFetchTimeout <= 0 {
		c.RecordFetchTimeout = 2 * time.Minute
	}
}

// Verifier checks receipts. It is safe for concurrent use (the pool bounds
// the work running at once).
type Verifier struct {
	pool  *executor.Pool
	chain Chain
	st    storage.API
	cfg   Config
	log   *slog.Logger
}

// New returns a verifier over an executor pool (its IPFS node, model source
// and caches), the chain and the IPFS node the pool uses.
func New(pool *executor.Pool, chain Chain, st storage.API, cfg Config, log *slog.Logger) (*Verifier, error) {
	if pool == nil || chain == nil || st == nil {
		return nil, errors.New("verifier: a pool, a chain and an IPFS node are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.setDefaults()
	return &Verifier{pool: pool, chain: chain, st: st, cfg: cfg, log: log.With("component", "verifier")}, nil
}

// VerifyJob reads a job and its receipt from the chain and verifies them.
func (v *Verifier) VerifyJob(ctx context.Context, jobID uint64) (Verdict, error) {
	job, err := v.chain.Job(ctx, jobID)
	if err != nil {
		return Verdict{}, fmt.Errorf("verifier: job %d: %w", jobID, err)
	}
	r, err := v.chain.Receipt(ctx, jobID)
	if err != nil {
		return Verdict{}, fmt.Errorf("verifier: receipt of job %d: %w", jobID, err)
	}
	return v.Verify(ctx, job, r)
}

// Verify checks a receipt against its job.
func (v *Verifier) Verify(ctx context.Context, job inferencetypes.Job, r inferencetypes.Receipt) (Verdict, error) {
	start := time.Now()
	if r.JobId != job.Id {
		return Verdict{}, fmt.Errorf("verifier: the receipt is of job %d, not %d", r.JobId, job.Id)
	}
	if r.ModelId != job.ModelId || r.ModelVersion != job.ModelVersion {
		return Verdict{}, fmt.Errorf("verifier: job %d runs model %d version %d; its receipt names %d/%d",
			job.Id, job.ModelId, job.ModelVersion, r.ModelId, r.ModelVersion)
	}
	s := subject{job: executor.Job{
		ID: job.Id, DeploymentID: job.DeploymentId, ModelID: job.ModelId, ModelVersion: job.ModelVersion,
		InputCID: job.InputCid, InputSHA256: job.InputSha256, MaxTokens: job.MaxTokens, Params: job.Params,
		Deadline: job.DeadlineHeight,
	}}
	vd := Verdict{JobID: job.Id, Provider: r.Provider}
	if err := v.check(ctx, s, jobClaim(r), &vd); err != nil {
		return Verdict{}, fmt.Errorf("verifier: job %d: %w", job.Id, err)
	}
	vd.Total = time.Since(start)
	v.log.Info("receipt verified", "job", job.Id, "provider", r.Provider, "method", vd.Method, "verdict", vd.String(), "elapsed", vd.Total)
	return vd, nil
}

// claim is what a receipt claims about one generation: a job receipt's
// (x/inference) or one session request's (inference/voucher, with the exact
// output from the settlement's batch record).
type claim struct {
	outputSHA256, outputCID string
	// output is the claimed output when the claim carries it (nil: fetched
	// from outputCID and checked against outputSHA256).
	output                    []byte
	prompt, completion        uint64
	engineName, engineVersion string
	recordCID                 string
	summary                   rewardstypes.AttributionSummary
}

func jobClaim(r inferencetypes.Receipt) claim {
	return claim{outputSHA256: r.OutputSha256, outputCID: r.OutputCid, prompt: r.PromptTokens, completion: r.CompletionTokens,
		engineName: r.EngineName, engineVersion: r.EngineVersion, recordCID: r.RecordCid, summary: r.Summary}
}

// subject is what ran: a job (its input on IPFS, its parameters on chain) or
// a session request (gen: the generation the provider ran for it, on job's
// deployment, model and version).
type subject struct {
	job executor.Job
	gen *executor.Generation
}

// recompute runs the subject again on the built-in engine.
func (s subject) recompute(ctx context.Context, pool *executor.Pool, topK int) (executor.Recomputation, error) {
	if s.gen != nil {
		return pool.RecomputeGeneration(ctx, *s.gen, s.job.ModelID, s.job.ModelVersion, topK)
	}
	return pool.Recompute(ctx, s.job, topK)
}

// prompt is the text the output continues.
func (s subject) prompt(ctx context.Context, pool *executor.Pool) ([]byte, error) {
	if s.gen != nil {
		return []byte(s.gen.Prompt), nil
	}
	return pool.FetchInput(ctx, s.job)
}

// temperature is the sampling temperature the output was drawn at.
func (s subject) temperature() float64 {
	if s.gen != nil {
		return s.gen.Params.Temperature
	}
	return float64(s.job.Params.TemperatureMilli) / 1000
}

// check verifies one claim: re-executed on the built-in engine of this
// binary's version, scored otherwise.
func (v *Verifier) check(ctx context.Context, s subject, c claim, vd *Verdict) error {
	vd.ClaimedSummary, vd.ClaimedSHA256 = c.summary, c.outputSHA256
	vd.ClaimedPromptTokens, vd.ClaimedCompletionTokens = c.prompt, c.completion
	if c.engineName == checkpoint.EngineName && c.engineVersion == checkpoint.EngineVersion {
		return v.reexecute(ctx, s, c, vd)
	}
	return v.score(ctx, s, c, vd)
}

// reexecute checks a claim of the built-in engine by running it again.
func (v *Verifier) reexecute(ctx context.Context, s subject, c claim, vd *Verdict) error {
	rc, err := s.recompute(ctx, v.pool, len(c.summary.Top))
	if err != nil {
		return err
	}
	vd.Method, vd.Engine = MethodReexecute, rc.Engine
	vd.RecomputedSHA256 = hex.EncodeToString(rc.OutputSHA256[:])
	vd.RecomputedPromptTokens, vd.RecomputedCompletionTokens = rc.PromptTokens, rc.CompletionTokens

	claimedOut := fmt.Sprintf("sha256 %s, CID %s", c.outputSHA256, c.outputCID)
	if vd.RecomputedSHA256 != c.outputSHA256 {
		vd.Output = Check{Status: Fail, Claimed: claimedOut, Recomputed: "sha256 " + vd.RecomputedSHA256,
			Reason: fmt.Sprintf("re-execution on %s %s gives a different output", rc.EngineName, rc.EngineVersion)}
	} else {
		st, why := v.holds(ctx, c.outputCID, rc.Output)
		vd.Output = Check{Status: st, Claimed: claimedOut, Recomputed: "sha256 " + vd.RecomputedSHA256, Reason: why}
		if st == Pass {
			vd.Output.Reason = "re-execution gives the same bytes"
		}
	}

	vd.Usage = usageCheck(c, rc.PromptTokens, rc.CompletionTokens, 0)

	if vd.RecomputedSHA256 == c.outputSHA256 {
		vd.RecomputedSummary, vd.RecomputedRecord = rc.Summary, rc.Record
		vd.Attribution = v.attributionCheck(ctx, c, rc.Record, rc.Summary)
		return nil
	}
	// The output is forged; the attribution claim is about the claimed output.
	out, err := v.claimedOutput(ctx, c)
	if err != nil {
		vd.Attribution = Check{Status: Unknown, Claimed: SummaryString(c.summary), Reason: err.Error()}
		return nil
	}
	return v.attributeClaimed(ctx, s, c, out, vd)
}

// attributeClaimed attributes the claimed output afresh and checks the
// attribution claim against it.
func (v *Verifier) attributeClaimed(ctx context.Context, s subject, c claim, out []byte, vd *Verdict) error {
	rec, sum, err := v.pool.AttributeOutput(ctx, s.job, out, len(c.summary.Top))
	if err != nil {
		return fmt.Errorf("attributing the claimed output: %w", err)
	}
	vd.RecomputedSummary, vd.RecomputedRecord = sum, rec
	vd.Attribution = v.attributionCheck(ctx, c, rec, sum)
	return nil
}

// usageCheck compares the claimed token counts with recomputed ones plus a
// slack: only an over-count of the total (what is paid for) fails.
func usageCheck(c claim, prompt, completion, slack uint64) Check {
	ch := Check{
		Status:     Pass,
		Claimed:    fmt.Sprintf("%d prompt + %d completion tokens", c.prompt, c.completion),
		Recomputed: fmt.Sprintf("%d prompt + %d completion tokens", prompt, completion),
	}
	claimed, got := c.prompt+c.completion, prompt+completion
	switch {
	case claimed > got+slack:
		ch.Status = Fail
		ch.Reason = fmt.Sprintf("over-counted by %d tokens", claimed-got)
		if slack > 0 {
			ch.Reason += fmt.Sprintf(" (tolerance %d)", slack)
		}
	case claimed < got:
		ch.Reason = fmt.Sprintf("under-counted by %d tokens (the provider's loss)", got-claimed)
	case claimed > got:
		ch.Reason = fmt.Sprintf("%d tokens above the recount, within the tolerance of %d", claimed-got, slack)
	}
	return ch
}

// attributionCheck compares the claimed summary with the recomputed one and
// checks that the claimed record CID holds the recomputed record.
func (v *Verifier) attributionCheck(ctx context.Context, c claim, rec []byte, sum rewardstypes.AttributionSummary) Check {
	ch := Check{Claimed: SummaryString(c.summary), Recomputed: SummaryString(sum)}
	if d := summaryDiff(c.summary, sum); d != "" {
		ch.Status, ch.Reason = Fail, d
		return ch
	}
	ch.Status, ch.Reason = v.holds(ctx, c.recordCID, rec)
	if ch.Status == Pass {
		ch.Reason = "the recomputed record is the one on IPFS"
	} else {
		ch.Reason = "the summary matches, but the record: " + ch.Reason
	}
	return ch
}

// holds reports whether the CID holds exactly want: the CID of want under the
// default import settings (what the executor adds with), else the CID's
// content fetched and compared.
func (v *Verifier) holds(ctx context.Context, cidStr string, want []byte) (Status, string) {
	art, err := attribution.ReaderArtifact(bytes.NewReader(want))
	if err == nil && art.Cid == cidStr {
		return Pass, ""
	}
	got, err := v.fetch(ctx, cidStr, v.cfg.MaxOutputBytes)
	if err != nil {
		return Unknown, fmt.Sprintf("CID %s is not the recomputed bytes' default CID %s and cannot be fetched: %v", cidStr, art.Cid, err)
	}
	if !bytes.Equal(got, want) {
		gs := sha256.Sum256(got)
		return Fail, fmt.Sprintf("CID %s holds other bytes (sha256 %x)", cidStr, gs)
	}
	return Pass, ""
}

// claimedOutput is the claimed output: the one the claim carries, else
// fetched from its CID; its digest checked.
func (v *Verifier) claimedOutput(ctx context.Context, c claim) ([]byte, error) {
	out, where := c.output, "the batch record's output"
	if out == nil {
		var err error
		if out, err = v.fetch(ctx, c.outputCID, v.cfg.MaxOutputBytes); err != nil {
			return nil, fmt.Errorf("the claimed output: %w", err)
		}
		where = "output CID " + c.outputCID
	}
	if s := sha256.Sum256(out); hex.EncodeToString(s[:]) != c.outputSHA256 {
		return nil, fmt.Errorf("%w: %s holds bytes with sha256 %x; the receipt claims %s", errOutputDigest, where, s, c.outputSHA256)
	}
	return out, nil
}

// errOutputDigest: the output CID does not hold the claimed digest.
var errOutputDigest = errors.New("output digest mismatch")

// fetch reads a CID's content from IPFS, at most limit bytes.
func (v *Verifier) fetch(ctx context.Context, cidStr string, limit int64) ([]byte, error) {
	id, err := storage.ParseCID(cidStr)
	if err != nil {
		return nil, fmt.Errorf("CID %q: %w", cidStr, err)
	}
	rc, err := v.st.Cat(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", cidStr, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", cidStr, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", cidStr, limit)
	}
	return b, nil
}
