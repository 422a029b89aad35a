package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/onboard"
	"github.com/hlrz/hlrz/internal/store"
)

type connectFlags struct {
	name, location, ghlToken, rzToken string
	oauth                             bool
}

func (a *app) connectCmd() *cobra.Command {
	var f connectFlags
	cmd := &cobra.Command{
		Use:   "connect",
		Short: "Create or update a connection (Private Integration + Referrizer tokens), or print the OAuth install URL",
		Long: `connect creates or updates the connection named by --connection from a HighLevel Private
Integration token for --location and a Referrizer API token. Both credentials are checked with a
cheap read (HighLevel: the location's custom fields; Referrizer: one contact) before anything is
saved; a rejected credential exits 5 and saves nothing. On an existing connection, flags left out
keep their stored values. Tokens are stored encrypted and never printed; pass "-" to read a token
from stdin and keep it out of the shell history.

With --oauth it prints the bridge's install URL ($HLRZ_PUBLIC_URL/oauth/start) instead: the
install creates the connection; add its Referrizer token afterwards with connect --rz-token.`,
		Example: `  starter connect -c gym-1 --location Ve9EPM428h8vShlRW1KT --ghl-token - --rz-token "$RZ_TOKEN" < pit.txt
  starter connect -c gym-1 --rz-token -          # rotate the Referrizer token only
  starter connect --oauth`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.oauth {
				if f.location != "" || f.ghlToken != "" || f.rzToken != "" {
					return usageErr("--oauth: the install supplies the HighLevel credentials; leave out --location, --ghl-token and --rz-token")
				}
				return a.connectOAuth()
			}
			return a.connect(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "display name (default: the connection id)")
	fl.StringVar(&f.location, "location", "", "HighLevel location (sub-account) id")
	fl.StringVar(&f.ghlToken, "ghl-token", "", `HighLevel Private Integration token, or "-" to read it from stdin`)
	fl.StringVar(&f.rzToken, "rz-token", "", `Referrizer API token, or "-" to read it from stdin`)
	fl.BoolVar(&f.oauth, "oauth", false, "print the OAuth install URL instead")
	return cmd
}

func (a *app) connectOAuth() error {
	base := a.publicURL()
	if base == "" {
		return usageErr("HLRZ_PUBLIC_URL: not set; it is the bridge's public URL that HighLevel redirects to (or use --dev)")
	}
	u := strings.TrimRight(base, "/") + "/oauth/start"
	if a.json() {
		a.printJSON(map[string]string{"installUrl": u})
		return nil
	}
	a.printf("Open this URL in a browser and choose the location to install the HighLevel app on:\n  %s\n", u)
	a.printf("The page names the connection it created; then add its Referrizer token:\n  starter connect -c <connection> --rz-token -\n")
	return nil
}

// credential results, as printed.
const (
	credAccepted = "accepted"
	credKept     = "kept"
)

func (a *app) connect(ctx context.Context, f connectFlags) error {
	id := a.connID
	if id == "" {
		return usageErr("--connection: name the connection to create or update")
	}
	if err := store.ValidConnectionID(id); err != nil {
		return usageErr("--connection: %w", err)
	}
	if f.ghlToken == "-" && f.rzToken == "-" {
		return usageErr("only one of --ghl-token and --rz-token can be read from stdin")
	}
	ghlTok, err := a.secretFlag("--ghl-token", f.ghlToken)
	if err != nil {
		return err
	}
	rzTok, err := a.secretFlag("--rz-token", f.rzToken)
	if err != nil {
		return err
	}
	st, err := a.store()
	if err != nil {
		return err
	}
	c, err := loadConnection(ctx, st, id, f)
	if err != nil {
		return err
	}
	c.ghlTok, c.rzTok = ghlTok, rzTok

	// Work out which credentials the connection will use, then check them all before writing.
	if err := c.ghlCredential(ctx, st); err != nil {
		return err
	}
	if err := c.rzCredential(ctx, st); err != nil {
		return err
	}
	if err := a.checkCredentials(ctx, c); err != nil {
		return err
	}
	saved, err := c.save(ctx, st)
	if err != nil {
		return err
	}
	return a.printConnected(ctx, c, saved)
}

// connectPlan is what connect works out before it writes: the connection as it will be
// saved and the credentials it will use.
type connectPlan struct {
	conn        store.Connection
	exists      bool
	oldLocation string
	// Tokens given on the command line; empty keeps the stored one.
	ghlTok, rzTok string
	// Credentials to check (empty ghlCheck: a kept OAuth grant), and the result to print.
	ghlCheck, ghlResult, rzCheck string
	customFields                 int
	wasInactive, wasPending      bool
}

// loadConnection reads connection id (or starts a new one) and applies --name and --location.
func loadConnection(ctx context.Context, st store.Store, id string, f connectFlags) (*connectPlan, error) {
	conn, err := st.GetConnection(ctx, id)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("read connection %s: %w", id, err)
	}
	if !exists {
		conn = store.Connection{ID: id, Name: id}
	}
	if f.name != "" {
		conn.Name = f.name
	}
	oldLocation := conn.GHLLocationID
	if f.location != "" {
		conn.GHLLocationID = f.location
	}
	if conn.GHLLocationID == "" {
		return nil, usageErr("--location: the HighLevel location id is required for a new connection")
	}
	return &connectPlan{conn: conn, exists: exists, oldLocation: oldLocation}, nil
}

