package keeper

import (
	"context"

	"github.com/openledger/openledger/x/datanet/types"
)

// CreateModuleDatanet creates a datanet on behalf of another module (x/models'
// feedback datanets) through exactly the validation, events and READY rule of
// MsgCreateDatanet; msg.Owner becomes its owner. A contribution deposit left unset
// (empty denom) takes params.min_deposit. It returns the new datanet's id.
func (k Keeper) CreateModuleDatanet(ctx context.Context, msg *types.MsgCreateDatanet) (uint64, error) {
	if msg.ContributionDeposit.Denom == "" {
		params, err := k.Params.Get(ctx)
		if err != nil {
			return 0, err
		}
		msg.ContributionDeposit = params.MinDeposit
	}
	res, err := msgServer{Keeper: k}.CreateDatanet(ctx, msg)
	if err != nil {
		return 0, err
	}
	return res.DatanetId, nil
}

// SubmitModuleContribution records a contribution on behalf of another module with the
// same validation, duplicate check, review window, stats and (on acceptance) Merkle
// leaf as MsgSubmitContribution, but without a deposit: the caller vouches for the
// contributor (x/models: a rater who paid for the inference they rate). The
// contribution is PENDING; the datanet's curators accept or reject it as any other,
// and a rejection forfeits nothing. It returns the contribution id.
func (k Keeper) SubmitModuleContribution(ctx context.Context, msg *types.MsgSubmitContribution) (uint64, error) {
	return k.submitContribution(ctx, msg, false)
}
