// Package verify is `openledgerd verify`: anyone checks an inference claim on
// their own machine — re-executing or scoring it with provider/verifier —
// before deciding to challenge it on chain.
package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"

	"github.com/openledger/openledger/provider/backend"
	"github.com/openledger/openledger/provider/executor"
	"github.com/openledger/openledger/provider/verifier"
	"github.com/openledger/openledger/storage"
	storagecli "github.com/openledger/openledger/storage/cli"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
	modelstypes "github.com/openledger/openledger/x/models/types"
)

const (
	flagCacheDir = "cache-dir"
	flagMaxZ     = "max-z"
	flagVerbose  = "verbose"
)

// ErrMismatch is returned (the command exits non-zero) when a claim of the
// receipt does not hold.
var ErrMismatch = errors.New("the receipt does not hold")

// ErrUnverified is returned when no claim failed but some could not be checked.
var ErrUnverified = errors.New("the receipt could not be fully checked")

// NewCmd is `openledgerd verify`.
func NewCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check an inference claim locally (re-execute, re-attribute, recount) before challenging it",
	}
	cmd.AddCommand(newReceiptCmd(), newSettlementCmd())
	return cmd
}

func newReceiptCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "receipt [job-id]",
		Short: "Recompute a job receipt's output, attribution and usage and compare them with its claims",
		Long: `Reads job JOB_ID and its receipt from the chain (--node), fetches the input, the claimed
output, the model version's artifacts and its span index or sketches from IPFS (the node
of --home: its daemon when it runs, else the repo), and checks the receipt's three
claims the way a committee member does:

  output       built-in engine (same engine version): the job is run again with its
               parameters and seed and must give the same bytes, digest and CID;
               any other engine: the claimed output is scored under the model
               (teacher-forced) and its surprise beyond the model's entropy must be at
               most --max-z standard deviations of a true sample's
  attribution  the attribution record of the claimed output is recomputed and
               summarised with the receipt's K; the summary and record CID must match
  usage        the token counts must not exceed the recomputed ones (a small
               tolerance when another engine's counts are recounted)

Each check is printed with the claimed and the recomputed values. The command exits
non-zero when a claim does not hold (and prints the challenge command), or when a claim
could not be checked. Model artifacts are cached under --cache-dir (default
<home>/verify/cache). --output json prints the verdict as JSON.`,
		Args: cobra.ExactArgs(1),
		RunE: runReceipt,
	}
	addVerifyFlags(cmd)
	return cmd
}

// addVerifyFlags adds the query flags and the verifier's own to a verify command.
func addVerifyFlags(cmd *cobra.Command) {
	flags.AddQueryFlagsToCmd(cmd)
	cmd.Flags().String(flagCacheDir, "", "artifact cache directory (default <home>/verify/cache)")
	cmd.Flags().Float64(flagMaxZ, 4, "scoring threshold for other engines' outputs, in standard deviations")
	cmd.Flags().Bool(flagVerbose, false, "log what is fetched and loaded to stderr")
}

