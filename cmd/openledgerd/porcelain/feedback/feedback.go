// Package feedback is the porcelain for rating inferences: `openledgerd feedback rate`
// signs MsgSubmitFeedback, and `openledgerd feedback prefer` first writes a preference
// (or instruction) record, adds it to the local IPFS node and attaches it, so that it
// becomes the rater's contribution to the deployment's feedback datanet.
package feedback

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"
	"github.com/cosmos/cosmos-sdk/types/query"

	gw "github.com/openledger/openledger/gateway"

	"github.com/openledger/openledger/inference/voucher"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
	"github.com/openledger/openledger/x/models/types"
)

const (
	flagSettlement = "settlement"
	flagReceipt    = "receipt"
	flagProof      = "proof"
)

// NewCmd returns the `feedback` command tree.
func NewCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "feedback",
		Short: "Rate inferences you paid for; preferred completions become attributed, paid data",
		Long: `Feedback goes on chain as MsgSubmitFeedback: only the requester of an inference may rate
it, once, within the feedback window, and only if it was paid. A preferred completion is
written as a JSON-lines record, added to the local IPFS node, and recorded as your
contribution to the deployment's feedback datanet; once its curators accept it and a
dataset version freezes it, versions trained on it pay you through their share tables.

INFERENCE names a job ("12" or "job:12") or a session request ("session:5:3" for request 3
of session 5, the id the gateway returns in X-Openledger-Request). For a session request
served by the gateway of this --home, its receipt and Merkle proof come from the gateway's
receipt store and the settlement from the chain; otherwise give --settlement, --receipt and
--proof.`,
		RunE: client.ValidateCmd,
	}
	cmd.AddCommand(newRateCmd(), newPreferCmd())
	return cmd
}

func newRateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rate [inference] [+1|-1]",
		Short:   "Rate an inference you requested: +1 (good) or -1 (bad)",
		Example: "  openledgerd feedback rate 12 +1 --from alice --fees 2000uopen -y\n  openledgerd feedback rate 12 -1 --from alice --fees 2000uopen -y",
		Args:    rateArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			msg, err := inferenceMsg(cmd, args[0])
			if err != nil {
				return err
			}
			rating := "-1" // `rate 12 -1`: the flag parser took -1 as the hidden -1 shorthand
			if len(args) == 2 {
				rating = args[1]
			}
			if msg.Rating, err = ParseRating(rating); err != nil {
				return err
			}
			clientCtx, rater, err := raterContext(cmd)
			if err != nil {
				return err
			}
			msg.Rater = rater
			if _, err := msg.CheckFields(); err != nil {
				return err
			}
			return broadcast(clientCtx, cmd.Flags(), msg)
		},
	}
	addInferenceFlags(cmd)
	// "-1" looks like a shorthand flag to the flag parser; a hidden bool with that
	// shorthand makes `rate 12 -1` mean what it says.
	cmd.Flags().BoolP(flagMinusOne, "1", false, "the rating -1")
	_ = cmd.Flags().MarkHidden(flagMinusOne)
	flags.AddTxFlagsToCmd(cmd)
	return cmd
}

const flagMinusOne = "minus-one"

// rateArgs wants [inference] [rating], or [inference] alone after a bare -1.
func rateArgs(cmd *cobra.Command, args []string) error {
	minus, _ := cmd.Flags().GetBool(flagMinusOne)
	switch {
	case minus && len(args) == 1:
		return nil
	case minus:
		return fmt.Errorf("rate takes an inference and one rating; got -1 and %d other argument(s)", len(args))
	case len(args) != 2:
		return fmt.Errorf("rate takes an inference and a rating (+1 or -1), e.g. `feedback rate 12 +1`; got %d argument(s)", len(args))
	}
	return nil
}

func addInferenceFlags(cmd *cobra.Command) {
	cmd.Flags().Uint64(flagSettlement, 0, "session requests: the settlement whose receipts root holds the request")
	cmd.Flags().String(flagReceipt, "", "session requests: the provider's signed receipt (base64 of the canonical bytes)")
	cmd.Flags().String(flagProof, "", "session requests: the receipt's Merkle audit path, comma-separated hex hashes from the leaf up")
}

