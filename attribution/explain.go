package attribution

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/openledger/openledger/attribution/record"
	"github.com/openledger/openledger/attribution/spanindex"
	"github.com/openledger/openledger/ml/tokenizer"
)

// VerifySpanRecord recomputes a span record from its artifacts (the index
// in src, the tokenizer, the output) and compares it byte for byte with
// recBytes. It returns nil only on an exact match.
func VerifySpanRecord(recBytes []byte, src SpanSource, tok *tokenizer.Tokenizer, output []byte) error {
	rec, err := record.Decode(recBytes)
	if err != nil {
		return err
	}
	if rec.Method != record.METHOD_SPAN {
		return fmt.Errorf("attribution: record method is %s, not span", rec.Method)
	}
	if err := sameArtifact("index", rec.Index, src.Artifact); err != nil {
		return err
	}
	p := SpanParams{MinSpanTokens: int(rec.SpanParams.MinSpanTokens), MaxOccurrences: int(rec.SpanParams.MaxOccurrences)}
	again, err := AttributeSpans(src, tok, rec.Model, output, p)
	if err != nil {
		return fmt.Errorf("attribution: recomputing: %w", err)
	}
	return compareRecords(rec, recBytes, again)
}

func sameArtifact(what string, want, got record.Artifact) error {
	if want.Sha256 != got.Sha256 || want.Cid != got.Cid || want.SizeBytes != got.SizeBytes {
		return fmt.Errorf("attribution: the record references %s %s (sha256 %s, %d bytes) but the given file is %s (sha256 %s, %d bytes)",
			what, want.Cid, short(want.Sha256), want.SizeBytes, got.Cid, short(got.Sha256), got.SizeBytes)
	}
	return nil
}

func short(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}

// ErrMismatch is wrapped when a recomputed record differs.
var ErrMismatch = errors.New("attribution: record mismatch")

func compareRecords(rec *record.Record, recBytes []byte, again *record.Record) error {
	b, err := record.Encode(again)
	if err != nil {
		return err
	}
	if bytes.Equal(b, recBytes) {
		return nil
	}
	switch {
	case rec.OutputSha256 != again.OutputSha256:
		return fmt.Errorf("%w: output sha256 %s, recomputed %s", ErrMismatch, short(rec.OutputSha256), short(again.OutputSha256))
	case len(rec.Spans) != len(again.Spans):
		return fmt.Errorf("%w: %d spans, recomputed %d", ErrMismatch, len(rec.Spans), len(again.Spans))
	case len(rec.Weights) != len(again.Weights):
		return fmt.Errorf("%w: %d credited contributions, recomputed %d", ErrMismatch, len(rec.Weights), len(again.Weights))
	}
	for i := range rec.Weights {
		if rec.Weights[i] != again.Weights[i] {
			return fmt.Errorf("%w: weight %d is %+v, recomputed %+v", ErrMismatch, i, rec.Weights[i], again.Weights[i])
		}
	}
	return fmt.Errorf("%w: canonical bytes differ (%d vs %d bytes)", ErrMismatch, len(recBytes), len(b))
}

// Explain writes a human-readable account of a record: the output with
// the credited spans highlighted (bracketed and numbered, or coloured with
// ANSI escapes), the spans, and who gets what.
func Explain(w io.Writer, rec *record.Record, tok *tokenizer.Tokenizer, output []byte, color bool) error {
	fmt.Fprintf(w, "method: %s   dataset version: datanet %d version %d   output: %d tokens (sha256 %s)\n",
		rec.Method, rec.DatasetVersion.DatanetId, rec.DatasetVersion.Version, rec.OutputTokens, short(rec.OutputSha256))
	fmt.Fprintf(w, "artifact: %s\n", rec.Index.Cid)
	if rec.Method == record.METHOD_SPAN && len(output) > 0 {
		q, err := OutputTokens(tok, output)
		if err != nil {
			return err
		}
		spans := make([]spanindex.Span, len(rec.Spans))
		for i, s := range rec.Spans {
			spans[i] = spanindex.Span{Start: int(s.Start), Len: int(s.Length)}
			if int(s.Start)+int(s.Length) > len(q) {
				return fmt.Errorf("attribution: span %d lies outside the given output (wrong output?)", i)
			}
		}
		owner := make([]int, len(q))
		for t := range owner {
			owner[t] = -1
		}
		for i, s := range spans {
			for t := s.Start; t < s.Start+s.Len; t++ {
				if o := owner[t]; o < 0 || spans[o].Len < s.Len {
					owner[t] = i
				}
			}
		}
		fmt.Fprintf(w, "\noutput (credited spans marked):\n")
		var sb strings.Builder
		colors := []string{"\x1b[1;32m", "\x1b[1;34m", "\x1b[1;35m", "\x1b[1;36m", "\x1b[1;33m"}
		for t := 0; t < len(q); t++ {
			if owner[t] >= 0 && (t == 0 || owner[t-1] != owner[t]) {
				if color {
					sb.WriteString(colors[owner[t]%len(colors)])
				} else {
					fmt.Fprintf(&sb, "[%d:", owner[t]+1)
				}
			}
			piece, _ := tok.Decode(q[t : t+1])
			sb.Write(piece)
			if owner[t] >= 0 && (t+1 == len(q) || owner[t+1] != owner[t]) {
				if color {
					sb.WriteString("\x1b[0m")
				} else {
					sb.WriteString("]")
				}
			}
		}
		fmt.Fprintln(w, sb.String())
		fmt.Fprintf(w, "\nspans (min %d tokens, common above %d occurrences):\n", rec.SpanParams.MinSpanTokens, rec.SpanParams.MaxOccurrences)
		for i, s := range rec.Spans {
			text, _ := tok.Decode(q[s.Start : s.Start+s.Length])
			who := fmt.Sprintf("contributions %v", s.ContributionIds)
			if s.Common {
				who = "common: to the pool"
			}
			fmt.Fprintf(w, "  #%d tokens [%d,%d) len %d, %d occurrence(s), carries %d tokens, %s: %q\n",
				i+1, s.Start, s.Start+s.Length, s.Length, s.Occurrences, s.CreditedTokens, who, clip(string(text), 80))
		}
	}
	fmt.Fprintf(w, "\nwho gets what (ppm of the data share, total 1,000,000):\n")
	for _, x := range rec.Weights {
		fmt.Fprintf(w, "  contribution %-8d (datanet %d v%d)  %7d ppm  %6.2f%%\n", x.ContributionId, x.DatanetId, x.Version, x.Ppm, float64(x.Ppm)/1e4)
	}
	for _, p := range rec.Pools {
		fmt.Fprintf(w, "  pool of datanet %d v%d            %7d ppm  %6.2f%%\n", p.DatanetId, p.Version, p.Ppm, float64(p.Ppm)/1e4)
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
