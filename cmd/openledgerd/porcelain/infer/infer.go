// Package infer is `openledgerd infer`: one request to a deployment from the
// shell, through the gateway package in-process (the same provider choice,
// sessions, vouchers and receipt checks as `openledgerd gateway`, over the
// same session state under --home), with the completion streamed to stdout.
package infer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gwporcelain "github.com/openledger/openledger/cmd/openledgerd/porcelain/gateway"
	gw "github.com/openledger/openledger/gateway"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
	modelstypes "github.com/openledger/openledger/x/models/types"
)

const (
	flagDeployment  = "deployment"
	flagMaxTokens   = "max-tokens"
	flagChat        = "chat"
	flagTemperature = "temperature"
	flagSeed        = "seed"
	flagVerbose     = "verbose"
)

// NewCmd is `openledgerd infer`.
func NewCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "infer --deployment D --budget AMOUNT --from KEY PROMPT",
		Short: "Run one prompt on a deployment and stream the completion to stdout, paid by a session voucher",
		Long: `Sends PROMPT to deployment D (an id, or a name given with --alias NAME=ID) exactly as
` + "`openledgerd gateway`" + ` would: it picks a provider (cheapest, then fastest), reuses an open
session of this home or opens one within --budget, signs and persists the voucher,
verifies the provider's receipt and acknowledges it with a voucher naming it (the session
stays open for the next call; the provider can settle the request with its attribution).
Tokens are written to stdout as they arrive; the receipt summary (provider, session,
tokens, amount, output digest) goes to stderr at the end.
The session state is the gateway's (<home>/gateway/): do not run both on one home at once.`,
		Example: `openledgerd infer --deployment 1 --budget 10000000uopen --from alice "Once upon a time"
openledgerd infer --deployment tiny --alias tiny=1 --chat --budget 10000000uopen --from alice "Hello"`,
		Args: cobra.ExactArgs(1),
		RunE: run,
	}
	cmd.Flags().String(flagDeployment, "", "deployment id, or an --alias name (required)")
	cmd.Flags().Uint64(flagMaxTokens, 128, "most completion tokens")
	cmd.Flags().Bool(flagChat, false, "send the prompt as a user message of a chat (the provider's chat template)")
	cmd.Flags().Float64(flagTemperature, -1, "sampling temperature in [0, 2] (default: the provider's, 1)")
	cmd.Flags().Int64(flagSeed, -1, "sampler seed (default: the provider's)")
	cmd.Flags().Bool(flagVerbose, false, "log the gateway's steps to stderr")
	_ = cmd.MarkFlagRequired(flagDeployment)
	gwporcelain.AddFlags(cmd)
	return cmd
}

