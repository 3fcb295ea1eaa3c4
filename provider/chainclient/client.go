// Package chainclient is the provider daemon's link to the chain: queries over
// gRPC (x/inference, x/models, x/rewards, auth, bank, the node) and transactions
// signed locally with a key from a Cosmos keyring.
//
// All transactions of a Client go through one sequence manager: broadcasts are
// serialised, the account sequence is tracked locally and advanced after each
// CheckTx success, and an "account sequence mismatch" (sdk code 32) is corrected
// (from the chain's own "expected N", else by re-querying the account) and retried
// with a capped exponential backoff, so concurrent callers never see a sequence
// error. Each signed tx can be journaled (persisted) before it is broadcast and is
// forgotten once included or rejected. Fees are gas limit × the configured gas
// price.
package chainclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	cmtservice "github.com/cosmos/cosmos-sdk/client/grpc/cmtservice"
	nodeservice "github.com/cosmos/cosmos-sdk/client/grpc/node"
	"github.com/cosmos/cosmos-sdk/codec"
	"github.com/cosmos/cosmos-sdk/crypto/keyring"
	sdk "github.com/cosmos/cosmos-sdk/types"
	txtypes "github.com/cosmos/cosmos-sdk/types/tx"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"

	inferencetypes "github.com/openledger/openledger/x/inference/types"
	modelstypes "github.com/openledger/openledger/x/models/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// Config configures a Client.
type Config struct {
	// GRPCAddr is the node's gRPC endpoint, host:port.
	GRPCAddr string
	// ChainID the txs are signed for.
	ChainID string
	// KeyName in Keyring signs every tx.
	KeyName string
	// Keyring holds the key. See OpenKeyring.
	Keyring keyring.Keyring
	// GasLimit of each tx; 0 simulates and multiplies by GasAdjustment.
	GasLimit      uint64
	GasAdjustment float64
	// GasPrice: fee = ceil(gas limit × GasPrice).
	GasPrice sdk.DecCoin
	// RequestTimeout bounds each gRPC round trip (default 10 s).
	RequestTimeout time.Duration
	// InclusionTimeout bounds WaitTx (default 60 s).
	InclusionTimeout time.Duration
	// PollInterval of WaitTx (default 250 ms).
	PollInterval time.Duration
	// MaxSequenceRetries bounds the re-signs after sequence mismatches (default 8).
	MaxSequenceRetries int
	// Journal, when set, persists each signed tx before it is broadcast.
	Journal Journal
}

// Journal persists signed txs before they are broadcast (persist before act), so
// that after a crash the daemon can look them up or re-broadcast them.
// *store.Store implements it.
type Journal interface {
	SavePendingTx(hash string, sequence uint64, body []byte, note string) error
	DeletePendingTx(hash string) error
}

// Client queries the chain and submits transactions. It is safe for concurrent use.
type Client struct {
	cfg  Config
	enc  Encoding
	conn *grpc.ClientConn
	log  *slog.Logger
	addr sdk.AccAddress
	// address is the bech32 form of addr.
	address string

	tx   txtypes.ServiceClient
	auth authtypes.QueryClient

	// seq is the sequence manager: a one-slot semaphore guarding the fields below.
	seq *sequencer
}

// OpenKeyring opens a Cosmos keyring (backend os, file, test, …) in dir, the same
// way the CLI does for --keyring-backend and --keyring-dir.
func OpenKeyring(backend, dir string, enc Encoding) (keyring.Keyring, error) {
	kr, err := keyring.New(sdk.KeyringServiceName(), backend, dir, nil, enc.Codec)
	if err != nil {
		return nil, fmt.Errorf("keyring %s in %s: %w", backend, dir, err)
	}
	return kr, nil
}

