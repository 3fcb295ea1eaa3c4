package train

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
)

// Input is one data file of a training run, in order. CID is optional and
// supplied by the caller (storage/ computes CIDs); SHA256 and Bytes are
// filled from the file, and when set beforehand they are checked.
type Input struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	CID    string `json:"cid,omitempty"`
	Bytes  int64  `json:"bytes"`
}

// readInputFiles reads the files in order, fills or checks their digests
// and returns their contents.
func readInputFiles(inputs []Input) ([]Input, [][]byte, error) {
	if len(inputs) == 0 {
		return nil, nil, errors.New("train: no data inputs")
	}
	out := make([]Input, len(inputs))
	files := make([][]byte, len(inputs))
	total := 0
	for i, in := range inputs {
		b, err := os.ReadFile(in.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("train: data input %d: %w", i, err)
		}
		s := sha256.Sum256(b)
		sum := hex.EncodeToString(s[:])
		if in.SHA256 != "" && in.SHA256 != sum {
			return nil, nil, fmt.Errorf("train: data input %s has sha256 %s, expected %s", in.Path, sum, in.SHA256)
		}
		out[i] = Input{Path: in.Path, SHA256: sum, CID: in.CID, Bytes: int64(len(b))}
		files[i] = b
		total += len(b)
	}
	if total == 0 {
		return nil, nil, errors.New("train: the data inputs are empty")
	}
	return out, files, nil
}

// splitHeldOut returns the training bytes and the held-out tail (the last
// fraction of the bytes).
func splitHeldOut(data []byte, fraction float64) (trainPart, evalPart []byte) {
	n := int(float64(len(data)) * fraction)
	return data[:len(data)-n], data[len(data)-n:]
}
