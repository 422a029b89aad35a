package ghlsim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	crand "crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hlrz/hlrz/internal/ghl"
)

// SignMode says which signature headers the simulator sends.
type SignMode string

const (
	// SignEd25519 sends only X-GHL-Signature, as HighLevel does since 1 July 2026 (default).
	SignEd25519 SignMode = "ed25519"
	// SignBoth sends X-GHL-Signature and the legacy X-WH-Signature, as during the transition.
	SignBoth SignMode = "both"
	// SignLegacy sends only X-WH-Signature (RSA), as HighLevel did before Ed25519.
	SignLegacy SignMode = "legacy"
)

// HighLevel's webhook retry policy (../shared/ghl-facts.md §2): only a 429 is retried, up to
// six times, about ten minutes apart plus jitter; every other answer is final.
const (
	DefaultWebhookMaxRetries    = 6
	DefaultWebhookRetryInterval = 10 * time.Minute
)

// WebhookOptions configures webhook delivery.
type WebhookOptions struct {
	// URL receives every event; empty drops events.
	URL string `json:"url"`
	// Key signs X-GHL-Signature (Ed25519 over the body, base64). Nil: a key is generated on
	// first use; read its public half with WebhookPublicKey.
	Key ed25519.PrivateKey `json:"-"`
	// LegacyKey signs X-WH-Signature (RSA-SHA256, PKCS #1 v1.5, base64) when Sign asks for
	// it. Nil: generated when first needed; read it with WebhookLegacyPublicKey.
	LegacyKey *rsa.PrivateKey `json:"-"`
	// Sign chooses the signature headers: SignEd25519 (default), SignBoth or SignLegacy.
	Sign SignMode `json:"sign"`
	// DuplicateRate is the probability that an acknowledged event is delivered once more,
	// same body and webhookId (HighLevel delivers at least once).
	DuplicateRate float64 `json:"duplicateRate"`
	// Delay holds every event this long before its first delivery.
	Delay time.Duration `json:"-"`
	// ReorderWindow > 1 shuffles deliveries within groups of up to this many events that
	// are due together.
	ReorderWindow int `json:"reorderWindow"`
	// OmitTaskContactRate is the probability that a TaskCreate comes without contactId, as
	// users report of HighLevel.
	OmitTaskContactRate float64 `json:"omitTaskContactRate"`
	// MaxRetries is how many times an event answered 429 is sent again, like HighLevel:
	// default 6; negative means never. Any other answer (2xx, other 4xx, 5xx, no answer) is
	// final: an event not acknowledged is then lost, as it is at HighLevel.
	MaxRetries int `json:"maxRetries"`
	// LossRate is the probability that HighLevel gives up on an event without ever
	// delivering it (its delivery infrastructure fails): the receiver never hears of it,
	// and only a reconcile can repair what it announced. Counted in WebhookStats.GivenUp.
	LossRate float64 `json:"lossRate"`
	// RetryInterval is the wait after a 429 before the next attempt; default 10 min
	// (HighLevel's). Tests scale it down.
	RetryInterval time.Duration `json:"-"`
	// RetryJitter is the most random extra wait added to each retry; default RetryInterval/6,
	// so six retries end by about 70 min (scaled) as HighLevel's do; negative means none.
	RetryJitter time.Duration `json:"-"`
	// Timeout bounds one delivery; default 5 s. A delivery that times out is not answered:
	// final, the event is lost.
	Timeout time.Duration `json:"-"`

	DelayMillis         int64 `json:"delayMs"`         // JSON form of Delay
	RetryIntervalMillis int64 `json:"retryIntervalMs"` // JSON form of RetryInterval
	RetryJitterMillis   int64 `json:"retryJitterMs"`   // JSON form of RetryJitter
}

