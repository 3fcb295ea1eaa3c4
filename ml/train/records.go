package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Training kinds. KindText (the empty string) trains next-token prediction
// on raw text; KindSFT and KindDPO read JSON-lines records (docs/feedback-records.md).
const (
	KindText = ""
	KindSFT  = "sft"
	KindDPO  = "dpo"
)

// The built-in engine's default chat template (docs/openai-api.md, the one
// the provider renders for chat requests): each message as
// "<|role|>\ncontent\n", then the generation prompt "<|assistant|>\n". A
// trained assistant turn ends with ChatTurnEnd, the provider's stop
// sequence, so the model learns to end its turn where the provider cuts.
const (
	ChatGenPrompt = "<|assistant|>\n"
	ChatTurnEnd   = "\n<|"
)

// Chat roles a record's messages may use.
var chatRoles = map[string]bool{"system": true, "user": true, "assistant": true}

// MaxRecordLine bounds one JSON line (bytes).
const MaxRecordLine = 1 << 20

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// RenderChat renders messages with the default template, ending with the
// generation prompt.
func RenderChat(msgs []Message) string {
	var sb strings.Builder
	for _, m := range msgs {
		sb.WriteString("<|" + m.Role + "|>\n" + m.Content + "\n")
	}
	sb.WriteString(ChatGenPrompt)
	return sb.String()
}

// Record is one decoded training record, rendered to text: Prompt is
// conditioned on (never scored); Response (SFT) or Chosen and Rejected
// (DPO) are the scored continuations.
type Record struct {
	Kind     string // KindSFT or KindDPO
	Source   string // file name and line, for errors
	Prompt   string
	Response string
	Chosen   string
	Rejected string
}

// rawRecord is the JSON form of every record kind.
type rawRecord struct {
	Prompt   *string   `json:"prompt"`
	Messages []Message `json:"messages"`
	Response *string   `json:"response"`
	Chosen   *string   `json:"chosen"`
	Rejected *string   `json:"rejected"`
}

// DecodeRecords reads JSON-lines records from r; name is used in errors,
// which name the line. Blank lines are skipped. A record with "chosen" or
// "rejected" is a preference (DPO) record, any other an instruction (SFT)
// record; one file may hold both kinds:
//
// SFT:  {"prompt": P, "response": R}  or  {"messages": [..., {"role":"assistant","content":R}]}
// DPO:  {"prompt": P, "chosen": C, "rejected": R}  or  {"messages": [...], "chosen": C, "rejected": R}
//
// A chat-form prompt is the rendered messages (before the final assistant
// message, for SFT) plus the generation prompt; its scored continuations end
// with ChatTurnEnd. A plain prompt and its continuations are used as given.
func DecodeRecords(r io.Reader, name string) ([]Record, error) {
	br := bufio.NewReader(r)
	var out []Record
	for line := 1; ; line++ {
		b, err := readLine(br)
		if err == io.EOF && len(b) == 0 {
			break
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("train: %s:%d: %w", name, line, err)
		}
		if len(bytes.TrimSpace(b)) > 0 {
			rec, derr := decodeRecord(b)
			if derr != nil {
				return nil, fmt.Errorf("train: %s:%d: %w", name, line, derr)
			}
			rec.Source = fmt.Sprintf("%s:%d", name, line)
			out = append(out, rec)
		}
		if err == io.EOF {
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("train: %s has no records", name)
	}
	return out, nil
}

// readLine returns the next line without its newline, or an error if it
// exceeds MaxRecordLine.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxRecordLine+1 {
			return nil, fmt.Errorf("line longer than %d bytes", MaxRecordLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r")), err
	}
}

func decodeRecord(b []byte) (Record, error) {
	if !utf8.Valid(b) {
		return Record{}, errors.New("not valid UTF-8")
	}
	var raw rawRecord
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return Record{}, fmt.Errorf("malformed JSON record: %w", err)
	}
	if dec.More() {
		return Record{}, errors.New("malformed JSON record: more than one value on the line")
	}
	var rec Record
	switch {
	case raw.Prompt != nil && raw.Messages != nil:
		return rec, errors.New(`a record has "prompt" or "messages", not both`)
	case raw.Prompt == nil && raw.Messages == nil:
		return rec, errors.New(`a record needs "prompt" or "messages"`)
	}
	msgs := raw.Messages
	for i, m := range msgs {
		if !chatRoles[m.Role] {
			return rec, fmt.Errorf("message %d: role %q (want system, user or assistant)", i, m.Role)
		}
	}
	chat := raw.Messages != nil
	end := ""
	if chat {
		end = ChatTurnEnd
	}
	rec.Kind = KindSFT
	if raw.Chosen != nil || raw.Rejected != nil {
		rec.Kind = KindDPO
	}
	switch rec.Kind {
	case KindSFT:
		if chat {
			if raw.Response != nil {
				return rec, errors.New(`a chat SFT record's response is its last message, not "response"`)
			}
			if len(msgs) < 2 || msgs[len(msgs)-1].Role != "assistant" {
				return rec, errors.New("a chat SFT record needs at least one message before a final assistant message")
			}
			raw.Response = &msgs[len(msgs)-1].Content
			msgs = msgs[:len(msgs)-1]
		}
		if raw.Response == nil || *raw.Response == "" {
			return rec, errors.New("empty response")
		}
		rec.Response = *raw.Response + end
	case KindDPO:
		if raw.Response != nil {
			return rec, errors.New(`a record has "response" (instruction) or "chosen" and "rejected" (preference), not both`)
		}
		if raw.Chosen == nil || *raw.Chosen == "" || raw.Rejected == nil || *raw.Rejected == "" {
			return rec, errors.New(`a preference record needs non-empty "chosen" and "rejected"`)
		}
		if *raw.Chosen == *raw.Rejected {
			return rec, errors.New("chosen and rejected are the same text (the pair expresses no preference)")
		}
		rec.Chosen, rec.Rejected = *raw.Chosen+end, *raw.Rejected+end
	}
	if chat {
		if len(msgs) == 0 {
			return rec, errors.New("empty prompt: no messages before the answer")
		}
		rec.Prompt = RenderChat(msgs)
	} else {
		rec.Prompt = *raw.Prompt
	}
	if strings.TrimSpace(rec.Prompt) == "" {
		return rec, errors.New("empty prompt")
	}
	return rec, nil
}
