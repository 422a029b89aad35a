package ghl

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// GetContact reads one contact.
func (c *Client) GetContact(ctx context.Context, contactID string) (Contact, error) {
	const op = "get-contact"
	if err := requireIDs(op, contactID); err != nil {
		return Contact{}, err
	}
	var out struct {
		Contact Contact `json:"contact"`
	}
	err := c.do(ctx, call{op: op, method: http.MethodGet, path: pathf("/contacts/%s", contactID), out: &out})
	return out.Contact, err
}

// createBody adds the location to a contact body: HighLevel's create and upsert DTOs require
// it and the update DTO does not define it.
type createBody struct {
	LocationID string `json:"locationId"`
	ContactInput
}

// CreateContact creates a contact in the client's location. When the location does not allow
// duplicates and one exists (same e-mail, else same phone), it fails with ErrDuplicateContact;
// DuplicateContactID(err) names the existing contact.
func (c *Client) CreateContact(ctx context.Context, in ContactInput) (Contact, error) {
	var out struct {
		Contact Contact `json:"contact"`
	}
	err := c.do(ctx, call{op: "create-contact", method: http.MethodPost, path: "/contacts/",
		body: createBody{LocationID: c.loc, ContactInput: in}, out: &out})
	return out.Contact, err
}

// UpdateContact changes the fields set in in and returns the updated contact. HighLevel's
// UpdateContactDto has no companyName: an input that sets CompanyName fails with
// ErrValidation before anything is sent.
func (c *Client) UpdateContact(ctx context.Context, contactID string, in ContactInput) (Contact, error) {
	const op = "update-contact"
	if err := requireIDs(op, contactID); err != nil {
		return Contact{}, err
	}
	if in.CompanyName != nil {
		return Contact{}, &APIError{Op: op, kind: ErrValidation,
			Message: "companyName is not a property of HighLevel's UpdateContactDto (set it on create or upsert)"}
	}
	var out struct {
		Contact Contact `json:"contact"`
	}
	err := c.do(ctx, call{op: op, method: http.MethodPut, path: pathf("/contacts/%s", contactID), body: in, out: &out})
	return out.Contact, err
}

// DeleteContact deletes a contact. Deleting a contact that is already gone fails with
// ErrNotFound; callers that want idempotence treat that as success.
func (c *Client) DeleteContact(ctx context.Context, contactID string) error {
	const op = "delete-contact"
	if err := requireIDs(op, contactID); err != nil {
		return err
	}
	return c.deleted(ctx, call{op: op, method: http.MethodDelete, path: pathf("/contacts/%s", contactID)})
}

// FindDuplicate asks HighLevel which contact of the location it considers the same person
// as email and phone (GET /contacts/search/duplicate: e-mail first, then phone). found is
// false when there is none. Either value may be empty, not both.
func (c *Client) FindDuplicate(ctx context.Context, email, phone string) (contact Contact, found bool, err error) {
	const op = "get-duplicate-contact"
	if email == "" && phone == "" {
		return Contact{}, false, fmt.Errorf("ghl: %s: an e-mail or a phone is required", op)
	}
	q := url.Values{"locationId": {c.loc}}
	if email != "" {
		q.Set("email", email)
	}
	if phone != "" {
		q.Set("number", phone)
	}
	var out struct {
		Contact *Contact `json:"contact"`
	}
	if err := c.do(ctx, call{op: op, method: http.MethodGet, path: "/contacts/search/duplicate", query: q, out: &out}); err != nil {
		return Contact{}, false, err
	}
	if out.Contact == nil || out.Contact.ID == "" {
		return Contact{}, false, nil
	}
	return *out.Contact, true, nil
}

// UpsertContact updates the contact matching in's e-mail (else phone) or creates one;
// created reports which happened.
func (c *Client) UpsertContact(ctx context.Context, in ContactInput) (contact Contact, created bool, err error) {
	var out struct {
		New     bool    `json:"new"`
		Contact Contact `json:"contact"`
	}
	err = c.do(ctx, call{op: "upsert-contact", method: http.MethodPost, path: "/contacts/upsert",
		body: createBody{LocationID: c.loc, ContactInput: in}, out: &out})
	return out.Contact, out.New, err
}