func (o WebhookOptions) normalized() WebhookOptions {
	if o.Delay == 0 && o.DelayMillis > 0 {
		o.Delay = time.Duration(o.DelayMillis) * time.Millisecond
	}
	if o.RetryInterval == 0 && o.RetryIntervalMillis > 0 {
		o.RetryInterval = time.Duration(o.RetryIntervalMillis) * time.Millisecond
	}
	if o.RetryJitter == 0 && o.RetryJitterMillis != 0 {
		o.RetryJitter = time.Duration(o.RetryJitterMillis) * time.Millisecond
	}
	switch o.Sign {
	case SignEd25519, SignBoth, SignLegacy:
	default:
		o.Sign = SignEd25519
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = DefaultWebhookMaxRetries
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = DefaultWebhookRetryInterval
	}
	if o.RetryJitter == 0 {
		o.RetryJitter = o.RetryInterval / 6
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	o.DelayMillis, o.RetryIntervalMillis, o.RetryJitterMillis = o.Delay.Milliseconds(), o.RetryInterval.Milliseconds(), o.RetryJitter.Milliseconds()
	return o
}

// WebhookStats counts webhook deliveries. Once nothing is pending, Delivered + Dropped =
// Enqueued.
type WebhookStats struct {
	Enqueued     int64 `json:"enqueued"`     // events created
	Sent         int64 `json:"sent"`         // HTTP attempts, duplicates and retries included
	Acknowledged int64 `json:"acknowledged"` // attempts answered 2xx
	Failed       int64 `json:"failed"`       // attempts answered non-2xx or not answered
	RateLimited  int64 `json:"rateLimited"`  // attempts answered 429
	Retried      int64 `json:"retried"`      // attempts that were retries after a 429
	Delivered    int64 `json:"delivered"`    // events acknowledged (extra duplicate deliveries not counted)
	// Lost counts events whose final answer was not 2xx: a 5xx, another 4xx, no answer, or a
	// 429 after the last retry. HighLevel never sends such an event again.
	Lost        int64 `json:"lost"`
	Dropped     int64 `json:"dropped"`     // events never delivered: Lost, and events that had no URL to go to
	Duplicates  int64 `json:"duplicates"`  // extra deliveries scheduled by DuplicateRate
	MostRetries int64 `json:"mostRetries"` // the most retries one delivered event needed
	// Reordered counts deliveries sent after one that was due later (ReorderWindow).
	Reordered int64 `json:"reordered"`
	// GivenUp counts events never sent because of LossRate (also in Dropped).
	GivenUp int64 `json:"givenUp"`
	Pending int64 `json:"pending"` // queued (retries included) or being delivered
}

// GenerateKey makes an Ed25519 key pair for signing webhooks (X-GHL-Signature) in tests.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, k, err := ed25519.GenerateKey(crand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ghlsim: generate webhook key: %w", err)
	}
	return k, nil
}

// GenerateLegacyKey makes an RSA key pair for the legacy X-WH-Signature in tests.
func GenerateLegacyKey() (*rsa.PrivateKey, error) {
	k, err := rsa.GenerateKey(crand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("ghlsim: generate legacy webhook key: %w", err)
	}
	return k, nil
}

// WebhookRecord is one event's fate, for checkers that must account for every event:
// delivered (acknowledged by the receiver), lost (a final non-2xx answer or none),
// given-up (LossRate: never sent) or dropped (no URL configured).
type WebhookRecord struct {
	WebhookID string `json:"webhookId"`
	Type      string `json:"type"`
	// ContactID is the contact the event is about (contactId, or id for contact events).
	ContactID string `json:"contactId,omitempty"`
	Outcome   string `json:"outcome"`
}

// Webhook outcomes in WebhookRecord.Outcome.
const (
	OutcomeDelivered = "delivered"
	OutcomeLost      = "lost"
	OutcomeGivenUp   = "given-up"
	OutcomeDropped   = "dropped"
)

// maxWebhookLog bounds the event log; older records are discarded.
const maxWebhookLog = 200_000

type delivery struct {
	seq       int64
	body      []byte
	sig       string // X-GHL-Signature, made at the first attempt and sent unchanged after
	legacySig string // X-WH-Signature, likewise
	due       time.Time
	retries   int // attempts after a 429 so far
	dup       bool
}

// reorderLinger is how long a partly filled reorder window waits for more events.
const reorderLinger = 25 * time.Millisecond

