package cli

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestProgressBarOnlyOnTerminals(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for name, out := range map[string]any{"pipe": w, "buffer": &bytes.Buffer{}} {
		var cb func(int64)
		var done func()
		switch o := out.(type) {
		case *os.File:
			cb, done = newBar(o, 1<<30, "adding")
		case *bytes.Buffer:
			cb, done = newBar(o, 1<<30, "adding")
		}
		if cb != nil {
			t.Fatalf("%s: a progress bar was drawn on a non-terminal", name)
		}
		done() // must be callable
	}
}

// openPTY opens a pseudo-terminal pair with plain ioctls (Linux).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open pts: %v", err)
	}
	return m, s
}

func TestProgressBarDrawnOnTerminal(t *testing.T) {
	m, s := openPTY(t)
	defer m.Close()
	defer s.Close()
	if cb, _ := newBar(s, 1<<20, "adding"); cb != nil {
		t.Fatal("bar drawn for an input below the threshold")
	}
	cb, done := newBar(s, 64<<20, "adding")
	if cb == nil {
		t.Fatal("no progress bar on a terminal")
	}
	for i := 0; i < 64; i++ {
		cb(1 << 20)
	}
	done()
	buf := make([]byte, 4096)
	m.SetReadDeadline(time.Now().Add(2 * time.Second))
	k, _ := m.Read(buf)
	if !strings.Contains(string(buf[:k]), "adding") {
		t.Fatalf("terminal shows %q", buf[:k])
	}
}
