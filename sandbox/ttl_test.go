package sandbox_test

import (
	"errors"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gaib/sandbox"
)

// The longest TTL a time.Duration holds is about 15250 weeks; anything longer is refused,
// never wrapped around into a short one ("30501w" once became "3d25m26s").
func TestParseTTLRejectsOverflow(t *testing.T) {
	for _, bad := range []string{"30501w", "15251w", "106752d", "15250w2d", "15250w1d23h48m",
		"2562048h", "9223372036854775807ns1ns", "1w2562047h", "65535w", "18446744073709551615w", "18446744073709551617d"} {
		if d, err := sandbox.ParseTTL(bad); !errors.Is(err, &sandbox.Error{Code: sandbox.CodeInvalidTTL}) {
			t.Errorf("ParseTTL(%q) = %v (%s), %v; want invalid_ttl", bad, d, sandbox.FormatTTL(d), err)
		}
	}
	for in, want := range map[string]time.Duration{
		"15250w": 15250 * 7 * 24 * time.Hour, "106751d": 106751 * 24 * time.Hour, "2562047h": 2562047 * time.Hour,
		"15250w1d23h47m": (106751*24+23)*time.Hour + 47*time.Minute, "65535d": 65535 * 24 * time.Hour,
	} {
		if got, err := sandbox.ParseTTL(in); err != nil || got != want {
			t.Errorf("ParseTTL(%q) = %v, %v", in, got, err)
		}
	}
}

// FuzzParseTTLExact compares every accepted TTL with the same sum computed without
// overflow: what ParseTTL returns is exactly what the text says.
func FuzzParseTTLExact(f *testing.F) {
	for _, s := range []string{"30501w", "1w1d1h", "15250w", "106751d23h", "1d", "2562047h47m16s854775807ns", "0w1s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := sandbox.ParseTTL(s)
		if err != nil {
			return
		}
		want, ok := exactTTL(s)
		if !ok || want.Cmp(big.NewInt(int64(d))) != 0 {
			t.Fatalf("ParseTTL(%q) = %d, the text says %v (parsable %v)", s, d, want, ok)
		}
	})
}

// exactTTL is the number of nanoseconds s stands for, in arbitrary precision: weeks and
// days first, then a Go duration, which time.ParseDuration itself checks for overflow.
func exactTTL(s string) (*big.Int, bool) {
	total := new(big.Int)
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"w", int64(7 * 24 * time.Hour)}, {"d", int64(24 * time.Hour)}} {
		before, after, ok := strings.Cut(s, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(before, 10, 64)
		if err != nil {
			return nil, false
		}
		total.Add(total, new(big.Int).Mul(new(big.Int).SetUint64(n), big.NewInt(u.size)))
		s = after
	}
	if s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, false
		}
		total.Add(total, big.NewInt(int64(d)))
	}
	return total, true
}
