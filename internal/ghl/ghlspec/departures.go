package ghlspec

import (
	"errors"
	"fmt"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Departure is one place where Load changes or fills in HighLevel's published spec.
type Departure struct {
	ID     string // stable key; README's table names every one
	Where  string // file, operation or schema
	Change string // what Load does
	// Evidence is where the assumption comes from: a section of ../shared/ghl-facts.md, a file
	// of ../shared/ghl-api, or behaviour reported from live calls. It contains NoEvidence for
	// each part the contract materials do not support.
	Evidence string
}

// NoEvidence marks, in Evidence, an assumption the contract materials do not support.
const NoEvidence = "NO EVIDENCE"

// Departures lists every change Load makes to HighLevel's files, in the order it applies them.
var Departures = []Departure{
	{
		ID:    "search-body",
		Where: "contacts.json POST /contacts/search, request SearchBodyV2DTO",
		Change: "The DTO has no properties. Load defines locationId and pageLimit (both required), page, query, " +
			"searchAfter, filters (each {field, operator, value}, or a group {group: AND|OR, filters}) and sort " +
			"(each {field, direction: asc|desc}).",
		Evidence: "ghl-api/README.md (search: pageLimit, searchAfter cursor in the last record, locationId required); " +
			"GoHighLevel/highlevel-api-docs issue #31 (a working body is {pageLimit, locationId, query}); the " +
			"operation's description links HighLevel's search guide (doc.clickup.com, not in ghl-api) for filters and sort.",
	},
	{
		ID:    "search-response",
		Where: "contacts.json POST /contacts/search, response 200",
		Change: "The answer has no schema. Load types it {contacts (ContactsSearchSchema plus a searchAfter array per " +
			"record), total}, both required.",
		Evidence: "ghl-api/README.md (the searchAfter cursor is carried in the last record of each page).",
	},
	{
		ID:    "search-date-range",
		Where: "contacts.json POST /contacts/search, request SearchBodyV2DTO: filters",
		Change: "Adds a filter shape for date fields: {field: dateAdded|dateUpdated, operator: range, value: {gt, gte, " +
			"lt, lte}} (ISO 8601 date-times, at least one bound), and sort by dateUpdated with searchAfter " +
			"[sortValue, id] ordering equal timestamps by id. The reconcile reads changes with it.",
		Evidence: NoEvidence + " in the contract materials: the operation's description links HighLevel's search " +
			"guide (doc.clickup.com, outside ghl-api) for filters; the range operator and its bounds are taken from " +
			"there as integrators quote it. Which edits bump dateUpdated is not documented: the simulator bumps it " +
			"on contact field and tag changes only, not on notes, tasks or appointments.",
	},
	{
		ID:     "search-422",
		Where:  "contacts.json POST /contacts/search, response 422",
		Change: "Adds the 422 answer (UnprocessableDTO), sent when pageLimit or locationId is missing.",
		Evidence: "Observed behaviour reported in GoHighLevel/highlevel-api-docs issue #31 (\"if pageLimit and " +
			"locationId aren't specified, it'll 422\"; not in ghl-api).",
	},
	{
		ID:    "list-meta",
		Where: "contacts.json GET /contacts/, ContactsSearchSuccessfulResponseDto",
		Change: "Adds meta {total, startAfterId, startAfter, nextPageUrl, currentPage, nextPage, prevPage}, which " +
			"carries the cursor.",
		Evidence: "ghl-api/README.md (cursor startAfter + startAfterId, returned in meta); the operation's own " +
			"startAfter/startAfterId query parameters need it.",
	},
	{
		ID:       "dob-string",
		Where:    "contacts.json CreateContactDto, UpdateContactDto, UpsertContactDto: dateOfBirth",
		Change:   "Typed object; Load types it string (nullable).",
		Evidence: "contacts.json itself: the property's description and example are a date string (\"1990-09-25\").",
	},
	{
		ID:       "numeric-field-value",
		Where:    "contacts.json NumericField, MonetoryField: field_value",
		Change:   "Typed object; Load types it number.",
		Evidence: "contacts.json itself: the example is 100.",
	},
	{
		ID:    "duplicate-search-200",
		Where: "contacts.json GET /contacts/search/duplicate (get-duplicate-contact), response 200",
		Change: "The answer has no schema. Load types it {contact: GetContectByIdSchema, or null when none matches, " +
			"traceId}.",
		Evidence: NoEvidence + " (no official example): the shape integrators report. ghl-facts.md §4 says the " +
			"operation returns the contact HighLevel considers the same person, not how.",
	},
	{
		ID:       "custom-field-value",
		Where:    "contacts.json CustomFieldSchema: value (contacts in answers)",
		Change:   "Typed string; Load leaves it untyped (numeric, checkbox and file fields hold numbers, lists, objects).",
		Evidence: "ghl-api/docs/webhook-events/ContactCreate.md: customFields[].value is string|number|array|object.",
	},
	{
		ID:    "task-search-rows",
		Where: "locations.json POST /locations/{locationId}/tasks/search, LocationTaskListSuccessfulResponseDto",
		Change: "tasks is typed an array of arrays; Load types each item a task object keyed by _id (required), with " +
			"title, body, assignedTo, dueDate, completed, contactId, locationId, deleted, dateAdded, dateUpdated, " +
			"contactDetails, assignedToUserDetails (other properties allowed), and tasks required.",
		Evidence: NoEvidence + " in the contract materials: reported from live calls by integrators (rows keyed by " +
			"_id, no total).",
	},
	{
		ID:       "task-search-201",
		Where:    "locations.json POST /locations/{locationId}/tasks/search, responses",
		Change:   "Documents 201 with the 200 schema (HighLevel answers this POST 201).",
		Evidence: NoEvidence + " in the contract materials: reported from live calls.",
	},
	{
		ID:    "undocumented-statuses",
		Where: "contacts.json, locations.json, oauth.json: every operation",
		Change: "Adds 403 (token lacks access to the location), 404 (record not found), 413 (body too large), 429 " +
			"(rate limited) and 5XX where undocumented (oauth.json: 413, 429, 5XX), with the error shape " +
			"{statusCode, message, error}.",
		Evidence: "429: ghl-api/docs/oauth/Authorization.md (burst and daily limits) and ghl-api/README.md " +
			"(exceeding them gives 429). " + NoEvidence + " for 403, 404, 413 and 5XX, nor for their body, " +
			"assumed to be the documented DTOs' shape.",
	},
	{
		ID:    "closed-requests",
		Where: "all three files: every request body",
		Change: "Closes request bodies: each object schema that lists properties refuses any other " +
			"(additionalProperties: false, recursively, anyOf branches included); a form body refuses fields its " +
			"DTO does not define; a body sent to an operation that defines none is refused; so is a query " +
			"parameter the operation does not declare.",
		Evidence: "Not a claim about HighLevel but a stricter check: the DTOs leave additionalProperties open, and " +
			"the client must not rely on anything they do not define. (HighLevel is reported to refuse such " +
			"properties with 422 \"property … should not exist\", as the simulator does: " + NoEvidence +
			" in the contract materials.)",
	},
	{
		ID:    "closed-errors",
		Where: "all three files: every 4xx and 5XX answer",
		Change: "Each error answer is checked against a closed copy of its DTO: 400 BadRequestDTO, 401 " +
			"UnauthorizedDTO, 422 UnprocessableDTO (message a list of strings), other statuses the shape above; " +
			"statusCode must equal the HTTP status; in contacts.json and locations.json statusCode and message are " +
			"required.",
		Evidence: "common-schemas.json (the DTOs, and their examples, which all carry statusCode and message); " +
			"closing and requiring them is a stricter check, not a claim.",
	},
	{
		ID:       "error-400",
		Where:    "common-schemas.json BadRequestDTO",
		Change:   "Allows error (string, e.g. \"Bad Request\"), which UnauthorizedDTO and UnprocessableDTO have.",
		Evidence: "ghl-facts.md §5 (BadRequestDTO bodies carry \"error\":\"Bad Request\").",
	},
	{
		ID:       "trace-id",
		Where:    "all three files: every error answer",
		Change:   "Allows traceId (string).",
		Evidence: "ghl-api/docs/oauth/Overview.md (\"A traceId … is returned with every response\").",
	},
	{
		ID:    "duplicate-meta",
		Where: "contacts.json POST /contacts/ (create-contact), response 400",
		Change: "Allows meta {contactId (required), contactName, matchingField}: the refusal of a duplicate " +
			"contact names the contact that exists.",
		Evidence: "ghl-facts.md §4 (shape reported by integrators; not in the OpenAPI file).",
	},
	{
		ID:    "duplicate-meta-update",
		Where: "contacts.json PUT /contacts/{contactId} (update-contact), response 400",
		Change: "Allows the same meta when an update would make the contact a duplicate of another (the " +
			"simulator refuses it like a create).",
		Evidence: NoEvidence + ": ghl-facts.md §4 describes the refusal for POST /contacts/ only.",
	},
	{
		ID:    "oauth-rfc-errors",
		Where: "oauth.json: every error answer",
		Change: "Allows RFC 6749's error (a code such as invalid_grant) and error_description, and requires " +
			"neither statusCode nor message, so an RFC-only body {\"error\":\"invalid_grant\"} passes.",
		Evidence: "ghl-facts.md §5 (the token endpoint answers BadRequestDTO, UnauthorizedDTO or RFC 6749 bodies).",
	},
}

// departure returns the Departure with id; an unknown id is a bug in this file.
func departure(id string) Departure {
	for _, d := range Departures {
		if d.ID == id {
			return d
		}
	}
	panic("ghlspec: no departure " + id)
}

func schemaOf(doc *openapi3.T, name string) (*openapi3.Schema, error) {
	ref := doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		return nil, fmt.Errorf("ghlspec: schema %s is gone from the spec; revisit Departures", name)
	}
	return ref.Value, nil
}

