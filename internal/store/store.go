// Package store defines what the product persists: connections, encrypted OAuth tokens,
// person links, the sync ledger, the webhook inbox and dead letters. Implementations live in
// store/postgres (production) and store/sqlite (the zero-setup default for --dev); both pass
// the conformance suite in store/storetest.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors; implementations wrap them so callers test with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict means a unique rule would be broken, e.g. attaching a contact id that
	// another link of the same connection already owns.
	ErrConflict = errors.New("conflict")
)

// Side names one of the two systems.
type Side string

const (
	SideGHL Side = "ghl"
	SideRZ  Side = "rz"
)

// Valid reports whether s is a known side.
func (s Side) Valid() bool { return s == SideGHL || s == SideRZ }

// Other returns the other side.
func (s Side) Other() Side {
	if s == SideGHL {
		return SideRZ
	}
	return SideGHL
}

// ConnectionStatus is the lifecycle state of a connection.
type ConnectionStatus string

const (
	ConnActive            ConnectionStatus = "active"
	ConnPaused            ConnectionStatus = "paused"             // e.g. after AppUninstall; data kept
	ConnReconnectRequired ConnectionStatus = "reconnect_required" // refresh token rejected
	// ConnPending is a connection an app install created: it has its HighLevel side but no
	// Referrizer credential yet, so nothing syncs (no links, workflows or dead letters) until
	// an operator adds one with `starter connect`.
	ConnPending ConnectionStatus = "pending"
)

