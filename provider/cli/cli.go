// Package cli is the `openledgerd provider` command tree: init writes the
// documented config and the libp2p identity, start runs the daemon
// (provider/daemon), status prints a summary from the running daemon's local
// endpoint, or from the chain and the store when it is not running.
//
// Paths: the config is <home>/provider/provider.toml unless --config says
// otherwise; home comes from the root command's persistent --home flag, else
// $HOME/.openledger.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/p2p"
	"github.com/openledger/openledger/provider/chainclient"
	"github.com/openledger/openledger/provider/config"
	"github.com/openledger/openledger/provider/daemon"
	"github.com/openledger/openledger/provider/receipts"
	"github.com/openledger/openledger/provider/store"
)

// Options let the root command (or a test) choose the executor.
type Options struct {
	// NewExecutor builds the executor for `provider start` (default
	// daemon.DefaultExecutor).
	NewExecutor func(ctx context.Context, env daemon.ExecEnv) (receipts.Executor, error)
}

// NewProviderCommand returns the `provider` command tree.
func NewProviderCommand() *cobra.Command { return NewProviderCommandWith(Options{}) }

// NewProviderCommandWith is NewProviderCommand with options.
func NewProviderCommandWith(opts Options) *cobra.Command {
	if opts.NewExecutor == nil {
		opts.NewExecutor = daemon.DefaultExecutor
	}
	cmd := &cobra.Command{
		Use:   "provider",
		Short: "GPU provider daemon: follow the chain, bid on jobs, execute them, post signed receipts",
		Long: `The provider daemon joins the inference market: it follows the chain's job events,
bids on jobs of the deployments it offers by its price policy, executes the jobs it
wins and posts signed receipts, surviving restarts without losing or repeating work.

  openledgerd provider init --key provider --deployment 1=200uopen --register --api
  openledgerd provider start
  openledgerd provider status`,
		SilenceUsage: true,
	}
	cmd.PersistentFlags().String(flagConfig, "", "provider config file (default <home>/provider/provider.toml)")
	cmd.AddCommand(newInitCmd(), newStartCmd(opts), newStatusCmd())
	return cmd
}

const flagConfig = "config"

func homeDir(cmd *cobra.Command) (string, error) {
	home, err := cmd.Flags().GetString("home")
	if err != nil || home == "" {
		uh, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("cannot find the home directory; pass --home: %w", err)
		}
		return filepath.Join(uh, ".openledger"), nil
	}
	if home == "~" || strings.HasPrefix(home, "~/") {
		uh, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		home = filepath.Join(uh, strings.TrimPrefix(home, "~"))
	}
	return home, nil
}

func configPath(cmd *cobra.Command) (string, error) {
	if p, _ := cmd.Flags().GetString(flagConfig); p != "" {
		return filepath.Abs(p)
	}
	home, err := homeDir(cmd)
	if err != nil {
		return "", err
	}
	return filepath.Abs(filepath.Join(home, "provider", config.FileName))
}

