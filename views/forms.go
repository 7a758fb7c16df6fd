package views

import (
	"sort"
	"strings"

	"github.com/a-h/templ"
)

// FieldRef names the element a form message is about: Key is the
// message's key in Errors, ID the id of the input (or fieldset) the error
// summary links to.
type FieldRef struct {
	Key, ID string
}

// summaryItem is one line of an error summary; ID is "" for a message
// about the whole form.
type summaryItem struct {
	Key, ID, Message string
}

// summaryItems orders a form's messages for its error summary: those
// about the whole form (or a field the page does not name) first, then
// the fields in the order of the page.
func summaryItems(errs Errors, fields []FieldRef) []summaryItem {
	var items []summaryItem
	named := map[string]bool{}
	for _, f := range fields {
		named[f.Key] = true
	}
	var loose []string
	for k := range errs {
		if !named[k] {
			loose = append(loose, k)
		}
	}
	sort.Strings(loose)
	for _, k := range loose {
		items = append(items, summaryItem{Key: k, Message: errs[k]})
	}
	for _, f := range fields {
		if msg, ok := errs[f.Key]; ok {
			items = append(items, summaryItem{Key: f.Key, ID: f.ID, Message: msg})
		}
	}
	return items
}

// errorID is the id of the message FormError shows for field.
func errorID(field string) string {
	if field == "" {
		return "form-error"
	}
	return field + "-error"
}

// fieldAria are the accessibility attributes of an input whose messages
// are keyed field: aria-invalid, and aria-describedby naming its hints and,
// when there is one, its error message.
func fieldAria(errs Errors, field string, hints ...string) templ.Attributes {
	a := templ.Attributes{"aria-invalid": "false"}
	ids := hints
	if _, ok := errs[field]; ok {
		a["aria-invalid"] = "true"
		ids = append(append([]string(nil), hints...), errorID(field))
	}
	if len(ids) > 0 {
		a["aria-describedby"] = strings.Join(ids, " ")
	}
	return a
}

// requiredAria marks an input required for the browser and for assistive
// technology; forms are novalidate, so the server's messages still show.
var requiredAria = templ.Attributes{"required": true, "aria-required": "true"}

// staffAddFields are the add-staff form's fields, for its error summary.
var staffAddFields = []FieldRef{
	{Key: "email", ID: "email"},
	{Key: "name", ID: "name"},
	{Key: "tier", ID: "tier"},
	{Key: "scope", ID: "scope"},
}

// staffPageFields are the staff page's forms in page order, each by the
// field its error summary line links to.
var staffPageFields = []FieldRef{
	{Key: "agreement", ID: "version"},
	{Key: "training", ID: "completed"},
	{Key: "tier", ID: "tier"},
	{Key: "scope", ID: "scope"},
	{Key: "suspend", ID: "suspend-reason"},
	{Key: "reactivate", ID: "reactivate-reason"},
	{Key: "offboard", ID: "offboard-reason"},
}
