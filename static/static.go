// Package static holds the portal's embedded assets (CSS) and serves them
// under content-hashed names, so they can be cached for a year and still
// change with every release.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"mime"
	"path"
	"strings"
)

//go:embed *.css
var files embed.FS

type asset struct {
	body  []byte
	ctype string
}

var (
	byHashed = map[string]asset{}  // "app.3f2a9c1b.css" → asset
	hashed   = map[string]string{} // "app.css" → "app.3f2a9c1b.css"
)

// Computed once at start-up from the embedded files, never changed after.
func init() {
	entries, err := files.ReadDir(".")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		body, err := files.ReadFile(e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(body)
		ext := path.Ext(e.Name())
		name := strings.TrimSuffix(e.Name(), ext) + "." + hex.EncodeToString(sum[:])[:12] + ext
		byHashed[name] = asset{body: body, ctype: mime.TypeByExtension(ext)}
		hashed[e.Name()] = name
	}
}

// Path returns the URL path of an asset under its hashed name.
func Path(name string) string {
	h, ok := hashed[name]
	if !ok {
		panic("static: no asset " + name)
	}
	return "/static/" + h
}

// Lookup returns a hashed asset's body and content type.
func Lookup(hashedName string) ([]byte, string, bool) {
	a, ok := byHashed[hashedName]
	return a.body, a.ctype, ok
}
