package bridge_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hlrz/hlrz/internal/bridge"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/metrics"
	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/store/postgres"
	"github.com/hlrz/hlrz/internal/testutil/pgtest"
)

// testLocation is the HighLevel location of the connection every fixture starts with.
const (
	testLocation = "LocTest0000000000001"
	testConnID   = "gym-1"
	// testAppID is the app the fixture's bridge is; its INSTALL/UNINSTALL events carry it.
	testAppID = "app1"
)

// PII markers put in every test payload; no log line may contain them.
const (
	piiEmail = "pii-marker@example.com"
	piiPhone = "+15550009999"
	piiName  = "Piimarker"
)

// Each test binary makes its keys once (RSA generation is slow). testKey is the Ed25519 key
// every fixture trusts for X-GHL-Signature, as the simulator's; legacyKey its RSA key for
// X-WH-Signature; the other* keys are trusted by nobody unless a test says so.
var (
	testKey        = sync.OnceValue(func() ed25519.PrivateKey { return genEd25519() })
	otherKey       = sync.OnceValue(func() ed25519.PrivateKey { return genEd25519() })
	legacyKey      = sync.OnceValue(func() *rsa.PrivateKey { return genRSA() })
	otherLegacyKey = sync.OnceValue(func() *rsa.PrivateKey { return genRSA() })
)

func genEd25519() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func genRSA() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

// sign makes an X-GHL-Signature: Ed25519 over the body, base64.
func sign(k ed25519.PrivateKey, body []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(k, body))
}

// signLegacy makes an X-WH-Signature: RSA PKCS #1 v1.5 over SHA-256 of the body, base64.
func signLegacy(k *rsa.PrivateKey, body []byte) string {
	sum := sha256.Sum256(body)
	sig, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// testKeys are the keys every fixture trusts: testKey and legacyKey.
func testKeys() ghl.WebhookKeys {
	return ghl.WebhookKeys{Ed25519: []ed25519.PublicKey{testKey().Public().(ed25519.PublicKey)}, RSA: []*rsa.PublicKey{&legacyKey().PublicKey}}
}

// recorder is a Signaler test double standing in for Temporal; the store stays real.
type recorder struct {
	mu      sync.Mutex
	byID    map[string]int // successful signals per event id
	signals []signal
	// fail, when set, decides whether a call fails (Temporal down).
	fail func(ev domain.Event) error
	// after runs after each successful signal with the number so far.
	after    func(n int)
	failures atomic.Int64
	delay    time.Duration
}

type signal struct {
	Ref   domain.Ref
	Event domain.Event
}

func newRecorder() *recorder { return &recorder{byID: map[string]int{}} }

func (r *recorder) Signal(ctx context.Context, ref domain.Ref, ev domain.Event) error {
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-ctx.Done():
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		if err := fail(ev); err != nil {
			r.failures.Add(1)
			return err
		}
	}
	r.mu.Lock()
	r.byID[ev.ID]++
	r.signals = append(r.signals, signal{ref, ev})
	n := len(r.signals)
	after := r.after
	r.mu.Unlock()
	if after != nil {
		after(n)
	}
	return nil
}

func (r *recorder) setFail(f func(domain.Event) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = f
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.signals)
}

func (r *recorder) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.byID))
	for k, v := range r.byID {
		out[k] = v
	}
	return out
}

func (r *recorder) all() []signal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]signal(nil), r.signals...)
}

// syncBuffer collects log output from concurrent goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fixture is a bridge on a fresh PostgreSQL database, served over real HTTP, with one
// connection for testLocation.
type fixture struct {
	t       *testing.T
	dsn     string
	store   *postgres.Store
	rec     *recorder
	metrics *metrics.Metrics
	cfg     bridge.Config
	bridge  *bridge.Bridge
	srv     *httptest.Server // the public routes
	intl    *httptest.Server // the internal routes
	logs    *syncBuffer
	conn    store.Connection
}

func newFixture(t *testing.T, tune func(*bridge.Config)) *fixture {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	st, err := postgres.Open(ctx, dsn, secrets.NewRandom())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(st.Close)
	return newFixtureOn(t, dsn, st, tune)
}

