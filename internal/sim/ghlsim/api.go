package ghlsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// route is one API endpoint, named by HighLevel's operationId.
type route struct {
	method string
	segs   []string // "{name}" matches any non-empty segment
	op     string
	write  bool
	h      func(s *Server, q *request) (int, any, *apiError)
}

// apiRoutes are tried in order; literal paths come before wildcards that could shadow them.
var apiRoutes = []route{
	endpoint("POST", "/contacts/search", "search-contacts-advanced", false, (*Server).searchContacts),
	endpoint("POST", "/contacts/upsert", "upsert-contact", true, (*Server).upsertContact),
	endpoint("GET", "/contacts/search/duplicate", "get-duplicate-contact", false, (*Server).duplicateContact),
	endpoint("GET", "/contacts/business/{businessId}", "get-contacts-by-businessId", false, (*Server).contactsByBusiness),
	endpoint("GET", "/contacts/", "get-contacts", false, (*Server).listContacts),
	endpoint("POST", "/contacts/", "create-contact", true, (*Server).createContact),
	endpoint("GET", "/contacts/{contactId}", "get-contact", false, (*Server).getContact),
	endpoint("PUT", "/contacts/{contactId}", "update-contact", true, (*Server).updateContact),
	endpoint("DELETE", "/contacts/{contactId}", "delete-contact", true, (*Server).deleteContact),
	endpoint("POST", "/contacts/{contactId}/tags", "add-tags", true, (*Server).addTags),
	endpoint("DELETE", "/contacts/{contactId}/tags", "remove-tags", true, (*Server).removeTags),
	endpoint("GET", "/contacts/{contactId}/tasks", "get-all-tasks", false, (*Server).listTasks),
	endpoint("POST", "/contacts/{contactId}/tasks", "create-task", true, (*Server).createTask),
	endpoint("GET", "/contacts/{contactId}/tasks/{taskId}", "get-task", false, (*Server).getTask),
	endpoint("PUT", "/contacts/{contactId}/tasks/{taskId}", "update-task", true, (*Server).updateTask),
	endpoint("DELETE", "/contacts/{contactId}/tasks/{taskId}", "delete-task", true, (*Server).deleteTask),
	endpoint("PUT", "/contacts/{contactId}/tasks/{taskId}/completed", "update-task-completed", true, (*Server).completeTask),
	endpoint("GET", "/contacts/{contactId}/notes", "get-all-notes", false, (*Server).listNotes),
	endpoint("POST", "/contacts/{contactId}/notes", "create-note", true, (*Server).createNote),
	endpoint("GET", "/contacts/{contactId}/notes/{id}", "get-note", false, (*Server).getNote),
	endpoint("PUT", "/contacts/{contactId}/notes/{id}", "update-note", true, (*Server).updateNote),
	endpoint("DELETE", "/contacts/{contactId}/notes/{id}", "delete-note", true, (*Server).deleteNote),
	endpoint("GET", "/contacts/{contactId}/appointments", "get-appointments-for-contact", false, (*Server).listAppointments),
	endpoint("GET", "/locations/{locationId}/customFields", "get-custom-fields", false, (*Server).listCustomFields),
	endpoint("POST", "/locations/{locationId}/tasks/search", "task-search", false, (*Server).searchTasks),
}

func endpoint(method, pattern, op string, write bool, h func(*Server, *request) (int, any, *apiError)) route {
	return route{method: method, segs: strings.Split(strings.TrimPrefix(pattern, "/"), "/"), op: op, write: write, h: h}
}

// Operations lists the operationIds the simulator implements.
func Operations() []string {
	out := make([]string, len(apiRoutes))
	for i, rt := range apiRoutes {
		out[i] = rt.op
	}
	return out
}

func matchRoute(method, path string) (*route, map[string]string) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i := range apiRoutes {
		rt := &apiRoutes[i]
		if rt.method != method || len(rt.segs) != len(segs) {
			continue
		}
		params := map[string]string{}
		ok := true
		for j, p := range rt.segs {
			if strings.HasPrefix(p, "{") {
				v, err := url.PathUnescape(segs[j])
				if segs[j] == "" || err != nil {
					ok = false
					break
				}
				params[p[1:len(p)-1]] = v
			} else if p != segs[j] {
				ok = false
				break
			}
		}
		if ok {
			return rt, params
		}
	}
	return nil, nil
}

