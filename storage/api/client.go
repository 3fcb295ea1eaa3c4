package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/boxo/tar"
	"github.com/ipfs/go-cid"

	"github.com/openledger/openledger/storage"
)

// Client talks to a daemon's local API. It implements storage.API.
type Client struct {
	base string
	http *http.Client
}

var _ storage.API = (*Client)(nil)

// NewClient returns a client for the API at base (e.g. "http://127.0.0.1:5101").
func NewClient(base string) *Client {
	return &Client{base: strings.TrimRight(base, "/"), http: &http.Client{}}
}

// DiscoverClient reads <repo>/api, written by a running daemon, and checks
// that the daemon answers. It returns nil, nil when no daemon is running.
func DiscoverClient(ctx context.Context, repoDir string) (*Client, error) {
	raw, err := os.ReadFile(filepath.Join(repoDir, storage.APIFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading daemon API file: %w", err)
	}
	c := NewClient(strings.TrimSpace(string(raw)))
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := c.ID(pctx); err != nil {
		// A stale file from a daemon that crashed: treat as no daemon.
		return nil, nil
	}
	return c, nil
}

// Base returns the API base URL.
func (c *Client) Base() string { return c.base }

func (c *Client) url(path string, q url.Values) string {
	u := c.base + "/api/v0/" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, body io.Reader, ctype string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, q), body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling the daemon API: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, decodeErr(resp)
	}
	return resp, nil
}

// decodeErr rebuilds a typed error from a JSON error body.
func decodeErr(resp *http.Response) error {
	var eb errorBody
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if json.Unmarshal(raw, &eb) != nil || eb.Error == "" {
		return fmt.Errorf("daemon API: %s: %s", resp.Status, strings.TrimSpace(string(raw)))
	}
	var base error
	switch eb.Code {
	case CodeNotFound:
		base = storage.ErrNotFound
	case CodeNotPinned:
		base = storage.ErrNotPinned
	case CodeRepoFull:
		base = storage.ErrRepoFull
	case CodeOffline:
		base = storage.ErrOffline
	default:
		return errors.New(eb.Error)
	}
	return &remoteError{msg: eb.Error, base: base}
}

type remoteError struct {
	msg  string
	base error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.base }

func (c *Client) getJSON(ctx context.Context, method, path string, q url.Values, body io.Reader, ctype string, out any) error {
	resp, err := c.do(ctx, method, path, q, body, ctype)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding daemon reply: %w", err)
	}
	return nil
}

// streamBody checks the error trailer once the body is fully read.
type streamBody struct{ resp *http.Response }

func (s *streamBody) Read(p []byte) (int, error) {
	n, err := s.resp.Body.Read(p)
	if err == io.EOF {
		if msg := s.resp.Trailer.Get(StreamErrorTrailer); msg != "" {
			return n, errors.New(msg)
		}
	}
	return n, err
}

func (s *streamBody) Close() error { return s.resp.Body.Close() }

// Add implements storage.API. The node is sent as a multipart body.
func (c *Client) Add(ctx context.Context, nd files.Node, opts storage.AddOptions) (storage.AddResult, error) {
	name := opts.Name
	if name == "" {
		name = "input"
	}
	mfr := files.NewMultiFileReader(files.NewMapDirectory(map[string]files.Node{name: nd}), true, false)
	var body io.Reader = mfr
	if opts.Progress != nil {
		body = &countReader{r: mfr, cb: opts.Progress}
	}
	q := url.Values{"name": {opts.Name}, "reason": {opts.PinReason},
		"nopin": {strconv.FormatBool(opts.NoPin)}, "hidden": {strconv.FormatBool(opts.Hidden)},
		"sha256": {strconv.FormatBool(opts.SHA256)}}
	var res storage.AddResult
	if err := c.getJSON(ctx, http.MethodPost, "add", q, body, "multipart/form-data; boundary="+mfr.Boundary(), &res); err != nil {
		return res, err
	}
	root, err := cid.Decode(res.RootStr)
	if err != nil {
		return res, fmt.Errorf("daemon returned an invalid root: %w", err)
	}
	res.Root = root
	return res, nil
}

type countReader struct {
	r  io.Reader
	cb func(int64)
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.cb(int64(n))
	}
	return n, err
}

// Cat implements storage.API.
func (c *Client) Cat(ctx context.Context, k cid.Cid) (io.ReadCloser, error) {
	resp, err := c.do(ctx, http.MethodGet, "cat", url.Values{"arg": {k.String()}}, nil, "")
	if err != nil {
		return nil, err
	}
	return &streamBody{resp}, nil
}