// targetArgs parses a verify command's positional id (named what in errors)
// and returns it with the query context and the command's context.
func targetArgs(cmd *cobra.Command, arg, what string) (uint64, client.Context, context.Context, error) {
	id, err := strconv.ParseUint(arg, 10, 64)
	if err != nil || id == 0 {
		return 0, client.Context{}, nil, fmt.Errorf("%s %q: must be a positive integer", what, arg)
	}
	clientCtx, err := client.GetClientQueryContext(cmd)
	if err != nil {
		return 0, client.Context{}, nil, err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return id, clientCtx, ctx, nil
}

func runReceipt(cmd *cobra.Command, args []string) error {
	jobID, clientCtx, ctx, err := targetArgs(cmd, args[0], "job-id")
	if err != nil {
		return err
	}
	chain := verifier.ChainQueries{Query: inferencetypes.NewQueryClient(clientCtx)}
	job, err := chain.Job(ctx, jobID)
	if err != nil {
		return fmt.Errorf("job %d: %w", jobID, err)
	}
	r, err := chain.Receipt(ctx, jobID)
	if err != nil {
		return fmt.Errorf("job %d is %s and has no receipt to verify: %w", jobID, job.Status, err)
	}
	var vd verifier.Verdict
	err = withVerifier(cmd, clientCtx, chain, func(ctx context.Context, v *verifier.Verifier) (err error) {
		vd, err = v.Verify(ctx, job, r)
		return err
	})
	if err != nil {
		return err
	}
	if clientCtx.OutputFormat == flags.OutputFormatJSON {
		if err := writeJSON(cmd.OutOrStdout(), job, vd); err != nil {
			return err
		}
	} else {
		writeText(cmd.OutOrStdout(), job, r, vd)
	}
	return outcome(vd)
}

// withVerifier runs fn with a verifier over an executor pool of the
// built-in engine (its cache under --cache-dir, default <home>/verify/cache)
// and the IPFS node of --home.
func withVerifier(cmd *cobra.Command, clientCtx client.Context, chain verifier.Chain, fn func(context.Context, *verifier.Verifier) error) error {
	cacheDir, _ := cmd.Flags().GetString(flagCacheDir)
	if cacheDir == "" {
		home, _ := cmd.Flags().GetString(flags.FlagHome)
		if home == "" {
			home = clientCtx.HomeDir
		}
		cacheDir = filepath.Join(home, "verify", "cache")
	}
	maxZ, _ := cmd.Flags().GetFloat64(flagMaxZ)
	log := slog.New(slog.DiscardHandler)
	if v, _ := cmd.Flags().GetBool(flagVerbose); v {
		log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
	}
	return storagecli.WithAPI(cmd, func(ctx context.Context, st storage.API) error {
		pool, err := executor.New(executor.Config{CacheDir: cacheDir},
			executor.Deps{Storage: st, Models: executor.ChainModels{Query: modelstypes.NewQueryClient(clientCtx)},
				Backends: []backend.Backend{backend.NewBuiltin("")}}, log)
		if err != nil {
			return err
		}
		defer pool.Close()
		v, err := verifier.New(pool, chain, st, verifier.Config{MaxZ: maxZ}, log)
		if err != nil {
			return err
		}
		return fn(ctx, v)
	})
}

// outcome is the command's error: nil when every claim holds.
func outcome(vd verifier.Verdict) error {
	return outcomeOf(vd.Checks(), ErrMismatch, ErrUnverified)
}

// outcomeOf is the error of a list of checks: mismatch when one failed,
// unverified when none failed but one could not be made, else nil.
func outcomeOf(checks []verifier.NamedCheck, mismatch, unverified error) error {
	var failed, unknown []string
	for _, c := range checks {
		switch c.Status {
		case verifier.Fail:
			failed = append(failed, c.Name)
		case verifier.Unknown:
			unknown = append(unknown, c.Name)
		}
	}
	switch {
	case len(failed) > 0:
		return fmt.Errorf("%w: %s", mismatch, strings.Join(failed, ", "))
	case len(unknown) > 0:
		return fmt.Errorf("%w: %s unchecked", unverified, strings.Join(unknown, ", "))
	}
	return nil
}

// claimArgs name, as `tx inference challenge` takes them, the x/inference
// claims a failed check supports.
var claimArgs = map[string]string{
	"output":      "output-mismatch",
	"attribution": "attribution-mismatch",
	"usage":       "usage-overcount",
}

// writeText prints the verdict: one block per check with the claimed and the
// recomputed values, then the outcome and, on a mismatch, how to challenge.
func writeText(w io.Writer, job inferencetypes.Job, r inferencetypes.Receipt, vd verifier.Verdict) {
	fmt.Fprintf(w, "Receipt of job %d by %s\n", job.Id, r.Provider)
	fmt.Fprintf(w, "  model %d version %d, engine %s %s, job %s, challenge window ends at height %d\n",
		r.ModelId, r.ModelVersion, r.EngineName, r.EngineVersion, job.Status, r.ChallengeEndHeight)
	method := vd.Method
	if method == "" {
		method = "none"
	}
	fmt.Fprintf(w, "  checked by %s in %s (engine %s)\n\n", method, vd.Total.Round(1e6), vd.Engine.Round(1e6))
	writeChecks(w, vd.Checks())
	fmt.Fprintln(w)
	switch {
	case vd.Mismatch():
		writeChallenge(w, "receipt", "job-receipt", job.Id, r.ChallengeEndHeight, vd.Checks())
	case vd.OK():
		fmt.Fprintln(w, "Every claim holds.")
	default:
		fmt.Fprintln(w, "No claim failed, but some could not be checked (see above).")
	}
}

// writeChallenge says that the target (what: "receipt" or "settlement") does
// not hold and prints the challenge command of each failed claim.
func writeChallenge(w io.Writer, what, kind string, id uint64, challengeEnd int64, checks []verifier.NamedCheck) {
	fmt.Fprintf(w, "The %s does not hold. While its challenge window is open (until height %d), dispute it with a bond\n"+
		"(at least the chain's min_challenge_bond: openledgerd query inference params; one dispute per %s):\n", what, challengeEnd, what)
	for _, c := range checks {
		if c.Status == verifier.Fail {
			fmt.Fprintf(w, "  openledgerd tx inference challenge %s %d %s BOND --from KEY\n", kind, id, claimArgs[c.Name])
		}
	}
}

// writeChecks prints one block per check: its status, the claimed and the
// recomputed values, the reason.
func writeChecks(w io.Writer, checks []verifier.NamedCheck) {
	for _, c := range checks {
		fmt.Fprintf(w, "%-12s %s\n", c.Name, c.Status)
		if c.Claimed != "" {
			fmt.Fprintf(w, "  claimed     %s\n", c.Claimed)
		}
		if c.Recomputed != "" {
			fmt.Fprintf(w, "  recomputed  %s\n", c.Recomputed)
		}
		if c.Reason != "" {
			fmt.Fprintf(w, "  %s\n", c.Reason)
		}
	}
}

// jsonVerdict is the verdict as --output json prints it.
type jsonVerdict struct {
	JobID      uint64         `json:"job_id"`
	JobStatus  string         `json:"job_status"`
	Provider   string         `json:"provider"`
	Method     string         `json:"method"`
	OK         bool           `json:"ok"`
	Mismatch   bool           `json:"mismatch"`
	Checks     []jsonCheck    `json:"checks"`
	Recomputed jsonRecomputed `json:"recomputed"`
	Score      *jsonScore     `json:"score,omitempty"`
	EngineMs   int64          `json:"engine_ms"`
	TotalMs    int64          `json:"total_ms"`
}

type jsonScore struct {
	Tokens    int     `json:"tokens"`
	Truncated int     `json:"truncated,omitempty"`
	LogLik    float64 `json:"log_likelihood"`
	Entropy   float64 `json:"entropy"`
	Excess    float64 `json:"excess_nats_per_token"`
	Z         float64 `json:"z"`
}

type jsonCheck struct {
	Name       string `json:"name"`
	Status     string `json:"status"`
	Claimed    string `json:"claimed,omitempty"`
	Recomputed string `json:"recomputed,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

type jsonRecomputed struct {
	OutputSHA256     string `json:"output_sha256,omitempty"`
	PromptTokens     uint64 `json:"prompt_tokens"`
	CompletionTokens uint64 `json:"completion_tokens"`
	RecordSHA256     string `json:"record_sha256,omitempty"`
}

func writeJSON(w io.Writer, job inferencetypes.Job, vd verifier.Verdict) error {
	out := jsonVerdict{JobID: vd.JobID, JobStatus: job.Status.String(), Provider: vd.Provider, Method: vd.Method,
		OK: vd.OK(), Mismatch: vd.Mismatch(), EngineMs: vd.Engine.Milliseconds(), TotalMs: vd.Total.Milliseconds(),
		Recomputed: jsonRecomputed{OutputSHA256: vd.RecomputedSHA256, PromptTokens: vd.RecomputedPromptTokens,
			CompletionTokens: vd.RecomputedCompletionTokens, RecordSHA256: vd.RecomputedSummary.RecordSha256}}
	if vd.Score != nil {
		s := vd.Score
		out.Score = &jsonScore{Tokens: s.Tokens, Truncated: s.Truncated, LogLik: s.LogLik, Entropy: s.Entropy, Excess: s.Excess(), Z: s.Z()}
	}
	for _, c := range vd.Checks() {
		out.Checks = append(out.Checks, jsonCheck{Name: c.Name, Status: c.Status.String(), Claimed: c.Claimed, Recomputed: c.Recomputed, Reason: c.Reason})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
