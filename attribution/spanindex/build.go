package spanindex

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/openledger/openledger/ml/tokenizer"
)

// Contribution is one accepted contribution of a dataset version, in
// version order.
type Contribution struct {
	ID uint64
	// Open returns the contribution's bytes.
	Open func() (io.ReadCloser, error)
	// Size is its length in bytes if known (progress only; 0 if unknown).
	Size int64
}

// FileContribution is a Contribution read from a local file.
func FileContribution(id uint64, path string) (Contribution, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Contribution{}, fmt.Errorf("spanindex: contribution %d: %w", id, err)
	}
	return Contribution{ID: id, Size: st.Size(), Open: func() (io.ReadCloser, error) { return os.Open(path) }}, nil
}

// BytesContribution is a Contribution held in memory.
func BytesContribution(id uint64, b []byte) Contribution {
	return Contribution{ID: id, Size: int64(len(b)), Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytesReader(b)), nil
	}}
}

// BuildOptions describe the dataset version and how to build.
type BuildOptions struct {
	DatanetID uint64
	Version   uint64
	Tokenizer *tokenizer.Tokenizer
	// TempDir holds the temporary token and suffix-array files ("" = the
	// output file's directory).
	TempDir string
	// Workers tokenise blocks in parallel (0: NumCPU). The result does not
	// depend on it.
	Workers int
	// MaxMemory bounds the heap used for the token and suffix arrays (8
	// bytes per token); larger corpora are sorted over memory-mapped
	// temporary files instead. 0 means 2 GiB.
	MaxMemory int64
	// Progress, if set, is called with source bytes read so far and the
	// total (0 if unknown), and once with Phase set for each later phase.
	Progress func(p Progress)
}

// Progress reports build progress.
type Progress struct {
	Phase       string // "tokenize", "suffix-array", "write", "done"
	Done, Total int64  // source bytes during "tokenize"
}

// BuildStats describes a finished build.
type BuildStats struct {
	Header      Header
	FileBytes   int64
	SHA256      string // hex sha256 of the index file
	Tokenize    time.Duration
	SuffixArray time.Duration
	Write       time.Duration
}

// BytesPerToken is the index size per corpus token.
func (s *BuildStats) BytesPerToken() float64 {
	if s.Header.Tokens() == 0 {
		return 0
	}
	return float64(s.FileBytes) / float64(s.Header.Tokens())
}

const blockSize = 1 << 20