// ghlCredential picks the HighLevel token to check: the given one, or the stored Private
// Integration token; a stored OAuth grant is kept unchecked.
func (c *connectPlan) ghlCredential(ctx context.Context, st store.Store) error {
	id := c.conn.ID
	c.ghlCheck, c.ghlResult = c.ghlTok, credAccepted
	if c.ghlCheck != "" {
		return nil
	}
	stored, err := st.GetToken(ctx, id, store.TokenGHL)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return usageErr("--ghl-token: required, connection %s has no HighLevel token", id)
	case err != nil:
		return fmt.Errorf("read HighLevel token of %s: %w", id, err)
	case stored.Mode == store.AuthPrivate:
		c.ghlCheck = stored.AccessToken
	case c.conn.GHLLocationID != c.oldLocation:
		return invalidErr("connection %s holds an OAuth token for location %s; pass --ghl-token for location %s or reinstall with --oauth", id, c.oldLocation, c.conn.GHLLocationID)
	default:
		c.ghlResult = credKept // an OAuth grant is checked by the worker when it refreshes
	}
	return nil
}

// rzCredential picks the Referrizer token to check: the given one or the stored one.
func (c *connectPlan) rzCredential(ctx context.Context, st store.Store) error {
	id := c.conn.ID
	c.rzCheck = c.rzTok
	if c.rzCheck != "" {
		return nil
	}
	stored, err := st.GetToken(ctx, id, store.TokenReferrizer)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return usageErr("--rz-token: required, connection %s has no Referrizer token", id)
	case err != nil:
		return fmt.Errorf("read Referrizer token of %s: %w", id, err)
	}
	c.rzCheck = stored.AccessToken
	return nil
}

// checkCredentials checks both credentials against their APIs; a rejection is an invalid
// input, a failed check an ordinary error, and either saves nothing.
func (a *app) checkCredentials(ctx context.Context, c *connectPlan) error {
	var rejected, failed []string
	if c.ghlCheck != "" {
		n, err := a.checkGHL(ctx, c.conn.GHLLocationID, c.ghlCheck)
		switch {
		case isRejected(err):
			rejected = append(rejected, fmt.Sprintf("HighLevel rejected the Private Integration token for location %s: %v", c.conn.GHLLocationID, err))
		case err != nil:
			failed = append(failed, fmt.Sprintf("could not check the HighLevel token: %v", err))
		}
		c.customFields = n
	}
	if err := a.checkRZ(ctx, c.rzCheck); isRejected(err) {
		rejected = append(rejected, fmt.Sprintf("Referrizer rejected the API token: %v", err))
	} else if err != nil {
		failed = append(failed, fmt.Sprintf("could not check the Referrizer token: %v", err))
	}
	if len(rejected) > 0 {
		return invalidErr("nothing saved: %s", strings.Join(append(rejected, failed...), "; "))
	}
	if len(failed) > 0 {
		return fmt.Errorf("nothing saved: %s", strings.Join(failed, "; "))
	}
	return nil
}

// save writes the connection and the tokens given on the command line.
func (c *connectPlan) save(ctx context.Context, st store.Store) (store.Connection, error) {
	id, conn := c.conn.ID, c.conn
	// Fresh, checked credentials make the connection usable again (e.g. after the worker
	// marked it reconnect_required); a kept OAuth grant proves nothing, so it changes nothing.
	c.wasInactive = c.exists && conn.Status != store.ConnActive
	c.wasPending = c.exists && conn.Status == store.ConnPending
	switch {
	case c.ghlCheck != "":
		conn.Status, conn.StatusReason = store.ConnActive, ""
	case c.wasPending:
		// An install made the connection with its HighLevel grant and waited only for the
		// Referrizer credential, which was just checked.
		conn.Status, conn.StatusReason = store.ConnActive, ""
	}
	saved, err := st.PutConnection(ctx, conn)
	if errors.Is(err, store.ErrConflict) {
		return saved, invalidErr("%w", err)
	}
	if err != nil {
		return saved, fmt.Errorf("save connection %s: %w", id, err)
	}
	for _, t := range []store.Token{
		{ConnectionID: id, Kind: store.TokenGHL, Mode: store.AuthPrivate, AccessToken: c.ghlTok},
		{ConnectionID: id, Kind: store.TokenReferrizer, Mode: store.AuthPrivate, AccessToken: c.rzTok},
	} {
		if t.AccessToken == "" {
			continue
		}
		if _, err := st.PutToken(ctx, t); err != nil {
			return saved, fmt.Errorf("save %s token of %s: %w", t.Kind, id, err)
		}
	}
	return saved, nil
}

