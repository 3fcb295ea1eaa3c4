// Package config is the provider daemon's configuration: a TOML file whose every key
// is documented, with defaults in code. A file only needs the keys it changes
// (Load decodes it over Default), unknown keys are rejected by name, and Write emits
// the full documented file atomically (what `openledgerd provider init` writes).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/internal/atomicfile"
)

// FileName is the config file's name inside the provider's directory.
const FileName = "provider.toml"

// DefaultAPIListen is api.listen's default.
const DefaultAPIListen = "127.0.0.1:8088"

// Built-in engine name, as recorded in receipts.
const EngineBuiltin = "openledger-ml"

// Config is the whole provider configuration. The TOML key of each field is in its
// tag; the comment tag is written above the key by Write.
type Config struct {
	Chain    Chain     `toml:"chain" comment:"The chain the provider works for."`
	Key      Key       `toml:"key" comment:"The operator account that signs the provider's transactions."`
	P2P      P2P       `toml:"p2p" comment:"The provider's libp2p host (its identity signs receipts)."`
	IPFS     IPFS      `toml:"ipfs" comment:"The provider's IPFS node (inputs, models, outputs)."`
	DataDir  string    `toml:"data_dir" comment:"Directory of the durable state (jobs, receipts, pending txs). Relative paths are relative to the config file."`
	Backends []Backend `toml:"backends" comment:"Inference backends, tried in order. The built-in engine needs no URL; an external one is any OpenAI-compatible server (vLLM, llama.cpp server, Ollama, TGI, SGLang)."`
	Price    Price     `toml:"price" comment:"Price policy of the bidder."`
	Bid      Bid       `toml:"bid" comment:"Bidding behaviour."`
	Gas      Gas       `toml:"gas" comment:"Transaction fees: fee = gas limit x gas price."`
	API      API       `toml:"api" comment:"The OpenAI-compatible HTTP API, paid by session vouchers (docs/openai-api.md): GET /v1/models, POST /v1/completions and /v1/chat/completions. 'openledgerd gateway' finds it by the api_url registered on chain."`
}

// Chain locates the chain.
type Chain struct {
	ID   string `toml:"id" comment:"Chain id the transactions are signed for."`
	RPC  string `toml:"rpc" comment:"CometBFT RPC endpoint (events over its websocket, block results)."`
	GRPC string `toml:"grpc" comment:"Cosmos SDK gRPC endpoint (queries, broadcasts), host:port."`
	// RequestTimeout bounds each query or broadcast round trip.
	RequestTimeout Duration `toml:"request_timeout" comment:"Bound of each query or broadcast round trip."`
	// InclusionTimeout bounds the wait for a broadcast tx to be in a block.
	InclusionTimeout Duration `toml:"inclusion_timeout" comment:"How long to wait for a broadcast tx to be included in a block."`
}

// Key names the operator key in a Cosmos keyring.
type Key struct {
	Name           string `toml:"name" comment:"Key name in the keyring."`
	KeyringBackend string `toml:"keyring_backend" comment:"Keyring backend: os, file, test, pass, kwallet, keyctl."`
	KeyringDir     string `toml:"keyring_dir" comment:"Keyring directory (the node home, usually ~/.openledger). Relative paths are relative to the config file."`
}

// P2P configures the libp2p host.
type P2P struct {
	ListenAddrs  []string `toml:"listen_addrs" comment:"Multiaddrs the host listens on. Loopback by default; add public addresses to serve the network."`
	IdentityFile string   `toml:"identity_file" comment:"libp2p identity key (ed25519); its peer id is registered on chain and signs receipts. Created if missing. Relative to the config file."`
}

// IPFS configures the provider's IPFS node.
type IPFS struct {
	RepoPath string `toml:"repo_path" comment:"IPFS repository (blockstore, pins). Relative to the config file."`
}

