package policy

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

//go:embed catalog.csv
var catalogCSV string

// Class is how sensitive a catalogued column is.
type Class string

// The classes of the data catalog.
const (
	Meta       Class = "meta"       // general; shown under a grant as is
	Content    Class = "content"    // customer content; shown only under a grant
	Personal   Class = "personal"   // personal data; masked unless the grant unmasks
	Restricted Class = "restricted" // never shown to anyone
)

// Column is one catalogued column.
type Column struct {
	Name  string
	Class Class
}

// Table is one catalogued table; a restricted table is never shown.
type Table struct {
	Name       string
	Columns    []Column // in catalog order; empty for a restricted table
	Restricted bool
}

// Visible returns the columns that may ever be shown.
func (t Table) Visible() []Column {
	if t.Restricted {
		return nil
	}
	var out []Column
	for _, c := range t.Columns {
		if c.Class != Restricted {
			out = append(out, c)
		}
	}
	return out
}

// Catalog is the data catalog: what of a workspace the portal may show.
type Catalog struct {
	tables []Table
}

var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// LoadCatalog parses the embedded catalog.
func LoadCatalog() (*Catalog, error) { return ParseCatalog(catalogCSV) }

// ParseCatalog parses catalog text: "table, column, class" lines, "#"
// comments. Unknown classes, bad names, duplicates and tables without an
// id column are errors naming the line.
func ParseCatalog(text string) (*Catalog, error) {
	c := &Catalog{}
	index := map[string]int{}
	var errs []error
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("catalog line %d: %s", i+1, fmt.Sprintf(format, args...)))
		}
		f := strings.Split(line, ",")
		if len(f) != 3 {
			bad("want \"table, column, class\", got %q", line)
			continue
		}
		table, column, class := strings.TrimSpace(f[0]), strings.TrimSpace(f[1]), Class(strings.TrimSpace(f[2]))
		if !identifier.MatchString(table) || (column != "*" && !identifier.MatchString(column)) {
			bad("%q.%q is not a valid name", table, column)
			continue
		}
		if !slices.Contains([]Class{Meta, Content, Personal, Restricted}, class) {
			bad("unknown class %q (want meta, content, personal or restricted)", class)
			continue
		}
		n, seen := index[table]
		if !seen {
			n = len(c.tables)
			index[table] = n
			c.tables = append(c.tables, Table{Name: table})
		}
		t := &c.tables[n]
		switch {
		case column == "*" && class != Restricted:
			bad("%s.* must be restricted", table)
		case column == "*" && t.Restricted:
			bad("%s.* is listed twice", table)
		case column == "*" && len(t.Columns) > 0, column != "*" && t.Restricted:
			bad("%s is restricted as a whole and also lists columns", table)
		case column == "*":
			t.Restricted = true
		case slices.ContainsFunc(t.Columns, func(x Column) bool { return x.Name == column }):
			bad("%s.%s is listed twice", table, column)
		default:
			t.Columns = append(t.Columns, Column{Name: column, Class: class})
		}
	}
	for _, t := range c.tables {
		if !t.Restricted && !slices.Contains(t.Columns, Column{Name: "id", Class: Meta}) {
			errs = append(errs, fmt.Errorf("catalog: table %s needs an id column of class meta", t.Name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// Table returns the catalogued table of that name.
func (c *Catalog) Table(name string) (Table, bool) {
	for _, t := range c.tables {
		if t.Name == name {
			return t, true
		}
	}
	return Table{}, false
}

// Tables returns every catalogued table, in catalog order.
func (c *Catalog) Tables() []Table { return slices.Clone(c.tables) }

// CheckSchema compares the catalog with the tables and columns a workspace
// really has: a catalogued table or column that does not exist is an
// error (the catalog is stale or wrong), so the portal refuses to start.
// Columns that exist but are not catalogued are fine: they are never shown.
func (c *Catalog) CheckSchema(actual map[string][]string) error {
	var errs []error
	for _, t := range c.tables {
		cols, ok := actual[t.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("catalog: table %s does not exist in the workspace schema", t.Name))
			continue
		}
		for _, col := range t.Columns {
			if !slices.Contains(cols, col.Name) {
				errs = append(errs, fmt.Errorf("catalog: column %s.%s does not exist in the workspace schema", t.Name, col.Name))
			}
		}
	}
	return errors.Join(errs...)
}