// ListCursor continues GET /contacts/ after the last contact of a page. HighLevel needs both
// parts together.
type ListCursor struct {
	StartAfter   int64  `json:"startAfter"` // dateAdded of the last contact, epoch ms
	StartAfterID string `json:"startAfterId"`
}

// ListContactsParams pages GET /contacts/.
type ListContactsParams struct {
	Limit int         // 1..100; HighLevel's default is 20
	Query string      // free-text filter
	After *ListCursor // nil for the first page
}

// ContactPage is one page of contacts.
type ContactPage struct {
	Contacts []Contact
	Total    int
	// Next continues after this page; nil on the last page.
	Next *ListCursor
}

// ListContacts reads one page of the location's contacts with GET /contacts/ (deprecated by
// HighLevel in favour of SearchContacts, but still the cheapest full listing).
func (c *Client) ListContacts(ctx context.Context, p ListContactsParams) (ContactPage, error) {
	q := url.Values{"locationId": {c.loc}}
	limit := p.Limit
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	} else {
		limit = 20
	}
	if p.Query != "" {
		q.Set("query", p.Query)
	}
	if p.After != nil {
		q.Set("startAfter", strconv.FormatInt(p.After.StartAfter, 10))
		q.Set("startAfterId", p.After.StartAfterID)
	}
	var out contactListResponse
	if err := c.do(ctx, call{op: "get-contacts", method: http.MethodGet, path: "/contacts/", query: q, out: &out}); err != nil {
		return ContactPage{}, err
	}
	return out.page(limit), nil
}

type contactListResponse struct {
	Contacts []Contact `json:"contacts"`
	Count    int       `json:"count"`
	Meta     struct {
		Total        int    `json:"total"`
		StartAfterID string `json:"startAfterId"`
		StartAfter   *Time  `json:"startAfter"`
	} `json:"meta"`
}

func (r contactListResponse) page(limit int) ContactPage {
	p := ContactPage{Contacts: r.Contacts, Total: r.Meta.Total}
	if p.Total == 0 {
		p.Total = r.Count
	}
	// A short page is the last one, whatever meta says; a full page continues from meta's
	// cursor (HighLevel fills it from the last contact).
	if len(r.Contacts) >= limit && r.Meta.StartAfterID != "" && r.Meta.StartAfter != nil && !r.Meta.StartAfter.IsZero() {
		p.Next = &ListCursor{StartAfter: r.Meta.StartAfter.UnixMilli(), StartAfterID: r.Meta.StartAfterID}
	}
	return p
}

// SearchFilter is one condition of POST /contacts/search, e.g. {Field: "email", Operator:
// "eq", Value: "a@b.c"}.
type SearchFilter struct {
	Field    string `json:"field"`
	Operator string `json:"operator"`
	Value    any    `json:"value"`
}

// SearchSort orders search results, e.g. {Field: "dateUpdated", Direction: "desc"}.
type SearchSort struct {
	Field     string `json:"field"`
	Direction string `json:"direction"`
}

// SearchParams pages POST /contacts/search.
type SearchParams struct {
	PageLimit int // HighLevel requires it; default 100
	Query     string
	Filters   []SearchFilter
	Sort      []SearchSort
	// SearchAfter is SearchPage.Next of the previous page; nil for the first page. It is
	// opaque and JSON, so it can be kept in a heartbeat.
	SearchAfter json.RawMessage
}

// SearchPage is one page of search results.
type SearchPage struct {
	Contacts []Contact
	Total    int
	// Next continues after this page; nil on the last page.
	Next json.RawMessage
}

// SearchContacts runs one page of POST /contacts/search. The cursor is the searchAfter value
// HighLevel puts in the last record of each page.
func (c *Client) SearchContacts(ctx context.Context, p SearchParams) (SearchPage, error) {
	if p.PageLimit <= 0 {
		p.PageLimit = 100
	}
	body := struct {
		LocationID  string          `json:"locationId"`
		PageLimit   int             `json:"pageLimit"`
		Query       string          `json:"query,omitempty"`
		Filters     []SearchFilter  `json:"filters,omitempty"`
		Sort        []SearchSort    `json:"sort,omitempty"`
		SearchAfter json.RawMessage `json:"searchAfter,omitempty"`
	}{c.loc, p.PageLimit, p.Query, p.Filters, p.Sort, p.SearchAfter}
	var out searchResponse
	if err := c.do(ctx, call{op: "search-contacts-advanced", method: http.MethodPost, path: "/contacts/search", body: body, out: &out}); err != nil {
		return SearchPage{}, err
	}
	return out.page(p.PageLimit), nil
}

