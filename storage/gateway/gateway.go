// Package gateway serves a node's blocks over HTTP as a read-only IPFS
// gateway (boxo/gateway): trustless responses (?format=raw, ?format=car and
// the application/vnd.ipld.raw / application/vnd.ipld.car Accept headers)
// and deserialized UnixFS paths /ipfs/<cid>/<path> with content types and
// range requests.
//
// Around boxo's handler it adds the guards of a public-facing service:
// only GET, HEAD and OPTIONS; only /ipfs/ paths (no IPNS or DNSLink, which
// would need the network for names); path traversal segments rejected;
// URL length, header size, DAG size, concurrency and duration limits.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ipfs/boxo/blockservice"
	bgw "github.com/ipfs/boxo/gateway"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/openledger/openledger/storage"
)

// NewHandler returns the gateway handler over bs (a node's block service;
// online nodes fetch missing blocks through bitswap, each verified).
func NewHandler(bs blockservice.BlockService, cfg storage.GatewayConfig) (http.Handler, error) {
	backend, err := bgw.NewBlocksBackend(bs, bgw.WithPrometheusRegistry(prometheus.NewRegistry()))
	if err != nil {
		return nil, fmt.Errorf("gateway backend: %w", err)
	}
	gwc := bgw.Config{
		DeserializedResponses:    true,
		NoDNSLink:                true,
		DisableHTMLErrors:        true,
		RetrievalTimeout:         time.Duration(cfg.RetrievalTimeout),
		MaxConcurrentRequests:    cfg.MaxConcurrentRequests,
		MaxRequestDuration:       time.Duration(cfg.MaxRequestDuration),
		MaxUnixFSDAGResponseSize: cfg.MaxResponseSize,
		MetricsRegistry:          prometheus.NewRegistry(),
	}
	inner := bgw.NewHandler(gwc, backend)
	return guard(inner, cfg), nil
}

// guard applies the request checks that precede boxo's handler.
func guard(next http.Handler, cfg storage.GatewayConfig) http.Handler {
	maxURL := cfg.MaxURLLength
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			w.Header().Set("Allow", "GET, HEAD, OPTIONS")
			http.Error(w, "the gateway is read-only: method "+r.Method+" not allowed", http.StatusMethodNotAllowed)
			return
		}
		if maxURL > 0 && len(r.RequestURI) > maxURL {
			http.Error(w, fmt.Sprintf("request URL is %d bytes, the limit is %d", len(r.RequestURI), maxURL), http.StatusRequestURITooLong)
			return
		}
		if r.ContentLength > 0 || len(r.TransferEncoding) > 0 {
			http.Error(w, "the gateway does not accept request bodies", http.StatusRequestEntityTooLarge)
			return
		}
		p := r.URL.Path
		if !strings.HasPrefix(p, "/ipfs/") {
			if strings.HasPrefix(p, "/ipns/") {
				http.Error(w, "IPNS and DNSLink are not served by this gateway; use /ipfs/<cid>", http.StatusNotImplemented)
				return
			}
			http.Error(w, "not found: paths are /ipfs/<cid>[/path]", http.StatusNotFound)
			return
		}
		if hasTraversal(r.URL.EscapedPath()) || hasTraversal(p) {
			http.Error(w, "path traversal segments (. or ..) are not allowed", http.StatusBadRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hasTraversal reports "." or ".." segments, also percent-encoded, and
// backslashes or NUL bytes that some clients treat as separators.
func hasTraversal(p string) bool {
	lower := strings.ToLower(p)
	if strings.ContainsAny(lower, "\\\x00") || strings.Contains(lower, "%5c") || strings.Contains(lower, "%00") {
		return true
	}
	lower = strings.ReplaceAll(lower, "%2e", ".")
	lower = strings.ReplaceAll(lower, "%2f", "/")
	for _, seg := range strings.Split(lower, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// NewServer wraps h in an http.Server with header, read, write and idle
// timeouts derived from cfg.
func NewServer(h http.Handler, cfg storage.GatewayConfig) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      time.Duration(cfg.MaxRequestDuration) + 5*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
	}
}

// Serve runs srv on ln until ctx ends, then shuts it down gracefully
// (in-flight requests get 5 s).
func Serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
		<-errc
		return nil
	}
}
