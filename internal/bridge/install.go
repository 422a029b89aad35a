package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/store"
)

// appEventID is the appId an INSTALL or UNINSTALL event carries ("" when it has none).
func appEventID(env ghl.Envelope) string {
	switch p := env.Payload.(type) {
	case *ghl.AppInstallEvent:
		return p.AppID
	case *ghl.AppUninstallEvent:
		return p.AppID
	}
	return ""
}

// notOurApp says why an app event is not for this app, or "" when it is. Every Marketplace
// app receives events signed with HighLevel's one key, so another app's developer can replay
// theirs to our URL: only the appId tells them apart (ghl-facts.md §3).
func (b *Bridge) notOurApp(env ghl.Envelope) string {
	id := appEventID(env)
	switch {
	case b.appID == "":
		return "no HighLevel app is configured (HLRZ_GHL_CLIENT_ID), so no app event is ours"
	case id == "":
		return "app event without appId"
	case id != b.appID:
		return "app event for another app (appId " + clip(id, 64) + ")"
	}
	return ""
}

// pendingReason is the status reason of a connection waiting for its Referrizer credential.
func pendingReason(connID string) string {
	return "installed; add the Referrizer token: starter connect -c " + connID + " --rz-token -"
}

// installLocations are the locations an INSTALL event installs the app on: its locationId,
// or the locationIds of a bulk install by an agency.
func installLocations(env ghl.Envelope) (locations []string, companyID string) {
	p, _ := env.Payload.(*ghl.AppInstallEvent)
	if p != nil {
		companyID = p.CompanyID
	}
	if env.LocationID != "" {
		return []string{env.LocationID}, companyID
	}
	if p == nil {
		return nil, companyID
	}
	seen := map[string]bool{}
	for _, l := range p.LocationIDs {
		if l != "" && !seen[l] && storableID(l) {
			seen[l] = true
			locations = append(locations, l)
		}
	}
	return locations, companyID
}

// install creates a pending connection for each location the app was installed on. The
// HighLevel token arrives separately: through the OAuth callback, or for a bulk install from
// the agency's stored Company token (POST /oauth/locationToken). The Referrizer credential
// comes from an operator (`starter connect`), which makes the connection active.
func (b *Bridge) install(ctx context.Context, env ghl.Envelope) outcome {
	if why := b.notOurApp(env); why != "" {
		b.log.Warn("relay: app event ignored", "type", env.RawType, "webhookId", env.WebhookID, "locationId", env.LocationID, "reason", why)
		return done(store.InboxIgnored, why)
	}
	locations, companyID := installLocations(env)
	if len(locations) == 0 {
		return done(store.InboxIgnored, "agency-level app event without locations")
	}
	var created, existing []string
	for _, loc := range locations {
		conn, isNew, err := b.ensureConnection(ctx, loc, companyID)
		if err != nil {
			// Connections already made are found again on the retry.
			return retry(fmt.Errorf("create connection for location %s: %w", loc, err))
		}
		if isNew {
			created = append(created, conn.ID)
			b.log.Info("relay: app installed; connection created, pending its Referrizer credential", "connection", conn.ID, "locationId", loc)
		} else {
			existing = append(existing, conn.ID)
		}
	}
	note := fmt.Sprintf("app install: created %d connection(s) %v, %d existed %v", len(created), created, len(existing), existing)
	if companyID != "" {
		out := b.locationTokensFromCompany(ctx, companyID, locations)
		if out.err != nil {
			return out
		}
		if out.note != "" {
			note += "; " + out.note
		}
	}
	return done(store.InboxSignalled, note)
}

