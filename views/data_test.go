package views

import (
	"testing"
)

// TestRecordRevealForm: a masked field offers a reveal form only when the
// grant allows reveals; otherwise the page says why fields stay hidden.
func TestRecordRevealForm(t *testing.T) {
	v := DataRecordView{
		Slug: "acme", Name: "Acme", Table: "members", ID: 4,
		Columns: []DataColumn{{Name: "name"}, {Name: "email"}},
		Cells:   []DataCell{{Text: "•••• (personal)", Masked: true}, {Text: "•••• (personal)", Masked: true}},
	}
	for _, revealable := range []bool{false, true} {
		v.Revealable = revealable
		doc := render(t, DataRecord(Chrome{CSS: "/static/app.css"}, v))
		forms := doc.Find(`form[action="/workspaces/acme/data/members/4/reveal"]`).Length()
		note := byTestID(doc, "no-reveal").Length()
		switch {
		case revealable && (forms != 2 || note != 0):
			t.Errorf("reveal grant: %d reveal forms and %d notes, want 2 and none", forms, note)
		case !revealable && (forms != 0 || note != 1):
			t.Errorf("masked grant: %d reveal forms and %d notes, want none and the note", forms, note)
		}
	}
}
