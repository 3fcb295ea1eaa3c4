package cli

import (
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressThreshold: inputs smaller than this get no bar.
const progressThreshold = 8 << 20

// newBar returns a byte progress callback drawing on stderr, or nil when
// stderr is not a terminal or the input is small (total < 0: unknown size).
func newBar(w io.Writer, total int64, desc string) (func(int64), func()) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, func() {}
	}
	if total >= 0 && total < progressThreshold {
		return nil, func() {}
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionClearOnFinish(),
	)
	return func(n int64) { _ = bar.Add64(n) }, func() { _ = bar.Finish() }
}
