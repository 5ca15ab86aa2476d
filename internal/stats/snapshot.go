// Package stats provides the live statistics: the Redis view that the sink
// folds records into (exactly once per record id), the snapshot that
// /api/stats returns and the WebSocket pushes, and the rebuild of the view
// from MongoDB.
package stats

import (
	"encoding/json"
	"time"
)

// Snapshot is the statistics document of /api/stats and of every WebSocket
// frame. Percentages are in percent (0-100) of the 2018 census population.
type Snapshot struct {
	Total               int64   `json:"total"`
	Population          int64   `json:"population"`
	PeopleVaccinated    int64   `json:"people_vaccinated"` // dose 1
	FullyVaccinated     int64   `json:"fully_vaccinated"`  // dose 2
	Boosters            int64   `json:"boosters"`          // doses 3 and 4
	PeopleVaccinatedPct float64 `json:"people_vaccinated_pct"`
	FullyVaccinatedPct  float64 `json:"fully_vaccinated_pct"`

	Departments []DepartmentStats `json:"departments"` // all 22, in code order
	Vaccines    []NamedCount      `json:"vaccines"`    // every catalog vaccine, in catalog order
	Doses       []NamedCount      `json:"doses"`       // "1".."4"
	AgeBands    []NamedCount      `json:"age_bands"`   // "0-11" .. "80+"
	Routes      []RouteStats      `json:"routes"`      // grpc, redis, pubsub: configured weight and observed count

	// Synthetic counts test records (smoke and load tests): they are in no
	// other figure of the snapshot, the series or the downloads.
	Synthetic int64 `json:"synthetic"`

	Latest           []LatestRecord `json:"latest"` // newest first, at most 5, names masked
	RecordsPerSecond float64        `json:"records_per_second"`
	UpdatedAt        *time.Time     `json:"updated_at"` // when a record was last counted; null before any
	GeneratedAt      time.Time      `json:"generated_at"`

	// Rollout is the state of the last progressive rollout (vacunometro
	// rollout), as it published it; absent when none ran.
	Rollout json.RawMessage `json:"rollout,omitempty"`

	// Rebuilding is set while a full rebuild of the view runs.
	Rebuilding *RebuildStatus `json:"rebuilding,omitempty"`
}

// DepartmentStats are one department's figures.
type DepartmentStats struct {
	Code                string   `json:"code"`
	Name                string   `json:"name"`
	Population          int64    `json:"population"`
	Total               int64    `json:"total"`
	Doses               [4]int64 `json:"doses"` // index 0 is dose 1
	PeopleVaccinated    int64    `json:"people_vaccinated"`
	FullyVaccinated     int64    `json:"fully_vaccinated"`
	PeopleVaccinatedPct float64  `json:"people_vaccinated_pct"`
	FullyVaccinatedPct  float64  `json:"fully_vaccinated_pct"`
}

// NamedCount is a count under a label.
type NamedCount struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// RouteStats sets a route's configured weight against what it carried.
type RouteStats struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"` // configured, as last published by an ingest
	Count  int64  `json:"count"`  // records counted that came by this route
}

// LatestRecord is a recent record as the public may see it.
type LatestRecord struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"` // masked: "Duglas F. A. T."
	DepartmentCode string    `json:"department_code"`
	Department     string    `json:"department"`
	Age            int       `json:"age"`
	Vaccine        string    `json:"vaccine"`
	Dose           int       `json:"dose"`
	Route          string    `json:"route"`
	ReceivedAt     time.Time `json:"received_at"`
}

// RebuildStatus is a running full rebuild, as the dashboard shows it.
type RebuildStatus struct {
	StartedAt time.Time `json:"started_at"`
	Scanned   int64     `json:"scanned"`
	Expected  int64     `json:"expected"` // about; 0 when unknown
	// ProvisionalAsOf is set when the view had been lost: the figures are
	// the ones saved at this time plus what was counted since, until the
	// rebuild ends.
	ProvisionalAsOf *time.Time `json:"provisional_as_of,omitempty"`
}
