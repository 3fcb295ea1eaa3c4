package storage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/openledger/openledger/p2p"
)

// Duration is a time.Duration written as a Go duration string ("30s") in
// the config file.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string such as "1m30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Config is the IPFS repo configuration, stored as JSON in <repo>/config.
// The file is sparse: every key missing from it takes the default from
// DefaultConfig, and unknown keys are rejected (they are usually typos).
type Config struct {
	Addresses AddressesConfig
	// Bootstrap lists peers ("/ip4/…/tcp/…/p2p/<id>") the daemon dials at
	// start and keeps connected (protected from connection trimming).
	Bootstrap []string
	Routing   RoutingConfig
	Swarm     SwarmConfig
	Datastore DatastoreConfig
	Import    ImportConfig
	Gateway   GatewayConfig
	// FetchTimeout bounds how long cat/get/pin wait for blocks that are not
	// in the local repo before failing with a clear timeout error.
	FetchTimeout Duration
}

// AddressesConfig holds the listen addresses.
type AddressesConfig struct {
	// Swarm are libp2p listen multiaddrs (TCP and QUIC-v1).
	Swarm []string
	// API is the host:port of the daemon's local HTTP API. Keep it on
	// loopback: it can add, pin and delete data.
	API string
	// Gateway is the host:port of the read-only HTTP gateway ("" disables it).
	Gateway string
}

// RoutingConfig selects content routing.
type RoutingConfig struct {
	// DHT is the kad-dht mode: "none", "client", "server" or "auto".
	DHT string
	// ReprovideInterval is how often every pinned root is announced again
	// on the DHT (records expire after 48 h); 0 disables reproviding.
	ReprovideInterval Duration
}

// SwarmConfig tunes the libp2p host.
type SwarmConfig struct {
	ConnMgrLow   int
	ConnMgrHigh  int
	ConnMgrGrace Duration
	// ResourceMemoryBytes caps libp2p memory; 0 = 1/8 of system memory.
	ResourceMemoryBytes int64
	// EnableNATPortMap asks the router to forward the swarm ports.
	EnableNATPortMap bool
}

// DatastoreConfig tunes the on-disk stores.
type DatastoreConfig struct {
	// StorageMax is the block store size limit in bytes (0 = unlimited).
	// Adds and fetches that would exceed it fail with ErrRepoFull.
	StorageMax int64
	// SyncWrites fsyncs every block file before an add is acknowledged.
	SyncWrites bool
}

// ImportConfig holds the UnixFS import parameters. The defaults equal
// kubo's `ipfs add --cid-version=1 --raw-leaves`.
type ImportConfig struct {
	// ChunkSize is the fixed chunk size in bytes (kubo: 262144).
	ChunkSize int
	// MaxLinks is the balanced DAG's link width (kubo: 174).
	MaxLinks int
	// HAMTShardingSize is the directory size (estimated from its links)
	// above which a directory becomes a HAMT shard (kubo: 262144).
	HAMTShardingSize int
}

// GatewayConfig holds the gateway limits. The gateway is always read-only.
type GatewayConfig struct {
	// MaxRequestDuration is the absolute deadline of one request.
	MaxRequestDuration Duration
	// RetrievalTimeout fails a request that makes no progress this long.
	RetrievalTimeout Duration
	// MaxResponseSize caps the DAG size served in any format (0 = no cap).
	MaxResponseSize int64
	// MaxConcurrentRequests answers 429 above this many requests in flight.
	MaxConcurrentRequests int
	// MaxURLLength rejects longer request URLs with 414.
	MaxURLLength int
	// MaxHeaderBytes caps request header size.
	MaxHeaderBytes int
}

// Default ports; chosen away from kubo's (4001/5001/8080) so both can run.
const (
	DefaultSwarmPort   = 4101
	DefaultAPIAddr     = "127.0.0.1:5101"
	DefaultGatewayAddr = "127.0.0.1:8180"
)

