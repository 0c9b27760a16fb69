package sftpd

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/ssh"
)

// Account is one login of the credentials file: it may deliver files for
// exactly one tenant.
type Account struct {
	// User is the SSH user name the trust's system logs in with.
	User string `yaml:"user"`
	// Tenant is the ODS code whose inbound folder the account writes to.
	Tenant string `yaml:"tenant"`
	// PasswordHash is a bcrypt hash (esrflow sftp-passwd makes one); empty
	// means no password login.
	PasswordHash string `yaml:"password_hash"`
	// AuthorizedKeys are public keys in authorized_keys form
	// ("ssh-ed25519 AAAA... comment").
	AuthorizedKeys []string `yaml:"authorized_keys"`
	// KeyFingerprints are public keys by their SHA256 fingerprint
	// ("SHA256:..."), as ssh-keygen -lf prints them.
	KeyFingerprints []string `yaml:"key_fingerprints"`
}

type credentialsFile struct {
	Accounts []Account `yaml:"accounts"`
}

// account is an Account checked and ready for logins.
type account struct {
	user, tenant string
	hash         []byte
	keys         map[string]bool // SHA256 fingerprints
}

// PasswordCost is bcrypt's cost for HashPassword: slow enough that a stolen
// credentials file is expensive to guess from, fast enough for a login.
const PasswordCost = 12

// HashPassword returns the bcrypt hash to put in password_hash.
func HashPassword(password string) (string, error) {
	if len(password) < 12 {
		return "", errors.New("password shorter than 12 characters")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), PasswordCost)
	return string(h), err
}

// parseAccounts checks a credentials file: every account names a
// configured tenant and has at least one way to log in; user names are
// unique.
func parseAccounts(data []byte, tenantCode func(string) (string, bool)) (map[string]*account, error) {
	var f credentialsFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	out := map[string]*account{}
	for i, a := range f.Accounts {
		where := fmt.Sprintf("accounts[%d]", i)
		switch {
		case a.User == "":
			return nil, fmt.Errorf("%s: user not set", where)
		case out[a.User] != nil:
			return nil, fmt.Errorf("%s: user %q listed twice", where, a.User)
		}
		code, ok := tenantCode(a.Tenant)
		switch {
		case !ok:
			return nil, fmt.Errorf("%s (%s): tenant %q is not configured", where, a.User, a.Tenant)
		case a.PasswordHash == "" && len(a.AuthorizedKeys) == 0 && len(a.KeyFingerprints) == 0:
			return nil, fmt.Errorf("%s (%s): no password_hash, authorized_keys or key_fingerprints", where, a.User)
		}
		// The configured code, not the file's spelling: it names the
		// tenant's folders.
		acc := &account{user: a.User, tenant: code, keys: map[string]bool{}}
		if a.PasswordHash != "" {
			if _, err := bcrypt.Cost([]byte(a.PasswordHash)); err != nil {
				return nil, fmt.Errorf("%s (%s): password_hash is not a bcrypt hash (make one with esrflow sftp-passwd)", where, a.User)
			}
			acc.hash = []byte(a.PasswordHash)
		}
		for j, line := range a.AuthorizedKeys {
			k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
			if err != nil {
				return nil, fmt.Errorf("%s (%s): authorized_keys[%d]: %v", where, a.User, j, err)
			}
			acc.keys[ssh.FingerprintSHA256(k)] = true
		}
		for j, fp := range a.KeyFingerprints {
			if !strings.HasPrefix(fp, "SHA256:") {
				return nil, fmt.Errorf("%s (%s): key_fingerprints[%d]: not a SHA256:... fingerprint", where, a.User, j)
			}
			acc.keys[fp] = true
		}
		out[a.User] = acc
	}
	return out, nil
}

// accounts is the credentials file as last read. It is re-read on every
// login whose file content changed, so adding or removing an account
// needs no restart and no signal, and there is no watcher to time.
type accounts struct {
	path       string
	tenantCode func(string) (string, bool) // the configured code of a tenant, if configured

	mu    sync.Mutex
	sum   [32]byte
	read  bool
	byUse map[string]*account
}

// current returns the accounts, re-reading the file when its content
// changed. A file that fails to parse keeps the previous accounts (a typo
// must not lock every trust out) and reports the error; a missing file
// means no accounts.
func (a *accounts) current() (map[string]*account, bool, error) {
	data, err := os.ReadFile(a.path)
	if errors.Is(err, os.ErrNotExist) {
		data, err = nil, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		return a.byUse, false, err
	}
	sum := sha256.Sum256(data)
	if a.read && subtle.ConstantTimeCompare(sum[:], a.sum[:]) == 1 {
		return a.byUse, false, nil
	}
	parsed, err := parseAccounts(data, a.tenantCode)
	if err != nil {
		return a.byUse, false, fmt.Errorf("%s: %w", a.path, err)
	}
	a.sum, a.read, a.byUse = sum, true, parsed
	return parsed, true, nil
}

// dummyHash is compared against when the user is unknown, so a wrong user
// takes as long as a wrong password. Made on first use: bcrypt at
// PasswordCost is too slow for package start.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("esrflow-no-such-account"), PasswordCost)
	return h
})
