package feedback

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"

	gw "github.com/openledger/openledger/gateway"
	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/ml/train"
	"github.com/openledger/openledger/storage"
	storagecli "github.com/openledger/openledger/storage/cli"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

const (
	flagText     = "text"
	flagPrompt   = "prompt"
	flagRejected = "rejected"
	flagRating   = "rating"
	flagSFT      = "sft"

	// maxFetched bounds a prompt or output read back from IPFS.
	maxFetched = 1 << 20
)

func newPreferCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prefer [inference] --text COMPLETION",
		Short: "Submit the completion you would have preferred; it becomes your contribution to the deployment's feedback datanet",
		Long: `Writes one JSON-lines record — {"prompt","chosen","rejected"} (a preference pair for DPO), or
{"prompt","response"} with --sft (an instruction example) — adds it and the completion to
the local IPFS node (through its daemon when one runs), and submits MsgSubmitFeedback with
the record's CID, SHA-256 and size, the completion as the preferred and chosen output, and
the served output as the rejected one.

For a job the prompt and the served output are read from IPFS by the CIDs on chain (the
job's input and its receipt's output); --prompt and --rejected override them. A session
request's prompt is not on chain: it is read from the receipt store of the gateway that
served it (this --home), or give --prompt (and --rejected unless --sft).`,
		Example: `  openledgerd feedback prefer 12 --text "A stitch in time saves nine." --from alice --fees 2000uopen -y
  openledgerd feedback prefer 12 --sft --text "..." --from alice`,
		Args: cobra.ExactArgs(1),
		RunE: runPrefer,
	}
	cmd.Flags().String(flagText, "", "the completion you prefer (required)")
	cmd.Flags().String(flagPrompt, "", "the prompt (default: the job's input from IPFS)")
	cmd.Flags().String(flagRejected, "", "the completion you reject (default: the job's served output from IPFS)")
	cmd.Flags().String(flagRating, "-1", "rating of the served output: +1 or -1")
	cmd.Flags().Bool(flagSFT, false, "write an instruction record {prompt, response} instead of a preference pair")
	addInferenceFlags(cmd)
	flags.AddTxFlagsToCmd(cmd)
	return cmd
}