// printConnected reports the saved connection, what happened to each credential and the
// next step.
func (a *app) printConnected(ctx context.Context, c *connectPlan, saved store.Connection) error {
	id, ghlResult := c.conn.ID, c.ghlResult
	rzResult := credAccepted
	if c.rzTok == "" {
		rzResult = "kept, " + credAccepted
	}
	if c.ghlTok == "" && ghlResult == credAccepted {
		ghlResult = "kept, " + credAccepted
	}

	view, err := a.connView(ctx, saved, true)
	if err != nil {
		return err
	}
	if a.json() {
		a.printJSON(struct {
			Created    bool              `json:"created"`
			Connection connView          `json:"connection"`
			Checks     map[string]string `json:"checks"`
		}{!c.exists, view, map[string]string{"ghl": ghlResult, "rz": rzResult}})
		return nil
	}
	verb := "updated"
	if !c.exists {
		verb = "created"
	}
	a.printf("connection %s %s (HighLevel location %s)\n", id, verb, saved.GHLLocationID)
	if c.ghlCheck != "" {
		a.printf("  HighLevel: token %s (%d contact custom fields readable)\n", ghlResult, c.customFields)
	} else {
		a.printf("  HighLevel: OAuth grant %s\n", ghlResult)
	}
	a.printf("  Referrizer: token %s\n", rzResult)
	switch {
	case !c.exists, c.wasPending:
		a.printf("next: starter schedules install -c %s && starter backfill -c %s\n", id, id)
	case c.wasInactive && saved.Status == store.ConnActive:
		a.printf("connection %s is active again; its schedules are unchanged (starter schedules resume -c %s)\n", id, id)
	}
	return nil
}

// refusePending stops commands that would start work for a connection still waiting for
// its Referrizer credential: nothing may sync (no workflows, no dead letters) before it.
func refusePending(c store.Connection) error {
	if c.Status != store.ConnPending {
		return nil
	}
	return usageErr("connection %s is pending: it has no Referrizer token yet; add it with `starter connect -c %s --rz-token -`", c.ID, c.ID)
}

// nextStep is what an operator does about a connection that does not sync, or "".
func nextStep(c store.Connection) string {
	switch c.Status {
	case store.ConnPending:
		return "add the Referrizer token: starter connect -c " + c.ID + " --rz-token -"
	case store.ConnReconnectRequired:
		return "install the app on the location again (starter connect --oauth), or give a Private Integration token with starter connect -c " + c.ID + " --ghl-token -"
	}
	return ""
}

// secretFlag returns a token flag's value, reading the first line of stdin for "-".
func (a *app) secretFlag(name, v string) (string, error) {
	if v != "-" {
		return strings.TrimSpace(v), nil
	}
	line, err := bufio.NewReader(a.opts.stdin).ReadString('\n')
	line = strings.TrimSpace(line)
	if line == "" {
		if err != nil {
			return "", usageErr("%s -: nothing on stdin (%v)", name, err)
		}
		return "", usageErr("%s -: the first line of stdin is empty", name)
	}
	return line, nil
}

func (a *app) checkGHL(ctx context.Context, locationID, token string) (int, error) {
	c, err := ghl.New(ghl.Options{BaseURL: a.ghlBaseURL(), LocationID: locationID, Auth: ghl.StaticToken(token), HTTPClient: &http.Client{Timeout: 30 * time.Second}})
	if err != nil {
		return 0, err
	}
	fields, err := c.ListCustomFields(ctx, "contact")
	return len(fields), err
}

func (a *app) checkRZ(ctx context.Context, token string) error {
	return onboard.CheckReferrizer(ctx, a.rzBaseURL(), token)
}

// isRejected says a check failed because the credential was refused (onboard.IsRejected).
func isRejected(err error) bool { return onboard.IsRejected(err) }

// connView is a connection as the CLI shows it: never a token value.
type connView struct {
	ID           string         `json:"id"`
	Name         string         `json:"name"`
	LocationID   string         `json:"locationId"`
	CompanyID    string         `json:"companyId,omitempty"`
	Status       string         `json:"status"`
	StatusReason string         `json:"statusReason,omitempty"`
	Mapping      string         `json:"mapping"` // "default" or "custom"
	Settings     store.Settings `json:"settings"`
	Tokens       []tokenView    `json:"tokens,omitempty"`
	CreatedAt    time.Time      `json:"createdAt"`
	UpdatedAt    time.Time      `json:"updatedAt"`
}