// raterContext returns the tx client context and the --from address.
func raterContext(cmd *cobra.Command) (client.Context, string, error) {
	clientCtx, err := client.GetClientTxContext(cmd)
	if err != nil {
		return clientCtx, "", err
	}
	from := clientCtx.GetFromAddress()
	if from.Empty() {
		return clientCtx, "", fmt.Errorf("--from is required: the key that requested (and paid for) the inference")
	}
	rater, err := clientCtx.InterfaceRegistry.SigningContext().AddressCodec().BytesToString(from)
	return clientCtx, rater, err
}

// ParseRating reads "+1", "1", "up" as UP and "-1", "down" as DOWN.
func ParseRating(s string) (types.FeedbackRating, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "+1", "1", "up":
		return types.FEEDBACK_RATING_UP, nil
	case "-1", "down":
		return types.FEEDBACK_RATING_DOWN, nil
	}
	return types.FEEDBACK_RATING_UNSPECIFIED, fmt.Errorf("rating %q: use +1 or -1", s)
}

// Inference is a parsed INFERENCE argument.
type Inference struct {
	JobID      uint64
	SessionID  uint64
	RequestSeq uint64
}

// ParseInference reads "12" or "job:12" (a job) and "session:5:3" (request 3 of session 5).
func ParseInference(s string) (Inference, error) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	num := func(p, what string) (uint64, error) {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("inference %q: %s must be a positive integer", s, what)
		}
		return n, nil
	}
	switch {
	case len(parts) == 1:
		id, err := num(parts[0], "the job id")
		return Inference{JobID: id}, err
	case len(parts) == 2 && parts[0] == "job":
		id, err := num(parts[1], "the job id")
		return Inference{JobID: id}, err
	case len(parts) == 3 && parts[0] == "session":
		sid, err := num(parts[1], "the session id")
		if err != nil {
			return Inference{}, err
		}
		seq, err := num(parts[2], "the request number")
		return Inference{SessionID: sid, RequestSeq: seq}, err
	}
	return Inference{}, fmt.Errorf("inference %q: use JOB, job:JOB or session:SESSION:REQUEST", s)
}

// inferenceMsg parses the INFERENCE argument and the session flags into a msg.
func inferenceMsg(cmd *cobra.Command, arg string) (*types.MsgSubmitFeedback, error) {
	inf, err := ParseInference(arg)
	if err != nil {
		return nil, err
	}
	settlement, _ := cmd.Flags().GetUint64(flagSettlement)
	receipt, _ := cmd.Flags().GetString(flagReceipt)
	proof, _ := cmd.Flags().GetString(flagProof)
	if inf.SessionID > 0 && receipt == "" && proof == "" {
		if settlement, receipt, proof, err = fromGateway(cmd, inf, settlement); err != nil {
			return nil, err
		}
	}
	return BuildInferenceMsg(inf, settlement, receipt, proof)
}

