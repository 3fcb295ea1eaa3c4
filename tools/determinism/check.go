package determinism

import (
	"errors"
	"fmt"
	"go/token"
	"sort"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/checker"
	"golang.org/x/tools/go/packages"
)

// Finding is one reported violation.
type Finding struct {
	Pos     token.Position
	Rule    string
	Message string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s:%d:%d: %s", f.Pos.Filename, f.Pos.Line, f.Pos.Column, f.Message)
}

// Result is the outcome of Check.
type Result struct {
	Packages []string  // import paths of the analyzed packages
	Files    []string  // files actually analyzed (after skipping)
	Findings []Finding // sorted by file and position
}

// Check loads the packages matching patterns (relative to dir, as for
// "go list"), without their tests, and runs Analyzer over them. Packages
// are loaded once; dependencies are read from export data, so this is
// fast once the build cache is warm. Load or type errors are returned as
// an error, since an ill-typed package cannot be checked reliably.
func Check(dir string, patterns ...string) (*Result, error) {
	cfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedCompiledGoFiles |
			packages.NeedImports | packages.NeedTypes | packages.NeedTypesSizes |
			packages.NeedSyntax | packages.NeedTypesInfo | packages.NeedModule,
		Dir:   dir,
		Tests: false,
	}
	pkgs, err := packages.Load(cfg, patterns...)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", strings.Join(patterns, " "), err)
	}
	var loadErrs []error
	packages.Visit(pkgs, nil, func(p *packages.Package) {
		for _, e := range p.Errors {
			loadErrs = append(loadErrs, fmt.Errorf("%s: %s", p.PkgPath, e))
		}
	})
	if len(loadErrs) > 0 {
		return nil, errors.Join(loadErrs...)
	}

	graph, err := checker.Analyze([]*analysis.Analyzer{Analyzer}, pkgs, nil)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	for _, act := range graph.Roots {
		if act.Err != nil {
			return nil, fmt.Errorf("%s: %w", act.Package.PkgPath, act.Err)
		}
		res.Packages = append(res.Packages, act.Package.PkgPath)
		if s, ok := act.Result.(*Summary); ok {
			res.Files = append(res.Files, s.Files...)
		}
		for _, d := range act.Diagnostics {
			res.Findings = append(res.Findings, Finding{
				Pos:     act.Package.Fset.Position(d.Pos),
				Rule:    d.Category,
				Message: d.Message,
			})
		}
	}
	sort.Strings(res.Packages)
	sort.Strings(res.Files)
	sort.Slice(res.Findings, func(i, j int) bool {
		a, b := res.Findings[i].Pos, res.Findings[j].Pos
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return res, nil
}
