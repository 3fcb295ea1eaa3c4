package p2p

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	noise "github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

// Config describes the host. The zero value is not usable; start from
// DefaultConfig and override fields.
type Config struct {
	// ListenAddrs are the multiaddrs to listen on, e.g.
	// "/ip4/0.0.0.0/tcp/4101" and "/ip4/0.0.0.0/udp/4101/quic-v1".
	ListenAddrs []string
	// ConnMgrLow and ConnMgrHigh are the connection manager watermarks: above
	// High, connections are trimmed down to Low (oldest unprotected first).
	ConnMgrLow  int
	ConnMgrHigh int
	// ConnMgrGrace protects new connections from trimming for this long.
	ConnMgrGrace time.Duration
	// ResourceMemoryBytes caps the memory the resource manager lets libp2p
	// use; 0 scales the defaults to 1/8 of system memory.
	ResourceMemoryBytes int64
	// ResourceMaxFDs caps file descriptors; 0 means half of the process limit.
	ResourceMaxFDs int
	// EnableNATPortMap asks the router (UPnP / NAT-PMP) to forward the ports.
	EnableNATPortMap bool
	// EnableRelayClient lets the host use circuit relays when unreachable.
	EnableRelayClient bool
	// UserAgent is announced through identify.
	UserAgent string
	// Metrics, when non-nil, receives libp2p's Prometheus metrics. When nil,
	// metrics are disabled.
	Metrics prometheus.Registerer
}

// DefaultConfig returns the listen addresses and limits used by the daemons.
func DefaultConfig() Config {
	return Config{
		ListenAddrs: []string{
			"/ip4/0.0.0.0/tcp/4101",
			"/ip6/::/tcp/4101",
			"/ip4/0.0.0.0/udp/4101/quic-v1",
			"/ip6/::/udp/4101/quic-v1",
		},
		ConnMgrLow:   32,
		ConnMgrHigh:  96,
		ConnMgrGrace: 20 * time.Second,
		UserAgent:    "openledgerd",
	}
}

// LoopbackConfig returns a config that listens on ephemeral loopback ports
// only (TCP and QUIC); tests and local tools use it.
func LoopbackConfig() Config {
	c := DefaultConfig()
	c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	return c
}

// Validate reports the first problem with the config.
func (c Config) Validate() error {
	if len(c.ListenAddrs) == 0 {
		return errors.New("p2p: no listen addresses")
	}
	for _, a := range c.ListenAddrs {
		if _, err := ma.NewMultiaddr(a); err != nil {
			return fmt.Errorf("p2p: invalid listen address %q: %w", a, err)
		}
	}
	if c.ConnMgrLow < 0 || c.ConnMgrHigh <= 0 || c.ConnMgrLow > c.ConnMgrHigh {
		return fmt.Errorf("p2p: connection manager watermarks must satisfy 0 <= low <= high, high > 0 (low=%d high=%d)", c.ConnMgrLow, c.ConnMgrHigh)
	}
	if c.ResourceMemoryBytes < 0 || c.ResourceMaxFDs < 0 {
		return errors.New("p2p: resource limits must not be negative")
	}
	return nil
}

// New builds and starts a libp2p host listening on cfg.ListenAddrs with the
// given identity. The caller closes the host.
func New(key crypto.PrivKey, cfg Config) (host.Host, error) {
	if key == nil {
		return nil, errors.New("p2p: nil identity key")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cm, err := connmgr.NewConnManager(cfg.ConnMgrLow, cfg.ConnMgrHigh, connmgr.WithGracePeriod(cfg.ConnMgrGrace))
	if err != nil {
		return nil, fmt.Errorf("p2p: connection manager: %w", err)
	}
	rm, err := newResourceManager(cfg)
	if err != nil {
		return nil, err
	}
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		// TLS first, like kubo: AES-GCM (hardware-accelerated) is cheaper
		// than Noise's ChaCha20-Poly1305 on bulk transfers; Noise stays
		// available for peers that only speak it.
		libp2p.Security(tls.ID, tls.New),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.Ping(true),
		libp2p.UserAgent(cfg.UserAgent),
	}
	if cfg.EnableNATPortMap {
		opts = append(opts, libp2p.NATPortMap())
	}
	if cfg.EnableRelayClient {
		opts = append(opts, libp2p.EnableRelay(), libp2p.EnableAutoRelayWithPeerSource(noRelays))
	} else {
		opts = append(opts, libp2p.DisableRelay())
	}
	if cfg.Metrics != nil {
		opts = append(opts, libp2p.PrometheusRegisterer(cfg.Metrics))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		_ = rm.Close()
		return nil, fmt.Errorf("p2p: starting host: %w", err)
	}
	return h, nil
}

func newResourceManager(cfg Config) (network.ResourceManager, error) {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	var concrete rcmgr.ConcreteLimitConfig
	if cfg.ResourceMemoryBytes > 0 || cfg.ResourceMaxFDs > 0 {
		fds := cfg.ResourceMaxFDs
		if fds == 0 {
			fds = 512
		}
		mem := cfg.ResourceMemoryBytes
		if mem == 0 {
			mem = 1 << 30
		}
		concrete = limits.Scale(mem, fds)
	} else {
		concrete = limits.AutoScale()
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(concrete))
	if err != nil {
		return nil, fmt.Errorf("p2p: resource manager: %w", err)
	}
	return rm, nil
}

// noRelays is the peer source for auto-relay when no static relays are
// configured: it yields nothing, so only relays learnt by other means are used.
func noRelays(context.Context, int) <-chan peer.AddrInfo {
	ch := make(chan peer.AddrInfo)
	close(ch)
	return ch
}
