package referrizer

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestDecodeContactTolerates(t *testing.T) {
	body := `{
		"id": "0123456789abcdef0123456789abcdef",
		"firstName": "Ada", "lastName": null, "phone": 15550102000,
		"labels": ["vip", null], "customFields": {"GHL Notes": "n", "Visits": 3},
		"unsubscribedFromText": "true", "unsubscribedFromEmail": "sometimes",
		"createdAt": 1703880662353, "updatedAt": "last tuesday",
		"loyaltyPoints": 120, "address": {"city": "Paris"}
	}`
	var c Contact
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		t.Fatal(err)
	}
	if c.Phone != "15550102000" || c.FirstName != "Ada" || !c.UnsubscribedFromText {
		t.Fatalf("lenient scalars: %+v", c)
	}
	if want := time.Date(2023, 12, 29, 20, 11, 2, 353e6, time.UTC); !c.CreatedAt.Equal(want) {
		t.Fatalf("epoch-millisecond createdAt = %v", c.CreatedAt)
	}
	if v, ok := c.CustomText("GHL Notes"); !ok || v != "n" {
		t.Fatalf("CustomText = %q %v", v, ok)
	}
	if _, ok := c.CustomText("Visits"); ok {
		t.Fatal("a number read as text")
	}
	// Values the client cannot type stay raw in Extra, with the unknown keys.
	for _, k := range []string{"labels", "unsubscribedFromEmail", "updatedAt", "loyaltyPoints", "address"} {
		if _, ok := c.Extra[k]; !ok {
			t.Errorf("Extra lacks %q: %v", k, c.Extra)
		}
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]json.RawMessage
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"labels": `["vip",null]`, "unsubscribedFromEmail": `"sometimes"`, "updatedAt": `"last tuesday"`,
		"loyaltyPoints": `120`, "address": `{"city":"Paris"}`, "lastName": `null`,
		"createdAt": `"2023-12-29T20:11:02.353Z"`, "customFields": `{"GHL Notes":"n","Visits":3}`,
		"shouldSendNotification": `false`,
	} {
		if string(back[k]) != want {
			t.Errorf("encoded %s = %s, want %s", k, back[k], want)
		}
	}

	// Setting a field through a patch replaces the odd raw value.
	ContactPatch{UnsubscribedFromEmail: new(true)}.Apply(&c)
	out, _ = json.Marshal(c)
	if !bytes.Contains(out, []byte(`"unsubscribedFromEmail":true`)) {
		t.Fatalf("patched flag not written: %s", out)
	}

	for _, bad := range []string{`[]`, `"x"`, `{`, `42`} {
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("%s decoded as a contact", bad)
		}
	}
}