// patch applies Departures in order and returns the IDs applied.
func patch(docs map[string]*openapi3.T) ([]string, error) {
	steps := []struct {
		id string
		fn func(map[string]*openapi3.T) error
	}{
		{"search-body", patchSearchBody},
		{"search-date-range", patchSearchDateRange},
		{"search-response", patchSearchResponse},
		{"search-422", patchSearch422},
		{"list-meta", patchListMeta},
		{"dob-string", patchDateOfBirth},
		{"numeric-field-value", patchNumericFieldValue},
		{"duplicate-search-200", patchDuplicateSearch},
		{"custom-field-value", patchCustomFieldValue},
		{"task-search-rows", patchTaskSearchRows},
		{"task-search-201", patchTaskSearch201},
		{"undocumented-statuses", addUndocumentedStatuses},
		{"closed-requests", closeRequestBodies},
		{"closed-errors", closeErrors},
	}
	var applied []string
	for _, st := range steps {
		if err := st.fn(docs); err != nil {
			return nil, fmt.Errorf("ghlspec: %s: %w", departure(st.id).ID, err)
		}
		applied = append(applied, st.id)
	}
	// closeErrors builds these into the closed error schemas.
	applied = append(applied, "error-400", "trace-id", "duplicate-meta", "duplicate-meta-update", "oauth-rfc-errors")
	return applied, nil
}