// Connection pairs one HighLevel location with one Referrizer account.
type Connection struct {
	ID            string // short, URL- and workflow-ID-safe
	Name          string
	GHLLocationID string
	GHLCompanyID  string
	// Mapping is the connection's mapping document (YAML or JSON) as the operator wrote it;
	// empty means the default mapping.
	Mapping      []byte
	Settings     Settings
	Status       ConnectionStatus
	StatusReason string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Settings are per-connection knobs that are not part of the field mapping.
type Settings struct {
	GHLBaseURL    string `json:"ghlBaseUrl,omitempty"`
	RZBaseURL     string `json:"rzBaseUrl,omitempty"`
	DefaultRegion string `json:"defaultRegion,omitempty"` // phone parsing, e.g. "US"; overrides the mapping's phone_region
	// DeletePolicy overrides the mapping's delete_policy when set (propagate, label, ignore).
	DeletePolicy      string  `json:"deletePolicy,omitempty"`
	DebounceMillis    int     `json:"debounceMillis,omitempty"`
	PollEveryMinutes  int     `json:"pollEveryMinutes,omitempty"`
	ReconcileMinutes  int     `json:"reconcileMinutes,omitempty"`
	RZRequestsPerSec  float64 `json:"rzRequestsPerSec,omitempty"`
	ReconcileBudgetPc int     `json:"reconcileBudgetPercent,omitempty"`
	// The reconcile's drift repair (0 takes the default): how far before its high-water
	// mark the change read starts again, and the longest a person with an open task, anyone's
	// notes and tasks, and a HighLevel delete may go unread.
	ReconcileOverlapSeconds int `json:"reconcileOverlapSeconds,omitempty"`
	TasksRereadMinutes      int `json:"tasksRereadMinutes,omitempty"`
	SweepMinutes            int `json:"sweepMinutes,omitempty"`
	DeletesEveryMinutes     int `json:"deletesEveryMinutes,omitempty"`
}

// TokenKind says whose credential a token is.
type TokenKind string

const (
	TokenGHL        TokenKind = "ghl"
	TokenReferrizer TokenKind = "referrizer"
	TokenGHLCompany TokenKind = "ghl_company" // a company's token (CompanyTokens)
)

// AuthMode says how a HighLevel token is obtained.
type AuthMode string

const (
	AuthOAuth   AuthMode = "oauth"   // authorization code; rotating refresh token
	AuthPrivate AuthMode = "private" // Private Integration / API token; static
	// AuthCompany is a Location token obtained from the agency's Company token (POST
	// /oauth/locationToken) after a bulk install: it has no refresh token and is obtained
	// again from the Company token when it expires.
	AuthCompany AuthMode = "company"
)

// Token is a credential in clear text; the store encrypts AccessToken and RefreshToken at rest.
type Token struct {
	ConnectionID string
	Kind         TokenKind
	Mode         AuthMode
	AccessToken  string
	RefreshToken string
	Expiry       time.Time // zero: does not expire
	Scope        string
	Version      int64 // bumped on every write; lets callers see a refresh happened
	UpdatedAt    time.Time
	// RefreshRejected says why HighLevel refused this token's refresh token; "" while it
	// is usable. A token carrying it is never refreshed again: only writing a new token
	// (a re-install) clears it.
	RefreshRejected string
}

// String never prints secrets.
func (t Token) String() string {
	return "token(" + t.ConnectionID + "/" + string(t.Kind) + ", mode=" + string(t.Mode) + ")"
}

// GoString keeps %#v from printing secrets too.
func (t Token) GoString() string { return t.String() }

// Link ties one person to their contact id on each side. Either id may be empty while the
// person exists on one side only.
type Link struct {
	ConnectionID string
	ID           string
	GHLContactID string
	RZContactID  string
	Deleted      bool // the person was deleted on a side and the delete policy applied
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// ContactID returns the link's id on side s.
func (l Link) ContactID(s Side) string {
	if s == SideGHL {
		return l.GHLContactID
	}
	return l.RZContactID
}

// LedgerEntry is the last synced state of one object kind of one link.
type LedgerEntry struct {
	ConnectionID string
	LinkID       string
	Object       string // "contact", "tags", "notes", "tasks", ...
	Snapshot     []byte // canonical JSON of the base
	Hash         string // hash of Snapshot
	// GHLHash and RZHash are the hashes of each side's mapped projection as we last wrote or
	// read it; an inbound change hashing equal is our own echo.
	GHLHash   string
	RZHash    string
	UpdatedAt time.Time
}

// InboxState is where a webhook event is in its life.
type InboxState string

const (
	InboxPending   InboxState = "pending"
	InboxSignalled InboxState = "signalled"
	InboxEcho      InboxState = "echo"     // our own write coming back; not signalled
	InboxOrphaned  InboxState = "orphaned" // unknown location; kept for an operator
	InboxIgnored   InboxState = "ignored"  // unknown type or paused connection; kept and counted
	InboxFailed    InboxState = "failed"   // gave up after retries; see LastError
)

// InboxEvent is one webhook delivery as received.
type InboxEvent struct {
	ID            int64
	DedupeKey     string // HighLevel webhookId
	Source        string // "ghl"
	EventType     string
	LocationID    string
	Body          []byte // raw bytes as signed
	ReceivedAt    time.Time
	State         InboxState
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	Note          string
}

// DeadLetterState tracks what an operator did with a dead letter.
type DeadLetterState string

const (
	DeadOpen      DeadLetterState = "open"
	DeadReplayed  DeadLetterState = "replayed"
	DeadDiscarded DeadLetterState = "discarded"
)

// DeadLetter is a unit of work that exhausted its retries, with enough context to replay it.
type DeadLetter struct {
	ID           int64
	ConnectionID string
	LinkID       string
	WorkflowID   string
	RunID        string
	Kind         string // activity or operation name
	Input        []byte // JSON input, replayable as is
	Error        string
	State        DeadLetterState
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Connections persists connections.
type Connections interface {
	PutConnection(ctx context.Context, c Connection) (Connection, error) // insert or update by ID
	GetConnection(ctx context.Context, id string) (Connection, error)
	ConnectionByLocation(ctx context.Context, ghlLocationID string) (Connection, error)
	ListConnections(ctx context.Context) ([]Connection, error)
	SetConnectionStatus(ctx context.Context, id string, status ConnectionStatus, reason string) error
}

// Tokens persists credentials, encrypted at rest.
type Tokens interface {
	PutToken(ctx context.Context, t Token) (Token, error)
	GetToken(ctx context.Context, connectionID string, kind TokenKind) (Token, error)
	// UpdateToken runs fn while holding an exclusive, cross-process lock on the token row and
	// persists what fn returns in the same transaction. fn sees the row as committed by
	// whoever held the lock before, so a caller that waited can notice a refresh already
	// happened (Version changed) and skip its own. If fn fails nothing is written.
	UpdateToken(ctx context.Context, connectionID string, kind TokenKind, fn func(current Token) (Token, error)) (Token, error)
}

// CompanyTokens persists agencies' (HighLevel companies') OAuth tokens, encrypted at rest,
// from which the Location tokens of bulk installs are obtained. The Token's ConnectionID and
// Kind are unused (Kind reads back as TokenGHLCompany).
type CompanyTokens interface {
	PutCompanyToken(ctx context.Context, companyID string, t Token) (Token, error)
	GetCompanyToken(ctx context.Context, companyID string) (Token, error)
	// UpdateCompanyToken is UpdateToken for a company's token.
	UpdateCompanyToken(ctx context.Context, companyID string, fn func(current Token) (Token, error)) (Token, error)
}

// Links persists person links.
type Links interface {
	// EnsureLink returns the link owning contact id on side, creating it when none does.
	// Concurrent calls for the same id return the same link; created is true for one caller.
	EnsureLink(ctx context.Context, connectionID string, side Side, contactID string) (l Link, created bool, err error)
	// PairLink links ghlID and rzID as one person: it reuses a link that owns either id and
	// attaches the other, or creates one. ErrConflict if they belong to two different links.
	PairLink(ctx context.Context, connectionID, ghlID, rzID string) (Link, error)
	GetLink(ctx context.Context, connectionID, linkID string) (Link, error)
	LinkBy(ctx context.Context, connectionID string, side Side, contactID string) (Link, error)
	// AttachContact sets the link's id on side. ErrConflict if another link owns contactID.
	AttachContact(ctx context.Context, connectionID, linkID string, side Side, contactID string) (Link, error)
	// ClaimContact is AttachContact for a contact we just created: when another link owns
	// contactID but has no contact on the other side (the create's own webhook or poll echo
	// got there first and made a link for it), that link is absorbed (deleted with its
	// ledger) and the contact attached here. ErrConflict if the owner is a full link.
	ClaimContact(ctx context.Context, connectionID, linkID string, side Side, contactID string) (l Link, absorbed string, err error)
	MarkLinkDeleted(ctx context.Context, connectionID, linkID string, deleted bool) error
	// ListLinks pages links ordered by ID, after the given ID ("" for the start).
	ListLinks(ctx context.Context, connectionID, afterID string, limit int) ([]Link, error)
	CountLinks(ctx context.Context, connectionID string) (int, error)
}

// Ledger persists the last synced snapshot and hashes per link and object.
type Ledger interface {
	GetLedger(ctx context.Context, connectionID, linkID, object string) (LedgerEntry, error)
	PutLedger(ctx context.Context, e LedgerEntry) error
	// SideHashes maps each linked contact id on side to its ledger hash for object on that
	// side, for change detection while polling.
	SideHashes(ctx context.Context, connectionID string, side Side, object string) (map[string]string, error)
	// LedgerEntries pages a connection's entries of one object by link id.
	LedgerEntries(ctx context.Context, connectionID, object, afterLinkID string, limit int) ([]LedgerEntry, error)
	// LedgerEntriesOf pages one link's entries whose object starts with prefix, by object.
	LedgerEntriesOf(ctx context.Context, connectionID, linkID, prefix, afterObject string, limit int) ([]LedgerEntry, error)
}

// Inbox persists webhook deliveries.
type Inbox interface {
	// InsertInbox stores e unless its DedupeKey was seen; inserted is false for a duplicate.
	// The row is committed when it returns.
	InsertInbox(ctx context.Context, e InboxEvent) (id int64, inserted bool, err error)
	// ClaimInbox leases up to limit due pending events to one relay for lease; rows leased by
	// another relay are skipped, not waited for.
	ClaimInbox(ctx context.Context, owner string, limit int, lease time.Duration) ([]InboxEvent, error)
	// ExtendInbox renews owner's lease, to now+lease, on those of ids it still holds
	// (pending and claimed by owner); it returns how many it renewed. A relay renews while
	// it works, so the lease can be short and a dead relay's rows come back soon.
	ExtendInbox(ctx context.Context, owner string, ids []int64, lease time.Duration) (int, error)
	// FinishInbox sets a final state; note is a short operator-facing reason.
	FinishInbox(ctx context.Context, id int64, state InboxState, note string) error
	// RetryInbox returns a claimed event to pending, due at next.
	RetryInbox(ctx context.Context, id int64, next time.Time, lastErr string) error
	GetInbox(ctx context.Context, id int64) (InboxEvent, error)
	InboxCounts(ctx context.Context) (map[InboxState]int, error)
	// OldestPending is the receive time of the oldest pending event (zero when none).
	OldestPending(ctx context.Context) (time.Time, error)
}

// DeadLetters persists work that exhausted its retries.
type DeadLetters interface {
	AddDeadLetter(ctx context.Context, d DeadLetter) (int64, error)
	GetDeadLetter(ctx context.Context, id int64) (DeadLetter, error)
	ListDeadLetters(ctx context.Context, connectionID string, state DeadLetterState, limit int) ([]DeadLetter, error)
	SetDeadLetterState(ctx context.Context, id int64, state DeadLetterState) error
}

// Observation is one side's record as we last read it in bulk (a backfill or poll page), or
// as a HighLevel contact webhook stated it, so the pass that read or webhook triggers need
// not fetch the person again.
type Observation struct {
	ContactID  string
	Body       []byte // the side's raw JSON record
	ObservedAt time.Time
}

// MatchKey is a normalised email ("email:…") or E.164 phone ("phone:…") of a contact.
type MatchKey struct {
	Key       string
	ContactID string
}

// Retention forgets personal data once it is no longer needed.
type Retention interface {
	// PruneInbox empties the body of finished (not pending) inbox rows received before
	// bodiesBefore, and deletes finished rows received before rowsBefore: a row's
	// webhookId (dedupe key) outlives its body so replays stay recognised. Pending rows are
	// never touched.
	PruneInbox(ctx context.Context, bodiesBefore, rowsBefore time.Time) (bodies, rows int64, err error)
	// PruneObservations deletes bulk-read records observed before before.
	PruneObservations(ctx context.Context, before time.Time) (int64, error)
}

// Observations persists bulk-read records.
type Observations interface {
	// PutObservations keeps, per contact, the record with the latest ObservedAt: a record
	// older than the stored one is ignored.
	PutObservations(ctx context.Context, connectionID string, side Side, obs []Observation) error
	GetObservation(ctx context.Context, connectionID string, side Side, contactID string) (Observation, error)
}

// MatchKeys persists match keys for first-link matching.
type MatchKeys interface {
	PutMatchKeys(ctx context.Context, connectionID string, side Side, keys []MatchKey) error
	// MatchContacts maps each given key to the contact ids on side that carry it.
	MatchContacts(ctx context.Context, connectionID string, side Side, keys []string) (map[string][]string, error)
}

// Cursors persists small per-connection resume positions (e.g. the reconcile's HighLevel
// high-water mark and its rotating re-read positions), so that work scheduled in separate
// runs continues where the previous one stopped.
type Cursors interface {
	// GetCursor returns the value stored under name, ErrNotFound when none is.
	GetCursor(ctx context.Context, connectionID, name string) ([]byte, error)
	// PutCursor stores value under name, replacing what was there.
	PutCursor(ctx context.Context, connectionID, name string, value []byte) error
}

// Store is everything together.
type Store interface {
	Retention
	Observations
	Cursors
	MatchKeys
	Connections
	Tokens
	CompanyTokens
	Links
	Ledger
	Inbox
	DeadLetters
	Ping(ctx context.Context) error
	Close()
}
