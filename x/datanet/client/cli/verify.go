package cli

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/codec"
	addresscodec "github.com/cosmos/cosmos-sdk/codec/address"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/datanet/types"
)

// NewDatanetCmd returns the offline `openledgerd datanet` tools.
func NewDatanetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "datanet",
		Short: "Offline datanet tools",
		RunE:  client.ValidateCmd,
	}
	cmd.AddCommand(NewVerifyProofCmd())
	return cmd
}

// NewVerifyProofCmd checks an inclusion proof offline.
func NewVerifyProofCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify-proof [proof.json|-]",
		Short: "Check offline that a contribution is in a dataset version",
		Long: `Reads the JSON printed by 'openledgerd query datanet proof DATANET VERSION CONTRIBUTION -o json',
recomputes the contribution's leaf hash from its fields, walks the audit path and compares the
result with the version's root. Exits non-zero if the proof does not hold.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var (
				bz  []byte
				err error
			)
			if args[0] == "-" {
				bz, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), 16<<20))
			} else {
				bz, err = os.ReadFile(args[0])
			}
			if err != nil {
				return fmt.Errorf("read proof: %w", err)
			}
			var proof types.QueryInclusionProofResponse
			if err := codec.NewProtoCodec(nil).UnmarshalJSON(bz, &proof); err != nil {
				return fmt.Errorf("%s is not an inclusion proof (JSON from 'query datanet proof -o json'): %w", args[0], err)
			}
			if err := VerifyProof(proof); err != nil {
				return err
			}
			cmd.Printf("OK: contribution %d (cid %s) is leaf %d of %d under root %s\n",
				proof.Contribution.Id, proof.Contribution.Cid, proof.LeafIndex, proof.TreeSize, proof.Root)
			return nil
		},
	}
}

// VerifyProof recomputes the leaf from the contribution and checks the audit path.
func VerifyProof(p types.QueryInclusionProofResponse) error {
	ac := addresscodec.NewBech32Codec(sdk.GetConfig().GetBech32AccountAddrPrefix())
	leaf, err := types.ContributionLeafHash(p.Contribution, ac)
	if err != nil {
		return err
	}
	if p.LeafHash != "" && p.LeafHash != hex.EncodeToString(leaf) {
		return types.ErrInvalidProof.Wrapf("leaf_hash %s does not match the contribution's fields (%x)", p.LeafHash, leaf)
	}
	if p.LeafIndex != p.Contribution.LeafIndex {
		return types.ErrInvalidProof.Wrapf("leaf_index %d differs from the contribution's %d", p.LeafIndex, p.Contribution.LeafIndex)
	}
	root, err := types.DecodeHash("root", p.Root)
	if err != nil {
		return err
	}
	path := make([][]byte, len(p.AuditPath))
	for i, h := range p.AuditPath {
		if path[i], err = types.DecodeHash(fmt.Sprintf("audit_path[%d]", i), h); err != nil {
			return err
		}
	}
	return types.VerifyInclusion(leaf, p.LeafIndex, p.TreeSize, path, root)
}