// New dials the node (lazily: no round trip happens until the first call) and
// resolves the signing key.
func New(cfg Config, enc Encoding, log *slog.Logger) (*Client, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.GRPCAddr == "" || cfg.ChainID == "" {
		return nil, errors.New("chainclient: gRPC address and chain id are required")
	}
	if cfg.Keyring == nil || cfg.KeyName == "" {
		return nil, errors.New("chainclient: a keyring and a key name are required")
	}
	if cfg.GasPrice.Denom == "" || !cfg.GasPrice.Amount.IsPositive() {
		return nil, errors.New("chainclient: a positive gas price is required")
	}
	if cfg.GasLimit == 0 && cfg.GasAdjustment < 1 {
		cfg.GasAdjustment = 1.3
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.InclusionTimeout <= 0 {
		cfg.InclusionTimeout = 60 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	if cfg.MaxSequenceRetries <= 0 {
		cfg.MaxSequenceRetries = 8
	}
	rec, err := cfg.Keyring.Key(cfg.KeyName)
	if err != nil {
		return nil, fmt.Errorf("chainclient: key %q: %w", cfg.KeyName, err)
	}
	addr, err := rec.GetAddress()
	if err != nil {
		return nil, fmt.Errorf("chainclient: key %q: %w", cfg.KeyName, err)
	}
	address, err := enc.InterfaceRegistry.SigningContext().AddressCodec().BytesToString(addr)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(cfg.GRPCAddr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(codec.NewProtoCodec(enc.InterfaceRegistry).GRPCCodec())),
	)
	if err != nil {
		return nil, fmt.Errorf("chainclient: gRPC %s: %w", cfg.GRPCAddr, err)
	}
	c := &Client{
		cfg: cfg, enc: enc, conn: conn, log: log.With("component", "chainclient"),
		addr: addr, address: address,
		tx: txtypes.NewServiceClient(conn), auth: authtypes.NewQueryClient(conn),
		seq: newSequencer(),
	}
	return c, nil
}

// Close closes the gRPC connection.
func (c *Client) Close() error { return c.conn.Close() }

// Address returns the signer's bech32 address.
func (c *Client) Address() string { return c.address }

// AccAddress returns the signer's address bytes.
func (c *Client) AccAddress() sdk.AccAddress { return c.addr }

// Encoding returns the encoding config.
func (c *Client) Encoding() Encoding { return c.enc }

// Conn is the gRPC connection, for query clients not listed here.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Inference is the x/inference query client.
func (c *Client) Inference() inferencetypes.QueryClient { return inferencetypes.NewQueryClient(c.conn) }

// Models is the x/models query client.
func (c *Client) Models() modelstypes.QueryClient { return modelstypes.NewQueryClient(c.conn) }

// Rewards is the x/rewards query client.
func (c *Client) Rewards() rewardstypes.QueryClient { return rewardstypes.NewQueryClient(c.conn) }

// Auth is the auth query client.
func (c *Client) Auth() authtypes.QueryClient { return c.auth }

// Bank is the bank query client.
func (c *Client) Bank() banktypes.QueryClient { return banktypes.NewQueryClient(c.conn) }

// Tx is the tx service client.
func (c *Client) Tx() txtypes.ServiceClient { return c.tx }

func (c *Client) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.RequestTimeout)
}

// Account returns an account's number and committed sequence.
func (c *Client) Account(ctx context.Context, address string) (number, sequence uint64, err error) {
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	res, err := c.auth.Account(ctx, &authtypes.QueryAccountRequest{Address: address})
	if err != nil {
		return 0, 0, fmt.Errorf("query account %s: %w", address, err)
	}
	var acc sdk.AccountI
	if err := c.enc.InterfaceRegistry.UnpackAny(res.Account, &acc); err != nil {
		return 0, 0, fmt.Errorf("decode account %s: %w", address, err)
	}
	return acc.GetAccountNumber(), acc.GetSequence(), nil
}

// Balance returns an address's balance of denom.
func (c *Client) Balance(ctx context.Context, address, denom string) (sdk.Coin, error) {
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	res, err := c.Bank().Balance(ctx, &banktypes.QueryBalanceRequest{Address: address, Denom: denom})
	if err != nil {
		return sdk.Coin{}, fmt.Errorf("query balance %s: %w", address, err)
	}
	return *res.Balance, nil
}

// LatestHeight returns the node's latest block height.
func (c *Client) LatestHeight(ctx context.Context) (int64, error) {
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	res, err := cmtservice.NewServiceClient(c.conn).GetLatestBlock(ctx, &cmtservice.GetLatestBlockRequest{})
	if err != nil {
		return 0, fmt.Errorf("latest block: %w", err)
	}
	if res.SdkBlock != nil {
		return res.SdkBlock.Header.Height, nil
	}
	return res.Block.Header.Height, nil //nolint:staticcheck // older nodes fill only Block
}

// NodeMinGasPrice returns the node's minimum-gas-prices (its app.toml).
func (c *Client) NodeMinGasPrice(ctx context.Context) (sdk.DecCoins, error) {
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	res, err := nodeservice.NewServiceClient(c.conn).Config(ctx, &nodeservice.ConfigRequest{})
	if err != nil {
		return nil, fmt.Errorf("node config: %w", err)
	}
	return sdk.ParseDecCoins(res.MinimumGasPrice)
}

// CheckGasPrice fails when the configured gas price is below the node's minimum
// for its denom (the node would reject every tx with "insufficient fee").
func (c *Client) CheckGasPrice(ctx context.Context) error {
	min, err := c.NodeMinGasPrice(ctx)
	if err != nil {
		return err
	}
	if need := min.AmountOf(c.cfg.GasPrice.Denom); c.cfg.GasPrice.Amount.LT(need) {
		return fmt.Errorf("gas price %s is below the node's minimum %s%s", c.cfg.GasPrice, need, c.cfg.GasPrice.Denom)
	}
	if min.AmountOf(c.cfg.GasPrice.Denom).IsZero() && !min.IsZero() {
		return fmt.Errorf("gas price denom %s is not accepted by the node (minimum %s)", c.cfg.GasPrice.Denom, min)
	}
	return nil
}