// Build writes the span index of contributions to path.
func Build(ctx context.Context, path string, contributions []Contribution, opt BuildOptions) (*BuildStats, error) {
	if opt.Tokenizer == nil {
		return nil, errors.New("spanindex: no tokenizer")
	}
	if len(contributions) == 0 {
		return nil, errors.New("spanindex: a dataset version needs at least one contribution")
	}
	if len(contributions) > 1<<31 {
		return nil, errors.New("spanindex: too many contributions")
	}
	seen := make(map[uint64]bool, len(contributions))
	for _, c := range contributions {
		if seen[c.ID] {
			return nil, fmt.Errorf("spanindex: contribution id %d listed twice", c.ID)
		}
		seen[c.ID] = true
	}
	V := opt.Tokenizer.VocabSize()
	if V > MaxVocab {
		return nil, fmt.Errorf("spanindex: vocabulary %d exceeds %d", V, MaxVocab)
	}
	tmpDir := opt.TempDir
	if tmpDir == "" {
		tmpDir = dirOf(path)
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	var total int64
	for _, c := range contributions {
		total += c.Size
	}
	progress := func(p Progress) {
		if opt.Progress != nil {
			opt.Progress(p)
		}
	}

	maxMem := opt.MaxMemory
	if maxMem <= 0 {
		maxMem = 2 << 30
	}

	// 1. Tokenise: in memory while 8 bytes per token fit MaxMemory, else
	// spilled to a temporary int32 file.
	t0 := time.Now()
	starts := make([]uint64, len(contributions))
	sizes := make([]uint64, len(contributions))
	tw := &tokenWriter{narrow: V+1 <= 1<<16, memLimit: uint64(maxMem / 8), tmpDir: tmpDir}
	defer tw.close()
	enc := newEncoder(opt.Tokenizer, workers)
	var done int64
	for i, c := range contributions {
		starts[i] = tw.n
		n, err := enc.encodeStream(ctx, c, tw, func(k int64) {
			done += k
			progress(Progress{Phase: "tokenize", Done: done, Total: total})
		})
		if err != nil {
			return nil, fmt.Errorf("spanindex: contribution %d: %w", c.ID, err)
		}
		sizes[i] = uint64(n)
		if err := tw.put([]int32{int32(V)}); err != nil {
			return nil, err
		}
		if tw.n > MaxPositions {
			return nil, fmt.Errorf("spanindex: corpus exceeds %d tokens", MaxPositions)
		}
	}
	if tw.w != nil {
		if err := tw.w.Flush(); err != nil {
			return nil, fmt.Errorf("spanindex: %w", err)
		}
	}
	n := int(tw.n)
	tokenizeDur := time.Since(t0)

	// 2. Suffix array: on the heap, or over memory-mapped temporary files.
	progress(Progress{Phase: "suffix-array"})
	t1 := time.Now()
	var text, sa []int32
	var text16 []uint16 // the heap text when V+1 <= 65536
	if tw.file == nil {
		text16, text = tw.mem16, tw.mem32
		sa = make([]int32, n)
	} else {
		textMap, err := mmapFile(tw.file, 4*n, false)
		if err != nil {
			return nil, err
		}
		defer textMap.unmap()
		saFile, err := os.CreateTemp(tmpDir, ".spanindex-sa-*")
		if err != nil {
			return nil, fmt.Errorf("spanindex: %w", err)
		}
		defer os.Remove(saFile.Name())
		defer saFile.Close()
		if err := saFile.Truncate(int64(4 * n)); err != nil {
			return nil, fmt.Errorf("spanindex: %w", err)
		}
		saMap, err := mmapFile(saFile, 4*n, true)
		if err != nil {
			return nil, err
		}
		defer saMap.unmap()
		text = int32s(textMap.data)
		sa = int32s(saMap.data)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if text16 != nil {
		sais(text16, sa, V+1)
	} else {
		sais(text, sa, V+1)
	}
	saDur := time.Since(t1)

	// 3. Write the index: header placeholder, table, packed text, packed SA.
	progress(Progress{Phase: "write"})
	t2 := time.Now()
	h := Header{
		DatanetID: opt.DatanetID, Version: opt.Version,
		VocabSize: uint32(V), TextBits: uint32(bits.Len32(uint32(V))), SABits: uint32(saBits(uint64(n))),
		Contributions: uint32(len(contributions)), Positions: uint64(n),
	}
	if d, err := hex.DecodeString(opt.Tokenizer.Digest()); err == nil && len(d) == 32 {
		copy(h.TokenizerDigest[:], d)
	}
	for _, s := range sizes {
		h.SourceBytes += s
	}
	table := make([]byte, 0, len(contributions)*contribEntry)
	for i, c := range contributions {
		table = binary.LittleEndian.AppendUint64(table, c.ID)
		table = binary.LittleEndian.AppendUint64(table, starts[i])
		table = binary.LittleEndian.AppendUint64(table, sizes[i])
	}
	h.ContribOff, h.ContribLen = HeaderSize, uint64(len(table))
	h.ContribSHA256 = sha256.Sum256(table)
	h.TextOff, h.TextLen = h.ContribOff+h.ContribLen, packedLen(uint64(n), h.TextBits)
	h.SAOff, h.SALen = h.TextOff+h.TextLen, packedLen(uint64(n), h.SABits)

	tmpOut := path + ".tmp"
	out, err := os.Create(tmpOut)
	if err != nil {
		return nil, fmt.Errorf("spanindex: %w", err)
	}
	defer os.Remove(tmpOut)
	defer out.Close()
	bw := bufio.NewWriterSize(out, 1<<20)
	if _, err := bw.Write(make([]byte, HeaderSize)); err != nil {
		return nil, fmt.Errorf("spanindex: %w", err)
	}
	if _, err := bw.Write(table); err != nil {
		return nil, fmt.Errorf("spanindex: %w", err)
	}
	writePacked := func(width uint32, get func(i int) uint32) ([32]byte, error) {
		hs := sha256.New()
		pw := &packWriter{w: uint(width), buf: make([]byte, 0, 1<<16+16), emit: func(b []byte) error {
			hs.Write(b)
			_, err := bw.Write(b)
			return err
		}}
		for i := 0; i < n; i++ {
			if err := pw.put(get(i)); err != nil {
				return [32]byte{}, err
			}
		}
		if err := pw.finish(); err != nil {
			return [32]byte{}, err
		}
		var s [32]byte
		copy(s[:], hs.Sum(nil))
		return s, nil
	}
	textAt := func(i int) uint32 { return uint32(text[i]) }
	if text16 != nil {
		textAt = func(i int) uint32 { return uint32(text16[i]) }
	}
	if h.TextSHA256, err = writePacked(h.TextBits, textAt); err != nil {
		return nil, fmt.Errorf("spanindex: %w", err)
	}
	if h.SASHA256, err = writePacked(h.SABits, func(i int) uint32 { return uint32(sa[i]) }); err != nil {
		return nil, fmt.Errorf("spanindex: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("spanindex: %w", err)
	}
	if _, err := out.WriteAt(h.marshal(), 0); err != nil {
		return nil, fmt.Errorf("spanindex: %w", err)
	}
	if err := out.Sync(); err != nil {
		return nil, fmt.Errorf("spanindex: %w", err)
	}
	if err := out.Close(); err != nil {
		return nil, fmt.Errorf("spanindex: %w", err)
	}
	if err := os.Rename(tmpOut, path); err != nil {
		return nil, fmt.Errorf("spanindex: %w", err)
	}
	sum, size, err := FileSHA256(path)
	if err != nil {
		return nil, err
	}
	progress(Progress{Phase: "done"})
	return &BuildStats{Header: h, FileBytes: size, SHA256: sum, Tokenize: tokenizeDur, SuffixArray: saDur, Write: time.Since(t2)}, nil
}

// FileSHA256 returns the hex sha256 and size of a file.
func FileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func int32s(b []byte) []int32 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(&b[0])), len(b)/4)
}

