package referrizer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

const (
	// FieldTypeText is the type of the projection fields. Referrizer's type names are only
	// in the derived spec; this is the spelling the simulator accepts.
	FieldTypeText = "TEXT"
	// DefaultNotesField and DefaultTasksField name the custom fields HighLevel notes and
	// tasks are projected onto.
	DefaultNotesField = "GHL Notes"
	DefaultTasksField = "GHL Tasks"

	// fieldCacheTTL bounds how long an ensured field is trusted without re-listing; a field
	// deleted in Referrizer meanwhile is also dropped on INVALID_CUSTOM_FIELD_NAME.
	fieldCacheTTL = 5 * time.Minute
)

// CustomField is a custom field definition.
type CustomField struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Options []string `json:"options,omitempty"`
}

// UnmarshalJSON accepts a numeric id and options given as strings or as objects with a
// value, name or label.
func (f *CustomField) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	var raw struct {
		ID      json.RawMessage   `json:"id"`
		Name    json.RawMessage   `json:"name"`
		Type    json.RawMessage   `json:"type"`
		Options []json.RawMessage `json:"options"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("decode custom field: %w", err)
	}
	var out CustomField
	decodeText(raw.ID, &out.ID)
	decodeText(raw.Name, &out.Name)
	decodeText(raw.Type, &out.Type)
	for _, o := range raw.Options {
		var s string
		if json.Unmarshal(o, &s) != nil {
			var obj map[string]json.RawMessage
			if json.Unmarshal(o, &obj) == nil {
				s = firstText(obj, "value", "name", "label")
			}
		}
		if s != "" {
			out.Options = append(out.Options, s)
		}
	}
	*f = out
	return nil
}

// ListCustomFields returns the account's custom field definitions.
func (c *Client) ListCustomFields(ctx context.Context) ([]CustomField, error) {
	var body listBody[CustomField]
	if _, err := c.do(ctx, request{op: "list custom fields", method: http.MethodGet, path: "/v1/custom-fields"}, &body); err != nil {
		return nil, err
	}
	return body.items, nil
}

// CreateCustomField creates a field from f's Name, Type and Options.
func (c *Client) CreateCustomField(ctx context.Context, f CustomField) (CustomField, error) {
	const op = "create custom field"
	body := map[string]any{"name": f.Name, "type": f.Type}
	if len(f.Options) > 0 {
		body["options"] = f.Options
	}
	var out CustomField
	if _, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/v1/custom-fields", body: body}, &out); err != nil {
		return CustomField{}, err
	}
	if out.ID == "" {
		return CustomField{}, &Error{Kind: KindDecode, Op: op, Message: "response has no custom field id"}
	}
	return out, nil
}

// RenameCustomField renames a field. Contact values are keyed by name, so values written
// under the old name must be written under the new one from now on.
func (c *Client) RenameCustomField(ctx context.Context, id, name string) error {
	const op = "rename custom field"
	if err := validateID(op, "custom field", id); err != nil {
		return err
	}
	c.fields.forget()
	_, err := c.do(ctx, request{op: op, method: http.MethodPut, path: "/v1/custom-fields/" + id + "/name", body: map[string]string{"name": name}}, nil)
	return err
}

// SetCustomFieldOptions replaces a dropdown field's options.
func (c *Client) SetCustomFieldOptions(ctx context.Context, id string, options []string) error {
	const op = "set custom field options"
	if err := validateID(op, "custom field", id); err != nil {
		return err
	}
	if options == nil {
		options = []string{}
	}
	_, err := c.do(ctx, request{op: op, method: http.MethodPut, path: "/v1/custom-fields/" + id + "/options", body: map[string][]string{"options": options}}, nil)
	return err
}

// EnsureCustomField returns the field named name, creating it with fieldType (default
// FieldTypeText) if there is none. It is idempotent and safe when several workers race:
// whoever loses the create (RESOURCE_ALREADY_EXISTS / NOT_UNIQUE) re-lists and uses the
// winner's field. A name matching an existing field but for letter case is that field
// (Referrizer's case rules are unknown; the simulator treats names case-insensitively),
// and the returned Name is the stored spelling, which is the key contacts use. A field of
// another type is an error rather than a second field. Results are cached per Client.
func (c *Client) EnsureCustomField(ctx context.Context, name, fieldType string) (CustomField, error) {
	const op = "ensure custom field"
	if strings.TrimSpace(name) == "" {
		return CustomField{}, &Error{Kind: KindValidation, Op: op, Message: "empty field name"}
	}
	if fieldType == "" {
		fieldType = FieldTypeText
	}
	if f, ok := c.fields.get(name); ok {
		if err := checkType(op, f, fieldType); err != nil {
			return CustomField{}, err
		}
		return f, nil
	}
	// One ensure at a time per client: concurrent callers then hit the cache instead of
	// all listing and creating.
	select {
	case c.fields.sem <- struct{}{}:
	case <-ctx.Done():
		return CustomField{}, &Error{Kind: KindNetwork, Op: op, err: ctx.Err()}
	}
	defer func() { <-c.fields.sem }()
	if f, ok := c.fields.get(name); ok {
		if err := checkType(op, f, fieldType); err != nil {
			return CustomField{}, err
		}
		return f, nil
	}
	f, found, err := c.findField(ctx, name)
	if err != nil {
		return CustomField{}, err
	}
	if !found {
		var createErr error
		f, createErr = c.CreateCustomField(ctx, CustomField{Name: name, Type: fieldType})
		if errors.Is(createErr, ErrDuplicate) {
			if f, found, err = c.findField(ctx, name); err != nil {
				return CustomField{}, err
			}
			if !found {
				return CustomField{}, createErr
			}
		} else if createErr != nil {
			return CustomField{}, createErr
		}
	}
	if err := checkType(op, f, fieldType); err != nil {
		return CustomField{}, err
	}
	c.fields.put(name, f)
	return f, nil
}

func checkType(op string, f CustomField, want string) error {
	if f.Type != "" && !strings.EqualFold(f.Type, want) {
		return &Error{Kind: KindValidation, Op: op, Message: fmt.Sprintf("custom field %q exists with type %s, want %s", f.Name, f.Type, want)}
	}
	return nil
}

// findField lists fields and picks name: exact match first, then ignoring case.
func (c *Client) findField(ctx context.Context, name string) (CustomField, bool, error) {
	fields, err := c.ListCustomFields(ctx)
	if err != nil {
		return CustomField{}, false, err
	}
	for _, f := range fields {
		if f.Name == name {
			return f, true, nil
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.Name, name) {
			return f, true, nil
		}
	}
	return CustomField{}, false, nil
}

// ProjectionFieldNames configure the projection fields; empty names take the defaults.
type ProjectionFieldNames struct {
	Notes string
	Tasks string
}

// ProjectionFields are the custom fields HighLevel notes and tasks are projected onto.
type ProjectionFields struct {
	Notes CustomField
	Tasks CustomField
}

// EnsureProjectionFields finds or creates the notes and tasks fields (text).
func (c *Client) EnsureProjectionFields(ctx context.Context, names ProjectionFieldNames) (ProjectionFields, error) {
	if names.Notes == "" {
		names.Notes = DefaultNotesField
	}
	if names.Tasks == "" {
		names.Tasks = DefaultTasksField
	}
	notes, err := c.EnsureCustomField(ctx, names.Notes, FieldTypeText)
	if err != nil {
		return ProjectionFields{}, err
	}
	tasks, err := c.EnsureCustomField(ctx, names.Tasks, FieldTypeText)
	if err != nil {
		return ProjectionFields{}, err
	}
	return ProjectionFields{Notes: notes, Tasks: tasks}, nil
}

// ForgetCustomFields drops the ensured-field cache, e.g. after an operator renamed a field.
func (c *Client) ForgetCustomFields() { c.fields.forget() }

type fieldCache struct {
	sem chan struct{} // serialises EnsureCustomField

	mu      sync.Mutex
	byName  map[string]CustomField // by lower-cased requested name
	expires time.Time
}

func (fc *fieldCache) get(name string) (CustomField, bool) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if time.Now().After(fc.expires) {
		fc.byName = nil
		return CustomField{}, false
	}
	f, ok := fc.byName[strings.ToLower(name)]
	return f, ok
}

func (fc *fieldCache) put(name string, f CustomField) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.byName == nil {
		fc.byName = map[string]CustomField{}
		fc.expires = time.Now().Add(fieldCacheTTL)
	}
	fc.byName[strings.ToLower(name)] = f
}

func (fc *fieldCache) forget() {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.byName = nil
}