type searchResponse struct {
	Contacts []searchContact `json:"contacts"`
	Total    int             `json:"total"`
}

type searchContact struct {
	Contact
	SearchAfter json.RawMessage `json:"searchAfter"`
}

func (r searchResponse) page(limit int) SearchPage {
	p := SearchPage{Total: r.Total, Contacts: make([]Contact, len(r.Contacts))}
	for i, sc := range r.Contacts {
		p.Contacts[i] = sc.Contact
	}
	if n := len(r.Contacts); n >= limit && n > 0 {
		if last := r.Contacts[n-1].SearchAfter; len(last) > 0 && string(last) != "null" {
			p.Next = append(json.RawMessage(nil), last...)
		}
	}
	return p
}

// BusinessParams pages GET /contacts/business/{businessId}.
type BusinessParams struct {
	Limit int // HighLevel's default is 25
	Skip  int
	Query string
}

// ContactsByBusiness lists the contacts linked to a business (company record).
func (c *Client) ContactsByBusiness(ctx context.Context, businessID string, p BusinessParams) (ContactPage, error) {
	const op = "get-contacts-by-businessId"
	if err := requireIDs(op, businessID); err != nil {
		return ContactPage{}, err
	}
	q := url.Values{"locationId": {c.loc}}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Skip > 0 {
		q.Set("skip", strconv.Itoa(p.Skip))
	}
	if p.Query != "" {
		q.Set("query", p.Query)
	}
	var out contactListResponse
	if err := c.do(ctx, call{op: op, method: http.MethodGet, path: pathf("/contacts/business/%s", businessID), query: q, out: &out}); err != nil {
		return ContactPage{}, err
	}
	return ContactPage{Contacts: out.Contacts, Total: out.Count}, nil
}

// AddTags adds tags to a contact and returns the tags HighLevel reports back.
func (c *Client) AddTags(ctx context.Context, contactID string, tags []string) ([]string, error) {
	return c.tags(ctx, "add-tags", http.MethodPost, contactID, tags)
}

// RemoveTags removes tags from a contact and returns the tags HighLevel reports back.
func (c *Client) RemoveTags(ctx context.Context, contactID string, tags []string) ([]string, error) {
	return c.tags(ctx, "remove-tags", http.MethodDelete, contactID, tags)
}

func (c *Client) tags(ctx context.Context, op, method, contactID string, tags []string) ([]string, error) {
	if err := requireIDs(op, contactID); err != nil {
		return nil, err
	}
	if tags == nil {
		tags = []string{}
	}
	body := struct {
		Tags []string `json:"tags"`
	}{tags}
	var out struct {
		Tags []string `json:"tags"`
	}
	err := c.do(ctx, call{op: op, method: method, path: pathf("/contacts/%s/tags", contactID), body: body, out: &out})
	return out.Tags, err
}

// ListAppointments lists a contact's appointments.
func (c *Client) ListAppointments(ctx context.Context, contactID string) ([]Appointment, error) {
	const op = "get-appointments-for-contact"
	if err := requireIDs(op, contactID); err != nil {
		return nil, err
	}
	var out struct {
		Events []Appointment `json:"events"`
	}
	err := c.do(ctx, call{op: op, method: http.MethodGet, path: pathf("/contacts/%s/appointments", contactID), out: &out})
	return out.Events, err
}

// ListCustomFields lists the location's custom field definitions for model ("contact",
// "opportunity" or "all"; "" means HighLevel's default).
func (c *Client) ListCustomFields(ctx context.Context, model string) ([]CustomField, error) {
	var q url.Values
	if model != "" {
		q = url.Values{"model": {model}}
	}
	var out struct {
		CustomFields []CustomField `json:"customFields"`
	}
	err := c.do(ctx, call{op: "get-custom-fields", method: http.MethodGet, path: pathf("/locations/%s/customFields", c.loc), query: q, out: &out})
	return out.CustomFields, err
}
