// Package determinism provides a static analyzer that enforces
// determinism in consensus (state-machine) code.
//
// Every validator must compute exactly the same state transition from the
// same block, so code under x/ must not depend on anything that can differ
// between machines or between runs. The analyzer reports, in non-test,
// non-generated Go files:
//
//   - float: any use of float32, float64, complex64 or complex128 (variables,
//     fields, conversions, literals that end up typed as float, function
//     signatures, calls returning floats). Detection uses type information,
//     so aliases and named types with a float underlying type are caught.
//     Untyped float constants that are converted to integers at compile
//     time (e.g. int64(1e6)) are exact and are not reported. Generic code
//     whose constraint merely permits floats (cmp.Ordered) is not reported;
//     an instantiation with a float type is.
//   - time: references to time.Now, time.Since and time.Until, which read
//     the local wall clock (use the block time from the context instead).
//   - rand: imports of math/rand, math/rand/v2 and crypto/rand.
//   - maprange: a range statement over a value whose underlying type is a
//     map (iteration order is randomised), including a type parameter whose
//     type set contains a map, and ranging directly over the iterators from
//     maps.All/Keys/Values (or the slices from golang.org/x/exp/maps.Keys/Values).
//   - goroutine: go statements (scheduling is not deterministic).
//
// select statements are not reported.
//
// # Exceptions
//
// A justified exception is written as a line comment
//
//	//determinism:allow <reason>
//
// either at the end of the offending line or alone on the line directly
// above it. It suppresses every finding on that line. The reason is
// mandatory: a directive without one is itself reported (and suppresses
// nothing), as is a directive that suppresses nothing (so stale exceptions
// do not accumulate) and a "// determinism:allow" with a space, which
// would otherwise silently fail to apply. Text after a nested "//" in the
// directive is not part of the reason.
//
// # Skipped files
//
// Files named *_test.go, *.pb.go, *.pb.gw.go or *.pulsar.go, files carrying
// the standard "Code generated ... DO NOT EDIT." header, and files in any
// directory named "simulation" are not analyzed.
package determinism

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"golang.org/x/tools/go/analysis"
)

// Directive is the comment prefix that allows a finding.
const Directive = "//determinism:allow"

// Rule names, used as the prefix of every diagnostic message.
const (
	RuleFloat     = "float"
	RuleTime      = "time"
	RuleRand      = "rand"
	RuleMapRange  = "maprange"
	RuleGoroutine = "goroutine"
	RuleAllow     = "allow"
)

// Summary is the result of the analyzer for one package: the files that
// were actually analyzed (after skipping test, generated and simulation
// files). It lets drivers prove that the check did not pass vacuously.
type Summary struct {
	Files []string
}

// Analyzer reports non-deterministic constructs; see the package doc.
var Analyzer = &analysis.Analyzer{
	Name:       "determinism",
	Doc:        "reject non-deterministic constructs (floats, wall clock, randomness, map ranging, goroutines) in consensus code; allow a justified exception with //determinism:allow <reason>",
	URL:        "https://github.com/openledger/openledger/tree/main/tools/determinism",
	Run:        run,
	ResultType: reflect.TypeFor[*Summary](),
}

const allowHint = "or, if justified, add " + Directive + " <reason> at the end of this line or on the line above"

// SkipFile reports whether the file with the given name is exempt by name
// or location (test files, protobuf-generated files, simulation/ directories).
func SkipFile(filename string) bool {
	base := filepath.Base(filename)
	for _, suffix := range []string{"_test.go", ".pb.go", ".pb.gw.go", ".pulsar.go"} {
		if strings.HasSuffix(base, suffix) {
			return true
		}
	}
	for _, dir := range strings.Split(filepath.ToSlash(filepath.Dir(filename)), "/") {
		if dir == "simulation" {
			return true
		}
	}
	return false
}

type finding struct {
	pos  token.Pos
	line int
	rule string
	msg  string
}

