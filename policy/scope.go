package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// ScopeAttributes are the workspace attributes a scope may name, as the
// product's registry holds them.
var ScopeAttributes = []string{"region", "plan"}

// scopeValue is what a scope's value may be: short, lowercase, no spaces.
var scopeValue = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// Condition is one part of a scope: the attribute must hold one of the
// values.
type Condition struct {
	Attribute string
	Values    []string
}

// Scope limits the workspaces a staff member may touch. Every condition
// must hold (AND); within a condition, any of its values (OR). The zero
// Scope has no condition and admits every workspace.
type Scope struct {
	conds []Condition // sorted by attribute, one per attribute
}

// ParseScope reads a scope such as "region=eu,uk plan=enterprise":
// conditions separated by spaces, each attribute=value[,value...]. Empty
// text is the unrestricted scope. An error names the part that is wrong.
func ParseScope(text string) (Scope, error) {
	var s Scope
	for _, part := range strings.Fields(text) {
		attr, values, ok := strings.Cut(part, "=")
		if !ok {
			return Scope{}, fmt.Errorf("%q is not attribute=value", part)
		}
		if !slices.Contains(ScopeAttributes, attr) {
			return Scope{}, fmt.Errorf("%q: unknown attribute %q (use %s)", part, attr, strings.Join(ScopeAttributes, " or "))
		}
		if s.condition(attr) != nil {
			return Scope{}, fmt.Errorf("%q: %s is named twice (list its values with commas)", part, attr)
		}
		c := Condition{Attribute: attr}
		for _, v := range strings.Split(values, ",") {
			if !scopeValue.MatchString(v) {
				return Scope{}, fmt.Errorf("%q: value %q must be 1 to 32 of a-z, 0-9 and -", part, v)
			}
			if !slices.Contains(c.Values, v) {
				c.Values = append(c.Values, v)
			}
		}
		slices.Sort(c.Values)
		s.conds = append(s.conds, c)
	}
	slices.SortFunc(s.conds, func(a, b Condition) int { return strings.Compare(a.Attribute, b.Attribute) })
	return s, nil
}

func (s Scope) condition(attr string) *Condition {
	for i := range s.conds {
		if s.conds[i].Attribute == attr {
			return &s.conds[i]
		}
	}
	return nil
}

// Unrestricted reports whether s admits every workspace.
func (s Scope) Unrestricted() bool { return len(s.conds) == 0 }

// Conditions returns a copy of s's conditions, by attribute.
func (s Scope) Conditions() []Condition {
	out := make([]Condition, len(s.conds))
	for i, c := range s.conds {
		out[i] = Condition{Attribute: c.Attribute, Values: slices.Clone(c.Values)}
	}
	return out
}

// Admits reports whether a workspace with attributes attrs (attribute →
// value) lies within s. An attribute that is missing or empty matches no
// condition: fail closed.
func (s Scope) Admits(attrs map[string]string) bool {
	for _, c := range s.conds {
		v := attrs[c.Attribute]
		if v == "" || !slices.Contains(c.Values, v) {
			return false
		}
	}
	return true
}

// And returns the scope that admits what both s and o admit: a role's
// scope and a staff member's own, say. Where both name an attribute,
// only the values in both remain (possibly none, which admits nothing).
func (s Scope) And(o Scope) Scope {
	out := Scope{conds: s.Conditions()}
	for _, c := range o.conds {
		mine := out.condition(c.Attribute)
		if mine == nil {
			out.conds = append(out.conds, Condition{Attribute: c.Attribute, Values: slices.Clone(c.Values)})
			continue
		}
		mine.Values = slices.DeleteFunc(mine.Values, func(v string) bool { return !slices.Contains(c.Values, v) })
		if mine.Values == nil {
			mine.Values = []string{}
		}
	}
	slices.SortFunc(out.conds, func(a, b Condition) int { return strings.Compare(a.Attribute, b.Attribute) })
	return out
}

// String is s as ParseScope reads it back: conditions by attribute,
// values sorted; "" when unrestricted. A condition And left without
// values is written "attribute=" (which admits nothing, and which
// ParseScope refuses: such a scope is computed, never stored).
func (s Scope) String() string {
	parts := make([]string, len(s.conds))
	for i, c := range s.conds {
		parts[i] = c.Attribute + "=" + strings.Join(c.Values, ",")
	}
	return strings.Join(parts, " ")
}

// NoWorkspaces is the scope that admits no workspace at all: what a
// scope that cannot be read stands for (fail closed).
func NoWorkspaces() Scope {
	return Scope{conds: []Condition{{Attribute: "region", Values: []string{}}}}
}
