package bridge_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/hlrz/hlrz/internal/bridge"
	"github.com/hlrz/hlrz/internal/store"
)

// Every Marketplace app's events are signed with HighLevel's one key: an UNINSTALL another
// app's developer replays to our URL must not pause our connection, and their INSTALL must
// not create one (issue 15, item 3; reproduced against worker --dev before the fix).
func TestRelayIgnoresOtherAppsInstallEvents(t *testing.T) {
	life := &lifecycle{}
	f := newFixture(t, func(c *bridge.Config) { c.Schedules = life })
	ctx := context.Background()
	const newLoc = "OtherAppsLocation001"

	cases := []struct {
		name string
		body []byte
	}{
		{"uninstall of another app for our location", payload("UNINSTALL", testLocation, map[string]any{"appId": "someoneElsesApp"})},
		{"uninstall without appId", payload("UNINSTALL", testLocation, nil)},
		{"uninstall with empty appId", payload("UNINSTALL", testLocation, map[string]any{"appId": ""})},
		{"install of another app", payload("INSTALL", newLoc, map[string]any{"appId": "someoneElsesApp", "companyId": "C1"})},
		{"install without appId", payload("INSTALL", newLoc, map[string]any{"companyId": "C1"})},
		{"bulk install of another app", payload("INSTALL", "", map[string]any{"appId": "someoneElsesApp", "companyId": "C1", "locationIds": []string{newLoc, "OtherAppsLocation002"}, "locationId": nil})},
		// The app id is compared exactly: a prefix of ours or ours with a suffix is not ours.
		{"install of an app whose id extends ours", payload("INSTALL", newLoc, map[string]any{"appId": testAppID + "x"})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.mustPost(tc.body, http.StatusOK) // acknowledged: HighLevel must not retry it
			f.drain()
			row := f.inboxByKey(webhookID(t, tc.body))
			if row.State != store.InboxIgnored || !strings.Contains(row.Note, "app") {
				t.Errorf("row %s %q, want ignored with the reason", row.State, row.Note)
			}
		})
	}
	conn, err := f.store.GetConnection(ctx, testConnID)
	if err != nil {
		t.Fatal(err)
	}
	if conn.Status != store.ConnActive {
		t.Errorf("our connection is %s (%s) after other apps' events, want active", conn.Status, conn.StatusReason)
	}
	if p := life.pauses(); len(p) != 0 {
		t.Errorf("schedules paused %v by other apps' events", p)
	}
	for _, loc := range []string{newLoc, "OtherAppsLocation002"} {
		if _, err := f.store.ConnectionByLocation(ctx, loc); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("another app's install created a connection for %s: %v", loc, err)
		}
	}
	if n := strings.Count(f.logs.String(), "app event ignored"); n < len(cases) {
		t.Errorf("%d log lines say an app event was ignored, want one per event (%d)", n, len(cases))
	}

	// The same events with our app id do act: the filter is the app id, nothing else.
	ours := payload("UNINSTALL", testLocation, map[string]any{"appId": testAppID})
	f.mustPost(ours, http.StatusOK)
	f.drain()
	if conn, _ := f.store.GetConnection(ctx, testConnID); conn.Status != store.ConnPaused {
		t.Errorf("our own UNINSTALL: status %s, want paused", conn.Status)
	}
	install := payload("INSTALL", newLoc, map[string]any{"appId": testAppID})
	f.mustPost(install, http.StatusOK)
	f.drain()
	if _, err := f.store.ConnectionByLocation(ctx, newLoc); err != nil {
		t.Errorf("our own INSTALL created no connection: %v", err)
	}
}

// A bridge that does not know its app id (no OAuth client configured) acts on no app event.
func TestRelayWithoutAppIDIgnoresAppEvents(t *testing.T) {
	f := newFixture(t, func(c *bridge.Config) { c.AppID = "" })
	ctx := context.Background()
	un := payload("UNINSTALL", testLocation, map[string]any{"appId": testAppID})
	f.mustPost(un, http.StatusOK)
	in := payload("INSTALL", "NoAppLocation0000001", map[string]any{"appId": testAppID})
	f.mustPost(in, http.StatusOK)
	f.drain()
	for _, body := range [][]byte{un, in} {
		if row := f.inboxByKey(webhookID(t, body)); row.State != store.InboxIgnored || !strings.Contains(row.Note, "HLRZ_GHL_CLIENT_ID") {
			t.Errorf("row %s %q, want ignored naming the missing setting", row.State, row.Note)
		}
	}
	if conn, _ := f.store.GetConnection(ctx, testConnID); conn.Status != store.ConnActive {
		t.Errorf("status %s, want active", conn.Status)
	}
	if _, err := f.store.ConnectionByLocation(ctx, "NoAppLocation0000001"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("install created a connection: %v", err)
	}
}
