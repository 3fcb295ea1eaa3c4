// Package cli is the `openledgerd attribution` command tree: build span
// indexes and gradient sketches, explain outputs, verify records.
package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ipfs/boxo/files"
	"github.com/spf13/cobra"

	"github.com/openledger/openledger/attribution"
	"github.com/openledger/openledger/attribution/record"
	"github.com/openledger/openledger/attribution/spanindex"
	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/tokenizer"
	"github.com/openledger/openledger/storage"
	storagecli "github.com/openledger/openledger/storage/cli"
)

// NewAttributionCommand returns the `attribution` command.
func NewAttributionCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "attribution",
		Short: "Proof of Attribution: span indexes, gradient sketches, records anyone can recompute",
		Long: `Proof of Attribution (docs/architecture/adr-002-proof-of-attribution.md).

  index build   build the span index of a dataset version (add it to IPFS; the record cites its CID)
  sketch build  build the gradient sketches of a LoRA fine-tune's training data (influence method)
  explain       attribute an output: the spans, highlighted, and who gets what; write the record
  verify        recompute a record from its artifacts and compare byte for byte
  summary       the bounded top-K summary the chain stores`,
		SilenceUsage: true,
	}
	index := &cobra.Command{Use: "index", Short: "Span indexes of dataset versions"}
	index.AddCommand(newIndexBuildCommand(), newIndexInfoCommand())
	sketch := &cobra.Command{Use: "sketch", Short: "Gradient sketches for influence attribution"}
	sketch.AddCommand(newSketchBuildCommand())
	cmd.AddCommand(index, sketch, newExplainCommand(), newVerifyCommand(), newSummaryCommand())
	return cmd
}

// contributionsFlag collects ID=PATH pairs.
type sourceFlags struct {
	manifest      string
	contributions []string
	datanet       uint64
	version       uint64
}

func (f *sourceFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.manifest, "manifest", "", `dataset-version manifest JSON: {"datanet_id":N,"version":N,"contributions":[{"id":N,"path":"file"},...]} (paths relative to the manifest), in version order`)
	fl.StringArrayVar(&f.contributions, "contribution", nil, "a contribution as ID=PATH (repeatable, in version order)")
	fl.Uint64Var(&f.datanet, "datanet", 0, "datanet id (overrides the manifest)")
	fl.Uint64Var(&f.version, "version", 0, "dataset version (overrides the manifest)")
}

// Manifest lists a dataset version's contributions in version order.
type Manifest struct {
	DatanetID     uint64 `json:"datanet_id"`
	Version       uint64 `json:"version"`
	Contributions []struct {
		ID   uint64 `json:"id"`
		Path string `json:"path"`
	} `json:"contributions"`
}

type contribPath struct {
	id   uint64
	path string
}

func (f *sourceFlags) load() (datanet, version uint64, cs []contribPath, err error) {
	if f.manifest != "" {
		b, err := os.ReadFile(f.manifest)
		if err != nil {
			return 0, 0, nil, err
		}
		var m Manifest
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			return 0, 0, nil, fmt.Errorf("manifest %s: %w", f.manifest, err)
		}
		datanet, version = m.DatanetID, m.Version
		for _, c := range m.Contributions {
			p := c.Path
			if !filepath.IsAbs(p) {
				p = filepath.Join(filepath.Dir(f.manifest), p)
			}
			cs = append(cs, contribPath{c.ID, p})
		}
	}
	for _, s := range f.contributions {
		id, path, ok := strings.Cut(s, "=")
		n, perr := strconv.ParseUint(id, 10, 64)
		if !ok || perr != nil || path == "" {
			return 0, 0, nil, fmt.Errorf("--contribution %q: want ID=PATH with a numeric id", s)
		}
		cs = append(cs, contribPath{n, path})
	}
	if f.datanet != 0 {
		datanet = f.datanet
	}
	if f.version != 0 {
		version = f.version
	}
	if len(cs) == 0 {
		return 0, 0, nil, errors.New("no contributions: give --manifest or --contribution ID=PATH")
	}
	return datanet, version, cs, nil
}

