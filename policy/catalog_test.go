package policy

import (
	"strings"
	"testing"
)

func TestEmbeddedCatalog(t *testing.T) {
	c, err := LoadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"api_keys", "billing"} {
		tb, ok := c.Table(name)
		if !ok || !tb.Restricted || len(tb.Visible()) != 0 {
			t.Errorf("%s: %+v, want a restricted table with nothing visible", name, tb)
		}
	}
	want := map[string]Class{
		"members.name": Personal, "members.email": Personal, "comments.author_email": Personal,
		"documents.body": Content, "documents.title": Content, "members.id": Meta,
	}
	for key, class := range want {
		table, column, _ := strings.Cut(key, ".")
		tb, _ := c.Table(table)
		var got Class
		for _, col := range tb.Visible() {
			if col.Name == column {
				got = col.Class
			}
		}
		if got != class {
			t.Errorf("class of %s = %q, want %q", key, got, class)
		}
	}
	if _, ok := c.Table("password_resets"); ok {
		t.Error("an uncatalogued table was found")
	}
}

func TestParseCatalogRefusesMistakes(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"unknown class", "t, id, meta\nt, x, secret", `unknown class "secret"`},
		{"bad table name", "T-1, id, meta", "not a valid name"},
		{"bad column name", "t, id, meta\nt, x;drop, content", "not a valid name"},
		{"two fields", "t, id", "want \"table, column, class\""},
		{"duplicate", "t, id, meta\nt, id, meta", "t.id is listed twice"},
		{"no id", "t, name, content", "t needs an id column"},
		{"id not meta", "t, id, content", "t needs an id column"},
		{"star not restricted", "t, *, content", "t.* must be restricted"},
		{"star and columns", "t, id, meta\nt, *, restricted", "restricted as a whole"},
		{"star twice", "t, *, restricted\nt, *, restricted", "t.* is listed twice"},
	}
	for _, tt := range tests {
		_, err := ParseCatalog(tt.text)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

func TestCheckSchema(t *testing.T) {
	c, err := ParseCatalog("t, id, meta\nt, name, personal\nsecrets, *, restricted")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckSchema(map[string][]string{"t": {"id", "name", "extra"}, "secrets": {"id"}}); err != nil {
		t.Errorf("matching schema refused: %v", err)
	}
	err = c.CheckSchema(map[string][]string{"t": {"id"}})
	for _, want := range []string{"column t.name does not exist", "table secrets does not exist"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("stale catalog: got %v, want %q", err, want)
		}
	}
}
