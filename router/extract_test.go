package router_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
)

func TestGuildID(t *testing.T) {
	const g = "123456789012345678"
	for _, tc := range []struct {
		payload string
		want    string
		err     error
	}{
		{`{"event_id":"x","event_type":"member.join","guild_id":"` + g + `","data":{"guild_id":"999999999999999999"}}`, g, nil},
		{`{"op":0,"t":"GUILD_MEMBER_ADD","s":42,"d":{"guild_id":"` + g + `","user":{}}}`, g, nil},
		{`{"guild_id":null,"d":{"guild_id":"` + g + `"}}`, g, nil},
		{`{"guild_id":` + g + `}`, g, nil},
		{`  {"guild_id":"` + g + `"}`, g, nil},
		{`{"event_type":"ready","guild_id":null}`, "", nil},
		{`{"op":11,"d":null}`, "", nil},
		{`{"op":1,"d":42}`, "", nil},
		{`{"guild_id":"not-a-snowflake"}`, "", nil},
		{`{"guild_id":"12"}`, "", nil},
		{`{"data":{"guild_id":"` + g + `"}}`, "", nil}, // only the documented places count
		{`not json`, "", router.ErrNotJSON},
		{`["guild_id"]`, "", router.ErrNotJSON},
		{`{"guild_id":"` + g + `"`, "", router.ErrNotJSON},
		{"\xff\x00\xfe", "", router.ErrNotJSON},
		{``, "", router.ErrNotJSON},
	} {
		got, err := router.GuildID([]byte(tc.payload))
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("GuildID(%.60q) = %q, %v; want %q, %v", tc.payload, got, err, tc.want, tc.err)
		}
	}
	huge := `{"data":"` + strings.Repeat("x", 2<<20) + `","guild_id":"` + g + `"}`
	if got, err := router.GuildID([]byte(huge)); got != g || err != nil {
		t.Errorf("huge payload: %q %v", got, err)
	}
}

func FuzzGuildID(f *testing.F) {
	for _, s := range []string{`{"guild_id":"123456789012345678"}`, `{"d":{"guild_id":"123456789012345678"}}`,
		`{"d":null}`, `x`, `{"guild_id":1e400}`, `{"d":{"guild_id":[1]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := router.GuildID(b)
		if err != nil && g != "" {
			t.Fatalf("guild %q with error %v", g, err)
		}
		if g != "" && (len(g) < 17 || len(g) > 20) {
			t.Fatalf("GuildID returned %q", g)
		}
	})
}

// referenceGuildID is the straightforward encoding/json version GuildID must agree with.
func referenceGuildID(payload []byte) (string, bool) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(payload, &top); err != nil || top == nil {
		return "", false
	}
	flake := func(raw json.RawMessage) string {
		var s string
		if len(raw) > 0 && raw[0] == '"' {
			if json.Unmarshal(raw, &s) != nil || strings.Contains(string(raw), `\`) {
				return ""
			}
		} else {
			s = string(raw)
		}
		if sandbox.ValidateGuildID(s) != nil {
			return ""
		}
		return s
	}
	if g := flake(top["guild_id"]); g != "" {
		return g, true
	}
	if d := top["d"]; len(d) > 0 && d[0] == '{' {
		var inner map[string]json.RawMessage
		if json.Unmarshal(d, &inner) == nil {
			return flake(inner["guild_id"]), true
		}
	}
	return "", true
}

func FuzzGuildIDMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{`{"guild_id":"123456789012345678"}`, `{"d":{"guild_id":"123456789012345678"}}`,
		`{"a":[1,{"b":"\u00e9"}],"guild_id":123456789012345678}`, `{"guild_id":"1","guild_id":"123456789012345678"}`,
		`{"x":-0.5e+3,"y":true,"z":null}`, `{"s":"\ud800"}`, `{"bad":01}`, `{"a":"` + "\x01" + `"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := router.GuildID(b)
		want, valid := referenceGuildID(b)
		if (err == nil) != valid || got != want {
			t.Fatalf("GuildID(%q) = %q, %v; encoding/json says %q, valid %v", b, got, err, want, valid)
		}
	})
}
