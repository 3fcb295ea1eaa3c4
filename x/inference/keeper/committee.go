package keeper

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"math/big"
	"slices"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/x/inference/types"
)

// Seed domains: the audit draw and the committee draw of one target use the same
// block hash but never the same bits.
const (
	seedDomainAudit     = "openledger/inference/audit/v1"
	seedDomainCommittee = "openledger/inference/committee/v1"
)

// blockHash is the hash of the block being finalised (CometBFT's FinalizeBlock
// request hash), empty outside block execution.
func blockHash(ctx context.Context) []byte {
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	if h := sdkCtx.HeaderInfo().Hash; len(h) > 0 {
		return h
	}
	return sdkCtx.HeaderHash()
}

// verificationSeed is sha256(domain ‖ block hash ‖ target kind (4 bytes) ‖ target id
// (8 bytes)). Nothing a challenger or a provider sends enters it: the block hash is
// fixed by the block's proposer after the target and the challenge were posted.
func verificationSeed(ctx context.Context, domain string, kind types.TargetKind, id uint64) []byte {
	h := sha256.New()
	h.Write([]byte(domain))
	hash := blockHash(ctx)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(hash)))
	h.Write(n[:])
	h.Write(hash)
	binary.BigEndian.PutUint32(n[:4], uint32(kind))
	h.Write(n[:4])
	binary.BigEndian.PutUint64(n[:], id)
	h.Write(n[:])
	return h.Sum(nil)
}

// auditDrawn reports whether seed selects an audit at rate bps: the seed's first 8
// bytes modulo 10,000 fall below bps (bias of the modulo below 10^-15).
func auditDrawn(seed []byte, bps uint32) bool {
	return binary.BigEndian.Uint64(seed[:8])%types.BpsScale < uint64(bps)
}

// candidate is an eligible committee member.
type candidate struct {
	op       sdk.AccAddress
	operator string
	weight   sdkmath.Int
}

// eligibleCandidates lists the ACTIVE providers that may sit on d's committee:
// not a party (accused provider, challenger, requester), positive stake, declaring
// the receipt's engine, and offering the deployment when params require it. The scan
// visits at most params.max_committee_candidates ACTIVE providers in address order,
// starting at an address drawn from the seed and wrapping around, so its cost is
// bounded whatever the number of providers and no address range is favoured.
func (k Keeper) eligibleCandidates(ctx context.Context, params types.Params, d types.Dispute, seed []byte) ([]candidate, error) {
	parties := []string{d.Provider, d.Challenger, d.Requester}
	start := sha256.Sum256(append([]byte("start"), seed...))
	startAddr := sdk.AccAddress(start[:20])
	limit := int(params.MaxCommitteeCandidates)
	visited := 0
	var out []candidate
	visit := func(key collections.Pair[int32, sdk.AccAddress]) (bool, error) {
		visited++
		op := key.K2()
		p, err := k.GetProvider(ctx, op)
		if err != nil {
			return true, err
		}
		ok := !slices.Contains(parties, p.Operator) && p.Stake.IsPositive() &&
			(d.EngineName == "" || slices.Contains(p.Engines, d.EngineName))
		if ok && params.CommitteeRequiresOffer {
			if ok, err = k.Offers.Has(ctx, collections.Join(op, d.DeploymentId)); err != nil {
				return true, err
			}
		}
		if ok {
			out = append(out, candidate{op: op, operator: p.Operator, weight: p.Stake.Amount})
		}
		return visited >= limit, nil
	}
	active := int32(types.PROVIDER_STATUS_ACTIVE)
	from := new(collections.Range[collections.Pair[int32, sdk.AccAddress]]).
		StartInclusive(collections.Join(active, startAddr)).
		EndExclusive(collections.Join(active+1, sdk.AccAddress(nil)))
	if err := k.ProvidersByStatus.Walk(ctx, from, visit); err != nil {
		return nil, err
	}
	if visited < limit {
		wrap := new(collections.Range[collections.Pair[int32, sdk.AccAddress]]).
			StartInclusive(collections.Join(active, sdk.AccAddress(nil))).
			EndExclusive(collections.Join(active, startAddr))
		if err := k.ProvidersByStatus.Walk(ctx, wrap, visit); err != nil {
			return nil, err
		}
	}
	// Address order (the walk wrapped): the draw below must not depend on where it began.
	slices.SortFunc(out, func(a, b candidate) int { return bytes.Compare(a.op, b.op) })
	return out, nil
}

// drawCommittee samples up to n members without replacement, each draw picking a
// candidate with probability weight / remaining weight: draw i reduces
// sha256(seed ‖ "member" ‖ i) modulo the remaining weight and walks the cumulative
// weights in address order. Integer arithmetic only; the same seed and candidates
// always give the same committee.
func drawCommittee(seed []byte, cands []candidate, n int) []types.CommitteeMember {
	pool := slices.Clone(cands)
	total := sdkmath.ZeroInt()
	for _, c := range pool {
		total = total.Add(c.weight)
	}
	var out []types.CommitteeMember
	for i := 0; i < n && len(pool) > 0 && total.IsPositive(); i++ {
		var idx [4]byte
		binary.BigEndian.PutUint32(idx[:], uint32(i))
		h := sha256.Sum256(slices.Concat(seed, []byte("member"), idx[:]))
		r := sdkmath.NewIntFromBigInt(new(big.Int).Mod(new(big.Int).SetBytes(h[:]), total.BigInt()))
		pick := len(pool) - 1
		for j, c := range pool {
			if r.LT(c.weight) {
				pick = j
				break
			}
			r = r.Sub(c.weight)
		}
		c := pool[pick]
		out = append(out, types.CommitteeMember{Operator: c.operator, Weight: c.weight})
		total = total.Sub(c.weight)
		pool = slices.Delete(pool, pick, pick+1)
	}
	return out
}
