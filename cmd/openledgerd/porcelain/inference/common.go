// Package inference holds the hand-written commands of the inference market: the
// ones that need files, IPFS, a libp2p identity or a session key (registering a
// provider, posting a job from a file, signing and submitting receipts, opening
// sessions and signing vouchers). Autocli generates every other command.
package inference

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"

	"github.com/openledger/openledger/attribution/record"
	"github.com/openledger/openledger/p2p"
	"github.com/openledger/openledger/storage"
	storagecli "github.com/openledger/openledger/storage/cli"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

const (
	flagIdentity = "identity"
	flagRecord   = "record"
	flagTopK     = "top-k-entries"
)

// IdentityPath is where the provider's libp2p identity lives by default: the key
// whose peer id is registered on chain and that signs receipts.
func IdentityPath(home string) string { return filepath.Join(home, "provider", "identity.key") }

// loadIdentity loads (or, when create is set and the file is missing, creates) the
// libp2p identity named by --identity or the default under --home.
func loadIdentity(cmd *cobra.Command, create bool) (crypto.PrivKey, string, error) {
	path, _ := cmd.Flags().GetString(flagIdentity)
	if path == "" {
		home, _ := cmd.Flags().GetString(flags.FlagHome)
		if home == "" {
			clientCtx := client.GetClientContextFromCmd(cmd)
			home = clientCtx.HomeDir
		}
		path = IdentityPath(home)
	}
	if _, err := os.Stat(path); err != nil && !create {
		return nil, "", fmt.Errorf("libp2p identity %s: %w (register the provider first, or pass --%s)", path, err, flagIdentity)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, "", err
	}
	key, err := p2p.LoadOrCreateIdentity(path)
	if err != nil {
		return nil, "", err
	}
	id, err := p2p.PeerIDFromKey(key)
	if err != nil {
		return nil, "", err
	}
	return key, id.String(), nil
}

func addIdentityFlag(cmd *cobra.Command) {
	cmd.Flags().String(flagIdentity, "", "libp2p identity key file (default <home>/provider/identity.key)")
}

// content is a file or text to put on IPFS, with its digest.
type content struct {
	path   string
	bytes  []byte
	sha256 string
}

// readContent reads --<fileFlag> FILE or --<textFlag> TEXT; nil when neither is set.
func readContent(cmd *cobra.Command, fileFlag, textFlag string) (*content, error) {
	path, _ := cmd.Flags().GetString(fileFlag)
	text, _ := cmd.Flags().GetString(textFlag)
	switch {
	case path != "" && text != "":
		return nil, fmt.Errorf("--%s and --%s are exclusive", fileFlag, textFlag)
	case path == "" && text == "":
		return nil, nil
	}
	var b []byte
	if path != "" {
		var err error
		if b, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("--%s: %w", fileFlag, err)
		}
	} else {
		b = []byte(text)
	}
	sum := sha256.Sum256(b)
	return &content{path: path, bytes: b, sha256: hex.EncodeToString(sum[:])}, nil
}

// addToIPFS adds and pins each content on the local IPFS node (through its daemon
// when one runs) and returns their CIDs in order.
func addToIPFS(cmd *cobra.Command, reason string, items ...*content) ([]string, error) {
	cids := make([]string, len(items))
	err := storagecli.WithAPI(cmd, func(ctx context.Context, a storage.API) error {
		for i, c := range items {
			tmp := c.path
			if tmp == "" {
				f, err := os.CreateTemp("", "openledger-*")
				if err != nil {
					return err
				}
				tmp = f.Name()
				defer os.Remove(tmp)
				if _, err := f.Write(c.bytes); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
			}
			nd, name, _, err := storage.OpenInput(tmp, false, false)
			if err != nil {
				return err
			}
			res, err := a.Add(ctx, nd, storage.AddOptions{PinReason: reason + " sha256:" + c.sha256, Name: name})
			nd.Close()
			if err != nil {
				return err
			}
			cids[i] = res.RootStr
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("adding to IPFS: %w", err)
	}
	return cids, nil
}

// recordSummary reads an attribution record (as written by 'openledgerd attribution
// explain') and returns its bytes and its chain summary with at most k top entries.
func recordSummary(path string, k int) (*content, rewardstypes.AttributionSummary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, rewardstypes.AttributionSummary{}, fmt.Errorf("--%s: %w", flagRecord, err)
	}
	rec, err := record.Decode(b)
	if err != nil {
		return nil, rewardstypes.AttributionSummary{}, fmt.Errorf("--%s %s: %w", flagRecord, path, err)
	}
	s, err := record.Summarize(rec, k)
	if err != nil {
		return nil, rewardstypes.AttributionSummary{}, err
	}
	out := rewardstypes.AttributionSummary{RecordSha256: s.RecordSha256}
	for _, t := range s.Top {
		out.Top = append(out.Top, rewardstypes.ContributionWeight{DatanetId: t.DatanetId, Version: t.Version, ContributionId: t.ContributionId, Ppm: t.Ppm})
	}
	for _, p := range s.Pools {
		out.Pools = append(out.Pools, rewardstypes.PoolWeight{DatanetId: p.DatanetId, Version: p.Version, Ppm: p.Ppm})
	}
	sum := sha256.Sum256(b)
	return &content{path: path, bytes: b, sha256: hex.EncodeToString(sum[:])}, out, nil
}

// topK is the number of top entries a summary keeps: --top-k-entries, bounded by
// the chain's max_top_k.
func topK(cmd *cobra.Command, clientCtx client.Context) (int, error) {
	res, err := rewardstypes.NewQueryClient(clientCtx).Params(cmd.Context(), &rewardstypes.QueryParamsRequest{})
	if err != nil {
		return 0, fmt.Errorf("reading x/rewards params: %w", err)
	}
	k, _ := cmd.Flags().GetInt(flagTopK)
	if k <= 0 || k > int(res.Params.MaxTopK) {
		k = int(res.Params.MaxTopK)
	}
	return k, nil
}

// decodeHex32 parses a 64-character hex string.
func decodeHex32(field, s string) ([32]byte, error) {
	var out [32]byte
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != 32 {
		return out, fmt.Errorf("%s: want 64 hex characters, got %q", field, s)
	}
	copy(out[:], b)
	return out, nil
}

// fromAddress is the bech32 address of --from, or an error naming the role the
// command needs it for.
func fromAddress(clientCtx client.Context, role string) (string, error) {
	from := clientCtx.GetFromAddress()
	if from.Empty() {
		return "", fmt.Errorf("--from is required: %s", role)
	}
	return clientCtx.InterfaceRegistry.SigningContext().AddressCodec().BytesToString(from)
}
