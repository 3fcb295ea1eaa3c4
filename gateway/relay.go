package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/provider/p2pinfer"
	"github.com/openledger/openledger/provider/sessions"
)

// attempt runs the request on one provider.
func (g *Gateway) attempt(w http.ResponseWriter, r *http.Request, req *request, o Offer) error {
	ctx := r.Context()
	price := sessions.Price{Compute: o.Compute.Amount, Royalty: o.Royalty.Amount}
	ls, err := g.session(ctx, o, req.deployment, price.Cost(req.total()))
	if err != nil {
		return fmt.Errorf("%w: %v", errRetry, err)
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.lastUsed = time.Now()
	s := ls.s
	// The provider is reached as its current offer and this gateway's
	// transport say (persisted with the next voucher).
	if u := g.baseURL(o); u != "" {
		s.APIURL = u
	}
	if p2pinfer.IsURL(s.APIURL) && g.cfg.P2P != nil {
		if err := p2pinfer.AddAddrs(g.cfg.P2P, o.PeerID, o.Multiaddrs); err != nil {
			return fmt.Errorf("%w: %v", errDrop, err)
		}
	}
	covered := s.Tokens // what this session's vouchers paid for before this request
	for try := 0; try < 3; try++ {
		if s.Final {
			return fmt.Errorf("%w: session %d was finalised", errRetry, s.ID)
		}
		// Top up when the next voucher would exceed the deposit.
		next := s.price().Cost(sessions.Reserve(s.Tokens, s.Served, req.total()))
		if next.GT(s.deposit()) {
			if err := g.topUp(ctx, s, next.Sub(s.deposit())); err != nil {
				return fmt.Errorf("%w: %v", errRetry, err)
			}
		}
		v, err := g.nextVoucher(s, req.total(), false)
		if err != nil {
			return err
		}
		start := time.Now()
		resp, err := g.send(ctx, s.APIURL+req.path, req.body, v)
		if err != nil {
			return fmt.Errorf("%w: %v", errRetry, err)
		}
		if resp.StatusCode == http.StatusOK {
			g.noteOK(o.Operator, time.Since(start))
			return g.relay(w, resp, req, s)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		var eb openai.ErrorBody
		_ = json.Unmarshal(body, &eb)
		code := ""
		if eb.Error.Code != nil {
			code = *eb.Error.Code
		}
		switch {
		case code == "receipts_out_of_sync" || code == "voucher_replayed":
			if err := g.resync(ctx, s, covered); err != nil {
				return fmt.Errorf("%w: resync: %v", errDrop, err)
			}
			continue
		case code == "exceeds_deposit":
			continue // the top-up above runs again
		case code == "session_closed":
			g.finalise(s)
			return fmt.Errorf("%w: session %d closed: %s", errRetry, s.ID, eb.Error.Message)
		case code == "insufficient_voucher" || code == "invalid_signature":
			// Our vouchers follow the protocol at the agreed price.
			return fmt.Errorf("%w: refused a voucher at the agreed price: %s", errDrop, eb.Error.Message)
		case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
			return fmt.Errorf("%w: %d %s", errRetry, resp.StatusCode, eb.Error.Message)
		default: // the application's error (400, 404, 413): pass it on
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(resp.StatusCode)
			_, _ = w.Write(body)
			return &passthrough{fmt.Errorf("provider answered %d", resp.StatusCode)}
		}
	}
	return fmt.Errorf("%w: session %d did not resynchronise", errDrop, s.ID)
}

func (g *Gateway) send(ctx context.Context, url string, body []byte, v voucher.Voucher) (*http.Response, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set(openai.HeaderVoucher, v.Encode())
	return g.do(hr)
}

// verify checks a receipt against the request (the exact body sent: send
// passes req.body unchanged over HTTP and libp2p) and the bytes received.
func (g *Gateway) verify(s *session, req *request, enc string, output []byte, usage *openai.Usage) (voucher.Receipt, error) {
	rc, err := openai.DecodeReceipt(enc)
	if err != nil {
		return rc, fmt.Errorf("%w: receipt: %v", errDrop, err)
	}
	acc := s.acc()
	switch {
	case rc.VerifyPeer(s.PeerID) != nil:
		return rc, fmt.Errorf("%w: receipt not signed by the provider's registered peer id %s", errDrop, s.PeerID)
	case rc.ChainID != g.chain.ChainID() || rc.Provider != s.Provider || rc.SessionID != s.ID:
		return rc, fmt.Errorf("%w: receipt for %s/%s/session %d", errDrop, rc.ChainID, rc.Provider, rc.SessionID)
	case rc.RequestSeq != acc.Len()+1:
		return rc, fmt.Errorf("%w: receipt request seq %d, want %d", errDrop, rc.RequestSeq, acc.Len()+1)
	case rc.RequestSHA256 != sha256.Sum256(req.body):
		return rc, fmt.Errorf("%w: the receipt's request digest is not the sha256 of the %d-byte body sent", errDrop, len(req.body))
	case rc.OutputSHA256 != sha256.Sum256(output):
		return rc, fmt.Errorf("%w: the receipt's output digest does not match the %d bytes received", errDrop, len(output))
	case rc.PromptTokens > req.bound:
		return rc, fmt.Errorf("%w: over-charged: %d prompt tokens for a prompt bound of %d", errDrop, rc.PromptTokens, req.bound)
	case rc.CompletionTokens > req.maxTokens:
		return rc, fmt.Errorf("%w: over-charged: %d completion tokens, max_tokens %d", errDrop, rc.CompletionTokens, req.maxTokens)
	case usage != nil && (usage.PromptTokens != rc.PromptTokens || usage.CompletionTokens != rc.CompletionTokens):
		return rc, fmt.Errorf("%w: usage %d+%d differs from the receipt's %d+%d", errDrop, usage.PromptTokens, usage.CompletionTokens, rc.PromptTokens, rc.CompletionTokens)
	}
	return rc, nil
}

// record appends a verified receipt to the session. It is persisted with the
// next voucher (before that is sent): a receipt lost in a crash is recovered
// from the provider (resync), so no fsync is spent on it here.
func (g *Gateway) record(s *session, rc voucher.Receipt) {
	acc := s.acc()
	acc.Append(rc.LeafHash())
	b, _ := acc.MarshalBinary()
	s.Acc = b
	s.Served += rc.PromptTokens + rc.CompletionTokens
}

// relay answers the application from a 200 response and checks the receipt.
func (g *Gateway) relay(w http.ResponseWriter, resp *http.Response, req *request, s *session) error {
	defer resp.Body.Close()
	if !req.stream || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err != nil {
			return fmt.Errorf("%w: reading the response: %v", errRetry, err)
		}
		var out struct {
			Choices []struct {
				Text    string `json:"text"`
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
			Usage *openai.Usage `json:"usage"`
		}
		if err := json.Unmarshal(body, &out); err != nil || len(out.Choices) != 1 {
			return fmt.Errorf("%w: malformed response", errDrop)
		}
		text := out.Choices[0].Text + out.Choices[0].Message.Content
		rc, err := g.verify(s, req, resp.Header.Get(openai.HeaderReceipt), []byte(text), out.Usage)
		if err != nil {
			return err
		}
		if err := g.keep(s, req, rc, text); err != nil {
			return err
		}
		req.verified(s, rc)
		id := RequestID(s.ID, rc.RequestSeq)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(HeaderRequest, id)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(withRequestID(body, id))
		return nil
	}
	// Streamed: pass every event through as it arrives, strip the receipt.
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	// The id this request gets if its receipt checks (the receipt's sequence
	// must be the next one); the final chunk carries it once it does.
	acc0 := s.acc()
	w.Header().Set(HeaderRequest, RequestID(s.ID, acc0.Len()+1))
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	var text bytes.Buffer
	var receipt string
	var usage *openai.Usage
	var verr error // the receipt did not check
	kept := false
	done := false // the provider ended its stream (data: [DONE])
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			out := line
			done = done || bytes.Equal(bytes.TrimRight(line, "\r\n"), []byte("data: [DONE]"))
			if data, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("data: ")); ok && !bytes.Equal(data, []byte("[DONE]")) {
				var ev struct {
					Choices []struct {
						Text  string `json:"text"`
						Delta struct {
							Content string `json:"content"`
						} `json:"delta"`
					} `json:"choices"`
					Usage      *openai.Usage     `json:"usage"`
					Openledger *openai.Extension `json:"openledger"`
				}
				if json.Unmarshal(data, &ev) == nil {
					for _, c := range ev.Choices {
						text.WriteString(c.Text)
						text.WriteString(c.Delta.Content)
					}
					if ev.Usage != nil {
						usage = ev.Usage
					}
					if ev.Openledger != nil && receipt == "" {
						// The receipt comes last: check it against the whole
						// text, persist it, and only then release the chunk,
						// carrying the request id instead of the receipt.
						receipt = ev.Openledger.Receipt
						out = stripExtension(data)
						rc, err := g.verify(s, req, receipt, text.Bytes(), usage)
						if err == nil {
							err = g.keep(s, req, rc, text.String())
						}
						if err != nil {
							verr = err
						} else {
							kept = true
							req.verified(s, rc)
							out = append(append([]byte("data: "), withRequestID(bytes.TrimSuffix(out[len("data: "):], []byte("\n")), RequestID(s.ID, rc.RequestSeq))...), '\n')
						}
					}
				}
			}
			_, _ = w.Write(out)
			if fl != nil && len(bytes.TrimSpace(line)) == 0 {
				fl.Flush()
			}
		}
		if err != nil {
			break
		}
	}
	if fl != nil {
		fl.Flush()
	}
	if receipt == "" {
		if !done { // cut (the provider died): say so, as a provider reports an error once streaming began
			c := "provider_stream_cut"
			b, _ := json.Marshal(openai.ErrorBody{Error: openai.ErrorDetail{Message: fmt.Sprintf("the stream from provider %s was cut before its end", s.Provider), Type: "server_error", Code: &c}})
			_, _ = fmt.Fprintf(w, "\ndata: %s\n\ndata: [DONE]\n\n", b)
			if fl != nil {
				fl.Flush()
			}
		}
		return &passthrough{fmt.Errorf("stream from %s ended without a receipt", s.Provider)}
	}
	if !kept {
		if errors.Is(verr, errDrop) {
			g.drop(s.Provider, verr.Error())
		}
		return &passthrough{verr}
	}
	return nil
}

