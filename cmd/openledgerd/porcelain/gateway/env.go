package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	sdkmath "cosmossdk.io/math"
	"github.com/ipfs/boxo/files"
	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/query"

	gw "github.com/openledger/openledger/gateway"
	"github.com/openledger/openledger/p2p"
	"github.com/openledger/openledger/provider/chainclient"
	"github.com/openledger/openledger/storage"
	"github.com/openledger/openledger/storage/api"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
	modelstypes "github.com/openledger/openledger/x/models/types"
)

// AddFlags adds the flags `gateway` and `infer` share: the budget, deposits,
// aliases, session expiry, the node and the transport, and the tx flags (--from).
func AddFlags(cmd *cobra.Command) {
	cmd.Flags().String(flagBudget, "", "most escrowed in session deposits in total (this home's sessions included), e.g. 10000000uopen (required)")
	cmd.Flags().String(flagDeposit, "", "deposit of each new session (default: a tenth of the budget)")
	cmd.Flags().StringSlice(flagAlias, nil, "model alias NAME=DEPLOYMENT_ID (repeatable)")
	cmd.Flags().Int64(flagExpiryBlocks, 10_000, "blocks until a new session expires (at most the chain's max_session_blocks)")
	cmd.Flags().String(flagGRPC, "127.0.0.1:9090", "the node's gRPC address")
	cmd.Flags().String(flagTransport, "auto", "how to reach providers: auto (HTTP at their api_url, libp2p /openledger/inference/1.0.0 when they publish none), http, or p2p (always libp2p)")
	_ = cmd.MarkFlagRequired(flagBudget)
	flags.AddTxFlagsToCmd(cmd)
}

// Env is a gateway built from AddFlags' flags, holding its home's lock.
type Env struct {
	Gateway *gw.Gateway
	Client  *chainclient.Client
	Chain   *Chain
	Budget  sdk.Coin
	// Deposit is a new session's deposit (--deposit, default a tenth of the budget).
	Deposit sdkmath.Int
	Aliases map[string]uint64
	Home    string
	closers []func()
}

// Close releases the gateway's resources and its home's lock.
func (e *Env) Close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

