// Package lora serves many LoRA adapters over one base model and computes
// per-example gradients with respect to adapter parameters.
//
// Adapters are never merged into the shared base for serving: each request
// names its adapter and the forward pass applies it on the fly, so
// switching adapters is a map lookup and many adapters stay resident at a
// cost of their own (small) parameter vectors only.
package lora

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
)

// Registry holds adapters by name over one base model. It is safe for
// concurrent use; adapters are immutable once added.
type Registry struct {
	base     *checkpoint.Model
	mu       sync.RWMutex
	adapters map[string]*Entry
	maxCount int
}

// Entry is a resident adapter.
type Entry struct {
	Name    string
	Adapter *model.Adapter
	SHA256  string // of the adapter file, "" if added from memory
}

// NewRegistry returns an empty registry over base holding at most maxCount
// adapters (0: unlimited).
func NewRegistry(base *checkpoint.Model, maxCount int) *Registry {
	return &Registry{base: base, adapters: map[string]*Entry{}, maxCount: maxCount}
}

// Base returns the base model.
func (r *Registry) Base() *checkpoint.Model { return r.base }

// LoadFile reads an adapter file and registers it under name. The file must
// fit the base config and, if it records the base checkpoint digest, that
// digest must match the base.
func (r *Registry) LoadFile(name, path string) (*Entry, error) {
	af, err := checkpoint.LoadAdapter(path, r.base.Params.Cfg)
	if err != nil {
		return nil, err
	}
	if af.BaseSHA256 != "" && r.base.SHA256 != "" && af.BaseSHA256 != r.base.SHA256 {
		return nil, fmt.Errorf("lora: adapter %s was trained on base %s, not the loaded base %s", path, af.BaseSHA256, r.base.SHA256)
	}
	e := &Entry{Name: name, Adapter: af.Adapter, SHA256: af.SHA256}
	return e, r.put(e)
}

// Add registers an in-memory adapter (which must not be modified afterwards).
func (r *Registry) Add(name string, a *model.Adapter) error {
	if a == nil || a.Base != r.base.Params.Cfg {
		return errors.New("lora: adapter is nil or built for another base config")
	}
	return r.put(&Entry{Name: name, Adapter: a})
}

func (r *Registry) put(e *Entry) error {
	if e.Name == "" {
		return errors.New("lora: empty adapter name")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.adapters[e.Name]; !ok && r.maxCount > 0 && len(r.adapters) >= r.maxCount {
		return fmt.Errorf("lora: registry is full (%d adapters)", r.maxCount)
	}
	r.adapters[e.Name] = e
	return nil
}

// Get returns the adapter for name: the per-request switch. The empty name
// means the base model alone (nil adapter).
func (r *Registry) Get(name string) (*model.Adapter, error) {
	if name == "" {
		return nil, nil
	}
	r.mu.RLock()
	e, ok := r.adapters[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("lora: no adapter named %q", name)
	}
	return e.Adapter, nil
}

// Remove unloads an adapter; it reports whether one was present.
func (r *Registry) Remove(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.adapters[name]
	delete(r.adapters, name)
	return ok
}

// Names lists the resident adapters in sorted order.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.adapters))
	for n := range r.adapters {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Len is the number of resident adapters.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.adapters)
}

// ResidentBytes is the parameter memory of all resident adapters.
func (r *Registry) ResidentBytes() int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var n int64
	for _, e := range r.adapters {
		n += int64(4 * len(e.Adapter.Data))
	}
	return n
}

// Merge returns the base weights with the named adapter folded in.
func (r *Registry) Merge(name string) (*model.Params, error) {
	a, err := r.Get(name)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return r.base.Params.Clone(), nil
	}
	return model.Merge(r.base.Params, a)
}
