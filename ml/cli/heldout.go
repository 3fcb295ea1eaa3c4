package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/openledger/openledger/ml/train"
)

// HeldOutOutput is what `model eval --held-out-of MANIFEST --json` prints.
type HeldOutOutput struct {
	ManifestSHA256    string  `json:"manifest_sha256"`
	Tokens            int     `json:"tokens"`
	Loss              float64 `json:"loss"`
	Perplexity        float64 `json:"perplexity"`
	RunEvalLoss       float64 `json:"run_eval_loss"`
	RunEvalPerplexity float64 `json:"run_eval_perplexity"`
	NoWorse           bool    `json:"no_worse"`
}

// evalHeldOut evaluates the model on the held-out set of the run described
// by manifestPath and compares with that run's declared eval_loss.
func evalHeldOut(cmd *cobra.Command, mf *modelFlags, manifestPath string, data []string, asJSON bool) error {
	man, err := train.ReadManifest(manifestPath)
	if err != nil {
		return err
	}
	_, digest, err := man.Canonical()
	if err != nil {
		return err
	}
	m, a, err := mf.load()
	if err != nil {
		return err
	}
	if len(data) == 0 {
		for _, in := range man.Inputs {
			data = append(data, locate(in.Path, filepath.Dir(manifestPath)))
		}
	}
	loss, n, err := train.HeldOutLoss(man, data, m.Tok, m.Params, a, runtime.NumCPU())
	if err != nil {
		return err
	}
	out := HeldOutOutput{ManifestSHA256: digest, Tokens: n, Loss: loss, Perplexity: train.Perplexity(loss),
		RunEvalLoss: man.EvalLoss, RunEvalPerplexity: man.EvalPerplexity, NoWorse: loss <= man.EvalLoss}
	w := cmd.OutOrStdout()
	if asJSON {
		return json.NewEncoder(w).Encode(out)
	}
	verdict := "no worse than"
	if !out.NoWorse {
		verdict = "WORSE than"
	}
	fmt.Fprintf(w, "held-out set of %s (%s run, manifest sha256 %s): %d tokens\n", manifestPath, kindName(man.Kind), digest, n)
	fmt.Fprintf(w, "this model     loss %.6f nats/token, perplexity %.3f\n", loss, out.Perplexity)
	fmt.Fprintf(w, "run's model    loss %.6f nats/token, perplexity %.3f (declared eval_loss)\n", man.EvalLoss, man.EvalPerplexity)
	fmt.Fprintf(w, "this model is %s the run's model on its held-out set\n", verdict)
	return nil
}

func kindName(k string) string {
	if k == train.KindText {
		return "text"
	}
	return k
}
