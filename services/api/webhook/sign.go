// Package webhook delivers a tenant's event feed to subscribers' URLs,
// signed per the Standard Webhooks specification
// (https://www.standardwebhooks.com): at least once, in feed order per
// subscription, with retries and capped exponential backoff, a dead-letter
// list after the last failed attempt, replay, and a log of every attempt.
// docs/api.md (Webhooks) is the user's view.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret, as the specification's
// libraries expect.
const SecretPrefix = "whsec_"

// NewSecret returns a fresh signing secret: whsec_ and 32 random bytes in
// standard base64.
func NewSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// secretKey returns the HMAC key a secret encodes.
func secretKey(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(k) == 0 {
		return nil, errors.New("webhook secret is not whsec_<base64>")
	}
	return k, nil
}

// Sign returns the webhook-signature header value for a message: v1, and
// the base64 HMAC-SHA256, keyed by the secret's bytes, of
// "<webhook-id>.<webhook-timestamp>.<body>".
func Sign(secret, id string, at time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(at.Unix(), 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}