func searchOp(docs map[string]*openapi3.T) (*openapi3.Operation, error) {
	search := docs["contacts"].Paths.Value("/contacts/search")
	if search == nil || search.Post == nil {
		return nil, errors.New("POST /contacts/search is gone from the spec")
	}
	return search.Post, nil
}

func patchSearchBody(docs map[string]*openapi3.T) error {
	op, err := searchOp(docs)
	if err != nil {
		return err
	}
	str := openapi3.NewStringSchema
	condition := openapi3.NewObjectSchema().
		WithProperty("field", str()).
		WithProperty("operator", str()).
		WithProperty("value", &openapi3.Schema{})
	condition.Required = []string{"field", "operator"}
	group := openapi3.NewObjectSchema().
		WithProperty("group", str().WithEnum("AND", "OR")).
		WithProperty("filters", openapi3.NewArraySchema().WithItems(condition))
	group.Required = []string{"group", "filters"}
	sort := openapi3.NewObjectSchema().
		WithProperty("field", str()).
		WithProperty("direction", str().WithEnum("asc", "desc"))
	sort.Required = []string{"field"}
	body := openapi3.NewObjectSchema().
		WithProperty("locationId", str()).
		WithProperty("pageLimit", openapi3.NewIntegerSchema()).
		WithProperty("page", openapi3.NewIntegerSchema()).
		WithProperty("query", str()).
		WithProperty("searchAfter", openapi3.NewArraySchema().WithItems(&openapi3.Schema{})).
		WithProperty("filters", openapi3.NewArraySchema().WithItems(openapi3.NewOneOfSchema(condition, group))).
		WithProperty("sort", openapi3.NewArraySchema().WithItems(sort))
	body.Required = []string{"locationId", "pageLimit"}
	op.RequestBody.Value.Content = openapi3.NewContentWithJSONSchema(body)
	return nil
}

