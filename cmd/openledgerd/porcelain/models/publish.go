// Package cli holds the hand-written commands of the models module: the
// ModelFactory porcelain that turns a training run into a published version.
// Autocli generates every other command.
package models

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ipfs/boxo/files"
	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"
	"github.com/cosmos/cosmos-sdk/client/tx"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/openledger/openledger/ml/train"
	"github.com/openledger/openledger/storage"
	storagecli "github.com/openledger/openledger/storage/cli"
	datanettypes "github.com/openledger/openledger/x/datanet/types"
	"github.com/openledger/openledger/x/models/types"
)

const (
	flagManifest        = "manifest"
	flagDatasetVersion  = "dataset-version"
	flagParent          = "parent"
	flagUpstream        = "upstream-share-bps"
	flagKind            = "kind"
	flagSpanIndex       = "span-index"
	flagInfluenceSketch = "influence-sketch"
	flagName            = "name"
	flagTask            = "task"
	flagLicense         = "license"
	flagDeploy          = "deploy"
	flagDeveloperBps    = "developer-bps"
)

// NewTxCmd returns the hand-written tx commands; autocli adds the rest.
func NewTxCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:                        types.ModuleName,
		Short:                      "Models transactions: register models, publish versions, deploy them",
		DisableFlagParsing:         true,
		SuggestionsMinimumDistance: 2,
		RunE:                       client.ValidateCmd,
	}
	cmd.AddCommand(NewPublishVersionCmd())
	return cmd
}

// NewPublishVersionCmd is `tx models publish-version MODEL_ID --manifest manifest.json`.
func NewPublishVersionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "publish-version [model-id|new] --manifest PATH",
		Short: "Pin a training run's checkpoint and manifest on the local IPFS node and publish them as a model version",
		Long: `Reads the manifest written by 'openledgerd model train', checks that the checkpoint
next to it has the size and sha256 the manifest records and that the manifest is in its
canonical form, adds and pins the checkpoint, the manifest and any attribution artifacts
on the local IPFS node (<home>/ipfs, through the daemon when it runs), checks the digests
IPFS computed, and submits MsgPublishVersion with the CIDs, digests, engine and metrics.

The kind defaults from the manifest: lora for an adapter run (SFT and DPO adapters
included), dpo for a full-weight DPO run, sft for any other run on a --base, pretrain
otherwise. Name what the run was trained on with --dataset-version DATANET/VERSION
(repeat for each) and, for a fine-tune, the parent with --parent MODEL/VERSION; without
--parent, the parent is the version of the model whose checkpoint is the run's base (the
manifest records its sha256), and a --parent whose checkpoint is not that base is refused.
The metrics come from the manifest (ml/README.md): eval_loss_micro = eval_loss × 10^6,
parent_eval_loss_micro = parent_eval.eval_loss × 10^6 (the quality gate's input),
preference_accuracy_bps = preference.after.accuracy × 10^4, each rounded to the nearest
integer.

With "new" instead of a model id, the same transaction first registers the model
(--name, --task, --license). With --deploy ROYALTY (per 1,000 tokens), the same
transaction also deploys the new version with --developer-bps for the developer and the
rest for data. The transaction is atomic: all of it happens or none.`,
		Example: `  openledgerd tx models publish-version new --name "Tiny proverbs" --license MIT --manifest /tmp/m/manifest.json \
      --dataset-version 1/1 --deploy 25uopen --developer-bps 3000 --from alice -y
  openledgerd tx models publish-version 1 --manifest /tmp/m/manifest.json --dataset-version 1/1 --from alice -y
  openledgerd tx models publish-version 1 --manifest /tmp/lora/manifest.json --parent 1/1 --upstream-share-bps 10000 --from alice -y`,
		Args: cobra.ExactArgs(1),
		RunE: runPublishVersion,
	}
	cmd.Flags().String(flagManifest, "", "manifest.json written by 'openledgerd model train' (required)")
	cmd.Flags().StringSlice(flagDatasetVersion, nil, "dataset version trained on, as DATANET/VERSION (repeat or comma-separate)")
	cmd.Flags().String(flagParent, "", "parent version, as MODEL/VERSION")
	cmd.Flags().Uint32(flagUpstream, 0, "bps of this version's data share passed to the parent's lineage (10000 when no dataset version is given)")
	cmd.Flags().String(flagKind, "", "pretrain, sft, lora, dpo or rlhf (default: from the manifest)")
	cmd.Flags().String(flagSpanIndex, "", "span-attribution index file to pin and record (optional)")
	cmd.Flags().String(flagInfluenceSketch, "", "influence-attribution sketch file to pin and record (optional)")
	cmd.Flags().String(flagName, "", "with model id \"new\": the new model's name")
	cmd.Flags().String(flagTask, "text-generation", "with model id \"new\": the new model's task")
	cmd.Flags().String(flagLicense, "", "with model id \"new\": the new model's SPDX licence")
	cmd.Flags().String(flagDeploy, "", "also deploy the version at this royalty per 1,000 tokens, e.g. 25uopen")
	cmd.Flags().Uint32(flagDeveloperBps, 5_000, "with --deploy: the developer's bps of the royalty (data gets the rest)")
	flags.AddTxFlagsToCmd(cmd)
	return cmd
}

