package rewards

import (
	autocliv1 "cosmossdk.io/api/cosmos/autocli/v1"

	"github.com/openledger/openledger/x/rewards/types"
)

// AutoCLIOptions describes the generated query and tx commands.
func (AppModule) AutoCLIOptions() *autocliv1.ModuleOptions {
	return &autocliv1.ModuleOptions{
		Query: &autocliv1.ServiceCommandDescriptor{
			Service:              types.Query_serviceDesc.ServiceName,
			EnhanceCustomCommand: true,
			RpcCommandOptions: []*autocliv1.RpcCommandOptions{
				{RpcMethod: "Params", Use: "params", Short: "Show the rewards module params"},
				{
					RpcMethod: "Accruals", Use: "accruals [recipient]", Short: "List a recipient's unclaimed direct and developer credits by source",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "recipient"}},
				},
				{
					RpcMethod: "PendingRewards", Use: "pending [address]",
					Short:          "List what an address can claim now, by source (raw; 'query attribution rewards' formats it)",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "address"}},
				},
				{
					RpcMethod: "Pool", Use: "pool [datanet-id] [version]", Short: "Show a dataset version's reward pool",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "datanet_id"}, {ProtoField: "version"}},
				},
				{
					RpcMethod: "ContributionRewards", Use: "contribution [contribution-id]",
					Short:          "Show a contribution's unclaimed direct credit and pending pool earnings",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "contribution_id"}},
				},
				{
					RpcMethod: "DeploymentTotals", Use: "deployment-totals [deployment-id]", Short: "Show a deployment's settlement totals",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "deployment_id"}},
				},
				{
					RpcMethod: "DatanetTotals", Use: "datanet-totals [datanet-id]", Short: "Show what a datanet's contributions earned",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "datanet_id"}},
				},
				{
					RpcMethod: "SettlementRecord", Use: "record [payer-module] [settlement-id]", Short: "Show how a settlement was split",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "payer_module"}, {ProtoField: "settlement_id"}},
				},
			},
		},
		Tx: &autocliv1.ServiceCommandDescriptor{
			Service:              types.Msg_serviceDesc.ServiceName,
			EnhanceCustomCommand: true,
			RpcCommandOptions: []*autocliv1.RpcCommandOptions{
				{
					RpcMethod: "ClaimRewards", Use: "claim",
					Short: "Claim your accrued rewards in one transfer (--datanet-id, --dataset-version, --max-items; repeat while the answer says more)",
					// Not --version: unset flags are filled from same-named config keys (config.toml's "version").
					FlagOptions: map[string]*autocliv1.FlagOptions{"version": {Name: "dataset-version", Usage: "with --datanet-id: only this dataset version"}},
				},
				{RpcMethod: "UpdateParams", Skip: true}, // governance only
			},
		},
	}
}
