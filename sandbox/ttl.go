package sandbox

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseTTL parses a Go duration extended with days (`d`) and weeks (`w`): "90m", "48h",
// "2d", "1w", "1d12h". Zero and negative values are refused, and so is anything longer
// than a time.Duration holds (about 292 years), instead of wrapping around.
func ParseTTL(s string) (time.Duration, error) {
	orig := s
	bad := func() (time.Duration, error) {
		return 0, Errorf(CodeInvalidTTL, "ttl %.30q is not a duration (examples: 90m, 48h, 2d, 1w)", orig)
	}
	var total time.Duration
	add := func(d time.Duration) bool {
		if d < 0 || total > math.MaxInt64-d {
			return false
		}
		total += d
		return true
	}
	for _, unit := range []struct {
		suffix string
		size   time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}} {
		i := strings.Index(s, unit.suffix)
		if i < 0 {
			continue
		}
		n, err := strconv.ParseUint(s[:i], 10, 64)
		if err != nil || n > uint64(math.MaxInt64/unit.size) || !add(time.Duration(n)*unit.size) {
			return bad()
		}
		s = s[i+1:]
	}
	if s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || !add(d) {
			return bad()
		}
	}
	if total <= 0 {
		return bad()
	}
	return total, nil
}

// FormatTTL prints a duration the way ParseTTL reads it, in whole seconds with days for
// whole days: 48h → "2d", 90m → "1h30m", 26h → "1d2h".
func FormatTTL(d time.Duration) string {
	d = d.Round(time.Second)
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		suffix string
		size   time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if n := d / u.size; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.suffix)
			d -= n * u.size
		}
	}
	return b.String()
}

// TTLBounds are the server's limits on a sandbox's time to live.
type TTLBounds struct {
	Default, Min, Max time.Duration
}

// Check refuses a ttl outside [Min, Max] with a message that names the bounds.
func (b TTLBounds) Check(ttl time.Duration) error {
	if ttl < b.Min || ttl > b.Max {
		return Errorf(CodeInvalidTTL, "ttl %s is out of range: it must be between %s and %s",
			FormatTTL(ttl), FormatTTL(b.Min), FormatTTL(b.Max))
	}
	return nil
}