// ---- DTO property lists (from contacts.json) ----

var (
	createContactProps = []string{"firstName", "lastName", "name", "email", "locationId", "gender", "phone", "address1", "city", "state",
		"postalCode", "website", "timezone", "dnd", "dndSettings", "inboundDndSettings", "tags", "customFields", "source", "dateOfBirth",
		"country", "companyName", "assignedTo"}
	// UpdateContactDto has no companyName (the create and upsert DTOs have it), so an update
	// that sets it is refused like any property the DTO does not define.
	updateContactProps = []string{"firstName", "lastName", "name", "email", "phone", "address1", "city", "state", "postalCode", "website",
		"timezone", "dnd", "dndSettings", "inboundDndSettings", "tags", "customFields", "source", "dateOfBirth", "country", "assignedTo"}
	upsertContactProps = append(slices.Clone(createContactProps), "createNewIfDuplicateAllowed")
	taskProps          = []string{"title", "body", "dueDate", "completed", "assignedTo"}
	noteProps          = []string{"userId", "body", "title", "color", "pinned"}
	searchProps        = []string{"locationId", "pageLimit", "page", "searchAfter", "query", "filters", "sort"}
)

// contactBody is a create/upsert body: the contact plus its location. dateOfBirth arrives as
// a string although the DTO types it "object"; gender and inboundDndSettings are accepted and
// not kept.
type contactBody struct {
	LocationID *string `json:"locationId"`
	ContactPatch
	Gender             string          `json:"gender"`
	InboundDndSettings json.RawMessage `json:"inboundDndSettings"`
	CreateNew          bool            `json:"createNewIfDuplicateAllowed"`
}

func (s *Server) checkLocation(q *request, loc *string) *apiError {
	if loc == nil || *loc == "" {
		return errUnprocessable("locationId should not be empty")
	}
	if *loc != q.loc {
		return errForbidden()
	}
	return nil
}

