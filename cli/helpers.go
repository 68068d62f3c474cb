package cli

import (
	"encoding/json"
	"io"
)

// writeJSONLine writes v as one compact JSON line (streams: watch, events).
func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