// fromGateway finds a session request's receipt in the receipt store of the
// gateway home (<home>/gateway/receipts/, written by `openledgerd gateway` and
// `infer`), the settlement covering it on chain (unless given), and builds
// the receipt's proof under that settlement's receipts root.
func fromGateway(cmd *cobra.Command, inf Inference, settlement uint64) (uint64, string, string, error) {
	clientCtx, err := client.GetClientQueryContext(cmd)
	if err != nil {
		return 0, "", "", err
	}
	store, err := gw.OpenReceipts(clientCtx.HomeDir)
	if err != nil {
		return 0, "", "", err
	}
	id := gw.RequestID(inf.SessionID, inf.RequestSeq)
	if _, ok, err := store.Get(inf.SessionID, inf.RequestSeq); err != nil || !ok {
		return 0, "", "", fmt.Errorf("%s is not in the gateway receipts of %s (%v): give --%s, --%s and --%s", id, clientCtx.HomeDir, err,
			flagSettlement, flagReceipt, flagProof)
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	q := inferencetypes.NewQueryClient(clientCtx)
	var sts []gw.Settlement
	var next []byte
	for range 100 {
		res, err := q.SessionSettlements(ctx, &inferencetypes.QuerySessionSettlementsRequest{SessionId: inf.SessionID, Pagination: &query.PageRequest{Key: next, Limit: 200}})
		if err != nil {
			return 0, "", "", fmt.Errorf("settlements of session %d: %w", inf.SessionID, err)
		}
		for _, st := range res.Settlements {
			sts = append(sts, gw.Settlement{ID: st.Id, FirstRequest: st.FirstRequest, Requests: st.Requests, ReceiptsRoot: st.ReceiptsRoot})
		}
		if res.Pagination == nil || len(res.Pagination.NextKey) == 0 {
			break
		}
		next = res.Pagination.NextKey
	}
	var st gw.Settlement
	for _, s := range sts {
		if settlement == 0 && s.Covers(inf.RequestSeq) || settlement != 0 && s.ID == settlement {
			st = s
		}
	}
	if st.ID == 0 || !st.Covers(inf.RequestSeq) {
		return 0, "", "", fmt.Errorf("%s is not in a settlement of session %d yet: rate it once the provider has settled it", id, inf.SessionID)
	}
	receipt, proof, root, err := store.Proof(inf.SessionID, inf.RequestSeq, st.FirstRequest+st.Requests-1)
	if err != nil {
		return 0, "", "", err
	}
	if !bytes.Equal(root[:], st.ReceiptsRoot) {
		return 0, "", "", fmt.Errorf("the gateway receipts of session %d do not hash to settlement %d's receipts root", inf.SessionID, st.ID)
	}
	hs := make([]string, len(proof))
	for i, h := range proof {
		hs[i] = hex.EncodeToString(h[:])
	}
	return st.ID, base64.StdEncoding.EncodeToString(receipt), strings.Join(hs, ","), nil
}

// BuildInferenceMsg fills the inference fields of a MsgSubmitFeedback. A session request
// needs its settlement, its receipt (base64) and its proof (comma-separated hex); a job
// takes none of them.
func BuildInferenceMsg(inf Inference, settlement uint64, receiptB64, proofHex string) (*types.MsgSubmitFeedback, error) {
	if inf.JobID > 0 {
		if settlement != 0 || receiptB64 != "" || proofHex != "" {
			return nil, fmt.Errorf("--%s, --%s and --%s are for session requests, not jobs", flagSettlement, flagReceipt, flagProof)
		}
		return &types.MsgSubmitFeedback{JobId: inf.JobID}, nil
	}
	if settlement == 0 || receiptB64 == "" {
		return nil, fmt.Errorf("a session request needs --%s and --%s (and --%s unless the session settled one request), "+
			"or the gateway receipts under --home", flagSettlement, flagReceipt, flagProof)
	}
	receipt, err := base64.StdEncoding.DecodeString(receiptB64)
	if err != nil {
		if receipt, err = base64.RawURLEncoding.DecodeString(receiptB64); err != nil {
			return nil, fmt.Errorf("--%s: not base64: %w", flagReceipt, err)
		}
	}
	r, err := voucher.UnmarshalReceipt(receipt)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flagReceipt, err)
	}
	if r.SessionID != inf.SessionID || r.RequestSeq != inf.RequestSeq {
		return nil, fmt.Errorf("--%s is the receipt of session %d request %d, not of %d:%d",
			flagReceipt, r.SessionID, r.RequestSeq, inf.SessionID, inf.RequestSeq)
	}
	var proof [][]byte
	if proofHex != "" {
		for i, h := range strings.Split(proofHex, ",") {
			b, err := hex.DecodeString(strings.TrimSpace(h))
			if err != nil || len(b) != 32 {
				return nil, fmt.Errorf("--%s: hash %d is not 64 hex digits", flagProof, i)
			}
			proof = append(proof, b)
		}
	}
	return &types.MsgSubmitFeedback{SessionId: inf.SessionID, SettlementId: settlement, Receipt: receipt, Proof: proof}, nil
}