// DefaultConfig returns the configuration used for every key the file omits.
func DefaultConfig() Config {
	p := strconv.Itoa(DefaultSwarmPort)
	return Config{
		Addresses: AddressesConfig{
			Swarm: []string{
				"/ip4/0.0.0.0/tcp/" + p, "/ip6/::/tcp/" + p,
				"/ip4/0.0.0.0/udp/" + p + "/quic-v1", "/ip6/::/udp/" + p + "/quic-v1",
			},
			API:     DefaultAPIAddr,
			Gateway: DefaultGatewayAddr,
		},
		Bootstrap: []string{},
		Routing:   RoutingConfig{DHT: string(p2p.DHTAuto), ReprovideInterval: Duration(12 * time.Hour)},
		Swarm: SwarmConfig{
			ConnMgrLow: 32, ConnMgrHigh: 96, ConnMgrGrace: Duration(20 * time.Second),
		},
		Datastore: DatastoreConfig{SyncWrites: true},
		Import:    ImportConfig{ChunkSize: 256 << 10, MaxLinks: 174, HAMTShardingSize: 256 << 10},
		Gateway: GatewayConfig{
			MaxRequestDuration:    Duration(10 * time.Minute),
			RetrievalTimeout:      Duration(30 * time.Second),
			MaxConcurrentRequests: 256,
			MaxURLLength:          8 << 10,
			MaxHeaderBytes:        32 << 10,
		},
		FetchTimeout: Duration(2 * time.Minute),
	}
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	if c.Addresses.API == "" {
		return errors.New("config: Addresses.API must be set")
	}
	for _, a := range []string{c.Addresses.API, c.Addresses.Gateway} {
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("config: address %q is not host:port: %w", a, err)
		}
	}
	if _, err := p2p.ParseDHTMode(c.Routing.DHT); err != nil {
		return fmt.Errorf("config: Routing.DHT: %w", err)
	}
	if _, err := p2p.ParseAddrInfos(c.Bootstrap); err != nil {
		return fmt.Errorf("config: Bootstrap: %w", err)
	}
	if err := c.P2P().Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.Import.ChunkSize < 1024 || c.Import.ChunkSize > 1<<20 {
		return fmt.Errorf("config: Import.ChunkSize %d out of range [1024, 1048576]", c.Import.ChunkSize)
	}
	if c.Import.MaxLinks < 2 {
		return fmt.Errorf("config: Import.MaxLinks %d must be at least 2", c.Import.MaxLinks)
	}
	if c.Import.HAMTShardingSize < 0 || c.Datastore.StorageMax < 0 {
		return errors.New("config: sizes must not be negative")
	}
	if c.Routing.ReprovideInterval < 0 {
		return errors.New("config: Routing.ReprovideInterval must not be negative")
	}
	if c.FetchTimeout <= 0 || c.Gateway.MaxRequestDuration <= 0 {
		return errors.New("config: FetchTimeout and Gateway.MaxRequestDuration must be positive")
	}
	return nil
}

// P2P converts the swarm settings to a host config.
func (c Config) P2P() p2p.Config {
	pc := p2p.DefaultConfig()
	pc.ListenAddrs = c.Addresses.Swarm
	pc.ConnMgrLow, pc.ConnMgrHigh = c.Swarm.ConnMgrLow, c.Swarm.ConnMgrHigh
	pc.ConnMgrGrace = time.Duration(c.Swarm.ConnMgrGrace)
	pc.ResourceMemoryBytes = c.Swarm.ResourceMemoryBytes
	pc.EnableNATPortMap = c.Swarm.EnableNATPortMap
	return pc
}

// LoadConfig reads a sparse config file over the defaults.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	raw, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("reading config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("parsing config %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Marshal renders the config as indented JSON.
func (c Config) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// LoopbackConfig returns defaults with every listener on an ephemeral
// loopback port and the DHT in server mode: for tests and local networks.
func LoopbackConfig() Config {
	c := DefaultConfig()
	c.Addresses.Swarm = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	c.Addresses.API = "127.0.0.1:0"
	c.Addresses.Gateway = "127.0.0.1:0"
	c.Routing.DHT = string(p2p.DHTServer)
	return c
}
