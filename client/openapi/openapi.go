// Package openapi embeds the OpenAPI (Swagger 2.0) descriptions of the chain's own
// REST routes, generated from proto/openledger by `make proto-gen`, and serves them
// beside the SDK's Swagger UI.
package openapi

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed *.swagger.json
var files embed.FS

// Files returns the embedded descriptions, one per module (e.g. datanet.swagger.json).
func Files() fs.FS { return files }

// Handler serves the descriptions; mount it with http.StripPrefix("/openapi/", …).
func Handler() http.Handler { return http.FileServer(http.FS(files)) }
