package stats

import (
	"time"

	"github.com/vacunometro/vacunometro/internal/store"
)

func figures(fields map[string]int64, at time.Time) store.Figures {
	return store.Figures{Fields: fields, At: at.UTC()}
}