type directive struct {
	pos       token.Pos
	line      int // line of the comment
	target    int // line it applies to besides its own (line+1 if standalone)
	reason    string
	used      bool
	malformed string // non-empty: report this instead of applying
}

func run(pass *analysis.Pass) (any, error) {
	summary := &Summary{}
	for _, file := range pass.Files {
		tf := pass.Fset.File(file.Pos())
		if tf == nil {
			continue
		}
		name := tf.Name()
		if SkipFile(name) || ast.IsGenerated(file) {
			continue
		}
		summary.Files = append(summary.Files, name)
		checkFile(pass, file, tf)
	}
	return summary, nil
}

func checkFile(pass *analysis.Pass, file *ast.File, tf *token.File) {
	var findings []finding
	add := func(pos token.Pos, rule, format string, args ...any) {
		findings = append(findings, finding{
			pos:  pos,
			line: tf.Line(pos),
			rule: rule,
			msg:  fmt.Sprintf(format, args...),
		})
	}

	// rand: imports.
	for _, imp := range file.Imports {
		path := strings.Trim(imp.Path.Value, "`\"")
		switch path {
		case "math/rand", "math/rand/v2", "crypto/rand":
			add(imp.Pos(), RuleRand,
				"import of %s: random numbers differ between validators; derive any randomness from consensus state (e.g. a hash of the block header), %s",
				path, allowHint)
		}
	}

	// float: report the innermost float-typed expressions (a literal, an
	// operand, a type name, a field or parameter type), at most once per
	// line, so that each line using floats needs its own justification and
	// a multi-line struct or function is reported on the lines that
	// actually mention floats rather than on its first line.
	type frame struct {
		expr      ast.Expr
		float     string // floatIn of expr's type
		floatDesc bool   // some descendant expression involves floats
	}
	var stack []frame
	floatLines := make(map[int]bool)
	info := pass.TypesInfo
	ast.Inspect(file, func(n ast.Node) bool {
		if n == nil { // post-order: leaving stack top
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if top.float != "" && !top.floatDesc {
				line := tf.Line(top.expr.Pos())
				if !floatLines[line] {
					floatLines[line] = true
					tv := info.Types[top.expr]
					qual := func(p *types.Package) string {
						if p == pass.Pkg {
							return ""
						}
						return p.Name()
					}
					what := "floating-point type " + types.TypeString(tv.Type, qual)
					if !tv.IsType() {
						what = "floating-point value"
						if ts := types.TypeString(tv.Type, qual); ts != top.float {
							what = "expression of type " + ts + " involving " + top.float
						} else {
							what += " (" + ts + ")"
						}
					}
					add(top.expr.Pos(), RuleFloat,
						"%s: floating-point results can differ across platforms and compilers; use integers or cosmossdk.io/math Int/LegacyDec, %s",
						what, allowHint)
				}
			}
			if (top.float != "" || top.floatDesc) && len(stack) > 0 {
				stack[len(stack)-1].floatDesc = true
			}
			return true
		}
		switch n := n.(type) {
		case *ast.ImportSpec:
			return false
		case *ast.GoStmt:
			add(n.Go, RuleGoroutine,
				"go statement: goroutine scheduling is not deterministic; run the work sequentially, %s", allowHint)
		case *ast.RangeStmt:
			if desc := mapRangeDesc(info, n.X); desc != "" {
				add(n.For, RuleMapRange,
					"range over %s: map iteration order is random; iterate over sorted keys (slices.Sorted(maps.Keys(m))) or an ordered store/collections iterator, %s",
					desc, allowHint)
			}
		case *ast.Ident:
			if fn, ok := info.Uses[n].(*types.Func); ok && fn.Pkg() != nil && fn.Pkg().Path() == "time" {
				if sig, ok := fn.Type().(*types.Signature); ok && sig.Recv() == nil {
					switch fn.Name() {
					case "Now", "Since", "Until":
						add(n.Pos(), RuleTime,
							"time.%s reads the local wall clock, which differs between validators; use the block time (sdk.Context.BlockTime() / HeaderService), %s",
							fn.Name(), allowHint)
					}
				}
			}
		}
		f := frame{}
		if e, ok := n.(ast.Expr); ok {
			f.expr = e
			if tv, ok := info.Types[e]; ok && tv.Type != nil {
				f.float = floatIn(tv.Type)
			}
		}
		stack = append(stack, f)
		return true
	})

	dirs := directives(pass, file, tf)
	byLine := make(map[int][]*directive)
	for _, d := range dirs {
		if d.malformed != "" {
			continue
		}
		byLine[d.line] = append(byLine[d.line], d)
		if d.target != d.line {
			byLine[d.target] = append(byLine[d.target], d)
		}
	}

	sort.SliceStable(findings, func(i, j int) bool { return findings[i].pos < findings[j].pos })
	for _, f := range findings {
		allowed := false
		for _, d := range byLine[f.line] {
			d.used = true
			allowed = true
		}
		if !allowed {
			pass.Report(analysis.Diagnostic{
				Pos:      f.pos,
				Category: f.rule,
				Message:  "determinism/" + f.rule + ": " + f.msg,
			})
		}
	}
	for _, d := range dirs {
		switch {
		case d.malformed != "":
			pass.Report(analysis.Diagnostic{Pos: d.pos, Category: RuleAllow, Message: "determinism/" + RuleAllow + ": " + d.malformed})
		case !d.used:
			pass.Report(analysis.Diagnostic{
				Pos:      d.pos,
				Category: RuleAllow,
				Message: "determinism/" + RuleAllow + ": " + Directive +
					" does not suppress any finding on this line or the next; remove it (a directive above a statement only covers the line directly below it)",
			})
		}
	}
}

