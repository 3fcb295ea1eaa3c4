package train

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// encodedRecord is the JSON form EncodeInstruction and EncodePreference
// write: fields in this order, absent ones omitted.
type encodedRecord struct {
	Prompt   *string   `json:"prompt,omitempty"`
	Messages []Message `json:"messages,omitempty"`
	Response *string   `json:"response,omitempty"`
	Chosen   *string   `json:"chosen,omitempty"`
	Rejected *string   `json:"rejected,omitempty"`
}

// EncodeInstruction returns one SFT record line (with its newline), the
// form a feedback contribution stores: {"prompt","response"} when msgs is
// nil, else the chat form {"messages": msgs + the assistant's response}.
// The line is checked by decoding it, so what it returns trains.
func EncodeInstruction(prompt string, msgs []Message, response string) ([]byte, error) {
	rec := encodedRecord{Response: &response}
	if msgs != nil {
		rec = encodedRecord{Messages: append(append([]Message(nil), msgs...), Message{Role: "assistant", Content: response})}
	} else {
		rec.Prompt = &prompt
	}
	return encodeChecked(rec, KindSFT)
}

// EncodePreference returns one DPO record line (with its newline):
// {"prompt","chosen","rejected"} when msgs is nil, else
// {"messages","chosen","rejected"}. The line is checked by decoding it.
func EncodePreference(prompt string, msgs []Message, chosen, rejected string) ([]byte, error) {
	rec := encodedRecord{Chosen: &chosen, Rejected: &rejected}
	if msgs != nil {
		rec.Messages = msgs
	} else {
		rec.Prompt = &prompt
	}
	return encodeChecked(rec, KindDPO)
}

func encodeChecked(rec encodedRecord, kind string) ([]byte, error) {
	if rec.Messages != nil && len(rec.Messages) == 0 {
		return nil, fmt.Errorf("train: a chat record needs messages")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil {
		return nil, fmt.Errorf("train: record: %w", err)
	}
	if buf.Len() > MaxRecordLine {
		return nil, fmt.Errorf("train: record of %d bytes exceeds %d", buf.Len(), MaxRecordLine)
	}
	got, err := decodeRecord(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	if err != nil {
		return nil, fmt.Errorf("train: record: %w", err)
	}
	if got.Kind != kind {
		return nil, fmt.Errorf("train: record decodes as %s, not %s", got.Kind, kind)
	}
	return buf.Bytes(), nil
}
