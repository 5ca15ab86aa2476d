package app

import (
	"net/http"

	"github.com/vacunometro/vacunometro/internal/publicapi"
)

// publicAPI registers the public read API (series, departments, open data,
// the OpenAPI document) on mux, and a JSON 404/405 for every other /api/
// request. Without Redis only the document and the JSON errors are served.
// Call it after every other /api/ handler is registered.
func (c *clients) publicAPI(mux *http.ServeMux) {
	cfg := publicapi.Config{Catalog: c.cat, Metrics: c.m, Log: c.log}
	if c.rdb != nil {
		cfg.Redis, cfg.Stats = c.rdb, c.statsView()
	}
	publicapi.New(cfg).Register(mux)
}
