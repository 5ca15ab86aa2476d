// Package catalog provides Guatemala's 22 departments (2018 census population)
// and the COVID-19 vaccines used there, with case- and accent-insensitive
// lookup by name or alias.
package catalog

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

//go:embed data/departments.json
var departmentsJSON []byte

//go:embed data/vaccines.json
var vaccinesJSON []byte

// Department is one of Guatemala's 22 departments.
type Department struct {
	Code       string   `json:"code"` // ISO 3166-2, GT-01..GT-22
	Name       string   `json:"name"`
	Aliases    []string `json:"aliases"`
	ISOOld     string   `json:"iso_old"`
	Capital    string   `json:"capital"`
	Population int64    `json:"population"` // INE, Censo 2018
}

// Vaccine is a vaccine in the national programme.
type Vaccine struct {
	ID                 string   `json:"id"`
	Name               string   `json:"name"`
	PrimarySeriesDoses int      `json:"primary_series_doses"`
	Aliases            []string `json:"aliases"`
}

// Catalog is an immutable lookup table of departments and vaccines.
type Catalog struct {
	departments []Department
	vaccines    []Vaccine
	deptByKey   map[string]int
	vaccByKey   map[string]int
	deptExact   map[string]int // names and aliases exactly as written: no folding needed
	vaccExact   map[string]int
	deptByCode  map[string]int
	population  int64
}

// Default returns the catalog built from the embedded reference data.
// It panics only if the embedded data is malformed, which a test guards.
func Default() *Catalog {
	c, err := Parse(departmentsJSON, vaccinesJSON)
	if err != nil {
		panic(fmt.Sprintf("catalog: embedded data: %v", err))
	}
	return c
}

// Parse builds a catalog from the departments and vaccines JSON documents.
func Parse(departments, vaccines []byte) (*Catalog, error) {
	var d struct {
		Departments []Department `json:"departments"`
	}
	if err := json.Unmarshal(departments, &d); err != nil {
		return nil, fmt.Errorf("parse departments: %w", err)
	}
	var v struct {
		Vaccines []Vaccine `json:"vaccines"`
	}
	if err := json.Unmarshal(vaccines, &v); err != nil {
		return nil, fmt.Errorf("parse vaccines: %w", err)
	}
	c := &Catalog{
		departments: d.Departments,
		vaccines:    v.Vaccines,
		deptByKey:   map[string]int{},
		vaccByKey:   map[string]int{},
		deptByCode:  map[string]int{},
		deptExact:   map[string]int{},
		vaccExact:   map[string]int{},
	}
	for i, dep := range c.departments {
		c.population += dep.Population
		c.deptByCode[dep.Code] = i
		for _, k := range append([]string{dep.Name, dep.Code, dep.ISOOld}, dep.Aliases...) {
			if k == "" {
				continue
			}
			key := Key(k)
			if j, ok := c.deptByKey[key]; ok && j != i {
				return nil, fmt.Errorf("department alias %q is ambiguous", k)
			}
			c.deptByKey[key] = i
			c.deptExact[k] = i
		}
	}
	for i, vac := range c.vaccines {
		for _, k := range append([]string{vac.Name, vac.ID}, vac.Aliases...) {
			key := Key(k)
			if j, ok := c.vaccByKey[key]; ok && j != i {
				return nil, fmt.Errorf("vaccine alias %q is ambiguous", k)
			}
			c.vaccByKey[key] = i
			c.vaccExact[k] = i
		}
	}
	return c, nil
}

// Key folds s for lookup: accents removed, lower case, and every run of
// spaces, hyphens, dots, slashes and underscores reduced to nothing, so that
// "Sputnik-V", "sputnik v" and "SPUTNIK V" share a key.
func Key(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	if ascii {
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
				b.WriteByte(c)
			case c >= 'A' && c <= 'Z':
				b.WriteByte(c + 'a' - 'A')
			}
		}
		return b.String()
	}
	// Decompose (é -> e + ´) and drop the combining marks.
	for _, r := range norm.NFD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// Department returns the department that name (or alias, or code) names.
func (c *Catalog) Department(name string) (Department, bool) {
	if i, ok := c.deptExact[name]; ok {
		return c.departments[i], true
	}
	i, ok := c.deptByKey[Key(name)]
	if !ok {
		return Department{}, false
	}
	return c.departments[i], true
}

// DepartmentByCode returns the department with the exact code GT-NN.
func (c *Catalog) DepartmentByCode(code string) (Department, bool) {
	i, ok := c.deptByCode[code]
	if !ok {
		return Department{}, false
	}
	return c.departments[i], true
}

// Vaccine returns the vaccine that name (or alias) names.
func (c *Catalog) Vaccine(name string) (Vaccine, bool) {
	if i, ok := c.vaccExact[name]; ok {
		return c.vaccines[i], true
	}
	i, ok := c.vaccByKey[Key(name)]
	if !ok {
		return Vaccine{}, false
	}
	return c.vaccines[i], true
}

// Departments returns the departments in code order. The slice is a copy.
func (c *Catalog) Departments() []Department { return append([]Department(nil), c.departments...) }

// Vaccines returns the vaccines in catalog order. The slice is a copy.
func (c *Catalog) Vaccines() []Vaccine { return append([]Vaccine(nil), c.vaccines...) }

// Population is the national 2018 census total.
func (c *Catalog) Population() int64 { return c.population }
