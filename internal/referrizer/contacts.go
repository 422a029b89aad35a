package referrizer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ListOptions select a page of contacts.
type ListOptions struct {
	Page    int    // 1-based; 0 means 1
	PerPage int    // 1..MaxPerPage; 0 means MaxPerPage
	Email   string // filter (exact match is all that is known)
	Phone   string // filter; the format Referrizer expects is unknown, it is sent as given
	// Sort and Order are passed through when set ("createdAt", "asc"/"desc"); they are only
	// in the derived spec, so the walker does not depend on them.
	Sort  string
	Order string
}

// ContactPage is one page of contacts.
type ContactPage struct {
	Contacts []Contact
	Total    int // X-Total-Count (or the body's total); -1 if the server sent neither
	Page     int
	PerPage  int
}

// HasNext reports whether a later page may hold more contacts: by the total when known,
// else by whether this page was full.
func (p ContactPage) HasNext() bool {
	if len(p.Contacts) == 0 {
		return false
	}
	if p.Total >= 0 {
		return (p.Page-1)*p.PerPage+len(p.Contacts) < p.Total
	}
	return len(p.Contacts) >= p.PerPage
}

// listBody reads a list as a bare array (shipped third-party code) or as
// {"data": [...], "total": n} (derived spec).
type listBody[T any] struct {
	items []T
	total int // -1: absent
}

func (l *listBody[T]) UnmarshalJSON(b []byte) error {
	l.total = -1
	b = bytes.TrimSpace(b)
	switch {
	case isNull(b):
		return nil
	case len(b) > 0 && b[0] == '[':
		return json.Unmarshal(b, &l.items)
	case len(b) > 0 && b[0] == '{':
		var env struct {
			Data  []T             `json:"data"`
			Total json.RawMessage `json:"total"`
		}
		if err := json.Unmarshal(b, &env); err != nil {
			return err
		}
		l.items = env.Data
		if n, err := strconv.Atoi(string(bytes.Trim(env.Total, `"`))); err == nil && n >= 0 {
			l.total = n
		}
		return nil
	}
	return errors.New("list body is neither an array nor an object")
}

// totalOf prefers X-Total-Count, the documented source.
func totalOf(h http.Header, body int) int {
	if n, err := strconv.Atoi(h.Get("X-Total-Count")); err == nil && n >= 0 {
		return n
	}
	return body
}

// ListContacts returns one page of contacts.
func (c *Client) ListContacts(ctx context.Context, opts ListOptions) (ContactPage, error) {
	const op = "list contacts"
	if opts.Page == 0 {
		opts.Page = 1
	}
	if opts.PerPage == 0 {
		opts.PerPage = MaxPerPage
	}
	if opts.Page < 1 || opts.PerPage < 1 || opts.PerPage > MaxPerPage {
		return ContactPage{}, &Error{Kind: KindValidation, Op: op, Message: fmt.Sprintf("page must be >= 1 and perPage 1..%d", MaxPerPage)}
	}
	q := url.Values{"page": {strconv.Itoa(opts.Page)}, "perPage": {strconv.Itoa(opts.PerPage)}}
	for k, v := range map[string]string{"email": opts.Email, "phone": opts.Phone, "sort": opts.Sort, "order": opts.Order} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var body listBody[Contact]
	h, err := c.do(ctx, request{op: op, method: http.MethodGet, path: "/v1/contacts", query: q}, &body)
	if err != nil {
		return ContactPage{}, err
	}
	return ContactPage{Contacts: body.items, Total: totalOf(h, body.total), Page: opts.Page, PerPage: opts.PerPage}, nil
}

// GetContact returns one contact.
func (c *Client) GetContact(ctx context.Context, id string) (Contact, error) {
	const op = "get contact"
	if err := validateID(op, "contact", id); err != nil {
		return Contact{}, err
	}
	var out Contact
	if _, err := c.do(ctx, request{op: op, method: http.MethodGet, path: "/v1/contacts/" + id}, &out); err != nil {
		return Contact{}, err
	}
	if out.ID == "" {
		return Contact{}, &Error{Kind: KindDecode, Op: op, Message: "response has no contact id"}
	}
	return out, nil
}