// Get implements storage.API: the daemon streams a tar that is extracted
// to dest with boxo's extractor, which refuses paths escaping dest.
func (c *Client) Get(ctx context.Context, k cid.Cid, dest string, progress func(int64)) error {
	if dest == "" {
		return errors.New("get: no output path")
	}
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("get: %s already exists; choose a new output path", dest)
	}
	resp, err := c.do(ctx, http.MethodGet, "get", url.Values{"arg": {k.String()}}, nil, "")
	if err != nil {
		return err
	}
	body := &streamBody{resp}
	defer body.Close()
	ex := &tar.Extractor{Path: dest}
	if progress != nil {
		ex.Progress = func(n int64) int64 { progress(n); return n } // called with each chunk's size
	}
	if err := ex.Extract(body); err != nil {
		return fmt.Errorf("get: %w", err)
	}
	return nil
}

// Stat implements storage.API.
func (c *Client) Stat(ctx context.Context, k cid.Cid) (storage.Stat, error) {
	var st storage.Stat
	err := c.getJSON(ctx, http.MethodGet, "stat", url.Values{"arg": {k.String()}}, nil, "", &st)
	return st, err
}

// Pin implements storage.API.
func (c *Client) Pin(ctx context.Context, k cid.Cid, reason string) error {
	var out map[string]string
	return c.getJSON(ctx, http.MethodPost, "pin/add", url.Values{"arg": {k.String()}, "reason": {reason}}, nil, "", &out)
}

// Unpin implements storage.API.
func (c *Client) Unpin(ctx context.Context, k cid.Cid, reason string) error {
	var out map[string]string
	return c.getJSON(ctx, http.MethodPost, "pin/rm", url.Values{"arg": {k.String()}, "reason": {reason}}, nil, "", &out)
}

// Pins implements storage.API.
func (c *Client) Pins(ctx context.Context) ([]storage.PinInfo, error) {
	var out []storage.PinInfo
	err := c.getJSON(ctx, http.MethodGet, "pin/ls", nil, nil, "", &out)
	return out, err
}

// GC implements storage.API.
func (c *Client) GC(ctx context.Context) (storage.GCResult, error) {
	var out storage.GCResult
	err := c.getJSON(ctx, http.MethodPost, "gc", nil, nil, "", &out)
	return out, err
}

// Verify implements storage.API.
func (c *Client) Verify(ctx context.Context, repair bool) (storage.VerifyResult, error) {
	var out storage.VerifyResult
	err := c.getJSON(ctx, http.MethodPost, "repo/verify", url.Values{"repair": {strconv.FormatBool(repair)}}, nil, "", &out)
	return out, err
}

// ExportCAR implements storage.API.
func (c *Client) ExportCAR(ctx context.Context, k cid.Cid, w io.Writer) error {
	resp, err := c.do(ctx, http.MethodGet, "car/export", url.Values{"arg": {k.String()}}, nil, "")
	if err != nil {
		return err
	}
	body := &streamBody{resp}
	defer body.Close()
	_, err = io.Copy(w, body)
	return err
}

// ImportCAR implements storage.API.
func (c *Client) ImportCAR(ctx context.Context, r io.Reader, reason string, noPin bool) (storage.CARImportResult, error) {
	var out storage.CARImportResult
	q := url.Values{"reason": {reason}, "nopin": {strconv.FormatBool(noPin)}}
	err := c.getJSON(ctx, http.MethodPost, "car/import", q, r, "application/vnd.ipld.car", &out)
	return out, err
}

// ID implements storage.API.
func (c *Client) ID(ctx context.Context) (storage.Identity, error) {
	var out storage.Identity
	err := c.getJSON(ctx, http.MethodGet, "id", nil, nil, "", &out)
	return out, err
}

// Connect implements storage.API.
func (c *Client) Connect(ctx context.Context, addr string) error {
	var out map[string]string
	return c.getJSON(ctx, http.MethodPost, "peers/connect", url.Values{"arg": {addr}}, nil, "", &out)
}

// Peers implements storage.API.
func (c *Client) Peers(ctx context.Context) ([]storage.PeerInfo, error) {
	var out []storage.PeerInfo
	err := c.getJSON(ctx, http.MethodGet, "peers/ls", nil, nil, "", &out)
	return out, err
}