// uninstall pauses the location's connection and its schedules. Links, ledger and tokens are
// kept so a re-install resumes where it stopped.
func (b *Bridge) uninstall(ctx context.Context, env ghl.Envelope) outcome {
	if why := b.notOurApp(env); why != "" {
		b.log.Warn("relay: app event ignored", "type", env.RawType, "webhookId", env.WebhookID, "locationId", env.LocationID, "reason", why)
		return done(store.InboxIgnored, why)
	}
	if env.LocationID == "" {
		return done(store.InboxIgnored, "agency-level app event")
	}
	conn, err := b.store.ConnectionByLocation(ctx, env.LocationID)
	if errors.Is(err, store.ErrNotFound) {
		return done(store.InboxOrphaned, "no connection for location")
	}
	if err != nil {
		return retry(fmt.Errorf("look up connection of location %s: %w", env.LocationID, err))
	}
	const reason = "app uninstalled in HighLevel"
	if conn.Status != store.ConnPaused {
		if err := b.store.SetConnectionStatus(ctx, conn.ID, store.ConnPaused, reason); err != nil {
			return retry(fmt.Errorf("pause connection %s: %w", conn.ID, err))
		}
	}
	// Pausing is idempotent, so a retry after a Temporal error simply pauses again.
	if b.cfg.Schedules != nil {
		if err := b.cfg.Schedules.PauseSchedules(ctx, conn.ID, reason); err != nil {
			return retry(fmt.Errorf("pause schedules of connection %s: %w", conn.ID, err))
		}
	}
	b.log.Info("relay: app uninstalled; connection paused", "connection", conn.ID, "locationId", env.LocationID)
	return done(store.InboxSignalled, "app uninstall: paused connection "+conn.ID)
}

// installedStatus is the status a connection gets when the app (re)installed on its
// location brought a HighLevel token: active when it has its Referrizer credential, pending
// otherwise.
func (b *Bridge) installedStatus(ctx context.Context, connID string) (store.ConnectionStatus, string, error) {
	_, err := b.store.GetToken(ctx, connID, store.TokenReferrizer)
	switch {
	case err == nil:
		return store.ConnActive, "re-installed", nil
	case errors.Is(err, store.ErrNotFound):
		return store.ConnPending, pendingReason(connID), nil
	default:
		return "", "", fmt.Errorf("read Referrizer token of connection %s: %w", connID, err)
	}
}

// locationTokensFromCompany gives each location's connection that has no HighLevel token yet
// a Location token obtained from the agency's stored Company token (POST
// /oauth/locationToken): a bulk install, or an install on a location the agency added later,
// brings no OAuth callback of its own. Without a stored Company token it does nothing (a
// location-level install's token arrives through the callback). Transient failures retry
// the event; a location HighLevel refuses is noted and skipped.
func (b *Bridge) locationTokensFromCompany(ctx context.Context, companyID string, locations []string) outcome {
	if _, err := b.store.GetCompanyToken(ctx, companyID); errors.Is(err, store.ErrNotFound) {
		return outcome{} // nothing to obtain tokens from
	} else if err != nil {
		return retry(fmt.Errorf("read token of company %s: %w", companyID, err))
	}
	if b.cfg.OAuth == nil {
		return outcome{note: "company token stored but no OAuth app configured: Location tokens not obtained"}
	}
	src, err := ghl.NewCompanyToken(b.oauthApp(), b.store, companyID)
	if err != nil {
		return retry(err)
	}
	var got, refused []string
	for _, loc := range locations {
		conn, err := b.store.ConnectionByLocation(ctx, loc)
		if err != nil {
			return retry(fmt.Errorf("look up connection of location %s: %w", loc, err))
		}
		if _, err := b.store.GetToken(ctx, conn.ID, store.TokenGHL); err == nil {
			continue // it has its token (OAuth callback, earlier event, Private Integration)
		} else if !errors.Is(err, store.ErrNotFound) {
			return retry(fmt.Errorf("read HighLevel token of connection %s: %w", conn.ID, err))
		}
		at, err := src.AccessToken(ctx)
		if errors.Is(err, ghl.ErrReconnectRequired) {
			b.log.Warn("relay: company token unusable; Location tokens not obtained", "companyId", companyID, "error", err)
			return outcome{note: "company token unusable: " + err.Error()}
		}
		if err != nil {
			return retry(fmt.Errorf("token of company %s: %w", companyID, err))
		}
		g, err := b.oauthApp().LocationToken(ctx, at, companyID, loc)
		var oe *ghl.OAuthError
		switch {
		case err == nil:
		case errors.As(err, &oe) && oe.Status == http.StatusUnauthorized:
			src.Invalidate(ctx, at)
			return retry(fmt.Errorf("obtain Location token for %s: %w", loc, err))
		case errors.As(err, &oe) && oe.InvalidGrant():
			b.log.Warn("relay: HighLevel refused a Location token", "companyId", companyID, "locationId", loc, "error", err)
			refused = append(refused, loc)
			continue
		default:
			return retry(fmt.Errorf("obtain Location token for %s: %w", loc, err))
		}
		if _, err := b.store.PutToken(ctx, g.StoreToken(conn.ID)); err != nil {
			return retry(fmt.Errorf("store Location token of connection %s: %w", conn.ID, err))
		}
		got = append(got, conn.ID)
	}
	note := fmt.Sprintf("Location tokens from company %s for %v", companyID, got)
	if len(refused) > 0 {
		note += fmt.Sprintf("; refused for %v", refused)
	}
	return outcome{note: note}
}

