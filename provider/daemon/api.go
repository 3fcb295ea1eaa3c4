package daemon

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"golang.org/x/sync/errgroup"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/openledger/openledger/provider/chainclient"
	"github.com/openledger/openledger/provider/config"
	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/provider/p2pinfer"
	"github.com/openledger/openledger/provider/sessions"
	"github.com/openledger/openledger/storage"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// sessionsChain is provider/sessions' chain over the daemon's client; its
// settlements go through the one sequence manager (and Hooks.BeforeSubmit).
type sessionsChain struct {
	cl     *chainclient.Client
	submit hookedChain
}

func (c sessionsChain) Session(ctx context.Context, id uint64) (sessions.Info, error) {
	res, err := c.cl.Inference().Session(ctx, &inferencetypes.QuerySessionRequest{SessionId: id})
	if status.Code(err) == codes.NotFound {
		return sessions.Info{}, fmt.Errorf("%w: %d", sessions.ErrUnknownSession, id)
	}
	if err != nil {
		return sessions.Info{}, err
	}
	s := res.Session
	return sessions.Info{
		ID: s.Id, Requester: s.Requester, Provider: s.Provider, DeploymentID: s.DeploymentId, Deposit: s.Deposit,
		Royalty: s.RoyaltyPerThousandTokens.Amount, PubKey: ed25519.PublicKey(s.SessionPubkey),
		Open: s.Status == inferencetypes.SESSION_STATUS_OPEN, ExpiryHeight: s.ExpiryHeight, LastSequence: s.LastSequence,
	}, nil
}

func (c sessionsChain) Height(ctx context.Context) (int64, error) { return c.cl.LatestHeight(ctx) }

func (c sessionsChain) ComputePrice(ctx context.Context, dep uint64) (sdk.Coin, error) {
	res, err := c.cl.Inference().ProviderOffers(ctx, &inferencetypes.QueryProviderOffersRequest{Operator: c.cl.Address()})
	if err != nil {
		return sdk.Coin{}, err
	}
	for _, o := range res.Offers {
		if o.DeploymentId == dep {
			return o.ComputePricePerThousandTokens, nil
		}
	}
	return sdk.Coin{}, fmt.Errorf("no offer for deployment %d", dep)
}

func (c sessionsChain) Settle(ctx context.Context, msg *inferencetypes.MsgSettleSession) error {
	s, err := c.submit.Submit(ctx, fmt.Sprintf("settle session %d", msg.SessionId), msg)
	if err != nil {
		return err
	}
	_, err = c.cl.WaitTx(ctx, s.Hash)
	return err
}

// settlementPages bounds the pages of a session's settlements read at once.
const settlementPages = 100

// Settlements lists a session's settlements, page by page (bounded).
func (c sessionsChain) Settlements(ctx context.Context, id uint64) ([]sessions.Settlement, error) {
	var out []sessions.Settlement
	var key []byte
	for range settlementPages {
		res, err := c.cl.Inference().SessionSettlements(ctx, &inferencetypes.QuerySessionSettlementsRequest{
			SessionId: id, Pagination: &query.PageRequest{Key: key, Limit: 100},
		})
		if err != nil {
			return nil, err
		}
		for _, s := range res.Settlements {
			out = append(out, sessions.Settlement{ID: s.Id, RecordCID: s.RecordCid, Status: s.Status})
		}
		if res.Pagination == nil || len(res.Pagination.NextKey) == 0 {
			return out, nil
		}
		key = res.Pagination.NextKey
	}
	return nil, fmt.Errorf("session %d has more than %d settlements", id, settlementPages*100)
}

// recordPinReason is the pin reason of settlement batch records.
const recordPinReason = "session settlement record"

// ipfsRecords puts settlement batch records on the daemon's IPFS node.
type ipfsRecords struct{ node *storage.Node }

func (r ipfsRecords) Add(ctx context.Context, b []byte) (string, error) {
	res, err := r.node.AddFile(ctx, bytes.NewReader(b), recordPinReason)
	if err != nil {
		return "", err
	}
	return res.RootStr, nil
}

// Unpin releases a batch record pinned by Add; one not pinned (any more) is
// done, and so is a CID that does not parse (nothing was pinned under it).
func (r ipfsRecords) Unpin(ctx context.Context, s string) error {
	c, err := cid.Decode(s)
	if err != nil {
		return nil
	}
	if err := r.node.Unpin(ctx, c, recordPinReason); err != nil && !errors.Is(err, storage.ErrNotPinned) {
		return err
	}
	return nil
}

var (
	_ sessions.SettlementChain = sessionsChain{}
	_ sessions.Unpinner        = ipfsRecords{}
)

// startAPI starts the sessions manager (its settlement loop a component) and
// the OpenAI-compatible API under the daemon's errgroup, over HTTP and over
// the libp2p protocol /openledger/inference/1.0.0 on the daemon's host (the
// same handler); it returns the API's URL.
func (d *daemonState) startAPI(ctx context.Context, deps Deps, key crypto.PrivKey, h host.Host, node *storage.Node, gas hookedChain,
	component func(string, func(context.Context) error), g *errgroup.Group,
) (string, error) {
	if !isLoopback(deps.API) {
		return "", fmt.Errorf("provider daemon: the API %s must be on loopback", deps.API)
	}
	eng, err := deps.NewEngine(ctx, ExecEnv{Config: d.cfg, ConfigPath: deps.ConfigPath, IPFS: node, Chain: d.cl, Log: d.log, Executor: d.exec})
	if err != nil {
		return "", fmt.Errorf("api engine: %w", err)
	}
	scfg := deps.Sessions
	scfg.ChainID, scfg.Operator = d.cfg.Chain.ID, d.cl.Address()
	dataDir := config.Resolve(deps.ConfigPath, d.cfg.DataDir)
	sm, err := sessions.Open(dataDir, scfg, sessionsChain{cl: d.cl, submit: gas}, ipfsRecords{node: node}, key, d.log.With("component", "sessions"))
	if err != nil {
		return "", err
	}
	srv := openai.New(openai.Config{Operator: d.cl.Address(), MaxConcurrency: int(d.cfg.Price.MaxConcurrency)}, eng, sm, d.log.With("component", "api"))
	hs := srv.NewHTTPServer()
	ln, err := net.Listen("tcp", deps.API)
	if err != nil {
		sm.Close()
		return "", fmt.Errorf("api %s: %w", deps.API, err)
	}
	p2ps := &p2pinfer.Server{Handler: srv.Handler(), Log: d.log.With("component", "api-p2p")}
	p2ps.Register(ctx, h)
	served := make(chan struct{})
	component("sessions", func(ctx context.Context) error {
		defer func() { <-served; sm.Close() }() // the API stops using the store first
		err := sm.Run(ctx)
		// Settle what is due once more on the way out (bounded).
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		defer cancel()
		sm.SettleDue(sctx, false)
		return err
	})
	g.Go(func() error {
		defer close(served)
		go func() {
			<-ctx.Done()
			sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			_ = hs.Shutdown(sctx)
		}()
		err := hs.Serve(ln)
		p2ps.Unregister(h)
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("api: %w", err)
		}
		return nil
	})
	url := "http://" + ln.Addr().String()
	d.log.Info("OpenAI-compatible API listening", "url", url+"/v1", "libp2p", p2pinfer.ProtocolID)
	if err := d.registerAPIURL(ctx, d.cfg.APIURL(ln.Addr().String())); err != nil {
		// The API serves anyway; gateways do not find it until it is registered.
		d.log.Warn("registering the API URL on chain failed", "err", err)
	}
	return url, nil
}
