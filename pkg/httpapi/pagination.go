package httpapi

import (
	"net/url"
	"strconv"
)

// Pagination holds the links of a cursor-paginated list.
type Pagination struct {
	Limit int     `json:"limit"`
	Self  string  `json:"self"`
	First string  `json:"first"`
	Next  *string `json:"next"`
	// Last, on lists that can jump to their end.
	Last string `json:"last,omitempty"`
}

// PageLink returns the builder of links to the pages of path: limit, the
// list's filters (empty ones left out) and the cursor the page starts
// after ("" for the first page).
func PageLink(path string, limit int, filters map[string]string) func(cursor string) string {
	return func(cursor string) string {
		q := url.Values{"limit": {strconv.Itoa(limit)}}
		for k, v := range filters {
			if v != "" {
				q.Set(k, v)
			}
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		return path + "?" + q.Encode()
	}
}

// Paginate is the pagination of the page read at cursor, whose following
// page starts after next ("" when this page is the last).
func Paginate(limit int, cursor, next string, link func(string) string) Pagination {
	p := Pagination{Limit: limit, Self: link(cursor), First: link("")}
	if next != "" {
		n := link(next)
		p.Next = &n
	}
	return p
}
