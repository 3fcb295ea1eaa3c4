package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/openledger/openledger/attribution"
	"github.com/openledger/openledger/attribution/influence"
	"github.com/openledger/openledger/attribution/record"
	"github.com/openledger/openledger/attribution/spanindex"
	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/tokenizer"
	"github.com/openledger/openledger/ml/train"
)

// artifactFlags choose the artifacts a record is computed from.
type artifactFlags struct {
	index, sketches, tokenizer string
	model                      string
	checkpoints                []string
	outputFile, outputText     string
}

func (f *artifactFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.index, "index", "", "span index file (span method)")
	fl.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer JSON or model checkpoint (span method; default: the --model's tokenizer)")
	fl.StringVar(&f.sketches, "sketches", "", "gradient sketch file (influence method)")
	fl.StringVar(&f.model, "model", "", "base model checkpoint (influence method)")
	fl.StringArrayVar(&f.checkpoints, "checkpoint", nil, "LoRA adapter checkpoint as PATH[:WEIGHT] (influence method; repeatable, in order; weight default 1000)")
	fl.StringVar(&f.outputFile, "output-file", "", "file holding the output text ('-': stdin)")
	fl.StringVar(&f.outputText, "output-text", "", "the output text")
}

// source is a loaded span or influence source.
type source struct {
	span *attribution.SpanSource
	inf  *influence.Source
	cls  func()
}

func (f *artifactFlags) load() (*source, error) {
	switch {
	case f.index != "" && f.sketches != "":
		return nil, errors.New("give --index (span method) or --sketches (influence method), not both")
	case f.index != "":
		tokPath := f.tokenizer
		if tokPath == "" {
			tokPath = f.model
		}
		tok, err := loadTokenizer(tokPath)
		if err != nil {
			return nil, err
		}
		ix, err := spanindex.Open(f.index)
		if err != nil {
			return nil, err
		}
		if err := ix.CheckTokenizer(tok); err != nil {
			ix.Close()
			return nil, err
		}
		art, err := attribution.FileArtifact(f.index)
		if err != nil {
			ix.Close()
			return nil, err
		}
		return &source{span: &attribution.SpanSource{Index: ix, Artifact: art, Tokenizer: tok}, cls: func() { ix.Close() }}, nil
	case f.sketches != "":
		if f.model == "" || len(f.checkpoints) == 0 {
			return nil, errors.New("the influence method needs --model and at least one --checkpoint")
		}
		modelPath := f.model
		if st, err := os.Stat(modelPath); err == nil && st.IsDir() {
			modelPath = filepath.Join(modelPath, train.ModelFile)
		}
		base, err := checkpoint.LoadModel(modelPath)
		if err != nil {
			return nil, err
		}
		src := &influence.Source{Base: base}
		for _, c := range f.checkpoints {
			path, weight, err := parseCheckpoint(c)
			if err != nil {
				return nil, err
			}
			ck, err := influence.LoadCheckpoint(path, base, weight)
			if err != nil {
				return nil, err
			}
			art, err := attribution.FileArtifact(path)
			if err != nil {
				return nil, err
			}
			src.Checkpoints = append(src.Checkpoints, ck)
			src.CheckpointArtifacts = append(src.CheckpointArtifacts, art)
		}
		if src.Sketches, err = influence.Open(f.sketches); err != nil {
			return nil, err
		}
		if src.SketchArtifact, err = attribution.FileArtifact(f.sketches); err != nil {
			return nil, err
		}
		if err := src.Sketches.CheckModel(base, base.Tok, src.Checkpoints); err != nil {
			return nil, err
		}
		return &source{inf: src, cls: func() {}}, nil
	}
	return nil, errors.New("give --index (span method) or --sketches with --model and --checkpoint (influence method)")
}

func parseCheckpoint(s string) (string, uint64, error) {
	path, w := s, uint64(1000)
	if i := strings.LastIndexByte(s, ':'); i > 0 {
		if n, err := strconv.ParseUint(s[i+1:], 10, 64); err == nil {
			path, w = s[:i], n
		}
	}
	if w < 1 || w > influence.MaxWeight {
		return "", 0, fmt.Errorf("--checkpoint %s: weight %d out of range [1, %d]", s, w, influence.MaxWeight)
	}
	return path, w, nil
}