func run(cmd *cobra.Command, args []string) error {
	prompt := args[0]
	if strings.TrimSpace(prompt) == "" {
		return errors.New("the prompt is empty")
	}
	model, _ := cmd.Flags().GetString(flagDeployment)
	in := gw.InferRequest{Model: model, Prompt: prompt}
	in.MaxTokens, _ = cmd.Flags().GetUint64(flagMaxTokens)
	in.Chat, _ = cmd.Flags().GetBool(flagChat)
	if in.MaxTokens == 0 {
		return fmt.Errorf("--%s must be at least 1", flagMaxTokens)
	}
	if cmd.Flags().Changed(flagTemperature) {
		t, _ := cmd.Flags().GetFloat64(flagTemperature)
		if t < 0 || t > 2 {
			return fmt.Errorf("--%s %v: want a value in [0, 2]", flagTemperature, t)
		}
		in.Temperature = &t
	}
	if cmd.Flags().Changed(flagSeed) {
		s, _ := cmd.Flags().GetInt64(flagSeed)
		if s < 0 {
			return fmt.Errorf("--%s must not be negative", flagSeed)
		}
		in.Seed = &s
	}
	level := slog.LevelWarn
	if v, _ := cmd.Flags().GetBool(flagVerbose); v {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	env, err := gwporcelain.Open(cmd, log, 0)
	if err != nil {
		return err
	}
	defer env.Close()
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dep, err := check(ctx, env, model)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	res, err := env.Gateway.Infer(ctx, in, func(piece string) {
		_, _ = io.WriteString(out, piece)
	})
	if err != nil {
		return explain(env, dep, err)
	}
	if !strings.HasSuffix(res.Text, "\n") {
		_, _ = io.WriteString(out, "\n")
	}
	rc := res.Receipt
	fmt.Fprintf(cmd.ErrOrStderr(), "receipt: provider %s (%s), session %d, request %d: %d prompt + %d completion tokens, %s%s (session total %s%s), request sha256 %s, output sha256 %s\n",
		res.Provider, res.Endpoint, res.SessionID, rc.RequestSeq, rc.PromptTokens, rc.CompletionTokens, res.Amount, res.Denom,
		res.SessionAmount, res.Denom, hex.EncodeToString(rc.RequestSHA256[:]), hex.EncodeToString(rc.OutputSHA256[:]))
	fmt.Fprintf(cmd.ErrOrStderr(), "feedback: openledgerd feedback rate session:%d:%d +1|-1 (or feedback prefer … --text BETTER) once the provider has settled it\n",
		res.SessionID, rc.RequestSeq)
	return nil
}

// check resolves the deployment and fails early, with a clear message, when
// it does not exist, no provider offers it, or the account cannot pay a new
// session's deposit.
func check(ctx context.Context, env *gwporcelain.Env, model string) (uint64, error) {
	dep, ok := env.Gateway.Deployment(model)
	if !ok {
		return 0, fmt.Errorf("--%s %q is neither a deployment id nor an --alias name", flagDeployment, model)
	}
	if _, err := env.Client.Models().Deployment(ctx, &modelstypes.QueryDeploymentRequest{DeploymentId: dep}); err != nil {
		if status.Code(err) == codes.NotFound || strings.Contains(err.Error(), modelstypes.ErrDeploymentNotFound.Error()) {
			return 0, fmt.Errorf("deployment %d does not exist (list them with `openledgerd query models deployments`)", dep)
		}
		return 0, fmt.Errorf("looking deployment %d up: %w", dep, err)
	}
	offers, err := env.Client.Inference().Offers(ctx, &inferencetypes.QueryOffersRequest{DeploymentId: dep, ActiveOnly: true})
	if err != nil {
		return 0, fmt.Errorf("offers of deployment %d: %w", dep, err)
	}
	if len(offers.Offers) == 0 {
		return 0, fmt.Errorf("no provider offers deployment %d: no active provider has an offer for it", dep)
	}
	if !env.Gateway.HasSession(dep) {
		bal, err := env.Client.Balance(ctx, env.Client.Address(), env.Budget.Denom)
		if err == nil && bal.Amount.LT(env.Deposit) {
			return 0, fmt.Errorf("no funds: %s holds %s, and a new session needs a deposit of %s%s plus fees (fund the account or lower --deposit)",
				env.Client.Address(), bal, env.Deposit, env.Budget.Denom)
		}
	}
	return dep, nil
}

// explain turns the gateway's failure into the user's terms.
func explain(env *gwporcelain.Env, dep uint64, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "insufficient funds"):
		return fmt.Errorf("no funds: %s cannot pay the session deposit for deployment %d: %w", env.Client.Address(), dep, err)
	case strings.Contains(msg, "budget") && strings.Contains(msg, "exhausted"):
		return fmt.Errorf("the --budget is spent by this home's sessions (close them with `openledgerd session close`, or raise --budget): %w", err)
	}
	var ie *gw.InferError
	if errors.As(err, &ie) && ie.Code == "no_provider" {
		return fmt.Errorf("no provider could serve deployment %d: %s", dep, ie.Message)
	}
	return err
}
