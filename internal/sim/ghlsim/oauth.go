package ghlsim

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

const codeTTL = 10 * time.Minute

// authorize is the choose-location page: the "admin" installs the app on ?locationId= (or
// Options.DefaultLocationID) at once and is redirected back with a code. An install sends
// the INSTALL webhook, as HighLevel does.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, state := q.Get("redirect_uri"), q.Get("state")
	loc := q.Get("locationId")
	// ?userType=Company stands in for an agency admin installing on several locations at
	// once (?locationIds=a,b; default the default location): the code then yields a Company
	// token and the INSTALL event is a bulk one.
	company := q.Get("userType") == "Company"
	var locs []string
	if company {
		for _, l := range strings.Split(q.Get("locationIds"), ",") {
			if l = strings.TrimSpace(l); l != "" {
				locs = append(locs, l)
			}
		}
		if len(locs) == 0 && s.opts.DefaultLocationID != "" {
			locs = []string{s.opts.DefaultLocationID}
		}
		loc = ""
	} else if loc == "" {
		loc = s.opts.DefaultLocationID
	}
	switch {
	case q.Get("response_type") != "code":
		writeError(w, errBad("response_type must be code"))
		return
	case q.Get("client_id") != s.opts.ClientID:
		writeError(w, errBad("unknown client_id"))
		return
	case redirect == "":
		writeError(w, errBad("redirect_uri is required"))
		return
	case loc == "" && len(locs) == 0:
		writeError(w, errBad("no location chosen: pass locationId (or userType=Company&locationIds=) or set Options.DefaultLocationID"))
		return
	}
	target, err := url.Parse(redirect)
	if err != nil || !target.IsAbs() {
		writeError(w, errBad("redirect_uri must be an absolute URL"))
		return
	}
	s.mu.Lock()
	code := "sim-code-" + s.randLocked(32)
	g := codeGrant{loc: loc, redirect: redirect, scope: q.Get("scope"), expires: s.opts.Now().Add(codeTTL)}
	install := obj{"type": "INSTALL", "appId": s.opts.AppID, "companyId": s.opts.CompanyID,
		"userId": "simUser00000000000001", "isWhitelabelCompany": false, "whitelabelDetails": obj{}, "companyName": "Simulated Agency"}
	if company {
		g.company, g.locs = s.opts.CompanyID, locs
		install["locationIds"] = locs
	} else {
		install["locationId"] = loc
	}
	s.codes[code] = g
	s.emitLocked(install)
	s.mu.Unlock()
	vals := target.Query()
	vals.Set("code", code)
	if state != "" {
		vals.Set("state", state)
	}
	target.RawQuery = vals.Encode()
	http.Redirect(w, r, target.String(), http.StatusFound)
}

// token is POST /oauth/token: authorization_code and refresh_token grants. Every refresh
// rotates: the refresh token used stops working (invalid_grant), as on HighLevel.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeError(w, errBad("body must be application/x-www-form-urlencoded"))
		return
	}
	grantType := form.Get("grant_type")
	s.mu.Lock()
	delay := s.faults.TokenLatency
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.TokenRequests[grantType]++

	id, secret := form.Get("client_id"), form.Get("client_secret")
	if bid, bsecret, ok := r.BasicAuth(); ok && id == "" {
		id, secret = bid, bsecret
	}
	// HighLevel's error shape plus RFC 6749's error code, which OAuth clients key on.
	oauthErr := func(status int, code, desc string) {
		var msg any = desc
		if status == http.StatusUnprocessableEntity {
			msg = []string{desc}
		}
		writeJSON(w, status, obj{"statusCode": status, "message": msg, "error": code, "error_description": desc})
	}
	// A refused code or refresh token, in the shape Faults.TokenErrorShape chooses.
	refuseGrant := func(desc string) {
		switch s.faults.TokenErrorShape {
		case TokenErrorRFC6749:
			writeJSON(w, http.StatusBadRequest, obj{"error": "invalid_grant", "error_description": desc})
		case TokenErrorBadRequestDTO:
			writeJSON(w, http.StatusBadRequest, obj{"statusCode": http.StatusBadRequest, "message": desc, "error": "Bad Request"})
		case TokenErrorUnauthorizedDTO:
			writeJSON(w, http.StatusUnauthorized, obj{"statusCode": http.StatusUnauthorized, "message": desc, "error": "Unauthorized"})
		default:
			oauthErr(http.StatusBadRequest, "invalid_grant", "Invalid grant: "+desc)
		}
	}
	if id != s.opts.ClientID || secret != s.opts.ClientSecret {
		oauthErr(http.StatusUnauthorized, "invalid_client", "Invalid client credentials")
		return
	}
	if ut := form.Get("user_type"); ut != "" && ut != "Location" && ut != "Company" {
		oauthErr(http.StatusUnprocessableEntity, "invalid_request", "user_type must be one of the following values: Company, Location")
		return
	}
	now := s.opts.Now()
	var loc, scope, company string
	var locs []string
	switch grantType {
	case "authorization_code":
		code := form.Get("code")
		g, ok := s.codes[code]
		delete(s.codes, code) // single use, even when the exchange fails
		if !ok || !now.Before(g.expires) {
			refuseGrant("authorization code is invalid or expired")
			return
		}
		if ru := form.Get("redirect_uri"); ru != "" && ru != g.redirect {
			refuseGrant("redirect_uri does not match")
			return
		}
		loc, scope, company, locs = g.loc, g.scope, g.company, g.locs
	case "refresh_token":
		rt := form.Get("refresh_token")
		g, ok := s.refresh[rt]
		if !ok {
			refuseGrant("refresh token is invalid")
			return
		}
		delete(s.refresh, rt)
		loc, scope, company, locs = g.loc, g.scope, g.company, g.locs
	default:
		oauthErr(http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
		return
	}
	access, refresh := "sim-at-"+s.randLocked(40), "sim-rt-"+s.randLocked(40)
	s.access[access] = accessGrant{loc: loc, expires: now.Add(s.opts.AccessTokenTTL), company: company, locs: locs}
	s.refresh[refresh] = refreshGrant{loc: loc, scope: scope, company: company, locs: locs}
	out := obj{
		"access_token": access, "token_type": "Bearer", "expires_in": int(s.opts.AccessTokenTTL.Seconds()),
		"refresh_token": refresh, "scope": scope, "userType": "Location", "locationId": loc, "companyId": s.opts.CompanyID,
		"userId": "simUser00000000000001", "isBulkInstallation": false,
	}
	if company != "" {
		// A Company token names no location; it lists the approved ones.
		delete(out, "locationId")
		out["userType"], out["companyId"], out["approvedLocations"], out["isBulkInstallation"] = "Company", company, locs, true
	}
	writeJSON(w, http.StatusOK, out)
}

