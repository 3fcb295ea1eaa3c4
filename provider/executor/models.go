package executor

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/openledger/openledger/attribution"
	"github.com/openledger/openledger/attribution/influence"
	"github.com/openledger/openledger/attribution/record"
	"github.com/openledger/openledger/attribution/spanindex"
	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/lora"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/tokenizer"
	"github.com/openledger/openledger/provider/backend"
	modelstypes "github.com/openledger/openledger/x/models/types"
)

// baseEntry is a resident base model and the LoRA adapters served over it.
type baseEntry struct {
	model *checkpoint.Model
	reg   *lora.Registry

	mu   sync.Mutex // serialises adapter loads; guards used
	used map[string]uint64
	tick uint64
	max  int
}

// loadedWeights are the weights of one job, held until release.
type loadedWeights struct {
	weights backend.Weights
	base    *baseEntry
	// baseVersion is the version whose checkpoint is the base (the version
	// itself, or a LoRA version's parent).
	baseVersion modelstypes.ModelVersion
	release     func()
}

// loadWeights returns the resident weights of a version: its own checkpoint,
// or for a LoRA version its parent's checkpoint (resident, shared) with the
// version's adapter applied per request.
func (p *Pool) loadWeights(ctx context.Context, v modelstypes.ModelVersion) (*loadedWeights, error) {
	if v.Kind != modelstypes.VERSION_KIND_LORA {
		be, release, err := p.base(ctx, v)
		if err != nil {
			return nil, err
		}
		return &loadedWeights{weights: backend.Weights{Base: be.model}, base: be, baseVersion: v, release: release}, nil
	}
	if v.Parent == nil {
		return nil, fmt.Errorf("%w: LoRA version %d/%d names no parent", ErrInvalidJob, v.ModelId, v.Version)
	}
	pv, err := p.chain.version(ctx, v.Parent.ModelId, v.Parent.Version)
	if err != nil {
		return nil, err
	}
	if pv.Kind == modelstypes.VERSION_KIND_LORA || pv.EngineName != checkpoint.EngineName {
		return nil, fmt.Errorf("%w: LoRA version %d/%d: parent %d/%d is %s of engine %q; the built-in engine serves adapters over a full %s checkpoint",
			ErrInvalidJob, v.ModelId, v.Version, pv.ModelId, pv.Version, pv.Kind, pv.EngineName, checkpoint.EngineName)
	}
	be, release, err := p.base(ctx, pv)
	if err != nil {
		return nil, err
	}
	a, err := p.adapter(ctx, be, v)
	if err != nil {
		release()
		return nil, err
	}
	return &loadedWeights{weights: backend.Weights{Base: be.model, Adapter: a}, base: be, baseVersion: pv, release: release}, nil
}

// base returns the resident checkpoint of a full version, fetching and
// verifying it when needed.
func (p *Pool) base(ctx context.Context, v modelstypes.ModelVersion) (*baseEntry, func(), error) {
	return p.bases.get(ctx, v.ArtifactCid, func() (*baseEntry, error) {
		b, err := p.artifactBytes(ctx, v.ArtifactCid, v.ArtifactSha256)
		if err != nil {
			return nil, fmt.Errorf("model %d version %d: %w", v.ModelId, v.Version, err)
		}
		m, err := checkpoint.ParseModel(b)
		if err != nil {
			return nil, fmt.Errorf("%w: model %d version %d artifact %s: %v", ErrInvalidJob, v.ModelId, v.Version, v.ArtifactCid, err)
		}
		if m.SHA256 != v.ArtifactSha256 {
			p.files.remove(v.ArtifactCid)
			return nil, fmt.Errorf("%w: model %d version %d: cached artifact %s has sha256 %s, the chain says %s",
				ErrDigestMismatch, v.ModelId, v.Version, v.ArtifactCid, m.SHA256, v.ArtifactSha256)
		}
		p.log.Info("model resident", "model", v.ModelId, "version", v.Version, "cid", v.ArtifactCid, "params", m.Params.Cfg.NumParams())
		return &baseEntry{model: m, reg: lora.NewRegistry(m, p.cfg.MaxAdaptersPerBase), used: map[string]uint64{}, max: p.cfg.MaxAdaptersPerBase}, nil
	})
}

