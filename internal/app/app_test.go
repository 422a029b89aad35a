package app_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/app"
	"github.com/hlrz/hlrz/internal/e2e"
)

// The product's two listeners: the public one (what HighLevel and browsers reach) serves
// webhooks, OAuth and /healthz only; the codec, metrics, status and readiness are on the
// internal one, and the codec there wants a credential. Every server cuts off a client that
// sends its body too slowly and refuses oversized headers.
func TestListenersAndLimits(t *testing.T) {
	e := e2e.Start(t, e2e.Options{Tune: func(o *app.Options) {
		o.Config.HTTP.ReadTimeout = 500 * time.Millisecond
		o.Config.HTTP.MaxHeaderBytes = 4 << 10
	}})
	pub, intl := "http://"+e.App.HTTPAddr, "http://"+e.App.InternalAddr
	status := func(method, url string, hdr map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(`{"payloads":[]}`))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	bearer := map[string]string{"Authorization": "Bearer " + e2e.CodecToken}
	for _, tc := range []struct {
		method, url string
		hdr         map[string]string
		want        int
	}{
		{"GET", pub + "/healthz", nil, 200},
		{"GET", pub + "/oauth/start", nil, 404}, // no OAuth app configured: the bridge's own 404
		{"POST", pub + "/codec/decode", bearer, 404},
		{"POST", pub + "/codec/encode", bearer, 404},
		{"GET", pub + "/metrics", nil, 404},
		{"GET", pub + "/status/budgets", nil, 404},
		{"GET", pub + "/readyz", nil, 404},
		{"POST", intl + "/webhooks/ghl", nil, 404},
		{"GET", intl + "/metrics", nil, 200},
		{"GET", intl + "/status/budgets", nil, 200},
		{"GET", intl + "/readyz", nil, 200},
		{"POST", intl + "/codec/decode", nil, 401},
		{"POST", intl + "/codec/decode", map[string]string{"Authorization": "Bearer guess-guess-guess-guess"}, 401},
		{"POST", intl + "/codec/decode", bearer, 200},
	} {
		if got := status(tc.method, tc.url, tc.hdr); got != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.url, got, tc.want)
		}
	}

	// A client that announces a body and then sends it slowly is cut off by the read timeout
	// instead of holding a connection (and a webhook slot) for as long as it likes.
	for _, addr := range []string{e.App.HTTPAddr, e.App.InternalAddr} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		fmt.Fprintf(conn, "POST /webhooks/ghl HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"a\":")
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadAll(conn) // the answer, if any, then EOF when the server closes
		conn.Close()
		if took := time.Since(start); err != nil || took > 5*time.Second {
			t.Errorf("%s: slow-body client held the connection %s (read error %v)", addr, took.Round(time.Millisecond), err)
		}
	}

	// Headers beyond the limit are refused (431) before any handler runs.
	conn, err := net.Dial("tcp", e.App.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", bytes.Repeat([]byte("a"), 16<<10))
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if !strings.Contains(line, "431") {
		t.Errorf("oversized headers answered %q, want 431", line)
	}
}
