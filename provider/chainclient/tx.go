package chainclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sdkmath "cosmossdk.io/math"

	clienttx "github.com/cosmos/cosmos-sdk/client/tx"
	sdk "github.com/cosmos/cosmos-sdk/types"
	sdkerrors "github.com/cosmos/cosmos-sdk/types/errors"
	txtypes "github.com/cosmos/cosmos-sdk/types/tx"
	"github.com/cosmos/cosmos-sdk/types/tx/signing"
)

// ErrInclusionTimeout is returned by WaitTx when a tx is not in a block in time.
var ErrInclusionTimeout = errors.New("tx not included in time")

// ErrSequenceRetriesExhausted is returned when sequence mismatches persist.
var ErrSequenceRetriesExhausted = errors.New("account sequence mismatch persisted after retries")

// TxError is a tx rejected by CheckTx or failed in its block.
type TxError struct {
	Hash      string
	Codespace string
	Code      uint32
	Log       string
	// Included is true when the tx is in a block (it failed there and consumed
	// its sequence and fee) and false when CheckTx refused it.
	Included bool
}

func (e *TxError) Error() string {
	where := "rejected by CheckTx"
	if e.Included {
		where = "failed in its block"
	}
	return fmt.Sprintf("tx %s %s (%s code %d): %s", e.Hash, where, e.Codespace, e.Code, e.Log)
}

// Is matches a registered SDK error by codespace and code, so that
// errors.Is(err, sdkerrors.ErrInsufficientFunds) works on a TxError.
func (e *TxError) Is(target error) bool {
	var coded interface {
		ABCICode() uint32
		Codespace() string
	}
	if errors.As(target, &coded) {
		return coded.Codespace() == e.Codespace && coded.ABCICode() == e.Code
	}
	return false
}

// Submitted is a tx accepted into the mempool.
type Submitted struct {
	Hash     string
	Sequence uint64
	Gas      uint64
	Fee      sdk.Coins
}

// sequencer serialises signing and broadcasting and owns the account number and
// the next sequence. It is a one-slot semaphore so waiting respects contexts.
type sequencer struct {
	slot   chan struct{}
	known  bool
	number uint64
	next   uint64
}

func newSequencer() *sequencer { return &sequencer{slot: make(chan struct{}, 1)} }

func (s *sequencer) lock(ctx context.Context) error {
	select {
	case s.slot <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *sequencer) unlock() { <-s.slot }

var expectedSeqRE = regexp.MustCompile(`expected (\d+), got (\d+)`)

// Submit signs msgs with the client's key at the next sequence, journals the
// signed tx, and broadcasts it (sync: it returns once CheckTx accepted it). note
// is stored with the journaled tx. On a sequence mismatch it corrects the
// sequence and re-signs, with backoff, up to MaxSequenceRetries times.
func (c *Client) Submit(ctx context.Context, note string, msgs ...sdk.Msg) (Submitted, error) {
	if len(msgs) == 0 {
		return Submitted{}, errors.New("submit: no messages")
	}
	if err := c.seq.lock(ctx); err != nil {
		return Submitted{}, err
	}
	defer c.seq.unlock()

	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		if !c.seq.known {
			num, seq, err := c.Account(ctx, c.address)
			if err != nil {
				return Submitted{}, err
			}
			c.seq.number, c.seq.next, c.seq.known = num, seq, true
		}
		seq := c.seq.next
		body, gas, fee, err := c.sign(ctx, seq, msgs)
		if err != nil {
			if isSeqMismatch("sdk", codeOf(err), err.Error()) && attempt < c.cfg.MaxSequenceRetries {
				// Simulation saw a wrong sequence.
				c.correctSequence(err.Error())
				if err := sleep(ctx, &backoff); err != nil {
					return Submitted{}, err
				}
				continue
			}
			return Submitted{}, err
		}
		hash := TxHash(body)
		if c.cfg.Journal != nil {
			if err := c.cfg.Journal.SavePendingTx(hash, seq, body, note); err != nil {
				return Submitted{}, fmt.Errorf("journal tx %s: %w", hash, err)
			}
		}
		rctx, cancel := c.reqCtx(ctx)
		res, err := c.tx.BroadcastTx(rctx, &txtypes.BroadcastTxRequest{TxBytes: body, Mode: txtypes.BroadcastMode_BROADCAST_MODE_SYNC})
		cancel()
		if err != nil {
			// Outcome unknown: the tx may be in the mempool. Keep it journaled,
			// and re-learn the sequence next time.
			c.seq.known = false
			return Submitted{}, fmt.Errorf("broadcast tx %s: %w", hash, err)
		}
		r := res.TxResponse
		switch {
		case r.Code == 0 || (r.Codespace == sdkerrors.RootCodespace && r.Code == sdkerrors.ErrTxInMempoolCache.ABCICode()):
			c.seq.next = seq + 1
			c.log.Debug("tx broadcast", "hash", hash, "sequence", seq, "note", note, "gas", gas)
			return Submitted{Hash: hash, Sequence: seq, Gas: gas, Fee: fee}, nil
		case isSeqMismatch(r.Codespace, r.Code, r.RawLog):
			c.forget(hash)
			if attempt >= c.cfg.MaxSequenceRetries {
				c.seq.known = false
				return Submitted{}, fmt.Errorf("%w: %s", ErrSequenceRetriesExhausted, r.RawLog)
			}
			c.log.Debug("sequence mismatch, re-signing", "sequence", seq, "log", r.RawLog, "attempt", attempt+1)
			c.correctSequence(r.RawLog)
			if err := sleep(ctx, &backoff); err != nil {
				return Submitted{}, err
			}
		default:
			c.forget(hash)
			return Submitted{}, &TxError{Hash: hash, Codespace: r.Codespace, Code: r.Code, Log: r.RawLog}
		}
	}
}