// adapter returns the version's adapter, registered over its resident base
// under the adapter's CID.
func (p *Pool) adapter(ctx context.Context, be *baseEntry, v modelstypes.ModelVersion) (*model.Adapter, error) {
	name := v.ArtifactCid
	be.mu.Lock()
	defer be.mu.Unlock()
	be.tick++
	if a, err := be.reg.Get(name); err == nil && a != nil {
		be.used[name] = be.tick
		return a, nil
	}
	path, release, err := p.files.get(ctx, v.ArtifactCid, v.ArtifactSha256)
	if err != nil {
		return nil, fmt.Errorf("LoRA version %d/%d: %w", v.ModelId, v.Version, err)
	}
	defer release()
	for be.reg.Len() >= be.max { // evict the least recently used adapter
		var victim string
		for n, t := range be.used {
			if victim == "" || t < be.used[victim] {
				victim = n
			}
		}
		be.reg.Remove(victim)
		delete(be.used, victim)
	}
	e, err := be.reg.LoadFile(name, path)
	if err != nil {
		return nil, fmt.Errorf("%w: LoRA version %d/%d adapter %s: %v", ErrInvalidJob, v.ModelId, v.Version, v.ArtifactCid, err)
	}
	if e.SHA256 != v.ArtifactSha256 {
		be.reg.Remove(name)
		p.files.remove(v.ArtifactCid)
		return nil, fmt.Errorf("%w: LoRA version %d/%d: cached adapter %s has sha256 %s, the chain says %s",
			ErrDigestMismatch, v.ModelId, v.Version, v.ArtifactCid, e.SHA256, v.ArtifactSha256)
	}
	be.used[name] = be.tick
	p.log.Info("adapter resident", "model", v.ModelId, "version", v.Version, "cid", name, "adapters", be.reg.Len())
	return e.Adapter, nil
}

// artifactBytes reads a cached artifact (fetching it when missing).
func (p *Pool) artifactBytes(ctx context.Context, cid, sha string) ([]byte, error) {
	path, release, err := p.files.get(ctx, cid, sha)
	if err != nil {
		return nil, err
	}
	defer release()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return b, nil
}

// tokenizer returns a resident tokenizer by CID: an engine tokenizer JSON file
// or a model checkpoint holding one (as `attribution explain --tokenizer`).
func (p *Pool) tokenizer(ctx context.Context, cid string) (*tokenizer.Tokenizer, func(), error) {
	return p.toks.get(ctx, cid, func() (*tokenizer.Tokenizer, error) {
		b, err := p.artifactBytes(ctx, cid, "")
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		tok, err := tokenizer.Parse(b)
		if err != nil {
			m, err2 := checkpoint.ParseModel(b)
			if err2 != nil {
				return nil, fmt.Errorf("%w: tokenizer %s is neither a tokenizer file (%v) nor a checkpoint (%v)", ErrInvalidJob, cid, err, err2)
			}
			tok = m.Tok
		}
		return tok, nil
	})
}

// spanEntry is an open span index; its cache file is held while resident.
type spanEntry struct {
	src     attribution.SpanSource
	release func()
}

func (p *Pool) spanIndex(ctx context.Context, cid string) (*spanEntry, func(), error) {
	return p.indexes.get(ctx, cid, func() (*spanEntry, error) {
		path, release, err := p.files.get(ctx, cid, "")
		if err != nil {
			return nil, fmt.Errorf("span index: %w", err)
		}
		art, err := p.checkArtifact(path, cid, "span index")
		if err != nil {
			release()
			return nil, err
		}
		ix, err := spanindex.Open(path)
		if err != nil {
			release()
			p.files.remove(cid)
			return nil, fmt.Errorf("span index %s: %w", cid, err)
		}
		return &spanEntry{src: attribution.SpanSource{Index: ix, Artifact: art}, release: release}, nil
	})
}

// sketchEntry is a loaded influence sketch file.
type sketchEntry struct {
	sk  *influence.Sketches
	art record.Artifact
}

func (p *Pool) sketchFile(ctx context.Context, cid string) (*sketchEntry, func(), error) {
	return p.sketches.get(ctx, cid, func() (*sketchEntry, error) {
		path, release, err := p.files.get(ctx, cid, "")
		if err != nil {
			return nil, fmt.Errorf("influence sketches: %w", err)
		}
		defer release()
		art, err := p.checkArtifact(path, cid, "influence sketches")
		if err != nil {
			return nil, err
		}
		sk, err := influence.Open(path)
		if err != nil {
			p.files.remove(cid)
			return nil, fmt.Errorf("influence sketches %s: %w", cid, err)
		}
		return &sketchEntry{sk: sk, art: art}, nil
	})
}

// checkArtifact computes the record reference of a cached file exactly as
// `attribution explain` does (attribution.FileArtifact) and checks that its CID
// is the one the chain names: a cached file changed on disk is refused.
func (p *Pool) checkArtifact(path, cid, what string) (record.Artifact, error) {
	art, err := attribution.FileArtifact(path)
	if err != nil {
		return record.Artifact{}, err
	}
	if art.Cid != cid {
		p.files.remove(cid)
		return record.Artifact{}, fmt.Errorf("%w: %s file hashes to CID %s, the chain names %s (corrupt cache file, or added with non-default import settings)",
			ErrDigestMismatch, what, art.Cid, cid)
	}
	return art, nil
}