// outbox delivers events in a background goroutine; due times (delay, retry backoff) are
// wall-clock, event timestamps come from the simulator's clock.
type outbox struct {
	now func() time.Time
	log *slog.Logger
	hc  *http.Client

	mu       sync.Mutex
	opts     WebhookOptions
	rng      *rand.Rand
	queue    []*delivery
	inflight int
	seq      int64
	st       WebhookStats
	records  []WebhookRecord
	idle     chan struct{}

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newOutbox(opts WebhookOptions, seed uint64, now func() time.Time, log *slog.Logger) *outbox {
	o := &outbox{
		now: now, log: log, hc: &http.Client{},
		opts: opts.normalized(), rng: rand.New(rand.NewPCG(seed, seed^0xda942042e4dd58b5)),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go o.run()
	return o
}

func (o *outbox) options() WebhookOptions {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.opts
}

func (o *outbox) setOptions(opts WebhookOptions) {
	o.mu.Lock()
	if opts.Key == nil {
		opts.Key = o.opts.Key // keep the keys receivers already trust
	}
	if opts.LegacyKey == nil {
		opts.LegacyKey = o.opts.LegacyKey
	}
	o.opts = opts.normalized()
	o.mu.Unlock()
	o.signal()
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// enqueue stamps ev with timestamp and webhookId and queues it.
func (o *outbox) enqueue(ev obj) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.opts.URL == "" {
		return
	}
	ev["timestamp"] = iso(o.now())
	ev["webhookId"] = o.uuidLocked()
	body, err := json.Marshal(ev)
	if err != nil {
		o.log.Error("ghlsim: encode webhook", "type", ev["type"], "err", err)
		return
	}
	o.seq++
	o.queue = append(o.queue, &delivery{seq: o.seq, body: body, due: time.Now().Add(o.opts.Delay)})
	o.st.Enqueued++
	o.signal()
}

func (o *outbox) uuidLocked() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], o.rng.Uint64())
	binary.BigEndian.PutUint64(b[8:], o.rng.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (o *outbox) run() {
	defer close(o.done)
	for {
		o.mu.Lock()
		batch, wait := o.takeLocked(time.Now())
		o.mu.Unlock()
		if len(batch) == 0 {
			var timer *time.Timer
			var fire <-chan time.Time
			if wait > 0 {
				timer = time.NewTimer(wait)
				fire = timer.C
			}
			select {
			case <-o.wake:
			case <-fire:
			case <-o.stop:
				return
			}
			if timer != nil {
				timer.Stop()
			}
			continue
		}
		for _, d := range batch {
			select {
			case <-o.stop:
				return
			default:
			}
			o.deliver(d)
		}
	}
}

// takeLocked picks the next deliveries that are due, or says how long to wait.
func (o *outbox) takeLocked(now time.Time) ([]*delivery, time.Duration) {
	if len(o.queue) == 0 {
		return nil, 0
	}
	slices.SortStableFunc(o.queue, func(a, b *delivery) int {
		if c := a.due.Compare(b.due); c != 0 {
			return c
		}
		return int(a.seq - b.seq)
	})
	n := 0
	for n < len(o.queue) && !o.queue[n].due.After(now) {
		n++
	}
	if n == 0 {
		return nil, o.queue[0].due.Sub(now)
	}
	window := max(o.opts.ReorderWindow, 1)
	if window > 1 && n < window {
		if quiet := now.Sub(o.queue[n-1].due); quiet < reorderLinger {
			return nil, reorderLinger - quiet // let a burst gather before shuffling it
		}
	}
	n = min(n, window)
	batch := slices.Clone(o.queue[:n])
	o.queue = slices.Delete(o.queue, 0, n)
	o.inflight += n
	if window > 1 {
		o.rng.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
		for i := 1; i < len(batch); i++ {
			if batch[i].seq < batch[i-1].seq {
				o.st.Reordered++
			}
		}
	}
	return batch, 0
}

func (o *outbox) deliver(d *delivery) {
	o.mu.Lock()
	opts := o.opts
	var keyErr error
	if opts.URL != "" {
		opts, keyErr = o.ensureKeysLocked(opts.Sign)
	}
	o.mu.Unlock()

	status := 0
	givenUp := !d.dup && d.retries == 0 && opts.URL != "" && keyErr == nil && opts.LossRate > 0 && o.lossDraw(opts.LossRate)
	if givenUp {
		o.log.Debug("ghlsim: webhook given up (LossRate)")
	} else if opts.URL != "" && keyErr == nil {
		if (opts.Sign == SignEd25519 || opts.Sign == SignBoth) && d.sig == "" {
			d.sig = base64.StdEncoding.EncodeToString(ed25519.Sign(opts.Key, d.body))
		}
		if (opts.Sign == SignLegacy || opts.Sign == SignBoth) && d.legacySig == "" {
			sum := sha256.Sum256(d.body)
			if sig, err := rsa.SignPKCS1v15(nil, opts.LegacyKey, crypto.SHA256, sum[:]); err == nil {
				d.legacySig = base64.StdEncoding.EncodeToString(sig)
			}
		}
		status = o.post(opts, d)
	} else if keyErr != nil {
		o.log.Error("ghlsim: webhook key", "err", keyErr)
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	o.inflight--
	if d.retries > 0 && opts.URL != "" && keyErr == nil {
		o.st.Retried++ // an attempt was made, and it was a retry
	}
	switch {
	case givenUp:
		o.st.GivenUp++
		o.st.Dropped++
		o.recordLocked(d, OutcomeGivenUp)
	case opts.URL == "" || keyErr != nil:
		if !d.dup {
			o.st.Dropped++
			o.recordLocked(d, OutcomeDropped)
		}
	case status >= 200 && status <= 299:
		o.st.Sent++
		o.st.Acknowledged++
		if !d.dup {
			o.st.Delivered++
			o.st.MostRetries = max(o.st.MostRetries, int64(d.retries))
			o.recordLocked(d, OutcomeDelivered)
		}
		if !d.dup && opts.DuplicateRate > 0 && o.rng.Float64() < opts.DuplicateRate {
			o.seq++
			jitter := time.Duration(o.rng.Int64N(int64(20 * time.Millisecond)))
			o.queue = append(o.queue, &delivery{seq: o.seq, body: d.body, sig: d.sig, legacySig: d.legacySig, due: time.Now().Add(jitter), dup: true})
			o.st.Duplicates++
		}
	case status == http.StatusTooManyRequests && d.retries < opts.MaxRetries:
		// HighLevel's only retry: the same body and signatures, about RetryInterval later.
		o.st.Sent++
		o.st.Failed++
		o.st.RateLimited++
		d.retries++
		wait := opts.RetryInterval
		if opts.RetryJitter > 0 {
			wait += time.Duration(o.rng.Int64N(int64(opts.RetryJitter) + 1))
		}
		d.due = time.Now().Add(wait)
		o.queue = append(o.queue, d)
	default:
		o.st.Sent++
		o.st.Failed++
		if status == http.StatusTooManyRequests {
			o.st.RateLimited++
		}
		if !d.dup {
			o.st.Lost++
			o.st.Dropped++
			o.recordLocked(d, OutcomeLost)
			o.log.Warn("ghlsim: webhook lost: the answer was final", "status", status, "retries", d.retries)
		}
	}
	if len(o.queue) == 0 && o.inflight == 0 && o.idle != nil {
		close(o.idle)
		o.idle = nil
	}
	o.signal()
}

// lossDraw draws whether an event is given up.
func (o *outbox) lossDraw(rate float64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.rng.Float64() < rate
}

// recordLocked appends an event's final outcome to the log.
func (o *outbox) recordLocked(d *delivery, outcome string) {
	var ev struct {
		Type      string `json:"type"`
		WebhookID string `json:"webhookId"`
		ContactID string `json:"contactId"`
		ID        string `json:"id"`
		// Appointment events name the contact inside the appointment.
		Appointment struct {
			ContactID string `json:"contactId"`
		} `json:"appointment"`
	}
	_ = json.Unmarshal(d.body, &ev)
	r := WebhookRecord{WebhookID: ev.WebhookID, Type: ev.Type, ContactID: ev.ContactID, Outcome: outcome}
	if r.ContactID == "" && strings.HasPrefix(ev.Type, "Contact") {
		r.ContactID = ev.ID
	}
	if r.ContactID == "" {
		r.ContactID = ev.Appointment.ContactID
	}
	if len(o.records) >= maxWebhookLog {
		o.records = slices.Delete(o.records, 0, len(o.records)/2)
	}
	o.records = append(o.records, r)
}

func (o *outbox) eventLog() []WebhookRecord {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.records)
}

// WebhookLog returns every event's final outcome so far, oldest first (bounded to the
// last 100,000 or more).
func (s *Server) WebhookLog() []WebhookRecord { return s.wh.eventLog() }

// ensureKeysLocked generates the signing keys mode needs and were not configured.
func (o *outbox) ensureKeysLocked(mode SignMode) (WebhookOptions, error) {
	if (mode == SignEd25519 || mode == SignBoth) && o.opts.Key == nil {
		k, err := GenerateKey()
		if err != nil {
			return o.opts, err
		}
		o.opts.Key = k
	}
	if (mode == SignLegacy || mode == SignBoth) && o.opts.LegacyKey == nil {
		k, err := GenerateLegacyKey()
		if err != nil {
			return o.opts, err
		}
		o.opts.LegacyKey = k
	}
	return o.opts, nil
}

// post sends one attempt and returns the answer's status, 0 when there was none.
func (o *outbox) post(opts WebhookOptions, d *delivery) int {
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, opts.URL, bytes.NewReader(d.body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	if d.sig != "" && opts.Sign != SignLegacy {
		req.Header.Set(ghl.SignatureHeader, d.sig)
	}
	if d.legacySig != "" && opts.Sign != SignEd25519 {
		req.Header.Set(ghl.LegacySignatureHeader, d.legacySig)
	}
	resp, err := o.hc.Do(req)
	if err != nil {
		o.log.Debug("ghlsim: webhook delivery failed", "err", err)
		return 0
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode
}

func (o *outbox) stats() WebhookStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := o.st
	st.Pending = int64(len(o.queue) + o.inflight)
	return st
}

func (o *outbox) waitDelivered(ctx context.Context) error {
	for {
		o.mu.Lock()
		if len(o.queue) == 0 && o.inflight == 0 {
			o.mu.Unlock()
			return nil
		}
		if o.idle == nil {
			o.idle = make(chan struct{})
		}
		idle := o.idle
		o.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("ghlsim: webhooks not delivered: %w", ctx.Err())
		}
	}
}

func (o *outbox) close() {
	o.once.Do(func() { close(o.stop) })
	<-o.done
}

// SetWebhooks replaces the webhook settings (a nil Key keeps the current key); events already
// queued keep their due times.
func (s *Server) SetWebhooks(opts WebhookOptions) { s.wh.setOptions(opts) }

// Webhooks returns the webhook settings.
func (s *Server) Webhooks() WebhookOptions { return s.wh.options() }

// WaitDelivered blocks until every queued webhook was acknowledged or dropped.
func (s *Server) WaitDelivered(ctx context.Context) error { return s.wh.waitDelivered(ctx) }

// WebhookPublicKey is the key receivers verify X-GHL-Signature with, generating the
// signing key when none was configured.
func (s *Server) WebhookPublicKey() (ed25519.PublicKey, error) {
	o := s.wh
	o.mu.Lock()
	defer o.mu.Unlock()
	opts, err := o.ensureKeysLocked(SignEd25519)
	if err != nil {
		return nil, err
	}
	return opts.Key.Public().(ed25519.PublicKey), nil
}

// WebhookLegacyPublicKey is the key receivers verify the legacy X-WH-Signature with,
// generating the RSA signing key when none was configured.
func (s *Server) WebhookLegacyPublicKey() (*rsa.PublicKey, error) {
	o := s.wh
	o.mu.Lock()
	defer o.mu.Unlock()
	opts, err := o.ensureKeysLocked(SignLegacy)
	if err != nil {
		return nil, err
	}
	return &opts.LegacyKey.PublicKey, nil
}

// SignWebhook signs body with the simulator's keys: the X-GHL-Signature (Ed25519) and the
// X-WH-Signature (RSA) values, base64.
func (s *Server) SignWebhook(body []byte) (sig, legacySig string, err error) {
	o := s.wh
	o.mu.Lock()
	opts, err := o.ensureKeysLocked(SignBoth)
	o.mu.Unlock()
	if err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(body)
	rs, err := rsa.SignPKCS1v15(nil, opts.LegacyKey, crypto.SHA256, sum[:])
	if err != nil {
		return "", "", fmt.Errorf("ghlsim: sign webhook: %w", err)
	}
	return base64.StdEncoding.EncodeToString(ed25519.Sign(opts.Key, body)), base64.StdEncoding.EncodeToString(rs), nil
}

// WebhookPublicKeys are both public keys, each under its scheme.
func (s *Server) WebhookPublicKeys() (ghl.WebhookKeys, error) {
	ed, err := s.WebhookPublicKey()
	if err != nil {
		return ghl.WebhookKeys{}, err
	}
	rk, err := s.WebhookLegacyPublicKey()
	if err != nil {
		return ghl.WebhookKeys{}, err
	}
	return ghl.WebhookKeys{Ed25519: []ed25519.PublicKey{ed}, RSA: []*rsa.PublicKey{rk}}, nil
}

// WebhookPublicKeyPEM is both public keys as "PUBLIC KEY" PEM blocks (the form HighLevel
// publishes its keys in), the Ed25519 key first: one file a receiver can trust as is.
func (s *Server) WebhookPublicKeyPEM() ([]byte, error) {
	keys, err := s.WebhookPublicKeys()
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, k := range []crypto.PublicKey{keys.Ed25519[0], keys.RSA[0]} {
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("ghlsim: encode webhook key: %w", err)
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
	}
	return out, nil
}
