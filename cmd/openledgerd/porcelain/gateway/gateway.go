// Package gateway is `openledgerd gateway`: the local OpenAI-compatible
// endpoint of package gateway, paying providers by session vouchers
// (docs/openai-api.md).
package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	sdkmath "cosmossdk.io/math"
	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"
	sdk "github.com/cosmos/cosmos-sdk/types"

	gw "github.com/openledger/openledger/gateway"
	"github.com/openledger/openledger/p2p"
	"github.com/openledger/openledger/provider/chainclient"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
	modelstypes "github.com/openledger/openledger/x/models/types"
)

const (
	flagListen       = "listen"
	flagBudget       = "budget"
	flagDeposit      = "deposit"
	flagAlias        = "alias"
	flagExpiryBlocks = "expiry-blocks"
	flagIdle         = "idle-final"
	flagGRPC         = "grpc-addr"
	flagTransport    = "transport"
)

// DefaultListen is the gateway's default address.
const DefaultListen = "127.0.0.1:8787"

// NewCmd is `openledgerd gateway`.
func NewCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gateway --budget AMOUNT --from KEY [--listen 127.0.0.1:8787]",
		Short: "Run a local OpenAI-compatible endpoint that pays providers by session vouchers",
		Long: `Serves the OpenAI API (GET /v1/models, POST /v1/completions, POST /v1/chat/completions,
streamed or not) on a loopback address. The model is a deployment id or an --alias.
For each request the gateway picks a provider offering the deployment (cheapest, then
fastest, preferring warm ones), opens or tops up a session within --budget (signed with
--from), signs a prepaid cumulative voucher, forwards the request and verifies the
provider's receipt (docs/openai-api.md). Session keys live under <home>/sessions/ and
voucher state under <home>/gateway/; idle sessions get their final voucher.`,
		Example: `openledgerd gateway --budget 10000000uopen --from alice --alias tiny=1
curl -s http://127.0.0.1:8787/v1/chat/completions -d '{"model":"tiny","messages":[{"role":"user","content":"Hello"}]}'`,
		Args: cobra.NoArgs,
		RunE: run,
	}
	cmd.Flags().String(flagListen, DefaultListen, "loopback host:port to serve on")
	cmd.Flags().String(flagBudget, "", "most the gateway escrows in session deposits in total, e.g. 10000000uopen (required)")
	cmd.Flags().String(flagDeposit, "", "deposit of each session (default: a tenth of the budget)")
	cmd.Flags().StringSlice(flagAlias, nil, "model alias NAME=DEPLOYMENT_ID (repeatable)")
	cmd.Flags().Int64(flagExpiryBlocks, 10_000, "blocks until a new session expires (at most the chain's max_session_blocks)")
	cmd.Flags().Duration(flagIdle, time.Minute, "send the final voucher of a session idle this long")
	cmd.Flags().String(flagGRPC, "127.0.0.1:9090", "the node's gRPC address")
	cmd.Flags().String(flagTransport, "auto", "how to reach providers: auto (HTTP at their api_url, libp2p /openledger/inference/1.0.0 when they publish none), http, or p2p (always libp2p)")
	_ = cmd.MarkFlagRequired(flagBudget)
	flags.AddTxFlagsToCmd(cmd)
	return cmd
}

func run(cmd *cobra.Command, _ []string) error {
	clientCtx, err := client.GetClientTxContext(cmd)
	if err != nil {
		return err
	}
	listen, _ := cmd.Flags().GetString(flagListen)
	if host, _, err := net.SplitHostPort(listen); err != nil || !(host == "localhost" || net.ParseIP(host) != nil && net.ParseIP(host).IsLoopback()) {
		return fmt.Errorf("--%s %q: the gateway serves on loopback only", flagListen, listen)
	}
	budgetStr, _ := cmd.Flags().GetString(flagBudget)
	budget, err := sdk.ParseCoinNormalized(budgetStr)
	if err != nil || !budget.IsPositive() {
		return fmt.Errorf("--%s %q: want a positive amount such as 10000000uopen", flagBudget, budgetStr)
	}
	deposit := sdkmath.Int{}
	if d, _ := cmd.Flags().GetString(flagDeposit); d != "" {
		c, err := sdk.ParseCoinNormalized(d)
		if err != nil || c.Denom != budget.Denom || !c.IsPositive() {
			return fmt.Errorf("--%s %q: want a positive amount in %s", flagDeposit, d, budget.Denom)
		}
		deposit = c.Amount
	}
	aliases := map[string]uint64{}
	as, _ := cmd.Flags().GetStringSlice(flagAlias)
	for _, a := range as {
		name, idStr, ok := strings.Cut(a, "=")
		id, err := strconv.ParseUint(idStr, 10, 64)
		if !ok || name == "" || err != nil || id == 0 {
			return fmt.Errorf("--%s %q: want NAME=DEPLOYMENT_ID", flagAlias, a)
		}
		aliases[name] = id
	}
	if clientCtx.FromName == "" || clientCtx.Keyring == nil {
		return errors.New("--from is required: the key that opens and tops up sessions")
	}
	gasPrices, _ := cmd.Flags().GetString(flags.FlagGasPrices)
	if gasPrices == "" {
		gasPrices = "0.0025" + budget.Denom
	}
	gp, err := sdk.ParseDecCoin(gasPrices)
	if err != nil {
		return fmt.Errorf("--%s: %w", flags.FlagGasPrices, err)
	}
	grpcAddr, _ := cmd.Flags().GetString(flagGRPC)
	enc, err := chainclient.NewEncoding()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	cl, err := chainclient.New(chainclient.Config{
		GRPCAddr: grpcAddr, ChainID: clientCtx.ChainID, KeyName: clientCtx.FromName, Keyring: clientCtx.Keyring, GasPrice: gp,
	}, enc, log)
	if err != nil {
		return err
	}
	defer cl.Close()
	expiry, _ := cmd.Flags().GetInt64(flagExpiryBlocks)
	idle, _ := cmd.Flags().GetDuration(flagIdle)
	home := clientCtx.HomeDir
	transport, _ := cmd.Flags().GetString(flagTransport)
	p2pHost, prefer, err := Transport(transport)
	if err != nil {
		return err
	}
	if p2pHost != nil {
		defer p2pHost.Close()
	}
	g, err := gw.New(gw.Config{Home: home, Budget: budget, Deposit: deposit, Aliases: aliases, IdleFinal: idle, P2P: p2pHost, PreferP2P: prefer},
		&Chain{Client: cl, ID: clientCtx.ChainID, ExpiryBlocks: expiry}, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: g.Handler(), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10}
	eg, ectx := errgroup.WithContext(ctx)
	eg.Go(func() error { return g.Run(ectx) })
	eg.Go(func() error {
		<-ectx.Done()
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		return srv.Shutdown(sctx)
	})
	eg.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	log.Info("gateway listening", "url", "http://"+ln.Addr().String()+"/v1", "account", cl.Address(),
		"budget", budget, "state", filepath.Join(home, "gateway"))
	return eg.Wait()
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
