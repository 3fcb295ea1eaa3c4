package receipts

import (
	"context"
	"errors"

	inferencetypes "github.com/openledger/openledger/x/inference/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// Job is what the executor runs: an awarded job as the chain describes it. It has
// the fields of provider/executor's Job; the daemon converts between the two.
type Job struct {
	ID, DeploymentID, ModelID, ModelVersion uint64
	InputCID, InputSHA256                   string
	MaxTokens                               uint64
	Params                                  inferencetypes.GenerationParams
	// Deadline is the receipt deadline height.
	Deadline int64
}

// Result is what an execution produced: the output on IPFS, token counts, the
// engine, and the attribution record (on IPFS) with its summary.
type Result struct {
	OutputCID                      string
	OutputSHA256                   [32]byte
	Output                         []byte
	PromptTokens, CompletionTokens uint64
	EngineName, EngineVersion      string
	RecordCID                      string
	Summary                        rewardstypes.AttributionSummary
}

// Executor runs jobs. provider/executor's Pool satisfies it through the daemon's
// adapter; tests use fakes.
type Executor interface {
	Execute(ctx context.Context, job Job) (Result, error)
}

// Failure kinds an Executor reports (wrapped). The daemon's adapter maps
// provider/executor's sentinels onto these.
var (
	// ErrInputUnavailable: the input CID cannot be fetched (yet); retried with
	// backoff until the deadline.
	ErrInputUnavailable = errors.New("input unavailable")
	// ErrDigestMismatch: fetched bytes do not hash to the on-chain digest; the job
	// is given up with an alert.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrBackend: the engine failed; retried with backoff until the deadline.
	ErrBackend = errors.New("backend failed")
	// ErrTooLong: the job cannot fit its max tokens; given up.
	ErrTooLong = errors.New("job too long")
)

// DigestMismatch is the detail of an ErrDigestMismatch: which CID and both
// digests. An Executor may return it (it matches ErrDigestMismatch).
type DigestMismatch struct {
	CID      string
	Expected string
	Got      string
}

func (e *DigestMismatch) Error() string {
	return "digest mismatch: " + e.CID + " hashes to " + e.Got + ", expected " + e.Expected
}

// Is makes errors.Is(err, ErrDigestMismatch) hold.
func (e *DigestMismatch) Is(target error) bool { return target == ErrDigestMismatch }
