package codec_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v4"

	"github.com/hlrz/hlrz/internal/codec"
	"github.com/hlrz/hlrz/internal/secrets"
)

const testToken = "codec-test-token-0123456789"

// decodeReq is a POST /decode of one sealed payload carrying "hello".
func decodeReq(t *testing.T, kr *secrets.Keyring, url string) *http.Request {
	t.Helper()
	p, err := codec.DataConverter(kr).ToPayload("hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"payloads": []any{map[string]any{"metadata": p.Metadata, "data": p.Data}}})
	req, _ := http.NewRequest(http.MethodPost, url+"/decode", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	return req
}

func do(t *testing.T, req *http.Request) (int, string, http.Header) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// The codec decrypts only for a caller with a credential: a shared bearer token or the
// cookie /login sets from it. Everything else is 401, and the answer leaks no plaintext.
func TestCodecRequiresCredential(t *testing.T) {
	kr := secrets.NewRandom()
	srv := httptest.NewServer(codec.Handler(kr, codec.Auth{Tokens: []string{testToken}, UIOrigins: []string{"http://ui.local"}}))
	defer srv.Close()
	unconfigured := httptest.NewServer(codec.Handler(kr, codec.Auth{}))
	defer unconfigured.Close()

	for _, tc := range []struct {
		name string
		url  string
		set  func(*http.Request)
		want int
	}{
		{"no credential", srv.URL, func(*http.Request) {}, 401},
		{"wrong token", srv.URL, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testToken+"x") }, 401},
		{"token as basic auth", srv.URL, func(r *http.Request) { r.SetBasicAuth("u", testToken) }, 401},
		{"empty bearer", srv.URL, func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }, 401},
		{"wrong cookie", srv.URL, func(r *http.Request) { r.AddCookie(&http.Cookie{Name: codec.SessionCookie, Value: "nope"}) }, 401},
		{"nothing configured", unconfigured.URL, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testToken) }, 401},
		{"shared token", srv.URL, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testToken) }, 200},
		{"session cookie", srv.URL, func(r *http.Request) { r.AddCookie(&http.Cookie{Name: codec.SessionCookie, Value: testToken}) }, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := decodeReq(t, kr, tc.url)
			tc.set(req)
			status, body, hdr := do(t, req)
			if status != tc.want {
				t.Fatalf("status %d, want %d: %s", status, tc.want, body)
			}
			if status == 401 && (strings.Contains(body, "hello") || hdr.Get("WWW-Authenticate") == "") {
				t.Errorf("401 answer %q %v", body, hdr)
			}
			if status == 200 && !strings.Contains(body, base64.StdEncoding.EncodeToString([]byte(`"hello"`))) {
				t.Errorf("decoded answer %q", body)
			}
		})
	}

	// /login turns a shared token into the cookie and sends the browser to the UI.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(srv.URL + "/login?token=" + testToken)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "http://ui.local" || len(resp.Cookies()) != 1 || !resp.Cookies()[0].HttpOnly {
		t.Errorf("login: %d %v %v", resp.StatusCode, resp.Header, resp.Cookies())
	}
	resp, err = noRedirect.Get(srv.URL + "/login?token=guess")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || len(resp.Cookies()) != 0 {
		t.Errorf("login with a wrong token: %d %v", resp.StatusCode, resp.Cookies())
	}
}

// CORS admits the configured UI origin only.
func TestCodecCORSOnlyForTheUI(t *testing.T) {
	kr := secrets.NewRandom()
	srv := httptest.NewServer(codec.Handler(kr, codec.Auth{Tokens: []string{testToken}, UIOrigins: []string{"http://ui.local"}}))
	defer srv.Close()
	for origin, want := range map[string]int{"http://ui.local": 204, "http://evil.example": 403} {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/decode", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		status, _, hdr := do(t, req)
		allowed := hdr.Get("Access-Control-Allow-Origin")
		if status != want || (want == 204) != (allowed == origin) {
			t.Errorf("preflight from %s: %d, Allow-Origin %q", origin, status, allowed)
		}
		req = decodeReq(t, kr, srv.URL)
		req.Header.Set("Origin", origin)
		req.Header.Set("Authorization", "Bearer "+testToken)
		_, _, hdr = do(t, req)
		if got := hdr.Get("Access-Control-Allow-Origin"); (want == 204) != (got == origin) || (want != 204 && got != "") {
			t.Errorf("POST from %s: Allow-Origin %q", origin, got)
		}
	}
}

// The Temporal UI forwards the signed-in user's access token, in the Authorization header
// ("pass access token") or in its session cookies ("include credentials"); the codec checks
// its signature against the identity provider's JWKS and its read permission on the namespace.
func TestCodecAccessToken(t *testing.T) {
	idp, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &idp.PublicKey, KeyID: "idp-1", Algorithm: "RS256", Use: "sig"}}})
	}))
	defer jwks.Close()
	v := codec.NewJWTVerifier(jwks.URL, "temporal-ui")
	defer v.Close()
	kr := secrets.NewRandom()
	srv := httptest.NewServer(codec.Handler(kr, codec.Auth{Verifier: v, Namespace: "default"}))
	defer srv.Close()

	mint := func(key *rsa.PrivateKey, claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		tok.Header["kid"] = "idp-1"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exp := time.Now().Add(time.Hour).Unix()
	good := mint(idp, jwt.MapClaims{"sub": "ops@example.com", "aud": "temporal-ui", "exp": exp, "permissions": []string{"default:read"}})
	uiCookies := func(tok string) func(*http.Request) {
		return func(r *http.Request) {
			b, _ := json.Marshal(map[string]string{"AccessToken": tok, "Email": "ops@example.com"})
			s := base64.StdEncoding.EncodeToString(b)
			r.AddCookie(&http.Cookie{Name: "user0", Value: s[:len(s)/2]})
			r.AddCookie(&http.Cookie{Name: "user1", Value: s[len(s)/2:]})
		}
	}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	for _, tc := range []struct {
		name string
		set  func(*http.Request)
		want int
	}{
		{"forwarded access token", bearer(good), 200},
		{"UI session cookies", uiCookies(good), 200},
		{"system role", bearer(mint(idp, jwt.MapClaims{"sub": "a", "aud": "temporal-ui", "exp": exp, "permissions": []string{"temporal-system:admin"}})), 200},
		{"another namespace only", bearer(mint(idp, jwt.MapClaims{"sub": "a", "aud": "temporal-ui", "exp": exp, "permissions": []string{"other:read"}})), 401},
		{"expired", bearer(mint(idp, jwt.MapClaims{"sub": "a", "aud": "temporal-ui", "exp": time.Now().Add(-time.Minute).Unix(), "permissions": []string{"default:read"}})), 401},
		{"wrong audience", bearer(mint(idp, jwt.MapClaims{"sub": "a", "aud": "elsewhere", "exp": exp, "permissions": []string{"default:read"}})), 401},
		{"signed by another key", bearer(mint(other, jwt.MapClaims{"sub": "a", "aud": "temporal-ui", "exp": exp, "permissions": []string{"default:read"}})), 401},
		{"forged cookie", uiCookies(mint(other, jwt.MapClaims{"sub": "a", "aud": "temporal-ui", "exp": exp, "permissions": []string{"default:read"}})), 401},
		{"none", func(*http.Request) {}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := decodeReq(t, kr, srv.URL)
			tc.set(req)
			if status, body, _ := do(t, req); status != tc.want {
				t.Errorf("status %d, want %d: %s", status, tc.want, body)
			}
		})
	}
}