// patchSearchDateRange adds the range condition on date fields to the filters patchSearchBody
// defined (the filters become anyOf: a range condition also has the generic shape).
func patchSearchDateRange(docs map[string]*openapi3.T) error {
	op, err := searchOp(docs)
	if err != nil {
		return err
	}
	body := op.RequestBody.Value.Content.Get("application/json").Schema.Value
	filters := body.Properties["filters"]
	if filters == nil || filters.Value.Items == nil || len(filters.Value.Items.Value.OneOf) == 0 {
		return errors.New("search filters are not defined (search-body must come first)")
	}
	str := openapi3.NewStringSchema
	dt := str().WithFormat("date-time")
	bounds := openapi3.NewObjectSchema().
		WithProperty("gt", dt).WithProperty("gte", dt).WithProperty("lt", dt).WithProperty("lte", dt)
	bounds.MinProps = 1
	rng := openapi3.NewObjectSchema().
		WithProperty("field", str().WithEnum("dateAdded", "dateUpdated")).
		WithProperty("operator", str().WithEnum("range")).
		WithProperty("value", bounds)
	rng.Required = []string{"field", "operator", "value"}
	items := filters.Value.Items.Value
	items.AnyOf = append(append(openapi3.SchemaRefs{}, items.OneOf...), rng.NewRef())
	items.OneOf = nil
	return nil
}

func patchSearchResponse(docs map[string]*openapi3.T) error {
	op, err := searchOp(docs)
	if err != nil {
		return err
	}
	item, err := schemaOf(docs["contacts"], "ContactsSearchSchema")
	if err != nil {
		return err
	}
	hit := *item
	hit.Properties = openapi3.Schemas{}
	for k, v := range item.Properties {
		hit.Properties[k] = v
	}
	hit.Properties["searchAfter"] = openapi3.NewArraySchema().WithItems(&openapi3.Schema{}).NewRef()
	resp := openapi3.NewObjectSchema().
		WithProperty("contacts", openapi3.NewArraySchema().WithItems(&hit)).
		WithProperty("total", openapi3.NewFloat64Schema())
	resp.Required = []string{"contacts", "total"}
	op.Responses.Value("200").Value.Content = openapi3.NewContentWithJSONSchema(resp)
	return nil
}

func patchSearch422(docs map[string]*openapi3.T) error {
	op, err := searchOp(docs)
	if err != nil {
		return err
	}
	unprocessable := docs["contacts"].Paths.Value("/contacts/").Post.Responses.Value("422")
	if unprocessable == nil {
		return errors.New("create-contact no longer documents 422")
	}
	if op.Responses.Value("422") != nil {
		return errors.New("search now documents 422 itself; drop this departure")
	}
	op.Responses.Set("422", unprocessable)
	return nil
}

func patchListMeta(docs map[string]*openapi3.T) error {
	list, err := schemaOf(docs["contacts"], "ContactsSearchSuccessfulResponseDto")
	if err != nil {
		return err
	}
	if list.Properties["meta"] != nil {
		return errors.New("the list answer now documents meta; drop this departure")
	}
	nullableStr := openapi3.NewStringSchema().WithNullable()
	nullableNum := openapi3.NewFloat64Schema().WithNullable()
	list.Properties["meta"] = openapi3.NewObjectSchema().
		WithProperty("total", openapi3.NewFloat64Schema()).
		WithProperty("startAfterId", nullableStr).
		WithProperty("startAfter", nullableNum).
		WithProperty("nextPageUrl", nullableStr).
		WithProperty("currentPage", nullableNum).
		WithProperty("nextPage", nullableNum).
		WithProperty("prevPage", nullableNum).NewRef()
	return nil
}

