package app

import (
	"encoding/json"

	"github.com/cosmos/cosmos-sdk/codec"
	"github.com/cosmos/cosmos-sdk/types/module"
	"github.com/cosmos/cosmos-sdk/x/auth"
	authsims "github.com/cosmos/cosmos-sdk/x/auth/simulation"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	"github.com/cosmos/cosmos-sdk/x/auth/vesting"
	vestingtypes "github.com/cosmos/cosmos-sdk/x/auth/vesting/types"
	"github.com/cosmos/cosmos-sdk/x/authz"
	authzmodule "github.com/cosmos/cosmos-sdk/x/authz/module"
	"github.com/cosmos/cosmos-sdk/x/bank"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"
	"github.com/cosmos/cosmos-sdk/x/consensus"
	consensustypes "github.com/cosmos/cosmos-sdk/x/consensus/types"
	distr "github.com/cosmos/cosmos-sdk/x/distribution"
	distrtypes "github.com/cosmos/cosmos-sdk/x/distribution/types"
	"github.com/cosmos/cosmos-sdk/x/epochs"
	epochstypes "github.com/cosmos/cosmos-sdk/x/epochs/types"
	"github.com/cosmos/cosmos-sdk/x/evidence"
	evidencetypes "github.com/cosmos/cosmos-sdk/x/evidence/types"
	"github.com/cosmos/cosmos-sdk/x/feegrant"
	feegrantmodule "github.com/cosmos/cosmos-sdk/x/feegrant/module"
	"github.com/cosmos/cosmos-sdk/x/genutil"
	genutiltypes "github.com/cosmos/cosmos-sdk/x/genutil/types"
	"github.com/cosmos/cosmos-sdk/x/gov"
	govclient "github.com/cosmos/cosmos-sdk/x/gov/client"
	govtypes "github.com/cosmos/cosmos-sdk/x/gov/types"
	"github.com/cosmos/cosmos-sdk/x/mint"
	minttypes "github.com/cosmos/cosmos-sdk/x/mint/types"
	"github.com/cosmos/cosmos-sdk/x/slashing"
	slashingtypes "github.com/cosmos/cosmos-sdk/x/slashing/types"
	"github.com/cosmos/cosmos-sdk/x/staking"
	stakingtypes "github.com/cosmos/cosmos-sdk/x/staking/types"
	"github.com/cosmos/cosmos-sdk/x/upgrade"
	upgradetypes "github.com/cosmos/cosmos-sdk/x/upgrade/types"

	"github.com/openledger/openledger/x/datanet"
	datanettypes "github.com/openledger/openledger/x/datanet/types"
	"github.com/openledger/openledger/x/inference"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
	"github.com/openledger/openledger/x/models"
	modelstypes "github.com/openledger/openledger/x/models/types"
	"github.com/openledger/openledger/x/rewards"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// newModuleManager lists every module of the chain.
func (app *App) newModuleManager() *module.Manager {
	k := &app.AppKeepers
	cdc := app.appCodec
	return module.NewManager(
		genutil.NewAppModule(k.AccountKeeper, k.StakingKeeper, app, app.txConfig),
		auth.NewAppModule(cdc, k.AccountKeeper, authsims.RandomGenesisAccounts),
		vesting.NewAppModule(k.AccountKeeper, k.BankKeeper),
		bank.NewAppModule(cdc, k.BankKeeper, k.AccountKeeper),
		staking.NewAppModule(cdc, k.StakingKeeper, k.AccountKeeper, k.BankKeeper),
		slashing.NewAppModule(cdc, k.SlashingKeeper, k.AccountKeeper, k.BankKeeper, k.StakingKeeper, app.interfaceRegistry),
		distr.NewAppModule(cdc, k.DistrKeeper, k.AccountKeeper, k.BankKeeper, k.StakingKeeper),
		mint.NewAppModule(cdc, k.MintKeeper, k.AccountKeeper, nil),
		gov.NewAppModule(cdc, k.GovKeeper, k.AccountKeeper, k.BankKeeper),
		consensus.NewAppModule(cdc, k.ConsensusKeeper),
		upgrade.NewAppModule(k.UpgradeKeeper, k.AccountKeeper.AddressCodec()),
		evidence.NewAppModule(k.EvidenceKeeper),
		feegrantmodule.NewAppModule(cdc, k.AccountKeeper, k.BankKeeper, k.FeeGrantKeeper, app.interfaceRegistry),
		authzmodule.NewAppModule(cdc, k.AuthzKeeper, k.AccountKeeper, k.BankKeeper, app.interfaceRegistry),
		epochs.NewAppModule(k.EpochsKeeper),
		datanet.NewAppModule(cdc, k.DatanetKeeper),
		models.NewAppModule(cdc, k.ModelsKeeper),
		rewards.NewAppModule(cdc, k.RewardsKeeper),
		inference.NewAppModule(cdc, k.InferenceKeeper),
	)
}

// setModuleOrders fixes the order of pre/begin/end blockers and genesis.
func setModuleOrders(mm *module.Manager) {
	mm.SetOrderPreBlockers(upgradetypes.ModuleName, authtypes.ModuleName)
	mm.SetOrderBeginBlockers(
		minttypes.ModuleName, distrtypes.ModuleName, slashingtypes.ModuleName, evidencetypes.ModuleName,
		stakingtypes.ModuleName, authz.ModuleName, epochstypes.ModuleName,
	)
	mm.SetOrderEndBlockers(
		banktypes.ModuleName, govtypes.ModuleName, stakingtypes.ModuleName, feegrant.ModuleName,
		datanettypes.ModuleName, modelstypes.ModuleName,
		inferencetypes.ModuleName, // before rewards: its finalisations settle through x/rewards
		rewardstypes.ModuleName,
	)
	// genutil runs after staking (pools) and auth (params); datanet after bank, whose
	// balances its escrow check reads.
	genesisOrder := []string{
		consensustypes.ModuleName, authtypes.ModuleName, banktypes.ModuleName, distrtypes.ModuleName,
		stakingtypes.ModuleName, slashingtypes.ModuleName, govtypes.ModuleName, minttypes.ModuleName,
		genutiltypes.ModuleName, evidencetypes.ModuleName, authz.ModuleName, feegrant.ModuleName,
		upgradetypes.ModuleName, vestingtypes.ModuleName, epochstypes.ModuleName, datanettypes.ModuleName,
		modelstypes.ModuleName, // after datanet: its versions reference dataset versions
		// after models: it pays deployments and dataset versions
		rewardstypes.ModuleName,
		// after rewards and bank: it checks its module balance and pays through x/rewards
		inferencetypes.ModuleName,
	}
	mm.SetOrderInitGenesis(genesisOrder...)
	mm.SetOrderExportGenesis(genesisOrder...)
}

// newBasicManager wraps the module manager's basics, overriding genesis defaults so
// that a fresh genesis is denominated in uopen and describes the OPEN token.
func newBasicManager(mm *module.Manager) module.BasicManager {
	return module.NewBasicManagerFromManager(mm, map[string]module.AppModuleBasic{
		genutiltypes.ModuleName: genutil.NewAppModuleBasic(genutiltypes.DefaultMessageValidator),
		govtypes.ModuleName:     gov.NewAppModuleBasic([]govclient.ProposalHandler{}),
		banktypes.ModuleName:    bankBasic{AppModuleBasic: mm.Modules[banktypes.ModuleName].(bank.AppModule).AppModuleBasic},
	})
}

// bankBasic adds the OPEN denom metadata to bank's default genesis.
type bankBasic struct {
	bank.AppModuleBasic
}

// DefaultGenesis returns bank's default genesis with the uopen/OPEN metadata.
func (b bankBasic) DefaultGenesis(cdc codec.JSONCodec) json.RawMessage {
	gs := banktypes.DefaultGenesisState()
	gs.DenomMetadata = []banktypes.Metadata{TokenMetadata()}
	return cdc.MustMarshalJSON(gs)
}

// TokenMetadata describes the chain's token for wallets and explorers.
func TokenMetadata() banktypes.Metadata {
	return banktypes.Metadata{
		Description: "The native token of the OpenLedger appchain",
		Base:        BondDenom,
		Display:     DisplayDenom,
		Name:        "OpenLedger",
		Symbol:      DisplayDenom,
		DenomUnits: []*banktypes.DenomUnit{
			{Denom: BondDenom, Exponent: 0, Aliases: []string{"microopen"}},
			{Denom: DisplayDenom, Exponent: 6},
		},
	}
}
