// Package ingest is the ingest tier as a Cloud Run function ("Ingest").
package ingest

import (
	ffunctions "github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/vacunometro/vacunometro/functions"
	"github.com/vacunometro/vacunometro/internal/app"
)

// Handler is the function's handler; functions/cmd closes it on SIGTERM.
var Handler = functions.NewLazy(app.BuildIngest)

func init() {
	ffunctions.HTTP("Ingest", Handler.ServeHTTP)
}
