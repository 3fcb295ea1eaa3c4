package influence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/openledger/openledger/attribution/record"
	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/lora"
)

// MaxOutputTokens bounds the output length that is attributed.
const MaxOutputTokens = 4096

// Source is everything an influence record is computed from.
type Source struct {
	Sketches            *Sketches
	SketchArtifact      record.Artifact
	Base                *checkpoint.Model
	Checkpoints         []Checkpoint
	CheckpointArtifacts []record.Artifact // one per checkpoint, same order
}

// Scores returns every contribution's integer credit (version order) for
// the output tokens: the sum over output windows of the window's predicted
// tokens times max(0, the contribution's best example score), where an
// example's score is the checkpoint-weighted sum of sketch dot products,
// divided (truncating) by the number of contributions sharing it.
func (src Source) Scores(ctx context.Context, tokens []int) ([]int64, error) {
	s := src.Sketches
	if err := s.CheckModel(src.Base, src.Base.Tok, src.Checkpoints); err != nil {
		return nil, err
	}
	ws := windows(tokens, s.Params.SeqLen, s.Params.SeqLen)
	if len(ws) == 0 {
		return nil, errors.New("influence: the output needs at least 2 tokens")
	}
	dim := s.Params.SketchDim
	proj := newProjector(len(src.Checkpoints[0].Adapter.Data), dim, s.Params.Seed)
	// probe[w][k]: the centred sketch of output window w at checkpoint k.
	probe := make([][][]int16, len(ws))
	for k, ck := range src.Checkpoints {
		grads, err := lora.PerExampleGradients(ctx, src.Base.Params, ck.Adapter, ws, 0)
		if err != nil {
			return nil, err
		}
		for w, g := range grads {
			probe[w] = append(probe[w], center(proj.raw(g.Grad), s.mu[k]))
		}
	}
	out := make([]int64, len(s.ContribIDs))
	ex := make([]int64, s.NumExamples())
	for w := range ws {
		// Integer sums: splitting the examples over goroutines cannot
		// change the result.
		parts := min(runtime.NumCPU(), max(1, len(ex)/1024))
		var wg sync.WaitGroup
		for part := 0; part < parts; part++ {
			lo, hi := part*len(ex)/parts, (part+1)*len(ex)/parts
			wg.Add(1)
			go func() {
				defer wg.Done()
				for e := lo; e < hi; e++ {
					var v int64
					for k, ck := range src.Checkpoints {
						v += int64(ck.Weight) * dot(probe[w][k], s.sk[k][e*dim:(e+1)*dim])
					}
					ex[e] = v
				}
			}()
		}
		wg.Wait()
		n := int64(len(ws[w]) - 1)
		for c := range out {
			f, cnt := int(s.contribFirst[c]), int(s.contribCount[c])
			if cnt == 0 {
				continue
			}
			best := int64(math.MinInt64)
			for e := f; e < f+cnt; e++ {
				best = max(best, ex[e]/int64(s.shared[e]))
			}
			if best > 0 {
				out[c] += n * best
			}
		}
	}
	return out, nil
}

// Attribute computes the influence record of output.
func Attribute(ctx context.Context, src Source, model record.ModelRef, output []byte) (*record.Record, error) {
	if src.Sketches == nil || src.Base == nil {
		return nil, errors.New("influence: need sketches and a base model")
	}
	if err := checkCheckpoints(src.Checkpoints); err != nil {
		return nil, err
	}
	if len(src.CheckpointArtifacts) != len(src.Checkpoints) {
		return nil, errors.New("influence: one artifact per checkpoint is needed")
	}
	if len(output) == 0 {
		return nil, errors.New("influence: empty output (nothing to attribute)")
	}
	tokens := src.Base.Tok.Encode(output)
	if len(tokens) > MaxOutputTokens {
		return nil, fmt.Errorf("influence: output has %d tokens, more than the limit %d", len(tokens), MaxOutputTokens)
	}
	scores, err := src.Scores(ctx, tokens)
	if err != nil {
		return nil, err
	}
	s := src.Sketches
	credits := make([]record.Credit, 0, len(scores)+1)
	byID := map[uint64]int{}
	for c, v := range scores {
		if v <= 0 {
			continue
		}
		id := s.ContribIDs[c]
		if i, ok := byID[id]; ok {
			credits[i].Credit += uint64(v)
			continue
		}
		byID[id] = len(credits)
		credits = append(credits, record.Credit{Party: record.Party{DatanetID: s.DatanetID, Version: s.Version, ContributionID: id}, Credit: uint64(v)})
	}
	credits = append(credits, record.Credit{Party: record.Party{DatanetID: s.DatanetID, Version: s.Version, Pool: true}})
	shares, err := record.Apportion(credits)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(output)
	model.TokenizerSha256 = src.Base.Tok.Digest()
	ip := &record.InfluenceParams{SketchDim: uint32(s.Params.SketchDim), SketchSeed: s.Params.Seed,
		SeqLen: uint32(s.Params.SeqLen), Stride: uint32(s.Params.Stride)}
	for i, ck := range src.Checkpoints {
		ip.Checkpoints = append(ip.Checkpoints, record.Checkpoint{Adapter: src.CheckpointArtifacts[i], Weight: ck.Weight})
	}
	rec := &record.Record{
		FormatVersion:   record.FormatVersion,
		Method:          record.METHOD_INFLUENCE,
		Model:           model,
		OutputSha256:    hex.EncodeToString(sum[:]),
		OutputTokens:    uint32(len(tokens)),
		DatasetVersion:  record.DatasetVersionRef{DatanetId: s.DatanetID, Version: s.Version},
		Index:           src.SketchArtifact,
		InfluenceParams: ip,
	}
	record.SetShares(rec, shares)
	if err := record.Validate(rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// Verify recomputes an influence record from src and compares it byte for
// byte with recBytes.
func Verify(ctx context.Context, recBytes []byte, src Source, output []byte) error {
	rec, err := record.Decode(recBytes)
	if err != nil {
		return err
	}
	if rec.Method != record.METHOD_INFLUENCE {
		return fmt.Errorf("influence: record method is %s", rec.Method)
	}
	again, err := Attribute(ctx, src, rec.Model, output)
	if err != nil {
		return fmt.Errorf("influence: recomputing: %w", err)
	}
	b, err := record.Encode(again)
	if err != nil {
		return err
	}
	if !bytes.Equal(b, recBytes) {
		for i := range rec.Weights {
			if i >= len(again.Weights) || rec.Weights[i] != again.Weights[i] {
				return fmt.Errorf("influence: record mismatch at weight %d", i)
			}
		}
		return errors.New("influence: record mismatch (canonical bytes differ)")
	}
	return nil
}
