package catalog

import "testing"

func TestDefaultCatalog(t *testing.T) {
	c := Default()
	if got := len(c.Departments()); got != 22 {
		t.Fatalf("departments = %d, want 22", got)
	}
	if got := c.Population(); got != 14901286 {
		t.Fatalf("population = %d, want the 2018 census total 14901286", got)
	}
	if got := len(c.Vaccines()); got != 4 {
		t.Fatalf("vaccines = %d, want 4", got)
	}
}

func TestDepartmentLookup(t *testing.T) {
	c := Default()
	tests := []struct {
		in, code string
		ok       bool
	}{
		{"Chimaltenango", "GT-04", true},
		{"chimaltenango", "GT-04", true},
		{"Quiché", "GT-14", true},
		{"QUICHE", "GT-14", true},
		{"El Quiche", "GT-14", true},
		{"Peten", "GT-17", true},
		{"Sacatepéquez", "GT-03", true},
		{"Xela", "GT-09", true},
		{"GT-22", "GT-22", true},
		{"GT-QC", "GT-14", true},
		{"  guatemala ", "GT-01", true},
		{"Narnia", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		d, ok := c.Department(tt.in)
		if ok != tt.ok || d.Code != tt.code {
			t.Errorf("Department(%q) = %q,%v; want %q,%v", tt.in, d.Code, ok, tt.code, tt.ok)
		}
	}
}

func TestVaccineLookup(t *testing.T) {
	c := Default()
	tests := []struct{ in, name string }{
		{"Sputnik V", "Sputnik V"},
		{"sputnik v", "Sputnik V"},
		{"Sputnik-V", "Sputnik V"},
		{"pfizer", "Pfizer-BioNTech"},
		{"Comirnaty", "Pfizer-BioNTech"},
		{"AstraZeneca", "Oxford/AstraZeneca"},
		{"covishield", "Oxford/AstraZeneca"},
		{"MODERNA", "Moderna"},
		{"Sinovac", ""},
	}
	for _, tt := range tests {
		v, _ := c.Vaccine(tt.in)
		if v.Name != tt.name {
			t.Errorf("Vaccine(%q) = %q, want %q", tt.in, v.Name, tt.name)
		}
	}
}

func TestKeyFolds(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Sputnik-V", "sputnikv"}, {"sputnik v", "sputnikv"}, {"Quiché", "quiche"}, {"QUICHÉ", "quiche"},
		{"Sacatepéquez", "sacatepequez"}, {"Petén", "peten"}, {"Ñuñoa", "nunoa"}, {"GT-04", "gt04"}, {"", ""},
		{"Oxford/AstraZeneca", "oxfordastrazeneca"}, {"é", "e"},
	}
	for _, tt := range tests {
		if got := Key(tt.in); got != tt.want {
			t.Errorf("Key(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func BenchmarkDepartmentLookup(b *testing.B) {
	c := Default()
	for _, name := range []string{"Chimaltenango", "quiche", "SACATEPÉQUEZ"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, ok := c.Department(name); !ok {
					b.Fatal(name)
				}
			}
		})
	}
}