func (s *Server) getContact(q *request) (int, any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.contactLocked(q.loc, q.params["contactId"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, obj{"contact": c.wire()}, nil
}

func (s *Server) createContact(q *request) (int, any, *apiError) {
	var in contactBody
	if err := decodeStrict(q.body, createContactProps, &in); err != nil {
		return 0, nil, err
	}
	if err := s.checkLocation(q, in.LocationID); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.createContactLocked(q.loc, in.ContactPatch, time.Time{})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, obj{"contact": c.wire()}, nil
}

func (s *Server) updateContact(q *request) (int, any, *apiError) {
	var p ContactPatch
	if err := decodeStrict(q.body, updateContactProps, &p); err != nil {
		return 0, nil, err
	}
	p.BusinessID = nil // not part of the DTO
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.contactLocked(q.loc, q.params["contactId"])
	if err != nil {
		return 0, nil, err
	}
	if err := s.updateContactLocked(c, p); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, obj{"succeded": true, "contact": c.wire()}, nil
}

func (s *Server) deleteContact(q *request) (int, any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.contactLocked(q.loc, q.params["contactId"])
	if err != nil {
		return 0, nil, err
	}
	s.deleteContactLocked(c)
	return http.StatusOK, obj{"succeded": true}, nil
}

// duplicateContact is GET /contacts/search/duplicate: the contact HighLevel considers the
// same person, e-mail first, then phone (the spec's order when duplicates are allowed; with
// them disallowed HighLevel uses the location's unique identifier, which by default is also
// e-mail, then phone). The spec documents no 200 body: {"contact": {...}} or {"contact":
// null} is our assumption, listed in ghlspec.Departures.
func (s *Server) duplicateContact(q *request) (int, any, *apiError) {
	loc := q.get("locationId")
	if err := s.checkLocation(q, &loc); err != nil {
		if err.status == http.StatusUnprocessableEntity { // this operation documents 400, not 422
			err = errBad("locationId should not be empty")
		}
		return 0, nil, err
	}
	email, number := q.get("email"), q.get("number")
	if email == "" && number == "" {
		return 0, nil, errBad("email or number is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dup, _ := s.duplicateLocked(q.loc, email, number, "")
	if dup == nil {
		return http.StatusOK, obj{"contact": nil, "traceId": s.traceIDLocked()}, nil
	}
	return http.StatusOK, obj{"contact": dup.wire(), "traceId": s.traceIDLocked()}, nil
}

// upsertContact updates the duplicate (e-mail first, then phone) or creates a contact.
func (s *Server) upsertContact(q *request) (int, any, *apiError) {
	var in contactBody
	if err := decodeStrict(q.body, upsertContactProps, &in); err != nil {
		return 0, nil, err
	}
	if err := s.checkLocation(q, in.LocationID); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.CreateNew && s.allowsDuplicatesLocked(q.loc) {
		c, err := s.createContactLocked(q.loc, in.ContactPatch, time.Time{})
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, obj{"new": true, "contact": c.wire(), "traceId": s.traceIDLocked()}, nil
	}
	if dup, _ := s.duplicateLocked(q.loc, str(in.Email), str(in.Phone), ""); dup != nil {
		if err := s.updateContactLocked(dup, in.ContactPatch); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, obj{"new": false, "contact": dup.wire(), "traceId": s.traceIDLocked()}, nil
	}
	c, err := s.createContactLocked(q.loc, in.ContactPatch, time.Time{})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, obj{"new": true, "contact": c.wire(), "traceId": s.traceIDLocked()}, nil
}

// locationContactsLocked returns loc's contacts matching query, ordered by (dateAdded, id).
func (s *Server) locationContactsLocked(loc, query string) []*Contact {
	query = strings.ToLower(strings.TrimSpace(query))
	var out []*Contact
	for _, c := range s.contacts {
		if c.LocationID != loc {
			continue
		}
		if query != "" && !strings.Contains(strings.ToLower(strings.Join([]string{c.Name(), c.Email, c.Phone, c.CompanyName}, " ")), query) {
			continue
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *Contact) int {
		if c := a.DateAdded.Compare(b.DateAdded); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// listContacts is the deprecated GET /contacts/: oldest first, cursor startAfter (dateAdded in
// epoch ms) + startAfterId, both required together, returned in meta.
func (s *Server) listContacts(q *request) (int, any, *apiError) {
	if loc := q.get("locationId"); loc == "" {
		return 0, nil, errUnprocessable("locationId should not be empty")
	} else if loc != q.loc {
		return 0, nil, errForbidden()
	}
	limit := 20
	if v := q.get("limit"); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n < 1 || n != float64(int(n)) {
			return 0, nil, errUnprocessable("limit must be a positive integer")
		}
		if n > 100 {
			return 0, nil, errUnprocessable("limit must not be greater than 100")
		}
		limit = int(n)
	}
	afterID, afterRaw := q.get("startAfterId"), q.get("startAfter")
	if (afterID == "") != (afterRaw == "") {
		return 0, nil, errUnprocessable("startAfter and startAfterId must be sent together")
	}
	var afterMs int64
	if afterRaw != "" {
		f, err := strconv.ParseFloat(afterRaw, 64)
		if err != nil {
			return 0, nil, errUnprocessable("startAfter must be a number")
		}
		afterMs = int64(f)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all := s.locationContactsLocked(q.loc, q.get("query"))
	start := 0
	if afterID != "" {
		start = len(all)
		for i, c := range all {
			ms := c.DateAdded.UnixMilli()
			if ms > afterMs || (ms == afterMs && c.ID > afterID) {
				start = i
				break
			}
		}
	}
	page := all[start:min(start+limit, len(all))]
	contacts := make([]obj, len(page))
	for i, c := range page {
		contacts[i] = c.wire()
	}
	meta := obj{"total": len(all), "currentPage": start/limit + 1, "startAfterId": nil, "startAfter": nil, "nextPageUrl": nil, "nextPage": nil,
		"prevPage": nil}
	if start+len(page) < len(all) && len(page) > 0 {
		last := page[len(page)-1]
		meta["startAfterId"], meta["startAfter"] = last.ID, last.DateAdded.UnixMilli()
		meta["nextPage"] = start/limit + 2
		next := url.Values{"locationId": {q.loc}, "limit": {strconv.Itoa(limit)}, "startAfter": {strconv.FormatInt(last.DateAdded.UnixMilli(), 10)},
			"startAfterId": {last.ID}}
		if qq := q.get("query"); qq != "" {
			next.Set("query", qq)
		}
		meta["nextPageUrl"] = "https://services.leadconnectorhq.com/contacts/?" + next.Encode()
	}
	if start > 0 {
		meta["prevPage"] = max(start/limit, 1)
	}
	return http.StatusOK, obj{"contacts": contacts, "meta": meta}, nil
}

type searchFilter struct {
	Field    string          `json:"field"`
	Operator string          `json:"operator"`
	Value    json.RawMessage `json:"value"`
}

type searchSort struct {
	Field     string `json:"field"`
	Direction string `json:"direction"`
}

type searchBody struct {
	LocationID  *string           `json:"locationId"`
	PageLimit   *int              `json:"pageLimit"`
	Page        *int              `json:"page"`
	SearchAfter []json.RawMessage `json:"searchAfter"`
	Query       string            `json:"query"`
	Filters     []searchFilter    `json:"filters"`
	Sort        []searchSort      `json:"sort"`
}

// searchContacts implements the subset of POST /contacts/search the sync uses: free-text
// query, flat AND filters (eq, not_eq, contains) on common fields and range on dateAdded and
// dateUpdated, sort by dateAdded or
// dateUpdated, pageLimit with page or with the searchAfter cursor carried in every record.
func (s *Server) searchContacts(q *request) (int, any, *apiError) {
	var in searchBody
	if err := decodeStrict(q.body, searchProps, &in); err != nil {
		return 0, nil, err
	}
	if err := s.checkLocation(q, in.LocationID); err != nil {
		return 0, nil, err
	}
	if in.PageLimit == nil {
		return 0, nil, errUnprocessable("pageLimit should not be empty")
	}
	limit := *in.PageLimit
	if limit < 1 || limit > 500 {
		return 0, nil, errUnprocessable("pageLimit must not be greater than 500", "pageLimit must not be less than 1")
	}
	sortField, desc := "dateAdded", false
	if len(in.Sort) > 0 {
		sortField, desc = in.Sort[0].Field, strings.EqualFold(in.Sort[0].Direction, "desc")
		if sortField != "dateAdded" && sortField != "dateUpdated" {
			return 0, nil, errUnprocessable("sort.0.field " + sortField + " is not supported by the simulator")
		}
	}
	key := func(c *Contact) int64 {
		if sortField == "dateUpdated" {
			return c.DateUpdated.UnixMilli()
		}
		return c.DateAdded.UnixMilli()
	}
	var afterKey int64
	var afterID string
	if in.SearchAfter != nil {
		if len(in.SearchAfter) != 2 || json.Unmarshal(in.SearchAfter[0], &afterKey) != nil || json.Unmarshal(in.SearchAfter[1], &afterID) != nil {
			return 0, nil, errUnprocessable("searchAfter must be the [sortValue, id] pair of the last record")
		}
	}
	for i, f := range in.Filters {
		if _, err := filterMatch(f, &Contact{}); err != "" {
			return 0, nil, errUnprocessable(fmt.Sprintf("filters.%d %s", i, err))
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var hits []*Contact
	for _, c := range s.locationContactsLocked(q.loc, in.Query) {
		ok := true
		for _, f := range in.Filters {
			if m, _ := filterMatch(f, c); !m {
				ok = false
				break
			}
		}
		if ok {
			hits = append(hits, c)
		}
	}
	cmp := func(a, b *Contact) int {
		ka, kb := key(a), key(b)
		c := 0
		switch {
		case ka < kb:
			c = -1
		case ka > kb:
			c = 1
		default:
			c = strings.Compare(a.ID, b.ID)
		}
		if desc {
			return -c
		}
		return c
	}
	slices.SortFunc(hits, cmp)
	start := 0
	if in.SearchAfter != nil {
		start = len(hits)
		for i, c := range hits {
			pk := key(c)
			var after bool
			if desc {
				after = pk < afterKey || (pk == afterKey && c.ID < afterID)
			} else {
				after = pk > afterKey || (pk == afterKey && c.ID > afterID)
			}
			if after {
				start = i
				break
			}
		}
	}
	if in.SearchAfter == nil && in.Page != nil && *in.Page > 1 {
		start = min((*in.Page-1)*limit, len(hits)) // page-based paging, the other style search offers
	}
	page := hits[start:min(start+limit, len(hits))]
	out := make([]obj, len(page))
	for i, c := range page {
		w := c.wire()
		w["searchAfter"] = []any{key(c), c.ID}
		out[i] = w
	}
	return http.StatusOK, obj{"contacts": out, "total": len(hits)}, nil
}

// rangeMatch evaluates a range condition on a date field ({gt, gte, lt, lte}, ISO 8601;
// the search-date-range departure); the string is a validation error.
func rangeMatch(f searchFilter, c *Contact) (bool, string) {
	var at time.Time
	switch f.Field {
	case "dateAdded":
		at = c.DateAdded
	case "dateUpdated":
		at = c.DateUpdated
	default:
		return false, "operator range is not supported on field " + f.Field
	}
	var bounds map[string]string
	if json.Unmarshal(f.Value, &bounds) != nil || len(bounds) == 0 {
		return false, "value must be an object with gt, gte, lt or lte"
	}
	ok := true
	for _, op := range []string{"gt", "gte", "lt", "lte"} {
		v, set := bounds[op]
		if !set {
			continue
		}
		b, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return false, "value." + op + " must be an ISO 8601 date-time"
		}
		b = b.UTC().Truncate(time.Millisecond)
		switch op {
		case "gt":
			ok = ok && at.After(b)
		case "gte":
			ok = ok && !at.Before(b)
		case "lt":
			ok = ok && at.Before(b)
		case "lte":
			ok = ok && !at.After(b)
		}
		delete(bounds, op)
	}
	if len(bounds) > 0 {
		return false, "value must be an object with gt, gte, lt or lte"
	}
	return ok, ""
}

// filterMatch evaluates one filter; the string is a validation error.
func filterMatch(f searchFilter, c *Contact) (bool, string) {
	if f.Operator == "range" {
		return rangeMatch(f, c)
	}
	var want string
	var wantBool bool
	isBool := json.Unmarshal(f.Value, &wantBool) == nil
	if !isBool && json.Unmarshal(f.Value, &want) != nil {
		var n json.Number
		if json.Unmarshal(f.Value, &n) != nil {
			return false, "value must be a string"
		}
		want = n.String()
	}
	var have []string
	switch f.Field {
	case "id":
		have = []string{c.ID}
	case "email":
		have = []string{strings.ToLower(c.Email)}
		want = strings.ToLower(want)
	case "phone":
		have, want = []string{c.Phone}, normalizePhone(want)
	case "firstName", "firstNameLowerCase":
		have, want = []string{strings.ToLower(c.FirstName)}, strings.ToLower(want)
	case "lastName", "lastNameLowerCase":
		have, want = []string{strings.ToLower(c.LastName)}, strings.ToLower(want)
	case "companyName":
		have, want = []string{strings.ToLower(c.CompanyName)}, strings.ToLower(want)
	case "source":
		have = []string{c.Source}
	case "businessId":
		have = []string{c.BusinessID}
	case "tags":
		have, want = c.Tags, strings.ToLower(want)
	case "dnd":
		if !isBool {
			return false, "value must be a boolean"
		}
		have, want = []string{strconv.FormatBool(c.DND)}, strconv.FormatBool(wantBool)
	default:
		return false, "field " + f.Field + " is not supported by the simulator"
	}
	switch f.Operator {
	case "eq":
		return slices.Contains(have, want), ""
	case "not_eq":
		return !slices.Contains(have, want), ""
	case "contains":
		for _, h := range have {
			if strings.Contains(h, strings.ToLower(want)) {
				return true, ""
			}
		}
		return false, ""
	default:
		return false, "operator " + f.Operator + " is not supported by the simulator"
	}
}

func (s *Server) contactsByBusiness(q *request) (int, any, *apiError) {
	if loc := q.get("locationId"); loc == "" {
		return 0, nil, errUnprocessable("locationId should not be empty")
	} else if loc != q.loc {
		return 0, nil, errForbidden()
	}
	limit, skip := 25, 0
	if v := q.get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, nil, errUnprocessable("limit must be a number string")
		}
		limit = n
	}
	if v := q.get("skip"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, nil, errUnprocessable("skip must be a number string")
		}
		skip = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var hits []*Contact
	for _, c := range s.locationContactsLocked(q.loc, q.get("query")) {
		if c.BusinessID == q.params["businessId"] {
			hits = append(hits, c)
		}
	}
	page := hits[min(skip, len(hits)):min(skip+limit, len(hits))]
	out := make([]obj, len(page))
	for i, c := range page {
		out[i] = c.wire()
	}
	return http.StatusOK, obj{"contacts": out, "count": len(hits)}, nil
}

func (s *Server) tagsBody(q *request) ([]string, *apiError) {
	var in struct {
		Tags *[]string `json:"tags"`
	}
	if err := decodeStrict(q.body, []string{"tags"}, &in); err != nil {
		return nil, err
	}
	if in.Tags == nil {
		return nil, errUnprocessable("tags must be an array", "tags should not be empty")
	}
	return *in.Tags, nil
}

func (s *Server) addTags(q *request) (int, any, *apiError) {
	return s.tags(q, true, http.StatusCreated)
}

func (s *Server) removeTags(q *request) (int, any, *apiError) { return s.tags(q, false, http.StatusOK) }

func (s *Server) tags(q *request, add bool, status int) (int, any, *apiError) {
	tags, err := s.tagsBody(q)
	if err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.contactLocked(q.loc, q.params["contactId"])
	if err != nil {
		return 0, nil, err
	}
	s.tagsLocked(c, add, tags)
	return status, obj{"tags": slices.Clone(c.Tags)}, nil
}

// taskBody is the task DTO; dueDate is an ISO 8601 string.
type taskBody struct {
	Title      *string `json:"title"`
	Body       *string `json:"body"`
	DueDate    *string `json:"dueDate"`
	Completed  *bool   `json:"completed"`
	AssignedTo *string `json:"assignedTo"`
}

func (b taskBody) patch(create bool) (TaskPatch, *apiError) {
	var msgs []string
	if create {
		if b.Title == nil || *b.Title == "" {
			msgs = append(msgs, "title should not be empty")
		}
		if b.DueDate == nil {
			msgs = append(msgs, "dueDate should not be empty")
		}
		if b.Completed == nil {
			msgs = append(msgs, "completed must be a boolean value")
		}
	}
	p := TaskPatch{Title: b.Title, Body: b.Body, Completed: b.Completed, AssignedTo: b.AssignedTo}
	if b.DueDate != nil {
		t, err := time.Parse(time.RFC3339Nano, *b.DueDate)
		if err != nil {
			msgs = append(msgs, "dueDate must be a valid ISO 8601 date string")
		}
		p.DueDate = &t
	}
	if len(msgs) > 0 {
		return p, errUnprocessable(msgs...)
	}
	return p, nil
}

func (s *Server) listTasks(q *request) (int, any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.contactLocked(q.loc, q.params["contactId"])
	if err != nil {
		return 0, nil, err
	}
	var list []*Task
	for _, t := range s.tasks {
		if t.ContactID == c.ID {
			list = append(list, t)
		}
	}
	slices.SortFunc(list, func(a, b *Task) int {
		if c := a.DateAdded.Compare(b.DateAdded); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	out := make([]obj, len(list))
	for i, t := range list {
		out[i] = t.wire()
	}
	return http.StatusOK, obj{"tasks": out}, nil
}

func (s *Server) getTask(q *request) (int, any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.taskLocked(q.loc, q.params["contactId"], q.params["taskId"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, obj{"task": t.wire()}, nil
}

func (s *Server) createTask(q *request) (int, any, *apiError) {
	var in taskBody
	if err := decodeStrict(q.body, taskProps, &in); err != nil {
		return 0, nil, err
	}
	p, err := in.patch(true)
	if err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.contactLocked(q.loc, q.params["contactId"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, obj{"task": s.createTaskLocked(c, p).wire()}, nil
}

func (s *Server) updateTask(q *request) (int, any, *apiError) {
	var in taskBody
	if err := decodeStrict(q.body, taskProps, &in); err != nil {
		return 0, nil, err
	}
	p, err := in.patch(false)
	if err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.taskLocked(q.loc, q.params["contactId"], q.params["taskId"])
	if err != nil {
		return 0, nil, err
	}
	s.updateTaskLocked(t, p)
	return http.StatusOK, obj{"task": t.wire()}, nil
}

func (s *Server) completeTask(q *request) (int, any, *apiError) {
	var in struct {
		Completed *bool `json:"completed"`
	}
	if err := decodeStrict(q.body, []string{"completed"}, &in); err != nil {
		return 0, nil, err
	}
	if in.Completed == nil {
		return 0, nil, errUnprocessable("completed must be a boolean value")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.taskLocked(q.loc, q.params["contactId"], q.params["taskId"])
	if err != nil {
		return 0, nil, err
	}
	s.updateTaskLocked(t, TaskPatch{Completed: in.Completed})
	return http.StatusOK, obj{"task": t.wire()}, nil
}

func (s *Server) deleteTask(q *request) (int, any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.taskLocked(q.loc, q.params["contactId"], q.params["taskId"])
	if err != nil {
		return 0, nil, err
	}
	s.deleteTaskLocked(t)
	return http.StatusOK, obj{"succeded": true}, nil
}

func (s *Server) listNotes(q *request) (int, any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.contactLocked(q.loc, q.params["contactId"])
	if err != nil {
		return 0, nil, err
	}
	var list []*Note
	for _, n := range s.notes {
		if n.ContactID == c.ID {
			list = append(list, n)
		}
	}
	// Newest first, as HighLevel shows notes.
	slices.SortFunc(list, func(a, b *Note) int {
		if c := b.DateAdded.Compare(a.DateAdded); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	out := make([]obj, len(list))
	for i, n := range list {
		out[i] = n.wire()
	}
	return http.StatusOK, obj{"notes": out}, nil
}

func (s *Server) getNote(q *request) (int, any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.noteLocked(q.loc, q.params["contactId"], q.params["id"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, obj{"note": n.wire()}, nil
}

func (s *Server) createNote(q *request) (int, any, *apiError) {
	var p NotePatch
	if err := decodeStrict(q.body, noteProps, &p); err != nil {
		return 0, nil, err
	}
	if p.Body == nil {
		return 0, nil, errUnprocessable("body should not be empty")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.contactLocked(q.loc, q.params["contactId"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, obj{"note": s.createNoteLocked(c, p).wire()}, nil
}

func (s *Server) updateNote(q *request) (int, any, *apiError) {
	var p NotePatch
	if err := decodeStrict(q.body, noteProps, &p); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.noteLocked(q.loc, q.params["contactId"], q.params["id"])
	if err != nil {
		return 0, nil, err
	}
	s.updateNoteLocked(n, p)
	return http.StatusOK, obj{"note": n.wire()}, nil
}

func (s *Server) deleteNote(q *request) (int, any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.noteLocked(q.loc, q.params["contactId"], q.params["id"])
	if err != nil {
		return 0, nil, err
	}
	s.deleteNoteLocked(n)
	return http.StatusOK, obj{"succeded": true}, nil
}

func (s *Server) listAppointments(q *request) (int, any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.contactLocked(q.loc, q.params["contactId"])
	if err != nil {
		return 0, nil, err
	}
	var list []*Appointment
	for _, a := range s.appts {
		if a.ContactID == c.ID {
			list = append(list, a)
		}
	}
	slices.SortFunc(list, func(a, b *Appointment) int {
		if c := a.StartTime.Compare(b.StartTime); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	out := make([]obj, len(list))
	for i, a := range list {
		out[i] = a.wire()
	}
	return http.StatusOK, obj{"events": out}, nil
}

func (s *Server) listCustomFields(q *request) (int, any, *apiError) {
	if q.params["locationId"] != q.loc {
		return 0, nil, errForbidden()
	}
	model := q.get("model")
	switch model {
	case "", "all", "contact", "opportunity":
	default:
		return 0, nil, errUnprocessable("model must be one of the following values: contact, opportunity, all")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []obj{}
	for _, f := range s.fields[q.loc] {
		if model == "" || model == "all" || f.Model == model {
			out = append(out, f.wire())
		}
	}
	return http.StatusOK, obj{"customFields": out}, nil
}
