// Package config reads the worker's configuration from flags and the environment and
// validates it up front, so a bad setting stops the process with one line naming the
// variable and the problem instead of failing later somewhere deep.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/secrets"
)

// Environment variable names the binaries read. docker-compose.yml uses the same names;
// a test keeps the two in step.
const (
	EnvDatabaseURL   = "DATABASE_URL"
	EnvKeys          = secrets.KeyEnv
	EnvListen        = "HLRZ_LISTEN"          // public listener: webhooks, OAuth, /healthz
	EnvInternal      = "HLRZ_INTERNAL_LISTEN" // internal listener: codec, /metrics, /status/*, /readyz
	EnvCodecToken    = "HLRZ_CODEC_TOKEN"     // shared bearer token(s) for the codec, comma-separated
	EnvCodecJWKS     = "HLRZ_CODEC_JWKS_URL"  // verify access tokens the Temporal UI forwards to the codec
	EnvCodecAudience = "HLRZ_CODEC_AUDIENCE"  // required "aud" of forwarded access tokens (optional)
	EnvUIOrigin      = "HLRZ_UI_ORIGIN"       // the Temporal UI's origin, the only one CORS allows on the codec
	EnvWebhookConc   = "HLRZ_WEBHOOK_MAX_CONCURRENT"
	EnvInboxRetain   = "HLRZ_INBOX_RETENTION"       // finished inbox rows keep their body this long
	EnvInboxKeys     = "HLRZ_INBOX_KEY_RETENTION"   // finished inbox rows (webhookId) are kept this long
	EnvObsRetain     = "HLRZ_OBSERVATION_RETENTION" // bulk-read records are deleted after this long
	EnvQuietAfter    = "HLRZ_CONTACT_QUIET_AFTER"   // a person's workflow completes after this long with nothing to do
	EnvTaskQueue     = "HLRZ_TASK_QUEUE"
	EnvLogLevel      = "HLRZ_LOG_LEVEL"
	EnvWebhookKey    = "HLRZ_WEBHOOK_PUBLIC_KEYS" // PEM file paths (or "highlevel"), comma-separated
	EnvWebhookMaxAge = "HLRZ_WEBHOOK_MAX_AGE"     // oldest webhook timestamp accepted (Go duration)
	EnvPublicURL     = "HLRZ_PUBLIC_URL"          // where HighLevel reaches the bridge (OAuth redirect)
	EnvGHLClientID   = "HLRZ_GHL_CLIENT_ID"
	EnvGHLSecret     = "HLRZ_GHL_CLIENT_SECRET"
	// EnvGHLShared is the Marketplace app's Shared Secret: it decrypts the user context
	// HighLevel gives the setup page (/app) inside HighLevel. Unset: /app answers 404.
	EnvGHLShared     = "HLRZ_GHL_SHARED_SECRET"
	EnvGHLBaseURL    = "HLRZ_GHL_BASE_URL"
	EnvRZBaseURL     = "HLRZ_RZ_BASE_URL"
	EnvTemporalAddr  = "TEMPORAL_ADDRESS"
	EnvTemporalNS    = "TEMPORAL_NAMESPACE"
	EnvCodecEndpoint = "TEMPORAL_CODEC_ENDPOINT"
)

// Mode says which parts of the worker binary run.
type Mode string

const (
	ModeAll    Mode = "all"    // Temporal worker + webhook bridge (default)
	ModeWorker Mode = "worker" // Temporal worker only
	ModeBridge Mode = "bridge" // webhook bridge and relay only, scaled separately
)