func dirOf(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return path[:i+1]
		}
	}
	return "."
}

// tokenWriter collects the token sequence in memory (uint16 when the
// alphabet allows) until memLimit tokens, then spills everything to a
// temporary file of little-endian int32 and continues there.
type tokenWriter struct {
	narrow   bool
	mem16    []uint16
	mem32    []int32
	memLimit uint64
	tmpDir   string
	file     *os.File
	w        *bufio.Writer
	n        uint64
	b        [4]byte
}

func (t *tokenWriter) put(ids []int32) error {
	if t.file == nil && t.n+uint64(len(ids)) > t.memLimit {
		if err := t.spill(); err != nil {
			return err
		}
	}
	t.n += uint64(len(ids))
	switch {
	case t.file != nil:
		for _, v := range ids {
			binary.LittleEndian.PutUint32(t.b[:], uint32(v))
			if _, err := t.w.Write(t.b[:]); err != nil {
				return err
			}
		}
	case t.narrow:
		for _, v := range ids {
			t.mem16 = append(t.mem16, uint16(v))
		}
	default:
		t.mem32 = append(t.mem32, ids...)
	}
	return nil
}

func (t *tokenWriter) spill() error {
	f, err := os.CreateTemp(t.tmpDir, ".spanindex-tokens-*")
	if err != nil {
		return fmt.Errorf("spanindex: %w", err)
	}
	t.file, t.w = f, bufio.NewWriterSize(f, 1<<20)
	for _, v := range t.mem16 {
		binary.LittleEndian.PutUint32(t.b[:], uint32(v))
		if _, err := t.w.Write(t.b[:]); err != nil {
			return err
		}
	}
	for _, v := range t.mem32 {
		binary.LittleEndian.PutUint32(t.b[:], uint32(v))
		if _, err := t.w.Write(t.b[:]); err != nil {
			return err
		}
	}
	t.mem16, t.mem32 = nil, nil
	return nil
}

func (t *tokenWriter) close() {
	if t.file != nil {
		t.file.Close()
		os.Remove(t.file.Name())
	}
}

// encoder tokenises streams block by block, several blocks in parallel,
// with a per-worker cache of pre-tokenisation chunks (Encode is a pure
// function of each chunk, so caching never changes the result).
type encoder struct {
	tok    *tokenizer.Tokenizer
	caches []*chunkCache
	bufs   [][]byte // one block buffer per worker
}

func newEncoder(tok *tokenizer.Tokenizer, workers int) *encoder {
	e := &encoder{tok: tok, caches: make([]*chunkCache, workers), bufs: make([][]byte, workers)}
	for i := range e.caches {
		e.caches[i] = newChunkCache()
	}
	return e
}

func (e *encoder) encodeBlock(w int, b []byte, out []int32) []int32 {
	cache := e.caches[w]
	for len(b) > 0 {
		n := tokenizer.ChunkLen(b)
		c := b[:n]
		b = b[n:]
		h := hashChunk(c)
		if ids, ok := cache.get(h, c); ok {
			out = append(out, ids...)
			continue
		}
		raw := e.tok.Encode(c)
		start := len(out)
		for _, x := range raw {
			out = append(out, int32(x))
		}
		cache.put(h, c, out[start:])
	}
	return out
}