// parsePair parses "A/B" into two positive integers.
func parsePair(flag, s string) (uint64, uint64, error) {
	a, b, ok := strings.Cut(s, "/")
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || x == 0 || y == 0 {
		return 0, 0, fmt.Errorf("--%s %q: want two positive integers as A/B", flag, s)
	}
	return x, y, nil
}

// ParseKind parses a version kind name (pretrain, sft, lora, dpo, rlhf, or the full enum name).
func ParseKind(s string) (types.VersionKind, error) {
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "VERSION_KIND_") {
		name = "VERSION_KIND_" + name
	}
	k, ok := types.VersionKind_value[name]
	if !ok || k == 0 {
		return 0, fmt.Errorf("--kind %q: want pretrain, sft, lora, dpo or rlhf", s)
	}
	return types.VersionKind(k), nil
}

// KindOf is the kind a manifest describes: lora for an adapter (whatever it was
// trained on: the provider serves any adapter over its parent's checkpoint), dpo
// for a full-weight preference run, sft for any other run on a base, else pretrain.
func KindOf(m *train.Manifest) types.VersionKind {
	switch {
	case m.LoRA != nil:
		return types.VERSION_KIND_LORA
	case m.Kind == train.KindDPO:
		return types.VERSION_KIND_DPO
	case m.Base != nil || m.Kind == train.KindSFT:
		return types.VERSION_KIND_SFT
	default:
		return types.VERSION_KIND_PRETRAIN
	}
}

// EvalLossMicro converts a manifest's evaluation loss to the chain's integer scale
// (×10^6, rounded to the nearest integer, halves away from zero; 0 for a loss that
// is not positive, which the chain reads as "not reported").
func EvalLossMicro(loss float64) uint64 { //determinism:allow client-side conversion of the trainer's float report, never in state transitions
	if math.IsNaN(loss) || loss <= 0 { //determinism:allow client-side check of the trainer's float report
		return 0
	}
	if loss > float64(math.MaxUint64)/1e6 { //determinism:allow client-side bound of the trainer's float report
		return math.MaxUint64
	}
	return uint64(math.Round(loss * 1e6)) //determinism:allow client-side rounding of the trainer's float report
}

// AccuracyBps converts a fraction in [0, 1] to basis points (×10^4, rounded to the
// nearest integer, halves away from zero), clamped to [0, 10,000].
func AccuracyBps(acc float64) uint32 { //determinism:allow client-side conversion of the trainer's float report
	if math.IsNaN(acc) || acc <= 0 { //determinism:allow client-side check of the trainer's float report
		return 0
	}
	return uint32(min(math.Round(acc*1e4), types.BpsScale)) //determinism:allow client-side rounding of the trainer's float report
}

// MetricsOf maps a training manifest onto the chain's Metrics (ml/README.md,
// "parent_eval"): eval_loss_micro = eval_loss × 10^6; parent_eval_loss_micro =
// parent_eval.eval_loss × 10^6 (the run's loss on its parent's held-out set, 0
// without parent_eval); preference_accuracy_bps = preference.after.accuracy × 10^4
// (0 without a preference report); each rounded to the nearest integer.
func MetricsOf(m *train.Manifest) types.Metrics {
	met := types.Metrics{
		EvalLossMicro:  EvalLossMicro(m.EvalLoss),
		TokensTrained:  uint64(max(m.TokensSeen, 0)),
		ParameterCount: uint64(max(m.Config.NumParams(), 0)),
	}
	if m.ParentEval != nil {
		met.ParentEvalLossMicro = EvalLossMicro(m.ParentEval.EvalLoss)
	}
	if m.Preference != nil {
		met.PreferenceAccuracyBps = AccuracyBps(m.Preference.After.Accuracy)
	}
	return met
}

