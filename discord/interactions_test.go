package discord_test

import (
	"net/http"
	"testing"
)

func TestInteractionCallbacksPassWithoutTheToken(t *testing.T) {
	e := newEnv(t, generous)
	e.addSandbox(betaID, "beta", true, g9)
	for _, envelope := range []bool{false, true} {
		ix := e.route(alphaID, envelope, 2)
		// Discord libraries send callbacks without Authorization; the interaction says whose it is.
		if r := e.do("POST", callbackPath(ix), "", `{"type":4,"data":{"content":"pong"}}`); r.Status != 200 {
			t.Fatalf("callback (envelope=%v): %d %s", envelope, r.Status, r.Body)
		}
		s := e.fake.requests()[e.fake.count()-1]
		if s.Path != upstreamCallback(ix) || s.Auth != "" || s.Body != `{"type":4,"data":{"content":"pong"}}` {
			t.Fatalf("callback reached Discord as %+v", s)
		}
		// Follow-ups, with or without the sandbox's token, also go without the bot token.
		for _, tc := range []struct{ method, path, token string }{
			{"POST", "/api/v10/webhooks/" + appID + "/" + ix.Token, ""},
			{"PATCH", "/api/v10/webhooks/" + appID + "/" + ix.Token + "/messages/@original", e.token(alphaID)},
			{"DELETE", "/api/v10/webhooks/" + appID + "/" + ix.Token + "/messages/812345678901234567", ""},
		} {
			if r := e.do(tc.method, tc.path, tc.token, `{"content":"more"}`); r.Status != 200 {
				t.Fatalf("%s %s: %d %s", tc.method, tc.path, r.Status, r.Body)
			}
			if s := e.fake.requests()[e.fake.count()-1]; s.Auth != "" {
				t.Fatalf("%s %s reached Discord with Authorization %q", tc.method, tc.path, s.Auth)
			}
		}
	}
	// Another sandbox cannot answer alpha's interaction, nor can a wrong id or application.
	ix := e.route(alphaID, false, 2)
	before := e.fake.count()
	for _, tc := range []struct{ path, token string }{
		{callbackPath(ix), e.token(betaID)},
		{"/api/v10/interactions/712345678901234567/" + ix.Token + "/callback", ""},
		{"/api/v10/webhooks/999999999999999998/" + ix.Token, ""},
		{"/api/v10/webhooks/" + appID + "/" + ix.Token + "/messages/@original/extra", ""},
	} {
		if r := e.do("POST", tc.path, tc.token, `{"type":4}`); r.Status == http.StatusOK {
			t.Errorf("POST %s with %q was forwarded", tc.path, tc.token)
		}
	}
	// An interaction routed to beta is beta's.
	ixb := e.route(betaID, true, 2)
	if r := e.do("POST", callbackPath(ixb), e.token(alphaID), `{"type":4}`); r.Status != http.StatusForbidden {
		t.Errorf("alpha answered beta's interaction: %d", r.Status)
	}
	if n := e.fake.count(); n != before {
		t.Fatalf("Discord saw %d refused callbacks", n-before)
	}
}