type tokenView struct {
	Kind      string    `json:"kind"`
	Mode      string    `json:"mode"`
	Expiry    time.Time `json:"expiry,omitzero"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func (a *app) connView(ctx context.Context, c store.Connection, withTokens bool) (connView, error) {
	v := connView{
		ID: c.ID, Name: c.Name, LocationID: c.GHLLocationID, CompanyID: c.GHLCompanyID, Status: string(c.Status),
		StatusReason: c.StatusReason, Mapping: "default", Settings: c.Settings, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
	if len(c.Mapping) > 0 {
		v.Mapping = "custom"
	}
	if !withTokens {
		return v, nil
	}
	st, err := a.store()
	if err != nil {
		return v, err
	}
	for _, kind := range []store.TokenKind{store.TokenGHL, store.TokenReferrizer} {
		t, err := st.GetToken(ctx, c.ID, kind)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return v, fmt.Errorf("read %s token of %s: %w", kind, c.ID, err)
		}
		v.Tokens = append(v.Tokens, tokenView{Kind: string(kind), Mode: string(t.Mode), Expiry: t.Expiry, UpdatedAt: t.UpdatedAt})
	}
	return v, nil
}

func (a *app) connectionsCmd() *cobra.Command {
	list := &cobra.Command{
		Use:   "list",
		Short: "List connections",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return a.listConnections(cmd.Context()) },
	}
	show := &cobra.Command{
		Use:   "show",
		Short: "Show one connection (--connection), its settings and which credentials it holds",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return a.showConnection(cmd.Context()) },
	}
	return group("connections", "List, show, configure, pause, resume or delete connections", list, show,
		a.connectionsSetCmd(), a.connectionsPauseCmd(), a.connectionsResumeCmd(), a.connectionsDeleteCmd())
}

func (a *app) listConnections(ctx context.Context) error {
	st, err := a.store()
	if err != nil {
		return err
	}
	conns, err := st.ListConnections(ctx)
	if err != nil {
		return fmt.Errorf("list connections: %w", err)
	}
	views := make([]connView, 0, len(conns))
	for _, c := range conns {
		v, err := a.connView(ctx, c, false)
		if err != nil {
			return err
		}
		views = append(views, v)
	}
	if a.json() {
		a.printJSON(views)
		return nil
	}
	if len(views) == 0 {
		a.printf("no connections; create one with `starter connect`\n")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tLOCATION\tSTATUS\tMAPPING\tUPDATED")
	for _, v := range views {
		status := v.Status
		if v.StatusReason != "" {
			status += " (" + v.StatusReason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.Name, v.LocationID, status, v.Mapping, v.UpdatedAt.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

func (a *app) showConnection(ctx context.Context) error {
	c, err := a.connection()
	if err != nil {
		return err
	}
	v, err := a.connView(ctx, c, true)
	if err != nil {
		return err
	}
	if a.json() {
		a.printJSON(v)
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\nname\t%s\nHighLevel location\t%s\n", v.ID, v.Name, v.LocationID)
	if v.CompanyID != "" {
		fmt.Fprintf(tw, "HighLevel company\t%s\n", v.CompanyID)
	}
	fmt.Fprintf(tw, "status\t%s\n", v.Status)
	if v.StatusReason != "" {
		fmt.Fprintf(tw, "status reason\t%s\n", v.StatusReason)
	}
	fmt.Fprintf(tw, "mapping\t%s\n", v.Mapping)
	for _, t := range v.Tokens {
		line := t.Mode + ", updated " + t.UpdatedAt.Local().Format(time.DateTime)
		if !t.Expiry.IsZero() {
			line += ", expires " + t.Expiry.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s token\t%s\n", t.Kind, line)
	}
	s := v.Settings
	fmt.Fprintf(tw, "settings\tphone region %s, delete policy %s, debounce %s, poll every %s, reconcile every %s, budget share %s\n",
		orDefault(s.DefaultRegion), orDefault(s.DeletePolicy), setting(s.DebounceMillis, "ms"), setting(s.PollEveryMinutes, "min"),
		setting(s.ReconcileMinutes, "min"), setting(s.ReconcileBudgetPc, "%"))
	fmt.Fprintf(tw, "created\t%s\nupdated\t%s\n", v.CreatedAt.Local().Format(time.DateTime), v.UpdatedAt.Local().Format(time.DateTime))
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orDefault(s string) string {
	if s == "" {
		return "default"
	}
	return s
}

// setting shows a numeric setting; zero means the built-in default.
func setting(n int, unit string) string {
	if n == 0 {
		return "default"
	}
	return fmt.Sprintf("%d%s", n, unit)
}
