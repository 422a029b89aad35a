package setupapp

import (
	"fmt"
	"net/http"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hlrz/hlrz/internal/onboard"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

// mappingForm is the part of the mapping document the page's form edits; the rest of the
// document (custom fields, rules, transforms) is kept as it is.
type mappingForm struct {
	Fields       []formField `json:"fields"`
	DeletePolicy string      `json:"deletePolicy"`
	DeletedLabel string      `json:"deletedLabel"`
	Notes        struct {
		Field     string `json:"field"`
		MaxLength int    `json:"maxLength"`
	} `json:"notes"`
	Tasks struct {
		Field            string `json:"field"`
		MaxLength        int    `json:"maxLength"`
		KeepCompletedFor string `json:"keepCompletedFor"`
		OpenLabel        string `json:"openLabel"`
		OverdueLabel     string `json:"overdueLabel"`
	} `json:"tasks"`
}

// formField is one standard field: Direction "off" leaves it out of the sync.
type formField struct {
	Name      string `json:"name"`
	Direction string `json:"direction"`
	Conflict  string `json:"conflict,omitempty"`
}

var formFieldNames = []string{syncmodel.FieldFirstName, syncmodel.FieldLastName, syncmodel.FieldEmail, syncmodel.FieldPhone, syncmodel.FieldDND, syncmodel.FieldTags}

func formOf(m *syncmodel.Mapping) mappingForm {
	var f mappingForm
	for _, name := range formFieldNames {
		ff := formField{Name: name, Direction: "off"}
		if r, ok := m.Field(name); ok {
			ff.Direction, ff.Conflict = string(r.Direction), string(r.Conflict)
		}
		f.Fields = append(f.Fields, ff)
	}
	f.DeletePolicy, f.DeletedLabel = string(m.DeletePolicy()), m.DeletedLabel()
	n, t := m.Notes(), m.Tasks()
	f.Notes.Field, f.Notes.MaxLength = n.Field, n.MaxLength
	f.Tasks.Field, f.Tasks.MaxLength, f.Tasks.OpenLabel, f.Tasks.OverdueLabel = t.Field, t.MaxLength, t.OpenLabel, t.OverdueLabel
	f.Tasks.KeepCompletedFor = durationText(t.KeepCompleted)
	return f
}

// durationText writes whole days as "7d", the mapping's own notation.
func durationText(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

func currentDoc(conn *store.Connection) (doc []byte, isDefault bool) {
	if len(conn.Mapping) > 0 {
		return conn.Mapping, false
	}
	return []byte(syncmodel.DefaultMappingYAML), true
}

func (h *Handler) apiMapping(w http.ResponseWriter, _ *http.Request, _ session, conn *store.Connection) {
	if conn == nil {
		writeError(w, http.StatusConflict, "Install the app on this location first.")
		return
	}
	doc, isDefault := currentDoc(conn)
	m, problems := onboard.ParseMapping(doc)
	out := map[string]any{"yaml": string(doc), "default": isDefault, "problems": problems}
	if m != nil {
		out["form"] = formOf(m)
	}
	writeJSON(w, http.StatusOK, out)
}

// apiMappingForm applies the form to the current document and stores it when valid.
func (h *Handler) apiMappingForm(w http.ResponseWriter, r *http.Request, _ session, conn *store.Connection) {
	if conn == nil {
		writeError(w, http.StatusConflict, "Install the app on this location first.")
		return
	}
	var f mappingForm
	if err := decodeJSON(r, &f); err != nil {
		writeError(w, http.StatusBadRequest, "Send the form as JSON.")
		return
	}
	cur, _ := currentDoc(conn)
	doc, err := applyForm(cur, f)
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"problems": []onboard.Problem{{Message: err.Error()}}})
		return
	}
	h.saveMapping(w, r, conn, doc)
}

func (h *Handler) apiMappingYAML(w http.ResponseWriter, r *http.Request, _ session, conn *store.Connection) {
	if conn == nil {
		writeError(w, http.StatusConflict, "Install the app on this location first.")
		return
	}
	var in struct {
		YAML string `json:"yaml"`
	}
	if err := decodeJSON(r, &in); err != nil {
		writeError(w, http.StatusBadRequest, "Send the document as JSON.")
		return
	}
	h.saveMapping(w, r, conn, []byte(in.YAML))
}

// saveMapping validates a document as `starter mapping set` does and stores it; an invalid
// one is answered 422 with its problems, line by line, and nothing is stored.
func (h *Handler) saveMapping(w http.ResponseWriter, r *http.Request, conn *store.Connection, doc []byte) {
	m, problems := onboard.ParseMapping(doc)
	if m == nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"problems": problems, "yaml": string(doc)})
		return
	}
	c := *conn
	c.Mapping = doc
	if _, err := h.cfg.Store.PutConnection(r.Context(), c); err != nil {
		h.fail(w, "save mapping", err)
		return
	}
	h.cfg.Conns.Forget(c.ID)
	h.log.Info("setup page: mapping saved", "connection", c.ID)
	writeJSON(w, http.StatusOK, map[string]any{"yaml": string(doc), "form": formOf(m), "saved": true})
}

// applyForm writes the form's choices into doc, keeping every key the form does not edit.
func applyForm(doc []byte, f mappingForm) ([]byte, error) {
	var top map[string]any
	if err := yaml.Unmarshal(doc, &top); err != nil || top == nil {
		return nil, fmt.Errorf("the current mapping is not a YAML map; fix it in the YAML editor")
	}
	fields, _ := top["fields"].(map[string]any)
	if fields == nil {
		fields = map[string]any{}
	}
	for _, ff := range f.Fields {
		if ff.Direction == "off" || ff.Direction == "" {
			delete(fields, ff.Name)
			continue
		}
		entry, _ := fields[ff.Name].(map[string]any)
		if entry == nil {
			entry = map[string]any{}
		}
		entry["direction"] = ff.Direction
		delete(entry, "conflict")
		if ff.Direction == string(syncmodel.Both) && ff.Name != syncmodel.FieldTags && ff.Conflict != "" {
			entry["conflict"] = ff.Conflict
		}
		fields[ff.Name] = entry
	}
	top["fields"] = fields
	top["delete_policy"] = f.DeletePolicy
	top["deleted_label"] = f.DeletedLabel
	proj, _ := top["projections"].(map[string]any)
	if proj == nil {
		proj = map[string]any{}
	}
	proj["notes"] = map[string]any{"field": f.Notes.Field, "max_length": f.Notes.MaxLength}
	proj["tasks"] = map[string]any{
		"field": f.Tasks.Field, "max_length": f.Tasks.MaxLength, "keep_completed_for": f.Tasks.KeepCompletedFor,
		"open_label": f.Tasks.OpenLabel, "overdue_label": f.Tasks.OverdueLabel,
	}
	top["projections"] = proj
	out, err := yaml.Marshal(top)
	if err != nil {
		return nil, fmt.Errorf("write the mapping: %w", err)
	}
	return append([]byte("# hlrz mapping, saved from the setup page\n"), out...), nil
}
