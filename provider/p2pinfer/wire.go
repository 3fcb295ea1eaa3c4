// Package p2pinfer is the libp2p stream protocol /openledger/inference/1.0.0:
// the provider's OpenAI-compatible API (provider/openai) for clients that
// reach providers peer-to-peer. One stream carries one request and its
// response as length-prefixed frames (docs/openai-api.md, "libp2p"):
//
//	frame    = type (1 byte) | length (4 bytes, big-endian) | payload
//	request  = HEAD{method, path, headers} BODY* END
//	response = HEAD{status, headers} BODY* END
//
// The provider serves a stream with the very http.Handler of its HTTP API, so
// vouchers, receipts, errors and limits are the HTTP ones: a streamed
// response's server-sent events arrive one BODY frame per flush (per token).
// The client side is an http.RoundTripper for URLs libp2p://<peer id>/path, so
// an *http.Client speaks the protocol unchanged.
package p2pinfer

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ProtocolID is the stream protocol.
const ProtocolID = "/openledger/inference/1.0.0"

// Scheme is the URL scheme of Transport: libp2p://<peer id>/v1/...
const Scheme = "libp2p"

// Frame types.
const (
	FrameHead byte = 1 // JSON: RequestHead or ResponseHead
	FrameBody byte = 2 // raw bytes of the body
	FrameEnd  byte = 3 // empty: the message is complete
)

// Limits.
const (
	// MaxHeadSize bounds a HEAD frame's payload.
	MaxHeadSize = 64 << 10
	// MaxFrameSize bounds a BODY frame's payload.
	MaxFrameSize = 1 << 20
	// DefaultMaxBody bounds a request's body (all its BODY frames).
	DefaultMaxBody = 1 << 20
)

// ErrFrameTooLarge is a frame whose length is above the limit for its type.
var ErrFrameTooLarge = errors.New("p2pinfer: frame too large")

// ErrMalformed is a frame sequence that breaks the protocol.
var ErrMalformed = errors.New("p2pinfer: malformed stream")

// RequestHead is the HEAD frame of a request.
type RequestHead struct {
	Method  string      `json:"method"`
	Path    string      `json:"path"` // with its query, e.g. /v1/openledger/sessions/3/receipts?from=2
	Headers http.Header `json:"headers,omitempty"`
}

// ResponseHead is the HEAD frame of a response.
type ResponseHead struct {
	Status  int         `json:"status"`
	Headers http.Header `json:"headers,omitempty"`
}

// WriteFrame writes one frame.
func WriteFrame(w io.Writer, typ byte, payload []byte) error {
	if len(payload) > limit(typ) {
		return fmt.Errorf("%w: %d bytes in a frame of type %d", ErrFrameTooLarge, len(payload), typ)
	}
	var h [5]byte
	h[0] = typ
	binary.BigEndian.PutUint32(h[1:], uint32(len(payload)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	if len(payload) == 0 {
		return nil
	}
	_, err := w.Write(payload)
	return err
}

func limit(typ byte) int {
	switch typ {
	case FrameHead:
		return MaxHeadSize
	case FrameBody:
		return MaxFrameSize
	}
	return 0
}

// ReadFrame reads one frame, refusing an unknown type or a length above the
// type's limit before reading the payload.
func ReadFrame(r io.Reader) (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	typ, n := h[0], binary.BigEndian.Uint32(h[1:])
	if typ != FrameHead && typ != FrameBody && typ != FrameEnd {
		return 0, nil, fmt.Errorf("%w: unknown frame type %d", ErrMalformed, typ)
	}
	if int64(n) > int64(limit(typ)) {
		return typ, nil, fmt.Errorf("%w: %d bytes in a frame of type %d (limit %d)", ErrFrameTooLarge, n, typ, limit(typ))
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, fmt.Errorf("%w: truncated frame: %v", ErrMalformed, err)
	}
	return typ, p, nil
}

// writeHead writes a HEAD frame holding v as JSON.
func writeHead(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return WriteFrame(w, FrameHead, b)
}

// readHead reads the HEAD frame that starts a message into v.
func readHead(r io.Reader, v any) error {
	typ, p, err := ReadFrame(r)
	if err != nil {
		return err
	}
	if typ != FrameHead {
		return fmt.Errorf("%w: a message starts with frame type %d, not HEAD", ErrMalformed, typ)
	}
	if err := json.Unmarshal(p, v); err != nil {
		return fmt.Errorf("%w: HEAD: %v", ErrMalformed, err)
	}
	return nil
}