// Worker is the worker binary's configuration.
type Worker struct {
	Dev     bool
	Mode    Mode
	DataDir string
	Listen  string // public HTTP address: /webhooks/ghl, /oauth/*, /healthz
	// InternalListen is the internal HTTP address: /codec, /metrics, /status/*, /readyz.
	InternalListen string
	TaskQueue      string
	LogLevel       string
	Keys           *secrets.Keyring
	KeysSource     string // where the keys came from, for the startup line

	DatabaseURL string // empty in --dev: SQLite in DataDir

	// Dev stack ports (only with --dev).
	TemporalPort, UIPort, GHLSimPort, RZSimPort int
	Seed                                        bool // seed demo data into the simulators

	GHLBaseURL, RZBaseURL  string
	GHLClientID, GHLSecret string
	// GHLSharedSecret decrypts HighLevel's user context for the /app setup page.
	GHLSharedSecret string
	PublicURL       string
	// WebhookKeyFiles are the entries of HLRZ_WEBHOOK_PUBLIC_KEYS: PEM files, or
	// WebhookKeysBuiltIn for HighLevel's published keys. Empty: the published keys.
	WebhookKeyFiles []string
	// WebhookKeys are the keys read from WebhookKeyFiles, each under its scheme (Ed25519 for
	// X-GHL-Signature, RSA for the legacy X-WH-Signature); empty when none are configured.
	WebhookKeys ghl.WebhookKeys
	// WebhookKeyNotes says, per configured key, where it came from and which scheme it
	// verifies, for the startup lines.
	WebhookKeyNotes []string
	// WebhookMaxAge is how old a webhook's timestamp may be (HighLevel's retries repeat the
	// original timestamp for up to about 70 minutes); WebhookMaxSkew how far in the future.
	WebhookMaxAge  time.Duration
	WebhookMaxSkew time.Duration
	ShutdownGrace  time.Duration

	// Codec authentication: CodecTokens are shared bearer tokens; CodecJWKSURL, when set,
	// verifies the access token the Temporal UI forwards (Authorization header, or its
	// session cookie when the UI includes credentials). UIOrigin is the only origin CORS
	// admits. In --dev without any of them a token is generated.
	CodecTokens   []string
	CodecJWKSURL  string
	CodecAudience string
	UIOrigin      string

	// HTTP limits of every server.
	HTTP HTTPLimits
	// WebhookMaxConcurrent bounds webhook requests in progress; more are answered 429.
	WebhookMaxConcurrent int

	// Retention of personal data at rest.
	InboxRetention       time.Duration // finished inbox rows lose their body after this
	InboxKeyRetention    time.Duration // and are deleted (webhookId forgotten) after this
	ObservationRetention time.Duration // bulk-read records are deleted after this

	// ContactQuietAfter is how long a person's ContactSync stays open with nothing to do
	// before it completes (the next event starts a new run); negative keeps it open for good
	// (the flag's 0), zero (a config built in code) is the workflow's default.
	ContactQuietAfter time.Duration
}

// HTTPLimits are the timeouts and header limit every HTTP server gets.
type HTTPLimits struct {
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	MaxHeaderBytes                                            int
}

// DefaultHTTPLimits are the flags' defaults.
var DefaultHTTPLimits = HTTPLimits{
	ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second,
	IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 32 << 10,
}

// Getenv is how configuration reads the environment; tests pass a map.
type Getenv func(string) string

// ParseWorker parses args (without the program name) and the environment.
func ParseWorker(args []string, getenv Getenv) (*Worker, error) {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder)) // errors are returned, not printed twice
	c := &Worker{}
	f := c.defineFlags(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("flags: %w", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("flags: unexpected argument %q", fs.Arg(0))
	}
	if err := c.checkFlags(f, getenv); err != nil {
		return nil, err
	}
	if err := c.parseWebhookSettings(f, getenv); err != nil {
		return nil, err
	}
	if err := c.parseBackends(getenv); err != nil {
		return nil, err
	}
	return c, nil
}

// workerFlags holds the flags that are checked as text before they land in Worker.
type workerFlags struct {
	mode, webhookConc, inboxRetain, inboxKeys, obsRetain, maxAge, quietAfter string
}

