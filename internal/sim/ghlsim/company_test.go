package ghlsim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
)

func (f *fixture) admin(t *testing.T, path string, body string) int {
	t.Helper()
	resp, err := http.Post(f.srv.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestRefusedGrantShapes: the token endpoint refuses a dead refresh token in the body shape
// the admin control chooses, each one a documented HighLevel error body.
func TestRefusedGrantShapes(t *testing.T) {
	f := newFixture(t, ghlsim.Options{})
	cases := []struct {
		shape  string
		status int
		keys   []string
	}{
		{"", http.StatusBadRequest, []string{"error", "error_description", "message", "statusCode"}},
		{ghlsim.TokenErrorRFC6749, http.StatusBadRequest, []string{"error", "error_description"}},
		{ghlsim.TokenErrorBadRequestDTO, http.StatusBadRequest, []string{"error", "message", "statusCode"}},
		{ghlsim.TokenErrorUnauthorizedDTO, http.StatusUnauthorized, []string{"error", "message", "statusCode"}},
	}
	for _, tc := range cases {
		t.Run("shape "+tc.shape, func(t *testing.T) {
			if st := f.admin(t, "/admin/faults", `{"tokenErrorShape":"`+tc.shape+`"}`); st != http.StatusOK {
				t.Fatalf("POST /admin/faults: %d", st)
			}
			code := f.authorize(t, "")
			st, tok := f.tokenCall(t, url.Values{"client_id": {"sim-client-id"}, "client_secret": {"sim-client-secret"}, "grant_type": {"authorization_code"}, "code": {code}})
			if st != http.StatusOK {
				t.Fatalf("exchange: %d %v", st, tok)
			}
			if st := f.admin(t, "/admin/revoke-refresh-tokens", `{"locationId":"`+loc+`"}`); st != http.StatusOK {
				t.Fatalf("revoke: %d", st)
			}
			st, body := f.tokenCall(t, url.Values{"client_id": {"sim-client-id"}, "client_secret": {"sim-client-secret"}, "grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}})
			if st != tc.status || !slices.Equal(keys(body), tc.keys) {
				t.Errorf("refused refresh: %d %v, want %d with keys %v", st, body, tc.status, tc.keys)
			}
			switch tc.shape {
			case ghlsim.TokenErrorBadRequestDTO:
				if body["error"] != "Bad Request" || body["statusCode"] != float64(400) {
					t.Errorf("BadRequestDTO body %v", body)
				}
			case ghlsim.TokenErrorUnauthorizedDTO:
				if body["error"] != "Unauthorized" || body["statusCode"] != float64(401) {
					t.Errorf("UnauthorizedDTO body %v", body)
				}
			default:
				if body["error"] != "invalid_grant" {
					t.Errorf("RFC body %v", body)
				}
			}
		})
	}
	if st := f.admin(t, "/admin/faults", `{"tokenErrorShape":"teapot"}`); st != http.StatusUnprocessableEntity {
		t.Errorf("unknown shape: %d, want 422", st)
	}
	for _, fail := range f.rec.Failures() {
		t.Errorf("contract: %s", fail)
	}
}

// TestCompanyInstallAndLocationTokens: an agency's bulk install yields a Company token that
// reaches no location API but obtains Location tokens for the approved locations; the INSTALL
// event lists them. Every exchange is checked against oauth.json.
func TestCompanyInstallAndLocationTokens(t *testing.T) {
	f := newFixture(t, ghlsim.Options{})
	const loc2 = "locSim0000000000002b"
	c, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc2, Email: "b@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	code := f.authorize(t, "&userType=Company&locationIds="+loc+","+loc2)
	st, tok := f.tokenCall(t, url.Values{"client_id": {"sim-client-id"}, "client_secret": {"sim-client-secret"}, "grant_type": {"authorization_code"}, "code": {code}, "user_type": {"Company"}})
	if st != http.StatusOK || tok["userType"] != "Company" || tok["locationId"] != nil || tok["isBulkInstallation"] != true || tok["companyId"] == "" {
		t.Fatalf("company exchange: %d %v", st, tok)
	}
	if got, _ := json.Marshal(tok["approvedLocations"]); string(got) != `["`+loc+`","`+loc2+`"]` {
		t.Errorf("approvedLocations %s", got)
	}
	company := tok["access_token"].(string)
	if st, _, _ := f.call(t, "GET", "/contacts/"+c.ID, company, nil); st != http.StatusUnauthorized {
		t.Errorf("company token on a location API: %d, want 401", st)
	}
	locationToken := func(token, companyID, location string) (int, map[string]any) {
		form := url.Values{"companyId": {companyID}, "locationId": {location}}
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/oauth/locationToken", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Version", "2021-07-28")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := (&http.Client{Transport: f.rec}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		out := map[string]any{}
		_ = json.Unmarshal(raw, &out)
		return resp.StatusCode, out
	}
	st, lt := locationToken(company, tok["companyId"].(string), loc2)
	if st != http.StatusOK || lt["locationId"] != loc2 || lt["refresh_token"] != nil || lt["userId"] == nil {
		t.Fatalf("location token: %d %v", st, lt)
	}
	if st, _, _ := f.call(t, "GET", "/contacts/"+c.ID, lt["access_token"].(string), nil); st != http.StatusOK {
		t.Errorf("Location token on the API: %d", st)
	}
	if st, body := locationToken(company, tok["companyId"].(string), "locNotApproved000001"); st != http.StatusBadRequest || body["statusCode"] != float64(400) {
		t.Errorf("unapproved location: %d %v", st, body)
	}
	if st, body := locationToken(lt["access_token"].(string), tok["companyId"].(string), loc2); st != http.StatusUnauthorized || body["error"] != "Unauthorized" {
		t.Errorf("Location token used as company token: %d %v", st, body)
	}
	f.sim.UninstallFromCompany(loc2)
	if st, _ := locationToken(company, tok["companyId"].(string), loc2); st != http.StatusBadRequest {
		t.Errorf("after the agency uninstalled the location: %d, want 400", st)
	}
	f.wait(t)
	var bulk *ghl.AppInstallEvent
	for _, ev := range f.hook.got() {
		if p, ok := ev.env.Payload.(*ghl.AppInstallEvent); ok {
			bulk = p
		}
	}
	if bulk == nil || bulk.LocationID != "" || strings.Join(bulk.LocationIDs, ",") != loc+","+loc2 || bulk.CompanyID == "" || bulk.AppID != "sim" {
		t.Errorf("bulk INSTALL event %+v, want companyId, appId sim and both locationIds", bulk)
	}
	if n := f.sim.Stats().TokenRequests["locationToken"]; n != 4 {
		t.Errorf("locationToken requests = %d, want 4", n)
	}
	for _, fail := range f.rec.Failures() {
		t.Errorf("contract: %s", fail)
	}
}
