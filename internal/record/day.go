package record

import "time"

// Guatemala is the time zone the daily figures are counted in:
// America/Guatemala, UTC-6 all year (no daylight saving time since 2006).
// A fixed zone keeps the day of a record the same on every machine, with or
// without a time zone database.
var guatemala = time.FixedZone("America/Guatemala", -6*60*60)

// Guatemala returns the zone of the daily figures (UTC-6).
func Guatemala() *time.Location { return guatemala }

// Day is the date (2006-01-02) a record counts on in the daily figures: the
// day it was given (vaccinated_at) in Guatemala, or, without it, the day it
// was received there.
func Day(r Record) string {
	t := r.VaccinatedAt
	if t.IsZero() {
		t = r.ReceivedAt
	}
	return t.In(guatemala).Format(time.DateOnly)
}
