// Package spanindex builds and queries the span index of a dataset version:
// the tokenised contributions concatenated in version order (a separator
// after each), a suffix array over that token sequence, and a table of
// contribution boundaries.
//
// The suffix array is built with SA-IS (linear time over an integer
// alphabet). The corpus is streamed from disk: contributions are read and
// tokenised in 1 MiB blocks. While 8 bytes per token fit BuildOptions.
// MaxMemory the tokens and the suffix array live on the heap; beyond that
// the tokens are spilled to a temporary file and the suffix array is built
// over memory-mapped temporary files, so the heap stays bounded whatever
// the corpus size. Both arrays are then bit-packed into the index file.
//
// # File format (version 1, little-endian)
//
//	offset  size  field
//	0       8     magic "OLSPANIX"
//	8       4     format version (1)
//	12      4     header size (288)
//	16      8     datanet id
//	24      8     dataset version
//	32      32    tokenizer digest (sha256 of its canonical JSON)
//	64      4     vocabulary size V (the separator symbol is V)
//	68      4     bits per text symbol
//	72      4     bits per suffix-array entry
//	76      4     number of contributions C
//	80      8     text length n (tokens + C separators)
//	88      8     source bytes (sum of contribution sizes)
//	96      16    contribution table offset, length
//	112     16    text offset, length
//	128     16    suffix array offset, length
//	144     32    sha256 of the contribution table
//	176     32    sha256 of the packed text
//	208     32    sha256 of the packed suffix array
//	240     16    zero
//	256     32    sha256 of bytes [0, 256)
//
// The contribution table has C entries of 24 bytes: contribution id, first
// text position, source bytes. Contribution i occupies positions
// [start_i, start_{i+1}-1); the position before start_{i+1} is its
// separator. Packed arrays store entry i at bit i*width, least significant
// bit first, followed by 8 zero bytes of padding so every entry can be read
// with one unaligned 64-bit load.
package spanindex

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// Format constants.
const (
	Magic         = "OLSPANIX"
	FormatVersion = 1
	HeaderSize    = 288
	contribEntry  = 24
	padding       = 8

	// MaxPositions bounds the text length (the builder's suffix array is
	// int32).
	MaxPositions = 1<<31 - 1
	// MaxVocab bounds the tokenizer vocabulary (the separator is V).
	MaxVocab = 1<<24 - 1
)

// ErrCorrupt is wrapped by every error about a malformed index file.
var ErrCorrupt = errors.New("spanindex: corrupt index")

// Header is the decoded fixed header of an index file.
type Header struct {
	DatanetID       uint64
	Version         uint64
	TokenizerDigest [32]byte
	VocabSize       uint32
	TextBits        uint32
	SABits          uint32
	Contributions   uint32
	Positions       uint64 // n: tokens + separators
	SourceBytes     uint64
	ContribOff      uint64
	ContribLen      uint64
	TextOff         uint64
	TextLen         uint64
	SAOff           uint64
	SALen           uint64
	ContribSHA256   [32]byte
	TextSHA256      [32]byte
	SASHA256        [32]byte
}

// Tokens is the number of corpus tokens (separators excluded).
func (h *Header) Tokens() uint64 { return h.Positions - uint64(h.Contributions) }

