package p2p

import (
	"context"
	"errors"
	"fmt"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// ParseAddrInfo parses one "/ip4/…/tcp/…/p2p/<peer-id>" multiaddr.
func ParseAddrInfo(s string) (peer.AddrInfo, error) {
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("invalid multiaddr %q: %w", s, err)
	}
	ai, err := peer.AddrInfoFromP2pAddr(m)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("multiaddr %q must end in /p2p/<peer-id>: %w", s, err)
	}
	return *ai, nil
}

// ParseAddrInfos parses a list of peer multiaddrs, merging addresses of the
// same peer.
func ParseAddrInfos(addrs []string) ([]peer.AddrInfo, error) {
	byID := map[peer.ID]int{}
	var out []peer.AddrInfo
	for _, s := range addrs {
		ai, err := ParseAddrInfo(s)
		if err != nil {
			return nil, err
		}
		if i, ok := byID[ai.ID]; ok {
			out[i].Addrs = append(out[i].Addrs, ai.Addrs...)
			continue
		}
		byID[ai.ID] = len(out)
		out = append(out, ai)
	}
	return out, nil
}

// Connect dials one peer with a timeout and protects the connection from
// the connection manager under tag, so explicit peerings are not trimmed.
func Connect(ctx context.Context, h host.Host, ai peer.AddrInfo, timeout time.Duration, tag string) error {
	if ai.ID == h.ID() {
		return errors.New("refusing to connect to self")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := h.Connect(ctx, ai); err != nil {
		return fmt.Errorf("connecting to %s: %w", ai.ID, err)
	}
	if tag != "" {
		h.ConnManager().Protect(ai.ID, tag)
	}
	return nil
}

// ConnectAll dials every peer concurrently and returns the joined errors of
// the dials that failed (nil when all succeeded).
func ConnectAll(ctx context.Context, h host.Host, peers []peer.AddrInfo, timeout time.Duration, tag string) error {
	errs := make(chan error, len(peers))
	for _, ai := range peers {
		go func() { errs <- Connect(ctx, h, ai, timeout, tag) }()
	}
	var all []error
	for range peers {
		if err := <-errs; err != nil {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

// DHTMode selects how the node takes part in the kad-dht.
type DHTMode string

// The DHT modes accepted in configuration.
const (
	DHTOff    DHTMode = "none"   // no DHT; explicit peering only
	DHTClient DHTMode = "client" // query the DHT, do not serve it
	DHTServer DHTMode = "server" // query and serve (use on LANs and loopback)
	DHTAuto   DHTMode = "auto"   // server once the host is publicly reachable
)

// ParseDHTMode validates a configured DHT mode.
func ParseDHTMode(s string) (DHTMode, error) {
	switch m := DHTMode(s); m {
	case DHTOff, DHTClient, DHTServer, DHTAuto:
		return m, nil
	default:
		return "", fmt.Errorf("unknown DHT mode %q (want none, client, server or auto)", s)
	}
}

// NewDHT starts a kad-dht on the standard IPFS (amino) protocol in the given
// mode, bootstrapping from peers. It returns nil, nil for DHTOff.
func NewDHT(ctx context.Context, h host.Host, mode DHTMode, bootstrap []peer.AddrInfo) (*dht.IpfsDHT, error) {
	var m dht.ModeOpt
	switch mode {
	case DHTOff:
		return nil, nil
	case DHTClient:
		m = dht.ModeClient
	case DHTServer:
		m = dht.ModeServer
	case DHTAuto:
		m = dht.ModeAuto
	default:
		return nil, fmt.Errorf("unknown DHT mode %q", mode)
	}
	d, err := dht.New(h, dht.Mode(m), dht.BootstrapPeers(bootstrap...))
	if err != nil {
		return nil, fmt.Errorf("starting DHT: %w", err)
	}
	if err := d.Bootstrap(ctx); err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("bootstrapping DHT: %w", err)
	}
	return d, nil
}

// KeepConnected dials every peer now and then every interval redials the
// ones that are no longer connected, until ctx ends. It is the peering
// service for configured bootstrap peers: explicit peers stay connected even
// when a link drops or the remote restarts. Failures are passed to onErr
// (which may be nil) and retried at the next tick.
func KeepConnected(ctx context.Context, h host.Host, peers []peer.AddrInfo, interval time.Duration, onErr func(error)) {
	if len(peers) == 0 {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		var missing []peer.AddrInfo
		for _, ai := range peers {
			if h.Network().Connectedness(ai.ID) != network.Connected {
				missing = append(missing, ai)
			}
		}
		if len(missing) > 0 {
			if err := ConnectAll(ctx, h, missing, interval, "peering"); err != nil && onErr != nil && ctx.Err() == nil {
				onErr(err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
