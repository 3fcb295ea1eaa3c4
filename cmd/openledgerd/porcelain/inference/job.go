package inference

import (
	"fmt"
	"math"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"
	"github.com/cosmos/cosmos-sdk/client/tx"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/inference/types"
)

const (
	flagInput       = "input"
	flagInputCID    = "input-cid"
	flagInputSHA    = "input-sha256"
	flagMaxTokens   = "max-tokens"
	flagMaxPrice    = "max-price"
	flagBidWindow   = "bid-window"
	flagExecBlocks  = "execution-blocks"
	flagTemperature = "temperature"
	flagTopKSample  = "top-k"
	flagTopP        = "top-p"
	flagSeed        = "seed"
	flagStop        = "stop"
)

// NewCreateJobCmd is `tx inference create-job DEPLOYMENT_ID`.
func NewCreateJobCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create-job [deployment-id] (--input FILE | --input-text TEXT | --input-cid CID --input-sha256 HEX) --max-tokens N --max-price AMOUNT",
		Short: "Post a batch inference job: the prompt goes to IPFS, the most it can cost is escrowed",
		Long: `Posts a job for a deployment. The prompt (--input FILE or --input-text TEXT) is added and
pinned on the local IPFS node and its CID and sha256 go on chain; or give --input-cid and
--input-sha256 for a prompt already on IPFS. Providers with an offer for the deployment bid
during --bid-window blocks; the lowest bid wins and has --execution-blocks to post a
receipt. The escrow is the most the job can cost: max-tokens × (max-price + the
deployment's royalty) / 1,000; what is not spent is refunded when the job ends.
Sampling: --temperature (0 = greedy), --top-k, --top-p, --seed, --stop (repeatable).`,
		Example: `openledgerd tx inference create-job 1 --input-text "Once upon a time" --max-tokens 256 \
  --max-price 500uopen --bid-window 5 --execution-blocks 20 --seed 7 --from bob --fees 2000uopen -y`,
		Args: cobra.ExactArgs(1),
		RunE: runCreateJob,
	}
	cmd.Flags().String(flagInput, "", "prompt file to add to IPFS")
	cmd.Flags().String(flagInput+"-text", "", "prompt text to add to IPFS")
	cmd.Flags().String(flagInputCID, "", "CID of a prompt already on IPFS (with --input-sha256)")
	cmd.Flags().String(flagInputSHA, "", "sha256 (hex) of the prompt bytes (with --input-cid)")
	cmd.Flags().Uint64(flagMaxTokens, 0, "most tokens (prompt + completion) the job may be charged for (required)")
	cmd.Flags().String(flagMaxPrice, "", "highest compute price per 1,000 tokens accepted, e.g. 500uopen (required)")
	cmd.Flags().Uint64(flagBidWindow, 5, "blocks during which providers bid")
	cmd.Flags().Uint64(flagExecBlocks, 20, "blocks the winner has to post its receipt")
	cmd.Flags().Float64(flagTemperature, 0, "sampling temperature (0: greedy)")
	cmd.Flags().Uint32(flagTopKSample, 0, "top-k sampling (0: off)")
	cmd.Flags().Float64(flagTopP, 0, "top-p sampling in (0, 1] (0: off)")
	cmd.Flags().Uint64(flagSeed, 0, "sampler seed")
	cmd.Flags().StringArray(flagStop, nil, "stop sequence (repeatable)")
	_ = cmd.MarkFlagRequired(flagMaxTokens)
	_ = cmd.MarkFlagRequired(flagMaxPrice)
	flags.AddTxFlagsToCmd(cmd)
	return cmd
}

func runCreateJob(cmd *cobra.Command, args []string) error {
	deploymentID, err := strconv.ParseUint(args[0], 10, 64)
	if err != nil || deploymentID == 0 {
		return fmt.Errorf("deployment-id %q: must be a positive integer", args[0])
	}
	clientCtx, err := client.GetClientTxContext(cmd)
	if err != nil {
		return err
	}
	requester, err := fromAddress(clientCtx, "the requester that pays")
	if err != nil {
		return err
	}
	maxPriceStr, _ := cmd.Flags().GetString(flagMaxPrice)
	maxPrice, err := sdk.ParseCoinNormalized(maxPriceStr)
	if err != nil {
		return fmt.Errorf("--%s %q: %w", flagMaxPrice, maxPriceStr, err)
	}
	temp, _ := cmd.Flags().GetFloat64(flagTemperature)
	topP, _ := cmd.Flags().GetFloat64(flagTopP)
	if math.IsNaN(temp) || temp < 0 || temp > types.MaxTemperatureMilli/1000 {
		return fmt.Errorf("--%s %v: must be in [0, %d]", flagTemperature, temp, types.MaxTemperatureMilli/1000)
	}
	if math.IsNaN(topP) || topP < 0 || topP > 1 {
		return fmt.Errorf("--%s %v: must be in [0, 1]", flagTopP, topP)
	}
	topK, _ := cmd.Flags().GetUint32(flagTopKSample)
	seed, _ := cmd.Flags().GetUint64(flagSeed)
	stops, _ := cmd.Flags().GetStringArray(flagStop)

	cid, _ := cmd.Flags().GetString(flagInputCID)
	sha, _ := cmd.Flags().GetString(flagInputSHA)
	in, err := readContent(cmd, flagInput, flagInput+"-text")
	if err != nil {
		return err
	}
	switch {
	case in != nil && (cid != "" || sha != ""):
		return fmt.Errorf("give the prompt either as --%s/--%s-text or as --%s with --%s", flagInput, flagInput, flagInputCID, flagInputSHA)
	case in == nil && (cid == "" || sha == ""):
		return fmt.Errorf("the prompt is required: --%s FILE, --%s-text TEXT, or --%s CID with --%s HEX", flagInput, flagInput, flagInputCID, flagInputSHA)
	case in != nil:
		cids, err := addToIPFS(cmd, fmt.Sprintf("job input deployment %d", deploymentID), in)
		if err != nil {
			return err
		}
		cid, sha = cids[0], in.sha256
		fmt.Fprintf(cmd.ErrOrStderr(), "prompt added: cid %s, %d bytes, sha256 %s\n", cid, len(in.bytes), sha)
	}
	maxTokens, _ := cmd.Flags().GetUint64(flagMaxTokens)
	window, _ := cmd.Flags().GetUint64(flagBidWindow)
	exec, _ := cmd.Flags().GetUint64(flagExecBlocks)
	msg := &types.MsgCreateJob{
		Requester: requester, DeploymentId: deploymentID, InputCid: cid, InputSha256: sha,
		MaxTokens: maxTokens, MaxComputePricePerThousandTokens: maxPrice,
		BidWindowBlocks: window, ExecutionBlocks: exec,
		Params: types.GenerationParams{
			TemperatureMilli: uint32(math.Round(temp * 1000)), TopK: topK,
			TopPPpm: uint32(math.Round(topP * 1_000_000)), Seed: seed, Stop: stops,
		},
	}
	return tx.GenerateOrBroadcastTxCLI(clientCtx, cmd.Flags(), msg)
}