// chunkCache is an open-addressing table from chunk bytes to token ids,
// with keys and values in arenas (no per-entry allocation). It stops
// growing at maxCacheEntries.
type chunkCache struct {
	slots []cacheSlot // power of two
	keys  []byte
	vals  []int32
	n     int
}

type cacheSlot struct {
	hash       uint64
	koff, voff uint32
	klen, vlen uint16
}

const maxCacheEntries = 1 << 19

func newChunkCache() *chunkCache { return &chunkCache{slots: make([]cacheSlot, 1<<12)} }

func hashChunk(c []byte) uint64 {
	h := uint64(14695981039346656037) // FNV-1a
	for _, x := range c {
		h ^= uint64(x)
		h *= 1099511628211
	}
	return h | 1 // 0 marks an empty slot
}

func (t *chunkCache) get(h uint64, c []byte) ([]int32, bool) {
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.hash == 0 {
			return nil, false
		}
		if s.hash == h && int(s.klen) == len(c) && string(t.keys[s.koff:s.koff+uint32(s.klen)]) == string(c) {
			return t.vals[s.voff : s.voff+uint32(s.vlen)], true
		}
	}
}

func (t *chunkCache) put(h uint64, c []byte, ids []int32) {
	if t.n >= maxCacheEntries || len(t.keys)+len(c) > 1<<31 || len(t.vals)+len(ids) > 1<<31 {
		return
	}
	if 2*(t.n+1) > len(t.slots) {
		old := t.slots
		t.slots = make([]cacheSlot, 2*len(old))
		for _, s := range old {
			if s.hash != 0 {
				t.insert(s)
			}
		}
	}
	t.insert(cacheSlot{hash: h, koff: uint32(len(t.keys)), klen: uint16(len(c)), voff: uint32(len(t.vals)), vlen: uint16(len(ids))})
	t.keys = append(t.keys, c...)
	t.vals = append(t.vals, ids...)
	t.n++
}

func (t *chunkCache) insert(s cacheSlot) {
	mask := uint64(len(t.slots) - 1)
	i := s.hash & mask
	for t.slots[i].hash != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = s
}

// encodeStream tokenises one contribution into tw and returns its byte size.
func (e *encoder) encodeStream(ctx context.Context, c Contribution, tw *tokenWriter, progress func(int64)) (int64, error) {
	r, err := c.Open()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	W := len(e.caches)
	var carry []byte
	var size int64
	eof := false
	outs := make([][]int32, W)
	for !eof {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		// Read up to W blocks; each block ends at a chunk boundary (the
		// last, possibly incomplete, chunk is carried to the next block).
		var blocks [][]byte
		for len(blocks) < W && !eof {
			// Block buffers are reused across batches (a batch is encoded
			// before the next one is read); carry is a copy.
			buf := e.bufs[len(blocks)]
			if cap(buf) < len(carry)+blockSize {
				buf = make([]byte, 0, len(carry)+blockSize)
				e.bufs[len(blocks)] = buf
			}
			buf = append(buf[:0], carry...)
			k, err := io.ReadFull(r, buf[len(carry):len(carry)+blockSize])
			buf = buf[:len(carry)+k]
			size += int64(k)
			if k > 0 {
				progress(int64(k))
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				eof = true
			} else if err != nil {
				return 0, err
			}
			if eof {
				carry = nil
				if len(buf) > 0 {
					blocks = append(blocks, buf)
				}
				break
			}
			cut := lastChunkStart(buf)
			carry = append([]byte(nil), buf[cut:]...)
			blocks = append(blocks, buf[:cut])
		}
		var wg sync.WaitGroup
		for i, b := range blocks {
			wg.Add(1)
			go func(i int, b []byte) {
				defer wg.Done()
				outs[i] = e.encodeBlock(i, b, outs[i][:0])
			}(i, b)
		}
		wg.Wait()
		for i := range blocks {
			if err := tw.put(outs[i]); err != nil {
				return 0, err
			}
		}
	}
	return size, nil
}

// lastChunkStart returns the offset of the last pre-tokenisation chunk of b,
// or of a later chunk boundary: a position after a newline whose byte is not
// a newline always starts a chunk (the class changes there), so the block can
// be cut there without looking further.
func lastChunkStart(b []byte) int {
	for i := len(b) - 1; i > 0; i-- {
		if b[i-1] == '\n' && b[i] != '\n' && b[i] != '\r' {
			return i
		}
	}
	off, last := 0, 0
	for off < len(b) {
		last = off
		off += tokenizer.ChunkLen(b[off:])
	}
	return last
}

type bytesReaderT struct {
	b []byte
}

func bytesReader(b []byte) *bytesReaderT { return &bytesReaderT{b: b} }

func (r *bytesReaderT) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}
