package p2p

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"
)

func TestIdentityPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "identity.key")
	k1, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("identity key mode %v, want 0600", st.Mode().Perm())
	}
	k2, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equals(k2) {
		t.Fatal("reloaded key differs from the created one")
	}
	id1, _ := PeerIDFromKey(k1)
	id2, _ := PeerIDFromKey(k2)
	if id1 != id2 {
		t.Fatalf("peer id changed across reload: %s vs %s", id1, id2)
	}
}

func TestIdentityCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.key")
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreateIdentity(path)
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("want corrupt-key error, got %v", err)
	}
	// The corrupt file must not have been replaced.
	b, _ := os.ReadFile(path)
	if string(b) != "not a key" {
		t.Fatal("corrupt identity file was overwritten")
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"ok", func(*Config) {}, ""},
		{"no addrs", func(c *Config) { c.ListenAddrs = nil }, "no listen addresses"},
		{"bad addr", func(c *Config) { c.ListenAddrs = []string{"127.0.0.1:4001"} }, "invalid listen address"},
		{"watermarks", func(c *Config) { c.ConnMgrLow, c.ConnMgrHigh = 10, 5 }, "watermarks"},
		{"negative mem", func(c *Config) { c.ResourceMemoryBytes = -1 }, "negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := LoopbackConfig()
			tc.mut(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error containing %q, got %v", tc.want, err)
			}
		})
	}
}

func newTestHost(t *testing.T) host.Host {
	t.Helper()
	key, err := LoadOrCreateIdentity(filepath.Join(t.TempDir(), "key"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(key, LoopbackConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func p2pAddr(t *testing.T, h host.Host, proto int) string {
	t.Helper()
	for _, a := range h.Addrs() {
		if _, err := a.ValueForProtocol(proto); err == nil {
			return a.String() + "/p2p/" + h.ID().String()
		}
	}
	t.Fatalf("host has no address with protocol %d: %v", proto, h.Addrs())
	return ""
}

func TestHostsConnectOverTCPAndQUICAndIdentify(t *testing.T) {
	for _, tc := range []struct {
		name  string
		proto int
	}{{"tcp", ma.P_TCP}, {"quic", ma.P_QUIC_V1}} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newTestHost(t), newTestHost(t)
			ai, err := ParseAddrInfo(p2pAddr(t, b, tc.proto))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := ConnectAll(ctx, a, []peer.AddrInfo{ai}, 5*time.Second, "test"); err != nil {
				t.Fatal(err)
			}
			if !a.ConnManager().IsProtected(b.ID(), "test") {
				t.Fatal("explicit peering is not protected from trimming")
			}
			res := <-ping.Ping(ctx, a, b.ID())
			if res.Error != nil {
				t.Fatalf("ping: %v", res.Error)
			}
			// identify must have recorded the remote's user agent and protocols.
			deadline := time.Now().Add(5 * time.Second)
			for {
				av, err := a.Peerstore().Get(b.ID(), "AgentVersion")
				if err == nil && av == "openledgerd" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("identify did not record agent version: %v %v", av, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func TestConnectErrors(t *testing.T) {
	a := newTestHost(t)
	ctx := context.Background()
	if _, err := ParseAddrInfo("/ip4/127.0.0.1/tcp/1"); err == nil || !strings.Contains(err.Error(), "/p2p/") {
		t.Fatalf("want missing /p2p error, got %v", err)
	}
	if _, err := ParseAddrInfo("garbage"); err == nil || !strings.Contains(err.Error(), "invalid multiaddr") {
		t.Fatalf("want invalid multiaddr error, got %v", err)
	}
	self := peer.AddrInfo{ID: a.ID(), Addrs: a.Addrs()}
	if err := Connect(ctx, a, self, time.Second, ""); err == nil || !strings.Contains(err.Error(), "self") {
		t.Fatalf("want self-dial error, got %v", err)
	}
	// A peer that is not listening: closed port on loopback, fails fast.
	b := newTestHost(t)
	addr := p2pAddr(t, b, ma.P_TCP)
	b.Close()
	ai, _ := ParseAddrInfo(addr)
	ai.Addrs = ai.Addrs[:1]
	a.Peerstore().ClearAddrs(ai.ID)
	if err := ConnectAll(ctx, a, []peer.AddrInfo{ai}, 2*time.Second, ""); err == nil {
		t.Fatal("connecting to a closed host succeeded")
	}
}

func TestParseAddrInfosMerges(t *testing.T) {
	a := newTestHost(t)
	tcpA, quicA := p2pAddr(t, a, ma.P_TCP), p2pAddr(t, a, ma.P_QUIC_V1)
	ais, err := ParseAddrInfos([]string{tcpA, quicA})
	if err != nil {
		t.Fatal(err)
	}
	if len(ais) != 1 || len(ais[0].Addrs) != 2 {
		t.Fatalf("want one peer with two addrs, got %v", ais)
	}
}

func TestParseDHTMode(t *testing.T) {
	for _, s := range []string{"none", "client", "server", "auto"} {
		if _, err := ParseDHTMode(s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ParseDHTMode("lan"); err == nil {
		t.Fatal("accepted unknown mode")
	}
}

func TestKeepConnectedRedials(t *testing.T) {
	a, b := newTestHost(t), newTestHost(t)
	ai, err := ParseAddrInfo(p2pAddr(t, a, ma.P_TCP))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { KeepConnected(ctx, b, []peer.AddrInfo{ai}, 100*time.Millisecond, nil); close(done) }()
	defer func() { cancel(); <-done }()
	waitConnected := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for b.Network().Connectedness(a.ID()) != network.Connected {
			if time.Now().After(deadline) {
				t.Fatal("not (re)connected within 10s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitConnected()
	// The remote drops the link; the peering loop must restore it.
	if err := a.Network().ClosePeer(b.ID()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.Network().Connectedness(a.ID()) == network.Connected && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	waitConnected()
}