// Backend is one inference engine.
type Backend struct {
	Name string `toml:"name" comment:"Engine name recorded in receipts, e.g. openledger-ml, vllm, llama.cpp, ollama, tgi."`
	// Kind is "builtin" or "openai".
	Kind string `toml:"kind" comment:"builtin (the engine in this binary) or openai (an OpenAI-compatible HTTP server)."`
	URL  string `toml:"url" comment:"Base URL of an openai backend, e.g. http://127.0.0.1:8000/v1. Empty for builtin."`
	// Model overrides the model name sent to an external server.
	Model string `toml:"model" comment:"Model name sent to an external server (empty: the deployment's)."`
	// MaxConcurrency bounds the jobs this backend runs at once.
	MaxConcurrency uint32   `toml:"max_concurrency" comment:"Jobs this backend runs at once."`
	Timeout        Duration `toml:"timeout" comment:"Per-job timeout of this backend."`
}

// Backend kinds.
const (
	BackendBuiltin = "builtin"
	BackendOpenAI  = "openai"
)

// Price is the bidder's price policy. Prices are per 1,000 tokens of compute; the
// deployment's royalty is the chain's business and comes on top.
type Price struct {
	// MarkupBPSPerLoad raises the price with load: at full load (all slots busy) the
	// bid is base × (1 + markup/10,000).
	MarkupBPSPerLoad uint32 `toml:"markup_bps_per_load" comment:"Price markup at full load, in basis points: bid = base x (1 + markup/10000 x running/max_concurrency)."`
	// MaxConcurrency is the total number of jobs the provider runs at once.
	MaxConcurrency uint32 `toml:"max_concurrency" comment:"Jobs the provider runs (or has won and not finished) at once, all deployments together."`
	// RefuseWhenSaturated makes the bidder skip jobs while every slot is busy.
	RefuseWhenSaturated bool `toml:"refuse_when_saturated" comment:"Do not bid while max_concurrency jobs are running (else bid at the full-load price)."`
	// Deployments lists what the provider offers.
	Deployments []DeploymentPrice `toml:"deployments" comment:"The deployments the provider serves and their prices. Jobs of other deployments are ignored."`
}

// DeploymentPrice is the policy for one deployment.
type DeploymentPrice struct {
	DeploymentID uint64 `toml:"deployment_id" comment:"Deployment id on chain."`
	// BasePrice is the bid at zero load, a coin such as "10uopen".
	BasePrice string `toml:"base_price" comment:"Bid per 1,000 tokens at zero load, e.g. \"10uopen\"; also the offer registered on chain."`
	// FloorPrice is the lowest acceptable bid (empty: the base price).
	FloorPrice string `toml:"floor_price" comment:"Never bid below this (empty: base_price). A job whose max price is lower is skipped."`
	// MaxConcurrency bounds jobs of this deployment (0: only the global bound).
	MaxConcurrency uint32 `toml:"max_concurrency" comment:"Jobs of this deployment at once (0: only price.max_concurrency); also the offer's max_concurrency."`
}

// Bid configures bidding.
type Bid struct {
	// MarginBlocks skips jobs whose auction closes within this many blocks: a bid
	// needs a block to be included.
	MarginBlocks int64 `toml:"margin_blocks" comment:"Skip jobs whose auction closes in fewer than this many blocks from the current height (a bid must still be included)."`
	// RegisterOnStart registers the provider and its offers when missing on chain.
	RegisterOnStart bool `toml:"register_on_start" comment:"Register the provider and set its offers on first start when they are missing on chain."`
	// Stake is the stake bonded by a registration on start.
	Stake string `toml:"stake" comment:"Stake bonded when registering on start, e.g. \"1000000uopen\"."`
	// Moniker is the provider's public name.
	Moniker string `toml:"moniker" comment:"Public name of the provider."`
}

// Gas configures fees.
type Gas struct {
	// Limit is the gas limit of each tx; 0 simulates and multiplies by Adjustment.
	Limit uint64 `toml:"limit" comment:"Gas limit of each tx; 0 simulates each tx and multiplies by adjustment."`
	// Adjustment multiplies simulated gas.
	Adjustment float64 `toml:"adjustment" comment:"Multiplier of simulated gas (used when limit = 0)."`
	// Price is the gas price, at least the chain's minimum gas price, e.g. "0.0025uopen".
	Price string `toml:"price" comment:"Gas price, at least the validators' minimum-gas-prices, e.g. \"0.0025uopen\"."`
}

