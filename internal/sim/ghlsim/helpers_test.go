package ghlsim_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/ghl/ghlspec"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
)

const (
	loc = "locSim00000000000001"
	pit = "pit-sim-test-0001"
)

type fixture struct {
	sim  *ghlsim.Server
	srv  *httptest.Server
	rec  *ghlspec.Recorder
	hook *hook
}

// newFixture starts a simulator behind httptest with a webhook receiver.
func newFixture(t *testing.T, opts ghlsim.Options) *fixture {
	t.Helper()
	spec, err := ghlspec.Load()
	if err != nil {
		t.Fatalf("load HighLevel's specs: %v", err)
	}
	h := newHook(t)
	if opts.PrivateTokens == nil {
		opts.PrivateTokens = map[string]string{pit: loc}
	}
	if opts.DefaultLocationID == "" {
		opts.DefaultLocationID = loc
	}
	if opts.Webhooks.URL == "" {
		opts.Webhooks.URL = h.srv.URL
	}
	if opts.Webhooks.Key == nil {
		opts.Webhooks.Key = testKey(t)
	}
	if opts.Webhooks.LegacyKey == nil && opts.Webhooks.Sign != "" && opts.Webhooks.Sign != ghlsim.SignEd25519 {
		opts.Webhooks.LegacyKey = testLegacyKey(t)
	}
	sim := ghlsim.New(opts)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	return &fixture{sim: sim, srv: srv, rec: &ghlspec.Recorder{Spec: spec}, hook: h}
}

var (
	keyOnce       sync.Once
	key           any
	legacyKeyOnce sync.Once
	legacyKey     any
)

// testKey is the Ed25519 key every fixture signs X-GHL-Signature with.
func testKey(t *testing.T) ed25519.PrivateKey {
	keyOnce.Do(func() {
		k, err := ghlsim.GenerateKey()
		if err != nil {
			key = err
			return
		}
		key = k
	})
	k, ok := key.(ed25519.PrivateKey)
	if !ok {
		t.Fatalf("generate key: %v", key)
	}
	return k
}

// testLegacyKey shares one RSA key (legacy X-WH-Signature) across tests: RSA generation is
// slow.
func testLegacyKey(t *testing.T) *rsa.PrivateKey {
	legacyKeyOnce.Do(func() {
		k, err := ghlsim.GenerateLegacyKey()
		if err != nil {
			legacyKey = err
			return
		}
		legacyKey = k
	})
	k, ok := legacyKey.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("generate legacy key: %v", legacyKey)
	}
	return k
}

// call sends an API request through the spec-validating transport and decodes the answer.
func (f *fixture) call(t *testing.T, method, path, token string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	return f.send(t, &http.Client{Transport: f.rec}, method, path, token, body, nil)
}

// raw sends a request that deliberately breaks the contract, so it bypasses validation.
func (f *fixture) raw(t *testing.T, method, path, token string, body any, hdr http.Header) (int, http.Header, map[string]any) {
	t.Helper()
	return f.send(t, http.DefaultClient, method, path, token, body, hdr)
}

func (f *fixture) send(t *testing.T, hc *http.Client, method, path, token string, body any, hdr http.Header) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Version", "2021-07-28")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, resp.Header, out
}

// contract fails the test for any exchange that broke HighLevel's specs.
func (f *fixture) contract(t *testing.T) {
	t.Helper()
	for _, e := range f.rec.Failures() {
		t.Errorf("contract: %s", e)
	}
}

func (f *fixture) wait(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.sim.WaitDelivered(ctx); err != nil {
		t.Fatal(err)
	}
}

// hook receives webhooks; it can be told to answer the next N deliveries with failStatus
// (500 when unset). Every attempt is recorded in attempts, acknowledged ones in events.
type hook struct {
	srv        *httptest.Server
	mu         sync.Mutex
	events     []delivered
	attempts   []delivered
	fail       int
	failStatus int
	tries      int
}

type delivered struct {
	body      []byte
	sig       string // X-GHL-Signature
	legacySig string // X-WH-Signature
	at        time.Time
	env       ghl.Envelope
	m         map[string]any
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.tries++
		env, err := ghl.DecodeWebhook(body)
		if err != nil {
			t.Errorf("undecodable webhook: %v", err)
		}
		m := map[string]any{}
		_ = json.Unmarshal(body, &m)
		d := delivered{body: body, sig: r.Header.Get(ghl.SignatureHeader), legacySig: r.Header.Get(ghl.LegacySignatureHeader), at: time.Now(), env: env, m: m}
		h.attempts = append(h.attempts, d)
		if h.fail > 0 {
			h.fail--
			status := h.failStatus
			if status == 0 {
				status = http.StatusInternalServerError
			}
			w.WriteHeader(status)
			return
		}
		h.events = append(h.events, d)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) got() []delivered {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]delivered(nil), h.events...)
}

func (h *hook) types() []string {
	var out []string
	for _, d := range h.got() {
		out = append(out, d.env.RawType)
	}
	return out
}

func (h *hook) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events, h.attempts, h.tries, h.fail, h.failStatus = nil, nil, 0, 0, 0
}

// failNext makes the next n deliveries answer status.
func (h *hook) failNext(n, status int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fail, h.failStatus = n, status
}

func (h *hook) tried() []delivered {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]delivered(nil), h.attempts...)
}

// docSchemas maps each webhook event to the top-level properties its doc schema lists (and,
// for appointments, the nested appointment properties under "appointment.").
func docSchemas(t *testing.T) map[string]map[string]bool {
	t.Helper()
	dir, err := ghlspec.Dir()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "docs", "webhook-events", "*.md"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no webhook docs: %v", err)
	}
	block := regexp.MustCompile("(?s)```json json_schema\n(.*?)```")
	out := map[string]map[string]bool{}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		m := block.FindSubmatch(raw)
		if m == nil {
			t.Fatalf("%s has no schema", file)
		}
		var schema struct {
			Properties map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"properties"`
		}
		// The docs use "type": "Date", which is not JSON Schema but is valid JSON.
		if err := json.Unmarshal(m[1], &schema); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		props := map[string]bool{}
		for k, v := range schema.Properties {
			props[k] = true
			if k == "appointment" {
				for sub := range v.Properties {
					props["appointment."+sub] = true
				}
			}
		}
		name := filepath.Base(file)
		out[name[:len(name)-len(".md")]] = props
	}
	return out
}