// defineFlags declares the worker's flags on fs, with defaults from getenv.
func (c *Worker) defineFlags(fs *flag.FlagSet, getenv Getenv) *workerFlags {
	f := &workerFlags{}
	fs.BoolVar(&c.Dev, "dev", false, "run the whole local stack in this process: Temporal, its Web UI, SQLite, both simulators, demo data")
	fs.StringVar(&f.mode, "mode", string(ModeAll), "what to run: all, worker, or bridge")
	fs.StringVar(&c.DataDir, "data-dir", ".data", "with --dev: where the Temporal and SQLite files live")
	fs.StringVar(&c.Listen, "listen", envOr(getenv, EnvListen, "127.0.0.1:8080"), "public HTTP address: webhooks, OAuth, /healthz (env "+EnvListen+")")
	fs.StringVar(&c.InternalListen, "internal-listen", envOr(getenv, EnvInternal, "127.0.0.1:8081"), "internal HTTP address: codec, /metrics, /status, /readyz (env "+EnvInternal+")")
	c.HTTP = DefaultHTTPLimits
	fs.DurationVar(&c.HTTP.ReadHeaderTimeout, "http-read-header-timeout", c.HTTP.ReadHeaderTimeout, "time allowed to read a request's headers")
	fs.DurationVar(&c.HTTP.ReadTimeout, "http-read-timeout", c.HTTP.ReadTimeout, "time allowed to read a whole request, body included")
	fs.DurationVar(&c.HTTP.WriteTimeout, "http-write-timeout", c.HTTP.WriteTimeout, "time allowed from the end of the headers to the end of the answer")
	fs.DurationVar(&c.HTTP.IdleTimeout, "http-idle-timeout", c.HTTP.IdleTimeout, "how long an idle keep-alive connection stays open")
	fs.IntVar(&c.HTTP.MaxHeaderBytes, "http-max-header-bytes", c.HTTP.MaxHeaderBytes, "largest request header block accepted (larger: 431)")
	fs.StringVar(&f.webhookConc, "webhook-max-concurrent", envOr(getenv, EnvWebhookConc, "64"), "webhook requests handled at once; more are answered 429 so HighLevel retries (env "+EnvWebhookConc+")")
	fs.StringVar(&f.inboxRetain, "inbox-retention", envOr(getenv, EnvInboxRetain, "168h"), "finished inbox rows lose their body after this (env "+EnvInboxRetain+")")
	fs.StringVar(&f.inboxKeys, "inbox-key-retention", envOr(getenv, EnvInboxKeys, "720h"), "finished inbox rows, and with them their webhookId, are deleted after this; longer than --webhook-max-age (env "+EnvInboxKeys+")")
	fs.StringVar(&f.obsRetain, "observation-retention", envOr(getenv, EnvObsRetain, "24h"), "bulk-read records are deleted after this (env "+EnvObsRetain+")")
	fs.StringVar(&f.quietAfter, "contact-quiet-after", envOr(getenv, EnvQuietAfter, "24h"), "a person's sync workflow completes after this long with nothing to do, and the next event starts it again; 0 keeps it open (env "+EnvQuietAfter+")")
	fs.StringVar(&c.TaskQueue, "task-queue", envOr(getenv, EnvTaskQueue, "hlrz-sync"), "Temporal task queue (env "+EnvTaskQueue+")")
	fs.StringVar(&c.LogLevel, "log-level", envOr(getenv, EnvLogLevel, "info"), "debug, info, warn or error (env "+EnvLogLevel+")")
	fs.IntVar(&c.TemporalPort, "temporal-port", 7233, "with --dev: Temporal gRPC port")
	fs.IntVar(&c.UIPort, "ui-port", 8233, "with --dev: Temporal Web UI port")
	fs.IntVar(&c.GHLSimPort, "ghl-sim-port", 8091, "with --dev: HighLevel simulator port")
	fs.IntVar(&c.RZSimPort, "rz-sim-port", 8092, "with --dev: Referrizer simulator port")
	fs.BoolVar(&c.Seed, "seed", true, "with --dev: seed demo people with tags, notes and tasks into the simulators on first start")
	fs.StringVar(&f.maxAge, "webhook-max-age", envOr(getenv, EnvWebhookMaxAge, "75m"), "accept webhooks (HighLevel's retries included) whose timestamp is at most this old (env "+EnvWebhookMaxAge+")")
	fs.DurationVar(&c.WebhookMaxSkew, "webhook-max-skew", 5*time.Minute, "reject webhooks whose timestamp is further than this in the future")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 10*time.Second, "how long to let in-flight work finish on SIGINT/SIGTERM")
	return f
}

