package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/client/flags"

	"github.com/openledger/openledger/provider/verifier"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// ErrSettlementMismatch is returned when a claim of the settlement does not hold.
var ErrSettlementMismatch = errors.New("the settlement does not hold")

// ErrSettlementUnverified is returned when no claim failed but some could not be checked.
var ErrSettlementUnverified = errors.New("the settlement could not be fully checked")

func newSettlementCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "settlement [settlement-id]",
		Short: "Recompute a session settlement's requests from its batch record and compare them with its claims",
		Long: `Reads session settlement SETTLEMENT_ID, its session and its provider's registration from
the chain (--node), fetches the batch record the provider published at the settlement's
record_cid from IPFS (the node of --home), and checks it the way a committee member does:

  record       its sha256 is the summary's record_sha256; it decodes; it is the record of
               the settlement's session and voucher; its receipts name this chain and
               the provider and give the settlement's receipts root (the requester
               checked their signatures before signing it) — otherwise the
               attribution claim fails
  each request the generation is replayed from the recorded body and run again on the
               built-in engine (the receipt's model version; other engines: the output is
               scored, --max-z), its tokens recounted and its output re-attributed, as
               'verify receipt' does for a job
  output       every request's output holds
  attribution  every request's attribution holds and their merge is the settlement's
               summary
  usage        no request over-counts its tokens

One line per request is printed, then the three checks. The command exits non-zero when
a claim does not hold (and prints the challenge command) or could not be checked (the
record unavailable, say). --output json prints the verdict as JSON.`,
		Args: cobra.ExactArgs(1),
		RunE: runSettlement,
	}
	addVerifyFlags(cmd)
	return cmd
}

func runSettlement(cmd *cobra.Command, args []string) error {
	id, clientCtx, ctx, err := targetArgs(cmd, args[0], "settlement-id")
	if err != nil {
		return err
	}
	chain := verifier.ChainQueries{Query: inferencetypes.NewQueryClient(clientCtx), Network: clientCtx.ChainID}
	if chain.Network == "" && clientCtx.Client != nil {
		st, err := clientCtx.Client.Status(ctx)
		if err != nil {
			return fmt.Errorf("the chain id (not configured; asking the node): %w", err)
		}
		chain.Network = st.NodeInfo.Network
	}
	if _, err := chain.Settlement(ctx, id); err != nil {
		return fmt.Errorf("settlement %d: %w", id, err)
	}
	var sv verifier.SettlementVerdict
	err = withVerifier(cmd, clientCtx, chain, func(ctx context.Context, v *verifier.Verifier) (err error) {
		sv, err = v.VerifySettlement(ctx, id)
		return err
	})
	if err != nil {
		return err
	}
	if clientCtx.OutputFormat == flags.OutputFormatJSON {
		if err := writeSettlementJSON(cmd.OutOrStdout(), sv); err != nil {
			return err
		}
	} else {
		writeSettlementText(cmd.OutOrStdout(), sv)
	}
	return outcomeOf(sv.Checks(), ErrSettlementMismatch, ErrSettlementUnverified)
}

// writeSettlementText prints the verdict: one line per request, one block per
// settlement-wide check, then the outcome and, on a mismatch, how to challenge.
func writeSettlementText(w io.Writer, sv verifier.SettlementVerdict) {
	fmt.Fprintf(w, "Settlement %d of session %d (voucher %d) by %s\n", sv.SettlementID, sv.SessionID, sv.Sequence, sv.Provider)
	fmt.Fprintf(w, "  deployment %d, %d tokens, %s, challenge window ends at height %d\n",
		sv.DeploymentID, sv.ClaimedTokens, sv.Status, sv.ChallengeEndHeight)
	fmt.Fprintf(w, "  batch record %s: %d requests checked in %s (engine %s)\n\n",
		sv.RecordCID, len(sv.Requests), sv.Total.Round(1e6), sv.Engine.Round(1e6))
	for _, vd := range sv.Requests {
		method := vd.Method
		if method == "" {
			method = "not run"
		}
		fmt.Fprintf(w, "request %-4d %-13s output %s, attribution %s, usage %s\n", vd.Request, method, vd.Output.Status, vd.Attribution.Status, vd.Usage.Status)
		for _, c := range vd.Checks() {
			if c.Status != verifier.Pass && c.Reason != "" {
				fmt.Fprintf(w, "  %s: %s\n", c.Name, c.Reason)
			}
		}
	}
	if len(sv.Requests) > 0 {
		fmt.Fprintln(w)
	}
	writeChecks(w, sv.Checks())
	fmt.Fprintln(w)
	switch {
	case sv.Mismatch():
		writeChallenge(w, "settlement", "session-settlement", sv.SettlementID, sv.ChallengeEndHeight, sv.Checks())
	case sv.OK():
		fmt.Fprintln(w, "Every claim holds.")
	case sv.RecordUnavailable:
		fmt.Fprintln(w, "The batch record could not be fetched: try again later (a committee votes against a settlement whose record stays unavailable).")
	default:
		fmt.Fprintln(w, "No claim failed, but some could not be checked (see above).")
	}
}

// jsonSettlement is the verdict as --output json prints it.
type jsonSettlement struct {
	SettlementID      uint64          `json:"settlement_id"`
	SessionID         uint64          `json:"session_id"`
	Provider          string          `json:"provider"`
	RecordCID         string          `json:"record_cid"`
	RecordUnavailable bool            `json:"record_unavailable,omitempty"`
	OK                bool            `json:"ok"`
	Mismatch          bool            `json:"mismatch"`
	Checks            []jsonCheck     `json:"checks"`
	Requests          []jsonRequest   `json:"requests"`
	Established       jsonEstablished `json:"established"`
	EngineMs          int64           `json:"engine_ms"`
	TotalMs           int64           `json:"total_ms"`
}

type jsonRequest struct {
	Request uint64      `json:"request"`
	Method  string      `json:"method"`
	Checks  []jsonCheck `json:"checks"`
}

type jsonEstablished struct {
	Output           string `json:"output"`
	CompletionTokens uint64 `json:"completion_tokens"`
	RecordCID        string `json:"record_cid,omitempty"`
	RecordSHA256     string `json:"record_sha256,omitempty"`
}

func checksJSON(cs []verifier.NamedCheck) []jsonCheck {
	var out []jsonCheck
	for _, c := range cs {
		out = append(out, jsonCheck{Name: c.Name, Status: c.Status.String(), Claimed: c.Claimed, Recomputed: c.Recomputed, Reason: c.Reason})
	}
	return out
}

func writeSettlementJSON(w io.Writer, sv verifier.SettlementVerdict) error {
	out, tokens, cid, sum := sv.Established()
	j := jsonSettlement{SettlementID: sv.SettlementID, SessionID: sv.SessionID, Provider: sv.Provider, RecordCID: sv.RecordCID,
		RecordUnavailable: sv.RecordUnavailable, OK: sv.OK(), Mismatch: sv.Mismatch(), Checks: checksJSON(sv.Checks()),
		Established: jsonEstablished{Output: out, CompletionTokens: tokens, RecordCID: cid, RecordSHA256: sum.RecordSha256},
		EngineMs:    sv.Engine.Milliseconds(), TotalMs: sv.Total.Milliseconds()}
	for _, vd := range sv.Requests {
		j.Requests = append(j.Requests, jsonRequest{Request: vd.Request, Method: vd.Method, Checks: checksJSON(vd.Checks())})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(j)
}
