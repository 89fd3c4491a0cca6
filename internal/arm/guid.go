package arm

import (
	"crypto/rand"
	"encoding/hex"
)

// NewGUID is a random GUID, the form of role assignment and operation
// names.
func NewGUID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error since Go 1.24)
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