func modelArtifact(path string) (record.Artifact, error) {
	if path == "" {
		return record.Artifact{}, nil
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, train.ModelFile)
	}
	return attribution.FileArtifact(path)
}

func newExplainCommand() *cobra.Command {
	var (
		af                    artifactFlags
		modelID, modelVersion uint64
		minSpan, maxOcc, topK int
		text, color           bool
		recordOut, summaryOut string
	)
	cmd := &cobra.Command{
		Use:   "explain (--index IDX --tokenizer TOK | --sketches SK --model BASE --checkpoint ADAPTER[:W]...) (--output-file F | --output-text S)",
		Short: "Attribute an output: which contributions shaped it, with weights; write the canonical record",
		Long: `Attribute an output and print the result: JSON by default (record digest, the record, the
chain summary), or with --text a human-readable account: the output with the credited spans
highlighted, each span with the contributions holding it, and who gets what in parts per million.
--record-out writes the canonical record (protobuf) that 'attribution verify' checks.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := readOutput(af.outputFile, af.outputText)
			if err != nil {
				return err
			}
			src, err := af.load()
			if err != nil {
				return err
			}
			defer src.cls()
			mref := record.ModelRef{ModelId: modelID, Version: modelVersion}
			var rec *record.Record
			if src.span != nil {
				p := attribution.DefaultSpanParams()
				if minSpan > 0 {
					p.MinSpanTokens = minSpan
				}
				if maxOcc > 0 {
					p.MaxOccurrences = maxOcc
				}
				if mref.Artifact, err = modelArtifact(af.model); err != nil {
					return err
				}
				rec, err = attribution.AttributeSpans(*src.span, src.span.Tokenizer, mref, out, p)
			} else {
				if mref.Artifact, err = modelArtifact(af.model); err != nil {
					return err
				}
				rec, err = influence.Attribute(cmd.Context(), *src.inf, mref, out)
			}
			if err != nil {
				return err
			}
			b, err := record.Encode(rec)
			if err != nil {
				return err
			}
			if recordOut != "" {
				if err := checkpoint.WriteFileAtomic(recordOut, b); err != nil {
					return err
				}
			}
			sum, err := record.Summarize(rec, topK)
			if err != nil {
				return err
			}
			if summaryOut != "" {
				sb, err := sum.Marshal()
				if err != nil {
					return err
				}
				if err := checkpoint.WriteFileAtomic(summaryOut, sb); err != nil {
					return err
				}
			}
			if text {
				tok := src.tokenizer()
				if err := attribution.Explain(cmd.OutOrStdout(), rec, tok, out, color); err != nil {
					return err
				}
				digest := sha256.Sum256(b)
				fmt.Fprintf(cmd.OutOrStdout(), "\nrecord: %d bytes, sha256 %s\n", len(b), hex.EncodeToString(digest[:]))
				return nil
			}
			digest := sha256.Sum256(b)
			return printJSON(cmd, map[string]any{
				"record_sha256": hex.EncodeToString(digest[:]), "record_bytes": len(b),
				"record": rec, "summary": sum,
			})
		},
	}
	af.register(cmd)
	fl := cmd.Flags()
	fl.Uint64Var(&modelID, "model-id", 0, "on-chain model id recorded in the record")
	fl.Uint64Var(&modelVersion, "model-version", 0, "on-chain model version recorded in the record")
	fl.IntVar(&minSpan, "min-span", 0, fmt.Sprintf("minimum span length in tokens (default %d)", attribution.DefaultSpanParams().MinSpanTokens))
	fl.IntVar(&maxOcc, "max-occurrences", 0, fmt.Sprintf("spans occurring more often are common (default %d)", attribution.DefaultSpanParams().MaxOccurrences))
	fl.IntVar(&topK, "top-k", 16, "contributions kept in the chain summary")
	fl.BoolVar(&text, "text", false, "human-readable output: highlighted spans and who gets what")
	fl.BoolVar(&color, "color", false, "with --text, highlight spans with ANSI colours instead of brackets")
	fl.StringVar(&recordOut, "record-out", "", "write the canonical record (protobuf) here")
	fl.StringVar(&summaryOut, "summary-out", "", "write the chain summary (protobuf) here")
	return cmd
}

func (s *source) tokenizer() *tokenizer.Tokenizer {
	if s.span != nil {
		return s.span.Tokenizer
	}
	return s.inf.Base.Tok
}

func newVerifyCommand() *cobra.Command {
	var af artifactFlags
	cmd := &cobra.Command{
		Use:   "verify RECORD (--index IDX --tokenizer TOK | --sketches SK --model BASE --checkpoint ADAPTER[:W]...) (--output-file F | --output-text S)",
		Short: "Recompute a record from its artifacts and compare byte for byte (exit status 1 on mismatch)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			recBytes, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			rec, err := record.Decode(recBytes)
			if err != nil {
				return err
			}
			out, err := readOutput(af.outputFile, af.outputText)
			if err != nil {
				return err
			}
			src, err := af.load()
			if err != nil {
				return err
			}
			defer src.cls()
			switch {
			case rec.Method == record.METHOD_SPAN && src.span != nil:
				err = attribution.VerifySpanRecord(recBytes, *src.span, src.span.Tokenizer, out)
			case rec.Method == record.METHOD_INFLUENCE && src.inf != nil:
				if err = verifyArtifacts(rec, src.inf); err == nil {
					err = influence.Verify(cmd.Context(), recBytes, *src.inf, out)
				}
			default:
				return fmt.Errorf("the record uses %s; give the matching artifacts (--index for span, --sketches for influence)", rec.Method)
			}
			if err != nil {
				return err
			}
			d := sha256.Sum256(recBytes)
			fmt.Fprintf(cmd.OutOrStdout(), "OK: record %s recomputes byte for byte (%s, %d credited contributions)\n",
				hex.EncodeToString(d[:]), rec.Method, len(rec.Weights))
			return nil
		},
	}
	af.register(cmd)
	return cmd
}

func verifyArtifacts(rec *record.Record, src *influence.Source) error {
	if rec.Index != src.SketchArtifact {
		return fmt.Errorf("the record references sketches %s, the given file is %s", rec.Index.Cid, src.SketchArtifact.Cid)
	}
	cks := rec.InfluenceParams.Checkpoints
	if len(cks) != len(src.CheckpointArtifacts) {
		return fmt.Errorf("the record has %d checkpoints, %d given", len(cks), len(src.CheckpointArtifacts))
	}
	for i, c := range cks {
		if c.Adapter != src.CheckpointArtifacts[i] {
			return fmt.Errorf("checkpoint %d: the record references %s, the given file is %s", i, c.Adapter.Cid, src.CheckpointArtifacts[i].Cid)
		}
	}
	return nil
}

func newSummaryCommand() *cobra.Command {
	var (
		k   int
		out string
	)
	cmd := &cobra.Command{
		Use:   "summary RECORD",
		Short: "Print the bounded chain summary of a record: top-K contributions, the rest folded into the pools",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			rec, err := record.Decode(b)
			if err != nil {
				return err
			}
			s, err := record.Summarize(rec, k)
			if err != nil {
				return err
			}
			if out != "" {
				sb, err := s.Marshal()
				if err != nil {
					return err
				}
				if err := checkpoint.WriteFileAtomic(out, sb); err != nil {
					return err
				}
			}
			return printJSON(cmd, s)
		},
	}
	cmd.Flags().IntVar(&k, "k", 16, "number of contributions kept")
	cmd.Flags().StringVar(&out, "out", "", "write the summary (protobuf) here")
	return cmd
}

func newSketchBuildCommand() *cobra.Command {
	var (
		src                 sourceFlags
		af                  artifactFlags
		out                 string
		dim, seqLen, stride int
		seed                uint64
		quiet, add          bool
	)
	cmd := &cobra.Command{
		Use:   "build --model BASE --checkpoint ADAPTER[:W]... (--manifest FILE | --contribution ID=PATH ...) --out FILE",
		Short: "Compute the gradient sketches of a dataset version's examples at each LoRA checkpoint",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out is required")
			}
			if af.model == "" || len(af.checkpoints) == 0 {
				return errors.New("--model and at least one --checkpoint are required")
			}
			modelPath := af.model
			if st, err := os.Stat(modelPath); err == nil && st.IsDir() {
				modelPath = filepath.Join(modelPath, train.ModelFile)
			}
			base, err := checkpoint.LoadModel(modelPath)
			if err != nil {
				return err
			}
			var cks []influence.Checkpoint
			for _, c := range af.checkpoints {
				path, w, err := parseCheckpoint(c)
				if err != nil {
					return err
				}
				ck, err := influence.LoadCheckpoint(path, base, w)
				if err != nil {
					return err
				}
				cks = append(cks, ck)
			}
			datanet, version, cps, err := src.load()
			if err != nil {
				return err
			}
			var cs []influence.Contribution
			for _, c := range cps {
				b, err := os.ReadFile(c.path)
				if err != nil {
					return err
				}
				cs = append(cs, influence.Contribution{ID: c.id, Data: b})
			}
			p := influence.DefaultParams(base.Params.Cfg)
			if dim > 0 {
				p.SketchDim = dim
			}
			if seqLen > 0 {
				p.SeqLen = seqLen
				p.Stride = max(1, seqLen/4)
			}
			if stride > 0 {
				p.Stride = stride
			}
			p.Seed = seed
			var bar *progressbar.ProgressBar
			if f, ok := cmd.ErrOrStderr().(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
				quiet = true // no bar when stderr is not a terminal
			}
			progress := func(done, total int) {
				if quiet {
					return
				}
				if bar == nil {
					bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(cmd.ErrOrStderr()),
						progressbar.OptionSetDescription("example gradients"), progressbar.OptionClearOnFinish())
				}
				bar.Set(done)
			}
			b, err := influence.Build(cmd.Context(), influence.BuildInput{DatanetID: datanet, Version: version, Base: base,
				Checkpoints: cks, Contributions: cs, Params: p, Progress: progress})
			if err != nil {
				return err
			}
			if bar != nil {
				bar.Finish()
			}
			if err := checkpoint.WriteFileAtomic(out, b); err != nil {
				return err
			}
			art, err := attribution.FileArtifact(out)
			if err != nil {
				return err
			}
			sk, err := influence.Parse(b)
			if err != nil {
				return err
			}
			if add {
				if err := addToIPFS(cmd, out, fmt.Sprintf("attribution sketches datanet %d version %d", datanet, version), art); err != nil {
					return err
				}
			}
			return printJSON(cmd, map[string]any{"path": out, "cid": art.Cid, "sha256": art.Sha256, "size_bytes": art.SizeBytes,
				"contributions": len(cs), "examples": sk.NumExamples(), "sketch_dim": p.SketchDim, "seq_len": p.SeqLen, "stride": p.Stride})
		},
	}
	src.register(cmd)
	cmd.Flags().StringVar(&af.model, "model", "", "base model checkpoint")
	cmd.Flags().StringArrayVar(&af.checkpoints, "checkpoint", nil, "LoRA adapter checkpoint as PATH[:WEIGHT] (repeatable, in order; weight default 1000)")
	cmd.Flags().StringVar(&out, "out", "", "sketch file to write")
	cmd.Flags().IntVar(&dim, "dim", 0, "sketch dimension (multiple of 64; default 512)")
	cmd.Flags().IntVar(&seqLen, "seq-len", 0, "window length in tokens (default min(32, context))")
	cmd.Flags().IntVar(&stride, "stride", 0, "stride of the example windows (default seq-len/4)")
	cmd.Flags().Uint64Var(&seed, "seed", 0x5eed, "projection seed")
	cmd.Flags().BoolVar(&add, "ipfs-add", false, "also add and pin the sketch file on the IPFS node under --home")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	return cmd
}
