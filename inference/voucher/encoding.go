package voucher

import (
	"encoding/binary"
	"fmt"
)

// encoder appends the primitive encodings described in the package documentation.
type encoder struct{ b []byte }

func (e *encoder) u16(x uint16)        { e.b = binary.BigEndian.AppendUint16(e.b, x) }
func (e *encoder) u32(x uint32)        { e.b = binary.BigEndian.AppendUint32(e.b, x) }
func (e *encoder) u64(x uint64)        { e.b = binary.BigEndian.AppendUint64(e.b, x) }
func (e *encoder) fixed32(x [32]byte)  { e.b = append(e.b, x[:]...) }
func (e *encoder) bytes(x []byte)      { e.u16(uint16(len(x))); e.b = append(e.b, x...) }
func (e *encoder) str(x string)        { e.u16(uint16(len(x))); e.b = append(e.b, x...) }
func newEncoder(capacity int) *encoder { return &encoder{b: make([]byte, 0, capacity)} }
func (e *encoder) out() []byte         { return e.b }

// The encoders truncate lengths to 16 bits; Validate bounds every field far below that,
// and Marshal of an invalid value is documented as unspecified but never panics.

// decoder reads the primitive encodings strictly. The first failure sticks: later reads
// return zero values, and err reports the first problem with its byte offset.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: offset %d: %s", ErrMalformed, d.off, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b)-d.off < n {
		d.fail("%s: need %d bytes, have %d", what, n, len(d.b)-d.off)
		return nil
	}
	s := d.b[d.off : d.off+n]
	d.off += n
	return s
}

func (d *decoder) u16(what string) uint16 {
	s := d.take(2, what)
	if s == nil {
		return 0
	}
	return binary.BigEndian.Uint16(s)
}

func (d *decoder) u32(what string) uint32 {
	s := d.take(4, what)
	if s == nil {
		return 0
	}
	return binary.BigEndian.Uint32(s)
}

func (d *decoder) u64(what string) uint64 {
	s := d.take(8, what)
	if s == nil {
		return 0
	}
	return binary.BigEndian.Uint64(s)
}

func (d *decoder) fixed32(what string) (out [32]byte) {
	if s := d.take(32, what); s != nil {
		copy(out[:], s)
	}
	return out
}

// bytes reads a u16 length and that many bytes, rejecting a length above limit before
// reading further. The result is a copy.
func (d *decoder) bytes(limit int, what string) []byte {
	n := int(d.u16(what + " length"))
	if d.err != nil {
		return nil
	}
	if n > limit {
		d.fail("%s: length %d exceeds %d", what, n, limit)
		return nil
	}
	s := d.take(n, what)
	if s == nil {
		return nil
	}
	return append([]byte(nil), s...)
}

func (d *decoder) str(limit int, what string) string {
	n := int(d.u16(what + " length"))
	if d.err != nil {
		return ""
	}
	if n > limit {
		d.fail("%s: length %d exceeds %d", what, n, limit)
		return ""
	}
	return string(d.take(n, what))
}

// expect reads a length-prefixed string and requires it to equal want.
func (d *decoder) expect(want, what string) {
	if got := d.str(len(want), what); d.err == nil && got != want {
		d.fail("%s: got %q, want %q", what, got, want)
	}
}

// finish reports the first error, or trailing bytes after a complete value.
func (d *decoder) finish() error {
	if d.err == nil && d.off != len(d.b) {
		d.fail("%d trailing bytes", len(d.b)-d.off)
	}
	return d.err
}

// graphic reports whether s is lo..hi bytes of printable ASCII without spaces
// (0x21..0x7e), the alphabet of chain ids, bech32 addresses and CID strings.
func graphic(s string, lo, hi int) bool {
	if len(s) < lo || len(s) > hi {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// printable is graphic that also allows the space (0x20), for engine names and versions.
func printable(s string, lo, hi int) bool {
	if len(s) < lo || len(s) > hi {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
