package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/services/api/auth"
)

// DefaultUploadMaxBytes caps one uploaded file: a full extract of the
// largest trust is well under it.
const DefaultUploadMaxBytes = 2 << 30

// tempName is the name an upload has while it is written:
// .<name>.<random>.part. Ingest never reads a name that starts with '.' or
// ends in .part (services/ingest scan.go), so a half-written upload is
// invisible to it; and it knows this shape as an upload of <name> in
// progress, which holds back the later files of its feed until it is done.
// The random part keeps two uploads of one name apart.
func tempName(name, random string) string { return "." + name + "." + random + ".part" }

// Upload is the answer to POST /v1/tenants/{tenant}/files.
type Upload struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Report is where the file's report appears once ingest has judged it
	// (GET answers 404 until then).
	Report string `json:"report"`
}

// postFile streams an uploaded file into the tenant's drop folder, where
// ingest takes it like any other delivery. The body is the file's bytes
// (any Content-Type); ?name= is its file name, checked against the same
// name grammar ingest applies (format.ParseFileName). The body is copied
// to a hidden temporary file while its SHA-256 is computed, synced, and
// only then linked under its real name: ingest sees the whole file or
// nothing, and the api never holds more than a copy buffer of it.
func (s *Service) postFile(w http.ResponseWriter, r *http.Request) {
	t, ok := tenant(w, r)
	if !ok {
		return
	}
	if s.cfg.UploadDrop == "" {
		writeError(w, http.StatusNotImplemented, "file upload is not enabled on this api (--upload.drop)")
		return
	}
	name := r.URL.Query().Get("name")
	if why := badUploadName(name, s.csvList(t)); why != "" {
		writeError(w, http.StatusBadRequest, "name: "+why)
		return
	}
	max := s.cfg.UploadMaxBytes
	if max <= 0 {
		max = DefaultUploadMaxBytes
	}
	if r.ContentLength > max {
		writeError(w, http.StatusRequestEntityTooLarge, "file larger than "+strconv.FormatInt(max, 10)+" bytes")
		return
	}
	// The tenant's folder must already exist: the api never creates
	// folders, so only tenants the platform set up can receive files.
	dir := filepath.Join(s.cfg.UploadDrop, t)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		writeError(w, http.StatusNotFound, "tenant "+t+" has no drop folder")
		return
	}
	final := filepath.Join(dir, name)
	if _, err := os.Lstat(final); err == nil {
		writeError(w, http.StatusConflict, "a file of that name is waiting to be ingested; retry when it has been taken")
		return
	}
	up, err := s.receive(dir, name, http.MaxBytesReader(w, r.Body, max))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "file larger than "+strconv.FormatInt(max, 10)+" bytes")
		return
	case errors.Is(err, os.ErrExist):
		writeError(w, http.StatusConflict, "a file of that name is waiting to be ingested; retry when it has been taken")
		return
	case errors.Is(err, errBodyRead):
		writeError(w, http.StatusBadRequest, "reading the request body failed")
		return
	case err != nil:
		s.internal(w, r, err)
		return
	}
	up.Report = "/v1/tenants/" + t + "/files/" + up.SHA256
	s.m.uploads.WithLabelValues(t).Inc()
	s.m.uploadBytes.WithLabelValues(t).Add(float64(up.Size))
	c := clientOf(r)
	client := auth.Anonymous
	if c != nil {
		client = c.Name()
	}
	// A file name and hash are not personal data; the content never reaches a log.
	s.log.Info("file uploaded", logx.Tenant(t), logx.File(name), zap.String("sha256", up.SHA256),
		zap.Int64("size", up.Size), zap.String("client", client))
	w.Header().Set("Location", up.Report)
	writeJSON(w, http.StatusAccepted, up)
}

// errBodyRead marks a failure reading the request (the client went away).
var errBodyRead = errors.New("reading the request body")

// bodyReader tags read errors so they are told from write errors.
type bodyReader struct{ r io.Reader }

func (b bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		var tooBig *http.MaxBytesError
		if !errors.As(err, &tooBig) {
			err = errors.Join(errBodyRead, err)
		}
	}
	return n, err
}

// receive writes body to dir/name by way of a hidden temporary file and
// returns its size and SHA-256. On any error nothing is left under name.
func (s *Service) receive(dir, name string, body io.Reader) (_ Upload, err error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return Upload{}, err
	}
	tmp := filepath.Join(dir, tempName(name, hex.EncodeToString(rnd[:])))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return Upload{}, err
	}
	defer func() {
		if f != nil {
			_ = f.Close()
		}
		// Linked or failed, the temporary name goes.
		_ = os.Remove(tmp)
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), bodyReader{body})
	if err != nil {
		return Upload{}, err
	}
	if err := f.Sync(); err != nil {
		return Upload{}, err
	}
	if err := f.Close(); err != nil {
		f = nil
		return Upload{}, err
	}
	f = nil
	// A hard link, unlike a rename, never replaces a file that appeared
	// under the name meanwhile (os.ErrExist: 409).
	if err := os.Link(tmp, filepath.Join(dir, name)); err != nil {
		return Upload{}, err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the new name survives a crash once answered 202
		_ = d.Close()
	}
	return Upload{File: name, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// csvList returns a function telling whether a name is one of tenant t's
// CSV staff lists (nil without tenant settings).
func (s *Service) csvList(t string) func(string) bool {
	if s.cfg.Tenants == nil {
		return nil
	}
	tn, ok := s.cfg.Tenants.Get(t)
	if !ok {
		return nil
	}
	return func(name string) bool {
		_, ok, err := tn.MatchCSV(name)
		return ok && err == nil
	}
}

// badUploadName says why name cannot be uploaded, or "" when it can: a bare
// file name in the ESR grammar ingest applies, or one the tenant's CSV
// lists match (isCSV, when the api has the tenants' settings).
func badUploadName(name string, isCSV func(string) bool) string {
	switch {
	case name == "":
		return "the file name is required (?name=GO_…DAT)"
	case strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") || strings.ContainsRune(name, 0):
		return "a bare file name is required, with no folder"
	}
	_, err := format.ParseFileName(name)
	switch {
	case err == nil, isCSV != nil && isCSV(name):
		return ""
	case isCSV != nil:
		return err.Error() + "; nor does it match one of the tenant's CSV staff lists"
	}
	return err.Error()
}
