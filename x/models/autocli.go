package models

import (
	autocliv1 "cosmossdk.io/api/cosmos/autocli/v1"

	"github.com/openledger/openledger/x/models/types"
)

// AutoCLIOptions describes the generated query and tx commands.
func (AppModule) AutoCLIOptions() *autocliv1.ModuleOptions {
	return &autocliv1.ModuleOptions{
		Query: &autocliv1.ServiceCommandDescriptor{
			Service:              types.Query_serviceDesc.ServiceName,
			EnhanceCustomCommand: true,
			RpcCommandOptions: []*autocliv1.RpcCommandOptions{
				{RpcMethod: "Params", Use: "params", Short: "Show the models module params"},
				{
					RpcMethod: "Model", Use: "model [model-id]", Short: "Show one model",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "model_id"}},
				},
				{RpcMethod: "Models", Use: "models", Short: "List models (filter with --owner)"},
				{
					RpcMethod: "ModelVersion", Use: "version [model-id] [version]", Short: "Show one model version",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "model_id"}, {ProtoField: "version"}},
				},
				{
					RpcMethod: "ModelVersions", Use: "versions [model-id]", Short: "List the versions of a model",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "model_id"}},
				},
				{
					RpcMethod: "Lineage", Use: "lineage [model-id] [version]",
					Short:          "Show a version's ancestry with each ancestor's dataset versions, and its flattened data-share table (bound with --max-depth)",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "model_id"}, {ProtoField: "version"}},
				},
				{
					RpcMethod: "Deployment", Use: "deployment [deployment-id]", Short: "Show one deployment",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "deployment_id"}},
				},
				{
					RpcMethod: "Deployments", Use: "deployments",
					Short: "List deployments (filter with --model-id [--model-version], or --owner; and --status)",
				},
				{
					RpcMethod: "DataShares", Use: "data-shares [deployment-id]", Short: "Show the data-share table of a deployment",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "deployment_id"}},
				},
				{
					RpcMethod: "Feedback", Use: "feedback",
					Short: "Show the feedback on an inference: --job-id N, or --session-id N --request-seq N",
				},
				{
					RpcMethod: "DeploymentFeedback", Use: "deployment-feedback [deployment-id]", Short: "List the feedback on a deployment",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "deployment_id"}},
				},
				{
					RpcMethod: "FeedbackCounts", Use: "feedback-counts [deployment-id]",
					Short:          "Show a deployment's +1/-1 counts, records contributed and its feedback datanet",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "deployment_id"}},
				},
			},
		},
		Tx: &autocliv1.ServiceCommandDescriptor{
			Service:              types.Msg_serviceDesc.ServiceName,
			EnhanceCustomCommand: true,
			RpcCommandOptions: []*autocliv1.RpcCommandOptions{
				{
					RpcMethod: "CreateModel", Use: "create [name] [task] [license]",
					Short: "Register a model (optional: --description, --tokenizer-cid, --external-base '{\"name\":…,\"artifact_cid\":…}')",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{
						{ProtoField: "name"}, {ProtoField: "task"}, {ProtoField: "license"},
					},
				},
				{
					RpcMethod: "UpdateModel", Use: "update [model-id]",
					Short:          "Update a model you own; set only the fields to change (as JSON, e.g. --name '{\"value\":\"x\"}')",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "model_id"}},
				},
				{
					RpcMethod: "PublishVersion", Use: "publish [model-id] [kind] [artifact-cid] [artifact-sha256] [artifact-size] [manifest-cid] [manifest-sha256] [engine-name] [engine-version]",
					Short: "Publish a version of a model you own from explicit CIDs and digests " +
						"(--dataset-versions '{\"datanet_id\":1,\"version\":1}' repeated, --parent '{\"model_id\":1,\"version\":1}', --upstream-share-bps, --metrics)",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{
						{ProtoField: "model_id"}, {ProtoField: "kind"}, {ProtoField: "artifact_cid"}, {ProtoField: "artifact_sha256"},
						{ProtoField: "artifact_size"}, {ProtoField: "manifest_cid"}, {ProtoField: "manifest_sha256"},
						{ProtoField: "engine_name"}, {ProtoField: "engine_version"},
					},
				},
				{
					RpcMethod: "DeprecateVersion", Use: "deprecate-version [model-id] [version]", Short: "Deprecate a version: no new deployments",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "model_id"}, {ProtoField: "version"}},
				},
				{
					RpcMethod: "CreateDeployment", Use: "deploy [model-id] [version] [royalty-per-1k-tokens] [developer-bps] [data-bps]",
					Short: "Deploy a published version at a royalty per 1,000 tokens with a developer/data split summing to 10000 bps",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{
						{ProtoField: "model_id"}, {ProtoField: "version"}, {ProtoField: "royalty_per_thousand_tokens"},
						{ProtoField: "developer_bps"}, {ProtoField: "data_bps"},
					},
				},
				{
					RpcMethod: "UpdateDeployment", Use: "update-deployment [deployment-id]",
					Short: "Schedule a new price after the notice period (--royalty-per-thousand-tokens 10uopen), pause or resume (--status paused|active), " +
						"and/or switch to a descendant version that passes the quality gate (--new-version N)",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "deployment_id"}},
					// Not --version: the SDK fills unset flags named like a config.toml key
					// (config.toml has `version`), which broke every update without a switch.
					FlagOptions: map[string]*autocliv1.FlagOptions{"version": {Name: "new-version",
						Usage: "switch the deployment to this version of the same model (a descendant that passes the quality gate)"}},
				},
				{
					RpcMethod: "RetireDeployment", Use: "retire-deployment [deployment-id]", Short: "Retire a deployment for good",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "deployment_id"}},
				},
				{
					RpcMethod: "SubmitFeedback", Use: "submit-feedback",
					Short: "Rate a paid inference you requested: --job-id N, or --session-id N --settlement-id N --receipt B64 --proof B64 (repeated); " +
						"--rating up|down; optional --record-cid/--record-sha256/--record-size, --preferred-completion-cid, --chosen-cid with --rejected-cid " +
						"(the porcelain 'openledgerd feedback rate|prefer' fills these)",
				},
				{RpcMethod: "UpdateParams", Skip: true}, // governance only
			},
		},
	}
}
