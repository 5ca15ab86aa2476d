package app

import (
	"slices"
	"testing"

	"github.com/vacunometro/vacunometro/internal/envvars"
)

// The test harness clears envvars.Settings to give a child process its
// defaults: the list must be exactly what Settings reads.
func TestSettingsReadExactlyTheListedVariables(t *testing.T) {
	var read []string
	loadSettings(func(k string) string { read = append(read, k); return "" })
	slices.Sort(read)
	want := slices.Clone(envvars.Settings)
	slices.Sort(want)
	if !slices.Equal(read, want) {
		t.Fatalf("Settings read %v; envvars.Settings lists %v", read, want)
	}
}