func runPrefer(cmd *cobra.Command, args []string) error {
	msg, err := inferenceMsg(cmd, args[0])
	if err != nil {
		return err
	}
	text, _ := cmd.Flags().GetString(flagText)
	if text == "" {
		return errors.New("--text is required: the completion you prefer")
	}
	ratingArg, _ := cmd.Flags().GetString(flagRating)
	if msg.Rating, err = ParseRating(ratingArg); err != nil {
		return err
	}
	prompt, _ := cmd.Flags().GetString(flagPrompt)
	rejected, _ := cmd.Flags().GetString(flagRejected)
	sft, _ := cmd.Flags().GetBool(flagSFT)
	clientCtx, rater, err := raterContext(cmd)
	if err != nil {
		return err
	}
	msg.Rater = rater

	// A session request served by this home's gateway: its prompt (or chat
	// messages) and served output are in the gateway's receipt store.
	var msgs []train.Message
	if msg.SessionId > 0 && (prompt == "" || rejected == "" && !sft) {
		if rec, ok := storedRequest(clientCtx.HomeDir, msg.SessionId, msg.Receipt); ok {
			if prompt == "" {
				prompt, msgs = rec.Prompt, rec.Messages
			}
			if rejected == "" {
				rejected = rec.Output
			}
		}
	}
	var inputCID, outputCID string
	if msg.JobId > 0 && (prompt == "" || rejected == "" && !sft) && !clientCtx.Offline {
		if inputCID, outputCID, err = jobCIDs(cmd.Context(), clientCtx, msg.JobId); err != nil {
			return err
		}
	}
	err = storagecli.WithAPI(cmd, func(ctx context.Context, a storage.API) error {
		if prompt == "" && msgs == nil {
			if inputCID == "" {
				return fmt.Errorf("--%s is required: the prompt of a session request is not on chain", flagPrompt)
			}
			if prompt, err = fetchText(ctx, a, inputCID); err != nil {
				return fmt.Errorf("the job's prompt %s: %w (or give --%s)", inputCID, err, flagPrompt)
			}
		}
		if rejected == "" && !sft {
			if outputCID == "" {
				return fmt.Errorf("--%s is required: the served output of a session request is not on chain (or use --%s)", flagRejected, flagSFT)
			}
			if rejected, err = fetchText(ctx, a, outputCID); err != nil {
				return fmt.Errorf("the job's output %s: %w (or give --%s)", outputCID, err, flagRejected)
			}
		}
		record, err := gw.PreferenceRecord(prompt, msgs, text, rejected, sft)
		if err != nil {
			return err
		}
		digest := sha256.Sum256(record)
		reason := fmt.Sprintf("feedback sha256:%x", digest)
		recordCID, err := add(ctx, a, record, reason)
		if err != nil {
			return fmt.Errorf("adding the record to IPFS: %w", err)
		}
		chosen, err := add(ctx, a, []byte(text), reason)
		if err != nil {
			return fmt.Errorf("adding the completion to IPFS: %w", err)
		}
		msg.RecordCid, msg.RecordSha256, msg.RecordSize = recordCID, hex.EncodeToString(digest[:]), uint64(len(record))
		msg.PreferredCompletionCid = chosen
		if !sft {
			rejectedCID := outputCID
			if rejectedCID == "" || cmd.Flags().Changed(flagRejected) {
				if rejectedCID, err = add(ctx, a, []byte(rejected), reason); err != nil {
					return fmt.Errorf("adding the rejected completion to IPFS: %w", err)
				}
			}
			if rejectedCID != chosen {
				msg.ChosenCid, msg.RejectedCid = chosen, rejectedCID
			}
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "feedback record %s: %d bytes, sha256 %s\n", recordCID, len(record), msg.RecordSha256)
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := msg.CheckFields(); err != nil {
		return err
	}
	return broadcast(clientCtx, cmd.Flags(), msg)
}

// Record returns the feedback record line: a preference pair {"prompt","chosen",
// "rejected"}, or with sft an instruction example {"prompt","response"}, in the form
// the built-in trainer reads (ml/train).
func Record(prompt, chosen, rejected string, sft bool) ([]byte, error) {
	return gw.PreferenceRecord(prompt, nil, chosen, rejected, sft)
}

// storedRequest is the gateway's stored request whose receipt is receipt.
func storedRequest(home string, session uint64, receipt []byte) (gw.StoredReceipt, bool) {
	r, err := voucher.UnmarshalReceipt(receipt)
	if err != nil {
		return gw.StoredReceipt{}, false
	}
	store, err := gw.OpenReceipts(home)
	if err != nil {
		return gw.StoredReceipt{}, false
	}
	rec, ok, err := store.Get(session, r.RequestSeq)
	if err != nil || !ok || !rec.Known || !bytes.Equal(rec.Receipt, receipt) {
		return gw.StoredReceipt{}, false
	}
	return rec, true
}

// jobCIDs returns a job's input CID and, once it has a receipt, its output CID.
func jobCIDs(ctx context.Context, clientCtx client.Context, jobID uint64) (string, string, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	q := inferencetypes.NewQueryClient(clientCtx)
	j, err := q.Job(ctx, &inferencetypes.QueryJobRequest{JobId: jobID})
	if err != nil {
		return "", "", fmt.Errorf("job %d: %w", jobID, err)
	}
	r, err := q.Receipt(ctx, &inferencetypes.QueryReceiptRequest{JobId: jobID})
	if err != nil {
		return "", "", fmt.Errorf("job %d has no receipt yet, so it cannot be rated: %w", jobID, err)
	}
	return j.Job.InputCid, r.Receipt.OutputCid, nil
}

// fetchText reads a UnixFS file of at most maxFetched bytes.
func fetchText(ctx context.Context, a storage.API, s string) (string, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return "", err
	}
	rc, err := a.Cat(ctx, c)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxFetched+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxFetched {
		return "", fmt.Errorf("larger than %d bytes", maxFetched)
	}
	return string(b), nil
}

// add adds bytes to IPFS, pinned with reason, and returns the root CID.
func add(ctx context.Context, a storage.API, b []byte, reason string) (string, error) {
	res, err := a.Add(ctx, files.NewBytesFile(b), storage.AddOptions{PinReason: reason})
	if err != nil {
		return "", err
	}
	return res.RootStr, nil
}
