package inference

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	sdkmath "cosmossdk.io/math"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"
	"github.com/cosmos/cosmos-sdk/client/tx"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/internal/atomicfile"
	"github.com/openledger/openledger/x/inference/types"
)

const (
	flagExpiryBlocks = "expiry-blocks"
	flagAmount       = "amount"
	flagTokens       = "tokens"
	flagRequests     = "requests"
	flagRoot         = "receipts-root"
	flagSequence     = "sequence"
)

// sessionKey is a requester's session key on disk: <home>/sessions/<pubkey hex>.json.
type sessionKey struct {
	// Seed is the ed25519 seed (32 bytes).
	Seed []byte `json:"seed"`
	// LastSequence is the sequence of the last voucher signed with the key.
	LastSequence uint64 `json:"last_sequence"`
}

func sessionDir(cmd *cobra.Command) string {
	home, _ := cmd.Flags().GetString(flags.FlagHome)
	if home == "" {
		home = client.GetClientContextFromCmd(cmd).HomeDir
	}
	return filepath.Join(home, "sessions")
}

func sessionKeyPath(cmd *cobra.Command, pub []byte) string {
	return filepath.Join(sessionDir(cmd), hex.EncodeToString(pub)+".json")
}

func saveSessionKey(path string, k sessionKey) error {
	b, err := json.Marshal(k)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o600)
}

func loadSessionKey(path string) (sessionKey, error) {
	var k sessionKey
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return k, fmt.Errorf("no session key at %s: vouchers can only be signed on the machine (and --home) that opened the session", path)
		}
		return k, err
	}
	if err := json.Unmarshal(b, &k); err != nil || len(k.Seed) != ed25519.SeedSize {
		return k, fmt.Errorf("session key %s is corrupt", path)
	}
	return k, nil
}

// NewSessionCmd is the `session` command group: the requester's side of sessions.
func NewSessionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "session",
		Short: "Interactive inference sessions: open one with a deposit, sign vouchers, close it",
		Long: `A session pays a provider for many requests with one deposit: the requester signs
cumulative vouchers with a session key kept under <home>/sessions/, and the provider
settles the latest voucher on chain whenever it wants to be paid.`,
		RunE: client.ValidateCmd,
	}
	cmd.AddCommand(newSessionOpenCmd(), newSessionListCmd(), newSessionVoucherCmd(), newSessionCloseCmd())
	return cmd
}

func newSessionOpenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "open [deployment-id] [provider] [deposit] --expiry-blocks N",
		Short: "Open a session with a provider: escrow the deposit and register a new session key",
		Long: `Creates an ed25519 session key, stores it under <home>/sessions/ (mode 0600) before
anything is sent, and submits MsgOpenSession with its public key, escrowing DEPOSIT until
--expiry-blocks from now. Query the session id with 'query inference sessions --requester ADDR'.`,
		Example: "openledgerd session open 1 open1provider... 5000000uopen --expiry-blocks 1000 --from bob --fees 2000uopen -y",
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			deploymentID, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || deploymentID == 0 {
				return fmt.Errorf("deployment-id %q: must be a positive integer", args[0])
			}
			deposit, err := sdk.ParseCoinNormalized(args[2])
			if err != nil {
				return fmt.Errorf("deposit %q: %w", args[2], err)
			}
			clientCtx, err := client.GetClientTxContext(cmd)
			if err != nil {
				return err
			}
			requester, err := fromAddress(clientCtx, "the requester that deposits")
			if err != nil {
				return err
			}
			blocks, _ := cmd.Flags().GetInt64(flagExpiryBlocks)
			if blocks <= 0 {
				return fmt.Errorf("--%s must be positive", flagExpiryBlocks)
			}
			node, err := clientCtx.GetNode()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			st, err := node.Status(ctx)
			if err != nil {
				return fmt.Errorf("reading the chain height: %w", err)
			}
			pub, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			path := sessionKeyPath(cmd, pub)
			if err := saveSessionKey(path, sessionKey{Seed: priv.Seed()}); err != nil {
				return fmt.Errorf("saving the session key: %w", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "session key %s saved in %s\n", hex.EncodeToString(pub), path)
			msg := &types.MsgOpenSession{
				Requester: requester, Provider: args[1], DeploymentId: deploymentID, Deposit: deposit,
				ExpiryHeight: st.SyncInfo.LatestBlockHeight + blocks, SessionPubkey: pub,
			}
			return tx.GenerateOrBroadcastTxCLI(clientCtx, cmd.Flags(), msg)
		},
	}
	cmd.Flags().Int64(flagExpiryBlocks, 1_000, "blocks from now until the session expires")
	flags.AddTxFlagsToCmd(cmd)
	return cmd
}

func newSessionVoucherCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "voucher [session-id] --amount AMOUNT --tokens N --requests N --receipts-root HEX",
		Short: "Sign a cumulative voucher for a session and print it (the X-Openledger-Voucher form)",
		Long: `Signs "everything I owe in this session so far": the cumulative --amount (in the
deposit's denom, base units), --tokens and --requests served, and the Merkle root of the
request receipts. The sequence is one above the last voucher signed with this key (or
--sequence); it is saved before the voucher is printed, so a sequence is never reused.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || id == 0 {
				return fmt.Errorf("session-id %q: must be a positive integer", args[0])
			}
			clientCtx, err := client.GetClientQueryContext(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			res, err := types.NewQueryClient(clientCtx).Session(ctx, &types.QuerySessionRequest{SessionId: id})
			if err != nil {
				return fmt.Errorf("session %d: %w", id, err)
			}
			s := res.Session
			path := sessionKeyPath(cmd, s.SessionPubkey)
			key, err := loadSessionKey(path)
			if err != nil {
				return err
			}
			amtStr, _ := cmd.Flags().GetString(flagAmount)
			amt, ok := sdkmath.NewIntFromString(amtStr)
			if !ok || amt.IsNegative() {
				return fmt.Errorf("--%s %q: want a non-negative integer amount in %s", flagAmount, amtStr, s.Deposit.Denom)
			}
			tokens, _ := cmd.Flags().GetUint64(flagTokens)
			requests, _ := cmd.Flags().GetUint64(flagRequests)
			rootStr, _ := cmd.Flags().GetString(flagRoot)
			root, err := decodeHex32("--"+flagRoot, rootStr)
			if err != nil {
				return err
			}
			seq, _ := cmd.Flags().GetUint64(flagSequence)
			if seq == 0 {
				seq = max(key.LastSequence, s.LastSequence) + 1
			}
			if seq <= key.LastSequence {
				return fmt.Errorf("--%s %d: vouchers up to %d were already signed with this key", flagSequence, seq, key.LastSequence)
			}
			v, err := voucher.Sign(voucher.Voucher{
				ChainID: clientCtx.ChainID, SessionID: id, Sequence: seq, Denom: s.Deposit.Denom,
				CumulativeAmount: amt, CumulativeTokens: tokens, ReceiptCount: requests, ReceiptsRoot: root,
			}, ed25519.NewKeyFromSeed(key.Seed))
			if err != nil {
				return err
			}
			key.LastSequence = seq
			if err := saveSessionKey(path, key); err != nil {
				return fmt.Errorf("saving the sequence: %w", err)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), v.Encode())
			return err
		},
	}
	cmd.Flags().String(flagAmount, "", "cumulative amount owed so far, base units (required)")
	cmd.Flags().Uint64(flagTokens, 0, "cumulative tokens served so far")
	cmd.Flags().Uint64(flagRequests, 0, "cumulative requests served so far")
	cmd.Flags().String(flagRoot, "", "Merkle root (hex) of the request receipts so far (required)")
	cmd.Flags().Uint64(flagSequence, 0, "voucher sequence (default: one above the last signed)")
	_ = cmd.MarkFlagRequired(flagAmount)
	_ = cmd.MarkFlagRequired(flagRoot)
	flags.AddQueryFlagsToCmd(cmd)
	return cmd
}

func newSessionCloseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "close [session-id]",
		Short: "Close a session (requester: after expiry and the grace period) and get the unspent deposit back",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || id == 0 {
				return fmt.Errorf("session-id %q: must be a positive integer", args[0])
			}
			clientCtx, err := client.GetClientTxContext(cmd)
			if err != nil {
				return err
			}
			sender, err := fromAddress(clientCtx, "the session's provider, or its requester after expiry and grace")
			if err != nil {
				return err
			}
			return tx.GenerateOrBroadcastTxCLI(clientCtx, cmd.Flags(), &types.MsgCloseSession{Sender: sender, SessionId: id})
		},
	}
	flags.AddTxFlagsToCmd(cmd)
	return cmd
}

// NewSettleSessionCmd is `tx inference settle-session SESSION_ID VOUCHER --record FILE`
// (the provider's side).
func NewSettleSessionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "settle-session [session-id] [voucher] --record FILE",
		Short: "Settle a session voucher (provider): get paid what it adds since the last settlement",
		Long: `Submits the requester's VOUCHER (the encoded form 'session voucher' prints) with the
aggregated attribution record of the requests it covers (--record, added and pinned on
the local IPFS node and summarised). The payment is made after the challenge window.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || id == 0 {
				return fmt.Errorf("session-id %q: must be a positive integer", args[0])
			}
			v, err := voucher.DecodeVoucher(args[1])
			if err != nil {
				return fmt.Errorf("voucher: %w", err)
			}
			if v.SessionID != id {
				return fmt.Errorf("the voucher is for session %d, not %d", v.SessionID, id)
			}
			clientCtx, err := client.GetClientTxContext(cmd)
			if err != nil {
				return err
			}
			if v.ChainID != clientCtx.ChainID {
				return fmt.Errorf("the voucher is for chain %q, not %q", v.ChainID, clientCtx.ChainID)
			}
			provider, err := fromAddress(clientCtx, "the session's provider")
			if err != nil {
				return err
			}
			if cmd.Context() == nil {
				cmd.SetContext(context.Background())
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
			cids, err := addToIPFS(cmd, fmt.Sprintf("session %d", id), rec)
			if err != nil {
				return err
			}
			msg := &types.MsgSettleSession{
				Provider: provider, SessionId: id, RecordCid: cids[0], Summary: summary,
				Voucher: types.Voucher{
					Sequence: v.Sequence, CumulativeAmount: v.CumulativeAmount, CumulativeTokens: v.CumulativeTokens,
					ReceiptCount: v.ReceiptCount, ReceiptsRoot: v.ReceiptsRoot[:], Signature: v.Signature,
				},
			}
			return tx.GenerateOrBroadcastTxCLI(clientCtx, cmd.Flags(), msg)
		},
	}
	cmd.Flags().String(flagRecord, "", "aggregated attribution record of the settled requests (required)")
	cmd.Flags().Int(flagTopK, 0, "top entries to keep in the summary (default and bound: the chain's max_top_k)")
	_ = cmd.MarkFlagRequired(flagRecord)
	flags.AddTxFlagsToCmd(cmd)
	return cmd
}
