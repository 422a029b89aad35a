package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/app"
	"github.com/hlrz/hlrz/internal/config"
	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/testutil/pgtest"
)

func envOf(m map[string]string) config.Getenv { return func(k string) string { return m[k] } }

// Bad configuration stops the binary with a non-zero exit and one line naming the cause.
func TestBadConfigurationExits(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	key := secrets.GenerateSpec("k1")
	db := pgtest.NewDatabase(t)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"missing key", nil, map[string]string{config.EnvDatabaseURL: db}, 2, "HLRZ_ENCRYPTION_KEYS: not set"},
		{"malformed database url", nil, map[string]string{config.EnvKeys: key, config.EnvDatabaseURL: "postgres://u:secret@db:port/x"}, 2, "DATABASE_URL"},
		{"port in use", []string{"--mode", "worker", "--listen", busy.Addr().String(), "--internal-listen", "127.0.0.1:0"}, map[string]string{config.EnvKeys: key, config.EnvDatabaseURL: db}, 1, "HLRZ_LISTEN: cannot listen on " + busy.Addr().String()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, envOf(tc.env), &out, &errOut)
			msg := strings.TrimSpace(errOut.String())
			if code != tc.code || !strings.Contains(msg, tc.want) || strings.Count(msg, "\n") != 0 {
				t.Errorf("exit %d, stderr %q; want exit %d and one line containing %q", code, msg, tc.code, tc.want)
			}
			if strings.Contains(msg, "secret") {
				t.Errorf("stderr echoes a password: %q", msg)
			}
		})
	}
}

// --dev brings up Temporal and the Web UI (HTTP 200), and stops cleanly when asked.
func TestDevStackStartsAndStops(t *testing.T) {
	ports := make([]int, 6)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	args := []string{"--dev", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:" + strconv.Itoa(ports[0]),
		"--temporal-port", strconv.Itoa(ports[1]), "--ui-port", strconv.Itoa(ports[2]),
		"--ghl-sim-port", strconv.Itoa(ports[3]), "--rz-sim-port", strconv.Itoa(ports[4]),
		"--internal-listen", "127.0.0.1:" + strconv.Itoa(ports[5])}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, envOf(nil), &out, &errOut) }()

	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(out.String(), "Ctrl-C stops") {
		select {
		case code := <-done:
			t.Fatalf("worker exited %d early: %s %s", code, out.String(), errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker --dev did not come up: %s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(ports[2]) + "/")
	if err != nil {
		t.Fatalf("Temporal UI: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("Temporal UI answered %d", resp.StatusCode)
	}
	if !strings.Contains(out.String(), "backfill started") {
		t.Errorf("no demo backfill announced: %s", out.String())
	}
	// The codec is on the internal listener and wants a credential; the login link --dev
	// prints gives the browser the cookie the embedded UI sends with its codec requests.
	internal := "http://127.0.0.1:" + strconv.Itoa(ports[5])
	decode := func(c *http.Client) int {
		req, _ := http.NewRequest(http.MethodPost, internal+"/codec/decode", strings.NewReader(`{"payloads":[]}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("codec: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := decode(http.DefaultClient); code != http.StatusUnauthorized {
		t.Errorf("codec without a credential answered %d, want 401", code)
	}
	login := regexp.MustCompile(`http://\S+/codec/login\?token=\S+`).FindString(out.String())
	if !strings.HasPrefix(login, internal+"/") {
		t.Fatalf("no codec login link on the internal listener in: %s", out.String())
	}
	uiJar, _ := cookiejar.New(nil)
	uiBrowser := &http.Client{Jar: uiJar, Timeout: 30 * time.Second}
	if resp, err := uiBrowser.Get(login); err != nil {
		t.Fatalf("codec login: %v", err)
	} else {
		resp.Body.Close()
	}
	if code := decode(uiBrowser); code != http.StatusOK {
		t.Errorf("codec with the login cookie answered %d, want 200", code)
	}
	if resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(ports[0]) + "/codec/decode"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("public listener serves /codec: %d", resp.StatusCode)
		}
	}
	// The app installs from the HighLevel simulator: /oauth/start ends on a page naming the
	// new connection, pending until its Referrizer token is added.
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = (&http.Client{Jar: jar, Timeout: 30 * time.Second}).Get("http://127.0.0.1:" + strconv.Itoa(ports[0]) + "/oauth/start")
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "devinstalllocation1") || !strings.Contains(string(page), "--rz-token") {
		t.Errorf("install in --dev: %d %s", resp.StatusCode, page)
	}
	checkSetupURL(t, out.String(), "http://127.0.0.1:"+strconv.Itoa(ports[0]))
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("shutdown exit %d: %s", code, errOut.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("worker did not stop within a minute of SIGINT")
	}
}

// checkSetupURL follows the one URL --dev prints for the setup page: the simulator's stand-in
// HighLevel frame embeds our /app, and the user context it hands out (encrypted with the
// simulator's Shared Secret) opens a session for the location left to set up.
func checkSetupURL(t *testing.T, out, public string) {
	t.Helper()
	u := regexp.MustCompile(`http://\S+/custom-page\?location=(\S+)`).FindStringSubmatch(out)
	if u == nil || !strings.Contains(out, app.DevSetupRZToken) {
		t.Fatalf("no setup page URL (or token) printed: %s", out)
	}
	resp, err := http.Get(u[0])
	if err != nil {
		t.Fatalf("setup URL: %v", err)
	}
	frame, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(frame), public+"/app") || !strings.Contains(string(frame), "REQUEST_USER_DATA_RESPONSE") {
		t.Fatalf("stand-in frame: %d %s", resp.StatusCode, frame)
	}
	// html/template wrote it as a JS string literal, which is also JSON.
	quoted := regexp.MustCompile(`var payload = ("[^"]+")`).FindStringSubmatch(string(frame))
	var payload string
	if quoted == nil || json.Unmarshal([]byte(quoted[1]), &payload) != nil {
		t.Fatalf("no payload in the frame: %s", frame)
	}
	body, _ := json.Marshal(map[string]string{"payload": payload})
	resp, err = http.Post(public+"/app/session", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var sess struct{ Location, Page string }
	_ = json.NewDecoder(resp.Body).Decode(&sess)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || sess.Location != u[1] {
		t.Fatalf("session from the frame's payload: %d %+v (want location %s)", resp.StatusCode, sess, u[1])
	}
}