// installCompany finishes an install on an agency: it stores the Company token and connects
// each location the agency approved, with a Location token obtained from it. Locations the
// token response does not list are connected when their INSTALL events arrive.
func (b *Bridge) installCompany(ctx context.Context, w http.ResponseWriter, grant ghl.Grant, origin string) {
	if grant.CompanyID == "" || grant.UserType != "Company" {
		b.log.Warn("oauth: grant names neither a location nor a company", "origin", origin, "userType", grant.UserType)
		b.oauthError(w, http.StatusBadRequest, "HighLevel's answer names no location or agency to connect.")
		return
	}
	if _, err := b.store.PutCompanyToken(ctx, grant.CompanyID, grant.CompanyToken()); err != nil {
		b.log.Error("oauth: store company token", "origin", origin, "companyId", grant.CompanyID, "error", err)
		b.oauthError(w, http.StatusInternalServerError, "Could not store the agency's credentials; please try again.")
		return
	}
	var conns []pageConn
	var failed []string
	for _, loc := range grant.ApprovedLocations {
		if !storableID(loc) {
			failed = append(failed, clip(loc, 64))
			continue
		}
		lg, err := b.oauthApp().LocationToken(ctx, grant.AccessToken, grant.CompanyID, loc)
		if err != nil {
			b.log.Error("oauth: Location token from company token", "origin", origin, "companyId", grant.CompanyID, "locationId", loc, "error", err)
			failed = append(failed, loc)
			continue
		}
		conn, created, err := b.installLocation(ctx, loc, grant.CompanyID, lg.StoreToken)
		if err != nil {
			b.log.Error("oauth: record install", "origin", origin, "locationId", loc, "error", err)
			failed = append(failed, loc)
			continue
		}
		b.log.Info("oauth: installed", "origin", origin, "connection", conn.ID, "locationId", loc, "companyId", grant.CompanyID, "created", created, "status", string(conn.Status))
		conns = append(conns, pageConnOf(conn, created))
	}
	b.log.Info("oauth: agency installed", "origin", origin, "companyId", grant.CompanyID, "locations", len(grant.ApprovedLocations), "connected", len(conns), "failed", len(failed))
	if len(failed) > 0 {
		b.render(w, http.StatusBadGateway, page{Title: "HighLevel partly connected", Connections: conns,
			Message: fmt.Sprintf("These locations could not be connected; install the app on them again: %v", failed)})
		return
	}
	b.render(w, http.StatusOK, page{Title: "HighLevel connected", CompanyID: grant.CompanyID, Connections: conns})
}
