package types

import sdkmath "cosmossdk.io/math"

// DefaultGenesis returns the default genesis state: default params, nothing accrued.
func DefaultGenesis() *GenesisState {
	return &GenesisState{Params: DefaultParams(), Dust: sdkmath.ZeroInt()}
}

// Validate checks the genesis state's structure: params, positive amounts, unique keys
// and pool bounds. Balances against the module account are checked by InitGenesis.
func (gs GenesisState) Validate() error {
	if err := gs.Params.Validate(); err != nil {
		return err
	}
	if gs.Dust.IsNil() || gs.Dust.IsNegative() {
		return ErrInvalidGenesis.Wrap("dust must be >= 0")
	}
	type accKey struct {
		r    string
		kind SourceKind
		id   uint64
	}
	seen := make(map[accKey]bool, len(gs.Accruals))
	for i, a := range gs.Accruals {
		k := accKey{a.Recipient, a.Kind, a.SourceId}
		switch {
		case a.Recipient == "":
			return ErrInvalidGenesis.Wrapf("accrual %d: empty recipient", i)
		case a.Kind != SOURCE_KIND_CONTRIBUTION && a.Kind != SOURCE_KIND_DEPLOYMENT:
			return ErrInvalidGenesis.Wrapf("accrual %d: kind %s", i, a.Kind)
		case a.Amount.IsNil() || !a.Amount.IsPositive():
			return ErrInvalidGenesis.Wrapf("accrual %d: amount must be positive", i)
		case seen[k]:
			return ErrInvalidGenesis.Wrapf("accrual %d: duplicate (%s, %s, %d)", i, a.Recipient, a.Kind, a.SourceId)
		}
		seen[k] = true
	}
	type verKey struct{ d, v uint64 }
	pools := make(map[verKey]bool, len(gs.Pools))
	for i, p := range gs.Pools {
		k := verKey{p.DatanetId, p.Version}
		switch {
		case pools[k]:
			return ErrInvalidGenesis.Wrapf("pool %d: duplicate (%d, %d)", i, p.DatanetId, p.Version)
		case p.RewardPerShare.IsNil() || p.RewardPerShare.IsNegative(),
			p.Carry.IsNil() || p.Carry.IsNegative(),
			p.Balance.IsNil() || p.Balance.IsNegative(),
			p.TotalDeposited.IsNil() || p.TotalDeposited.LT(p.Balance):
			return ErrInvalidGenesis.Wrapf("pool (%d, %d): negative or inconsistent amounts", p.DatanetId, p.Version)
		case p.TotalShares == 0 || p.Carry.GTE(sdkmath.NewIntFromUint64(p.TotalShares)):
			return ErrInvalidGenesis.Wrapf("pool (%d, %d): carry must be < total_shares > 0", p.DatanetId, p.Version)
		}
		pools[k] = true
	}
	type curKey struct{ d, v, c uint64 }
	cursors := make(map[curKey]bool, len(gs.Cursors))
	for i, c := range gs.Cursors {
		k := curKey{c.DatanetId, c.Version, c.ContributionId}
		switch {
		case !pools[verKey{c.DatanetId, c.Version}]:
			return ErrInvalidGenesis.Wrapf("cursor %d: no pool (%d, %d)", i, c.DatanetId, c.Version)
		case cursors[k]:
			return ErrInvalidGenesis.Wrapf("cursor %d: duplicate", i)
		case c.RewardPerShare.IsNil() || c.RewardPerShare.IsNegative():
			return ErrInvalidGenesis.Wrapf("cursor %d: negative reward_per_share", i)
		}
		cursors[k] = true
	}
	deps := make(map[uint64]bool, len(gs.DeploymentTotals))
	for i, t := range gs.DeploymentTotals {
		if deps[t.DeploymentId] || t.Paid.IsNil() || t.Developer.IsNil() || t.Data.IsNil() ||
			t.Paid.IsNegative() || t.Developer.IsNegative() || t.Data.IsNegative() {
			return ErrInvalidGenesis.Wrapf("deployment_totals %d: duplicate or invalid", i)
		}
		deps[t.DeploymentId] = true
	}
	dns := make(map[uint64]bool, len(gs.DatanetTotals))
	for i, t := range gs.DatanetTotals {
		if dns[t.DatanetId] || t.Direct.IsNil() || t.Pooled.IsNil() || t.Direct.IsNegative() || t.Pooled.IsNegative() {
			return ErrInvalidGenesis.Wrapf("datanet_totals %d: duplicate or invalid", i)
		}
		dns[t.DatanetId] = true
	}
	type recKey struct {
		m  string
		id uint64
	}
	recs := make(map[recKey]bool, len(gs.Records))
	for i, r := range gs.Records {
		k := recKey{r.PayerModule, r.SettlementId}
		if r.PayerModule == "" || recs[k] {
			return ErrInvalidGenesis.Wrapf("record %d: empty payer or duplicate (%s, %d)", i, r.PayerModule, r.SettlementId)
		}
		recs[k] = true
	}
	return nil
}
