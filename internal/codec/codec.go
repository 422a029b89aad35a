// Package codec encrypts Temporal payloads with AES-GCM so contact data in workflow history
// is unreadable without the key. Each payload names the key that sealed it, so keys rotate:
// the primary key seals new payloads, every configured key opens old ones.
package codec

import (
	"fmt"
	"io"
	"net/http"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/hlrz/hlrz/internal/secrets"
)

// Metadata keys and the encoding name written on encrypted payloads.
const (
	Encoding    = "binary/encrypted"
	MetaKeyID   = "encryption-key-id"
	metaEncName = converter.MetadataEncoding
)

// aad binds ciphertext to its purpose so a sealed token cannot be replayed as a payload.
var aad = []byte("temporal-payload")

// Codec is a converter.PayloadCodec backed by a keyring.
type Codec struct{ kr *secrets.Keyring }

// New returns a codec sealing with kr's primary key.
func New(kr *secrets.Keyring) *Codec { return &Codec{kr: kr} }

// Encode seals each payload whole (metadata included), so even the encoding is hidden.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("codec: marshal payload: %w", err)
		}
		keyID, sealed := c.kr.Seal(plain, aad)
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{metaEncName: []byte(Encoding), MetaKeyID: []byte(keyID)},
			Data:     sealed,
		}
	}
	return out, nil
}

// Decode opens payloads this codec sealed and passes others through unchanged.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[metaEncName]) != Encoding {
			out[i] = p
			continue
		}
		plain, err := c.kr.Open(string(p.Metadata[MetaKeyID]), p.Data, aad)
		if err != nil {
			return nil, fmt.Errorf("codec: %w", err)
		}
		var decoded commonpb.Payload
		if err := proto.Unmarshal(plain, &decoded); err != nil {
			return nil, fmt.Errorf("codec: unmarshal payload: %w", err)
		}
		out[i] = &decoded
	}
	return out, nil
}

// DataConverter is the default converter with payloads encrypted.
func DataConverter(kr *secrets.Keyring) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), New(kr))
}

// Handler serves the codec endpoint the Temporal Web UI and CLI call to decode payloads
// for display (POST /decode, POST /encode), for holders of a credential auth allows (401
// otherwise), with CORS for auth.UIOrigins only. GET /login?token=<shared token> sets the
// SessionCookie and sends the browser to the UI, for a UI configured to include credentials
// but without single sign-on (as in --dev).
func Handler(kr *secrets.Keyring, auth Auth) http.Handler {
	h := converter.NewPayloadCodecHTTPHandler(New(kr))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		admitted := auth.cors(w, r)
		if r.Method == http.MethodOptions {
			if !admitted {
				http.Error(w, "origin not allowed", http.StatusForbidden)
				return
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.URL.Path == "/login" && r.Method == http.MethodGet {
			serveLogin(w, r, auth)
			return
		}
		if err := auth.authorize(r); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hlrz-codec"`)
			http.Error(w, "codec: credential required", http.StatusUnauthorized)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 4<<20)
		h.ServeHTTP(w, r)
	})
}

func serveLogin(w http.ResponseWriter, r *http.Request, auth Auth) {
	tok := r.URL.Query().Get("token")
	if !auth.sharedToken(tok) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="hlrz-codec"`)
		http.Error(w, "codec: unknown token", http.StatusUnauthorized)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: tok, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteLaxMode, MaxAge: int((30 * 24 * time.Hour).Seconds())})
	if len(auth.UIOrigins) > 0 {
		http.Redirect(w, r, auth.UIOrigins[0], http.StatusSeeOther)
		return
	}
	_, _ = io.WriteString(w, "codec: signed in\n")
}