// correctSequence takes the chain's "expected N" when the log has it, else
// re-queries the account on the next attempt.
func (c *Client) correctSequence(log string) {
	if m := expectedSeqRE.FindStringSubmatch(log); m != nil {
		if n, err := strconv.ParseUint(m[1], 10, 64); err == nil {
			c.seq.next = n
			return
		}
	}
	c.seq.known = false
}

func (c *Client) forget(hash string) {
	if c.cfg.Journal == nil {
		return
	}
	if err := c.cfg.Journal.DeletePendingTx(hash); err != nil {
		c.log.Warn("forgetting journaled tx", "hash", hash, "err", err)
	}
}

func isSeqMismatch(codespace string, code uint32, log string) bool {
	return (codespace == sdkerrors.RootCodespace && code == sdkerrors.ErrWrongSequence.ABCICode()) ||
		strings.Contains(log, "account sequence mismatch")
}

func codeOf(err error) uint32 {
	if strings.Contains(err.Error(), "account sequence mismatch") {
		return sdkerrors.ErrWrongSequence.ABCICode()
	}
	return 0
}

// sleep waits *d (capped at 2 s), then doubles it.
func sleep(ctx context.Context, d *time.Duration) error {
	t := time.NewTimer(*d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	*d = min(*d*2, 2*time.Second)
	return nil
}

// sign builds and signs a tx at sequence seq (simulating gas when GasLimit is 0).
func (c *Client) sign(ctx context.Context, seq uint64, msgs []sdk.Msg) (body []byte, gas uint64, fee sdk.Coins, err error) {
	gas = c.cfg.GasLimit
	if gas == 0 {
		sim, _, _, err := c.signWith(ctx, seq, msgs, 0)
		if err != nil {
			return nil, 0, nil, err
		}
		rctx, cancel := c.reqCtx(ctx)
		res, err := c.tx.Simulate(rctx, &txtypes.SimulateRequest{TxBytes: sim})
		cancel()
		if err != nil {
			return nil, 0, nil, fmt.Errorf("simulate: %w", err)
		}
		used := float64(res.GasInfo.GasUsed) * c.cfg.GasAdjustment
		if used > math.MaxUint64/2 {
			return nil, 0, nil, fmt.Errorf("simulate: gas %v out of range", used)
		}
		gas = uint64(math.Ceil(used))
	}
	return c.signWith(ctx, seq, msgs, gas)
}

func (c *Client) signWith(ctx context.Context, seq uint64, msgs []sdk.Msg, gas uint64) ([]byte, uint64, sdk.Coins, error) {
	txb := c.enc.TxConfig.NewTxBuilder()
	if err := txb.SetMsgs(msgs...); err != nil {
		return nil, 0, nil, fmt.Errorf("set msgs: %w", err)
	}
	feeAmt := c.cfg.GasPrice.Amount.MulInt(sdkmath.NewIntFromUint64(gas)).Ceil().TruncateInt()
	fee := sdk.NewCoins(sdk.NewCoin(c.cfg.GasPrice.Denom, feeAmt))
	txb.SetGasLimit(gas)
	txb.SetFeeAmount(fee)
	f := clienttx.Factory{}.
		WithTxConfig(c.enc.TxConfig).
		WithKeybase(c.cfg.Keyring).
		WithChainID(c.cfg.ChainID).
		WithAccountNumber(c.seq.number).
		WithSequence(seq).
		WithSignMode(signing.SignMode_SIGN_MODE_DIRECT)
	if err := clienttx.Sign(ctx, f, c.cfg.KeyName, txb, true); err != nil {
		return nil, 0, nil, fmt.Errorf("sign: %w", err)
	}
	body, err := c.enc.TxConfig.TxEncoder()(txb.GetTx())
	if err != nil {
		return nil, 0, nil, fmt.Errorf("encode tx: %w", err)
	}
	return body, gas, fee, nil
}

// TxHash is the CometBFT hash of signed tx bytes (upper-case hex sha256).
func TxHash(body []byte) string {
	sum := sha256.Sum256(body)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// WaitTx polls for a tx by hash until it is in a block or InclusionTimeout
// passes (ErrInclusionTimeout). A tx that failed in its block is a *TxError with
// Included set. Either way a journaled tx is forgotten once its fate is known.
func (c *Client) WaitTx(ctx context.Context, hash string) (*sdk.TxResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.InclusionTimeout)
	defer cancel()
	tick := time.NewTicker(c.cfg.PollInterval)
	defer tick.Stop()
	var lastErr error
	for {
		rctx, rcancel := c.reqCtx(ctx)
		res, err := c.tx.GetTx(rctx, &txtypes.GetTxRequest{Hash: hash})
		rcancel()
		switch {
		case err == nil && res.TxResponse != nil:
			c.forget(hash)
			r := res.TxResponse
			if r.Code != 0 {
				return r, &TxError{Hash: hash, Codespace: r.Codespace, Code: r.Code, Log: r.RawLog, Included: true}
			}
			return r, nil
		case err != nil && status.Code(err) != codes.NotFound:
			lastErr = err // transient: keep polling until the deadline
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return nil, fmt.Errorf("%w: %s after %s (last error: %v)", ErrInclusionTimeout, hash, c.cfg.InclusionTimeout, lastErr)
			}
			return nil, fmt.Errorf("%w: %s after %s", ErrInclusionTimeout, hash, c.cfg.InclusionTimeout)
		case <-tick.C:
		}
	}
}

