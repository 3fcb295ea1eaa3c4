package p2pinfer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
)

// URL is the base URL of a provider reached over the protocol.
func URL(peerID string) string { return Scheme + "://" + peerID }

// IsURL reports whether u is a libp2p:// URL.
func IsURL(u string) bool { return strings.HasPrefix(u, Scheme+"://") }

// AddAddrs records a provider's multiaddrs (as registered on chain, with or
// without a trailing /p2p/<id>) in h's peerstore so Transport can dial it.
// Unparsable addresses and addresses of another peer are skipped; it fails
// only when peerID is not a peer id.
func AddAddrs(h host.Host, peerID string, addrs []string) error {
	pid, err := peer.Decode(peerID)
	if err != nil {
		return fmt.Errorf("peer id %q: %w", peerID, err)
	}
	var out []ma.Multiaddr
	for _, a := range addrs {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			continue
		}
		transport, id := peer.SplitAddr(m)
		if transport == nil || (id != "" && id != pid) {
			continue
		}
		out = append(out, transport)
	}
	h.Peerstore().AddAddrs(pid, out, peerstore.AddressTTL)
	return nil
}

// Transport is an http.RoundTripper over the protocol for URLs
// libp2p://<peer id>/path: each request opens one stream to the peer (dialled
// at the addresses in the host's peerstore, see AddAddrs). The peer is
// authenticated by libp2p: a response can only come from that peer id.
type Transport struct {
	Host host.Host
}

var _ http.RoundTripper = (*Transport)(nil)

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	if req.URL.Scheme != Scheme {
		return nil, fmt.Errorf("p2pinfer: scheme %q, want %s", req.URL.Scheme, Scheme)
	}
	pid, err := peer.Decode(req.URL.Host)
	if err != nil {
		return nil, fmt.Errorf("p2pinfer: %q is not a peer id: %w", req.URL.Host, err)
	}
	ctx := req.Context()
	st, err := t.Host.NewStream(ctx, pid, ProtocolID)
	if err != nil {
		return nil, fmt.Errorf("p2pinfer: opening a stream to %s: %w", pid, err)
	}
	done := make(chan struct{})
	var once sync.Once
	finish := func(reset bool) {
		once.Do(func() {
			close(done)
			if reset {
				_ = st.Reset()
			} else {
				_ = st.Close()
			}
		})
	}
	go func() {
		select {
		case <-ctx.Done():
			finish(true)
		case <-done:
		}
	}()
	defer func() {
		if err != nil {
			finish(true)
		}
	}()
	if err = writeRequest(st, req); err != nil {
		return nil, fmt.Errorf("p2pinfer: sending the request to %s: %w", pid, err)
	}
	br := bufio.NewReaderSize(st, 64<<10)
	var head ResponseHead
	if err = readHead(br, &head); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("p2pinfer: reading the response of %s: %w", pid, err)
	}
	if head.Status < 100 || head.Status > 999 {
		err = fmt.Errorf("%w: status %d", ErrMalformed, head.Status)
		return nil, err
	}
	if head.Headers == nil {
		head.Headers = http.Header{}
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", head.Status, http.StatusText(head.Status)), StatusCode: head.Status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: head.Headers, ContentLength: -1,
		Body: &body{r: br, finish: finish}, Request: req,
	}, nil
}

func writeRequest(st network.Stream, req *http.Request) error {
	h := req.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if err := writeHead(st, RequestHead{Method: req.Method, Path: req.URL.RequestURI(), Headers: h}); err != nil {
		return err
	}
	if req.Body != nil {
		buf := make([]byte, 64<<10)
		for {
			n, err := req.Body.Read(buf)
			if n > 0 {
				if werr := WriteFrame(st, FrameBody, buf[:n]); werr != nil {
					return werr
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
		}
	}
	if err := WriteFrame(st, FrameEnd, nil); err != nil {
		return err
	}
	return st.CloseWrite()
}

// body reads a response's BODY frames until END.
type body struct {
	r      *bufio.Reader
	cur    []byte
	eof    bool
	err    error
	finish func(reset bool)
}

func (b *body) Read(p []byte) (int, error) {
	for len(b.cur) == 0 {
		if b.eof {
			return 0, io.EOF
		}
		if b.err != nil {
			return 0, b.err
		}
		typ, f, err := ReadFrame(b.r)
		switch {
		case err != nil:
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the provider went away before END
			}
			b.err = err
		case typ == FrameEnd:
			b.eof = true
		case typ == FrameBody:
			b.cur = f
		default:
			b.err = fmt.Errorf("%w: frame type %d inside a response body", ErrMalformed, typ)
		}
	}
	n := copy(p, b.cur)
	b.cur = b.cur[n:]
	return n, nil
}

func (b *body) Close() error {
	b.finish(!b.eof)
	return nil
}
