// Package web holds the pages daihuo serves to people: the live player a
// viewer opens on a phone, embedded in the binary.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var files embed.FS

// contentSecurityPolicy lets the pages load only their own scripts, styles
// and API, never be framed (clickjacking), nor change their base or post
// forms elsewhere.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' https: data:; media-src 'self' https: http: blob:; " +
	"style-src 'self'; script-src 'self'; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Handler serves the pages: /watch/{stream_id} is the player, /assets/…
// its scripts and styles, / a start page. Every answer, a 404 included,
// carries the security headers; the pages themselves are never assets.
func Handler() http.Handler {
	static, _ := fs.Sub(files, "static") // the folder is embedded: never fails
	page := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			http.ServeFileFS(w, r, static, name)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /assets/{name...}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if !isAsset(static, name) {
			http.NotFound(w, r)
			return
		}
		http.ServeFileFS(w, r, static, name)
	})
	mux.Handle("GET /watch/{stream}", page("watch.html"))
	mux.Handle("GET /{$}", page("index.html"))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		mux.ServeHTTP(w, r)
	})
}

// isAsset reports whether name is a file of static served under /assets/:
// a regular file that is not a page (pages are served only as pages, with
// their own routes) and not a directory listing.
func isAsset(static fs.FS, name string) bool {
	if !fs.ValidPath(name) || name == "." {
		return false
	}
	switch strings.ToLower(path.Ext(name)) {
	case ".html", ".htm":
		return false
	}
	fi, err := fs.Stat(static, name)
	return err == nil && fi.Mode().IsRegular()
}

// Owns reports whether path is one of the pages, so the server can send
// everything else to the API.
func Owns(path string) bool {
	return path == "/" || strings.HasPrefix(path, "/watch/") || strings.HasPrefix(path, "/assets/")
}
