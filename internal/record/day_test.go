package record

import (
	"testing"
	"time"
)

func TestDay(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name       string
		vaccinated string
		received   string
		want       string
	}{
		{"vaccinated before midnight in Guatemala is still that day", "2021-03-01T05:59:59Z", "2021-03-05T12:00:00Z", "2021-02-28"},
		{"vaccinated at midnight in Guatemala is the next day", "2021-03-01T06:00:00Z", "2021-03-05T12:00:00Z", "2021-03-01"},
		{"offset in the input does not matter", "2021-03-01T00:30:00-06:00", "", "2021-03-01"},
		{"without vaccinated_at, the received day in Guatemala", "", "2022-01-01T03:00:00Z", "2021-12-31"},
		{"far in the past", "1999-12-31T12:00:00Z", "2022-01-01T03:00:00Z", "1999-12-31"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Record
			if tt.vaccinated != "" {
				r.VaccinatedAt = at(tt.vaccinated)
			}
			if tt.received != "" {
				r.ReceivedAt = at(tt.received)
			}
			if got := Day(r); got != tt.want {
				t.Errorf("Day = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestADateAloneCountsOnThatDayInGuatemala(t *testing.T) {
	for _, s := range []string{"2021-03-01", "2020-12-01"} {
		got, err := parseTime(s)
		if err != nil {
			t.Fatal(err)
		}
		if d := Day(Record{VaccinatedAt: got}); d != s {
			t.Errorf("%s counts on %s", s, d)
		}
	}
}
