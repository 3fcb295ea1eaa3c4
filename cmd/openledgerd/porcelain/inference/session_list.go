package inference

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"

	"github.com/openledger/openledger/x/inference/types"
)

func newSessionListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list [requester-address]",
		Short: "List a requester's sessions, and whether this machine holds their session keys",
		Long: `Lists the sessions of REQUESTER (default: the --from key): id, provider, deployment,
deposit, what was settled and is still held, status, expiry, and whether the session key is
in <home>/sessions/ (only then can 'session voucher' sign for it). --output json prints the
chain's raw answer.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			clientCtx, err := client.GetClientQueryContext(cmd)
			if err != nil {
				return err
			}
			requester := ""
			if len(args) == 1 {
				requester = args[0]
			} else {
				from, _ := cmd.Flags().GetString(flags.FlagFrom)
				if from == "" {
					return fmt.Errorf("give the requester's address, or --from KEY")
				}
				addr, _, _, err := client.GetFromFields(clientCtx, clientCtx.Keyring, from)
				if err != nil {
					return fmt.Errorf("--from %s: %w", from, err)
				}
				requester = addr.String()
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			res, err := types.NewQueryClient(clientCtx).Sessions(ctx, &types.QuerySessionsRequest{Requester: requester})
			if err != nil {
				return fmt.Errorf("sessions of %s: %w", requester, err)
			}
			if clientCtx.OutputFormat == flags.OutputFormatJSON {
				return clientCtx.PrintProto(res)
			}
			return writeSessions(cmd.OutOrStdout(), requester, res.Sessions, func(s types.Session) bool {
				_, err := os.Stat(sessionKeyPath(cmd, s.SessionPubkey))
				return err == nil
			})
		},
	}
	flags.AddQueryFlagsToCmd(cmd)
	cmd.Flags().String(flags.FlagFrom, "", "key whose sessions to list (when no address is given)")
	cmd.Flags().String(flags.FlagKeyringBackend, flags.DefaultKeyringBackend, "keyring backend of --from")
	return cmd
}

// writeSessions prints one line per session.
func writeSessions(w io.Writer, requester string, sessions []types.Session, hasKey func(types.Session) bool) error {
	if len(sessions) == 0 {
		_, err := fmt.Fprintf(w, "%s has no sessions\n", requester)
		return err
	}
	fmt.Fprintf(w, "Sessions of %s\n", requester)
	for _, s := range sessions {
		key := "no local key"
		if hasKey(s) {
			key = "key here"
		}
		fmt.Fprintf(w, "  %d  %s  deployment %d  provider %s\n      deposit %s, settled %s, held %s%s, expiry height %d, %s\n",
			s.Id, s.Status, s.DeploymentId, s.Provider, s.Deposit, s.SettledAmount, s.Deposit.Amount.Sub(s.Paid).Sub(s.Refunded), s.Deposit.Denom, s.ExpiryHeight, key)
	}
	return nil
}