func patchDateOfBirth(docs map[string]*openapi3.T) error {
	for _, dto := range []string{"CreateContactDto", "UpdateContactDto", "UpsertContactDto"} {
		s, err := schemaOf(docs["contacts"], dto)
		if err != nil {
			return err
		}
		s.Properties["dateOfBirth"] = openapi3.NewStringSchema().WithNullable().NewRef()
	}
	return nil
}

func patchNumericFieldValue(docs map[string]*openapi3.T) error {
	for _, f := range []string{"NumericField", "MonetoryField"} {
		s, err := schemaOf(docs["contacts"], f)
		if err != nil {
			return err
		}
		s.Properties["field_value"] = openapi3.NewFloat64Schema().NewRef()
	}
	return nil
}

func patchDuplicateSearch(docs map[string]*openapi3.T) error {
	dup := docs["contacts"].Paths.Value("/contacts/search/duplicate")
	if dup == nil || dup.Get == nil || dup.Get.Responses.Value("200") == nil {
		return errors.New("GET /contacts/search/duplicate is gone from the spec")
	}
	if dup.Get.Responses.Value("200").Value.Content != nil {
		return errors.New("the duplicate search now documents its answer; drop this departure")
	}
	byID, err := schemaOf(docs["contacts"], "GetContectByIdSchema")
	if err != nil {
		return err
	}
	nullableContact := *byID
	nullableContact.Nullable = true
	dup.Get.Responses.Value("200").Value.Content = openapi3.NewContentWithJSONSchema(openapi3.NewObjectSchema().
		WithProperty("contact", &nullableContact).
		WithProperty("traceId", openapi3.NewStringSchema()))
	return nil
}

func patchCustomFieldValue(docs map[string]*openapi3.T) error {
	cf, err := schemaOf(docs["contacts"], "CustomFieldSchema")
	if err != nil {
		return err
	}
	cf.Properties["value"] = (&openapi3.Schema{}).NewRef()
	return nil
}

func taskSearchOp(docs map[string]*openapi3.T) (*openapi3.Operation, error) {
	search := docs["locations"].Paths.Value("/locations/{locationId}/tasks/search")
	if search == nil || search.Post == nil || search.Post.Responses.Value("200") == nil {
		return nil, errors.New("POST /locations/{locationId}/tasks/search is gone from the spec")
	}
	return search.Post, nil
}

func patchTaskSearchRows(docs map[string]*openapi3.T) error {
	if _, err := taskSearchOp(docs); err != nil {
		return err
	}
	list, err := schemaOf(docs["locations"], "LocationTaskListSuccessfulResponseDto")
	if err != nil {
		return err
	}
	str := openapi3.NewStringSchema
	nullableStr := func() *openapi3.Schema { return openapi3.NewStringSchema().WithNullable() }
	row := openapi3.NewObjectSchema().
		WithProperty("_id", str()).
		WithProperty("title", str()).
		WithProperty("body", nullableStr()).
		WithProperty("assignedTo", nullableStr()).
		WithProperty("dueDate", str()).
		WithProperty("completed", openapi3.NewBoolSchema()).
		WithProperty("contactId", nullableStr()).
		WithProperty("locationId", str()).
		WithProperty("deleted", openapi3.NewBoolSchema()).
		WithProperty("dateAdded", str()).
		WithProperty("dateUpdated", str()).
		WithProperty("updatedAt", str()).
		WithProperty("status", str()).
		WithProperty("statusGroup", str()).
		WithProperty("searchAfter", openapi3.NewArraySchema().WithItems(&openapi3.Schema{})).
		WithProperty("contactDetails", openapi3.NewObjectSchema().WithNullable().
			WithProperty("_id", str()).
			WithProperty("firstName", nullableStr()).
			WithProperty("lastName", nullableStr())).
		WithProperty("assignedToUserDetails", openapi3.NewObjectSchema().WithNullable().
			WithProperty("id", str()).
			WithProperty("firstName", nullableStr()).
			WithProperty("lastName", nullableStr()).
			WithProperty("profilePhoto", nullableStr()))
	row.Required = []string{"_id"}
	list.Properties["tasks"] = openapi3.NewArraySchema().WithItems(row).NewRef()
	list.Required = []string{"tasks"}
	return nil
}

