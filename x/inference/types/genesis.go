package types

// DefaultGenesis is the genesis of a fresh chain.
func DefaultGenesis() *GenesisState {
	return &GenesisState{
		Params: DefaultParams(), NextJobId: 1, NextSessionId: 1, NextSettlementId: 1,
		NextBidSequence: 1, NextUnbondingId: 1, NextDisputeId: 1,
	}
}

// Validate checks the genesis state's internal consistency; the keeper's InitGenesis
// checks the rest against the module account's balance.
func (gs GenesisState) Validate() error {
	if err := gs.Params.Validate(); err != nil {
		return err
	}
	if gs.NextJobId == 0 || gs.NextSessionId == 0 || gs.NextSettlementId == 0 || gs.NextBidSequence == 0 || gs.NextUnbondingId == 0 {
		return ErrInvalidField.Wrap("genesis: next ids start at 1")
	}
	providers := make(map[string]bool, len(gs.Providers))
	peers := make(map[string]bool, len(gs.Providers))
	for i, p := range gs.Providers {
		if p.Operator == "" || providers[p.Operator] {
			return ErrInvalidField.Wrapf("providers[%d]: empty or duplicate operator %q", i, p.Operator)
		}
		if peers[p.PeerId] {
			return ErrPeerIDTaken.Wrapf("providers[%d]: peer id %s", i, p.PeerId)
		}
		providers[p.Operator], peers[p.PeerId] = true, true
		if p.Status == PROVIDER_STATUS_UNSPECIFIED {
			return ErrInvalidField.Wrapf("providers[%d]: status unspecified", i)
		}
		if p.Stake.Validate() != nil || p.Unbonding.IsNil() || p.Unbonding.IsNegative() || p.SlashedTotal.IsNil() || p.SlashedTotal.IsNegative() {
			return ErrInvalidAmount.Wrapf("providers[%d]: stake, unbonding and slashed_total must be valid and >= 0", i)
		}
	}
	type offerKey struct {
		op  string
		dep uint64
	}
	offers := make(map[offerKey]bool, len(gs.Offers))
	for i, o := range gs.Offers {
		k := offerKey{o.Operator, o.DeploymentId}
		if !providers[o.Operator] || offers[k] {
			return ErrInvalidField.Wrapf("offers[%d]: unknown provider or duplicate offer", i)
		}
		offers[k] = true
	}
	for i, u := range gs.Unbondings {
		if !providers[u.Operator] || u.Id == 0 || u.Id >= gs.NextUnbondingId {
			return ErrInvalidField.Wrapf("unbondings[%d]: unknown provider or id out of range", i)
		}
	}
	jobs := make(map[uint64]Job, len(gs.Jobs))
	for i, j := range gs.Jobs {
		if j.Id == 0 || j.Id >= gs.NextJobId {
			return ErrInvalidField.Wrapf("jobs[%d]: id %d out of range [1, %d)", i, j.Id, gs.NextJobId)
		}
		if _, dup := jobs[j.Id]; dup {
			return ErrInvalidField.Wrapf("jobs[%d]: duplicate id %d", i, j.Id)
		}
		if j.Status == JOB_STATUS_UNSPECIFIED {
			return ErrInvalidField.Wrapf("jobs[%d]: status unspecified", i)
		}
		jobs[j.Id] = j
	}
	for i, b := range gs.Bids {
		j, ok := jobs[b.JobId]
		if !ok || JobIsFinal(j.Status) {
			return ErrInvalidField.Wrapf("bids[%d]: job %d unknown or closed", i, b.JobId)
		}
		if b.Sequence == 0 || b.Sequence >= gs.NextBidSequence {
			return ErrInvalidField.Wrapf("bids[%d]: sequence out of range", i)
		}
	}
	for i, r := range gs.Receipts {
		if _, ok := jobs[r.JobId]; !ok {
			return ErrInvalidField.Wrapf("receipts[%d]: unknown job %d", i, r.JobId)
		}
	}
	sessions := make(map[uint64]bool, len(gs.Sessions))
	for i, s := range gs.Sessions {
		if s.Id == 0 || s.Id >= gs.NextSessionId || sessions[s.Id] {
			return ErrInvalidField.Wrapf("sessions[%d]: id %d out of range or duplicate", i, s.Id)
		}
		if s.SettledAmount.IsNil() || s.Paid.IsNil() || s.Refunded.IsNil() {
			return ErrInvalidAmount.Wrapf("sessions[%d]: amounts must be set", i)
		}
		sessions[s.Id] = true
	}
	settlements := make(map[uint64]bool, len(gs.SessionSettlements))
	for i, s := range gs.SessionSettlements {
		if !sessions[s.SessionId] || s.Id == 0 || s.Id >= gs.NextSettlementId || settlements[s.Id] {
			return ErrInvalidField.Wrapf("session_settlements[%d]: unknown session, id out of range or duplicate", i)
		}
		settlements[s.Id] = true
	}
	return gs.validateVerificationGenesis()
}

// JobIsFinal reports whether a job status is final (nothing held, bids dropped).
func JobIsFinal(s JobStatus) bool {
	switch s {
	case JOB_STATUS_OPEN, JOB_STATUS_AWARDED, JOB_STATUS_PENDING, JOB_STATUS_CHALLENGED:
		return false
	default:
		return true
	}
}