// checkFlags checks the mode, listeners, limits, retention, codec, task queue and ports.
func (c *Worker) checkFlags(f *workerFlags, getenv Getenv) error {
	c.Mode = Mode(f.mode)
	switch c.Mode {
	case ModeAll, ModeWorker, ModeBridge:
	default:
		return fmt.Errorf("--mode: %q is not one of all, worker, bridge", f.mode)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("%s: %q is not one of debug, info, warn, error", EnvLogLevel, c.LogLevel)
	}
	for _, l := range []struct{ name, v string }{{EnvListen, c.Listen}, {EnvInternal, c.InternalListen}} {
		host, _, err := net.SplitHostPort(l.v)
		if err != nil {
			return fmt.Errorf("%s: %q is not host:port", l.name, l.v)
		}
		if c.Dev && !isLoopback(host) {
			return fmt.Errorf("%s: %q is not a loopback address; --dev listens on loopback only", l.name, l.v)
		}
	}
	if c.Listen == c.InternalListen {
		return fmt.Errorf("%s: %q is also %s; the internal endpoints must not share the public listener", EnvInternal, c.InternalListen, EnvListen)
	}
	if err := c.HTTP.check(); err != nil {
		return err
	}
	n, err := strconv.Atoi(f.webhookConc)
	if err != nil || n <= 0 {
		return fmt.Errorf("%s: %q is not a positive number", EnvWebhookConc, f.webhookConc)
	}
	c.WebhookMaxConcurrent = n
	for _, d := range []struct {
		name string
		v    string
		into *time.Duration
	}{{EnvInboxRetain, f.inboxRetain, &c.InboxRetention}, {EnvInboxKeys, f.inboxKeys, &c.InboxKeyRetention}, {EnvObsRetain, f.obsRetain, &c.ObservationRetention}} {
		v, err := time.ParseDuration(d.v)
		if err != nil || v <= 0 {
			return fmt.Errorf("%s: %q is not a positive duration (e.g. 168h)", d.name, d.v)
		}
		*d.into = v
	}
	if v, err := time.ParseDuration(f.quietAfter); err != nil || v < 0 {
		return fmt.Errorf("%s: %q is not a duration of 0 or more (e.g. 24h; 0 keeps workflows open)", EnvQuietAfter, f.quietAfter)
	} else if c.ContactQuietAfter = v; v == 0 {
		c.ContactQuietAfter = -1
	}
	if c.ObservationRetention < MinObservationRetention {
		return fmt.Errorf("%s: %s is shorter than %s, the age up to which a pass uses a bulk-read record", EnvObsRetain, c.ObservationRetention, MinObservationRetention)
	}
	if err := c.parseCodec(getenv); err != nil {
		return err
	}
	if c.TaskQueue == "" {
		return fmt.Errorf("%s: must not be empty", EnvTaskQueue)
	}
	for name, p := range map[string]int{"--temporal-port": c.TemporalPort, "--ui-port": c.UIPort, "--ghl-sim-port": c.GHLSimPort, "--rz-sim-port": c.RZSimPort} {
		if p <= 0 || p > 65535 {
			return fmt.Errorf("%s: %d is not a TCP port", name, p)
		}
	}
	return nil
}

// parseWebhookSettings reads the OAuth app, public URL and webhook verification settings.
func (c *Worker) parseWebhookSettings(f *workerFlags, getenv Getenv) error {
	c.GHLClientID, c.GHLSecret = getenv(EnvGHLClientID), getenv(EnvGHLSecret)
	c.GHLSharedSecret = strings.TrimSpace(getenv(EnvGHLShared))
	c.PublicURL = getenv(EnvPublicURL)
	if c.PublicURL != "" {
		if err := checkURL(EnvPublicURL, c.PublicURL); err != nil {
			return err
		}
	}
	d, err := time.ParseDuration(f.maxAge)
	if err != nil || d <= 0 {
		return fmt.Errorf("%s: %q is not a positive duration (e.g. 75m)", EnvWebhookMaxAge, f.maxAge)
	}
	c.WebhookMaxAge = d
	if c.InboxKeyRetention <= c.WebhookMaxAge || c.InboxKeyRetention < c.InboxRetention {
		return fmt.Errorf("%s: %s must be longer than %s (%s) and at least %s (%s): a webhookId forgotten inside the window could be replayed", EnvInboxKeys, c.InboxKeyRetention, EnvWebhookMaxAge, c.WebhookMaxAge, EnvInboxRetain, c.InboxRetention)
	}
	if c.WebhookMaxSkew <= 0 {
		return fmt.Errorf("--webhook-max-skew: %s is not a positive duration", c.WebhookMaxSkew)
	}
	if v := getenv(EnvWebhookKey); v != "" {
		for _, file := range strings.Split(v, ",") {
			if file = strings.TrimSpace(file); file != "" {
				c.WebhookKeyFiles = append(c.WebhookKeyFiles, file)
			}
		}
		if err := c.loadWebhookKeys(); err != nil {
			return err
		}
	}
	return nil
}

