package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"go.uber.org/zap"
)

// london is the zone times are shown in: the trusts' own.
var london = mustLoadLocation("Europe/London")

func mustLoadLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC // no tzdata: show UTC rather than fail
	}
	return loc
}

// parsePages parses every page template with the layout: one template set
// per page, so each page's "content" block is its own.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// render writes page with v, status first. The page is executed into a
// buffer so a template error is a clean 500, not half a page.
func (c *Console) render(w http.ResponseWriter, status int, page string, v *view) {
	t, ok := c.pages[page]
	if !ok {
		c.log.Error("console page template missing", zap.String("page", page))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		c.log.Error("console page failed to render", zap.String("page", page), zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

var funcs = template.FuncMap{
	"when":  when,
	"ago":   ago,
	"short": func(s string) string { return shorten(s, 12) },
	"pct":   func(f float64) string { return fmt.Sprintf("%.1f %%", f*100) },
	// link builds a console path from literal parts and values, escaping
	// the values, as p does for api paths: link "/console/t/" .Tenant "/files".
	"link": func(parts ...string) template.URL { return template.URL(p(parts...)) },
	// query builds "?k=v&..." from pairs, leaving out empty values.
	"query": func(kv ...string) template.URL {
		q := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				q.Set(kv[i], kv[i+1])
			}
		}
		if len(q) == 0 {
			return ""
		}
		return template.URL("?" + q.Encode())
	},
	"source":       eventSource,
	"reportStatus": reportStatus,
	"deref64": func(n *int64) int64 {
		if n == nil {
			return 0
		}
		return *n
	},
	"deref": func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	},
}

// when shows an RFC 3339 time (or a time.Time) in London time; "" and
// nil show a dash.
func when(v any) string {
	t, ok := toTime(v)
	if !ok {
		return "—"
	}
	return t.In(london).Format("2 Jan 2006 15:04:05 MST")
}

func toTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, !x.IsZero()
	case *time.Time:
		if x != nil {
			return *x, !x.IsZero()
		}
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		return t, err == nil
	case *string:
		if x != nil {
			return toTime(*x)
		}
	}
	return time.Time{}, false
}

// ago shows a number of seconds as a short age: "3 d 4 h", "2 h 5 min".
func ago(seconds int64) string {
	d := time.Duration(seconds) * time.Second
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", seconds)
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%d d %d h", int(d.Hours())/24, int(d.Hours())%24)
	}
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// eventSource is an event's own source (file and line), from its data.
func eventSource(data json.RawMessage) (src struct {
	FileName   string `json:"file_name"`
	FileSHA256 string `json:"file_sha256"`
	Line       int64  `json:"line"`
}) {
	var ev struct {
		Source json.RawMessage `json:"source"`
	}
	if json.Unmarshal(data, &ev) == nil {
		_ = json.Unmarshal(ev.Source, &src)
	}
	return src
}

// reportStatus is a file report's status, "" for none (a replay batch's
// report is null until it arrives).
func reportStatus(report json.RawMessage) string {
	var rep struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(report, &rep)
	return rep.Status
}