// API configures the OpenAI-compatible API (provider/openai). Requests run on
// the executor's workers (the configured backends) with the jobs.
type API struct {
	// Enabled serves the API on `provider start`.
	Enabled bool `toml:"enabled" comment:"Serve the API on 'provider start' ('provider init --api' sets it)."`
	// Listen is the API's loopback host:port.
	Listen string `toml:"listen" comment:"Loopback host:port the API listens on (127.0.0.1:0 picks a free port). Put a reverse proxy in front of it to serve other machines."`
	// PublicURL is the base URL registered on chain as the provider's api_url.
	PublicURL string `toml:"public_url" comment:"Base URL clients reach the API at, registered on chain as the provider's api_url (the daemon sends MsgUpdateProvider on start when it differs), e.g. https://provider.example.org behind a reverse proxy. Empty: http://<listen>, reachable from this machine only."`
}

// APIURL is the URL registered on chain for an API listening at addr
// (host:port, the bound address): api.public_url, else http://addr.
func (c Config) APIURL(addr string) string {
	if c.API.PublicURL != "" {
		return strings.TrimRight(c.API.PublicURL, "/")
	}
	return "http://" + addr
}

// Default returns the configuration used for every key a file leaves out.
func Default() Config {
	return Config{
		Chain: Chain{
			ID:               "openledger-local-1",
			RPC:              "tcp://127.0.0.1:26657",
			GRPC:             "127.0.0.1:9090",
			RequestTimeout:   Duration(10 * time.Second),
			InclusionTimeout: Duration(60 * time.Second),
		},
		Key: Key{Name: "provider", KeyringBackend: "os", KeyringDir: ".."},
		P2P: P2P{
			ListenAddrs:  []string{"/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/udp/4001/quic-v1"},
			IdentityFile: "identity.key",
		},
		IPFS:    IPFS{RepoPath: "ipfs"},
		DataDir: "data",
		Backends: []Backend{{
			Name: EngineBuiltin, Kind: BackendBuiltin, MaxConcurrency: 1, Timeout: Duration(10 * time.Minute),
		}},
		Price: Price{MarkupBPSPerLoad: 5000, MaxConcurrency: 4, RefuseWhenSaturated: true},
		Bid:   Bid{MarginBlocks: 1, RegisterOnStart: false, Stake: "1000000uopen", Moniker: "openledger-provider"},
		Gas:   Gas{Limit: 400_000, Adjustment: 1.3, Price: "0.0025uopen"},
		API:   API{Enabled: false, Listen: DefaultAPIListen},
	}
}

// Load reads a TOML file over Default: keys it leaves out keep their defaults (a
// list in the file replaces the default list). An unknown key is an error naming
// it. The result is validated.
func Load(path string) (Config, error) {
	bz, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("provider config: %w", err)
	}
	cfg, err := Parse(bz)
	if err != nil {
		return Config{}, fmt.Errorf("provider config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes TOML bytes over Default and validates the result.
func Parse(bz []byte) (Config, error) {
	cfg := Default()
	// A list given in the file replaces the default one; decoding into a non-empty
	// slice would merge element-wise, so clear lists the file sets.
	var raw map[string]any
	if err := toml.Unmarshal(bz, &raw); err != nil {
		return Config{}, describeDecodeError(err)
	}
	if _, ok := raw["backends"]; ok {
		cfg.Backends = nil
	}
	if p2p, ok := raw["p2p"].(map[string]any); ok {
		if _, ok := p2p["listen_addrs"]; ok {
			cfg.P2P.ListenAddrs = nil
		}
	}
	dec := toml.NewDecoder(bytes.NewReader(bz))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, describeDecodeError(err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func describeDecodeError(err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		keys := make([]string, 0, len(strict.Errors))
		for _, e := range strict.Errors {
			keys = append(keys, strings.Join(e.Key(), "."))
		}
		return fmt.Errorf("unknown key %s", strings.Join(keys, ", "))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		if k := de.Key(); len(k) > 0 {
			return fmt.Errorf("line %d column %d, key %s: %s", row, col, strings.Join(k, "."), de.Error())
		}
		return fmt.Errorf("line %d column %d: %s", row, col, de.Error())
	}
	return err
}

const header = `# openledgerd provider configuration.
# Every key is optional: a missing key takes the default shown here.
# Written by 'openledgerd provider init'; read by 'openledgerd provider start'.

`

// Marshal renders the full documented TOML file.
func (c Config) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := toml.NewEncoder(&buf)
	enc.SetIndentTables(false)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encoding provider config: %w", err)
	}
	return buf.Bytes(), nil
}

// Write validates the config and writes it atomically (a crash leaves the old file
// or the new one) with mode 0600.
func (c Config) Write(path string) error {
	if err := c.Validate(); err != nil {
		return err
	}
	bz, err := c.Marshal()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, bz, 0o600); err != nil {
		return fmt.Errorf("writing provider config %s: %w", path, err)
	}
	return nil
}