func TestMarshalContactShape(t *testing.T) {
	out, err := json.Marshal(Contact{Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"birthDate":null,"customFields":{},"description":null,"email":"a@example.com","firstName":null,"labels":[],"lastName":null,"phone":null,"shouldSendNotification":false,"type":null,"unsubscribedFromEmail":false,"unsubscribedFromText":false}`
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	if _, err := json.Marshal(Contact{Extra: map[string]json.RawMessage{"x": json.RawMessage("{")}}); err == nil {
		t.Fatal("invalid Extra JSON encoded")
	}
}

func TestContactPatchApply(t *testing.T) {
	c := Contact{
		FirstName: "A", Labels: []string{"keep", "drop", "both"},
		CustomFields: map[string]json.RawMessage{"Tier": json.RawMessage(`"gold"`), "Old": json.RawMessage(`"x"`)},
	}
	orig := c.CustomFields
	p := ContactPatch{
		FirstName: new("B"), Description: new(""),
		AddLabels: []string{"new", "keep", "both"}, RemoveLabels: []string{"drop", "both", "absent"},
		SetCustomText: map[string]string{"GHL Notes": "hello"}, ClearCustomFields: []string{"Old"},
	}
	if p.IsZero() || !(ContactPatch{}).IsZero() {
		t.Fatal("IsZero is wrong")
	}
	p.Apply(&c)
	if c.FirstName != "B" || strings.Join(c.Labels, ",") != "keep,new,both" {
		t.Fatalf("after apply: %+v", c)
	}
	if v, _ := c.CustomText("GHL Notes"); v != "hello" || string(c.CustomFields["Old"]) != "null" || string(c.CustomFields["Tier"]) != `"gold"` {
		t.Fatalf("custom fields: %v", c.CustomFields)
	}
	if _, touched := orig["GHL Notes"]; touched {
		t.Fatal("Apply mutated the caller's custom field map")
	}
	raw, _ := json.Marshal(p)
	var back ContactPatch
	if err := json.Unmarshal(raw, &back); err != nil || *back.FirstName != "B" || len(back.AddLabels) != 3 {
		t.Fatalf("patch does not round-trip as data: %s %v", raw, err)
	}
}

func TestHasNext(t *testing.T) {
	three := make([]Contact, 3)
	for _, tc := range []struct {
		p    ContactPage
		want bool
	}{
		{ContactPage{Contacts: three, Total: 10, Page: 1, PerPage: 3}, true},
		{ContactPage{Contacts: three, Total: 9, Page: 3, PerPage: 3}, false},
		{ContactPage{Contacts: three[:1], Total: 10, Page: 4, PerPage: 3}, false},
		{ContactPage{Contacts: nil, Total: 10, Page: 9, PerPage: 3}, false},
		{ContactPage{Contacts: three, Total: -1, Page: 1, PerPage: 3}, true},
		{ContactPage{Contacts: three[:2], Total: -1, Page: 1, PerPage: 3}, false},
	} {
		if got := tc.p.HasNext(); got != tc.want {
			t.Errorf("HasNext(%d items, total %d, page %d) = %v", len(tc.p.Contacts), tc.p.Total, tc.p.Page, got)
		}
	}
}

func TestListBodyShapes(t *testing.T) {
	for body, want := range map[string]struct{ n, total int }{
		`[{"id":"a"},{"id":"b"}]`:           {2, -1},
		`{"data":[{"id":"a"}],"total":7}`:   {1, 7},
		`{"data":[{"id":"a"}],"total":"8"}`: {1, 8},
		`{"data":null}`:                     {0, -1},
		`null`:                              {0, -1},
		`{"data":[],"total":-3,"page":1}`:   {0, -1},
	} {
		var l listBody[Contact]
		if err := json.Unmarshal([]byte(body), &l); err != nil || len(l.items) != want.n || l.total != want.total {
			t.Errorf("%s: %d items, total %d, err %v", body, len(l.items), l.total, err)
		}
	}
	var l listBody[Contact]
	if err := json.Unmarshal([]byte(`"nope"`), &l); err == nil {
		t.Error("a string decoded as a list")
	}
}

func TestDecodeError(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		status     int
		body       string
		retryAfter string
		kind       Kind
		code       string
		wait       time.Duration
		retryable  bool
	}{
		{400, `{"errorCode":"MISSING_REQUIRED_FIELD","message":"email is required"}`, "", KindValidation, "MISSING_REQUIRED_FIELD", 0, false},
		{400, `{"code":"RESOURCE_ALREADY_EXISTS","message":"exists"}`, "", KindDuplicate, "RESOURCE_ALREADY_EXISTS", 0, false},
		{400, `{"errorCode":"NOT_UNIQUE"}`, "", KindDuplicate, "NOT_UNIQUE", 0, false},
		{400, `{"error":{"code":"CONTACT_ALREADY_CHECKED_IN","message":"twice"}}`, "", KindDuplicate, "CONTACT_ALREADY_CHECKED_IN", 0, false},
		{409, `{"error":"conflict"}`, "", KindDuplicate, "", 0, false},
		{401, `{"errorCode":"UNAUTHORIZED"}`, "", KindUnauthorized, "UNAUTHORIZED", 0, false},
		{403, ``, "", KindUnauthorized, "", 0, false},
		{404, `<html>not found</html>`, "", KindNotFound, "", 0, false},
		{413, `{}`, "", KindValidation, "", 0, false},
		{429, `{"errorCode":"TOO_MANY_REQUESTS"}`, "7", KindRateLimited, "TOO_MANY_REQUESTS", 7 * time.Second, true},
		{429, ``, now.Add(90 * time.Second).Format(http.TimeFormat), KindRateLimited, "", 90 * time.Second, true},
		{429, ``, now.Add(-time.Minute).Format(http.TimeFormat), KindRateLimited, "", 0, true},
		{429, ``, "soon", KindRateLimited, "", 0, true},
		{429, ``, "-5", KindRateLimited, "", 0, true},
		{429, ``, "999999", KindRateLimited, "", maxRetryAfter, true},
		{500, `{"code":500,"message":"boom"}`, "", KindServer, "500", 0, true},
		{503, `{"errorCode":"x y z"}`, "2", KindServer, "", 2 * time.Second, true},
		{408, ``, "", KindServer, "", 0, true},
		{418, `{"errorCode":"TEAPOT"}`, "", KindUnexpected, "TEAPOT", 0, false},
	}
	for _, tc := range cases {
		h := http.Header{}
		if tc.retryAfter != "" {
			h.Set("Retry-After", tc.retryAfter)
		}
		e := decodeError("op", tc.status, h, []byte(tc.body), now)
		if e.Kind != tc.kind || e.Code != tc.code || e.RetryAfter() != tc.wait || e.Retryable() != tc.retryable {
			t.Errorf("%d %s (Retry-After %q): got kind %s code %q wait %v retryable %v", tc.status, tc.body, tc.retryAfter, e.Kind, e.Code, e.RetryAfter(), e.Retryable())
		}
	}
}

func TestErrorTextRedactsPersonalData(t *testing.T) {
	body := `{"errorCode":"RESOURCE_ALREADY_EXISTS","message":"Contact jane.doe+vip@example.com (phone +1 (555) 010-2000, born 1990-04-01) already exists"}`
	e := decodeError("create contact", 400, http.Header{}, []byte(body), time.Now())
	for _, pii := range []string{"jane", "example.com", "555", "010-2000", "1990"} {
		if strings.Contains(e.Error(), pii) {
			t.Errorf("error text %q contains %q", e.Error(), pii)
		}
	}
	if !strings.Contains(e.Error(), "RESOURCE_ALREADY_EXISTS") || !strings.Contains(e.Error(), "already exists") || !strings.Contains(e.Error(), "create contact") {
		t.Errorf("error text lost its useful part: %q", e.Error())
	}
	long := redact(strings.Repeat("é", 1000))
	if !utf8.ValidString(long) || len(long) > maxMessageLen+len("…") {
		t.Errorf("long message not bounded cleanly: %d bytes", len(long))
	}
	// A code cannot smuggle text in either.
	if e := decodeError("x", 400, nil, []byte(`{"errorCode":"bob@example.com"}`), time.Now()); e.Code != "" {
		t.Errorf("code %q kept", e.Code)
	}
}

func FuzzDecodeContact(f *testing.F) {
	for _, seed := range []string{
		`{"id":"0123456789abcdef0123456789abcdef","firstName":"Ada","email":"ada@example.com","labels":["vip"],"customFields":{"GHL Notes":"x"},"createdAt":"2023-12-29T20:11:02.353Z","loyaltyPoints":120}`,
		`{"phone":15550102000,"labels":null,"customFields":[],"unsubscribedFromText":"true","updatedAt":1703880662353}`,
		`{"labels":["a",null,1],"createdAt":"not a date","birthDate":{"y":1990},"id":7}`,
		`{"createdAt":99999999999999999,"updatedAt":-62135596800001}`,
		`{"firstName":"","email":null,"shouldSendNotification":true,"extra":{"nested":[1,2,{"k":null}]}}`,
		`null`, `{}`, `[]`, `"x"`, `{"a":`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var c Contact
		if err := json.Unmarshal(body, &c); err != nil {
			return
		}
		first, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("decoded contact does not encode: %v", err)
		}
		// Whatever was read, one round trip reaches a fixed point: reading back what we
		// would PUT and writing it again changes nothing, so GET-merge-PUT never drifts.
		var again Contact
		if err := json.Unmarshal(first, &again); err != nil {
			t.Fatalf("encoded contact does not decode: %v\n%s", err, first)
		}
		second, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("round trip drifts:\n%s\n%s", first, second)
		}
		// Every top-level key read is written back.
		var in, out map[string]json.RawMessage
		if json.Unmarshal(body, &in) == nil && json.Unmarshal(first, &out) == nil {
			for k := range in {
				if _, ok := out[k]; !ok && k != "id" && k != "createdAt" && k != "updatedAt" {
					t.Fatalf("key %q dropped", k)
				}
			}
		}
	})
}

func FuzzDecodeError(f *testing.F) {
	for _, seed := range []struct {
		status int
		body   string
		ra     string
	}{
		{400, `{"errorCode":"MISSING_REQUIRED_FIELD","message":"email is required"}`, ""},
		{400, `{"code":"NOT_UNIQUE","message":"name taken"}`, ""},
		{429, `{"errorCode":"TOO_MANY_REQUESTS"}`, "30"},
		{429, ``, "Wed, 21 Oct 2015 07:28:00 GMT"},
		{500, `<html><body>Bad gateway</body></html>`, ""},
		{400, `{"message":"Contact bob@example.com with phone 555-010-2000 exists"}`, ""},
		{401, `{"error":{"code":401,"message":"expired"}}`, ""},
		{418, `{"errorCode":["x"],"message":{"a":1}}`, "-1"},
	} {
		f.Add(seed.status, []byte(seed.body), seed.ra)
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter string) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		e := decodeError("op", status, h, body, now)
		if e.Kind != classify(status, e.Code) {
			t.Fatalf("kind %s for status %d code %q", e.Kind, status, e.Code)
		}
		if e.RetryAfter() < 0 || e.RetryAfter() > maxRetryAfter {
			t.Fatalf("wait %v out of bounds", e.RetryAfter())
		}
		if len(e.Message) > maxMessageLen+len("…") || !utf8.ValidString(e.Message) {
			t.Fatalf("message not bounded or not UTF-8: %q", e.Message)
		}
		if m := emailLike.FindString(e.Message); m != "" {
			t.Fatalf("email-like text %q survived redaction", m)
		}
		if sanitizeCode(e.Code) != e.Code {
			t.Fatalf("unsanitised code %q", e.Code)
		}
		if e.Error() == "" {
			t.Fatal("empty error text")
		}
	})
}
