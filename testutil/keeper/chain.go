package keeper

import (
	"context"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"

	clienttx "github.com/cosmos/cosmos-sdk/client/tx"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/tx/signing"
	authsigning "github.com/cosmos/cosmos-sdk/x/auth/signing"

	"github.com/openledger/openledger/app"
)

// Chain drives a started app block by block with signed txs: FinalizeBlock and
// Commit, the ante handler included, as a node would run them.
type Chain struct {
	TB       testing.TB
	App      *app.App
	Accounts []Account
	Height   int64
	seqs     []uint64
	nums     []uint64
}

// TxGas and TxFee are every Chain tx's gas limit and fee.
const (
	TxGas = 400_000
	TxFee = 200
)

// NewChain starts an app with n funded accounts (block 1 committed).
func NewChain(tb testing.TB, n int) *Chain {
	tb.Helper()
	accounts := Accounts(n)
	a, _ := StartApp(tb, accounts, DefaultBalance)
	c := &Chain{TB: tb, App: a, Accounts: accounts, Height: 1, seqs: make([]uint64, n), nums: make([]uint64, n)}
	ctx := c.Context()
	for i, acc := range accounts {
		ai := a.AccountKeeper.GetAccount(ctx, acc.Addr)
		if ai == nil {
			tb.Fatalf("account %d missing", i)
		}
		c.nums[i], c.seqs[i] = ai.GetAccountNumber(), ai.GetSequence()
	}
	return c
}

// Context is a read context on the last committed state.
func (c *Chain) Context() sdk.Context {
	return c.App.NewUncachedContext(false, cmtproto.Header{ChainID: ChainID, Height: c.Height, Time: c.blockTime(c.Height)})
}

func (c *Chain) blockTime(h int64) time.Time {
	return GenesisTime.Add(time.Duration(h) * 5 * time.Second)
}

// Sign returns the encoded tx of msgs signed (direct mode) by account i with its
// next sequence.
func (c *Chain) Sign(i int, msgs ...sdk.Msg) []byte {
	c.TB.Helper()
	txCfg := c.App.TxConfig()
	b := txCfg.NewTxBuilder()
	if err := b.SetMsgs(msgs...); err != nil {
		c.TB.Fatal(err)
	}
	b.SetGasLimit(TxGas)
	b.SetFeeAmount(sdk.NewCoins(sdk.NewInt64Coin(Denom, TxFee)))
	acc := c.Accounts[i]
	seq := c.seqs[i]
	// First round: the signer info (public key, mode, sequence), then the signature.
	if err := b.SetSignatures(signing.SignatureV2{
		PubKey: acc.Pub, Data: &signing.SingleSignatureData{SignMode: signing.SignMode_SIGN_MODE_DIRECT}, Sequence: seq,
	}); err != nil {
		c.TB.Fatal(err)
	}
	sig, err := clienttx.SignWithPrivKey(context.Background(), signing.SignMode_SIGN_MODE_DIRECT, authsigning.SignerData{
		ChainID: ChainID, AccountNumber: c.nums[i], Sequence: seq, Address: acc.Bech32, PubKey: acc.Pub,
	}, b, acc.Priv, txCfg, seq)
	if err != nil {
		c.TB.Fatal(err)
	}
	if err := b.SetSignatures(sig); err != nil {
		c.TB.Fatal(err)
	}
	bz, err := txCfg.TxEncoder()(b.GetTx())
	if err != nil {
		c.TB.Fatal(err)
	}
	c.seqs[i]++
	return bz
}

// Block executes and commits the next block with txs and returns the tx results.
func (c *Chain) Block(txs [][]byte) []*abci.ExecTxResult {
	c.TB.Helper()
	c.Height++
	res, err := c.App.FinalizeBlock(&abci.RequestFinalizeBlock{Height: c.Height, Time: c.blockTime(c.Height), Txs: txs})
	if err != nil {
		c.TB.Fatalf("finalize block %d: %v", c.Height, err)
	}
	if _, err := c.App.Commit(); err != nil {
		c.TB.Fatalf("commit %d: %v", c.Height, err)
	}
	return res.TxResults
}

// MustBlock is Block that fails unless every tx succeeded.
func (c *Chain) MustBlock(txs [][]byte) []*abci.ExecTxResult {
	c.TB.Helper()
	results := c.Block(txs)
	for i, r := range results {
		if r.Code != 0 {
			c.TB.Fatalf("block %d tx %d: code %d (%s): %s", c.Height, i, r.Code, r.Codespace, r.Log)
		}
	}
	return results
}

// UnusedSequence rolls back account i's sequence after a tx that was never
// included (failed txs in a block still consume the sequence; rejected ones in
// the ante handler do not).
func (c *Chain) UnusedSequence(i int) { c.seqs[i]-- }
