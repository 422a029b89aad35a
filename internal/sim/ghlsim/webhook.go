package ghlsim

import (
	"bytes"
	"context"
	"crypto"
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
	"sync"
	"time"
)

// WebhookOptions configures webhook delivery.
type WebhookOptions struct {
	// URL receives every event; empty drops events.
	URL string `json:"url"`
	// Key signs x-wh-signature (RSA-SHA256, PKCS #1 v1.5, base64). Nil: a key is generated
	// on first use; read it with WebhookPublicKey.
	Key *rsa.PrivateKey `json:"-"`
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
	// MaxAttempts per event before it is dropped; default 8. Any non-2xx answer is retried.
	MaxAttempts int `json:"maxAttempts"`
	// RetryBackoff is the first retry's wait, doubled per attempt up to 5 s; default 50 ms.
	RetryBackoff time.Duration `json:"-"`
	// Timeout bounds one delivery; default 5 s.
	Timeout time.Duration `json:"-"`

	DelayMillis        int64 `json:"delayMs"`        // JSON form of Delay
	RetryBackoffMillis int64 `json:"retryBackoffMs"` // JSON form of RetryBackoff
}

func (o WebhookOptions) normalized() WebhookOptions {
	if o.Delay == 0 && o.DelayMillis > 0 {
		o.Delay = time.Duration(o.DelayMillis) * time.Millisecond
	}
	if o.RetryBackoff == 0 && o.RetryBackoffMillis > 0 {
		o.RetryBackoff = time.Duration(o.RetryBackoffMillis) * time.Millisecond
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 50 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	o.DelayMillis, o.RetryBackoffMillis = o.Delay.Milliseconds(), o.RetryBackoff.Milliseconds()
	return o
}

// WebhookStats counts webhook deliveries.
type WebhookStats struct {
	Enqueued     int64 `json:"enqueued"`     // events created
	Sent         int64 `json:"sent"`         // HTTP attempts, duplicates and retries included
	Acknowledged int64 `json:"acknowledged"` // attempts answered 2xx
	Failed       int64 `json:"failed"`       // attempts answered non-2xx or not answered
	Dropped      int64 `json:"dropped"`      // events given up after MaxAttempts
	Duplicates   int64 `json:"duplicates"`   // extra deliveries scheduled by DuplicateRate
	Pending      int64 `json:"pending"`      // queued or being delivered
}

// GenerateKey makes an RSA key pair for signing webhooks in tests.
func GenerateKey() (*rsa.PrivateKey, error) {
	k, err := rsa.GenerateKey(crand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("ghlsim: generate webhook key: %w", err)
	}
	return k, nil
}

type delivery struct {
	seq      int64
	body     []byte
	sig      string
	due      time.Time
	attempts int
	dup      bool
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
		opts.Key = o.opts.Key // keep the key receivers already trust
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
	}
	return batch, 0
}

func (o *outbox) deliver(d *delivery) {
	o.mu.Lock()
	opts := o.opts
	if opts.URL != "" && opts.Key == nil {
		k, err := GenerateKey()
		if err == nil {
			o.opts.Key, opts.Key = k, k
		}
	}
	o.mu.Unlock()

	ok := false
	if opts.URL != "" {
		if d.sig == "" && opts.Key != nil {
			sum := sha256.Sum256(d.body)
			if sig, err := rsa.SignPKCS1v15(nil, opts.Key, crypto.SHA256, sum[:]); err == nil {
				d.sig = base64.StdEncoding.EncodeToString(sig)
			}
		}
		ok = o.post(opts, d)
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	o.inflight--
	d.attempts++
	switch {
	case opts.URL == "":
		o.st.Dropped++
	case ok:
		o.st.Sent++
		o.st.Acknowledged++
		if !d.dup && opts.DuplicateRate > 0 && o.rng.Float64() < opts.DuplicateRate {
			o.seq++
			jitter := time.Duration(o.rng.Int64N(int64(20 * time.Millisecond)))
			o.queue = append(o.queue, &delivery{seq: o.seq, body: d.body, sig: d.sig, due: time.Now().Add(jitter), dup: true})
			o.st.Duplicates++
		}
	default:
		o.st.Sent++
		o.st.Failed++
		if d.attempts < opts.MaxAttempts {
			d.due = time.Now().Add(min(opts.RetryBackoff<<(d.attempts-1), 5*time.Second))
			o.queue = append(o.queue, d)
		} else {
			o.st.Dropped++
			o.log.Warn("ghlsim: webhook dropped after retries", "attempts", d.attempts)
		}
	}
	if len(o.queue) == 0 && o.inflight == 0 && o.idle != nil {
		close(o.idle)
		o.idle = nil
	}
	o.signal()
}

func (o *outbox) post(opts WebhookOptions, d *delivery) bool {
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, opts.URL, bytes.NewReader(d.body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	if d.sig != "" {
		req.Header.Set("x-wh-signature", d.sig)
	}
	resp, err := o.hc.Do(req)
	if err != nil {
		o.log.Debug("ghlsim: webhook delivery failed", "err", err)
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode <= 299
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

// WebhookPublicKey is the key receivers verify x-wh-signature with, generating the signing
// key when none was configured.
func (s *Server) WebhookPublicKey() (*rsa.PublicKey, error) {
	o := s.wh
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.opts.Key == nil {
		k, err := GenerateKey()
		if err != nil {
			return nil, err
		}
		o.opts.Key = k
	}
	return &o.opts.Key.PublicKey, nil
}

// WebhookPublicKeyPEM is WebhookPublicKey as a "PUBLIC KEY" PEM block, the form HighLevel
// publishes its key in.
func (s *Server) WebhookPublicKeyPEM() ([]byte, error) {
	k, err := s.WebhookPublicKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("ghlsim: encode webhook key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
