package inference

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"
	"github.com/cosmos/cosmos-sdk/client/tx"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/x/inference/types"
)

const (
	flagOutput           = "output-file"
	flagOutputText       = "output-text"
	flagPromptTokens     = "prompt-tokens"
	flagCompletionTokens = "completion-tokens"
	flagEngineVersion    = "engine-version"
)

// NewSubmitReceiptCmd is `tx inference submit-receipt JOB_ID`.
func NewSubmitReceiptCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "submit-receipt [job-id] (--output-file FILE | --output-text TEXT) --record FILE --prompt-tokens N --completion-tokens N --engine NAME --engine-version V",
		Short: "Post the receipt of an awarded job, signed by the provider's libp2p identity",
		Long: `Posts the winner's receipt for a job. The output and the attribution record (as
written by 'openledgerd attribution explain') are added and pinned on the local IPFS
node; the record is summarised (its top contributions, up to the chain's max_top_k or
--top-k-entries, the rest folded into the dataset-version pools); the receipt — job, output
CID and sha256, token counts, engine, the job's model version, record CID and summary — is
signed with the provider's libp2p identity (--identity, default
<home>/provider/identity.key), whose peer id the chain has on record. The provider daemon
does all of this by itself; this command is the manual path.`,
		Args: cobra.ExactArgs(1),
		RunE: runSubmitReceipt,
	}
	cmd.Flags().String(flagOutput, "", "output file")
	cmd.Flags().String(flagOutputText, "", "output text")
	cmd.Flags().String(flagRecord, "", "attribution record file (required)")
	cmd.Flags().Int(flagTopK, 0, "top entries to keep in the summary (default and bound: the chain's max_top_k)")
	cmd.Flags().Uint64(flagPromptTokens, 0, "prompt tokens counted")
	cmd.Flags().Uint64(flagCompletionTokens, 0, "completion tokens generated")
	cmd.Flags().String(flagEngine, "openledger-ml", "engine that ran")
	cmd.Flags().String(flagEngineVersion, "", "engine version that ran (required)")
	addIdentityFlag(cmd)
	_ = cmd.MarkFlagRequired(flagRecord)
	_ = cmd.MarkFlagRequired(flagEngineVersion)
	flags.AddTxFlagsToCmd(cmd)
	return cmd
}

func runSubmitReceipt(cmd *cobra.Command, args []string) error {
	jobID, err := strconv.ParseUint(args[0], 10, 64)
	if err != nil || jobID == 0 {
		return fmt.Errorf("job-id %q: must be a positive integer", args[0])
	}
	clientCtx, err := client.GetClientTxContext(cmd)
	if err != nil {
		return err
	}
	operator, err := fromAddress(clientCtx, "the provider's operator account")
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
		cmd.SetContext(ctx)
	}
	job, err := types.NewQueryClient(clientCtx).Job(ctx, &types.QueryJobRequest{JobId: jobID})
	if err != nil {
		return fmt.Errorf("job %d: %w", jobID, err)
	}
	if job.Job.Status != types.JOB_STATUS_AWARDED || job.Job.Winner != operator {
		return fmt.Errorf("job %d is %s and awarded to %q: only its winner can post a receipt while it is AWARDED", jobID, job.Job.Status, job.Job.Winner)
	}
	key, _, err := loadIdentity(cmd, false)
	if err != nil {
		return err
	}
	out, err := readContent(cmd, flagOutput, flagOutputText)
	if err != nil {
		return err
	}
	if out == nil {
		return fmt.Errorf("the output is required: --%s FILE or --%s TEXT", flagOutput, flagOutputText)
	}
	k, err := topK(cmd, clientCtx)
	if err != nil {
		return err
	}
	recPath, _ := cmd.Flags().GetString(flagRecord)
	rec, summary, err := recordSummary(recPath, k)
	if err != nil {
		return err
	}
	cids, err := addToIPFS(cmd, fmt.Sprintf("job %d", jobID), out, rec)
	if err != nil {
		return err
	}
	prompt, _ := cmd.Flags().GetUint64(flagPromptTokens)
	completion, _ := cmd.Flags().GetUint64(flagCompletionTokens)
	engine, _ := cmd.Flags().GetString(flagEngine)
	engineVersion, _ := cmd.Flags().GetString(flagEngineVersion)
	outSHA, err := decodeHex32("output sha256", out.sha256)
	if err != nil {
		return err
	}
	r, err := voucher.SignReceipt(voucher.Receipt{
		ChainID: clientCtx.ChainID, Provider: operator, JobID: jobID,
		OutputCID: cids[0], OutputSHA256: outSHA, PromptTokens: prompt, CompletionTokens: completion,
		EngineName: engine, EngineVersion: engineVersion,
		ModelID: job.Job.ModelId, ModelVersion: job.Job.ModelVersion,
		RecordCID: cids[1], Summary: types.VoucherSummary(summary),
	}, key)
	if err != nil {
		return fmt.Errorf("signing the receipt: %w", err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "output %s (sha256 %s), record %s, %d top entries, %d pools\n",
		cids[0], out.sha256, cids[1], len(summary.Top), len(summary.Pools))
	msg := &types.MsgSubmitReceipt{
		Provider: operator, JobId: jobID, OutputCid: cids[0], OutputSha256: hex.EncodeToString(outSHA[:]),
		PromptTokens: prompt, CompletionTokens: completion, EngineName: engine, EngineVersion: engineVersion,
		RecordCid: cids[1], Summary: summary, Signature: r.Signature,
	}
	return tx.GenerateOrBroadcastTxCLI(clientCtx, cmd.Flags(), msg)
}