// locationToken is POST /oauth/locationToken: a Location token for one of the locations an
// agency approved, obtained with its Company access token (oauth.json,
// get-location-access-token). Location tokens obtained this way have no refresh token.
func (s *Server) locationToken(w http.ResponseWriter, r *http.Request) {
	if v := r.Header.Get("Version"); v != "2021-07-28" {
		writeJSON(w, http.StatusBadRequest, obj{"statusCode": http.StatusBadRequest, "message": "version header was not found"})
		return
	}
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, obj{"statusCode": http.StatusBadRequest, "message": "body must be application/x-www-form-urlencoded"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.TokenRequests["locationToken"]++
	now := s.opts.Now()
	g, ok := s.access[bearer(r)]
	if !ok || (!g.expires.IsZero() && !now.Before(g.expires)) {
		writeJSON(w, http.StatusUnauthorized, obj{"statusCode": http.StatusUnauthorized, "message": "Invalid JWT", "error": "Unauthorized"})
		return
	}
	companyID, loc := form.Get("companyId"), form.Get("locationId")
	switch {
	case g.company == "":
		writeJSON(w, http.StatusUnauthorized, obj{"statusCode": http.StatusUnauthorized, "message": "This route needs an Agency (Company) access token", "error": "Unauthorized"})
		return
	case companyID == "" || loc == "":
		writeJSON(w, http.StatusUnprocessableEntity, obj{"statusCode": http.StatusUnprocessableEntity, "message": []string{"companyId and locationId should not be empty"}, "error": "Unprocessable Entity"})
		return
	case companyID != g.company || !slices.Contains(g.locs, loc):
		writeJSON(w, http.StatusBadRequest, obj{"statusCode": http.StatusBadRequest, "message": "The app is not installed on this location", "error": "Bad Request"})
		return
	}
	access := "sim-at-" + s.randLocked(40)
	s.access[access] = accessGrant{loc: loc, expires: now.Add(s.opts.AccessTokenTTL)}
	writeJSON(w, http.StatusOK, obj{
		"access_token": access, "token_type": "Bearer", "expires_in": int(s.opts.AccessTokenTTL.Seconds()),
		"scope": "contacts.readonly contacts.write", "locationId": loc, "userId": "simUser00000000000001", "appId": s.opts.AppID,
	})
}

// UninstallFromCompany stands in for an agency removing the app from one of its approved
// locations: the Company token can no longer obtain a Location token for it, the location's
// tokens stop working, and the UNINSTALL webhook is sent.
func (s *Server) UninstallFromCompany(locationID string) {
	s.mu.Lock()
	for tok, g := range s.access {
		if g.company != "" {
			g.locs = slices.DeleteFunc(slices.Clone(g.locs), func(l string) bool { return l == locationID })
			s.access[tok] = g
		}
	}
	for tok, g := range s.refresh {
		if g.company != "" {
			g.locs = slices.DeleteFunc(slices.Clone(g.locs), func(l string) bool { return l == locationID })
			s.refresh[tok] = g
		}
	}
	s.mu.Unlock()
	s.Uninstall(locationID)
}

// Uninstall revokes every OAuth token of a location and sends the UNINSTALL webhook.
// Private Integration tokens are left alone: they are not app installs.
func (s *Server) Uninstall(locationID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, g := range s.access {
		if g.loc == locationID && !g.expires.IsZero() {
			delete(s.access, tok)
		}
	}
	for tok, g := range s.refresh {
		if g.loc == locationID {
			delete(s.refresh, tok)
		}
	}
	s.emitLocked(obj{"type": "UNINSTALL", "appId": s.opts.AppID, "locationId": locationID})
}

// RevokeRefreshTokens makes every refresh token of a location invalid, as when HighLevel
// revokes a grant without an UNINSTALL event: the next refresh is refused in the shape
// Faults.TokenErrorShape chooses. Access tokens keep working until they expire. It returns
// how many refresh tokens it revoked.
func (s *Server) RevokeRefreshTokens(locationID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for tok, g := range s.refresh {
		if g.loc == locationID {
			delete(s.refresh, tok)
			n++
		}
	}
	return n
}

// ExpireAccessTokens makes every OAuth access token of a location expire now, so the next
// call with one gets 401 (as after a day of idleness) while refresh tokens keep working.
func (s *Server) ExpireAccessTokens(locationID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	for tok, g := range s.access {
		if g.loc == locationID && !g.expires.IsZero() {
			g.expires = now
			s.access[tok] = g
		}
	}
}
