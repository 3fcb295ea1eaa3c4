// Package api is the local HTTP API of a running `openledgerd ipfs daemon`
// and its client. The daemon owns the repo lock; commands run while it is up
// go through Client, which implements storage.API exactly like *storage.Node.
//
// Routes (all under /api/v0; mutating ones are POST):
//
//	POST add?name=&reason=&nopin=&hidden=&sha256=   multipart body (boxo files) -> AddResult
//	GET  cat?arg=<cid>                      file bytes; errors after the first byte in trailer X-Stream-Error
//	GET  get?arg=<cid>                      tar stream of the file or directory
//	GET  stat?arg=<cid>                     Stat
//	POST pin/add?arg=&reason=  POST pin/rm?arg=&reason=  GET pin/ls
//	POST gc   POST repo/verify?repair=
//	GET  car/export?arg=<cid>               CAR v1 stream
//	POST car/import?reason=&nopin=          CAR body -> CARImportResult
//	GET  id   POST peers/connect?arg=<multiaddr>   GET peers/ls
//
// Errors are JSON {"error": "...", "code": "..."} with a matching status.
// Requests carrying a browser Origin are refused: the API can delete data.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/go-cid"

	"github.com/openledger/openledger/storage"
)

// StreamErrorTrailer carries an error that happened after a streamed
// response had started.
const StreamErrorTrailer = "X-Stream-Error"

// Error codes in JSON error bodies.
const (
	CodeBadRequest = "bad_request"
	CodeNotFound   = "not_found"
	CodeNotPinned  = "not_pinned"
	CodeRepoFull   = "repo_full"
	CodeCorrupt    = "corrupt_block"
	CodeOffline    = "offline"
	CodeInternal   = "internal"
)

type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// NewHandler serves node's API.
func NewHandler(node *storage.Node) http.Handler {
	s := &server{n: node}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v0/add", s.add)
	mux.HandleFunc("GET /api/v0/cat", s.cat)
	mux.HandleFunc("GET /api/v0/get", s.get)
	mux.HandleFunc("GET /api/v0/stat", s.stat)
	mux.HandleFunc("POST /api/v0/pin/add", s.pinAdd)
	mux.HandleFunc("POST /api/v0/pin/rm", s.pinRm)
	mux.HandleFunc("GET /api/v0/pin/ls", s.pinLs)
	mux.HandleFunc("POST /api/v0/gc", s.gc)
	mux.HandleFunc("POST /api/v0/repo/verify", s.verify)
	mux.HandleFunc("GET /api/v0/car/export", s.carExport)
	mux.HandleFunc("POST /api/v0/car/import", s.carImport)
	mux.HandleFunc("GET /api/v0/id", s.id)
	mux.HandleFunc("POST /api/v0/peers/connect", s.connect)
	mux.HandleFunc("GET /api/v0/peers/ls", s.peers)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" || r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			writeErr(w, http.StatusForbidden, CodeBadRequest, errors.New("browser requests are not accepted by the local API"))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

type server struct{ n *storage.Node }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code string, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Error: err.Error(), Code: code})
}

// fail maps a storage error to a status and code.
func fail(w http.ResponseWriter, err error) {
	var corrupt *storage.CorruptBlockError
	switch {
	case errors.As(err, &corrupt):
		writeErr(w, http.StatusInternalServerError, CodeCorrupt, err)
	case errors.Is(err, storage.ErrNotFound):
		writeErr(w, http.StatusNotFound, CodeNotFound, err)
	case errors.Is(err, storage.ErrNotPinned):
		writeErr(w, http.StatusNotFound, CodeNotPinned, err)
	case errors.Is(err, storage.ErrRepoFull):
		writeErr(w, http.StatusInsufficientStorage, CodeRepoFull, err)
	case errors.Is(err, storage.ErrOffline):
		writeErr(w, http.StatusServiceUnavailable, CodeOffline, err)
	default:
		writeErr(w, http.StatusInternalServerError, CodeInternal, err)
	}
}

func argCID(w http.ResponseWriter, r *http.Request) (cid.Cid, bool) {
	c, err := storage.ParseCID(r.URL.Query().Get("arg"))
	if err != nil {
		writeErr(w, http.StatusBadRequest, CodeBadRequest, err)
		return cid.Undef, false
	}
	return c, true
}

func boolArg(r *http.Request, name string) bool {
	b, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return b
}

