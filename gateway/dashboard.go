package gateway

import (
	"embed"
	"io/fs"
	"net/http"
)

// uiFiles are the dashboard's static files: HTML, CSS and plain JavaScript,
// no build step and nothing fetched from elsewhere.
//
//go:embed ui
var uiFiles embed.FS

// dashboard serves the web dashboard: the page at / and its files under
// /ui/. The files are public; the page calls the /v1 API with the token it
// was given (?token=, kept in the tab's sessionStorage).
func dashboard() (index, files http.Handler) {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embedded tree always has ui/
	}
	files = http.StripPrefix("/ui/", http.FileServerFS(sub))
	index = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		h := rw.Header()
		h.Set("Cache-Control", "no-cache")
		// The page loads only its own files and talks only to this server.
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeFileFS(rw, r, sub, "index.html")
	})
	return index, files
}