func newInitCmd() *cobra.Command {
	var (
		chainID, key, keyringBackend, rpc, grpc, stake, moniker, gasPrice string
		apiListen, apiPublicURL                                           string
		deployments, listen                                               []string
		force, register, loopback, api                                    bool
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write the documented provider config, the libp2p identity and the IPFS repo",
		Long: `Writes <home>/provider/provider.toml (every key documented; defaults adjusted by the
flags), creates the libp2p identity whose peer id is registered on chain and signs
receipts (p2p.identity_file), and initialises the provider's IPFS repo (ipfs.repo_path).
An existing config is kept unless --force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := configPath(cmd)
			if err != nil {
				return err
			}
			if _, err := os.Stat(path); err == nil && !force {
				return fmt.Errorf("%s exists; pass --force to overwrite it", path)
			}
			cfg := config.Default()
			f := cmd.Flags()
			set := func(name string, dst *string, v string) {
				if f.Changed(name) {
					*dst = v
				}
			}
			set("chain-id", &cfg.Chain.ID, chainID)
			set("key", &cfg.Key.Name, key)
			set("keyring-backend", &cfg.Key.KeyringBackend, keyringBackend)
			set("rpc", &cfg.Chain.RPC, rpc)
			set("grpc", &cfg.Chain.GRPC, grpc)
			set("stake", &cfg.Bid.Stake, stake)
			set("moniker", &cfg.Bid.Moniker, moniker)
			set("gas-price", &cfg.Gas.Price, gasPrice)
			if f.Changed("listen") {
				cfg.P2P.ListenAddrs = listen
			} else if loopback {
				cfg.P2P.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
			}
			cfg.Bid.RegisterOnStart = register
			cfg.API.Enabled = api
			set("api-listen", &cfg.API.Listen, apiListen)
			set("api-public-url", &cfg.API.PublicURL, apiPublicURL)
			for _, d := range deployments {
				dp, err := parseDeployment(d)
				if err != nil {
					return err
				}
				cfg.Price.Deployments = append(cfg.Price.Deployments, dp)
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return err
			}
			if err := cfg.Write(path); err != nil {
				return err
			}
			idKey, err := p2p.LoadOrCreateIdentity(config.Resolve(path, cfg.P2P.IdentityFile))
			if err != nil {
				return err
			}
			id, err := p2p.PeerIDFromKey(idKey)
			if err != nil {
				return err
			}
			repo := config.Resolve(path, cfg.IPFS.RepoPath)
			if err := daemon.EnsureIPFSRepo(repo, loopback); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "wrote %s\n", path)
			fmt.Fprintf(out, "peer id: %s (%s)\n", id, config.Resolve(path, cfg.P2P.IdentityFile))
			fmt.Fprintf(out, "ipfs repo: %s\n", repo)
			if len(cfg.Price.Deployments) == 0 {
				fmt.Fprintln(out, "no deployments offered yet: add [[price.deployments]] or re-run with --deployment ID=PRICE")
			}
			if cfg.API.Enabled {
				fmt.Fprintf(out, "OpenAI-compatible API: http://%s/v1 (registered on chain as %s)\n", cfg.API.Listen, cfg.APIURL(cfg.API.Listen))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&chainID, "chain-id", "", "chain id (chain.id)")
	f.StringVar(&key, "key", "", "operator key name in the keyring (key.name)")
	f.StringVar(&keyringBackend, "keyring-backend", "", "keyring backend (key.keyring_backend)")
	f.StringVar(&rpc, "rpc", "", "CometBFT RPC endpoint (chain.rpc)")
	f.StringVar(&grpc, "grpc", "", "gRPC endpoint host:port (chain.grpc)")
	f.StringVar(&stake, "stake", "", "stake bonded by a registration on start (bid.stake)")
	f.StringVar(&moniker, "moniker", "", "public name of the provider (bid.moniker)")
	f.StringVar(&gasPrice, "gas-price", "", "gas price (gas.price)")
	f.StringSliceVar(&deployments, "deployment", nil, "deployment offered, ID=PRICE[:FLOOR], e.g. 1=200uopen (repeatable)")
	f.StringSliceVar(&listen, "listen", nil, "libp2p listen multiaddr (repeatable; p2p.listen_addrs)")
	f.BoolVar(&register, "register", false, "register the provider and its offers on first start (bid.register_on_start)")
	f.BoolVar(&loopback, "loopback", false, "listen on ephemeral loopback ports only (libp2p and IPFS; local networks, tests)")
	f.BoolVar(&force, "force", false, "overwrite an existing config (the identity is kept)")
	f.BoolVar(&api, "api", false, "serve the OpenAI-compatible API paid by session vouchers (api.enabled)")
	f.StringVar(&apiListen, "api-listen", "", "loopback host:port of the API (api.listen, default "+config.DefaultAPIListen+")")
	f.StringVar(&apiPublicURL, "api-public-url", "", "URL registered on chain for clients to reach the API (api.public_url; default http://<api-listen>)")
	return cmd
}

// parseDeployment parses ID=PRICE[:FLOOR].
func parseDeployment(s string) (config.DeploymentPrice, error) {
	id, price, ok := strings.Cut(s, "=")
	if !ok {
		return config.DeploymentPrice{}, fmt.Errorf("--deployment %q: want ID=PRICE, e.g. 1=200uopen", s)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(id), 10, 64)
	if err != nil || n == 0 {
		return config.DeploymentPrice{}, fmt.Errorf("--deployment %q: %q is not a deployment id", s, id)
	}
	base, floor, _ := strings.Cut(price, ":")
	for _, c := range []string{base, floor} {
		if c == "" {
			continue
		}
		if _, err := sdk.ParseCoinNormalized(c); err != nil {
			return config.DeploymentPrice{}, fmt.Errorf("--deployment %q: %q is not a coin such as 200uopen", s, c)
		}
	}
	return config.DeploymentPrice{DeploymentID: n, BasePrice: base, FloorPrice: floor}, nil
}

func newStartCmd(opts Options) *cobra.Command {
	var listen, logLevel string
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run the provider daemon until SIGINT/SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := configPath(cmd)
			if err != nil {
				return err
			}
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			parent := cmd.Context()
			if parent == nil {
				parent = context.Background()
			}
			ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
			defer stop()
			out := cmd.OutOrStdout()
			return daemon.Run(ctx, cfg, daemon.Deps{
				ConfigPath: path, Logger: log, Listen: listen, NewExecutor: opts.NewExecutor,
				OnReady: func(i daemon.Info) {
					fmt.Fprintf(out, "operator: %s\npeer id: %s\n", i.Operator, i.PeerID)
					for _, a := range i.P2PAddrs {
						fmt.Fprintf(out, "libp2p listening on %s\n", a)
					}
					fmt.Fprintf(out, "ipfs peer id: %s\n", i.IPFSPeerID)
					fmt.Fprintf(out, "status: %s/status\nmetrics: %s/metrics\n", i.URL, i.URL)
					if i.APIURL != "" {
						fmt.Fprintf(out, "api: %s/v1\n", i.APIURL)
					}
					fmt.Fprintln(out, "provider is running")
				},
			})
		},
	}
	cmd.Flags().StringVar(&listen, "listen", daemon.DefaultListen, "loopback host:port of the metrics (/metrics) and status (/status) endpoint")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func newStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Summarise the provider: registration, offers, jobs by state, pending txs, follower vs chain height",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := configPath(cmd)
			if err != nil {
				return err
			}
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			dataDir := config.Resolve(path, cfg.DataDir)
			s, err := daemon.ReadStatus(ctx, dataDir)
			if err != nil {
				s, err = offlineStatus(ctx, cmd, cfg, path, dataDir, err)
				if err != nil {
					return err
				}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			printStatus(cmd.OutOrStdout(), s)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// offlineStatus reads the store and the chain when the daemon's endpoint does
// not answer.
func offlineStatus(ctx context.Context, cmd *cobra.Command, cfg config.Config, path, dataDir string, endpointErr error) (daemon.Status, error) {
	if !errors.Is(endpointErr, fs.ErrNotExist) {
		fmt.Fprintf(cmd.ErrOrStderr(), "the daemon's status endpoint did not answer (%v); reading the store\n", endpointErr)
	}
	if _, err := os.Stat(filepath.Join(dataDir, store.FileName)); err != nil {
		return daemon.Status{}, fmt.Errorf("no provider state in %s (never started?): %w", dataDir, err)
	}
	st, err := store.Open(dataDir, nil, store.Options{LockTimeout: 500 * time.Millisecond})
	if err != nil {
		return daemon.Status{}, fmt.Errorf("the store is locked: the daemon is running but its status endpoint does not answer: %w", err)
	}
	defer st.Close()
	var cl *chainclient.Client
	enc, err := chainclient.NewEncoding()
	if err == nil {
		kr, kerr := chainclient.OpenKeyring(cfg.Key.KeyringBackend, config.Resolve(path, cfg.Key.KeyringDir), enc)
		gp, gerr := cfg.GasPrice()
		if kerr == nil && gerr == nil {
			cl, err = chainclient.New(chainclient.Config{GRPCAddr: cfg.Chain.GRPC, ChainID: cfg.Chain.ID, KeyName: cfg.Key.Name,
				Keyring: kr, GasPrice: gp, RequestTimeout: cfg.Chain.RequestTimeout.D()}, enc, nil)
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "chain client: %v\n", err)
				cl = nil
			} else {
				defer cl.Close()
			}
		}
	}
	s, err := daemon.Snapshot(ctx, st, cl)
	if err != nil {
		return s, err
	}
	if key, err := p2p.LoadOrCreateIdentity(config.Resolve(path, cfg.P2P.IdentityFile)); err == nil {
		if id, err := p2p.PeerIDFromKey(key); err == nil {
			s.PeerID = id.String()
		}
	}
	return s, nil
}

func printStatus(w io.Writer, s daemon.Status) {
	state := "not running"
	if s.Running {
		state = "running since " + s.StartedAt.Format("2006-01-02 15:04:05 MST")
	}
	fmt.Fprintf(w, "daemon:        %s\n", state)
	fmt.Fprintf(w, "operator:      %s\n", s.Operator)
	fmt.Fprintf(w, "peer id:       %s\n", s.PeerID)
	for _, a := range s.P2PAddrs {
		fmt.Fprintf(w, "  listening:   %s\n", a)
	}
	if s.IPFSPeer != "" {
		fmt.Fprintf(w, "ipfs peer id:  %s\n", s.IPFSPeer)
	}
	if s.Registered {
		fmt.Fprintf(w, "registered:    yes, %s, stake %s\n", s.ProviderStatus, s.Stake)
	} else {
		fmt.Fprintln(w, "registered:    no")
	}
	if len(s.Offers) == 0 {
		fmt.Fprintln(w, "offers:        none")
	}
	for _, o := range s.Offers {
		fmt.Fprintf(w, "offer:         deployment %d at %s per 1,000 tokens, max concurrency %d\n", o.DeploymentID, o.Price, o.MaxConcurrency)
	}
	states := make([]string, 0, len(s.Jobs))
	for st, n := range s.Jobs {
		states = append(states, fmt.Sprintf("%s %d", st, n))
	}
	sort.Strings(states)
	if len(states) == 0 {
		states = []string{"none"}
	}
	fmt.Fprintf(w, "jobs:          %s\n", strings.Join(states, ", "))
	fmt.Fprintf(w, "pending txs:   %d; receipts waiting for inclusion: %d\n", s.PendingTxs, s.Receipts)
	lag := ""
	if s.ChainHeight > 0 {
		lag = fmt.Sprintf(" (%d behind)", max(s.ChainHeight-s.FollowerHeight, 0))
	}
	fmt.Fprintf(w, "heights:       follower %d, chain %d%s\n", s.FollowerHeight, s.ChainHeight, lag)
	if s.ChainError != "" {
		fmt.Fprintf(w, "chain errors:  %s\n", s.ChainError)
	}
}