func (s *server) add(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		writeErr(w, http.StatusBadRequest, CodeBadRequest, errors.New("add expects a multipart/form-data body"))
		return
	}
	dir, err := files.NewFileFromPartReader(multipart.NewReader(r.Body, params["boundary"]), mt)
	if err != nil {
		writeErr(w, http.StatusBadRequest, CodeBadRequest, fmt.Errorf("reading multipart body: %w", err))
		return
	}
	it := dir.Entries()
	if !it.Next() {
		err := it.Err()
		if err == nil {
			err = errors.New("add: the body holds no file")
		}
		writeErr(w, http.StatusBadRequest, CodeBadRequest, err)
		return
	}
	opts := storage.AddOptions{Name: q.Get("name"), PinReason: q.Get("reason"), NoPin: boolArg(r, "nopin"), Hidden: boolArg(r, "hidden"), SHA256: boolArg(r, "sha256")}
	res, err := s.n.Add(r.Context(), it.Node(), opts)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, res)
}

// stream copies src to w, reporting a mid-stream failure in the trailer.
func stream(w http.ResponseWriter, contentType string, write func(io.Writer) error) {
	w.Header().Set("Trailer", StreamErrorTrailer)
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	if err := write(w); err != nil {
		w.Header().Set(StreamErrorTrailer, err.Error())
	}
}

func (s *server) cat(w http.ResponseWriter, r *http.Request) {
	c, ok := argCID(w, r)
	if !ok {
		return
	}
	rc, err := s.n.Cat(r.Context(), c)
	if err != nil {
		fail(w, err)
		return
	}
	defer rc.Close()
	stream(w, "application/octet-stream", func(w io.Writer) error { _, err := io.Copy(w, rc); return err })
}

func (s *server) get(w http.ResponseWriter, r *http.Request) {
	c, ok := argCID(w, r)
	if !ok {
		return
	}
	nd, err := s.n.UnixFS(r.Context(), c)
	if err != nil {
		fail(w, err)
		return
	}
	defer nd.Close()
	stream(w, "application/x-tar", func(w io.Writer) error {
		tw, err := files.NewTarWriter(w)
		if err != nil {
			return err
		}
		if err := tw.WriteFile(nd, c.String()); err != nil {
			return err
		}
		return tw.Close()
	})
}

func (s *server) stat(w http.ResponseWriter, r *http.Request) {
	c, ok := argCID(w, r)
	if !ok {
		return
	}
	st, err := s.n.Stat(r.Context(), c)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, st)
}

func (s *server) pinAdd(w http.ResponseWriter, r *http.Request) {
	c, ok := argCID(w, r)
	if !ok {
		return
	}
	if err := s.n.Pin(r.Context(), c, r.URL.Query().Get("reason")); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, map[string]string{"pinned": c.String()})
}

func (s *server) pinRm(w http.ResponseWriter, r *http.Request) {
	c, ok := argCID(w, r)
	if !ok {
		return
	}
	if err := s.n.Unpin(r.Context(), c, r.URL.Query().Get("reason")); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, map[string]string{"unpinned": c.String()})
}

func (s *server) pinLs(w http.ResponseWriter, r *http.Request) {
	pins, err := s.n.Pins(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, pins)
}

func (s *server) gc(w http.ResponseWriter, r *http.Request) {
	res, err := s.n.GC(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, res)
}

func (s *server) verify(w http.ResponseWriter, r *http.Request) {
	res, err := s.n.Verify(r.Context(), boolArg(r, "repair"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, res)
}

func (s *server) carExport(w http.ResponseWriter, r *http.Request) {
	c, ok := argCID(w, r)
	if !ok {
		return
	}
	// Check the root first so a missing CID is a clean 404, not a broken stream.
	if err := s.n.FetchRoot(r.Context(), c); err != nil {
		fail(w, err)
		return
	}
	stream(w, "application/vnd.ipld.car; version=1", func(w io.Writer) error { return s.n.ExportCAR(r.Context(), c, w) })
}

func (s *server) carImport(w http.ResponseWriter, r *http.Request) {
	res, err := s.n.ImportCAR(r.Context(), r.Body, r.URL.Query().Get("reason"), boolArg(r, "nopin"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, res)
}

func (s *server) id(w http.ResponseWriter, r *http.Request) {
	id, err := s.n.ID(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, id)
}

func (s *server) connect(w http.ResponseWriter, r *http.Request) {
	addr := r.URL.Query().Get("arg")
	if err := s.n.Connect(r.Context(), addr); err != nil {
		if errors.Is(err, storage.ErrOffline) {
			fail(w, err)
			return
		}
		writeErr(w, http.StatusBadGateway, CodeBadRequest, err)
		return
	}
	writeJSON(w, map[string]string{"connected": addr})
}

func (s *server) peers(w http.ResponseWriter, r *http.Request) {
	ps, err := s.n.Peers(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, ps)
}
