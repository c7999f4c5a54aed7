// Package web holds the pages daihuo serves to people: the live player a
// viewer opens on a phone, embedded in the binary.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var files embed.FS

// Handler serves the pages: /watch/{stream_id} is the player, /assets/…
// its scripts and styles, / a start page.
func Handler() http.Handler {
	static, _ := fs.Sub(files, "static") // the folder is embedded: never fails
	assets := http.StripPrefix("/assets/", http.FileServerFS(static))
	page := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' https: data:; media-src 'self' https: http: blob:; style-src 'self'; script-src 'self'; connect-src 'self'")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "same-origin")
			http.ServeFileFS(w, r, static, name)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /assets/", assets)
	mux.Handle("GET /watch/{stream}", page("watch.html"))
	mux.Handle("GET /{$}", page("index.html"))
	return mux
}

// Owns reports whether path is one of the pages, so the server can send
// everything else to the API.
func Owns(path string) bool {
	return path == "/" || strings.HasPrefix(path, "/watch/") || strings.HasPrefix(path, "/assets/")
}