// loadTokenizer reads a tokenizer JSON file or takes the tokenizer of a
// model checkpoint.
func loadTokenizer(path string) (*tokenizer.Tokenizer, error) {
	if path == "" {
		return nil, errors.New("--tokenizer is required (a tokenizer JSON file or a model checkpoint)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		return tokenizer.Parse(b)
	}
	m, err := checkpoint.LoadAny(path, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("--tokenizer %s: neither tokenizer JSON nor a model checkpoint: %w", path, err)
	}
	return m.Tok, nil
}

func newIndexBuildCommand() *cobra.Command {
	var (
		src     sourceFlags
		tokPath string
		out     string
		tmp     string
		quiet   bool
		add     bool
	)
	cmd := &cobra.Command{
		Use:   "build --tokenizer TOK (--manifest FILE | --contribution ID=PATH ...) --out FILE",
		Short: "Build the span index (suffix array over the tokenised dataset version)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out is required")
			}
			tok, err := loadTokenizer(tokPath)
			if err != nil {
				return err
			}
			datanet, version, cps, err := src.load()
			if err != nil {
				return err
			}
			var cs []spanindex.Contribution
			for _, c := range cps {
				x, err := spanindex.FileContribution(c.id, c.path)
				if err != nil {
					return err
				}
				cs = append(cs, x)
			}
			// A byte progress bar while tokenising (on a terminal, for inputs
			// of 8 MiB or more, like `ipfs add`), then one line per phase.
			var total int64
			for _, c := range cs {
				total += c.Size
			}
			addBytes, finishBar := func(int64) {}, func() {}
			if !quiet {
				if a, f := storagecli.ProgressBar(cmd.ErrOrStderr(), total, "tokenising"); a != nil {
					addBytes, finishBar = a, f
				}
			}
			var last int64
			progress := func(p spanindex.Progress) {
				if quiet {
					return
				}
				switch p.Phase {
				case "tokenize":
					addBytes(p.Done - last)
					last = p.Done
				case "suffix-array", "write":
					finishBar()
					fmt.Fprintf(cmd.ErrOrStderr(), "%s...\n", p.Phase)
				}
			}
			st, err := spanindex.Build(cmd.Context(), out, cs, spanindex.BuildOptions{
				DatanetID: datanet, Version: version, Tokenizer: tok, TempDir: tmp, Progress: progress})
			if err != nil {
				return err
			}
			art, err := attribution.FileArtifact(out)
			if err != nil {
				return err
			}
			if add {
				if err := addToIPFS(cmd, out, fmt.Sprintf("attribution index datanet %d version %d", datanet, version), art); err != nil {
					return err
				}
			}
			elapsed := st.Tokenize + st.SuffixArray + st.Write
			mb := float64(st.Header.SourceBytes) / 1e6
			return printJSON(cmd, map[string]any{
				"path": out, "cid": art.Cid, "sha256": art.Sha256, "size_bytes": art.SizeBytes,
				"datanet_id": datanet, "version": version, "contributions": len(cs),
				"source_bytes": st.Header.SourceBytes, "tokens": st.Header.Tokens(),
				"bytes_per_token": round2(st.BytesPerToken()),
				"seconds":         round2(elapsed.Seconds()), "mb_per_s": round2(mb / elapsed.Seconds()),
			})
		},
	}
	src.register(cmd)
	cmd.Flags().StringVar(&tokPath, "tokenizer", "", "tokenizer JSON file or model checkpoint whose tokenizer to use")
	cmd.Flags().StringVar(&out, "out", "", "index file to write")
	cmd.Flags().StringVar(&tmp, "tmp", "", "directory for temporary files (default: beside --out)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	cmd.Flags().BoolVar(&add, "ipfs-add", false, "also add and pin the index on the IPFS node under --home (through its daemon if it runs)")
	return cmd
}

func newIndexInfoCommand() *cobra.Command {
	var check bool
	cmd := &cobra.Command{
		Use:   "info INDEX",
		Short: "Show an index file's header (and --check its checksums)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ix, err := spanindex.Open(args[0])
			if err != nil {
				return err
			}
			defer ix.Close()
			if check {
				if err := ix.Verify(); err != nil {
					return err
				}
			}
			art, err := attribution.FileArtifact(args[0])
			if err != nil {
				return err
			}
			h := ix.Header
			return printJSON(cmd, map[string]any{
				"cid": art.Cid, "sha256": art.Sha256, "size_bytes": art.SizeBytes,
				"format_version": spanindex.FormatVersion, "datanet_id": h.DatanetID, "version": h.Version,
				"tokenizer_sha256": fmt.Sprintf("%x", h.TokenizerDigest), "vocab_size": h.VocabSize,
				"contributions": h.Contributions, "tokens": h.Tokens(), "source_bytes": h.SourceBytes,
				"checked": check,
			})
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "verify the checksums of the whole file")
	return cmd
}

// addToIPFS adds and pins path on the node of the repo under --home (via
// its daemon when it runs) and checks that the node computed the same CID.
func addToIPFS(cmd *cobra.Command, path, reason string, want record.Artifact) error {
	return storagecli.WithAPI(cmd, func(ctx context.Context, a storage.API) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		res, err := a.Add(ctx, files.NewReaderFile(f), storage.AddOptions{PinReason: reason, Name: filepath.Base(path), SHA256: true})
		if err != nil {
			return err
		}
		if res.RootStr != want.Cid || (res.SHA256 != "" && res.SHA256 != want.Sha256) {
			return fmt.Errorf("the IPFS node stored %s as %s, but the record would cite %s: import settings differ", path, res.RootStr, want.Cid)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "added and pinned %s on the IPFS node\n", res.RootStr)
		return nil
	})
}

func printJSON(cmd *cobra.Command, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(cmd.OutOrStdout(), string(b))
	return err
}

func round2(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }

// readOutput reads the output text from --output-file or --output-text.
func readOutput(file, text string) ([]byte, error) {
	switch {
	case file != "" && text != "":
		return nil, errors.New("give --output-file or --output-text, not both")
	case file == "-":
		return readAllStdin()
	case file != "":
		return os.ReadFile(file)
	case text != "":
		return []byte(text), nil
	}
	return nil, errors.New("no output to attribute: give --output-file FILE or --output-text TEXT")
}

func readAllStdin() ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(os.Stdin)
	return buf.Bytes(), err
}

func writeRecord(path string, rec *record.Record) error {
	b, err := record.Encode(rec)
	if err != nil {
		return err
	}
	return checkpoint.WriteFileAtomic(path, b)
}