func patchTaskSearch201(docs map[string]*openapi3.T) error {
	op, err := taskSearchOp(docs)
	if err != nil {
		return err
	}
	if op.Responses.Value("201") != nil {
		return errors.New("task search now documents 201; drop this departure")
	}
	op.Responses.Set("201", op.Responses.Value("200"))
	return nil
}

// undocumented are the error statuses addUndocumentedStatuses adds.
var undocumented = []string{"403", "404", "413", "429", "5XX"}

// undocumentedOAuth are the ones added to oauth.json: answers of the proxy in front of it.
var undocumentedOAuth = []string{"413", "429", "5XX"}

func addUndocumentedStatuses(docs map[string]*openapi3.T) error {
	for _, name := range []string{"contacts", "locations", "oauth"} {
		statuses := undocumented
		if name == "oauth" {
			statuses = undocumentedOAuth
		}
		for _, item := range docs[name].Paths.Map() {
			for _, op := range item.Operations() {
				for _, st := range statuses {
					if op.Responses.Value(st) == nil {
						// The body is set by closeErrors.
						op.Responses.Set(st, &openapi3.ResponseRef{Value: openapi3.NewResponse().
							WithDescription("added by ghlspec (undocumented by HighLevel)")})
					}
				}
			}
		}
	}
	return nil
}

// closeRequestBodies replaces every request body schema with a closed deep copy: each object
// schema that lists properties refuses any other property. Copies, because HighLevel's DTOs
// are shared with answers, which stay open. Form bodies and bodies sent to operations that
// define none are checked by ValidateRequest, since kin-openapi ignores both.
func closeRequestBodies(docs map[string]*openapi3.T) error {
	for _, doc := range docs {
		c := closer{}
		for _, item := range doc.Paths.Map() {
			for _, op := range item.Operations() {
				if op.RequestBody == nil || op.RequestBody.Value == nil {
					continue
				}
				rb := *op.RequestBody.Value
				rb.Content = openapi3.Content{}
				for ct, mt := range op.RequestBody.Value.Content {
					m := *mt
					m.Schema = c.copy(m.Schema, true)
					rb.Content[ct] = &m
				}
				op.RequestBody = &openapi3.RequestBodyRef{Value: &rb}
			}
		}
	}
	return nil
}

// closer makes closed copies of schemas, each schema once per way of closing it.
type closer map[closerKey]*openapi3.Schema

type closerKey struct {
	s     *openapi3.Schema
	close bool
}

// copy copies ref and everything below it, closing every object schema that lists properties;
// with close false the top level itself stays open. The parts of an allOf with more than one
// part stay open at their top level, since each would refuse its siblings' properties (the
// whole is then not closed at that level: a limit of JSON Schema without unevaluatedProperties).
func (c closer) copy(ref *openapi3.SchemaRef, close bool) *openapi3.SchemaRef {
	if ref == nil || ref.Value == nil {
		return ref
	}
	key := closerKey{ref.Value, close}
	if s, ok := c[key]; ok {
		return &openapi3.SchemaRef{Value: s}
	}
	s := *ref.Value
	c[key] = &s
	if ref.Value.Properties != nil {
		s.Properties = openapi3.Schemas{}
		for k, v := range ref.Value.Properties {
			s.Properties[k] = c.copy(v, true)
		}
	}
	s.Items = c.copy(s.Items, true)
	s.Not = c.copy(s.Not, true)
	s.AdditionalProperties.Schema = c.copy(s.AdditionalProperties.Schema, true)
	for _, list := range []*openapi3.SchemaRefs{&s.AllOf, &s.AnyOf, &s.OneOf} {
		if *list == nil {
			continue
		}
		closeParts := list != &s.AllOf || len(*list) == 1
		out := make(openapi3.SchemaRefs, len(*list))
		for i, v := range *list {
			out[i] = c.copy(v, closeParts)
		}
		*list = out
	}
	if close && len(s.Properties) > 0 && len(s.AllOf) == 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
		s.AdditionalProperties.Has = new(false)
	}
	return &openapi3.SchemaRef{Value: &s}
}

