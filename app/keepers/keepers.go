// Package keepers constructs every keeper of the application, in dependency order.
package keepers

import (
	"cosmossdk.io/core/address"
	"cosmossdk.io/log/v2"
	"github.com/spf13/cast"

	"github.com/cosmos/cosmos-sdk/baseapp"
	"github.com/cosmos/cosmos-sdk/client/flags"
	"github.com/cosmos/cosmos-sdk/codec"
	addresscodec "github.com/cosmos/cosmos-sdk/codec/address"
	"github.com/cosmos/cosmos-sdk/runtime"
	"github.com/cosmos/cosmos-sdk/server"
	servertypes "github.com/cosmos/cosmos-sdk/server/types"
	storetypes "github.com/cosmos/cosmos-sdk/store/v2/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	authkeeper "github.com/cosmos/cosmos-sdk/x/auth/keeper"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	"github.com/cosmos/cosmos-sdk/x/authz"
	authzkeeper "github.com/cosmos/cosmos-sdk/x/authz/keeper"
	bankkeeper "github.com/cosmos/cosmos-sdk/x/bank/keeper"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"
	consensuskeeper "github.com/cosmos/cosmos-sdk/x/consensus/keeper"
	consensustypes "github.com/cosmos/cosmos-sdk/x/consensus/types"
	distrkeeper "github.com/cosmos/cosmos-sdk/x/distribution/keeper"
	distrtypes "github.com/cosmos/cosmos-sdk/x/distribution/types"
	epochskeeper "github.com/cosmos/cosmos-sdk/x/epochs/keeper"
	epochstypes "github.com/cosmos/cosmos-sdk/x/epochs/types"
	evidencekeeper "github.com/cosmos/cosmos-sdk/x/evidence/keeper"
	evidencetypes "github.com/cosmos/cosmos-sdk/x/evidence/types"
	"github.com/cosmos/cosmos-sdk/x/feegrant"
	feegrantkeeper "github.com/cosmos/cosmos-sdk/x/feegrant/keeper"
	govkeeper "github.com/cosmos/cosmos-sdk/x/gov/keeper"
	govtypes "github.com/cosmos/cosmos-sdk/x/gov/types"
	govv1beta1 "github.com/cosmos/cosmos-sdk/x/gov/types/v1beta1"
	mintkeeper "github.com/cosmos/cosmos-sdk/x/mint/keeper"
	minttypes "github.com/cosmos/cosmos-sdk/x/mint/types"
	slashingkeeper "github.com/cosmos/cosmos-sdk/x/slashing/keeper"
	slashingtypes "github.com/cosmos/cosmos-sdk/x/slashing/types"
	stakingkeeper "github.com/cosmos/cosmos-sdk/x/staking/keeper"
	stakingtypes "github.com/cosmos/cosmos-sdk/x/staking/types"
	upgradekeeper "github.com/cosmos/cosmos-sdk/x/upgrade/keeper"
	upgradetypes "github.com/cosmos/cosmos-sdk/x/upgrade/types"

	datanetkeeper "github.com/openledger/openledger/x/datanet/keeper"
	datanettypes "github.com/openledger/openledger/x/datanet/types"
	inferencekeeper "github.com/openledger/openledger/x/inference/keeper"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
	modelskeeper "github.com/openledger/openledger/x/models/keeper"
	modelstypes "github.com/openledger/openledger/x/models/types"
	rewardskeeper "github.com/openledger/openledger/x/rewards/keeper"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// AppKeepers holds every keeper of the application.
type AppKeepers struct {
	AccountKeeper   authkeeper.AccountKeeper
	BankKeeper      bankkeeper.BaseKeeper
	StakingKeeper   *stakingkeeper.Keeper
	SlashingKeeper  slashingkeeper.Keeper
	DistrKeeper     distrkeeper.Keeper
	MintKeeper      mintkeeper.Keeper
	GovKeeper       *govkeeper.Keeper
	ConsensusKeeper consensuskeeper.Keeper
	UpgradeKeeper   *upgradekeeper.Keeper
	EvidenceKeeper  evidencekeeper.Keeper
	FeeGrantKeeper  feegrantkeeper.Keeper
	AuthzKeeper     authzkeeper.Keeper
	EpochsKeeper    *epochskeeper.Keeper
	DatanetKeeper   datanetkeeper.Keeper
	ModelsKeeper    modelskeeper.Keeper
	RewardsKeeper   rewardskeeper.Keeper
	InferenceKeeper inferencekeeper.Keeper
}

// AccountAddressCodec is the bech32 codec of account addresses.
func AccountAddressCodec() address.Codec {
	return addresscodec.NewBech32Codec(sdk.GetConfig().GetBech32AccountAddrPrefix())
}

// NewAppKeepers builds the keepers. The governance module account is the authority
// of every module's params.
func NewAppKeepers(
	appCodec codec.Codec,
	legacyAmino *codec.LegacyAmino,
	bApp *baseapp.BaseApp,
	keys map[string]*storetypes.KVStoreKey,
	appOpts servertypes.AppOptions,
	logger log.Logger,
) AppKeepers {
	var k AppKeepers
	authority := authtypes.NewModuleAddress(govtypes.ModuleName).String()
	cfg := sdk.GetConfig()
	accCodec := AccountAddressCodec()
	valCodec := addresscodec.NewBech32Codec(cfg.GetBech32ValidatorAddrPrefix())
	consCodec := addresscodec.NewBech32Codec(cfg.GetBech32ConsensusAddrPrefix())

	k.ConsensusKeeper = consensuskeeper.NewKeeper(appCodec,
		runtime.NewKVStoreService(keys[consensustypes.StoreKey]), authority, runtime.EventService{})
	bApp.SetParamStore(k.ConsensusKeeper.ParamsStore)

	k.AccountKeeper = authkeeper.NewAccountKeeper(appCodec,
		runtime.NewKVStoreService(keys[authtypes.StoreKey]), authtypes.ProtoBaseAccount,
		ModuleAccountPermissions, accCodec, cfg.GetBech32AccountAddrPrefix(), authority)

	k.BankKeeper = bankkeeper.NewBaseKeeper(appCodec,
		runtime.NewKVStoreService(keys[banktypes.StoreKey]), k.AccountKeeper,
		BlockedAddresses(), authority, logger)

	k.StakingKeeper = stakingkeeper.NewKeeper(appCodec,
		runtime.NewKVStoreService(keys[stakingtypes.StoreKey]), k.AccountKeeper, k.BankKeeper,
		authority, valCodec, consCodec)

	k.MintKeeper = mintkeeper.NewKeeper(appCodec,
		runtime.NewKVStoreService(keys[minttypes.StoreKey]), k.StakingKeeper, k.AccountKeeper,
		k.BankKeeper, authtypes.FeeCollectorName, authority)

	k.DistrKeeper = distrkeeper.NewKeeper(appCodec,
		runtime.NewKVStoreService(keys[distrtypes.StoreKey]), k.AccountKeeper, k.BankKeeper,
		k.StakingKeeper, authtypes.FeeCollectorName, authority)

	k.SlashingKeeper = slashingkeeper.NewKeeper(appCodec, legacyAmino,
		runtime.NewKVStoreService(keys[slashingtypes.StoreKey]), k.StakingKeeper, authority)

	k.StakingKeeper.SetHooks(stakingtypes.NewMultiStakingHooks(
		k.DistrKeeper.Hooks(), k.SlashingKeeper.Hooks(),
	))

	k.FeeGrantKeeper = feegrantkeeper.NewKeeper(appCodec,
		runtime.NewKVStoreService(keys[feegrant.StoreKey]), k.AccountKeeper)

	k.AuthzKeeper = authzkeeper.NewKeeper(runtime.NewKVStoreService(keys[authz.ModuleName]),
		appCodec, bApp.MsgServiceRouter(), k.AccountKeeper)

	skipUpgradeHeights := map[int64]bool{}
	for _, h := range cast.ToIntSlice(appOpts.Get(server.FlagUnsafeSkipUpgrades)) {
		skipUpgradeHeights[int64(h)] = true
	}
	homePath := cast.ToString(appOpts.Get(flags.FlagHome))
	k.UpgradeKeeper = upgradekeeper.NewKeeper(skipUpgradeHeights,
		runtime.NewKVStoreService(keys[upgradetypes.StoreKey]), appCodec, homePath, bApp, authority)

	k.EvidenceKeeper = *evidencekeeper.NewKeeper(appCodec,
		runtime.NewKVStoreService(keys[evidencetypes.StoreKey]), k.StakingKeeper, k.SlashingKeeper,
		accCodec, runtime.ProvideCometInfoService())

	epochs := epochskeeper.NewKeeper(runtime.NewKVStoreService(keys[epochstypes.StoreKey]), appCodec)
	k.EpochsKeeper = &epochs

	govRouter := govv1beta1.NewRouter()
	govRouter.AddRoute(govtypes.RouterKey, govv1beta1.ProposalHandler)
	k.GovKeeper = govkeeper.NewKeeper(appCodec, runtime.NewKVStoreService(keys[govtypes.StoreKey]),
		k.AccountKeeper, k.BankKeeper, k.DistrKeeper, bApp.MsgServiceRouter(), govtypes.DefaultConfig(),
		authority, govkeeper.NewDefaultCalculateVoteResultsAndVotingPower(k.StakingKeeper))
	k.GovKeeper.SetLegacyRouter(govRouter)

	k.DatanetKeeper = datanetkeeper.NewKeeper(appCodec,
		runtime.NewKVStoreService(keys[datanettypes.StoreKey]), accCodec, authority,
		k.AccountKeeper, k.BankKeeper, k.DistrKeeper)

	k.ModelsKeeper = modelskeeper.NewKeeper(appCodec,
		runtime.NewKVStoreService(keys[modelstypes.StoreKey]), accCodec, authority, k.DatanetKeeper)

	k.RewardsKeeper = rewardskeeper.NewKeeper(appCodec,
		runtime.NewKVStoreService(keys[rewardstypes.StoreKey]), accCodec, authority,
		k.AccountKeeper, k.BankKeeper, k.DistrKeeper, k.DatanetKeeper, k.ModelsKeeper)

	k.InferenceKeeper = inferencekeeper.NewKeeper(appCodec,
		runtime.NewKVStoreService(keys[inferencetypes.StoreKey]), accCodec, authority,
		k.AccountKeeper, k.BankKeeper, k.DistrKeeper, k.ModelsKeeper, k.RewardsKeeper)
	// Feedback (x/models) reads rated inferences from x/inference, whose keeper is
	// built after x/models'; the setter fills a holder shared by every copy of the
	// models keeper, including those already handed to x/rewards and x/inference.
	k.ModelsKeeper.SetInferenceSource(inferencekeeper.NewFeedbackSource(k.InferenceKeeper))

	return k
}

// BlockedAddresses are the module accounts that may not receive plain transfers:
// every module account but governance's. Escrow accounts must be blocked so their
// balances always equal what the module tracks.
func BlockedAddresses() map[string]bool {
	blocked := make(map[string]bool, len(ModuleAccountPermissions))
	for name := range ModuleAccountPermissions {
		blocked[authtypes.NewModuleAddress(name).String()] = true
	}
	delete(blocked, authtypes.NewModuleAddress(govtypes.ModuleName).String())
	return blocked
}