// Open parses AddFlags' flags and builds the gateway over <home>/gateway/
// (taking its lock), its chain client and, per --transport, a libp2p host.
func Open(cmd *cobra.Command, log *slog.Logger, idle time.Duration) (_ *Env, err error) {
	clientCtx, err := client.GetClientTxContext(cmd)
	if err != nil {
		return nil, err
	}
	budgetStr, _ := cmd.Flags().GetString(flagBudget)
	budget, err := sdk.ParseCoinNormalized(budgetStr)
	if err != nil || !budget.IsPositive() {
		return nil, fmt.Errorf("--%s %q: want a positive amount such as 10000000uopen", flagBudget, budgetStr)
	}
	deposit := sdkmath.Int{}
	if d, _ := cmd.Flags().GetString(flagDeposit); d != "" {
		c, err := sdk.ParseCoinNormalized(d)
		if err != nil || c.Denom != budget.Denom || !c.IsPositive() {
			return nil, fmt.Errorf("--%s %q: want a positive amount in %s", flagDeposit, d, budget.Denom)
		}
		deposit = c.Amount
	}
	aliases := map[string]uint64{}
	as, _ := cmd.Flags().GetStringSlice(flagAlias)
	for _, a := range as {
		name, idStr, ok := strings.Cut(a, "=")
		id, err := strconv.ParseUint(idStr, 10, 64)
		if !ok || name == "" || err != nil || id == 0 {
			return nil, fmt.Errorf("--%s %q: want NAME=DEPLOYMENT_ID", flagAlias, a)
		}
		aliases[name] = id
	}
	if clientCtx.FromName == "" || clientCtx.Keyring == nil {
		return nil, errors.New("--from is required: the key that opens and tops up sessions")
	}
	gasPrices, _ := cmd.Flags().GetString(flags.FlagGasPrices)
	if gasPrices == "" {
		gasPrices = "0.0025" + budget.Denom
	}
	gp, err := sdk.ParseDecCoin(gasPrices)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flags.FlagGasPrices, err)
	}
	grpcAddr, _ := cmd.Flags().GetString(flagGRPC)
	enc, err := chainclient.NewEncoding()
	if err != nil {
		return nil, err
	}
	cl, err := chainclient.New(chainclient.Config{
		GRPCAddr: grpcAddr, ChainID: clientCtx.ChainID, KeyName: clientCtx.FromName, Keyring: clientCtx.Keyring, GasPrice: gp,
		GasAdjustment: gasAdjustment(cmd),
	}, enc, log)
	if err != nil {
		return nil, err
	}
	if deposit.IsNil() {
		deposit = budget.Amount.QuoRaw(10)
	}
	env := &Env{Client: cl, Budget: budget, Deposit: deposit, Aliases: aliases, Home: clientCtx.HomeDir, closers: []func(){func() { cl.Close() }}}
	defer func() {
		if err != nil {
			env.Close()
		}
	}()
	expiry, _ := cmd.Flags().GetInt64(flagExpiryBlocks)
	home := clientCtx.HomeDir
	unlock, err := gw.LockHome(home)
	if err != nil {
		return nil, err
	}
	env.closers = append(env.closers, unlock)
	transport, _ := cmd.Flags().GetString(flagTransport)
	p2pHost, prefer, err := Transport(transport)
	if err != nil {
		return nil, err
	}
	if p2pHost != nil {
		env.closers = append(env.closers, func() { _ = p2pHost.Close() })
	}
	env.Chain = &Chain{Client: cl, ID: clientCtx.ChainID, ExpiryBlocks: expiry}
	g, err := gw.New(gw.Config{Home: home, Budget: budget, Deposit: deposit, Aliases: aliases, IdleFinal: idle, P2P: p2pHost, PreferP2P: prefer, Requester: cl.Address(), AddRecord: addRecord(home)},
		env.Chain, log)
	if err != nil {
		return nil, err
	}
	env.Gateway = g
	return env, nil
}

// Transport parses --transport: the libp2p host to reach providers with (nil
// for http) and whether to prefer it over their api_url (p2p). The host has a
// fresh identity and listens on loopback only: it dials out.
func Transport(mode string) (host.Host, bool, error) {
	switch mode {
	case "http":
		return nil, false, nil
	case "auto", "p2p":
	default:
		return nil, false, fmt.Errorf("--%s %q: want auto, http or p2p", flagTransport, mode)
	}
	key, _, err := libp2pcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, false, err
	}
	h, err := p2p.New(key, p2p.LoopbackConfig())
	if err != nil {
		return nil, false, fmt.Errorf("libp2p host: %w", err)
	}
	return h, mode == "p2p", nil
}

// Chain is the gateway's chain over the provider daemon's chain client (the
// same sequence manager and inclusion wait).
type Chain struct {
	Client       *chainclient.Client
	ID           string
	ExpiryBlocks int64
}

// ChainID implements gateway.Chain.
func (c *Chain) ChainID() string { return c.ID }

// Offers implements gateway.Chain: the active offers with each provider's
// peer id and API URL, and the deployment's royalty.
func (c *Chain) Offers(ctx context.Context, dep uint64) ([]gw.Offer, error) {
	res, err := c.Client.Inference().Offers(ctx, &inferencetypes.QueryOffersRequest{DeploymentId: dep, ActiveOnly: true})
	if err != nil {
		return nil, err
	}
	d, err := c.Client.Models().Deployment(ctx, &modelstypes.QueryDeploymentRequest{DeploymentId: dep})
	if err != nil {
		return nil, err
	}
	var out []gw.Offer
	for _, o := range res.Offers {
		p, err := c.Client.Inference().Provider(ctx, &inferencetypes.QueryProviderRequest{Operator: o.Operator})
		if err != nil {
			continue
		}
		out = append(out, gw.Offer{Operator: o.Operator, PeerID: p.Provider.PeerId, APIURL: p.Provider.ApiUrl, Multiaddrs: p.Provider.Multiaddrs,
			Compute: o.ComputePricePerThousandTokens, Royalty: d.Deployment.RoyaltyPerThousandTokens})
	}
	return out, nil
}

