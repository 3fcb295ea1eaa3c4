package storage

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/openledger/openledger/p2p"
)

// ErrOffline is returned by network operations on an offline node.
var ErrOffline = errors.New("the node is offline: start `openledgerd ipfs daemon` first")

// ID implements API.
func (n *Node) ID(context.Context) (Identity, error) {
	id := Identity{PeerID: n.id.String(), AgentVersion: n.cfg.P2P().UserAgent, Online: n.Online(), Addrs: []string{}}
	if n.host != nil {
		for _, a := range n.host.Addrs() {
			id.Addrs = append(id.Addrs, a.String()+"/p2p/"+n.id.String())
		}
		sort.Strings(id.Addrs)
	}
	return id, nil
}

// Connect implements API.
func (n *Node) Connect(ctx context.Context, addr string) error {
	if n.host == nil {
		return ErrOffline
	}
	ai, err := p2p.ParseAddrInfo(addr)
	if err != nil {
		return err
	}
	return p2p.Connect(ctx, n.host, ai, 30*time.Second, "peering")
}

// Peers implements API.
func (n *Node) Peers(context.Context) ([]PeerInfo, error) {
	if n.host == nil {
		return nil, ErrOffline
	}
	out := []PeerInfo{}
	for _, c := range n.host.Network().Conns() {
		out = append(out, PeerInfo{ID: c.RemotePeer().String(), Addr: c.RemoteMultiaddr().String()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID+out[i].Addr < out[j].ID+out[j].Addr })
	return out, nil
}
