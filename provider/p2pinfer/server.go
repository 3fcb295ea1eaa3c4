package p2pinfer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/openledger/openledger/provider/openai"
)

// Server answers ProtocolID streams with an http.Handler: the provider's
// OpenAI-compatible API (openai.Server.Handler), so a request over libp2p is
// checked, paid and answered exactly as over HTTP.
type Server struct {
	// Handler serves the requests.
	Handler http.Handler
	// MaxBody bounds a request body (default DefaultMaxBody); past it the
	// request is answered 413 request_too_large.
	MaxBody int64
	// ReadTimeout bounds reading a request (default 30 s).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response frame (default 1 min): a
	// client that stops reading is dropped.
	WriteTimeout time.Duration
	// Log receives protocol failures (default: discarded).
	Log *slog.Logger

	ctx      context.Context
	inflight sync.WaitGroup
}

func (s *Server) defaults() {
	if s.MaxBody <= 0 {
		s.MaxBody = DefaultMaxBody
	}
	if s.ReadTimeout <= 0 {
		s.ReadTimeout = 30 * time.Second
	}
	if s.WriteTimeout <= 0 {
		s.WriteTimeout = time.Minute
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
}

// Register serves ProtocolID on h until Unregister; the requests' context
// ends with ctx.
func (s *Server) Register(ctx context.Context, h host.Host) {
	s.defaults()
	s.ctx = ctx
	h.SetStreamHandler(ProtocolID, s.HandleStream)
}

// Unregister stops serving new streams on h and waits for those in flight.
func (s *Server) Unregister(h host.Host) {
	h.RemoveStreamHandler(ProtocolID)
	s.inflight.Wait()
}

// HandleStream serves one stream: one request, one response.
func (s *Server) HandleStream(st network.Stream) {
	s.inflight.Add(1)
	defer s.inflight.Done()
	s.defaults()
	ctx := s.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	if err := st.Scope().SetService("openledger.inference"); err != nil {
		s.Log.Debug("inference protocol: resource scope", "peer", st.Conn().RemotePeer(), "err", err)
		_ = st.Reset()
		return
	}
	remote := st.Conn().RemotePeer().String()
	if err := s.serve(ctx, st, remote); err != nil {
		s.Log.Debug("inference protocol", "peer", remote, "err", err)
		_ = st.Reset()
		return
	}
	_ = st.Close()
}

// deadlined is the part of a stream (or net.Conn) serve uses for timeouts.
type deadlined interface {
	io.ReadWriter
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// serve reads a request from c, runs the handler and writes the response. A
// non-nil error means the stream should be reset (the response may be
// incomplete).
func (s *Server) serve(ctx context.Context, c deadlined, remote string) error {
	_ = c.SetReadDeadline(time.Now().Add(s.ReadTimeout))
	br := bufio.NewReaderSize(c, 64<<10)
	bw := &frameWriter{w: c, timeout: s.WriteTimeout, set: c.SetWriteDeadline}
	var head RequestHead
	if err := readHead(br, &head); err != nil {
		if errors.Is(err, ErrFrameTooLarge) {
			return bw.errorResponse(http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", fmt.Sprintf("the request head exceeds %d bytes", MaxHeadSize))
		}
		return err
	}
	if !strings.HasPrefix(head.Path, "/") || head.Method == "" {
		return bw.errorResponse(http.StatusBadRequest, "invalid_request_error", "invalid_request", "the request head needs a method and a path starting with /")
	}
	var body bytes.Buffer
	for {
		typ, p, err := ReadFrame(br)
		if errors.Is(err, ErrFrameTooLarge) {
			return bw.errorResponse(http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", fmt.Sprintf("a request frame exceeds %d bytes", MaxFrameSize))
		}
		if err != nil {
			return err
		}
		if typ == FrameEnd {
			break
		}
		if typ != FrameBody {
			return fmt.Errorf("%w: frame type %d inside a request body", ErrMalformed, typ)
		}
		if int64(body.Len()+len(p)) > s.MaxBody {
			return bw.errorResponse(http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", fmt.Sprintf("request body exceeds %d bytes", s.MaxBody))
		}
		body.Write(p)
	}
	_ = c.SetReadDeadline(time.Time{})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The client half-closes after its request; anything else it sends, or a
	// reset, means it is gone: stop the generation.
	go func() {
		var b [1]byte
		if _, err := br.Read(b[:]); !errors.Is(err, io.EOF) {
			cancel()
		}
	}()
	req, err := http.NewRequestWithContext(ctx, head.Method, "http://"+remote+head.Path, bytes.NewReader(body.Bytes()))
	if err != nil {
		return bw.errorResponse(http.StatusBadRequest, "invalid_request_error", "invalid_request", err.Error())
	}
	req.Header = head.Headers
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.RemoteAddr = remote
	rw := &responseWriter{fw: bw, hdr: http.Header{}}
	s.Handler.ServeHTTP(rw, req)
	return rw.finish()
}

// frameWriter writes frames with a deadline per frame.
type frameWriter struct {
	w       io.Writer
	timeout time.Duration
	set     func(time.Time) error
}

func (f *frameWriter) frame(typ byte, p []byte) error {
	_ = f.set(time.Now().Add(f.timeout))
	return WriteFrame(f.w, typ, p)
}

func (f *frameWriter) head(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return f.frame(FrameHead, b)
}

// errorResponse answers with an OpenAI error object, as the HTTP API does.
func (f *frameWriter) errorResponse(status int, typ, code, msg string) error {
	b, _ := json.Marshal(openai.ErrorBody{Error: openai.ErrorDetail{Message: msg, Type: typ, Code: &code}})
	if err := f.head(ResponseHead{Status: status, Headers: http.Header{"Content-Type": {"application/json"}}}); err != nil {
		return err
	}
	if err := f.frame(FrameBody, b); err != nil {
		return err
	}
	return f.frame(FrameEnd, nil)
}

// responseWriter is the handler's http.ResponseWriter: the head goes out with
// the first flush or write past a frame, each Flush sends what was written
// as one BODY frame (an SSE event per frame).
type responseWriter struct {
	fw       *frameWriter
	hdr      http.Header
	status   int
	headSent bool
	buf      bytes.Buffer
	err      error
}

func (w *responseWriter) Header() http.Header { return w.hdr }

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	w.WriteHeader(http.StatusOK)
	w.buf.Write(p)
	if w.buf.Len() >= MaxFrameSize {
		w.flush()
	}
	return len(p), w.err
}

// Flush implements http.Flusher.
func (w *responseWriter) Flush() { w.flush() }

func (w *responseWriter) flush() {
	if w.err != nil {
		return
	}
	w.WriteHeader(http.StatusOK)
	if !w.headSent {
		w.headSent = true
		if w.err = w.fw.head(ResponseHead{Status: w.status, Headers: w.hdr.Clone()}); w.err != nil {
			return
		}
	}
	for w.buf.Len() > 0 {
		if w.err = w.fw.frame(FrameBody, w.buf.Next(MaxFrameSize)); w.err != nil {
			return
		}
	}
	w.buf.Reset()
}

func (w *responseWriter) finish() error {
	w.flush()
	if w.err != nil {
		return w.err
	}
	return w.fw.frame(FrameEnd, nil)
}
