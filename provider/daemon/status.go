package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openledger/openledger/provider/chainclient"
	"github.com/openledger/openledger/provider/store"
	"github.com/openledger/openledger/storage"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// StatusProtocol is the libp2p protocol on which the provider answers peers with
// a small JSON status (load and prices).
const StatusProtocol = "/openledger/provider/status/1.0.0"

// Status is the daemon's summary (GET /status, `provider status`).
type Status struct {
	Running   bool      `json:"running"`
	StartedAt time.Time `json:"started_at,omitzero"`
	Operator  string    `json:"operator"`
	PeerID    string    `json:"peer_id,omitempty"`
	P2PAddrs  []string  `json:"p2p_addrs,omitempty"`
	IPFSPeer  string    `json:"ipfs_peer_id,omitempty"`
	IPFSAddrs []string  `json:"ipfs_addrs,omitempty"`

	Registered     bool          `json:"registered"`
	ProviderStatus string        `json:"provider_status,omitempty"`
	Stake          string        `json:"stake,omitempty"`
	Offers         []OfferStatus `json:"offers,omitempty"`

	Jobs           map[store.State]int `json:"jobs"`
	PendingTxs     int                 `json:"pending_txs"`
	Receipts       int                 `json:"receipts_waiting"`
	FollowerHeight int64               `json:"follower_height"`
	ChainHeight    int64               `json:"chain_height"`
	ChainError     string              `json:"chain_error,omitempty"`
}

// OfferStatus is one on-chain offer.
type OfferStatus struct {
	DeploymentID   uint64 `json:"deployment_id"`
	Price          string `json:"price"`
	MaxConcurrency uint32 `json:"max_concurrency"`
}

// Snapshot reads the store and (when cl is not nil) the chain. Chain errors are
// reported in ChainError, not returned.
func Snapshot(ctx context.Context, st *store.Store, cl *chainclient.Client) (Status, error) {
	s := Status{Jobs: map[store.State]int{}}
	err := st.View(func(tx *store.Tx) error {
		var err error
		if s.Jobs, err = tx.CountJobs(); err != nil {
			return err
		}
		txs, err := tx.PendingTxs()
		if err != nil {
			return err
		}
		s.PendingTxs = len(txs)
		rs, err := tx.Receipts()
		if err != nil {
			return err
		}
		s.Receipts = len(rs)
		s.FollowerHeight, err = tx.Height()
		return err
	})
	if err != nil || cl == nil {
		return s, err
	}
	s.Operator = cl.Address()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var errs []string
	if h, err := cl.LatestHeight(ctx); err == nil {
		s.ChainHeight = h
	} else {
		errs = append(errs, err.Error())
	}
	res, err := cl.Inference().Provider(ctx, &inferencetypes.QueryProviderRequest{Operator: s.Operator})
	switch {
	case status.Code(err) == codes.NotFound:
	case err != nil:
		errs = append(errs, err.Error())
	default:
		s.Registered = true
		s.ProviderStatus = strings.TrimPrefix(res.Provider.Status.String(), "PROVIDER_STATUS_")
		s.Stake = res.Provider.Stake.String()
		offers, err := cl.Inference().ProviderOffers(ctx, &inferencetypes.QueryProviderOffersRequest{Operator: s.Operator})
		if err != nil {
			errs = append(errs, err.Error())
			break
		}
		for _, o := range offers.Offers {
			s.Offers = append(s.Offers, OfferStatus{DeploymentID: o.DeploymentId, Price: o.ComputePricePerThousandTokens.String(), MaxConcurrency: o.MaxConcurrency})
		}
	}
	s.ChainError = strings.Join(errs, "; ")
	return s, nil
}

func (d *daemonState) status(ctx context.Context) (Status, error) {
	s, err := Snapshot(ctx, d.st, d.cl)
	s.Running, s.StartedAt = true, d.started
	s.PeerID, s.P2PAddrs, s.IPFSPeer, s.IPFSAddrs = d.peerID, d.p2pAddrs, d.ipfsPeer, d.ipfsAddrs
	return s, err
}

func (d *daemonState) handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &collector{d: d})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		s, err := d.status(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s)
	})
	return mux
}

// collector exports the daemon's state at scrape time.
type collector struct{ d *daemonState }

const ns = "openledger_provider_"