// remove drops a file from the cache (when it turned out bad).
func (c *fileCache) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		c.total -= e.size
		delete(c.entries, key)
	}
	_ = os.Remove(c.path(key))
}

// chainCache memoises chain lookups: versions (immutable in every field used
// here) until the map is full, models and deployments for a TTL.
type chainCache struct {
	src ModelSource
	ttl time.Duration

	mu       sync.Mutex
	versions map[[2]uint64]modelstypes.ModelVersion
	models   map[uint64]timed[modelstypes.Model]
	deps     map[uint64]timed[modelstypes.Deployment]
}

type timed[T any] struct {
	v  T
	at time.Time
}

const maxChainCache = 4096

func newChainCache(src ModelSource, ttl time.Duration) *chainCache {
	return &chainCache{src: src, ttl: ttl, versions: map[[2]uint64]modelstypes.ModelVersion{},
		models: map[uint64]timed[modelstypes.Model]{}, deps: map[uint64]timed[modelstypes.Deployment]{}}
}

func (c *chainCache) version(ctx context.Context, modelID, version uint64) (modelstypes.ModelVersion, error) {
	k := [2]uint64{modelID, version}
	c.mu.Lock()
	v, ok := c.versions[k]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := c.src.ModelVersion(ctx, modelID, version)
	if err != nil {
		return v, fmt.Errorf("chain: model %d version %d: %w", modelID, version, err)
	}
	c.mu.Lock()
	if len(c.versions) >= maxChainCache {
		clear(c.versions)
	}
	c.versions[k] = v
	c.mu.Unlock()
	return v, nil
}

func (c *chainCache) model(ctx context.Context, id uint64) (modelstypes.Model, error) {
	c.mu.Lock()
	m, ok := c.models[id]
	c.mu.Unlock()
	if ok && time.Since(m.at) < c.ttl {
		return m.v, nil
	}
	v, err := c.src.Model(ctx, id)
	if err != nil {
		return v, fmt.Errorf("chain: model %d: %w", id, err)
	}
	c.mu.Lock()
	if len(c.models) >= maxChainCache {
		clear(c.models)
	}
	c.models[id] = timed[modelstypes.Model]{v, time.Now()}
	c.mu.Unlock()
	return v, nil
}

// deployment returns the deployment, or ok = false when the source cannot look
// deployments up.
func (c *chainCache) deployment(ctx context.Context, id uint64) (modelstypes.Deployment, bool, error) {
	ds, ok := c.src.(DeploymentSource)
	if !ok {
		return modelstypes.Deployment{}, false, nil
	}
	c.mu.Lock()
	d, hit := c.deps[id]
	c.mu.Unlock()
	if hit && time.Since(d.at) < c.ttl {
		return d.v, true, nil
	}
	v, err := ds.Deployment(ctx, id)
	if err != nil {
		return v, true, fmt.Errorf("chain: deployment %d: %w", id, err)
	}
	c.mu.Lock()
	if len(c.deps) >= maxChainCache {
		clear(c.deps)
	}
	c.deps[id] = timed[modelstypes.Deployment]{v, time.Now()}
	c.mu.Unlock()
	return v, true, nil
}

// ChainModels adapts the x/models query client (chainclient.Client.Models())
// to ModelSource and DeploymentSource.
type ChainModels struct {
	Query modelstypes.QueryClient
}

var (
	_ ModelSource      = ChainModels{}
	_ DeploymentSource = ChainModels{}
)

// ModelVersion implements ModelSource.
func (c ChainModels) ModelVersion(ctx context.Context, modelID, version uint64) (modelstypes.ModelVersion, error) {
	res, err := c.Query.ModelVersion(ctx, &modelstypes.QueryModelVersionRequest{ModelId: modelID, Version: version})
	if err != nil {
		return modelstypes.ModelVersion{}, err
	}
	return res.Version, nil
}

// Model implements ModelSource.
func (c ChainModels) Model(ctx context.Context, id uint64) (modelstypes.Model, error) {
	res, err := c.Query.Model(ctx, &modelstypes.QueryModelRequest{ModelId: id})
	if err != nil {
		return modelstypes.Model{}, err
	}
	return res.Model, nil
}

// Deployment implements DeploymentSource.
func (c ChainModels) Deployment(ctx context.Context, id uint64) (modelstypes.Deployment, error) {
	res, err := c.Query.Deployment(ctx, &modelstypes.QueryDeploymentRequest{DeploymentId: id})
	if err != nil {
		return modelstypes.Deployment{}, err
	}
	return res.Deployment, nil
}
