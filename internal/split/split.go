// Package split provides the traffic split: a smooth weighted round-robin
// over named routes (the nginx algorithm), with weights that can be changed
// at run time without a restart.
package split

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// MaxWeight bounds one route's weight.
const MaxWeight = 1_000_000

// Weights maps a route name to its non-negative weight.
type Weights map[string]int

// Total is the sum of the weights.
func (w Weights) Total() int {
	t := 0
	for _, v := range w {
		t += v
	}
	return t
}

// String renders weights as "grpc=34,pubsub=33,redis=33" (names sorted).
func (w Weights) String() string {
	names := make([]string, 0, len(w))
	for n := range w {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + strconv.Itoa(w[n])
	}
	return strings.Join(parts, ",")
}

// Clone returns a copy of w.
func (w Weights) Clone() Weights {
	c := make(Weights, len(w))
	for k, v := range w {
		c[k] = v
	}
	return c
}

// Parse reads "grpc=34,redis=33,pubsub=33". Spaces are ignored; every name
// must be in known; a name may appear once; at least one weight must be
// positive. Names in known but absent from s get weight 0.
func Parse(s string, known []string) (Weights, error) {
	w := Weights{}
	for _, n := range known {
		w[n] = 0
	}
	seen := map[string]bool{}
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("split is empty: want e.g. grpc=34,redis=33,pubsub=33")
	}
	for _, part := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("split %q: want name=weight", part)
		}
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("split %q: weight is not a whole number", part)
		}
		if seen[name] {
			return nil, fmt.Errorf("split: route %q given twice", name)
		}
		seen[name] = true
		w[name] = n
	}
	return w, Validate(w, known)
}

// Validate checks names against known and the weights' range.
func Validate(w Weights, known []string) error {
	isKnown := map[string]bool{}
	for _, n := range known {
		isKnown[n] = true
	}
	total := 0
	for name, v := range w {
		if !isKnown[name] {
			return fmt.Errorf("split: unknown route %q (known: %s)", name, strings.Join(known, ", "))
		}
		if v < 0 || v > MaxWeight {
			return fmt.Errorf("split: weight of %q must be between 0 and %d", name, MaxWeight)
		}
		total += v
	}
	if total == 0 {
		return errors.New("split: at least one route needs a positive weight")
	}
	return nil
}

// ParseJSON reads {"weights":{"grpc":50,"redis":50}} or {"grpc":50,"redis":50}.
// Each weight must be a JSON whole number (not 1.5, not "5"); a key given
// twice is refused rather than merged.
func ParseJSON(b []byte, known []string) (Weights, error) {
	const want = `want {"weights":{"grpc":34,"redis":33,"pubsub":33}}`
	top, err := entries(b)
	if err != nil {
		return nil, fmt.Errorf("split: %s: %w", want, err)
	}
	obj := top
	for _, e := range top {
		if e.key == "weights" {
			if obj, err = entries(e.raw); err != nil {
				return nil, fmt.Errorf("split: \"weights\": %s: %w", want, err)
			}
			break
		}
	}
	m := map[string]int{}
	for _, e := range obj {
		n, err := strconv.Atoi(string(e.raw))
		if err != nil {
			hint := ""
			if len(e.raw) > 0 && e.raw[0] == '"' {
				hint = " (a string: send the number without quotes)"
			}
			return nil, fmt.Errorf("split: the weight of %q must be a whole number from 0 to %d, got %s%s", e.key, MaxWeight, truncate(string(e.raw), 40), hint)
		}
		m[e.key] = n
	}
	return complete(m, known)
}

type entry struct {
	key string
	raw json.RawMessage
}

// entries reads a JSON object's members in order; a key given twice is an
// error.
func entries(b []byte) ([]entry, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not an object")
	}
	var out []entry
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if seen[k] {
			return nil, fmt.Errorf("key %q given twice", k)
		}
		seen[k] = true
		out = append(out, entry{key: k, raw: v})
	}
	if _, err := dec.Token(); err != nil { // }
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the object")
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func complete(m map[string]int, known []string) (Weights, error) {
	w := Weights{}
	for _, n := range known {
		w[n] = 0
	}
	for k, v := range m {
		w[k] = v
	}
	return w, Validate(w, known)
}

// Splitter picks a route for each record by smooth weighted round-robin:
// over any window of Total() picks each route gets exactly its weight, and
// picks are interleaved rather than bunched. Safe for concurrent use.
type Splitter struct {
	mu      sync.Mutex
	names   []string // stable order
	weights []int
	current []int
	total   int
	version int64 // of the weights; see SetVersion
}

// New returns a splitter with the given weights.
func New(w Weights) *Splitter {
	s := &Splitter{}
	s.Set(w)
	return s
}

// Set replaces the weights; the next pick uses them. It counts as the next
// version (a splitter that no other instance shares).
func (s *Splitter) Set(w Weights) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set(w, s.version+1)
}

// SetVersion replaces the weights with w if v is newer than the version the
// splitter holds, and reports whether it did: changes published with a
// version (Shared) converge on the last one whatever order they arrive in.
func (s *Splitter) SetVersion(w Weights, v int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v <= s.version {
		return false
	}
	s.set(w, v)
	return true
}

// Init replaces the weights and the version whatever the version held: for
// a splitter not in use yet, that joins a shared split (Shared.Adopt).
func (s *Splitter) Init(w Weights, v int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set(w, v)
}

// Current returns the weights and their version, read together.
func (s *Splitter) Current() (Weights, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := make(Weights, len(s.names))
	for i, n := range s.names {
		w[n] = s.weights[i]
	}
	return w, s.version
}

func (s *Splitter) set(w Weights, v int64) {
	names := make([]string, 0, len(w))
	for n := range w {
		names = append(names, n)
	}
	sort.Strings(names)
	s.version = v
	s.names = names
	s.weights = make([]int, len(names))
	s.current = make([]int, len(names))
	s.total = 0
	for i, n := range names {
		s.weights[i] = w[n]
		s.total += w[n]
	}
}

// Weights returns the current weights.
func (s *Splitter) Weights() Weights {
	w, _ := s.Current()
	return w
}

// NextN returns the route for the next n records, which travel together:
// the round-robin advances by n, so that shares hold by records, not by
// requests, whatever the batch sizes.
func (s *Splitter) NextN(n int) string {
	if n < 1 {
		n = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.total == 0 {
		return ""
	}
	best := -1
	for i := range s.names {
		s.current[i] += s.weights[i] * n
		if s.weights[i] > 0 && (best < 0 || s.current[i] > s.current[best]) {
			best = i
		}
	}
	s.current[best] -= s.total * n
	return s.names[best]
}