// directives parses the //determinism:allow comments of a file.
func directives(pass *analysis.Pass, file *ast.File, tf *token.File) []*directive {
	var src []byte // read lazily, only if the file has directives
	var dirs []*directive
	for _, cg := range file.Comments {
		for _, c := range cg.List {
			text := c.Text
			if !strings.HasPrefix(text, "//") {
				continue
			}
			d := &directive{pos: c.Slash, line: tf.Line(c.Slash)}
			rest, ok := strings.CutPrefix(text, Directive)
			switch {
			case ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t'):
				// A nested "//" starts a separate comment (e.g. a test
				// expectation), not part of the reason.
				if i := strings.Index(rest, "//"); i >= 0 {
					rest = rest[:i]
				}
				d.reason = strings.TrimSpace(rest)
				if d.reason == "" {
					d.malformed = Directive + " needs a reason: write " + Directive + " <why this is deterministic or harmless>"
				}
			case ok:
				d.malformed = "unknown directive " + strings.Fields(text)[0] + ": write " + Directive + " <reason>"
			case strings.HasPrefix(strings.TrimLeft(text[2:], " \t"), Directive[2:]):
				d.malformed = "malformed directive: write " + Directive + " <reason> with no space after //"
			default:
				continue
			}
			d.target = d.line
			if d.malformed == "" {
				if src == nil {
					src = readFile(pass, tf.Name())
				}
				if standalone(src, tf.Offset(c.Slash)) {
					d.target = d.line + 1
				}
			}
			dirs = append(dirs, d)
		}
	}
	return dirs
}

func readFile(pass *analysis.Pass, name string) []byte {
	if pass.ReadFile != nil {
		if b, err := pass.ReadFile(name); err == nil {
			return b
		}
	}
	return []byte{}
}

// standalone reports whether only whitespace precedes offset on its line,
// i.e. the comment is on a line of its own and applies to the next line.
// If the source is unavailable, it is assumed to be standalone.
func standalone(src []byte, offset int) bool {
	if offset > len(src) || len(src) == 0 {
		return true
	}
	start := bytes.LastIndexByte(src[:offset], '\n') + 1
	return len(bytes.TrimSpace(src[start:offset])) == 0
}