// Resolve returns p made absolute against the directory of the config file; an
// absolute p is returned unchanged.
func Resolve(configPath, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(configPath), p)
}

// FieldError is a validation error naming the TOML key at fault.
type FieldError struct {
	Key string
	Err error
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(key, format string, args ...any) error {
	return &FieldError{Key: key, Err: fmt.Errorf(format, args...)}
}

// Validate checks every key and returns all problems, each naming its key.
func (c Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.Chain.ID == "" {
		add(fieldErr("chain.id", "must not be empty"))
	}
	add(checkRPC("chain.rpc", c.Chain.RPC))
	add(checkHostPort("chain.grpc", c.Chain.GRPC))
	if c.Chain.RequestTimeout <= 0 {
		add(fieldErr("chain.request_timeout", "must be positive"))
	}
	if c.Chain.InclusionTimeout <= 0 {
		add(fieldErr("chain.inclusion_timeout", "must be positive"))
	}
	if c.Key.Name == "" {
		add(fieldErr("key.name", "must not be empty"))
	}
	switch c.Key.KeyringBackend {
	case "os", "file", "test", "pass", "kwallet", "keyctl", "memory":
	default:
		add(fieldErr("key.keyring_backend", "%q is not one of os, file, test, pass, kwallet, keyctl, memory", c.Key.KeyringBackend))
	}
	if len(c.P2P.ListenAddrs) == 0 {
		add(fieldErr("p2p.listen_addrs", "at least one address is required"))
	}
	for i, a := range c.P2P.ListenAddrs {
		if !strings.HasPrefix(a, "/") {
			add(fieldErr(fmt.Sprintf("p2p.listen_addrs[%d]", i), "%q is not a multiaddr", a))
		}
	}
	if c.P2P.IdentityFile == "" {
		add(fieldErr("p2p.identity_file", "must not be empty"))
	}
	if c.IPFS.RepoPath == "" {
		add(fieldErr("ipfs.repo_path", "must not be empty"))
	}
	if c.DataDir == "" {
		add(fieldErr("data_dir", "must not be empty"))
	}
	if len(c.Backends) == 0 {
		add(fieldErr("backends", "at least one backend is required"))
	}
	names := map[string]bool{}
	for i, b := range c.Backends {
		key := fmt.Sprintf("backends[%d]", i)
		if b.Name == "" {
			add(fieldErr(key+".name", "must not be empty"))
		} else if names[b.Name] {
			add(fieldErr(key+".name", "%q appears twice", b.Name))
		}
		names[b.Name] = true
		switch b.Kind {
		case BackendBuiltin:
			if b.URL != "" {
				add(fieldErr(key+".url", "a builtin backend takes no URL"))
			}
		case BackendOpenAI:
			u, err := url.Parse(b.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add(fieldErr(key+".url", "%q is not an http(s) URL", b.URL))
			}
		default:
			add(fieldErr(key+".kind", "%q is not builtin or openai", b.Kind))
		}
		if b.MaxConcurrency == 0 {
			add(fieldErr(key+".max_concurrency", "must be at least 1"))
		}
		if b.Timeout <= 0 {
			add(fieldErr(key+".timeout", "must be positive"))
		}
	}
	if c.Price.MaxConcurrency == 0 {
		add(fieldErr("price.max_concurrency", "must be at least 1"))
	}
	if c.Price.MarkupBPSPerLoad > 1_000_000 {
		add(fieldErr("price.markup_bps_per_load", "%d exceeds 1000000 (100x)", c.Price.MarkupBPSPerLoad))
	}
	deps := map[uint64]bool{}
	for i, d := range c.Price.Deployments {
		key := fmt.Sprintf("price.deployments[%d]", i)
		if d.DeploymentID == 0 {
			add(fieldErr(key+".deployment_id", "must be set"))
		} else if deps[d.DeploymentID] {
			add(fieldErr(key+".deployment_id", "deployment %d appears twice", d.DeploymentID))
		}
		deps[d.DeploymentID] = true
		base, err := parsePositiveCoin(d.BasePrice)
		if err != nil {
			add(fieldErr(key+".base_price", "%v", err))
			continue
		}
		if d.FloorPrice != "" {
			floor, err := parsePositiveCoin(d.FloorPrice)
			switch {
			case err != nil:
				add(fieldErr(key+".floor_price", "%v", err))
			case floor.Denom != base.Denom:
				add(fieldErr(key+".floor_price", "denom %s differs from base_price's %s", floor.Denom, base.Denom))
			case floor.Amount.GT(base.Amount):
				add(fieldErr(key+".floor_price", "%s is above base_price %s", floor, base))
			}
		}
	}
	if c.Bid.MarginBlocks < 0 {
		add(fieldErr("bid.margin_blocks", "must not be negative"))
	}
	if c.Bid.RegisterOnStart {
		if _, err := parsePositiveCoin(c.Bid.Stake); err != nil {
			add(fieldErr("bid.stake", "%v", err))
		}
	}
	if c.Gas.Limit == 0 && c.Gas.Adjustment < 1 {
		add(fieldErr("gas.adjustment", "must be at least 1 when gas.limit = 0 (simulate)"))
	}
	if _, err := c.GasPrice(); err != nil {
		add(fieldErr("gas.price", "%v", err))
	}
	if h, _, err := net.SplitHostPort(c.API.Listen); err != nil {
		add(fieldErr("api.listen", "%q is not host:port: %v", c.API.Listen, err))
	} else if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
		add(fieldErr("api.listen", "%q is not a loopback address (the API serves this machine; put a reverse proxy in front of it)", c.API.Listen))
	}
	if c.API.PublicURL != "" {
		u, err := url.Parse(c.API.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			add(fieldErr("api.public_url", "%q is not an http(s) base URL", c.API.PublicURL))
		}
	}
	return errors.Join(errs...)
}