// newFixtureOn builds a fixture on an existing store, so several bridges can share one.
func newFixtureOn(t *testing.T, dsn string, st *postgres.Store, tune func(*bridge.Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	conn, err := st.ConnectionByLocation(ctx, testLocation)
	if err != nil {
		conn, err = st.PutConnection(ctx, store.Connection{ID: testConnID, Name: "Gym", GHLLocationID: testLocation})
		if err != nil {
			t.Fatalf("put connection: %v", err)
		}
	}
	f := &fixture{t: t, dsn: dsn, store: st, rec: newRecorder(), metrics: metrics.New(), logs: &syncBuffer{}, conn: conn}
	f.cfg = bridge.Config{
		Store: st, Signaler: f.rec, Keys: testKeys(), Metrics: f.metrics,
		Logger:       slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		PollInterval: 20 * time.Millisecond, RetryBase: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		GaugeEvery: time.Millisecond, AppID: testAppID,
	}
	if tune != nil {
		tune(&f.cfg)
	}
	f.bridge, err = bridge.New(f.cfg)
	if err != nil {
		t.Fatalf("bridge.New: %v", err)
	}
	f.srv = httptest.NewServer(f.bridge.Handler())
	t.Cleanup(f.srv.Close)
	f.intl = httptest.NewServer(f.bridge.InternalHandler())
	t.Cleanup(f.intl.Close)
	t.Cleanup(func() {
		logs := f.logs.String()
		for _, pii := range []string{piiEmail, piiPhone, piiName} {
			if strings.Contains(logs, pii) {
				t.Errorf("logs contain personal data %q:\n%s", pii, logs)
			}
		}
	})
	return f
}

var idSeq atomic.Int64

// newWebhookID returns a unique webhookId.
func newWebhookID() string {
	return fmt.Sprintf("wh-%d-%d", time.Now().UnixNano(), idSeq.Add(1))
}

// payload builds an event body: fields over a base with type, location, a fresh webhookId
// and timestamp, and personal data that must never reach the logs. A nil value in fields
// removes the key.
func payload(typ, location string, fields map[string]any) []byte {
	m := map[string]any{
		"type": typ, "locationId": location, "webhookId": newWebhookID(),
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"email":     piiEmail, "phone": piiPhone, "firstName": piiName,
	}
	for k, v := range fields {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func webhookID(t testing.TB, body []byte) string {
	t.Helper()
	var m struct {
		WebhookID string `json:"webhookId"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("test payload: %v", err)
	}
	return m.WebhookID
}

// post sends body signed with testKey.
func (f *fixture) post(body []byte) *http.Response {
	f.t.Helper()
	return f.postSig(body, sign(testKey(), body))
}

// postSig sends body with sig as its X-GHL-Signature (none when empty).
func (f *fixture) postSig(body []byte, sig string) *http.Response {
	f.t.Helper()
	h := http.Header{}
	if sig != "" {
		h.Set(ghl.SignatureHeader, sig)
	}
	return f.postHeaders(body, h)
}

// postHeaders sends body with the given headers, e.g. both signature headers.
func (f *fixture) postHeaders(body []byte, h http.Header) *http.Response {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/webhooks/ghl", bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("POST webhook: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp
}

// mustPost posts body and fails unless the answer is want.
func (f *fixture) mustPost(body []byte, want int) {
	f.t.Helper()
	if resp := f.post(body); resp.StatusCode != want {
		f.t.Fatalf("POST webhook: status %d, want %d", resp.StatusCode, want)
	}
}

// drain runs the relay until a pass claims nothing.
func (f *fixture) drain() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		n, err := f.bridge.RelayOnce(ctx)
		if err != nil {
			f.t.Fatalf("RelayOnce: %v", err)
		}
		if n == 0 {
			return
		}
	}
}

// inboxByKey reads the inbox row of a webhookId.
func (f *fixture) inboxByKey(key string) store.InboxEvent {
	f.t.Helper()
	var id int64
	err := f.store.Pool().QueryRow(context.Background(), `SELECT id FROM inbox WHERE dedupe_key = $1`, key).Scan(&id)
	if err != nil {
		f.t.Fatalf("inbox row %s: %v", key, err)
	}
	ev, err := f.store.GetInbox(context.Background(), id)
	if err != nil {
		f.t.Fatalf("inbox row %s: %v", key, err)
	}
	return ev
}

func (f *fixture) inboxCounts() map[store.InboxState]int {
	f.t.Helper()
	c, err := f.store.InboxCounts(context.Background())
	if err != nil {
		f.t.Fatalf("inbox counts: %v", err)
	}
	return c
}

func total(c map[store.InboxState]int) int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// value reads a counter or gauge.
func value(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatalf("read metric: %v", err)
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	}
	t.Fatalf("metric is neither counter nor gauge")
	return 0
}

// runRelay runs RunRelay in the background until the returned stop is called.
func runRelay(t *testing.T, b *bridge.Bridge) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.RunRelay(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("RunRelay: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("RunRelay did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