// LoadRun reads and checks a training run: the manifest is canonical and the
// checkpoint beside it has the recorded size and sha256. It returns the manifest,
// its bytes and digest, and the checkpoint path.
func LoadRun(manifestPath string) (*train.Manifest, []byte, string, string, error) {
	raw, err := os.ReadFile(manifestPath)
	if err != nil {
		return nil, nil, "", "", err
	}
	m, err := train.ReadManifest(manifestPath)
	if err != nil {
		return nil, nil, "", "", err
	}
	canon, digest, err := m.Canonical()
	if err != nil {
		return nil, nil, "", "", err
	}
	if !bytes.Equal(canon, raw) {
		return nil, nil, "", "", fmt.Errorf("%s is not in canonical form (edited after training?): its digest would not match the run", manifestPath)
	}
	ckpt := filepath.Join(filepath.Dir(manifestPath), filepath.Base(m.Checkpoint.File))
	f, err := os.ReadFile(ckpt)
	if err != nil {
		return nil, nil, "", "", fmt.Errorf("checkpoint: %w", err)
	}
	sum := sha256.Sum256(f)
	if got := hex.EncodeToString(sum[:]); got != m.Checkpoint.SHA256 || int64(len(f)) != m.Checkpoint.Bytes {
		return nil, nil, "", "", fmt.Errorf("checkpoint %s: sha256 %s and %d bytes, manifest says %s and %d bytes",
			ckpt, got, len(f), m.Checkpoint.SHA256, m.Checkpoint.Bytes)
	}
	return m, raw, digest, ckpt, nil
}