var (
	descJobs       = prometheus.NewDesc(ns+"jobs", "Jobs in the store by state.", []string{"state"}, nil)
	descBids       = prometheus.NewDesc(ns+"bids_sent", "Jobs in the store whose bid was broadcast.", nil, nil)
	descPending    = prometheus.NewDesc(ns+"pending_txs", "Journaled txs not yet seen in a block.", nil, nil)
	descFollower   = prometheus.NewDesc(ns+"follower_height", "Last block height the follower processed.", nil, nil)
	descChain      = prometheus.NewDesc(ns+"chain_height", "Latest chain height seen.", nil, nil)
	descLag        = prometheus.NewDesc(ns+"chain_lag_blocks", "Chain height minus follower height.", nil, nil)
	descEvents     = prometheus.NewDesc(ns+"events_total", "Chain events delivered to the daemon.", nil, nil)
	descExec       = prometheus.NewDesc(ns+"executions_total", "Executions started.", nil, nil)
	descExecErr    = prometheus.NewDesc(ns+"execution_errors_total", "Executions that failed.", nil, nil)
	descSubmitted  = prometheus.NewDesc(ns+"receipts_submitted_total", "Receipt txs broadcast.", nil, nil)
	descIncluded   = prometheus.NewDesc(ns+"receipts_included_total", "Receipts seen included.", nil, nil)
	descGivenUp    = prometheus.NewDesc(ns+"jobs_given_up_total", "Won jobs given up by settlement.", nil, nil)
	descAlerts     = prometheus.NewDesc(ns+"alerts_total", "Digest mismatches refused.", nil, nil)
	descStoreError = prometheus.NewDesc(ns+"store_errors_total", "Scrapes that could not read the store.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	counter := func(desc *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v))
	}
	var fh int64
	err := d.st.View(func(tx *store.Tx) error {
		jobs, err := tx.Jobs()
		if err != nil {
			return err
		}
		byState := map[store.State]int{}
		bids := 0
		for _, j := range jobs {
			byState[j.State]++
			if j.BidTxHash != "" {
				bids++
			}
		}
		for _, s := range []store.State{store.StateSeen, store.StateBid, store.StateAwarded, store.StateExecuting,
			store.StateOutputStored, store.StateReceiptBuilt, store.StateReceiptSent, store.StateIncluded, store.StateGivenUp} {
			gauge(descJobs, float64(byState[s]), string(s))
		}
		gauge(descBids, float64(bids))
		txs, err := tx.PendingTxs()
		if err != nil {
			return err
		}
		gauge(descPending, float64(len(txs)))
		fh, err = tx.Height()
		return err
	})
	if err != nil {
		counter(descStoreError, 1)
	}
	ch2 := d.chainHeight.Load()
	gauge(descFollower, float64(fh))
	gauge(descChain, float64(ch2))
	gauge(descLag, float64(max(ch2-fh, 0)))
	counter(descEvents, d.events.Load())
	if d.rs != nil {
		s := d.rs.Stats()
		counter(descExec, s.Executions.Load())
		counter(descExecErr, s.ExecutionErrors.Load())
		counter(descSubmitted, s.Submitted.Load())
		counter(descIncluded, s.Included.Load())
		counter(descGivenUp, s.GivenUp.Load())
		counter(descAlerts, s.Alerts.Load())
	}
}

// peerStatus is the StatusProtocol answer.
type peerStatus struct {
	Operator string              `json:"operator"`
	Jobs     map[store.State]int `json:"jobs"`
	MaxJobs  uint32              `json:"max_concurrency"`
	Prices   map[uint64]string   `json:"prices"`
}

// serveStatusProtocol answers StatusProtocol streams with the provider's load
// and prices, then closes the stream.
func serveStatusProtocol(h host.Host, d *daemonState, log *slog.Logger) {
	h.SetStreamHandler(StatusProtocol, func(s network.Stream) {
		if err := s.Scope().SetService("openledger.provider.status"); err != nil {
			_ = s.Reset()
			return
		}
		_ = s.SetDeadline(time.Now().Add(10 * time.Second))
		ps := peerStatus{Operator: d.cl.Address(), MaxJobs: d.cfg.Price.MaxConcurrency, Prices: map[uint64]string{}}
		for _, dp := range d.cfg.Price.Deployments {
			ps.Prices[dp.DeploymentID] = dp.BasePrice
		}
		if err := d.st.View(func(tx *store.Tx) error { var err error; ps.Jobs, err = tx.CountJobs(); return err }); err != nil {
			_ = s.Reset()
			return
		}
		if err := json.NewEncoder(s).Encode(ps); err != nil {
			log.Debug("status protocol", "peer", s.Conn().RemotePeer(), "err", err)
			_ = s.Reset()
			return
		}
		_ = s.Close()
	})
}

// ReadStatus asks a running daemon for its status: the endpoint's URL is in
// <data_dir>/status.url. A daemon that is not running is os.ErrNotExist.
func ReadStatus(ctx context.Context, dataDir string) (Status, error) {
	bz, err := os.ReadFile(filepath.Join(dataDir, StatusFile))
	if err != nil {
		return Status{}, err
	}
	url := strings.TrimSpace(string(bz))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/status", nil)
	if err != nil {
		return Status{}, err
	}
	res, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		return Status{}, fmt.Errorf("status endpoint %s: %w", url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return Status{}, fmt.Errorf("status endpoint %s: %s", url, res.Status)
	}
	var s Status
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		return Status{}, fmt.Errorf("status endpoint %s: %w", url, err)
	}
	return s, nil
}

// IPFSConfig is the provider's IPFS repo config: the API on a free loopback
// port, no gateway; with loopback, swarm on free loopback ports and no DHT.
func IPFSConfig(loopback bool) storage.Config {
	cfg := storage.DefaultConfig()
	if loopback {
		cfg = storage.LoopbackConfig()
		cfg.Routing.DHT = "none"
	} else {
		cfg.Addresses.Swarm = []string{"/ip4/0.0.0.0/tcp/4102", "/ip4/0.0.0.0/udp/4102/quic-v1"}
	}
	cfg.Addresses.API = "127.0.0.1:0"
	cfg.Addresses.Gateway = ""
	return cfg
}

// EnsureIPFSRepo initialises the IPFS repo at dir when missing (IPFSConfig).
func EnsureIPFSRepo(dir string, loopback bool) error {
	if storage.IsInitialized(dir) {
		return nil
	}
	cfg := IPFSConfig(loopback)
	if err := storage.Init(dir, &cfg); err != nil {
		return fmt.Errorf("ipfs repo %s: %w", dir, err)
	}
	return nil
}
