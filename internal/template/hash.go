package template

import (
	"crypto/sha1"
	"encoding/hex"
	"math/bits"
	"strings"
)

// uniqueString is ARM's uniqueString(): the arguments joined with "-",
// hashed with Resource Manager's 64-bit MurmurHash variant (two 32-bit
// MurmurHash3 lanes over 8-byte blocks), written as 13 characters of
// lower-case base32. The same inputs give the same name Azure gives, so a
// storage account called concat('sa', uniqueString(resourceGroup().id))
// has the name it has in Azure.
func uniqueString(parts []string) string {
	h := murmurHash64([]byte(strings.Join(parts, "-")))
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	var out [13]byte
	for i := range out {
		out[i] = alphabet[h>>59]
		h <<= 5
	}
	return string(out[:])
}

func murmurHash64(data []byte) uint64 {
	const (
		c1 = 0x239b961b
		c2 = 0xab0e9789
	)
	var h1, h2 uint32
	le32 := func(b []byte) uint32 {
		var v uint32
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint32(b[i])
		}
		return v
	}
	// mix scrambles one 4-byte block of a lane.
	mix := func(k, ca, cb uint32, r int) uint32 {
		k *= ca
		k = bits.RotateLeft32(k, r)
		return k * cb
	}
	i := 0
	for ; i+8 <= len(data); i += 8 {
		h1 ^= mix(le32(data[i:i+4]), c1, c2, 15)
		h1 = bits.RotateLeft32(h1, 19) + h2
		h1 = h1*5 + 0x561ccd1b
		h2 ^= mix(le32(data[i+4:i+8]), c2, c1, 17)
		h2 = bits.RotateLeft32(h2, 13) + h1
		h2 = h2*5 + 0x0bcaa747
	}
	if tail := data[i:]; len(tail) > 0 {
		h1 ^= mix(le32(tail[:min(len(tail), 4)]), c1, c2, 15)
		if len(tail) > 4 {
			h2 ^= mix(le32(tail[4:]), c2, c1, 17)
		}
	}
	h1 ^= uint32(len(data))
	h2 ^= uint32(len(data))
	h1 += h2
	h2 += h1
	h1 = fmix32(h1)
	h2 = fmix32(h2)
	h1 += h2
	h2 += h1
	return uint64(h2)<<32 | uint64(h1)
}

func fmix32(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// guidNamespace is the namespace Resource Manager's guid() hashes under.
var guidNamespace = [16]byte{0x11, 0xfb, 0x06, 0xfb, 0x71, 0x2d, 0x4d, 0xdd, 0x98, 0xc7, 0xe7, 0x1b, 0xbd, 0x58, 0x88, 0x30}

// guid is ARM's guid(): a name-based (SHA-1, version 5) UUID of the
// arguments joined with "-" under the namespace
// 11fb06fb-712d-4ddd-98c7-e71bbd588830, so role assignment names come out
// as they do in Azure.
func guid(parts []string) string {
	h := sha1.New()
	h.Write(guidNamespace[:])
	h.Write([]byte(strings.Join(parts, "-")))
	sum := h.Sum(nil)
	sum[6] = sum[6]&0x0f | 0x50
	sum[8] = sum[8]&0x3f | 0x80
	x := hex.EncodeToString(sum[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}
