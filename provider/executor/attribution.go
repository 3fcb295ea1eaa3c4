package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/openledger/openledger/attribution"
	"github.com/openledger/openledger/attribution/influence"
	"github.com/openledger/openledger/attribution/record"
	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/tokenizer"
	modelstypes "github.com/openledger/openledger/x/models/types"
	rewardstypes "github.com/openledger/openledger/x/rewards/types"
)

// attribute computes the attribution record of an output and its chain
// summary. The record is what `openledgerd attribution explain` writes with
// --record-out for the same artifacts and output: the span method when the
// version has a span index, else the influence method when it has sketches.
// Without either (or for an empty output, which neither method attributes) the
// record is a pool-only statement (see poolOnly). topK is the summary's K.
func (p *Pool) attribute(ctx context.Context, job Job, v modelstypes.ModelVersion, w *loadedWeights,
	tok *tokenizer.Tokenizer, output []byte, topK int,
) ([]byte, rewardstypes.AttributionSummary, error) {
	mref := record.ModelRef{ModelId: job.ModelID, Version: job.ModelVersion}
	var (
		rec *record.Record
		err error
	)
	switch {
	case len(output) == 0:
		return p.poolOnly(ctx, job, v, output, "empty output: nothing to attribute")
	case v.SpanIndexCid != "":
		mref.Artifact = chainArtifact(v)
		rec, err = p.spanRecord(ctx, v, w, tok, mref, output)
	case v.InfluenceSketchCid != "":
		rec, err = p.influenceRecord(ctx, v, w, mref, output)
	default:
		return p.poolOnly(ctx, job, v, output, "the model version has no span index and no influence sketches")
	}
	if err != nil {
		return nil, rewardstypes.AttributionSummary{}, err
	}
	b, err := record.Encode(rec)
	if err != nil {
		return nil, rewardstypes.AttributionSummary{}, err
	}
	sum, err := Summarize(rec, topK)
	if err != nil {
		return nil, rewardstypes.AttributionSummary{}, err
	}
	return b, sum, nil
}

// chainArtifact is the record reference of a version's artifact from its
// on-chain fields (equal to attribution.FileArtifact of the file for an
// artifact added with the default import settings, as publish-version does).
func chainArtifact(v modelstypes.ModelVersion) record.Artifact {
	return record.Artifact{Cid: v.ArtifactCid, Sha256: v.ArtifactSha256, SizeBytes: v.ArtifactSize}
}

// spanRecord runs span attribution. The tokenizer is the model's tokenizer_cid
// when set, else the checkpoint's own (explain: --tokenizer, default the
// --model's); the first one the index was built with is used.
func (p *Pool) spanRecord(ctx context.Context, v modelstypes.ModelVersion, w *loadedWeights,
	tok *tokenizer.Tokenizer, mref record.ModelRef, output []byte,
) (*record.Record, error) {
	se, release, err := p.spanIndex(ctx, v.SpanIndexCid)
	if err != nil {
		return nil, err
	}
	defer release()
	var cands []*tokenizer.Tokenizer
	if tok != nil {
		cands = append(cands, tok)
	}
	if w == nil && v.EngineName == checkpoint.EngineName {
		// A remote backend ran the model; the checkpoint still carries the tokenizer.
		if w, err = p.loadWeights(ctx, v); err != nil {
			return nil, err
		}
		defer w.release()
	}
	if w != nil {
		cands = append(cands, w.weights.Base.Tok)
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("%w: span attribution needs the model's tokenizer: the model has no tokenizer_cid and its artifact is not a %s checkpoint", ErrInvalidJob, checkpoint.EngineName)
	}
	var lastErr error
	for _, t := range cands {
		if lastErr = se.src.Index.CheckTokenizer(t); lastErr == nil {
			src := se.src
			src.Tokenizer = t
			return attribution.AttributeSpans(src, t, mref, output, p.cfg.Span)
		}
	}
	return nil, fmt.Errorf("%w: span index %s: %v", ErrInvalidJob, v.SpanIndexCid, lastErr)
}

// influenceRecord runs influence attribution over the version's sketches. The
// base is the checkpoint under the adapter and the record's model artifact is
// the base (explain: --model BASE); the sketches' checkpoints must be the
// version's own adapter, the only adapter the chain names by CID.
func (p *Pool) influenceRecord(ctx context.Context, v modelstypes.ModelVersion, w *loadedWeights,
	mref record.ModelRef, output []byte,
) (*record.Record, error) {
	if v.Kind != modelstypes.VERSION_KIND_LORA {
		return nil, fmt.Errorf("%w: influence sketches need a LoRA version; model %d version %d is %s", ErrInvalidJob, v.ModelId, v.Version, v.Kind)
	}
	ske, release, err := p.sketchFile(ctx, v.InfluenceSketchCid)
	if err != nil {
		return nil, err
	}
	defer release()
	if w == nil {
		if w, err = p.loadWeights(ctx, v); err != nil {
			return nil, err
		}
		defer w.release()
	}
	adapterPath, relAdapter, err := p.files.get(ctx, v.ArtifactCid, v.ArtifactSha256)
	if err != nil {
		return nil, err
	}
	defer relAdapter()
	adapterArt, err := attribution.FileArtifact(adapterPath)
	if err != nil {
		return nil, err
	}
	src := influence.Source{Sketches: ske.sk, SketchArtifact: ske.art, Base: w.weights.Base}
	for i, ref := range ske.sk.Checkpoints {
		if ref.AdapterSHA256 != v.ArtifactSha256 {
			return nil, fmt.Errorf("%w: sketch checkpoint %d is adapter %s, which the chain does not name (only the version's adapter %s can be fetched)",
				ErrInvalidJob, i, ref.AdapterSHA256, v.ArtifactSha256)
		}
		src.Checkpoints = append(src.Checkpoints, influence.Checkpoint{Adapter: w.weights.Adapter, SHA256: v.ArtifactSha256, Weight: ref.Weight})
		src.CheckpointArtifacts = append(src.CheckpointArtifacts, adapterArt)
	}
	if err := src.Sketches.CheckModel(src.Base, src.Base.Tok, src.Checkpoints); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidJob, err)
	}
	mref.Artifact = chainArtifact(w.baseVersion)
	return influence.Attribute(ctx, src, mref, output)
}

