package api

import (
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/esrflow/esrflow/services/api/archive"
	"github.com/esrflow/esrflow/services/api/store"
)

// Bounds of GET …/files/{sha256}/lines: ?context= is at most MaxLineContext
// (41 lines an answer), DefaultLineContext when absent.
const (
	DefaultLineContext = 3
	MaxLineContext     = 20
)

// fileLine is one physical line of an archived file, its columns named and
// masked as a quarantined row's are.
type fileLine struct {
	Line int `json:"line"`
	store.RawView
	// RawSHA256 is null for a line over the length limit (TooLong).
	RawSHA256 *string `json:"raw_sha256"`
	TooLong   bool    `json:"too_long,omitempty"`
}

type fileLines struct {
	File    store.FileRef `json:"file"`
	Line    int           `json:"line"`
	Context int           `json:"context"`
	Lines   []fileLine    `json:"lines"`
	// EndOfFile: the file's last line is the last one listed.
	EndOfFile bool `json:"end_of_file"`
}

// getFileLines serves lines line-context..line+context of a file the tenant
// has a report for, read from ingest's archive (docs/api.md, A file's lines).
func (s *Service) getFileLines(w http.ResponseWriter, r *http.Request) {
	t, ok := tenant(w, r)
	if !ok {
		return
	}
	sha, ok := fileSHA(w, r)
	if !ok {
		return
	}
	line, ctxLines, ok := lineWindow(w, r)
	if !ok {
		return
	}
	if s.cfg.Archive == "" {
		writeError(w, http.StatusNotImplemented, "no archive folder is configured (--archive): a file's lines cannot be read")
		return
	}
	ref, err := s.store.FileByHash(r.Context(), t, sha)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "file not found")
		return
	case err != nil:
		s.internal(w, r, err)
		return
	}
	f, err := archive.Open(s.cfg.Archive, t, sha)
	switch {
	case errors.Is(err, archive.ErrGone):
		writeError(w, http.StatusNotFound, archive.ErrGone.Error())
		return
	case err != nil:
		s.internal(w, r, err)
		return
	}
	defer f.Close()
	win, err := archive.Read(r.Context(), f, max(1, line-ctxLines), line+ctxLines, archive.SplitterFor(ref.Dialect, s.csvDelimiter(t, ref.Dialect)))
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if len(win.Lines) == 0 || win.Lines[len(win.Lines)-1].No < line {
		writeError(w, http.StatusNotFound, "the file has no line "+strconv.Itoa(line))
		return
	}
	personal := personalAllowed(r)
	out := fileLines{File: ref, Line: line, Context: ctxLines, Lines: make([]fileLine, len(win.Lines)), EndOfFile: win.EOF}
	for i, l := range win.Lines {
		fl := fileLine{Line: l.No, TooLong: l.TooLong,
			RawView: store.RawView{RecordType: l.RecordType, Fields: store.RawFields(ref.Dialect, l.RecordType, l.Fields, personal)}}
		if l.RawSHA256 != "" {
			fl.RawSHA256 = store.Ptr(l.RawSHA256)
		}
		out.Lines[i] = fl
	}
	writeJSON(w, http.StatusOK, out)
}

// lineWindow reads ?line= (required, at least 1) and ?context= (0 to
// MaxLineContext, default DefaultLineContext), answering 400 for either.
func lineWindow(w http.ResponseWriter, r *http.Request) (line, context int, ok bool) {
	q := r.URL.Query()
	line, err := strconv.Atoi(q.Get("line"))
	// The upper bound keeps line+context from overflowing; no ESR file
	// comes near it.
	if err != nil || line < 1 || line > math.MaxInt32 {
		writeError(w, http.StatusBadRequest, "line must be a line number (1 or more)")
		return 0, 0, false
	}
	context = DefaultLineContext
	if v := q.Get("context"); v != "" {
		if context, err = strconv.Atoi(v); err != nil || context < 0 || context > MaxLineContext {
			writeError(w, http.StatusBadRequest, "context must be 0 to "+strconv.Itoa(MaxLineContext))
			return 0, 0, false
		}
	}
	return line, context, true
}

// csvDelimiter is the delimiter of the tenant's CSV list a file of dialect
// csv:<list> was read with, from --tenants.file; 0 (',') when not known.
func (s *Service) csvDelimiter(t, dialect string) byte {
	if s.cfg.Tenants == nil {
		return 0
	}
	tn, ok := s.cfg.Tenants.Get(t)
	if !ok {
		return 0
	}
	for i := range tn.Feeds.CSV.Lists {
		if l := &tn.Feeds.CSV.Lists[i]; l.Dialect() == dialect && len(l.Delimiter) == 1 {
			return l.Delimiter[0]
		}
	}
	return 0
}
