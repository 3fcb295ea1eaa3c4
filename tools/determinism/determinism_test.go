package determinism_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/openledger/openledger/tools/determinism"
)

// TestRules checks, via "// want" comments in testdata/src/rules, that every
// rule is caught, that //determinism:allow <reason> suppresses each of them
// and that misused directives are reported.
func TestRules(t *testing.T) {
	results := analysistest.Run(t, analysistest.TestData(), determinism.Analyzer, "rules", "rules/simulation")

	// The skipped files really were skipped (they are full of violations
	// without "want" comments, so analysistest would also fail otherwise),
	// and the rule files really were analyzed.
	analyzed := map[string]bool{}
	for _, r := range results {
		s, ok := r.Result.(*determinism.Summary)
		if !ok {
			t.Fatalf("%s: result %T, want *determinism.Summary", r.Action, r.Result)
		}
		for _, f := range s.Files {
			analyzed[filepath.ToSlash(f[strings.Index(f, "/src/")+len("/src/"):])] = true
		}
	}
	for _, f := range []string{"rules/float.go", "rules/time.go", "rules/rand.go", "rules/randv2.go", "rules/maprange.go", "rules/goroutine.go", "rules/allow.go"} {
		if !analyzed[f] {
			t.Errorf("%s was not analyzed", f)
		}
	}
	for _, f := range []string{"rules/rules_test.go", "rules/gen.pb.go", "rules/gen.pb.gw.go", "rules/gen.pulsar.go", "rules/header.go", "rules/simulation/sim.go"} {
		if analyzed[f] {
			t.Errorf("%s was analyzed, want skipped", f)
		}
	}

	// Every rule produced at least one diagnostic.
	seen := map[string]int{}
	for _, r := range results {
		for _, d := range r.Diagnostics {
			seen[d.Category]++
			if !strings.Contains(d.Message, "determinism/"+d.Category+":") {
				t.Errorf("message %q does not name its rule %q", d.Message, d.Category)
			}
			if d.Category != determinism.RuleAllow && !strings.Contains(d.Message, "//determinism:allow <reason>") {
				t.Errorf("message %q does not say how to allow it", d.Message)
			}
		}
	}
	for _, rule := range []string{determinism.RuleFloat, determinism.RuleTime, determinism.RuleRand, determinism.RuleMapRange, determinism.RuleGoroutine, determinism.RuleAllow} {
		if seen[rule] == 0 {
			t.Errorf("rule %s produced no diagnostics", rule)
		}
	}
}

// TestClean checks that idiomatic deterministic code (sorted map keys,
// select, block time, integer math, generic helpers) is not flagged.
func TestClean(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), determinism.Analyzer, "clean")
}

func TestSkipFile(t *testing.T) {
	for name, want := range map[string]bool{
		"x/datanet/keeper/keeper.go":          false,
		"x/datanet/keeper/keeper_test.go":     true,
		"x/datanet/types/tx.pb.go":            true,
		"x/datanet/types/query.pb.gw.go":      true,
		"api/datanet/v1/tx.pulsar.go":         true,
		"x/datanet/simulation/genesis.go":     true,
		"x/datanet/simulationx/genesis.go":    false,
		"x/datanet/keeper/simulation.go":      false,
		"/abs/x/datanet/simulation/decode.go": true,
	} {
		if got := determinism.SkipFile(name); got != want {
			t.Errorf("SkipFile(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestXIsDeterministic runs the analyzer over every non-test, non-generated
// package under x/ of this module and fails listing file:line for each
// violation.
func TestXIsDeterministic(t *testing.T) {
	root := moduleRoot(t)
	res, err := determinism.Check(root, "./x/...")
	if err != nil {
		t.Fatalf("loading ./x/...: %v", err)
	}
	const prefix = "github.com/openledger/openledger/x/"
	if len(res.Packages) == 0 {
		t.Fatal("no packages found under x/: the check would pass vacuously")
	}
	for _, p := range res.Packages {
		if !strings.HasPrefix(p, prefix) {
			t.Errorf("analyzed package %s is not under x/", p)
		}
	}
	if len(res.Files) == 0 {
		t.Fatal("no files analyzed under x/: the check would pass vacuously")
	}
	if !slices.ContainsFunc(res.Files, func(f string) bool { return strings.HasSuffix(f, ".go") }) {
		t.Fatalf("analyzed files are not Go files: %v", res.Files)
	}
	t.Logf("checked %d packages, %d files under x/", len(res.Packages), len(res.Files))
	for _, f := range res.Findings {
		if r, err := filepath.Rel(root, f.Pos.Filename); err == nil {
			f.Pos.Filename = r
		}
		t.Errorf("%s:%d: %s", f.Pos.Filename, f.Pos.Line, f.Message)
	}
	if n := len(res.Findings); n > 0 {
		t.Logf("%d determinism violation(s); fix them or justify each with //determinism:allow <reason>; reproduce with: go run ./tools/determinism/cmd/determinism ./x/...", n)
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(b), "module github.com/openledger/openledger\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("module root (go.mod of github.com/openledger/openledger) not found")
		}
		dir = parent
	}
}