// Summarize is record.Summarize with K entries converted to the chain's
// AttributionSummary. Pools whose share is zero are left out: x/rewards refuses
// zero entries, and they carry nothing.
func Summarize(rec *record.Record, k int) (rewardstypes.AttributionSummary, error) {
	s, err := record.Summarize(rec, k)
	if err != nil {
		return rewardstypes.AttributionSummary{}, err
	}
	out := rewardstypes.AttributionSummary{RecordSha256: s.RecordSha256}
	for _, t := range s.Top {
		out.Top = append(out.Top, rewardstypes.ContributionWeight{DatanetId: t.DatanetId, Version: t.Version, ContributionId: t.ContributionId, Ppm: t.Ppm})
	}
	for _, pw := range s.Pools {
		if pw.Ppm > 0 {
			out.Pools = append(out.Pools, rewardstypes.PoolWeight{DatanetId: pw.DatanetId, Version: pw.Version, Ppm: pw.Ppm})
		}
	}
	return out, nil
}

// PoolOnlyFormat names the pool-only statement's JSON format.
const PoolOnlyFormat = "openledger-provider/pool-only/1"

// PoolOnlyStatement is the record a receipt references when the output was not
// attributed: which version produced which output, why nothing was attributed,
// and the pools the summary pays. Its canonical form is its compact JSON
// encoding (fields in this order); the summary's record_sha256 is its sha256.
type PoolOnlyStatement struct {
	Format       string                    `json:"format"`
	ModelID      uint64                    `json:"model_id"`
	ModelVersion uint64                    `json:"model_version"`
	OutputSHA256 string                    `json:"output_sha256"`
	Reason       string                    `json:"reason"`
	Pools        []rewardstypes.PoolWeight `json:"pools"`
}

// poolOnly builds the pool-only record and summary.
//
// The rule: the data share goes to the pools of the version's own dataset
// versions (dataset_versions, sorted on chain), 1,000,000 ppm split equally and
// the remainder to the first. When the deployment is known (the ModelSource
// also looks deployments up), only dataset versions in its data-share table
// count — x/rewards refuses a pool outside the table — and if none is (a
// fine-tune passing its whole data share up its lineage), the table's own
// entries are used the same way. This is the simplest summary x/rewards
// accepts, and any pools-only summary pays the same: the data share is divided
// by the deployment's table bps, and within a dataset version the pool takes
// everything the summary does not give to named contributions.
func (p *Pool) poolOnly(ctx context.Context, job Job, v modelstypes.ModelVersion, output []byte, reason string,
) ([]byte, rewardstypes.AttributionSummary, error) {
	var refs []modelstypes.DatasetVersionRef
	own := v.DatasetVersions
	dep, known, err := p.chain.deployment(ctx, job.DeploymentID)
	if err != nil {
		return nil, rewardstypes.AttributionSummary{}, err
	}
	if known {
		in := map[[2]uint64]bool{}
		for _, e := range dep.DataShares {
			in[[2]uint64{e.DatanetId, e.Version}] = true
		}
		for _, r := range own {
			if in[[2]uint64{r.DatanetId, r.Version}] {
				refs = append(refs, r)
			}
		}
		if len(refs) == 0 {
			for _, e := range dep.DataShares {
				refs = append(refs, modelstypes.DatasetVersionRef{DatanetId: e.DatanetId, Version: e.Version})
			}
		}
	} else {
		refs = own
	}
	if len(refs) == 0 {
		return nil, rewardstypes.AttributionSummary{}, errors.New("no dataset version to credit: the model version names none and the deployment's table is unknown or empty")
	}
	pools := EqualPools(refs)
	sum := sha256.Sum256(output)
	st := PoolOnlyStatement{Format: PoolOnlyFormat, ModelID: job.ModelID, ModelVersion: job.ModelVersion,
		OutputSHA256: hex.EncodeToString(sum[:]), Reason: reason, Pools: pools}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, rewardstypes.AttributionSummary{}, err
	}
	d := sha256.Sum256(b)
	return b, rewardstypes.AttributionSummary{RecordSha256: hex.EncodeToString(d[:]), Pools: pools}, nil
}

// EqualPools splits 1,000,000 ppm equally over refs (in their order), the
// remainder to the first.
func EqualPools(refs []modelstypes.DatasetVersionRef) []rewardstypes.PoolWeight {
	n := uint32(len(refs))
	each := uint32(rewardstypes.PpmScale) / n
	out := make([]rewardstypes.PoolWeight, n)
	for i, r := range refs {
		out[i] = rewardstypes.PoolWeight{DatanetId: r.DatanetId, Version: r.Version, Ppm: each}
	}
	out[0].Ppm += uint32(rewardstypes.PpmScale) - each*n
	return out
}
