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
	if len(locations) > 1 || env.LocationID == "" {
		out := b.bulkLocationTokens(ctx, companyID, locations)
		if out.err != nil {
			return out
		}
		note += "; " + out.note
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

// bulkLocationTokens is a placeholder until bulk installs obtain Location tokens.
func (b *Bridge) bulkLocationTokens(_ context.Context, _ string, _ []string) outcome {
	return outcome{note: "Location tokens not obtained"}
}

// installCompany is a placeholder until agency (Company) installs are supported.
func (b *Bridge) installCompany(_ context.Context, w http.ResponseWriter, grant ghl.Grant, origin string) {
	b.log.Warn("oauth: grant without location", "origin", origin, "userType", grant.UserType, "companyId", grant.CompanyID)
	b.oauthError(w, http.StatusBadRequest, "Install the app on a single sub-account (location), not on the agency.")
}
