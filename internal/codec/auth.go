package codec

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/server/common/authorization"
	tconfig "go.temporal.io/server/common/config"
	tlog "go.temporal.io/server/common/log"
)

// Auth says who may use the codec endpoint. A request passes with one of:
//
//   - Authorization: Bearer <one of Tokens> (a shared token, for the CLI and simple setups);
//   - Authorization: Bearer <access token> that Verifier accepts: what the Temporal UI sends
//     with its codec setting "pass access token" (TEMPORAL_CODEC_PASS_ACCESS_TOKEN);
//   - cookies, which the UI sends with "include credentials" (TEMPORAL_CODEC_INCLUDE_CREDENTIALS):
//     the UI's own session cookies (user0, user1, … holding the user's access token, checked
//     by Verifier) when the codec is served under the UI's host, or the SessionCookie set by
//     /login with a shared token.
//
// Everything else is answered 401. With neither Tokens nor Verifier every request is refused.
type Auth struct {
	Tokens   []string
	Verifier TokenVerifier
	// UIOrigins are the only origins CORS admits (the Temporal UI's).
	UIOrigins []string
	// Namespace is checked against an access token's permissions when a request carries no
	// X-Namespace header.
	Namespace string
}

// SessionCookie is the cookie /login sets from a shared token.
const SessionCookie = "hlrz_codec"

// TokenVerifier checks an access token forwarded by the Temporal UI and that its holder may
// read namespace.
type TokenVerifier interface {
	Verify(token, namespace string) error
}

// JWTVerifier checks access tokens the way the Temporal server's default JWT authorizer does:
// signature against the keys at a JWKS URL (RS256 or ES256), expiry, optional audience, and
// a permissions claim ("permissions": ["<namespace>:read", "system:admin", …]) granting at
// least read on the namespace.
type JWTVerifier struct {
	mapper   authorization.ClaimMapper
	audience string
	close    func()
}

// NewJWTVerifier fetches the keys at jwksURL (and again every 10 minutes).
func NewJWTVerifier(jwksURL, audience string) *JWTVerifier {
	cfg := &tconfig.Authorization{JWTKeyProvider: tconfig.JWTKeyProvider{KeySourceURIs: []string{jwksURL}, RefreshInterval: 10 * time.Minute}}
	provider := authorization.NewDefaultTokenKeyProvider(cfg, tlog.NewNoopLogger())
	return &JWTVerifier{mapper: authorization.NewDefaultJWTClaimMapper(provider, cfg, tlog.NewNoopLogger()), audience: audience, close: provider.Close}
}

// Close stops refreshing the keys.
func (v *JWTVerifier) Close() { v.close() }

// Verify implements TokenVerifier.
func (v *JWTVerifier) Verify(token, namespace string) error {
	if token == "" {
		return errors.New("no access token")
	}
	claims, err := v.mapper.GetClaims(&authorization.AuthInfo{AuthToken: "Bearer " + token, Audience: v.audience})
	if err != nil {
		return fmt.Errorf("access token: %w", err)
	}
	if claims.System&(authorization.RoleReader|authorization.RoleWriter|authorization.RoleAdmin) != 0 {
		return nil
	}
	if claims.Namespaces[namespace]&(authorization.RoleReader|authorization.RoleWriter|authorization.RoleAdmin) != 0 {
		return nil
	}
	return fmt.Errorf("access token of %q grants no read permission on namespace %q", claims.Subject, namespace)
}

// authorize reports whether r carries a credential a allows.
func (a Auth) authorize(r *http.Request) error {
	ns := r.Header.Get("X-Namespace")
	if ns == "" {
		ns = a.Namespace
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return errors.New("authorization is not a bearer token")
		}
		tok = strings.TrimSpace(tok)
		if a.sharedToken(tok) {
			return nil
		}
		if a.Verifier == nil {
			return errors.New("bearer token is not a codec token")
		}
		return a.Verifier.Verify(tok, ns)
	}
	if c, err := r.Cookie(SessionCookie); err == nil && a.sharedToken(c.Value) {
		return nil
	}
	if tok := uiSessionToken(r); tok != "" && a.Verifier != nil {
		return a.Verifier.Verify(tok, ns)
	}
	return errors.New("no credential")
}

func (a Auth) sharedToken(tok string) bool {
	ok := false
	for _, t := range a.Tokens {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(t)) == 1 {
			ok = true
		}
	}
	return ok && tok != ""
}

// uiSessionToken is the access token in the Temporal UI's session cookies (user0, user1, …:
// base64 JSON split across cookies, as github.com/temporalio/ui-server's auth.SetUser writes
// them), or "".
func uiSessionToken(r *http.Request) string {
	var b strings.Builder
	for i := 0; i < 32; i++ {
		c, err := r.Cookie("user" + strconv.Itoa(i))
		if err != nil {
			break
		}
		b.WriteString(c.Value)
	}
	if b.Len() == 0 {
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(b.String())
	if err != nil {
		return ""
	}
	var u struct{ AccessToken string }
	if json.Unmarshal(raw, &u) != nil {
		return ""
	}
	return u.AccessToken
}

// cors sets the CORS headers for an admitted origin and reports whether it was admitted.
func (a Auth) cors(w http.ResponseWriter, r *http.Request) bool {
	w.Header().Add("Vary", "Origin")
	o := r.Header.Get("Origin")
	if o == "" || !slices.Contains(a.UIOrigins, o) {
		return false
	}
	w.Header().Set("Access-Control-Allow-Origin", o)
	w.Header().Set("Access-Control-Allow-Credentials", "true")
	w.Header().Set("Access-Control-Allow-Headers", "Content-Type,X-Namespace,Authorization")
	w.Header().Set("Access-Control-Allow-Methods", "POST,OPTIONS")
	w.Header().Set("Access-Control-Max-Age", "600")
	return true
}