// maxPages bounds the pages Deployments reads per listing.
const maxPages = 100

// Deployments implements gateway.Chain: the deployments offered by at least
// one active provider.
func (c *Chain) Deployments(ctx context.Context) ([]uint64, error) {
	seen := map[uint64]bool{}
	var out []uint64
	var next []byte
	for range maxPages {
		res, err := c.Client.Inference().Providers(ctx, &inferencetypes.QueryProvidersRequest{
			Status: inferencetypes.PROVIDER_STATUS_ACTIVE, Pagination: &query.PageRequest{Key: next, Limit: 200},
		})
		if err != nil {
			return nil, err
		}
		for _, p := range res.Providers {
			var okey []byte
			for range maxPages {
				offers, err := c.Client.Inference().ProviderOffers(ctx, &inferencetypes.QueryProviderOffersRequest{
					Operator: p.Operator, Pagination: &query.PageRequest{Key: okey, Limit: 200},
				})
				if err != nil {
					return nil, err
				}
				for _, o := range offers.Offers {
					if !seen[o.DeploymentId] {
						seen[o.DeploymentId] = true
						out = append(out, o.DeploymentId)
					}
				}
				if offers.Pagination == nil || len(offers.Pagination.NextKey) == 0 {
					break
				}
				okey = offers.Pagination.NextKey
			}
		}
		if res.Pagination == nil || len(res.Pagination.NextKey) == 0 {
			break
		}
		next = res.Pagination.NextKey
	}
	slices.Sort(out)
	return out, nil
}

// OpenSession implements gateway.Chain.
func (c *Chain) OpenSession(ctx context.Context, provider string, dep uint64, deposit sdk.Coin, pub ed25519.PublicKey) (uint64, sdk.Coin, error) {
	h, err := c.Client.LatestHeight(ctx)
	if err != nil {
		return 0, sdk.Coin{}, err
	}
	blocks := c.ExpiryBlocks
	if p, err := c.Client.Inference().Params(ctx, &inferencetypes.QueryParamsRequest{}); err == nil && p.Params.MaxSessionBlocks > 0 {
		blocks = min(blocks, int64(p.Params.MaxSessionBlocks))
	}
	resp, err := c.Client.SubmitAndWait(ctx, "open session", &inferencetypes.MsgOpenSession{
		Requester: c.Client.Address(), Provider: provider, DeploymentId: dep, Deposit: deposit,
		ExpiryHeight: h + blocks, SessionPubkey: pub,
	})
	if err != nil {
		return 0, sdk.Coin{}, err
	}
	if resp.Code != 0 {
		return 0, sdk.Coin{}, fmt.Errorf("open session: %s", resp.RawLog)
	}
	for _, ev := range resp.Events {
		if !strings.HasSuffix(ev.Type, "EventSessionOpened") {
			continue
		}
		for _, a := range ev.Attributes {
			if a.Key == "session_id" {
				id, err := strconv.ParseUint(strings.Trim(a.Value, `"`), 10, 64)
				if err != nil {
					return 0, sdk.Coin{}, fmt.Errorf("session id %q: %w", a.Value, err)
				}
				s, err := c.Client.Inference().Session(ctx, &inferencetypes.QuerySessionRequest{SessionId: id})
				if err != nil {
					return 0, sdk.Coin{}, err
				}
				return id, s.Session.RoyaltyPerThousandTokens, nil
			}
		}
	}
	return 0, sdk.Coin{}, fmt.Errorf("tx %s has no EventSessionOpened", resp.TxHash)
}

// TopUp implements gateway.Chain.
func (c *Chain) TopUp(ctx context.Context, id uint64, amount sdk.Coin) error {
	resp, err := c.Client.SubmitAndWait(ctx, "top up session", &inferencetypes.MsgTopUpSession{
		Requester: c.Client.Address(), SessionId: id, Amount: amount,
	})
	if err != nil {
		return err
	}
	if resp.Code != 0 {
		return fmt.Errorf("top up session %d: %s", id, resp.RawLog)
	}
	return nil
}