// SubmitAndWait is Submit then WaitTx.
func (c *Client) SubmitAndWait(ctx context.Context, note string, msgs ...sdk.Msg) (*sdk.TxResponse, error) {
	s, err := c.Submit(ctx, note, msgs...)
	if err != nil {
		return nil, err
	}
	return c.WaitTx(ctx, s.Hash)
}

// Resume settles a journaled tx after a restart: if it is already in a block its
// result is returned; otherwise its exact bytes are re-broadcast and awaited. A
// re-broadcast CheckTx refuses (e.g. its sequence was used meanwhile) is a
// *TxError and the tx is forgotten. The local sequence is re-learnt afterwards.
func (c *Client) Resume(ctx context.Context, hash string, body []byte) (*sdk.TxResponse, error) {
	if got := TxHash(body); !strings.EqualFold(got, hash) {
		return nil, fmt.Errorf("resume: body hashes to %s, not %s", got, hash)
	}
	rctx, cancel := c.reqCtx(ctx)
	res, err := c.tx.GetTx(rctx, &txtypes.GetTxRequest{Hash: hash})
	cancel()
	if err == nil && res.TxResponse != nil {
		return c.WaitTx(ctx, hash)
	}
	if err := c.seq.lock(ctx); err != nil {
		return nil, err
	}
	rctx, cancel = c.reqCtx(ctx)
	bres, err := c.tx.BroadcastTx(rctx, &txtypes.BroadcastTxRequest{TxBytes: body, Mode: txtypes.BroadcastMode_BROADCAST_MODE_SYNC})
	cancel()
	c.seq.known = false
	c.seq.unlock()
	if err != nil {
		return nil, fmt.Errorf("re-broadcast tx %s: %w", hash, err)
	}
	r := bres.TxResponse
	if r.Code != 0 && !(r.Codespace == sdkerrors.RootCodespace && r.Code == sdkerrors.ErrTxInMempoolCache.ABCICode()) {
		c.forget(hash)
		return r, &TxError{Hash: hash, Codespace: r.Codespace, Code: r.Code, Log: r.RawLog}
	}
	return c.WaitTx(ctx, hash)
}
