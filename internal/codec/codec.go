// Package codec encrypts Temporal payloads with AES-GCM so contact data in workflow history
// is unreadable without the key. Each payload names the key that sealed it, so keys rotate:
// the primary key seals new payloads, every configured key opens old ones.
package codec

import (
	"fmt"
	"net/http"

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
// for display (POST /decode, POST /encode). CORS is allowed for the UI's origin only.
func Handler(kr *secrets.Keyring, uiOrigin string) http.Handler {
	h := converter.NewPayloadCodecHTTPHandler(New(kr))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if uiOrigin != "" && r.Header.Get("Origin") == uiOrigin {
			w.Header().Set("Access-Control-Allow-Origin", uiOrigin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type,X-Namespace,Authorization")
			w.Header().Set("Access-Control-Allow-Methods", "POST,OPTIONS")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusOK)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 4<<20)
		h.ServeHTTP(w, r)
	})
}
