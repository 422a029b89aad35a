package codec_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/hlrz/hlrz/internal/codec"
	"github.com/hlrz/hlrz/internal/secrets"
)

func TestRoundTripHidesData(t *testing.T) {
	kr := secrets.NewRandom()
	dc := codec.DataConverter(kr)
	p, err := dc.ToPayload(map[string]string{"email": "jane@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.Data, []byte("jane")) || string(p.Metadata[converter.MetadataEncoding]) != codec.Encoding {
		t.Fatalf("payload not encrypted: %q %v", p.Data, p.Metadata)
	}
	if got := string(p.Metadata[codec.MetaKeyID]); got != kr.PrimaryID() {
		t.Errorf("key id = %q, want %q", got, kr.PrimaryID())
	}
	var back map[string]string
	if err := dc.FromPayload(p, &back); err != nil || back["email"] != "jane@example.com" {
		t.Fatalf("FromPayload = %v, %v", back, err)
	}
}

// Keys rotate: payloads sealed by an old key still open once it is listed second.
func TestRotation(t *testing.T) {
	oldSpec := secrets.GenerateSpec("k1")
	oldKR, _ := secrets.Parse(oldSpec)
	sealed, err := codec.New(oldKR).Encode([]*commonpb.Payload{{Data: []byte(`"x"`), Metadata: map[string][]byte{"encoding": []byte("json/plain")}}})
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := secrets.Parse(secrets.GenerateSpec("k2") + "," + oldSpec)
	if err != nil {
		t.Fatal(err)
	}
	opened, err := codec.New(rotated).Decode(sealed)
	if err != nil || string(opened[0].Data) != `"x"` {
		t.Fatalf("decode with rotated keyring = %v, %v", opened, err)
	}
	if _, err := codec.New(secrets.NewRandom()).Decode(sealed); err == nil {
		t.Error("payload opened without its key")
	}
}

// The UI's codec endpoint decodes what the worker encoded.
func TestHTTPDecode(t *testing.T) {
	kr := secrets.NewRandom()
	p, _ := codec.DataConverter(kr).ToPayload("hello")
	srv := httptest.NewServer(codec.Handler(kr, codec.Auth{Tokens: []string{testToken}, UIOrigins: []string{"http://ui.local"}}))
	defer srv.Close()
	body, _ := json.Marshal(map[string]any{"payloads": []any{map[string]any{"metadata": p.Metadata, "data": p.Data}}})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/decode", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Origin", "http://ui.local")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Payloads []struct {
			Metadata map[string][]byte `json:"metadata"`
			Data     []byte            `json:"data"`
		} `json:"payloads"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || len(out.Payloads) != 1 || strings.TrimSpace(string(out.Payloads[0].Data)) != `"hello"` {
		t.Errorf("decode answered %d %+v", resp.StatusCode, out)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "http://ui.local" {
		t.Errorf("CORS header missing for the UI origin")
	}
}