// CreateContact creates a contact and returns it as stored. ShouldSendNotification is
// forced false; id and timestamps are the server's to set.
func (c *Client) CreateContact(ctx context.Context, in Contact) (Contact, error) {
	const op = "create contact"
	in.ID, in.CreatedAt, in.UpdatedAt = "", time.Time{}, time.Time{}
	in.ShouldSendNotification = false
	for _, k := range []string{"id", "createdAt", "updatedAt", "shouldSendNotification"} {
		if _, ok := in.Extra[k]; ok {
			in.Extra = cloneWithout(in.Extra, k)
		}
	}
	var out Contact
	if _, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/v1/contacts", body: in}, &out); err != nil {
		return Contact{}, err
	}
	if out.ID == "" {
		// Without an id the contact cannot be linked; a retry will meet
		// RESOURCE_ALREADY_EXISTS and look it up by email instead.
		return Contact{}, &Error{Kind: KindDecode, Op: op, Message: "response has no contact id"}
	}
	return out, nil
}

// UpdateContact applies a patch to the contact's current state (GET, merge, PUT of the
// whole object; see UpdateContactFunc).
func (c *Client) UpdateContact(ctx context.Context, id string, p ContactPatch) (Contact, error) {
	return c.UpdateContactFunc(ctx, id, func(ct *Contact) error {
		p.Apply(ct)
		return nil
	})
}

// UpdateContactFunc reads the contact, lets edit change it, and writes the whole object
// back with PUT, because whether Referrizer's PUT merges or replaces is unknown: sending
// everything we read (Extra included) is right under both. If edit changes nothing, no PUT
// is sent. It returns the contact as stored.
//
// There is no known conditional write (ETag, version), so an edit made in Referrizer
// between our GET and PUT is overwritten; the window is one round trip. Errors from edit
// are returned as they are.
func (c *Client) UpdateContactFunc(ctx context.Context, id string, edit func(*Contact) error) (Contact, error) {
	cur, err := c.GetContact(ctx, id)
	if err != nil {
		return Contact{}, err
	}
	return c.put(ctx, "update contact", id, cur, edit)
}

// PutContact is UpdateContactFunc without the GET: it edits cur, a contact the caller read
// moments ago, and writes it back. It saves a call per update, at the price of a lost-update
// window as long as the caller's read is old; callers bound that age.
func (c *Client) PutContact(ctx context.Context, cur Contact, edit func(*Contact) error) (Contact, error) {
	const op = "put contact"
	if err := validateID(op, "contact", cur.ID); err != nil {
		return Contact{}, err
	}
	return c.put(ctx, op, cur.ID, cur, edit)
}

func (c *Client) put(ctx context.Context, op, id string, cur Contact, edit func(*Contact) error) (Contact, error) {
	before, err := json.Marshal(cur)
	if err != nil {
		return Contact{}, &Error{Kind: KindDecode, Op: op, err: err}
	}
	var next Contact
	if err := json.Unmarshal(before, &next); err != nil { // a deep copy for edit to own
		return Contact{}, &Error{Kind: KindDecode, Op: op, err: err}
	}
	if err := edit(&next); err != nil {
		return Contact{}, err
	}
	next.ID = id
	next.ShouldSendNotification = false
	after, err := json.Marshal(next)
	if err != nil {
		return Contact{}, &Error{Kind: KindValidation, Op: op, err: err}
	}
	if bytes.Equal(before, after) {
		return cur, nil
	}
	var out Contact
	if _, err := c.do(ctx, request{op: op, method: http.MethodPut, path: "/v1/contacts/" + id, body: after}, &out); err != nil {
		return Contact{}, err
	}
	if out.ID == "" { // a bodiless 200/204: what we sent is the best knowledge we have
		return next, nil
	}
	return out, nil
}

// DeleteContact deletes a contact. Deleting one that is gone returns ErrNotFound, which
// callers making deletes idempotent treat as done.
func (c *Client) DeleteContact(ctx context.Context, id string) error {
	const op = "delete contact"
	if err := validateID(op, "contact", id); err != nil {
		return err
	}
	_, err := c.do(ctx, request{op: op, method: http.MethodDelete, path: "/v1/contacts/" + id}, nil)
	return err
}

func cloneWithout(m map[string]json.RawMessage, key string) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// Pager walks all contacts page by page, leaving the pace (and checkpointing, e.g. in an
// activity heartbeat) to the caller.
//
// Page-number paging over a live list is not a snapshot. What the walk guarantees:
//   - no contact is returned twice (the pager de-duplicates by id, so a contact pushed onto
//     the next page by an insert ahead of it is not repeated);
//   - an edit never moves a contact when the order is by creation (Referrizer's apparent
//     default), so edited contacts are seen once, with whichever version was current when
//     their page was read;
//   - a contact created during the walk may or may not be seen;
//   - a delete during the walk shifts later contacts one place back, so one contact at a
//     page boundary can be missed by this walk. The next walk sees it. Absence from a walk
//     is therefore no proof of deletion: confirm with GetContact (ErrNotFound) first.
type Pager struct {
	c    *Client
	opts ListOptions
	seen map[string]struct{}
	done bool
}

