// Package daemon assembles the provider daemon (`openledgerd provider start`):
// the chain client, the event follower, the bidder, settlement (provider/receipts)
// with the executor, an in-process IPFS node (storage/daemon, the same repo layout
// as `openledgerd ipfs`), the provider's libp2p host and a loopback HTTP endpoint
// serving Prometheus metrics (/metrics) and the daemon's status as JSON (/status,
// read by `openledgerd provider status`).
//
// Run runs every component under one errgroup with a shared context. When the
// context ends (SIGINT/SIGTERM in the CLI) the follower and the bidder stop taking
// work, settlement lets each job finish the step it is in (every step is one
// committed store transaction), the IPFS node stops after the components that use
// it, and the store is closed last.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cosmos/cosmos-sdk/crypto/keyring"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/internal/atomicfile"
	"github.com/openledger/openledger/p2p"
	"github.com/openledger/openledger/provider/bidder"
	"github.com/openledger/openledger/provider/chainclient"
	"github.com/openledger/openledger/provider/config"
	"github.com/openledger/openledger/provider/duty"
	"github.com/openledger/openledger/provider/executor"
	"github.com/openledger/openledger/provider/follower"
	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/provider/receipts"
	"github.com/openledger/openledger/provider/sessions"
	"github.com/openledger/openledger/provider/store"
	"github.com/openledger/openledger/storage"
	ipfsdaemon "github.com/openledger/openledger/storage/daemon"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// StatusFile is written in the data directory while the daemon runs: the base URL
// of its local HTTP endpoint.
const StatusFile = "status.url"

// DefaultListen is the CLI's default address of the metrics and status endpoint.
const DefaultListen = "127.0.0.1:7101"

// ExecEnv is what an executor is built from.
type ExecEnv struct {
	Config     config.Config
	ConfigPath string
	// IPFS is the daemon's online IPFS node (inputs, models, outputs).
	IPFS *storage.Node
	// Chain is the chain client (model versions, deployments).
	Chain *chainclient.Client
	Log   *slog.Logger
	// Executor is the daemon's executor (set for NewEngine: DefaultEngine runs
	// the API's requests on its pool).
	Executor receipts.Executor
}

// Hooks let tests stop the daemon between steps, as a crash would.
type Hooks struct {
	// BeforeSubmit is called before each tx is signed, with its journal note
	// ("bid job 7", "receipt job 7"); an error refuses the submission.
	BeforeSubmit func(note string) error
	// AfterStep is called after each committed settlement step (see receipts.Hooks).
	AfterStep func(jobID uint64, s store.State) error
}

// Deps are the daemon's injected dependencies and options.
type Deps struct {
	// ConfigPath is the config file; relative paths in the config are relative to
	// its directory.
	ConfigPath string
	Logger     *slog.Logger
	// Keyring overrides the keyring named by the config (tests).
	Keyring keyring.Keyring
	// NewExecutor builds the executor once the IPFS node is up. Nil: the daemon
	// refuses to start (see DefaultExecutor).
	NewExecutor func(ctx context.Context, env ExecEnv) (receipts.Executor, error)
	// Listen is the metrics and status endpoint, host:port on loopback
	// ("127.0.0.1:0" picks a free port).
	Listen string
	// BlockTime, when positive, overrides the chain's block time estimate.
	BlockTime time.Duration
	// FollowerPollInterval, when positive, overrides the follower's polling period.
	FollowerPollInterval time.Duration
	// ScanInterval, when positive, overrides settlement's scan period.
	ScanInterval time.Duration
	Hooks        Hooks
	// API is the listen address (loopback host:port) of the OpenAI-compatible
	// API paid by session vouchers (provider/openai, docs/openai-api.md); it is
	// served when NewEngine is set too. Empty: api.listen when api.enabled.
	API string
	// NewEngine builds the API's engine once the IPFS node is up. Nil:
	// DefaultEngine when api.enabled.
	NewEngine func(ctx context.Context, env ExecEnv) (openai.Engine, error)
	// Sessions overrides provider/sessions' settlement policy (ChainID and
	// Operator are filled in).
	Sessions sessions.Config
	// OnReady is called once every component runs.
	OnReady func(Info)
}