// floatIn returns a description of the floating-point type contained in t,
// or "" if t does not involve floats. It looks through composite types
// (pointers, slices, arrays, maps, channels, function signatures, struct
// literals, tuples) and aliases, and through named types whose underlying
// type is a basic float/complex type, but not through other named types
// (their declaration is reported instead) nor type parameters and
// interfaces (a constraint that merely permits floats is not a use).
func floatIn(t types.Type) string {
	switch t := types.Unalias(t).(type) {
	case *types.Basic:
		switch t.Kind() {
		case types.Float32, types.Float64, types.Complex64, types.Complex128:
			return t.Name()
		}
	case *types.Named:
		if b, ok := t.Underlying().(*types.Basic); ok {
			if f := floatIn(b); f != "" {
				return f
			}
		}
		if args := t.TypeArgs(); args != nil {
			for i := range args.Len() {
				if f := floatIn(args.At(i)); f != "" {
					return f
				}
			}
		}
	case *types.Pointer:
		return floatIn(t.Elem())
	case *types.Slice:
		return floatIn(t.Elem())
	case *types.Array:
		return floatIn(t.Elem())
	case *types.Chan:
		return floatIn(t.Elem())
	case *types.Map:
		if f := floatIn(t.Key()); f != "" {
			return f
		}
		return floatIn(t.Elem())
	case *types.Signature:
		if f := floatIn(t.Params()); f != "" {
			return f
		}
		return floatIn(t.Results())
	case *types.Tuple:
		if t == nil {
			return ""
		}
		for i := range t.Len() {
			if f := floatIn(t.At(i).Type()); f != "" {
				return f
			}
		}
	case *types.Struct:
		for i := range t.NumFields() {
			if f := floatIn(t.Field(i).Type()); f != "" {
				return f
			}
		}
	}
	return ""
}

// mapRangeDesc returns a description if ranging over x iterates a map in
// unspecified order, or "".
func mapRangeDesc(info *types.Info, x ast.Expr) string {
	t := info.TypeOf(x)
	if t == nil {
		return ""
	}
	if _, ok := t.Underlying().(*types.Map); ok {
		return "map (type " + types.TypeString(t, nil) + ")"
	}
	if tp, ok := types.Unalias(t).(*types.TypeParam); ok && typeSetHasMap(tp.Constraint(), map[types.Type]bool{}) {
		return "type parameter " + tp.Obj().Name() + " whose type set contains a map"
	}
	// Iterators/slices built from a map in unspecified order.
	if call, ok := ast.Unparen(x).(*ast.CallExpr); ok {
		var id *ast.Ident
		switch fun := ast.Unparen(call.Fun).(type) {
		case *ast.Ident:
			id = fun
		case *ast.SelectorExpr:
			id = fun.Sel
		case *ast.IndexExpr: // explicit instantiation maps.Keys[M]
			if sel, ok := fun.X.(*ast.SelectorExpr); ok {
				id = sel.Sel
			}
		case *ast.IndexListExpr:
			if sel, ok := fun.X.(*ast.SelectorExpr); ok {
				id = sel.Sel
			}
		}
		if id != nil {
			if fn, ok := info.Uses[id].(*types.Func); ok && fn.Pkg() != nil {
				path := fn.Pkg().Path()
				switch {
				case path == "maps" && (fn.Name() == "All" || fn.Name() == "Keys" || fn.Name() == "Values"),
					path == "golang.org/x/exp/maps" && (fn.Name() == "Keys" || fn.Name() == "Values"):
					return "the result of " + path + "." + fn.Name() + " (map order)"
				}
			}
		}
	}
	return ""
}

func typeSetHasMap(t types.Type, seen map[types.Type]bool) bool {
	if t == nil || seen[t] {
		return false
	}
	seen[t] = true
	switch u := types.Unalias(t).Underlying().(type) {
	case *types.Map:
		return true
	case *types.Union:
		for i := range u.Len() {
			if typeSetHasMap(u.Term(i).Type(), seen) {
				return true
			}
		}
	case *types.Interface:
		for i := range u.NumEmbeddeds() {
			if typeSetHasMap(u.EmbeddedType(i), seen) {
				return true
			}
		}
	}
	return false
}
