package rzsim

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Custom field types the simulator accepts, spelled exactly so.
const (
	FieldText     = "TEXT"
	FieldNumber   = "NUMBER"
	FieldDate     = "DATE"
	FieldDropdown = "DROPDOWN"
)

// CustomField is a custom field definition as the API renders it.
type CustomField struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Options []string `json:"options"`
}

type customField struct {
	CustomField
	seq int64
}

var fieldNameRE = regexp.MustCompile(`^[\p{L}\p{N}_\- ]{1,50}$`)

func checkFieldName(name string) *APIError {
	if name == "" {
		return badRequest("MISSING_REQUIRED_FIELD", "name is required")
	}
	if !fieldNameRE.MatchString(name) || strings.TrimSpace(name) != name || strings.Contains(name, "  ") {
		return badRequest("INVALID_CUSTOM_FIELD_NAME", "name must be 1-50 letters, digits, spaces, '_' or '-'")
	}
	for k := range contactKeys {
		if strings.EqualFold(k, name) {
			return badRequest("INVALID_CUSTOM_FIELD_NAME", "name %q is a built-in contact field", name)
		}
	}
	return nil
}

func checkOptions(typ string, options []string) *APIError {
	if typ != FieldDropdown {
		if len(options) > 0 {
			return badRequest("ILLEGAL_ARGUMENT", "only a DROPDOWN field has options")
		}
		return nil
	}
	if len(options) == 0 {
		return badRequest("MISSING_REQUIRED_FIELD", "a DROPDOWN field needs options")
	}
	seen := map[string]bool{}
	for _, o := range options {
		if strings.TrimSpace(o) == "" || seen[o] {
			return badRequest("ILLEGAL_ARGUMENT", "options must be unique and non-empty")
		}
		seen[o] = true
	}
	return nil
}

// fieldByKey finds a field by exact name, then by id. Callers hold s.mu.
func (a *account) fieldByKey(key string) *customField {
	for _, f := range a.fields {
		if f.Name == key {
			return f
		}
	}
	return a.fields[key]
}

// nameTaken reports a case-insensitive name clash with a field other than self.
func (a *account) nameTaken(name, self string) bool {
	for _, f := range a.fields {
		if f.ID != self && strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// check validates a non-null value against the field type.
func (f *customField) check(raw json.RawMessage) *APIError {
	var s string
	isString := json.Unmarshal(raw, &s) == nil
	switch f.Type {
	case FieldText:
		if !isString {
			return badRequest("ILLEGAL_ARGUMENT", "custom field %q expects a string", f.Name)
		}
		if utf8.RuneCountInString(s) > MaxTextValueLen {
			return badRequest("ILLEGAL_ARGUMENT", "custom field %q is longer than %d characters", f.Name, MaxTextValueLen)
		}
	case FieldNumber:
		var n float64
		if json.Unmarshal(raw, &n) != nil {
			return badRequest("ILLEGAL_ARGUMENT", "custom field %q expects a number", f.Name)
		}
	case FieldDate:
		if _, err := time.Parse(dateLayout, s); !isString || err != nil {
			return badRequest("ILLEGAL_ARGUMENT", "custom field %q expects YYYY-MM-DD", f.Name)
		}
	case FieldDropdown:
		if !isString || !slices.Contains(f.Options, s) {
			return badRequest("ILLEGAL_ARGUMENT", "custom field %q expects one of its options", f.Name)
		}
	}
	return nil
}

func (f *customField) view() CustomField {
	v := f.CustomField
	v.Options = nonNil(slices.Clone(v.Options))
	return v
}

// sortedFields lists fields by creation. Callers hold s.mu.
func (a *account) sortedFields() []*customField {
	out := make([]*customField, 0, len(a.fields))
	for _, f := range a.fields {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

func (s *Server) listCustomFields(w http.ResponseWriter, r *http.Request, a *account) {
	s.mu.Lock()
	var items []any
	for _, f := range a.sortedFields() {
		items = append(items, f.view())
	}
	s.mu.Unlock()
	s.writeList(w, items, len(items), 1)
}

func (s *Server) createCustomField(w http.ResponseWriter, r *http.Request, a *account) {
	obj, e := readObject(r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	var body struct {
		Name    string   `json:"name"`
		Type    string   `json:"type"`
		Options []string `json:"options"`
	}
	raw, _ := json.Marshal(obj)
	if json.Unmarshal(raw, &body) != nil {
		s.writeError(w, badRequest("ILLEGAL_ARGUMENT", "name and type must be strings, options an array of strings"))
		return
	}
	if e := checkFieldName(body.Name); e != nil {
		s.writeError(w, e)
		return
	}
	switch body.Type {
	case "":
		s.writeError(w, badRequest("MISSING_REQUIRED_FIELD", "type is required"))
		return
	case FieldText, FieldNumber, FieldDate, FieldDropdown:
	default:
		s.writeError(w, badRequest("ILLEGAL_ARGUMENT", "type must be one of TEXT, NUMBER, DATE, DROPDOWN"))
		return
	}
	if e := checkOptions(body.Type, body.Options); e != nil {
		s.writeError(w, e)
		return
	}
	s.mu.Lock()
	if a.nameTaken(body.Name, "") {
		s.mu.Unlock()
		s.writeError(w, badRequest("NOT_UNIQUE", "a custom field with this name already exists"))
		return
	}
	s.seq++
	f := &customField{CustomField: CustomField{ID: s.newID(), Name: body.Name, Type: body.Type, Options: body.Options}, seq: s.seq}
	a.fields[f.ID] = f
	v := f.view()
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) renameCustomField(w http.ResponseWriter, r *http.Request, a *account) {
	obj, e := readObject(r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	var name string
	if raw, ok := obj["name"]; ok && json.Unmarshal(raw, &name) != nil {
		s.writeError(w, badRequest("ILLEGAL_ARGUMENT", "name must be a string"))
		return
	}
	if e := checkFieldName(name); e != nil {
		s.writeError(w, e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := a.fields[r.PathValue("id")]
	switch {
	case f == nil:
		s.writeError(w, notFound("custom field"))
	case a.nameTaken(name, f.ID):
		s.writeError(w, badRequest("NOT_UNIQUE", "a custom field with this name already exists"))
	default:
		f.Name = name // values are stored by field id, so every contact follows the rename
		writeJSON(w, http.StatusOK, f.view())
	}
}

func (s *Server) setCustomFieldOptions(w http.ResponseWriter, r *http.Request, a *account) {
	obj, e := readObject(r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	var options []string
	if raw, ok := obj["options"]; !ok || json.Unmarshal(raw, &options) != nil {
		s.writeError(w, badRequest("MISSING_REQUIRED_FIELD", "options must be an array of strings"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := a.fields[r.PathValue("id")]
	if f == nil {
		s.writeError(w, notFound("custom field"))
		return
	}
	if f.Type != FieldDropdown {
		s.writeError(w, badRequest("ILLEGAL_ARGUMENT", "only a DROPDOWN field has options"))
		return
	}
	if e := checkOptions(f.Type, options); e != nil {
		s.writeError(w, e)
		return
	}
	f.Options = options
	writeJSON(w, http.StatusOK, f.view())
}
