// Package daemon runs an online IPFS node on a repo: libp2p host, bitswap,
// DHT, the local HTTP API (storage/api) and the read-only gateway
// (storage/gateway). Run blocks until its context ends, then shuts every
// part down and releases the repo.
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
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/openledger/openledger/storage"
	"github.com/openledger/openledger/storage/api"
	"github.com/openledger/openledger/storage/gateway"
)

// Info describes a started daemon.
type Info struct {
	PeerID     string
	SwarmAddrs []string // full /p2p/ multiaddrs
	APIURL     string
	GatewayURL string // "" when the gateway is disabled
}

// Options tune Run.
type Options struct {
	Logger *slog.Logger
	// OnReady is called once every listener is up and the API file is written.
	OnReady func(Info)
	// Node, when set, receives the node for in-process use (tests, the
	// provider daemon); it must not be used after Run returns.
	Node func(*storage.Node)
}

// Run starts the daemon on the repo at repoDir and serves until ctx ends.
func Run(ctx context.Context, repoDir string, opts Options) (err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n, err := storage.Open(ctx, repoDir, storage.OpenOptions{Online: true, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := n.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing node: %w", cerr)
		}
	}()
	cfg := n.Config()
	if !isLoopback(cfg.Addresses.API) {
		log.Warn("the local API listens on a non-loopback address; anyone who reaches it can add and delete data", "addr", cfg.Addresses.API)
	}
	apiLn, err := net.Listen("tcp", cfg.Addresses.API)
	if err != nil {
		return fmt.Errorf("API listener on %s: %w", cfg.Addresses.API, err)
	}
	apiSrv := &http.Server{Handler: api.NewHandler(n), ReadHeaderTimeout: 10 * time.Second}
	var gwLn net.Listener
	var gwSrv *http.Server
	if cfg.Addresses.Gateway != "" {
		gwLn, err = net.Listen("tcp", cfg.Addresses.Gateway)
		if err != nil {
			apiLn.Close()
			return fmt.Errorf("gateway listener on %s: %w", cfg.Addresses.Gateway, err)
		}
		h, err := gateway.NewHandler(n.BlockService(), cfg.Gateway)
		if err != nil {
			apiLn.Close()
			gwLn.Close()
			return err
		}
		gwSrv = gateway.NewServer(h, cfg.Gateway)
	}
	info := Info{APIURL: "http://" + apiLn.Addr().String()}
	if gwLn != nil {
		info.GatewayURL = "http://" + gwLn.Addr().String()
	}
	id, _ := n.ID(ctx)
	info.PeerID, info.SwarmAddrs = id.PeerID, id.Addrs

	apiFile := filepath.Join(repoDir, storage.APIFile)
	if err := writeAPIFile(apiFile, info.APIURL); err != nil {
		apiLn.Close()
		if gwLn != nil {
			gwLn.Close()
		}
		return fmt.Errorf("writing %s: %w", apiFile, err)
	}
	defer os.Remove(apiFile)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return gateway.Serve(gctx, apiSrv, apiLn) })
	if gwSrv != nil {
		g.Go(func() error { return gateway.Serve(gctx, gwSrv, gwLn) })
	}
	log.Info("ipfs daemon ready", "peer", info.PeerID, "api", info.APIURL, "gateway", info.GatewayURL, "swarm", info.SwarmAddrs)
	if opts.Node != nil {
		opts.Node(n)
	}
	if opts.OnReady != nil {
		opts.OnReady(info)
	}
	err = g.Wait()
	log.Info("ipfs daemon stopped")
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

func writeAPIFile(path, url string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(url+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
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