// SessionRequester implements gateway.Owners.
func (c *Chain) SessionRequester(ctx context.Context, id uint64) (string, error) {
	s, err := c.Client.Inference().Session(ctx, &inferencetypes.QuerySessionRequest{SessionId: id})
	if err != nil {
		return "", err
	}
	return s.Session.Requester, nil
}

// Settlements implements gateway.FeedbackChain.
func (c *Chain) Settlements(ctx context.Context, id uint64) ([]gw.Settlement, error) {
	var out []gw.Settlement
	var next []byte
	for range maxPages {
		res, err := c.Client.Inference().SessionSettlements(ctx, &inferencetypes.QuerySessionSettlementsRequest{
			SessionId: id, Pagination: &query.PageRequest{Key: next, Limit: 200},
		})
		if err != nil {
			return nil, err
		}
		for _, st := range res.Settlements {
			out = append(out, gw.Settlement{ID: st.Id, FirstRequest: st.FirstRequest, Requests: st.Requests,
				ReceiptsRoot: st.ReceiptsRoot, SubmittedHeight: st.SubmittedHeight})
		}
		if res.Pagination == nil || len(res.Pagination.NextKey) == 0 {
			break
		}
		next = res.Pagination.NextKey
	}
	return out, nil
}

// FeedbackWindow implements gateway.FeedbackChain.
func (c *Chain) FeedbackWindow(ctx context.Context) (uint64, int64, error) {
	p, err := c.Client.Models().Params(ctx, &modelstypes.QueryParamsRequest{})
	if err != nil {
		return 0, 0, err
	}
	h, err := c.Client.LatestHeight(ctx)
	return p.Params.FeedbackWindowBlocks, h, err
}

// SubmitFeedback implements gateway.FeedbackChain: a tx the chain refuses
// (CheckTx or its block) is refused, anything else is retried.
func (c *Chain) SubmitFeedback(ctx context.Context, msg *modelstypes.MsgSubmitFeedback) (string, uint64, string, error) {
	resp, err := c.Client.SubmitAndWait(ctx, "submit feedback", msg)
	var txErr *chainclient.TxError
	if errors.As(err, &txErr) {
		return txErr.Hash, 0, txErr.Log, nil
	}
	if err != nil {
		return "", 0, "", err
	}
	if resp.Code != 0 {
		return resp.TxHash, 0, resp.RawLog, nil
	}
	for _, ev := range resp.Events {
		if !strings.HasSuffix(ev.Type, "EventFeedbackSubmitted") {
			continue
		}
		for _, a := range ev.Attributes {
			if a.Key == "feedback_id" {
				id, err := strconv.ParseUint(strings.Trim(a.Value, `"`), 10, 64)
				if err != nil {
					return resp.TxHash, 0, "", fmt.Errorf("feedback id %q: %w", a.Value, err)
				}
				return resp.TxHash, id, "", nil
			}
		}
	}
	return resp.TxHash, 0, "", nil
}

// addRecord adds bytes to the home's IPFS node (through its daemon when one
// runs), pinned with reason.
func addRecord(home string) func(ctx context.Context, b []byte, reason string) (string, error) {
	return func(ctx context.Context, b []byte, reason string) (string, error) {
		a, closeFn, err := api.Open(ctx, storage.RepoPath(home))
		if err != nil {
			return "", err
		}
		defer func() { _ = closeFn() }()
		res, err := a.Add(ctx, files.NewBytesFile(b), storage.AddOptions{PinReason: reason})
		if err != nil {
			return "", err
		}
		return res.RootStr, nil
	}
}

// gasAdjustment is --gas-adjustment when given, else 2: a simulated
// MsgSubmitFeedback was seen to use 30 % more gas in its block than simulated
// (an out-of-gas tx costs its fee and the feedback).
func gasAdjustment(cmd *cobra.Command) float64 {
	if cmd.Flags().Changed(flags.FlagGasAdjustment) {
		if v, err := cmd.Flags().GetFloat64(flags.FlagGasAdjustment); err == nil && v >= 1 {
			return v
		}
	}
	return 2
}