// parseBackends reads the database, encryption keys and API base URLs (--dev fills them in).
func (c *Worker) parseBackends(getenv Getenv) error {
	c.DatabaseURL = getenv(EnvDatabaseURL)
	if c.Dev {
		if err := c.devDefaults(getenv); err != nil {
			return err
		}
	} else {
		if c.DatabaseURL == "" {
			return fmt.Errorf("%s: not set; point it at PostgreSQL (postgres://user:pass@host:5432/db) or run with --dev", EnvDatabaseURL)
		}
		if err := checkDatabaseURL(c.DatabaseURL); err != nil {
			return err
		}
		spec := getenv(EnvKeys)
		if spec == "" {
			return fmt.Errorf("%s: not set; tokens and payloads must be encrypted outside --dev (generate one with `openssl rand -base64 32`)", EnvKeys)
		}
		kr, err := secrets.Parse(spec)
		if err != nil {
			return err
		}
		c.Keys, c.KeysSource = kr, EnvKeys
		c.GHLBaseURL = envOr(getenv, EnvGHLBaseURL, "https://services.leadconnectorhq.com")
		c.RZBaseURL = envOr(getenv, EnvRZBaseURL, "https://api.referrizer.com")
	}
	for _, u := range []struct{ name, v string }{{EnvGHLBaseURL, c.GHLBaseURL}, {EnvRZBaseURL, c.RZBaseURL}} {
		if err := checkURL(u.name, u.v); err != nil {
			return err
		}
	}
	return nil
}

