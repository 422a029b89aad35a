// Package simclient drives the simulators through their admin HTTP APIs, as a person (or a
// test) editing in HighLevel and Referrizer would, when the simulators run in another
// process (cmd/hlrz-sims). Its methods mirror the in-process ones of ghlsim.Server and
// rzsim.Server, so app.Seed works with either.
package simclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
)

var hc = &http.Client{Timeout: 2 * time.Minute}

// call sends one admin request and decodes a 2xx answer into out (when non-nil).
func call(ctx context.Context, method, u string, hdr map[string]string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("simclient: encode %s %s: %w", method, u, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("simclient: %s %s: %w", method, u, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("simclient: %s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("simclient: %s %s: read answer: %w", method, u, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("simclient: %s %s: HTTP %d: %s", method, u, resp.StatusCode, bytes.TrimSpace(raw))
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("simclient: %s %s: decode answer: %w", method, u, err)
		}
	}
	return nil
}

// GHL is the HighLevel simulator's admin API.
type GHL struct{ BaseURL string }

func (g GHL) do(method, path string, in, out any) error {
	return call(context.Background(), method, g.BaseURL+path, nil, in, out)
}

// AddPrivateToken lets token open locationID (a Private Integration token): another
// location, for a test with several.
func (g GHL) AddPrivateToken(locationID, token string) error {
	return g.do(http.MethodPost, "/admin/tokens", map[string]string{"locationId": locationID, "token": token}, nil)
}

// CreateContact creates a contact in c.LocationID.
func (g GHL) CreateContact(c ghlsim.Contact) (out ghlsim.Contact, err error) {
	return out, g.do(http.MethodPost, "/admin/contacts", c, &out)
}

// UpdateContact edits a contact.
func (g GHL) UpdateContact(id string, p ghlsim.ContactPatch) (out ghlsim.Contact, err error) {
	return out, g.do(http.MethodPut, "/admin/contacts/"+url.PathEscape(id), p, &out)
}

// AddTags adds tags to a contact.
func (g GHL) AddTags(id string, tags ...string) (out ghlsim.Contact, err error) {
	return out, g.do(http.MethodPost, "/admin/contacts/"+url.PathEscape(id)+"/tags", map[string][]string{"tags": tags}, &out)
}

// RemoveTags removes tags from a contact.
func (g GHL) RemoveTags(id string, tags ...string) (out ghlsim.Contact, err error) {
	return out, g.do(http.MethodDelete, "/admin/contacts/"+url.PathEscape(id)+"/tags", map[string][]string{"tags": tags}, &out)
}

// CreateNote adds a note to a contact.
func (g GHL) CreateNote(contactID string, n ghlsim.Note) (out ghlsim.Note, err error) {
	return out, g.do(http.MethodPost, "/admin/contacts/"+url.PathEscape(contactID)+"/notes", n, &out)
}

// CreateTask adds a task to a contact.
func (g GHL) CreateTask(contactID string, t ghlsim.Task) (out ghlsim.Task, err error) {
	return out, g.do(http.MethodPost, "/admin/contacts/"+url.PathEscape(contactID)+"/tasks", t, &out)
}

// CompleteTask marks a task completed or open again.
func (g GHL) CompleteTask(taskID string, completed bool) (out ghlsim.Task, err error) {
	return out, g.do(http.MethodPut, "/admin/tasks/"+url.PathEscape(taskID)+"/completed", map[string]bool{"completed": completed}, &out)
}

// CreateAppointment books an appointment for a contact.
func (g GHL) CreateAppointment(contactID string, a ghlsim.Appointment) (out ghlsim.Appointment, err error) {
	return out, g.do(http.MethodPost, "/admin/contacts/"+url.PathEscape(contactID)+"/appointments", a, &out)
}

// AddCustomField defines a custom field in f.LocationID.
func (g GHL) AddCustomField(f ghlsim.CustomField) (out ghlsim.CustomField, err error) {
	return out, g.do(http.MethodPost, "/admin/customFields", f, &out)
}

// Snapshot reads every record.
func (g GHL) Snapshot() (out ghlsim.Snapshot, err error) {
	return out, g.do(http.MethodGet, "/admin/snapshot", nil, &out)
}

// Stats reads the request and webhook counters.
func (g GHL) Stats() (out ghlsim.Stats, err error) {
	return out, g.do(http.MethodGet, "/admin/stats", nil, &out)
}

// SetFaults replaces the injected faults.
func (g GHL) SetFaults(f ghlsim.Faults) error {
	f.RetryAfterSec = f.RetryAfter.Seconds()
	f.LatencyMillis, f.JitterMillis = f.Latency.Milliseconds(), f.LatencyJitter.Milliseconds()
	return g.do(http.MethodPost, "/admin/faults", f, nil)
}

// Webhooks reads the webhook settings.
func (g GHL) Webhooks() (out ghlsim.WebhookOptions, err error) {
	return out, g.do(http.MethodGet, "/admin/webhooks", nil, &out)
}

// SetWebhooks replaces the webhook settings (the signing key stays).
func (g GHL) SetWebhooks(o ghlsim.WebhookOptions) error {
	if o.RetryInterval > 0 {
		o.RetryIntervalMillis = o.RetryInterval.Milliseconds()
	}
	if o.Delay > 0 {
		o.DelayMillis = o.Delay.Milliseconds()
	}
	return g.do(http.MethodPost, "/admin/webhooks", o, nil)
}

// WaitDelivered waits until no webhook is queued or in flight.
func (g GHL) WaitDelivered(timeout time.Duration) error {
	return g.do(http.MethodPost, "/admin/webhooks/wait?timeout="+url.QueryEscape(timeout.String()), nil, nil)
}

// WebhookLog reads every event's final outcome.
func (g GHL) WebhookLog() (out []ghlsim.WebhookRecord, err error) {
	return out, g.do(http.MethodGet, "/admin/webhooks/log", nil, &out)
}

// RZ is the Referrizer simulator's admin API (and, for custom fields, its public API).
type RZ struct{ BaseURL string }

func (r RZ) do(token, method, path string, in, out any) error {
	return call(context.Background(), method, r.BaseURL+path, map[string]string{rzsim.AdminAccountHeader: token}, in, out)
}

// AddAccount creates an account its API token opens (a no-op for a known token).
func (r RZ) AddAccount(token string) error {
	return r.do("", http.MethodPost, "/admin/accounts", map[string]string{"token": token}, nil)
}

// AdminCreateContact creates a contact in the token's account, as a person would.
func (r RZ) AdminCreateContact(token string, c rzsim.Contact) (out rzsim.Contact, err error) {
	return out, r.do(token, http.MethodPost, "/admin/contacts", c, &out)
}

// PatchContact edits a contact with a JSON merge patch.
func (r RZ) PatchContact(token, id string, patch map[string]any) (out rzsim.Contact, err error) {
	return out, r.do(token, http.MethodPatch, "/admin/contacts/"+url.PathEscape(id), patch, &out)
}

// AdminAddLabel adds a label.
func (r RZ) AdminAddLabel(token, id, label string) (out rzsim.Contact, err error) {
	return out, r.do(token, http.MethodPost, "/admin/contacts/"+url.PathEscape(id)+"/labels", map[string]string{"label": label}, &out)
}

// AdminRemoveLabel removes a label.
func (r RZ) AdminRemoveLabel(token, id, label string) (out rzsim.Contact, err error) {
	return out, r.do(token, http.MethodDelete, "/admin/contacts/"+url.PathEscape(id)+"/labels/"+url.PathEscape(label), nil, &out)
}

// Contacts lists the account's contacts.
func (r RZ) Contacts(token string) (out []rzsim.Contact, err error) {
	return out, r.do(token, http.MethodGet, "/admin/contacts", nil, &out)
}

// Visits lists the account's visits.
func (r RZ) Visits(token string) (out []rzsim.Visit, err error) {
	return out, r.do(token, http.MethodGet, "/admin/visits", nil, &out)
}

// CreateCustomField creates a custom field through the public API (there is no admin
// endpoint for it); injected faults apply.
func (r RZ) CreateCustomField(token, name, typ string) (out rzsim.CustomField, err error) {
	err = call(context.Background(), http.MethodPost, r.BaseURL+"/v1/custom-fields", map[string]string{"Authorization": "Bearer " + token},
		map[string]string{"name": name, "type": typ}, &out)
	return out, err
}

// Stats reads the call counters.
func (r RZ) Stats() (out rzsim.Stats, err error) {
	return out, r.do("", http.MethodGet, "/admin/stats", nil, &out)
}

// SetFaults replaces the injected faults.
func (r RZ) SetFaults(f rzsim.Faults) error {
	return r.do("", http.MethodPost, "/admin/faults", f, nil)
}