func runPublishVersion(cmd *cobra.Command, args []string) error {
	newModel := args[0] == "new"
	var modelID uint64
	if !newModel {
		var err error
		if modelID, err = strconv.ParseUint(args[0], 10, 64); err != nil || modelID == 0 {
			return fmt.Errorf("model-id %q: must be a positive integer or \"new\"", args[0])
		}
	}
	name, _ := cmd.Flags().GetString(flagName)
	license, _ := cmd.Flags().GetString(flagLicense)
	task, _ := cmd.Flags().GetString(flagTask)
	if newModel && (name == "" || license == "") {
		return fmt.Errorf("a new model needs --%s and --%s", flagName, flagLicense)
	}
	var royalty *sdk.Coin
	if r, _ := cmd.Flags().GetString(flagDeploy); r != "" {
		c, err := sdk.ParseCoinNormalized(r)
		if err != nil {
			return fmt.Errorf("--%s %q: %w", flagDeploy, r, err)
		}
		royalty = &c
	}
	devBps, _ := cmd.Flags().GetUint32(flagDeveloperBps)
	if devBps > types.BpsScale {
		return fmt.Errorf("--%s %d: at most %d", flagDeveloperBps, devBps, types.BpsScale)
	}
	manifestPath, _ := cmd.Flags().GetString(flagManifest)
	if manifestPath == "" {
		return fmt.Errorf("--%s is required: the manifest.json written by 'openledgerd model train'", flagManifest)
	}
	man, _, manDigest, ckptPath, err := LoadRun(manifestPath)
	if err != nil {
		return err
	}

	msg := &types.MsgPublishVersion{
		ModelId:        modelID,
		Kind:           KindOf(man),
		ArtifactSize:   uint64(man.Checkpoint.Bytes),
		ArtifactSha256: man.Checkpoint.SHA256,
		ManifestSha256: manDigest,
		EngineName:     man.Engine.Name,
		EngineVersion:  man.Engine.Version,
	}
	metrics := MetricsOf(man)
	msg.Metrics = &metrics
	if k, _ := cmd.Flags().GetString(flagKind); k != "" {
		if msg.Kind, err = ParseKind(k); err != nil {
			return err
		}
	}
	dvs, _ := cmd.Flags().GetStringSlice(flagDatasetVersion)
	for _, s := range dvs {
		d, v, err := parsePair(flagDatasetVersion, s)
		if err != nil {
			return err
		}
		msg.DatasetVersions = append(msg.DatasetVersions, types.DatasetVersionRef{DatanetId: d, Version: v})
	}
	if p, _ := cmd.Flags().GetString(flagParent); p != "" {
		m, v, err := parsePair(flagParent, p)
		if err != nil {
			return err
		}
		msg.Parent = &types.VersionRef{ModelId: m, Version: v}
	}
	fineTune := man.Base != nil && man.Base.SHA256 != ""
	if msg.Parent == nil && len(msg.DatasetVersions) == 0 && !fineTune {
		return fmt.Errorf("name what the run was trained on: --%s DATANET/VERSION, or --%s MODEL/VERSION for a fine-tune", flagDatasetVersion, flagParent)
	}

	clientCtx, err := client.GetClientTxContext(cmd)
	if err != nil {
		return err
	}
	from := clientCtx.GetFromAddress()
	if from.Empty() {
		return fmt.Errorf("--from is required: the key that owns the model")
	}
	if msg.Owner, err = clientCtx.InterfaceRegistry.SigningContext().AddressCodec().BytesToString(from); err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if (newModel || royalty != nil) && (clientCtx.GenerateOnly || clientCtx.Offline) {
		return fmt.Errorf("\"new\" and --%s read the chain (next model id, next version): not with --generate-only or --offline", flagDeploy)
	}
	nextVersion := uint64(0)
	// Fail before touching IPFS when the chain would refuse the version.
	if !clientCtx.GenerateOnly && !clientCtx.Offline {
		mq := types.NewQueryClient(clientCtx)
		if newModel {
			// Ids are sequential and never reused: the next one follows the highest.
			// Should another model take it first, the publish in this tx fails (not
			// the owner) and the whole tx changes nothing.
			res, err := mq.Models(ctx, &types.QueryModelsRequest{Pagination: &query.PageRequest{Limit: 1, Reverse: true}})
			if err != nil {
				return fmt.Errorf("models: %w", err)
			}
			modelID = 1
			if len(res.Models) > 0 {
				modelID = res.Models[0].Id + 1
			}
			nextVersion = 1
		} else {
			res, err := mq.Model(ctx, &types.QueryModelRequest{ModelId: modelID})
			if err != nil {
				return fmt.Errorf("model %d: %w", modelID, err)
			}
			if res.Model.Owner != msg.Owner {
				return fmt.Errorf("model %d is owned by %s, not by --from %s", modelID, res.Model.Owner, msg.Owner)
			}
			nextVersion = res.Model.LatestVersion + 1
		}
		msg.ModelId = modelID
		if err := resolveParent(ctx, mq, msg, man, newModel); err != nil {
			return err
		}
		dq := datanettypes.NewQueryClient(clientCtx)
		for _, ref := range msg.DatasetVersions {
			if _, err := dq.DatasetVersion(ctx, &datanettypes.QueryDatasetVersionRequest{DatanetId: ref.DatanetId, Version: ref.Version}); err != nil {
				return fmt.Errorf("dataset version %d/%d: %w", ref.DatanetId, ref.Version, err)
			}
		}
	}

	if msg.Parent == nil && len(msg.DatasetVersions) == 0 {
		return fmt.Errorf("name what the run was trained on: --%s DATANET/VERSION, or --%s MODEL/VERSION for a fine-tune", flagDatasetVersion, flagParent)
	}
	msg.UpstreamShareBps, _ = cmd.Flags().GetUint32(flagUpstream)
	if !cmd.Flags().Changed(flagUpstream) && msg.Parent != nil && len(msg.DatasetVersions) == 0 {
		msg.UpstreamShareBps = types.BpsScale
	}
	if msg.Parent != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "parent %d/%d, upstream share %d bps; metrics: eval_loss_micro %d, parent_eval_loss_micro %d, preference_accuracy_bps %d (kind %s)\n",
			msg.Parent.ModelId, msg.Parent.Version, msg.UpstreamShareBps, metrics.EvalLossMicro, metrics.ParentEvalLossMicro, metrics.PreferenceAccuracyBps, msg.Kind)
	}

	type artifact struct {
		what, path, sha string
		cid             *string
	}
	arts := []artifact{
		{"checkpoint", ckptPath, man.Checkpoint.SHA256, &msg.ArtifactCid},
		{"manifest", manifestPath, manDigest, &msg.ManifestCid},
	}
	if p, _ := cmd.Flags().GetString(flagSpanIndex); p != "" {
		arts = append(arts, artifact{"span index", p, "", &msg.SpanIndexCid})
	}
	if p, _ := cmd.Flags().GetString(flagInfluenceSketch); p != "" {
		arts = append(arts, artifact{"influence sketch", p, "", &msg.InfluenceSketchCid})
	}
	err = storagecli.WithAPI(cmd, func(ctx context.Context, a storage.API) error {
		for _, art := range arts {
			st, err := os.Stat(art.path)
			if err != nil {
				return err
			}
			if st.IsDir() {
				return fmt.Errorf("%s %s is a directory; give a file", art.what, art.path)
			}
			nd, err := files.NewSerialFile(art.path, false, st)
			if err != nil {
				return fmt.Errorf("cannot read %s: %w", art.path, err)
			}
			progress, done := storagecli.ProgressBar(cmd.ErrOrStderr(), st.Size(), "adding "+art.what)
			res, err := a.Add(ctx, nd, storage.AddOptions{
				PinReason: fmt.Sprintf("model %d %s", modelID, art.what),
				Name:      filepath.Base(art.path),
				Progress:  progress,
				SHA256:    true,
			})
			done()
			nd.Close()
			if err != nil {
				return fmt.Errorf("adding %s %s to IPFS: %w", art.what, art.path, err)
			}
			if art.sha != "" && res.SHA256 != art.sha {
				return fmt.Errorf("%s %s: IPFS read sha256 %s, the manifest says %s (file changed?)", art.what, art.path, res.SHA256, art.sha)
			}
			*art.cid = res.RootStr
			fmt.Fprintf(cmd.ErrOrStderr(), "pinned %s %s: cid %s, %d bytes, sha256 %s\n", art.what, art.path, res.RootStr, res.Size, res.SHA256)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var msgs []sdk.Msg
	if newModel {
		msgs = append(msgs, &types.MsgCreateModel{Owner: msg.Owner, Name: name, Task: task, License: license})
		fmt.Fprintf(cmd.ErrOrStderr(), "registering model %d %q\n", modelID, name)
	}
	msgs = append(msgs, msg)
	if royalty != nil {
		msgs = append(msgs, &types.MsgCreateDeployment{
			Owner: msg.Owner, ModelId: modelID, Version: nextVersion, RoyaltyPerThousandTokens: *royalty,
			DeveloperBps: devBps, DataBps: types.BpsScale - devBps,
		})
		fmt.Fprintf(cmd.ErrOrStderr(), "deploying version %d/%d at %s per 1,000 tokens (developer %d bps, data %d bps)\n",
			modelID, nextVersion, royalty, devBps, types.BpsScale-devBps)
	}
	return tx.GenerateOrBroadcastTxCLI(clientCtx, cmd.Flags(), msgs...)
}

// resolveParent checks a fine-tune's parent against the run: the parent version's
// checkpoint must be the run's base (its sha256 is in the manifest). Without
// --parent, the parent is the version of the model whose checkpoint is the base,
// when the model has one.
func resolveParent(ctx context.Context, mq types.QueryClient, msg *types.MsgPublishVersion, man *train.Manifest, newModel bool) error {
	if man.Base == nil || man.Base.SHA256 == "" {
		return nil
	}
	if msg.Parent != nil {
		res, err := mq.ModelVersion(ctx, &types.QueryModelVersionRequest{ModelId: msg.Parent.ModelId, Version: msg.Parent.Version})
		if err != nil {
			return fmt.Errorf("--%s %d/%d: %w", flagParent, msg.Parent.ModelId, msg.Parent.Version, err)
		}
		if res.Version.ArtifactSha256 != man.Base.SHA256 {
			return fmt.Errorf("--%s %d/%d: its checkpoint has sha256 %s, but the run was trained on a base with sha256 %s",
				flagParent, msg.Parent.ModelId, msg.Parent.Version, res.Version.ArtifactSha256, man.Base.SHA256)
		}
		return nil
	}
	if newModel {
		return nil
	}
	page := &query.PageRequest{Limit: 200}
	for range 1_000 { // bounded: 200,000 versions
		res, err := mq.ModelVersions(ctx, &types.QueryModelVersionsRequest{ModelId: msg.ModelId, Pagination: page})
		if err != nil {
			return fmt.Errorf("versions of model %d: %w", msg.ModelId, err)
		}
		for _, v := range res.Versions {
			if v.ArtifactSha256 == man.Base.SHA256 && v.Kind != types.VERSION_KIND_LORA {
				msg.Parent = &types.VersionRef{ModelId: v.ModelId, Version: v.Version}
				return nil
			}
		}
		if res.Pagination == nil || len(res.Pagination.NextKey) == 0 {
			return nil
		}
		page = &query.PageRequest{Key: res.Pagination.NextKey, Limit: 200}
	}
	return nil
}