// NewPager starts a walk at opts.Page (default 1): to resume after a restart, pass the
// NextPage saved before it.
func (c *Client) NewPager(opts ListOptions) *Pager {
	if opts.Page == 0 {
		opts.Page = 1
	}
	return &Pager{c: c, opts: opts, seen: map[string]struct{}{}}
}

// Done reports whether the walk is over.
func (p *Pager) Done() bool { return p.done }

// NextPage is the page the next call to Next reads: a checkpoint to resume from.
func (p *Pager) NextPage() int { return p.opts.Page }

// Next reads the next page and returns its contacts not returned before. On error the
// pager is unchanged, so Next can be called again.
func (p *Pager) Next(ctx context.Context) (ContactPage, error) {
	if p.done {
		return ContactPage{Total: -1, Page: p.opts.Page, PerPage: p.opts.PerPage}, nil
	}
	page, err := p.c.ListContacts(ctx, p.opts)
	if err != nil {
		return ContactPage{}, err
	}
	fresh := page.Contacts[:0:0]
	for _, ct := range page.Contacts {
		if _, dup := p.seen[ct.ID]; dup && ct.ID != "" {
			continue
		}
		p.seen[ct.ID] = struct{}{}
		fresh = append(fresh, ct)
	}
	// Without a total, a full page of nothing new means the server ignores `page`: stop
	// rather than loop forever. With a total, HasNext alone ends the walk.
	p.done = !page.HasNext() || (page.Total < 0 && len(fresh) == 0)
	p.opts.Page++
	page.Contacts = fresh
	return page, nil
}

// AllContacts yields every contact once (see Pager for what a live walk guarantees). It
// stops at the first error, yielding it.
func (c *Client) AllContacts(ctx context.Context, opts ListOptions) iter.Seq2[Contact, error] {
	return func(yield func(Contact, error) bool) {
		p := c.NewPager(opts)
		for !p.Done() {
			page, err := p.Next(ctx)
			if err != nil {
				yield(Contact{}, err)
				return
			}
			for _, ct := range page.Contacts {
				if !yield(ct, nil) {
					return
				}
			}
		}
	}
}

// Activity is one entry of a contact's read-only timeline.
type Activity struct {
	ID          string
	Type        string
	Date        time.Time // zero if absent or unreadable (then kept in Extra)
	Description string
	Extra       map[string]json.RawMessage
}

// UnmarshalJSON decodes tolerantly, keeping what it does not model in Extra.
func (a *Activity) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("decode activity: %w", err)
	}
	var out Activity
	for k, raw := range obj {
		var ok bool
		switch k {
		case "id":
			ok = decodeText(raw, &out.ID)
		case "type":
			ok = decodeText(raw, &out.Type)
		case "description":
			ok = decodeText(raw, &out.Description)
		case "date":
			ok = decodeTime(raw, &out.Date)
		}
		if !ok {
			if out.Extra == nil {
				out.Extra = map[string]json.RawMessage{}
			}
			out.Extra[k] = raw
		}
	}
	*a = out
	return nil
}

// ActivityOptions filter a contact's timeline.
type ActivityOptions struct {
	BeforeDate time.Time // only entries before this; zero: newest
	PerPage    int       // 1..MaxPerPage; 0: the server's default
	Type       string    // e.g. "VISIT"; empty: all
}

// ListContactActivities returns a contact's timeline, newest first. To read older
// entries, call again with BeforeDate set to the oldest Date returned.
func (c *Client) ListContactActivities(ctx context.Context, contactID string, opts ActivityOptions) ([]Activity, error) {
	const op = "list contact activities"
	if err := validateID(op, "contact", contactID); err != nil {
		return nil, err
	}
	if opts.PerPage < 0 || opts.PerPage > MaxPerPage {
		return nil, &Error{Kind: KindValidation, Op: op, Message: fmt.Sprintf("perPage must be 1..%d", MaxPerPage)}
	}
	q := url.Values{}
	if !opts.BeforeDate.IsZero() {
		q.Set("beforeDate", opts.BeforeDate.UTC().Format(timeLayout))
	}
	if opts.PerPage > 0 {
		q.Set("perPage", strconv.Itoa(opts.PerPage))
	}
	if opts.Type != "" {
		q.Set("type", opts.Type)
	}
	var body listBody[Activity]
	if _, err := c.do(ctx, request{op: op, method: http.MethodGet, path: "/v1/contacts/" + contactID + "/activities", query: q}, &body); err != nil {
		return nil, err
	}
	return body.items, nil
}
