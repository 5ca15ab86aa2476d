package app

import (
	"net/http"

	"github.com/vacunometro/vacunometro/internal/publicapi"
)

// publicAPI registers the public read API (series, departments, open data,
// the OpenAPI document) on mux, and a JSON 404/405 for every other /api/
// request. Without Redis only the document and the JSON errors are served.
// Call it after every other /api/ handler is registered.
func (p *parts) publicAPI(mux *http.ServeMux) {
	cfg := publicapi.Config{Catalog: p.cat, Metrics: p.m, Log: p.log}
	if p.view != nil {
		cfg.Redis, cfg.Stats = p.rdb, p.view
	}
	publicapi.New(cfg).Register(mux)
}
