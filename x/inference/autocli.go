package inference

import (
	autocliv1 "cosmossdk.io/api/cosmos/autocli/v1"

	"github.com/openledger/openledger/x/inference/types"
)

// AutoCLIOptions describes the generated query and tx commands. Commands that need
// files, keys or signatures (create-job from a file, submit-receipt, vouchers) are
// hand-written porcelain attached next to these.
func (AppModule) AutoCLIOptions() *autocliv1.ModuleOptions {
	pos := func(fields ...string) []*autocliv1.PositionalArgDescriptor {
		out := make([]*autocliv1.PositionalArgDescriptor, len(fields))
		for i, f := range fields {
			out[i] = &autocliv1.PositionalArgDescriptor{ProtoField: f}
		}
		return out
	}
	return &autocliv1.ModuleOptions{
		Query: &autocliv1.ServiceCommandDescriptor{
			Service:              types.Query_serviceDesc.ServiceName,
			EnhanceCustomCommand: true,
			RpcCommandOptions: []*autocliv1.RpcCommandOptions{
				{RpcMethod: "Params", Use: "params", Short: "Show the inference module params"},
				{RpcMethod: "Provider", Use: "provider [operator]", Short: "Show a provider", PositionalArgs: pos("operator")},
				{RpcMethod: "Providers", Use: "providers", Short: "List providers (--status PROVIDER_STATUS_ACTIVE to filter)"},
				{RpcMethod: "Offers", Use: "offers [deployment-id]", Short: "List a deployment's offers, cheapest first", PositionalArgs: pos("deployment_id")},
				{RpcMethod: "ProviderOffers", Use: "provider-offers [operator]", Short: "List a provider's offers", PositionalArgs: pos("operator")},
				{RpcMethod: "Unbondings", Use: "unbondings [operator]", Short: "List a provider's unbonding stake", PositionalArgs: pos("operator")},
				{RpcMethod: "Job", Use: "job [job-id]", Short: "Show a job", PositionalArgs: pos("job_id")},
				{RpcMethod: "Jobs", Use: "jobs", Short: "List jobs (--requester, --provider, --deployment-id, --status)"},
				{RpcMethod: "Bids", Use: "bids [job-id]", Short: "List a job's bids, best first", PositionalArgs: pos("job_id")},
				{RpcMethod: "Receipt", Use: "receipt [job-id]", Short: "Show a job's receipt", PositionalArgs: pos("job_id")},
				{RpcMethod: "Session", Use: "session [session-id]", Short: "Show a session", PositionalArgs: pos("session_id")},
				{RpcMethod: "Sessions", Use: "sessions", Short: "List sessions (--requester or --provider, --status)"},
				{RpcMethod: "SessionSettlements", Use: "settlements [session-id]", Short: "List a session's settlements", PositionalArgs: pos("session_id")},
				{RpcMethod: "Settlement", Use: "settlement [settlement-id]", Short: "Show one session settlement (the id a dispute's target names)", PositionalArgs: pos("settlement_id")},
				{RpcMethod: "Dispute", Use: "dispute [dispute-id]", Short: "Show a dispute (challenge or audit)", PositionalArgs: pos("dispute_id")},
				{RpcMethod: "Disputes", Use: "disputes", Short: "List disputes (--status, --provider for the accused, or --member for a committee member)"},
				{
					RpcMethod: "DisputeByTarget", Use: "dispute-of [target-kind] [target-id]",
					Short: "Show the dispute of a receipt (job-receipt JOB_ID) or a session settlement (session-settlement SETTLEMENT_ID)", PositionalArgs: pos("target_kind", "target_id"),
					Example: "openledgerd query inference dispute-of job-receipt 7",
				},
				{RpcMethod: "Committee", Use: "committee [dispute-id]", Short: "Show a dispute's committee and who committed and revealed", PositionalArgs: pos("dispute_id")},
				{RpcMethod: "Votes", Use: "votes [dispute-id]", Short: "List a dispute's vote records", PositionalArgs: pos("dispute_id")},
				{RpcMethod: "ProviderSlashes", Use: "provider-slashes [operator]", Short: "List a provider's verification slashes", PositionalArgs: pos("operator")},
			},
		},
		Tx: &autocliv1.ServiceCommandDescriptor{
			Service:              types.Msg_serviceDesc.ServiceName,
			EnhanceCustomCommand: true,
			RpcCommandOptions: []*autocliv1.RpcCommandOptions{
				{
					RpcMethod: "UpdateProvider", Use: "update-provider",
					Short: `Replace a provider's descriptive fields: --multiaddrs, --engines, --hardware '{"accelerator":"cpu","count":2}', --provider-name, --api-url, --peer-id (empty keeps it)`,
					// Not --moniker: unset flags are filled from same-named config keys (config.toml's "moniker").
					FlagOptions: map[string]*autocliv1.FlagOptions{"moniker": {Name: "provider-name", Usage: "human-readable name of the provider"}},
				},
				{RpcMethod: "AddStake", Use: "add-stake [amount]", Short: "Bond more provider stake", PositionalArgs: pos("amount")},
				{RpcMethod: "UnbondStake", Use: "unbond-stake [amount]", Short: "Start unbonding provider stake", PositionalArgs: pos("amount")},
				{RpcMethod: "UnjailProvider", Use: "unjail", Short: "Return a jailed provider to ACTIVE after its jail period"},
				{
					RpcMethod: "SetOffer", Use: "set-offer [deployment-id] [compute-price-per-1000-tokens]",
					Short: "Offer to serve a deployment at a compute price (--max-concurrency)", PositionalArgs: pos("deployment_id", "compute_price_per_thousand_tokens"),
				},
				{RpcMethod: "RemoveOffer", Use: "remove-offer [deployment-id]", Short: "Withdraw an offer", PositionalArgs: pos("deployment_id")},
				{RpcMethod: "CancelJob", Use: "cancel-job [job-id]", Short: "Withdraw an open job and get the escrow back", PositionalArgs: pos("job_id")},
				{RpcMethod: "Bid", Use: "bid [job-id] [price-per-1000-tokens]", Short: "Bid on an open job", PositionalArgs: pos("job_id", "price")},
				{
					RpcMethod: "TopUpSession", Use: "top-up-session [session-id] [amount]",
					Short: "Add to a session's deposit (--expiry-height to extend)", PositionalArgs: pos("session_id", "amount"),
				},
				{RpcMethod: "CloseSession", Use: "close-session [session-id]", Short: "Close a session and refund what is unspent", PositionalArgs: pos("session_id")},
				{
					RpcMethod: "Challenge", Use: "challenge [target-kind] [target-id] [claim] [bond]",
					Short: "Dispute a receipt (job-receipt JOB_ID) or a session settlement (session-settlement SETTLEMENT_ID) inside its challenge window; " +
						"claim output-mismatch, attribution-mismatch or usage-overcount; bond at least the min_challenge_bond param",
					Example:        "openledgerd tx inference challenge job-receipt 7 output-mismatch 100000uopen --from alice",
					PositionalArgs: pos("target_kind", "target_id", "claim", "bond"),
				},
				{
					RpcMethod: "CommitVote", Use: "commit-vote [dispute-id] [commitment-base64]",
					Short: "Commit a committee vote: VoteCommitment(dispute, voter, vote, salt), 32 bytes (the provider daemon does this)", PositionalArgs: pos("dispute_id", "commitment"),
				},
				{
					RpcMethod: "RevealVote", Use: "reveal-vote [dispute-id]",
					Short: `Reveal a committed vote: --vote '{"claim_holds":true,"result":{...}}' --salt <base64>`, PositionalArgs: pos("dispute_id"),
				},
				{RpcMethod: "UpdateParams", Skip: true}, // governance only
				// Hand-written porcelain (cmd/openledgerd/porcelain/inference): these need a
				// libp2p identity, IPFS or a session key.
				{RpcMethod: "RegisterProvider", Skip: true},
				{RpcMethod: "CreateJob", Skip: true},
				{RpcMethod: "SubmitReceipt", Skip: true},
				{RpcMethod: "SettleSession", Skip: true},
				{RpcMethod: "OpenSession", Skip: true}, // `openledgerd session open`
			},
		},
	}
}
