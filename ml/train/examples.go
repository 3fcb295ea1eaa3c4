package train

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/tokenizer"
)

// seqExample is one tokenized continuation: inputs and targets of n rows,
// targets Ignore on the prompt rows.
type seqExample struct {
	inputs, targets []int
	scored          int
}

// recExample is one tokenized record. SFT uses resp; DPO uses chosen and
// rejected with the frozen reference's log-probabilities refC and refR.
type recExample struct {
	resp, chosen, rejected seqExample
	refC, refR             float64
	truncated              bool
}

// bucket is the padding granularity of record rows: examples are padded
// with ignored rows to a multiple of bucket (at most the sequence length),
// so a worker keeps a few workspaces rather than one per length.
const bucket = 8

// padLen is the padded row count of an n-row example.
func padLen(n, seqLen int) int { return min((n+bucket-1)/bucket*bucket, seqLen) }

// makeSeq builds the example prompt ++ cont (token ids).
func makeSeq(prompt, cont []int) seqExample {
	toks := append(append(make([]int, 0, len(prompt)+len(cont)), prompt...), cont...)
	n := len(toks) - 1
	ex := seqExample{inputs: toks[:n], targets: append([]int(nil), toks[1:]...), scored: len(cont)}
	for i := 0; i < len(prompt)-1; i++ {
		ex.targets[i] = model.Ignore
	}
	return ex
}

// fit truncates a prompt and continuations so that every prompt ++ cont has
// at most seqLen+1 tokens: prompt tokens are dropped from the left (the
// prompt keeps at least one token), then continuations are cut on the
// right. It reports whether anything was cut.
func fit(prompt []int, conts [][]int, seqLen int) ([]int, [][]int, bool) {
	longest := 0
	for _, c := range conts {
		longest = max(longest, len(c))
	}
	if len(prompt)+longest <= seqLen+1 {
		return prompt, conts, false
	}
	keep := max(seqLen+1-longest, 1)
	prompt = prompt[len(prompt)-min(keep, len(prompt)):]
	out := make([][]int, len(conts))
	for i, c := range conts {
		out[i] = c[:min(len(c), seqLen+1-len(prompt))]
	}
	return prompt, out, true
}

// tokenizeRecords turns records into examples of at most seqLen rows.
func tokenizeRecords(tok *tokenizer.Tokenizer, recs []Record, kind string, seqLen int) ([]recExample, error) {
	out := make([]recExample, len(recs))
	for i, rc := range recs {
		p := tok.Encode([]byte(rc.Prompt))
		if len(p) == 0 {
			return nil, fmt.Errorf("train: %s: the prompt encodes to no tokens", rc.Source)
		}
		var conts [][]int
		if kind == KindSFT {
			conts = [][]int{tok.Encode([]byte(rc.Response))}
		} else {
			conts = [][]int{tok.Encode([]byte(rc.Chosen)), tok.Encode([]byte(rc.Rejected))}
		}
		for _, c := range conts {
			if len(c) == 0 {
				return nil, fmt.Errorf("train: %s: a continuation encodes to no tokens", rc.Source)
			}
		}
		p, conts, cut := fit(p, conts, seqLen)
		ex := recExample{truncated: cut}
		if kind == KindSFT {
			ex.resp = makeSeq(p, conts[0])
		} else {
			ex.chosen, ex.rejected = makeSeq(p, conts[0]), makeSeq(p, conts[1])
			if equalInts(ex.chosen.inputs, ex.rejected.inputs) && equalInts(ex.chosen.targets, ex.rejected.targets) {
				return nil, fmt.Errorf("train: %s: chosen and rejected are the same after truncation to %d tokens", rc.Source, seqLen)
			}
		}
		out[i] = ex
	}
	return out, nil
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// decodeInputs decodes every input file's records, in order, and returns
// those of kind and how many of the other kind were skipped.
func decodeInputs(inputs []Input, files [][]byte, kind string) ([]Record, int, error) {
	var all []Record
	skipped := 0
	for i, b := range files {
		recs, err := DecodeRecords(bytes.NewReader(b), inputs[i].Path)
		if err != nil {
			return nil, 0, err
		}
		for _, rc := range recs {
			if rc.Kind == kind {
				all = append(all, rc)
			} else {
				skipped++
			}
		}
	}
	if len(all) == 0 {
		return nil, 0, fmt.Errorf("train: the inputs hold no %s records (%d of the other kind)", kind, skipped)
	}
	return all, skipped, nil
}

// splitRecords holds out the last fraction of the records (at least one)
// and caps the held-out part at maxEval.
func splitRecords[T any](recs []T, fraction float64, maxEval int) (trainPart, evalPart []T, err error) {
	n := len(recs)
	k := max(int(float64(n)*fraction), 1)
	if n-k < 1 {
		return nil, nil, fmt.Errorf("train: %d records: need at least one to train on and one to hold out", n)
	}
	ev := recs[n-k:]
	return recs[:n-k], ev[:min(len(ev), max(maxEval, 1))], nil
}

// scratch holds a goroutine's workspaces, one per padded length.
type scratch struct {
	ws     map[int]*model.Workspace
	rank   int
	cfg    model.Config
	inputs []int
	tgts   []int
	losses []float64
}

func newScratch(cfg model.Config, rank int) *scratch {
	return &scratch{ws: map[int]*model.Workspace{}, cfg: cfg, rank: rank}
}

// padded returns the workspace and the padded inputs and targets of ex. The
// slices are reused by the next call.
func (s *scratch) padded(ex seqExample, seqLen int) (*model.Workspace, []int, []int, []float64) {
	n := padLen(len(ex.inputs), seqLen)
	ws := s.ws[n]
	if ws == nil {
		ws = model.NewWorkspace(s.cfg, n, s.rank)
		s.ws[n] = ws
	}
	s.inputs = append(append(s.inputs[:0], ex.inputs...), make([]int, n-len(ex.inputs))...)
	s.tgts = append(s.tgts[:0], ex.targets...)
	for len(s.tgts) < n {
		s.tgts = append(s.tgts, model.Ignore)
	}
	if cap(s.losses) < n {
		s.losses = make([]float64, n)
	}
	return ws, s.inputs, s.tgts, s.losses[:n]
}

// scoreSeqs returns each example's summed scored loss (nats; the negative
// log-probability of its continuation) under p and a, computed by workers
// goroutines, each example by one goroutine.
func scoreSeqs(p *model.Params, a *model.Adapter, exs []seqExample, seqLen, workers int) ([]float64, error) {
	out := make([]float64, len(exs))
	errs := make([]error, len(exs))
	rank := 0
	if a != nil {
		rank = a.Cfg.Rank
	}
	workers = max(1, min(workers, len(exs)))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			sc := newScratch(p.Cfg, rank)
			for i := w; i < len(exs); i += workers {
				ws, in, tg, ls := sc.padded(exs[i], seqLen)
				out[i], _, errs[i] = model.TokenLosses(p, a, ws, in, tg, ls)
			}
		}(w)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
