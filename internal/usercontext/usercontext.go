// Package usercontext decrypts the user context HighLevel gives a marketplace app's Custom
// Page (ghl-facts.md §7). The page posts {message: "REQUEST_USER_DATA"} to its parent frame
// and receives {message: "REQUEST_USER_DATA_RESPONSE", payload}; the payload is AES-256-CBC in
// the OpenSSL/CryptoJS passphrase format: base64 of "Salted__" + 8-byte salt + ciphertext,
// the key and IV derived from the app's Shared Secret and the salt with EVP_BytesToKey (MD5,
// one iteration), PKCS#7 padding. It is what CryptoJS.AES.encrypt(json, sharedSecret) and
// `openssl enc -aes-256-cbc -md md5 -a -pass pass:SECRET` produce.
package usercontext

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5" //nolint:gosec // EVP_BytesToKey with MD5 is HighLevel's format, not our choice
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// MaxPayloadBytes bounds an encrypted payload; a user context is a few hundred bytes.
const MaxPayloadBytes = 16 << 10

// ErrInvalid is every reason a payload is refused: wrong secret, tampered, malformed.
var ErrInvalid = errors.New("usercontext: invalid payload")

// User is the decrypted user context.
type User struct {
	UserID         string `json:"userId"`
	CompanyID      string `json:"companyId"`
	Role           string `json:"role"`
	Type           string `json:"type"` // "agency" or "account"
	ActiveLocation string `json:"activeLocation"`
	UserName       string `json:"userName"`
	Email          string `json:"email"`
	IsAgencyOwner  bool   `json:"isAgencyOwner,omitempty"`
}

const saltMagic = "Salted__"

// Decrypt opens a payload with the Shared Secret and returns the user it describes. A
// payload without a user id or an active location is refused too: the page is always about
// one location.
func Decrypt(payload, sharedSecret string) (User, error) {
	if sharedSecret == "" {
		return User{}, fmt.Errorf("%w: no shared secret configured", ErrInvalid)
	}
	if len(payload) > MaxPayloadBytes {
		return User{}, fmt.Errorf("%w: %d bytes is too large", ErrInvalid, len(payload))
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(payload))
	if err != nil {
		return User{}, fmt.Errorf("%w: not base64", ErrInvalid)
	}
	plain, err := open(raw, sharedSecret)
	if err != nil {
		return User{}, err
	}
	var u User
	if err := json.Unmarshal(plain, &u); err != nil {
		return User{}, fmt.Errorf("%w: not a JSON user", ErrInvalid)
	}
	if u.UserID == "" || u.ActiveLocation == "" {
		return User{}, fmt.Errorf("%w: no userId or activeLocation", ErrInvalid)
	}
	return u, nil
}

func open(raw []byte, secret string) ([]byte, error) {
	if len(raw) < 16+aes.BlockSize || string(raw[:8]) != saltMagic || (len(raw)-16)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: not an OpenSSL salted ciphertext", ErrInvalid)
	}
	key, iv := bytesToKey([]byte(secret), raw[8:16])
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	ct := raw[16:]
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, ct)
	return unpad(plain)
}

// unpad removes PKCS#7 padding; a wrong secret or a tampered ciphertext almost always
// leaves bad padding, and when it does not, the JSON check fails.
func unpad(b []byte) ([]byte, error) {
	n := int(b[len(b)-1])
	if n == 0 || n > aes.BlockSize || n > len(b) {
		return nil, fmt.Errorf("%w: bad padding (wrong shared secret?)", ErrInvalid)
	}
	if !bytes.Equal(b[len(b)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
		return nil, fmt.Errorf("%w: bad padding (wrong shared secret?)", ErrInvalid)
	}
	return b[:len(b)-n], nil
}

// bytesToKey is OpenSSL's EVP_BytesToKey with MD5 and one iteration, for a 32-byte key
// and a 16-byte IV.
func bytesToKey(pass, salt []byte) (key, iv []byte) {
	var out, prev []byte
	for len(out) < 48 {
		h := md5.New() //nolint:gosec // see the import
		h.Write(prev)
		h.Write(pass)
		h.Write(salt)
		prev = h.Sum(nil)
		out = append(out, prev...)
	}
	return out[:32], out[32:48]
}

// Encrypt seals a user context as HighLevel does (CryptoJS.AES.encrypt with the Shared
// Secret as passphrase). The HighLevel simulator's stand-in frame and tests use it.
func Encrypt(u User, sharedSecret string) (string, error) {
	plain, err := json.Marshal(u)
	if err != nil {
		return "", fmt.Errorf("usercontext: encode user: %w", err)
	}
	return EncryptBytes(plain, sharedSecret)
}

// EncryptBytes seals any plaintext in the same format.
func EncryptBytes(plain []byte, sharedSecret string) (string, error) {
	salt := make([]byte, 8)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("usercontext: salt: %w", err)
	}
	key, iv := bytesToKey([]byte(sharedSecret), salt)
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("usercontext: %w", err)
	}
	n := aes.BlockSize - len(plain)%aes.BlockSize
	padded := append(append([]byte(nil), plain...), bytes.Repeat([]byte{byte(n)}, n)...)
	ct := make([]byte, len(padded))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, padded)
	out := append(append([]byte(saltMagic), salt...), ct...)
	return base64.StdEncoding.EncodeToString(out), nil
}