// devDefaults fills in what --dev provides on its own: simulator URLs, and a key kept in the
// data directory so a restart can still read the tokens it stored.
func (c *Worker) devDefaults(getenv Getenv) error {
	if c.DataDir == "" {
		return errors.New("--data-dir: must not be empty")
	}
	if c.DatabaseURL != "" {
		if err := checkDatabaseURL(c.DatabaseURL); err != nil {
			return err
		}
	}
	c.GHLBaseURL = envOr(getenv, EnvGHLBaseURL, "http://127.0.0.1:"+strconv.Itoa(c.GHLSimPort))
	c.RZBaseURL = envOr(getenv, EnvRZBaseURL, "http://127.0.0.1:"+strconv.Itoa(c.RZSimPort))
	if spec := getenv(EnvKeys); spec != "" {
		kr, err := secrets.Parse(spec)
		if err != nil {
			return err
		}
		c.Keys, c.KeysSource = kr, EnvKeys
		return nil
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	keyFile := filepath.Join(c.DataDir, "dev-encryption.key")
	spec, err := os.ReadFile(keyFile)
	if errors.Is(err, os.ErrNotExist) {
		spec = []byte(secrets.GenerateSpec("dev"))
		if err := os.WriteFile(keyFile, spec, 0o600); err != nil {
			return fmt.Errorf("--data-dir: write dev key: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("--data-dir: read dev key: %w", err)
	}
	kr, err := secrets.Parse(string(spec))
	if err != nil {
		return fmt.Errorf("%s: %w", keyFile, err)
	}
	c.Keys, c.KeysSource = kr, keyFile
	return nil
}

// WebhookKeysBuiltIn in HLRZ_WEBHOOK_PUBLIC_KEYS stands for HighLevel's published keys, so a
// rotation can list them beside a new key file.
const WebhookKeysBuiltIn = "highlevel"

// loadWebhookKeys reads WebhookKeyFiles. Each key is put under the scheme its type says
// (Ed25519: X-GHL-Signature, RSA: legacy X-WH-Signature); any other key type is an error
// naming the file.
func (c *Worker) loadWebhookKeys() error {
	for _, f := range c.WebhookKeyFiles {
		var keys ghl.WebhookKeys
		source := f
		if strings.EqualFold(f, WebhookKeysBuiltIn) {
			k, err := ghl.DefaultWebhookKeys()
			if err != nil {
				return fmt.Errorf("%s: %w", EnvWebhookKey, err)
			}
			keys, source = k, "HighLevel's published key"
		} else {
			raw, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("%s: %w", EnvWebhookKey, err)
			}
			if keys, err = ghl.ParseWebhookKeys(raw); err != nil {
				return fmt.Errorf("%s: %s: %w", EnvWebhookKey, f, err)
			}
		}
		for _, d := range keys.Describe() {
			c.WebhookKeyNotes = append(c.WebhookKeyNotes, source+": "+d)
		}
		c.WebhookKeys.AddAll(keys)
	}
	return nil
}

func (l HTTPLimits) check() error {
	for name, d := range map[string]time.Duration{"--http-read-header-timeout": l.ReadHeaderTimeout, "--http-read-timeout": l.ReadTimeout, "--http-write-timeout": l.WriteTimeout, "--http-idle-timeout": l.IdleTimeout} {
		if d <= 0 {
			return fmt.Errorf("%s: %s is not a positive duration", name, d)
		}
	}
	if l.MaxHeaderBytes < 1024 {
		return fmt.Errorf("--http-max-header-bytes: %d is less than 1024", l.MaxHeaderBytes)
	}
	return nil
}

// MinObservationRetention is the activities' default ObservationTTL: observations younger
// than it are still used.
const MinObservationRetention = 30 * time.Minute

// minCodecToken is the shortest shared codec token accepted.
const minCodecToken = 16

// parseCodec reads the codec's credentials and the UI origin. With none configured the
// codec refuses every request (401).
func (c *Worker) parseCodec(getenv Getenv) error {
	for _, t := range strings.Split(getenv(EnvCodecToken), ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		if len(t) < minCodecToken {
			return fmt.Errorf("%s: a token is shorter than %d characters (generate one with `openssl rand -hex 32`)", EnvCodecToken, minCodecToken)
		}
		c.CodecTokens = append(c.CodecTokens, t)
	}
	c.CodecJWKSURL, c.CodecAudience = getenv(EnvCodecJWKS), getenv(EnvCodecAudience)
	if c.CodecJWKSURL != "" {
		if err := checkURL(EnvCodecJWKS, c.CodecJWKSURL); err != nil {
			return err
		}
	}
	c.UIOrigin = strings.TrimRight(getenv(EnvUIOrigin), "/")
	if c.UIOrigin != "" {
		u, err := url.Parse(c.UIOrigin)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("%s: %q is not an origin (scheme://host[:port])", EnvUIOrigin, c.UIOrigin)
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func envOr(getenv Getenv, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

func checkURL(name, v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: %q is not an http(s) URL", name, v)
	}
	return nil
}

// checkDatabaseURL catches malformed URLs early without echoing a password.
func checkDatabaseURL(v string) error {
	if strings.HasPrefix(v, "postgres://") || strings.HasPrefix(v, "postgresql://") {
		u, err := url.Parse(v)
		if err != nil {
			return fmt.Errorf("%s: not a valid URL (check quoting and percent-encoding of the password)", EnvDatabaseURL)
		}
		if u.Host == "" {
			return fmt.Errorf("%s: no host in the URL", EnvDatabaseURL)
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
				return fmt.Errorf("%s: port %q is not a number between 1 and 65535", EnvDatabaseURL, p)
			}
		}
		if strings.Trim(u.Path, "/") == "" {
			return fmt.Errorf("%s: no database name in the URL path", EnvDatabaseURL)
		}
		return nil
	}
	if strings.Contains(v, "=") { // key=value form; pgx validates the details
		return nil
	}
	return fmt.Errorf("%s: expected postgres://… or key=value pairs", EnvDatabaseURL)
}

// EnvNames lists every environment variable the worker and starter binaries read: ours,
// and the TEMPORAL_* names the SDK's envconfig reads for the client connection.
func EnvNames() []string {
	return []string{
		EnvDatabaseURL, EnvKeys, EnvListen, EnvInternal, EnvCodecToken, EnvCodecJWKS, EnvCodecAudience, EnvUIOrigin,
		EnvWebhookConc, EnvInboxRetain, EnvInboxKeys, EnvObsRetain, EnvTaskQueue, EnvLogLevel, EnvWebhookKey, EnvWebhookMaxAge, EnvPublicURL,
		EnvGHLClientID, EnvGHLSecret, EnvGHLShared, EnvGHLBaseURL, EnvRZBaseURL,
		EnvTemporalAddr, EnvTemporalNS, "TEMPORAL_API_KEY", "TEMPORAL_TLS", "TEMPORAL_TLS_CLIENT_CERT_PATH",
		"TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_SERVER_NAME",
		EnvCodecEndpoint, "TEMPORAL_CONFIG_FILE", "TEMPORAL_PROFILE",
	}
}
