// Package realtime is the realtime tier as a Cloud Run function ("Realtime"):
// the WebSocket, /api/stats and the dashboard.
package realtime

import (
	ffunctions "github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/vacunometro/vacunometro/functions"
	"github.com/vacunometro/vacunometro/internal/app"
)

// Handler is the function's handler; functions/cmd closes it on SIGTERM.
var Handler = functions.NewLazy(app.BuildRealtime)

func init() {
	ffunctions.HTTP("Realtime", Handler.ServeHTTP)
}
