package gateway

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/openledger/openledger/provider/p2pinfer"
)

// providerStats is what the gateway measured of a provider.
type providerStats struct {
	latency  time.Duration // EWMA time to the response headers
	lastOK   time.Time
	failures int
	dropped  string // why, when dropped
}

// pick chooses a provider: cheapest, then lowest measured latency, warm first.
func (g *Gateway) pick(ctx context.Context, dep uint64, tried map[string]bool) (Offer, error) {
	offers, err := g.chain.Offers(ctx, dep)
	if err != nil {
		return Offer{}, fmt.Errorf("offers of deployment %d: %w", dep, err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var cands []Offer
	for _, o := range offers {
		st := g.stats[o.Operator]
		if tried[o.Operator] || g.baseURL(o) == "" || (st != nil && st.dropped != "") {
			continue
		}
		cands = append(cands, o)
	}
	if len(cands) == 0 {
		return Offer{}, fmt.Errorf("no usable provider offers deployment %d", dep)
	}
	now := time.Now()
	warm := func(o Offer) bool { st := g.stats[o.Operator]; return st != nil && now.Sub(st.lastOK) < 5*time.Minute }
	lat := func(o Offer) time.Duration {
		if st := g.stats[o.Operator]; st != nil {
			return st.latency + time.Duration(st.failures)*time.Second
		}
		return 0
	}
	sort.SliceStable(cands, func(i, j int) bool {
		pi, pj := cands[i].Compute.Amount.Add(cands[i].Royalty.Amount), cands[j].Compute.Amount.Add(cands[j].Royalty.Amount)
		if !pi.Equal(pj) {
			return pi.LT(pj)
		}
		if wi, wj := warm(cands[i]), warm(cands[j]); wi != wj {
			return wi
		}
		return lat(cands[i]) < lat(cands[j])
	})
	return cands[0], nil
}

// baseURL is how the gateway reaches a provider: its api_url, or
// libp2p://<peer id> (no api_url, or PreferP2P); "" when it cannot.
func (g *Gateway) baseURL(o Offer) string {
	if g.p2p != nil && o.PeerID != "" && (g.cfg.PreferP2P || o.APIURL == "") {
		return p2pinfer.URL(o.PeerID)
	}
	return strings.TrimRight(o.APIURL, "/")
}

// do sends a request to a provider over HTTP or libp2p (by its URL).
func (g *Gateway) do(hr *http.Request) (*http.Response, error) {
	if hr.URL.Scheme == p2pinfer.Scheme {
		if g.p2p == nil {
			return nil, fmt.Errorf("%s is reached over libp2p and this gateway has no libp2p host", hr.URL.Host)
		}
		return g.p2p.Do(hr)
	}
	return g.cfg.HTTPClient.Do(hr)
}

func (g *Gateway) stat(op string) *providerStats {
	st := g.stats[op]
	if st == nil {
		st = &providerStats{}
		g.stats[op] = st
	}
	return st
}

func (g *Gateway) drop(op, why string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stat(op).dropped = why
	g.log.Warn("provider dropped", "provider", op, "reason", why)
}

// Dropped reports whether (and why) a provider was dropped.
func (g *Gateway) Dropped(op string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if st := g.stats[op]; st != nil {
		return st.dropped
	}
	return ""
}

func (g *Gateway) noteFailure(op string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stat(op).failures++
}

func (g *Gateway) noteOK(op string, d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.stat(op)
	if st.latency == 0 {
		st.latency = d
	} else {
		st.latency = (st.latency*4 + d) / 5
	}
	st.lastOK, st.failures = time.Now(), 0
}
