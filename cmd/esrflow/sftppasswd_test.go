package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

func TestSFTPPasswdHashesStdin(t *testing.T) {
	defer func(r io.Reader) { passwdInput = r }(passwdInput)
	passwdInput = strings.NewReader("a long enough password\n")
	var out, errOut bytes.Buffer
	if err := runSFTPPasswd(context.Background(), nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	h := strings.TrimSpace(out.String())
	if bcrypt.CompareHashAndPassword([]byte(h), []byte("a long enough password")) != nil {
		t.Errorf("%q is not the password's hash", h)
	}
	if strings.Contains(out.String()+errOut.String(), "a long enough password") {
		t.Error("the password was printed")
	}
	// The entry form pastes into an accounts file the server loads.
	out.Reset()
	passwdInput = strings.NewReader("a long enough password")
	if err := runSFTPPasswd(context.Background(), []string{"--user", "rxx-esr", "--tenant", "RXX"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var f struct {
		Accounts []struct{ User, Tenant, Password_hash string }
	}
	if err := yaml.Unmarshal([]byte("accounts:\n"+out.String()), &f); err != nil || len(f.Accounts) != 1 {
		t.Fatalf("entry %q: %v", out.String(), err)
	}
	if a := f.Accounts[0]; a.User != "rxx-esr" || a.Tenant != "RXX" || bcrypt.CompareHashAndPassword([]byte(a.Password_hash), []byte("a long enough password")) != nil {
		t.Errorf("entry %+v", a)
	}
	passwdInput = strings.NewReader("short\n")
	if err := runSFTPPasswd(context.Background(), nil, &out, &errOut); err == nil {
		t.Error("a short password was hashed")
	}
	if err := runSFTPPasswd(context.Background(), []string{"secret-on-the-command-line"}, &out, &errOut); err == nil {
		t.Error("a password argument was accepted")
	}
}