// errorDTOs finds HighLevel's error DTOs (common-schemas.json) through the answers that
// reference them.
func errorDTOs(docs map[string]*openapi3.T) map[string]*openapi3.Schema {
	out := map[string]*openapi3.Schema{}
	for _, doc := range docs {
		for _, item := range doc.Paths.Map() {
			for _, op := range item.Operations() {
				for _, r := range op.Responses.Map() {
					if r.Value == nil {
						continue
					}
					for _, mt := range r.Value.Content {
						if mt.Schema == nil || mt.Schema.Value == nil {
							continue
						}
						if i := strings.LastIndex(mt.Schema.Ref, "/"); i >= 0 && strings.HasSuffix(mt.Schema.Ref, "DTO") {
							out[mt.Schema.Ref[i+1:]] = mt.Schema.Value
						}
					}
				}
			}
		}
	}
	return out
}

// dtoForStatus names the DTO HighLevel documents for an error status.
var dtoForStatus = map[string]string{"400": "BadRequestDTO", "401": "UnauthorizedDTO", "422": "UnprocessableDTO"}

// closeErrors gives every 4xx and 5XX answer of every operation its closed error schema.
func closeErrors(docs map[string]*openapi3.T) error {
	dtos := errorDTOs(docs)
	for _, name := range dtoForStatus {
		if dtos[name] == nil {
			return fmt.Errorf("no answer references %s any more", name)
		}
	}
	for file, doc := range docs {
		for _, item := range doc.Paths.Map() {
			for _, op := range item.Operations() {
				for st, r := range op.Responses.Map() {
					if st == "" || (st[0] != '4' && st[0] != '5') || r.Value == nil {
						continue
					}
					s, err := errorSchema(dtos, file, op.OperationID, st)
					if err != nil {
						return fmt.Errorf("%s %s: %w", op.OperationID, st, err)
					}
					resp := *r.Value
					resp.Content = openapi3.NewContentWithJSONSchema(s)
					op.Responses.Set(st, &openapi3.ResponseRef{Value: &resp})
				}
			}
		}
	}
	return nil
}

// errorSchema is the closed schema of an error answer with status st (e.g. "404", "5XX") of
// operation op in file.
func errorSchema(dtos map[string]*openapi3.Schema, file, op, st string) (*openapi3.Schema, error) {
	s := openapi3.NewObjectSchema()
	if name, ok := dtoForStatus[st]; ok {
		for k, v := range dtos[name].Properties {
			p := *v.Value
			s.Properties[k] = p.NewRef()
		}
	} else {
		// undocumented-statuses: the documented DTOs' shape.
		s.WithProperty("statusCode", openapi3.NewFloat64Schema()).
			WithProperty("message", openapi3.NewStringSchema()).
			WithProperty("error", openapi3.NewStringSchema())
	}
	code := s.Properties["statusCode"]
	if code == nil || s.Properties["message"] == nil {
		return nil, errors.New("the DTO lost statusCode or message")
	}
	if st == "5XX" {
		code.Value.WithMin(500).WithMax(599)
	} else {
		var n float64
		if _, err := fmt.Sscan(st, &n); err != nil {
			return nil, fmt.Errorf("status %q: %w", st, err)
		}
		code.Value.Enum = []any{n}
	}
	if s.Properties["error"] == nil { // error-400
		s.WithProperty("error", openapi3.NewStringSchema())
	}
	s.WithProperty("traceId", openapi3.NewStringSchema())                  // trace-id
	if (op == "create-contact" || op == "update-contact") && st == "400" { // duplicate-meta, duplicate-meta-update
		meta := openapi3.NewObjectSchema().
			WithProperty("contactId", openapi3.NewStringSchema()).
			WithProperty("contactName", openapi3.NewStringSchema()).
			WithProperty("matchingField", openapi3.NewStringSchema())
		meta.Required = []string{"contactId"}
		meta.AdditionalProperties.Has = new(false)
		s.WithProperty("meta", meta)
	}
	if file == "oauth" { // oauth-rfc-errors
		s.WithProperty("error_description", openapi3.NewStringSchema())
	} else {
		s.Required = []string{"statusCode", "message"}
	}
	s.AdditionalProperties.Has = new(false)
	return s, nil
}
