package rules

import "slices"

// Grow makes room for n more records. A caller that knows roughly how
// many rows a file holds (the offline validator, from its size) saves
// regrowing — and copying — the held records over and over on a large
// full file.
func (f *File) Grow(n int) {
	if n > 0 {
		f.items = slices.Grow(f.items, n)
		if !f.lean {
			f.recs = slices.Grow(f.recs, n)
		}
	}
}