// Info describes a started daemon.
type Info struct {
	Operator   string
	PeerID     string
	P2PAddrs   []string
	IPFSPeerID string
	IPFSAddrs  []string
	// URL of the metrics (/metrics) and status (/status) endpoint.
	URL string
	// APIURL is the OpenAI-compatible API's base URL ("" when off).
	APIURL string
}

// Run runs the daemon until ctx ends (then it returns nil once everything has
// stopped) or a component fails.
func Run(ctx context.Context, cfg config.Config, deps Deps) (err error) {
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if deps.NewExecutor == nil {
		return errors.New("provider daemon: no executor configured")
	}
	if cfg.API.Enabled {
		if deps.API == "" {
			deps.API = cfg.API.Listen
		}
		if deps.NewEngine == nil {
			deps.NewEngine = DefaultEngine
		}
	}
	resolve := func(p string) string { return config.Resolve(deps.ConfigPath, p) }
	listen := deps.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	if !isLoopback(listen) {
		return fmt.Errorf("provider daemon: the status endpoint %s must be on loopback", listen)
	}

	key, err := p2p.LoadOrCreateIdentity(resolve(cfg.P2P.IdentityFile))
	if err != nil {
		return fmt.Errorf("provider identity: %w", err)
	}
	peerID, err := p2p.PeerIDFromKey(key)
	if err != nil {
		return err
	}
	dataDir := resolve(cfg.DataDir)
	st, err := store.Open(dataDir, log.With("component", "store"), store.Options{})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing the store: %w", cerr)
		}
		log.Info("store closed")
	}()

	cl, err := newClient(cfg, deps, st, log)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := waitForChain(ctx, cl, cfg.Chain.GRPC, log); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	p2pCfg := p2p.DefaultConfig()
	p2pCfg.ListenAddrs = cfg.P2P.ListenAddrs
	h, err := p2p.New(key, p2pCfg)
	if err != nil {
		return err
	}
	defer h.Close()
	addrs := make([]string, 0, len(h.Addrs()))
	for _, a := range h.Addrs() {
		addrs = append(addrs, a.String())
	}
	log.Info("libp2p host listening", "peer", peerID.String(), "addrs", addrs)

	if err := register(ctx, cfg, cl, peerID.String(), addrs, log); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	d := &daemonState{cfg: cfg, st: st, cl: cl, peerID: peerID.String(), p2pAddrs: addrs, log: log, started: time.Now().UTC()}
	serveStatusProtocol(h, d, log)
	return d.run(ctx, deps, key, h, dataDir, listen)
}

// daemonState is what the status endpoint and the metrics read.
type daemonState struct {
	cfg      config.Config
	st       *store.Store
	cl       *chainclient.Client
	peerID   string
	p2pAddrs []string
	log      *slog.Logger
	started  time.Time

	chainHeight atomic.Int64
	ipfsPeer    string
	ipfsAddrs   []string
	rs          *receipts.Service
	exec        receipts.Executor
	events      atomic.Uint64
}

