package console

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// cookieName is the session cookie. It is scoped to /console, HttpOnly and
// SameSite=Strict, and Secure when the console is served over TLS (or told
// it is, behind a TLS-terminating proxy).
const cookieName = "esrflow_console"

// session is what the sealed cookie carries. The api key itself rides in
// the cookie, sealed (AES-GCM) under the console's secret: the server keeps
// no session table, every instance sharing the secret accepts the cookie,
// and each request still presents the key to the api's own authentication,
// so a revoked or expired key ends the session at once.
type session struct {
	// Key is the api key the user signed in with; empty in the api's open
	// mode (no clients configured), where reads need none.
	Key string `json:"k"`
	// ID is random per sign-in; the CSRF token is derived from it.
	ID string `json:"i"`
	// Expires is when the session ends, whatever the key's own expiry.
	Expires int64 `json:"e"`
	// Who is the key's name, tenants and scopes as the api gave them at
	// sign-in (GET /v1/whoami): a key's grants never change, and the pages
	// use them only to decide what to offer; the api decides what is
	// allowed on every call.
	Who whoami `json:"w"`
}

// sealer seals and opens session cookies, and derives CSRF tokens.
type sealer struct {
	aead cipher.AEAD
	mac  []byte // HMAC key for CSRF tokens, separate from the cipher's
}

// newSealer derives the cipher and MAC keys from secret. An empty secret
// takes a random one: sessions then last as long as the process, and only
// that instance accepts them.
func newSealer(secret []byte) (*sealer, error) {
	if len(secret) == 0 {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
	}
	enc := sha256.Sum256(append([]byte("esrflow console cookie\x00"), secret...))
	mac := sha256.Sum256(append([]byte("esrflow console csrf\x00"), secret...))
	block, err := aes.NewCipher(enc[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead, mac: mac[:]}, nil
}

func (s *sealer) seal(sess session) (string, error) {
	plain, err := json.Marshal(sess)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce, nonce, plain, []byte(cookieName))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

var errNoSession = errors.New("no session")

// open returns the cookie's session, or errNoSession when it is missing,
// tampered with, sealed under another secret or expired.
func (s *sealer) open(r *http.Request, now time.Time) (session, error) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return session{}, errNoSession
	}
	// Strict: a cookie has one encoding, so no changed character (in the
	// unused bits of the last one) decodes to the same sealed bytes.
	raw, err := base64.RawURLEncoding.Strict().DecodeString(c.Value)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return session{}, errNoSession
	}
	plain, err := s.aead.Open(nil, raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():], []byte(cookieName))
	if err != nil {
		return session{}, errNoSession
	}
	var sess session
	if json.Unmarshal(plain, &sess) != nil || sess.ID == "" || now.Unix() >= sess.Expires {
		return session{}, errNoSession
	}
	return sess, nil
}

// csrfToken is the token every form of a session carries: an HMAC of the
// session's random id, so it cannot be computed without the secret, and
// changes at every sign-in.
func (s *sealer) csrfToken(sess session) string {
	m := hmac.New(sha256.New, s.mac)
	m.Write([]byte(sess.ID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *sealer) validCSRF(sess session, token string) bool {
	want := s.csrfToken(sess)
	return token != "" && subtle.ConstantTimeCompare([]byte(want), []byte(token)) == 1
}

func newSessionID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