// GasPrice parses gas.price.
func (c Config) GasPrice() (sdk.DecCoin, error) {
	p, err := sdk.ParseDecCoin(c.Gas.Price)
	if err != nil {
		return sdk.DecCoin{}, fmt.Errorf("%q: %w", c.Gas.Price, err)
	}
	if !p.Amount.IsPositive() {
		return sdk.DecCoin{}, fmt.Errorf("%q must be positive", c.Gas.Price)
	}
	return p, nil
}

// Deployment returns the policy of one deployment, if offered.
func (c Config) Deployment(id uint64) (DeploymentPrice, bool) {
	for _, d := range c.Price.Deployments {
		if d.DeploymentID == id {
			return d, true
		}
	}
	return DeploymentPrice{}, false
}

// Base parses the base price.
func (d DeploymentPrice) Base() (sdk.Coin, error) { return parsePositiveCoin(d.BasePrice) }

// Floor parses the floor price (the base price when unset).
func (d DeploymentPrice) Floor() (sdk.Coin, error) {
	if d.FloorPrice == "" {
		return d.Base()
	}
	return parsePositiveCoin(d.FloorPrice)
}

func parsePositiveCoin(s string) (sdk.Coin, error) {
	c, err := sdk.ParseCoinNormalized(s)
	if err != nil {
		return sdk.Coin{}, fmt.Errorf("%q is not a coin such as 10uopen: %w", s, err)
	}
	if !c.Amount.IsPositive() {
		return sdk.Coin{}, fmt.Errorf("%q must be positive", s)
	}
	return c, nil
}

func checkRPC(key, s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fieldErr(key, "%q: %v", s, err)
	}
	switch u.Scheme {
	case "tcp", "http", "https":
	default:
		return fieldErr(key, "%q: scheme must be tcp, http or https", s)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return fieldErr(key, "%q: %v", s, err)
	}
	return nil
}

func checkHostPort(key, s string) error {
	if _, _, err := net.SplitHostPort(s); err != nil {
		return fieldErr(key, "%q is not host:port: %v", s, err)
	}
	return nil
}

// Duration is a time.Duration written as a string such as "10s" in TOML.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 10s or 2m: %w", b, err)
	}
	*d = Duration(v)
	return nil
}
