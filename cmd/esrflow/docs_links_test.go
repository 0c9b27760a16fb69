package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// mdLink is a Markdown inline link's target: [text](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// docFiles are the Markdown files whose links are checked, from the
// repository root.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md", "deploy/README.md"}
	docs, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		rel, _ := filepath.Rel(repoRoot, d)
		files = append(files, rel)
	}
	return files
}

// markdownAnchors are the anchors of a Markdown file's headings, outside
// code blocks.
func markdownAnchors(text string) map[string]bool {
	out := map[string]bool{}
	inCode := false
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
			continue
		}
		if h, ok := strings.CutPrefix(line, "#"); ok && !inCode {
			out[headingAnchor(strings.TrimLeft(h, "#"))] = true
		}
	}
	return out
}

// brokenLinks lists the relative links of one Markdown file (outside code
// blocks) whose file or heading does not exist.
func brokenLinks(root, rel string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return nil, err
	}
	var broken []string
	inCode := false
	for n, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
			continue
		}
		if inCode {
			continue
		}
		for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			file := filepath.Join(filepath.Dir(rel), path)
			if path == "" {
				file = rel
			}
			where := rel + ":" + strconv.Itoa(n+1) + ": " + target
			if _, err := os.Stat(filepath.Join(root, file)); err != nil {
				broken = append(broken, where+" (no such file)")
				continue
			}
			if anchor == "" || !strings.HasSuffix(file, ".md") {
				continue
			}
			text, err := os.ReadFile(filepath.Join(root, file))
			if err != nil {
				return nil, err
			}
			if !markdownAnchors(string(text))[anchor] {
				broken = append(broken, where+" (no such heading)")
			}
		}
	}
	return broken, nil
}

// Every relative link in the README and docs reaches a file, and its
// #anchor a heading of that file.
func TestDocsLinksResolve(t *testing.T) {
	for _, f := range docFiles(t) {
		broken, err := brokenLinks(repoRoot, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range broken {
			t.Error(b)
		}
	}
}

// The check finds a missing file and a missing heading, and passes links
// inside code blocks and to the web.
func TestDocsLinkCheckCatchesBrokenLinks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("b.md", "# Title\n## The `x` flag: on\n")
	write("a.md", "# A\nSee [b](b.md#the-x-flag-on), [top](#a), [web](https://example.org/x.md).\n"+
		"Bad: [gone](c.md) and [nohead](b.md#missing) and [self](#nowhere).\n```\n[in code](nothing.md)\n```\n")
	broken, err := brokenLinks(dir, "a.md")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a.md:3: c.md (no such file)", "a.md:3: b.md#missing (no such heading)", "a.md:3: #nowhere (no such heading)"}
	if strings.Join(broken, "\n") != strings.Join(want, "\n") {
		t.Errorf("broken =\n%s\nwant\n%s", strings.Join(broken, "\n"), strings.Join(want, "\n"))
	}
}