func (d *daemonState) run(ctx context.Context, deps Deps, key crypto.PrivKey, h host.Host, dataDir, listen string) error {
	log := d.log
	g, gctx := errgroup.WithContext(ctx)

	// The IPFS node outlives the components that use it: its context ends once
	// they have returned.
	var users sync.WaitGroup
	ipfsCtx, stopIPFS := context.WithCancel(context.WithoutCancel(ctx))
	defer stopIPFS()
	repo := config.Resolve(deps.ConfigPath, d.cfg.IPFS.RepoPath)
	if err := EnsureIPFSRepo(repo, false); err != nil {
		return err
	}
	nodeCh := make(chan *storage.Node, 1)
	infoCh := make(chan ipfsdaemon.Info, 1)
	g.Go(func() error {
		go func() { <-gctx.Done(); users.Wait(); stopIPFS() }()
		err := ipfsdaemon.Run(ipfsCtx, repo, ipfsdaemon.Options{
			Logger:  log.With("component", "ipfs"),
			Node:    func(n *storage.Node) { nodeCh <- n },
			OnReady: func(i ipfsdaemon.Info) { infoCh <- i },
		})
		if err != nil {
			return fmt.Errorf("ipfs node: %w", err)
		}
		if gctx.Err() == nil {
			return errors.New("ipfs node stopped")
		}
		return nil
	})
	var node *storage.Node
	select {
	case node = <-nodeCh:
	case <-gctx.Done():
		return ignoreCanceled(g.Wait())
	}
	ipfsInfo := <-infoCh
	d.ipfsPeer, d.ipfsAddrs = ipfsInfo.PeerID, ipfsInfo.SwarmAddrs

	exec, err := deps.NewExecutor(gctx, ExecEnv{Config: d.cfg, ConfigPath: deps.ConfigPath, IPFS: node, Chain: d.cl, Log: log})
	if err != nil {
		stopIPFS()
		_ = g.Wait()
		return fmt.Errorf("executor: %w", err)
	}
	d.exec = exec

	gas := hookedChain{Client: d.cl, before: deps.Hooks.BeforeSubmit}
	rchain := hookedReceiptsChain{Chain: receipts.NewChain(d.cl), before: deps.Hooks.BeforeSubmit}
	rs, err := receipts.New(receipts.Config{
		ChainID: d.cfg.Chain.ID, MaxConcurrency: int(d.cfg.Price.MaxConcurrency),
		BlockTime: deps.BlockTime, ScanInterval: deps.ScanInterval,
	}, d.st, rchain, exec, key, log)
	if err != nil {
		return err
	}
	rs.SetHooks(receipts.Hooks{AfterStep: deps.Hooks.AfterStep})
	d.rs = rs
	var pool *executor.Pool // committee duty audits on the executor's pool when it is one
	if pe, ok := exec.(PoolExecutor); ok {
		pool, _ = pe.Pool.(*executor.Pool)
	}
	ds, err := duty.ForDaemon(duty.DaemonEnv{Client: d.cl, Store: d.st, IPFS: node, Pool: pool, CacheDir: filepath.Join(dataDir, "verify-cache"), Log: log})
	if err != nil {
		return err
	}
	policy, err := Policy(d.cfg)
	if err != nil {
		return err
	}
	bs := bidder.NewService(policy, d.st, gas, log)
	handle := func(ctx context.Context, ev follower.Event) error {
		d.events.Add(1)
		if ok, err := rs.Handle(ctx, ev); ok {
			return err
		}
		if err := bs.Handle(ctx, ev); err != nil {
			return err
		}
		if _, ok := ev.Msg.(*inferencetypes.EventJobAwarded); ok {
			rs.Kick()
		}
		return nil
	}
	fl, err := follower.New(follower.Config{RPCAddr: d.cfg.Chain.RPC, PollInterval: deps.FollowerPollInterval}, d.st, handle, log)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("status endpoint %s: %w", listen, err)
	}
	url := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: d.handler(), ReadHeaderTimeout: 5 * time.Second}
	statusFile := filepath.Join(dataDir, StatusFile)
	if err := atomicfile.Write(statusFile, []byte(url+"\n"), 0o600); err != nil {
		ln.Close()
		return err
	}
	defer os.Remove(statusFile)

	component := func(name string, run func(context.Context) error) {
		users.Add(1)
		g.Go(func() error {
			defer users.Done()
			if err := run(gctx); err != nil && gctx.Err() == nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			log.Debug("component stopped", "component", name)
			return nil
		})
	}
	component("bidder", func(ctx context.Context) error {
		resumePending(ctx, d.cl, d.st, log)
		return bs.Run(ctx)
	})
	component("receipts", rs.Run)
	component("follower", fl.Run)
	component("chain height", d.pollHeight)
	component("committee duty", ds.Run)
	apiURL := ""
	if deps.API != "" && deps.NewEngine != nil {
		if apiURL, err = d.startAPI(gctx, deps, key, h, node, gas, component, g); err != nil {
			stopIPFS()
			_ = g.Wait()
			return err
		}
	}
	g.Go(func() error {
		go func() {
			<-gctx.Done()
			sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			_ = srv.Shutdown(sctx)
		}()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("status endpoint: %w", err)
		}
		return nil
	})

	info := Info{Operator: d.cl.Address(), PeerID: d.peerID, P2PAddrs: d.p2pAddrs, IPFSPeerID: d.ipfsPeer, IPFSAddrs: d.ipfsAddrs, URL: url, APIURL: apiURL}
	log.Info("provider daemon running", "operator", info.Operator, "peer", info.PeerID, "p2p", info.P2PAddrs,
		"ipfs_peer", info.IPFSPeerID, "status", url+"/status", "metrics", url+"/metrics")
	if deps.OnReady != nil {
		deps.OnReady(info)
	}
	err = g.Wait()
	log.Info("provider daemon stopped")
	return ignoreCanceled(err)
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (d *daemonState) pollHeight(ctx context.Context) error {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		if h, err := d.cl.LatestHeight(ctx); err == nil {
			d.chainHeight.Store(h)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func newClient(cfg config.Config, deps Deps, st *store.Store, log *slog.Logger) (*chainclient.Client, error) {
	enc, err := chainclient.NewEncoding()
	if err != nil {
		return nil, err
	}
	kr := deps.Keyring
	if kr == nil {
		kr, err = chainclient.OpenKeyring(cfg.Key.KeyringBackend, config.Resolve(deps.ConfigPath, cfg.Key.KeyringDir), enc)
		if err != nil {
			return nil, err
		}
	}
	gp, err := cfg.GasPrice()
	if err != nil {
		return nil, err
	}
	return chainclient.New(chainclient.Config{
		GRPCAddr: cfg.Chain.GRPC, ChainID: cfg.Chain.ID, KeyName: cfg.Key.Name, Keyring: kr,
		GasLimit: cfg.Gas.Limit, GasAdjustment: cfg.Gas.Adjustment, GasPrice: gp,
		RequestTimeout: cfg.Chain.RequestTimeout.D(), InclusionTimeout: cfg.Chain.InclusionTimeout.D(),
		Journal: st,
	}, enc, log)
}

// waitForChain checks the gas price against the node's minimum, backing off
// while the node is unreachable.
func waitForChain(ctx context.Context, cl *chainclient.Client, grpcAddr string, log *slog.Logger) error {
	backoff := time.Second
	for {
		err := cl.CheckGasPrice(ctx)
		if err == nil {
			return nil
		}
		if status.Code(errors.Unwrap(err)) != codes.Unavailable && !strings.Contains(err.Error(), "connection refused") &&
			!strings.Contains(err.Error(), "Unavailable") {
			return err
		}
		log.Warn("chain unreachable; retrying", "grpc", grpcAddr, "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// resumePending settles the txs journaled before a restart, except receipt txs
// (settlement resumes those itself). A bid found in a block is recorded on its
// job so that the bidder does not bid again.
func resumePending(ctx context.Context, cl *chainclient.Client, st *store.Store, log *slog.Logger) {
	txs, err := st.PendingTxs()
	if err != nil {
		log.Error("reading pending txs", "err", err)
		return
	}
	for _, p := range txs {
		if strings.HasPrefix(p.Note, receipts.NotePrefix) || ctx.Err() != nil {
			continue
		}
		_, err := cl.Resume(ctx, p.Hash, p.Body)
		log.Info("resumed a journaled tx", "tx", p.Hash, "note", p.Note, "err", err)
		if id, ok := strings.CutPrefix(p.Note, "bid job "); ok && err == nil {
			if jobID, perr := strconv.ParseUint(id, 10, 64); perr == nil {
				_ = st.Update(func(tx *store.Tx) error {
					_, err := tx.EditJob(jobID, func(j *store.Job) {
						if j.BidTxHash == "" {
							j.BidTxHash = p.Hash
						}
					})
					if errors.Is(err, store.ErrNotFound) {
						return nil
					}
					return err
				})
			}
		}
	}
}

// Policy builds the bidder's price policy from the config.
func Policy(cfg config.Config) (bidder.Policy, error) {
	p := bidder.Policy{
		MarkupBPSPerLoad: cfg.Price.MarkupBPSPerLoad, MaxConcurrency: cfg.Price.MaxConcurrency,
		RefuseWhenSaturated: cfg.Price.RefuseWhenSaturated, MarginBlocks: cfg.Bid.MarginBlocks,
		Deployments: map[uint64]bidder.Offer{},
	}
	for _, d := range cfg.Price.Deployments {
		base, err := d.Base()
		if err != nil {
			return p, err
		}
		floor, err := d.Floor()
		if err != nil {
			return p, err
		}
		p.Deployments[d.DeploymentID] = bidder.Offer{Base: base, Floor: floor, MaxConcurrency: d.MaxConcurrency}
	}
	return p, nil
}

// register registers the provider and sets its offers when bid.register_on_start
// is set and they are missing or differ; it refuses to run with an identity other
// than the registered peer id (the chain would refuse every receipt).
func register(ctx context.Context, cfg config.Config, cl *chainclient.Client, peerID string, addrs []string, log *slog.Logger) error {
	res, err := cl.Inference().Provider(ctx, &inferencetypes.QueryProviderRequest{Operator: cl.Address()})
	switch {
	case status.Code(err) == codes.NotFound:
		if !cfg.Bid.RegisterOnStart {
			log.Warn("the operator is not a registered provider and bid.register_on_start is off: bids will be refused",
				"operator", cl.Address())
			return nil
		}
		stake, err := sdk.ParseCoinNormalized(cfg.Bid.Stake)
		if err != nil {
			return fmt.Errorf("bid.stake: %w", err)
		}
		engines := make([]string, 0, len(cfg.Backends))
		for _, b := range cfg.Backends {
			engines = append(engines, b.Name)
		}
		msg := &inferencetypes.MsgRegisterProvider{
			Operator: cl.Address(), PeerId: peerID, Multiaddrs: addrs, Engines: engines, Moniker: cfg.Bid.Moniker,
			Hardware: inferencetypes.Hardware{Accelerator: "cpu", Count: uint32(runtime.NumCPU())}, Stake: stake,
		}
		if _, err := cl.SubmitAndWait(ctx, "register provider", msg); err != nil {
			return fmt.Errorf("registering the provider: %w", err)
		}
		log.Info("provider registered", "operator", cl.Address(), "peer", peerID, "stake", stake.String())
	case err != nil:
		return fmt.Errorf("query provider %s: %w", cl.Address(), err)
	case res.Provider.PeerId != peerID:
		return fmt.Errorf("provider %s is registered with peer id %s but this identity is %s: receipts would be refused; "+
			"use the registered identity file or 'tx inference update-provider --identity'", cl.Address(), res.Provider.PeerId, peerID)
	default:
		log.Info("provider registered on chain", "status", res.Provider.Status.String(), "stake", res.Provider.Stake.String())
	}
	if !cfg.Bid.RegisterOnStart || len(cfg.Price.Deployments) == 0 {
		return nil
	}
	offers, err := cl.Inference().ProviderOffers(ctx, &inferencetypes.QueryProviderOffersRequest{Operator: cl.Address()})
	if err != nil {
		return fmt.Errorf("query offers: %w", err)
	}
	have := map[uint64]inferencetypes.Offer{}
	for _, o := range offers.Offers {
		have[o.DeploymentId] = o
	}
	var msgs []sdk.Msg
	for _, d := range cfg.Price.Deployments {
		base, err := d.Base()
		if err != nil {
			return err
		}
		mc := d.MaxConcurrency
		if mc == 0 {
			mc = cfg.Price.MaxConcurrency
		}
		if o, ok := have[d.DeploymentID]; ok && o.ComputePricePerThousandTokens.Equal(base) && o.MaxConcurrency == mc {
			continue
		}
		msgs = append(msgs, &inferencetypes.MsgSetOffer{Operator: cl.Address(), DeploymentId: d.DeploymentID,
			ComputePricePerThousandTokens: base, MaxConcurrency: mc})
	}
	if len(msgs) == 0 {
		return nil
	}
	if _, err := cl.SubmitAndWait(ctx, "set offers", msgs...); err != nil {
		return fmt.Errorf("setting offers: %w", err)
	}
	log.Info("offers set", "count", len(msgs))
	return nil
}

// hookedChain is the bidder's chain: the client with Hooks.BeforeSubmit.
type hookedChain struct {
	*chainclient.Client
	before func(string) error
}

func (h hookedChain) Submit(ctx context.Context, note string, msgs ...sdk.Msg) (chainclient.Submitted, error) {
	if h.before != nil {
		if err := h.before(note); err != nil {
			return chainclient.Submitted{}, err
		}
	}
	return h.Client.Submit(ctx, note, msgs...)
}

// hookedReceiptsChain is settlement's chain with Hooks.BeforeSubmit.
type hookedReceiptsChain struct {
	receipts.Chain
	before func(string) error
}

func (h hookedReceiptsChain) Submit(ctx context.Context, note string, msgs ...sdk.Msg) (chainclient.Submitted, error) {
	if h.before != nil {
		if err := h.before(note); err != nil {
			return chainclient.Submitted{}, err
		}
	}
	return h.Chain.Submit(ctx, note, msgs...)
}

func isLoopback(hostport string) bool {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