// HeaderRequest carries the id of a served request ("session:S:N"), the
// handle for POST /v1/feedback; the JSON body and the final stream chunk
// carry it as {"openledger":{"request":…}}.
const HeaderRequest = "X-Openledger-Request"

// keep appends a verified receipt to the session's accumulator and to the
// receipt store (fsynced: the response is released after it).
func (g *Gateway) keep(s *session, req *request, rc voucher.Receipt, output string) error {
	if err := g.receipts.Append(StoredReceipt{Session: s.ID, Seq: rc.RequestSeq, Receipt: rc.Marshal(),
		Prompt: req.prompt, Messages: req.messages, Output: output, Known: true}); err != nil {
		return fmt.Errorf("persisting the receipt: %w", err)
	}
	g.record(s, rc)
	return nil
}

// withRequestID adds "openledger":{"request":id} to a JSON object.
func withRequestID(obj []byte, id string) []byte {
	t := bytes.TrimRight(obj, " \r\n\t")
	if len(t) < 2 || t[len(t)-1] != '}' {
		return obj
	}
	ext, _ := json.Marshal(map[string]string{"request": id})
	out := append([]byte(nil), t[:len(t)-1]...)
	if len(bytes.TrimSpace(t[1:len(t)-1])) > 0 {
		out = append(out, ',')
	}
	out = append(append(append(out, `"openledger":`...), ext...), '}')
	return append(out, obj[len(t):]...)
}

func stripExtension(data []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return append(append([]byte("data: "), data...), '\n')
	}
	delete(m, "openledger")
	b, _ := json.Marshal(m)
	return append(append([]byte("data: "), b...), '\n')
}
