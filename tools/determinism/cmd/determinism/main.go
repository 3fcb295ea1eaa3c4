// Command determinism runs the determinism analyzer over Go packages
// (default ./x/...) and prints one file:line:col: message per violation.
//
//	go run ./tools/determinism/cmd/determinism ./x/...
//
// It exits 0 when clean, 1 when violations were found and 2 when the
// packages could not be loaded.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/openledger/openledger/tools/determinism"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: determinism [packages] (default ./x/...)\n\n%s\n", determinism.Analyzer.Doc)
		flag.PrintDefaults()
	}
	verbose := flag.Bool("v", false, "list the analyzed packages and files")
	flag.Parse()
	patterns := flag.Args()
	if len(patterns) == 0 {
		patterns = []string{"./x/..."}
	}
	res, err := determinism.Check(".", patterns...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "determinism:", err)
		os.Exit(2)
	}
	wd, _ := os.Getwd()
	if *verbose {
		for _, p := range res.Packages {
			fmt.Fprintln(os.Stderr, "package", p)
		}
		for _, f := range res.Files {
			fmt.Fprintln(os.Stderr, "file", rel(wd, f))
		}
	}
	for _, f := range res.Findings {
		f.Pos.Filename = rel(wd, f.Pos.Filename)
		fmt.Println(f)
	}
	if len(res.Findings) > 0 {
		fmt.Fprintf(os.Stderr, "determinism: %d violation(s) in %d package(s), %d file(s) checked\n",
			len(res.Findings), len(res.Packages), len(res.Files))
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "determinism: ok (%d package(s), %d file(s) checked)\n", len(res.Packages), len(res.Files))
}

func rel(wd, name string) string {
	if r, err := filepath.Rel(wd, name); err == nil && !filepath.IsAbs(r) && r[0] != '.' {
		return r
	}
	return name
}