func (h *Header) marshal() []byte {
	b := make([]byte, HeaderSize)
	copy(b, Magic)
	le := binary.LittleEndian
	le.PutUint32(b[8:], FormatVersion)
	le.PutUint32(b[12:], HeaderSize)
	le.PutUint64(b[16:], h.DatanetID)
	le.PutUint64(b[24:], h.Version)
	copy(b[32:64], h.TokenizerDigest[:])
	le.PutUint32(b[64:], h.VocabSize)
	le.PutUint32(b[68:], h.TextBits)
	le.PutUint32(b[72:], h.SABits)
	le.PutUint32(b[76:], h.Contributions)
	le.PutUint64(b[80:], h.Positions)
	le.PutUint64(b[88:], h.SourceBytes)
	le.PutUint64(b[96:], h.ContribOff)
	le.PutUint64(b[104:], h.ContribLen)
	le.PutUint64(b[112:], h.TextOff)
	le.PutUint64(b[120:], h.TextLen)
	le.PutUint64(b[128:], h.SAOff)
	le.PutUint64(b[136:], h.SALen)
	copy(b[144:176], h.ContribSHA256[:])
	copy(b[176:208], h.TextSHA256[:])
	copy(b[208:240], h.SASHA256[:])
	sum := sha256.Sum256(b[:256])
	copy(b[256:], sum[:])
	return b
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// parseHeader decodes and validates the header against the file size.
func parseHeader(b []byte, fileSize uint64) (*Header, error) {
	if len(b) < HeaderSize {
		return nil, corruptf("file is %d bytes, shorter than the %d-byte header (truncated?)", len(b), HeaderSize)
	}
	if !bytes.Equal(b[:8], []byte(Magic)) {
		return nil, corruptf("bad magic %q (not a span index)", b[:8])
	}
	le := binary.LittleEndian
	if v := le.Uint32(b[8:]); v != FormatVersion {
		return nil, fmt.Errorf("spanindex: unsupported format version %d (this build reads %d)", v, FormatVersion)
	}
	if s := le.Uint32(b[12:]); s != HeaderSize {
		return nil, corruptf("header size %d, want %d", s, HeaderSize)
	}
	if sum := sha256.Sum256(b[:256]); !bytes.Equal(sum[:], b[256:288]) {
		return nil, corruptf("header checksum mismatch")
	}
	h := &Header{
		DatanetID: le.Uint64(b[16:]), Version: le.Uint64(b[24:]),
		VocabSize: le.Uint32(b[64:]), TextBits: le.Uint32(b[68:]), SABits: le.Uint32(b[72:]),
		Contributions: le.Uint32(b[76:]), Positions: le.Uint64(b[80:]), SourceBytes: le.Uint64(b[88:]),
		ContribOff: le.Uint64(b[96:]), ContribLen: le.Uint64(b[104:]),
		TextOff: le.Uint64(b[112:]), TextLen: le.Uint64(b[120:]),
		SAOff: le.Uint64(b[128:]), SALen: le.Uint64(b[136:]),
	}
	copy(h.TokenizerDigest[:], b[32:64])
	copy(h.ContribSHA256[:], b[144:176])
	copy(h.TextSHA256[:], b[176:208])
	copy(h.SASHA256[:], b[208:240])
	switch {
	case h.VocabSize < 1 || h.VocabSize > MaxVocab:
		return nil, corruptf("vocabulary size %d out of range", h.VocabSize)
	case h.Contributions < 1:
		return nil, corruptf("no contributions")
	case h.Positions < uint64(h.Contributions) || h.Positions > MaxPositions:
		return nil, corruptf("text length %d out of range", h.Positions)
	case h.TextBits != uint32(bits.Len32(h.VocabSize)):
		return nil, corruptf("text width %d bits, want %d for vocabulary %d", h.TextBits, bits.Len32(h.VocabSize), h.VocabSize)
	case h.SABits != uint32(saBits(h.Positions)):
		return nil, corruptf("suffix-array width %d bits, want %d", h.SABits, saBits(h.Positions))
	case h.ContribOff != HeaderSize || h.ContribLen != uint64(h.Contributions)*contribEntry:
		return nil, corruptf("contribution table at %d+%d does not match %d entries", h.ContribOff, h.ContribLen, h.Contributions)
	case h.TextOff != h.ContribOff+h.ContribLen || h.TextLen != packedLen(h.Positions, h.TextBits):
		return nil, corruptf("text section at %d+%d, want %d+%d", h.TextOff, h.TextLen, h.ContribOff+h.ContribLen, packedLen(h.Positions, h.TextBits))
	case h.SAOff != h.TextOff+h.TextLen || h.SALen != packedLen(h.Positions, h.SABits):
		return nil, corruptf("suffix-array section at %d+%d, want %d+%d", h.SAOff, h.SALen, h.TextOff+h.TextLen, packedLen(h.Positions, h.SABits))
	case h.SAOff+h.SALen != fileSize:
		return nil, corruptf("file is %d bytes, header describes %d (truncated or extended)", fileSize, h.SAOff+h.SALen)
	}
	return h, nil
}

func saBits(n uint64) int {
	if n <= 1 {
		return 1
	}
	return bits.Len64(n - 1)
}

func packedLen(n uint64, width uint32) uint64 {
	return (n*uint64(width)+7)/8 + padding
}

// packed is a read-only bit-packed array.
type packed struct {
	b    []byte
	w    uint
	mask uint64
}

func newPacked(b []byte, width uint32) packed {
	return packed{b: b, w: uint(width), mask: 1<<width - 1}
}

func (p packed) get(i int) uint32 {
	bit := uint(i) * p.w
	return uint32(binary.LittleEndian.Uint64(p.b[bit>>3:]) >> (bit & 7) & p.mask)
}

// packWriter streams entries into a bit-packed byte stream.
type packWriter struct {
	w    uint
	acc  uint64
	nacc uint
	buf  []byte
	emit func([]byte) error
}

func (p *packWriter) put(v uint32) error {
	// nacc < 32 and w <= 32, so the accumulator never overflows.
	p.acc |= uint64(v) << p.nacc
	p.nacc += p.w
	if p.nacc >= 32 {
		p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(p.acc))
		p.acc >>= 32
		p.nacc -= 32
	}
	if len(p.buf) >= 1<<16 {
		if err := p.emit(p.buf); err != nil {
			return err
		}
		p.buf = p.buf[:0]
	}
	return nil
}

func (p *packWriter) finish() error {
	for p.nacc > 0 {
		p.buf = append(p.buf, byte(p.acc))
		p.acc >>= 8
		p.nacc -= min(p.nacc, 8)
	}
	p.buf = append(p.buf, make([]byte, padding)...)
	return p.emit(p.buf)
}
