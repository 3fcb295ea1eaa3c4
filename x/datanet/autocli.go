package datanet

import (
	autocliv1 "cosmossdk.io/api/cosmos/autocli/v1"

	"github.com/openledger/openledger/x/datanet/types"
)

// AutoCLIOptions describes the generated query and tx commands.
func (AppModule) AutoCLIOptions() *autocliv1.ModuleOptions {
	return &autocliv1.ModuleOptions{
		Query: &autocliv1.ServiceCommandDescriptor{
			Service: types.Query_serviceDesc.ServiceName,
			RpcCommandOptions: []*autocliv1.RpcCommandOptions{
				{RpcMethod: "Params", Use: "params", Short: "Show the datanet module params"},
				{
					RpcMethod: "Datanet", Use: "datanet [datanet-id]", Short: "Show one datanet",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "datanet_id"}},
				},
				{
					RpcMethod: "Datanets", Use: "datanets", Short: "List datanets (filter with --owner, --status)",
				},
				{
					RpcMethod: "Contribution", Use: "contribution [contribution-id]", Short: "Show one contribution",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "contribution_id"}},
				},
				{
					RpcMethod: "Contributions", Use: "contributions", Short: "List contributions (filter with --datanet-id, --contributor, --status)",
				},
				{
					RpcMethod: "Reviews", Use: "reviews [contribution-id]", Short: "List the reviews of a contribution",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "contribution_id"}},
				},
				{
					RpcMethod: "DatasetVersion", Use: "version [datanet-id] [version]", Short: "Show one dataset version",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "datanet_id"}, {ProtoField: "version"}},
				},
				{
					RpcMethod: "DatasetVersions", Use: "versions [datanet-id]", Short: "List the versions of a datanet",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "datanet_id"}},
				},
				{
					RpcMethod: "InclusionProof", Use: "proof [datanet-id] [version] [contribution-id]",
					Short: "Print the inclusion proof of a contribution in a dataset version (check it with `openledgerd datanet verify-proof`)",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{
						{ProtoField: "datanet_id"}, {ProtoField: "version"}, {ProtoField: "contribution_id"},
					},
				},
				{
					RpcMethod: "PendingDeposits", Use: "pending-deposits", Short: "List escrowed deposits and their total (filter with --contributor)",
				},
			},
		},
		Tx: &autocliv1.ServiceCommandDescriptor{
			Service:              types.Msg_serviceDesc.ServiceName,
			EnhanceCustomCommand: true,
			RpcCommandOptions: []*autocliv1.RpcCommandOptions{
				{RpcMethod: "CreateDatanet", Skip: true}, // hand-written: `tx datanet create`
				{
					RpcMethod: "UpdateDatanet", Use: "update [datanet-id]",
					Short:          "Update a datanet you own; set only the fields to change (message fields as JSON, e.g. --name '{\"value\":\"x\"}')",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "datanet_id"}},
				},
				{
					RpcMethod: "ArchiveDatanet", Use: "archive [datanet-id]", Short: "Archive a datanet you own",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "datanet_id"}},
				},
				{
					RpcMethod: "SubmitContribution", Use: "submit [datanet-id] [cid] [sha256] [size-bytes] [record-count] [media-type]",
					Short: "Submit a contribution by CID and digest, escrowing the datanet's deposit",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{
						{ProtoField: "datanet_id"}, {ProtoField: "cid"}, {ProtoField: "sha256"},
						{ProtoField: "size_bytes"}, {ProtoField: "record_count"}, {ProtoField: "media_type"},
					},
				},
				{
					RpcMethod: "WithdrawContribution", Use: "withdraw [contribution-id]", Short: "Withdraw your pending contribution and get the deposit back",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "contribution_id"}},
				},
				{RpcMethod: "ReviewContribution", Skip: true}, // hand-written: `tx datanet review`
				{
					RpcMethod: "CreateDatasetVersion", Use: "create-version [datanet-id]", Short: "Freeze the accepted contributions of a READY datanet as a new dataset version",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "datanet_id"}},
				},
				{RpcMethod: "UpdateParams", Skip: true}, // governance only
			},
		},
	}
}
